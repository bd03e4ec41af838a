// Tenants and which plugins each has enabled, with their settings. The platform database is
// the truth; an in-memory snapshot per tenant serves the request path without a query.
//
// Every change of a tenant's plugin row (enabled or not, and settings) is also kept as a
// numbered revision with its author, in the same transaction: the history, diffs and
// rollbacks of docs/api.md read them.
//
// Every write goes to the database first, then replaces that tenant's snapshot, so a change
// is visible to the next request on this instance. On PostgreSQL the write also notifies the
// other instances (see change_listener.h), which call refresh().
#pragma once

#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

namespace miconsul::tenants {

struct Tenant {
    std::string id;
    std::string name;
    std::string timezone = "UTC";
    std::string locale = "es-MX";
    std::string status = "active";  // or "suspended"
    std::string created_at;
    std::string updated_at;

    nlohmann::json to_json() const;
};

struct PluginEnablement {
    std::string plugin;
    bool enabled = false;
    nlohmann::json settings;  // as stored: the tenant's settings with defaults filled in
    std::string updated_at;
    int revision = 0;  // the settings revision this row is at
};

/// Who made a change of a plugin row, and why: kept with the revision it creates.
struct ChangeAuthor {
    std::string actor = "host";     // auth::Caller::actor(), or "host" for the host's own changes
    std::string reason = "change";  // "change", "restore", "apply", "defaults"
    std::optional<int> restored_from;  // for "restore": the revision brought back
};

/// One state of a tenant's plugin row, numbered from 1 per tenant and plugin.
struct SettingsRevision {
    std::string tenant_id;
    std::string plugin;
    int revision = 0;
    bool enabled = false;
    nlohmann::json settings;
    std::string actor;
    std::string time;
    std::string reason;
    std::optional<int> restored_from;

    nlohmann::json to_json() const;
};

/// What the request path needs about one tenant. Immutable; replaced whole on change.
struct TenantSnapshot {
    Tenant tenant;
    /// Enabled plugins → their settings as JSON text, ready to hand to the plugin.
    std::map<std::string, std::string, std::less<>> enabled_settings;
};

class TenantStore {
public:
    explicit TenantStore(storage::Database& database);

    /// Reads every tenant and enablement into memory. Call once at start.
    void load();

    /// The current snapshot, or null for an unknown tenant. Thread-safe, no query.
    std::shared_ptr<const TenantSnapshot> find(std::string_view tenant_id) const;

    /// Changes whenever any snapshot is replaced: lets a reader skip rescanning every tenant
    /// when nothing changed.
    uint64_t version() const;

    /// Every tenant id known in memory.
    std::vector<std::string> ids() const;

    /// Up to `limit` tenants with ids after `after_id` ("" = from the start), by id.
    std::vector<Tenant> list(const std::string& after_id, size_t limit) const;

    /// Inserts a new tenant; false if the id exists. Timestamps are set here.
    bool create(Tenant tenant);

    /// Stores the changed fields of an existing tenant (id and created_at are kept).
    void update(const Tenant& tenant);

    /// Every plugin row of a tenant, enabled or not, by plugin name.
    std::vector<PluginEnablement> enablements(const std::string& tenant_id) const;

    /// Creates or replaces a tenant's row for `plugin` and records it as the next revision,
    /// in one transaction (concurrent writers on PostgreSQL queue on the row, so numbers never
    /// clash). Returns the new revision's number.
    int set_enablement(const std::string& tenant_id, const std::string& plugin, bool enabled,
                       const nlohmann::json& settings, const ChangeAuthor& author = {});

    /// A tenant's revisions of `plugin`, newest first, numbered below `before` (0 = from the
    /// newest), at most `limit`.
    std::vector<SettingsRevision> revisions(const std::string& tenant_id, const std::string& plugin,
                                            int before, size_t limit) const;

    /// One revision, or nullopt when the tenant's plugin has no such number.
    std::optional<SettingsRevision> revision(const std::string& tenant_id,
                                             const std::string& plugin, int number) const;

    /// Re-reads one tenant (or, for "", every tenant) from the database into memory.
    void refresh(const std::string& tenant_id);

private:
    std::shared_ptr<const TenantSnapshot> read_snapshot(soci::session& session,
                                                        const std::string& tenant_id) const;
    /// Tells other instances that `tenant_id` changed (PostgreSQL only; a no-op on SQLite).
    void notify_change(soci::session& session, const std::string& tenant_id) const;

    storage::Database& database_;
    std::mutex refresh_mutex_;  // serialises refreshes (read, then store) with each other
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::shared_ptr<const TenantSnapshot>, std::less<>> snapshots_;
    uint64_t version_ = 0;
};

/// Whether `name` is an IANA time zone known to this machine's tz database.
bool is_known_timezone(const std::string& name);

}  // namespace miconsul::tenants
