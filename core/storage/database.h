// The platform database and one database per tenant, through SOCI.
//
// SQLite (embedded default): a file for the platform and a file per tenant under the data
// directory, each used by one session at a time behind a mutex (SQLite serialises writers
// anyway). PostgreSQL (production): one pool of sessions; each tenant is a schema named
// tenant_<id>, selected with search_path while a session is lent to that tenant.
#pragma once

#include <soci/soci.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace miconsul::storage {

enum class Backend { sqlite, postgresql };

class Database {
public:
    virtual ~Database() = default;

    /// Opens the platform database named by `url` ("sqlite://", "sqlite:///dir",
    /// "postgresql://…"). SQLite files go under `data_dir` unless the URL names a directory.
    /// Throws std::runtime_error with the reason when it cannot connect.
    static std::unique_ptr<Database> open(const std::string& url,
                                          const std::filesystem::path& data_dir,
                                          size_t pool_size);

    virtual Backend backend() const = 0;

    /// Runs `work` with a session on the platform database, lent to this thread only for the
    /// call. Exceptions from `work` propagate after the session is returned.
    virtual void with_platform(const std::function<void(soci::session&)>& work) = 0;

    /// The same for a tenant's database, created on first use. `tenant_id` must be a valid
    /// tenant id (see tenants::is_valid_tenant_id); anything else throws std::invalid_argument.
    virtual void with_tenant(const std::string& tenant_id,
                             const std::function<void(soci::session&)>& work) = 0;

    /// Whether the platform database answers a trivial query now; `error` gets the reason.
    bool ping(std::string& error);
};

/// Lower-case letters, digits and '-', 1 to 63 characters, starting with a letter or digit:
/// safe as a file name and as a quoted PostgreSQL identifier.
bool is_valid_tenant_id(std::string_view tenant_id);

}  // namespace miconsul::storage
