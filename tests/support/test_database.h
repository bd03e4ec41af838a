// A fresh, migrated platform database on the backend a parameterised test names.
#pragma once

#include "storage/database.h"
#include "storage/migrations.h"
#include "support/test_environment.h"

#include <memory>
#include <string>

namespace miconsul::testing {

/// "sqlite": files under `scratch`; "postgresql": a new database on the test server (callers
/// check MICONSUL_REQUIRE_POSTGRES first). Core migrations applied when `migrate`.
inline std::unique_ptr<storage::Database> open_test_database(const std::string& backend,
                                                             const ScratchDirectory& scratch,
                                                             bool migrate = true) {
    const std::string url = backend == "postgresql"
                                ? create_postgres_database(*postgres_admin_url())
                                : "sqlite://" + scratch.path().string();
    auto database = storage::Database::open(url, scratch.path(), 4);
    if (migrate) {
        database->with_platform([&](soci::session& session) {
            storage::apply_migrations(session, database->backend(), "core",
                                      storage::core_platform_migrations());
        });
    }
    return database;
}

}  // namespace miconsul::testing
