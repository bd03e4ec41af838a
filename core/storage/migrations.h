// Versioned schema migrations, recorded per owner ("core" or a plugin's name) in each
// database's schema_migrations table, so every migration runs once per database.
#pragma once

#include "storage/database.h"

#include <string>
#include <string_view>
#include <vector>

namespace miconsul::storage {

struct Migration {
    int version = 0;  // positive; applied in ascending order
    std::string description;
    std::string sql;  // one or more statements separated by ';'
};

/// Applies each migration of `owner` newer than the highest version recorded, each in its own
/// transaction together with its record. Returns how many it applied. Throws std::runtime_error
/// naming the owner and version when one fails; that one is rolled back, earlier ones stay.
/// Safe to run from several instances at once on PostgreSQL (an advisory lock serialises them).
int apply_migrations(soci::session& session, Backend backend, std::string_view owner,
                     const std::vector<Migration>& migrations);

/// Splits SQL text into statements at ';' outside quotes and comments (-- and /* */).
/// Dollar-quoted bodies ($$ … $$) are not understood: keep functions out of migrations.
std::vector<std::string> split_statements(std::string_view sql);

/// Migrations of the platform database owned by the core.
const std::vector<Migration>& core_platform_migrations();

}  // namespace miconsul::storage
