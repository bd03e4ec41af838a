#include "tenants/tenant_store.h"

#include "clock/clock.h"
#include "storage/json_statement.h"
#include "tenants/change_listener.h"

#include <date/tz.h>

#include <limits>
#include <mutex>

namespace miconsul::tenants {

using Json = nlohmann::json;

Json Tenant::to_json() const {
    return {{"id", id},
            {"name", name},
            {"timezone", timezone},
            {"locale", locale},
            {"status", status},
            {"created_at", created_at},
            {"updated_at", updated_at}};
}

Json SettingsRevision::to_json() const {
    return {{"tenant", tenant_id},
            {"plugin", plugin},
            {"revision", revision},
            {"enabled", enabled},
            {"settings", settings},
            {"actor", actor},
            {"time", time},
            {"reason", reason},
            {"restored_from", restored_from ? Json(*restored_from) : Json(nullptr)}};
}

bool is_known_timezone(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    try {
        return date::locate_zone(name) != nullptr;
    } catch (const std::exception&) {
        return false;
    }
}

TenantStore::TenantStore(storage::Database& database) : database_(database) {}

namespace {
Tenant read_tenant(const soci::row& row) {
    Tenant tenant;
    tenant.id = row.get<std::string>("id");
    tenant.name = row.get<std::string>("name");
    tenant.timezone = row.get<std::string>("timezone");
    tenant.locale = row.get<std::string>("locale");
    tenant.status = row.get<std::string>("status");
    tenant.created_at = row.get<std::string>("created_at");
    tenant.updated_at = row.get<std::string>("updated_at");
    return tenant;
}

constexpr const char* kTenantColumns = "id, name, timezone, locale, status, created_at, updated_at";
}  // namespace

std::shared_ptr<const TenantSnapshot> TenantStore::read_snapshot(
    soci::session& session, const std::string& tenant_id) const {
    auto snapshot = std::make_shared<TenantSnapshot>();
    bool found = false;
    soci::rowset<soci::row> tenants = (session.prepare << std::string("SELECT ") + kTenantColumns +
                                                              " FROM tenants WHERE id = :id",
                                       soci::use(tenant_id, "id"));
    for (const auto& row : tenants) {
        snapshot->tenant = read_tenant(row);
        found = true;
    }
    if (!found) return nullptr;
    soci::rowset<soci::row> enabled =
        (session.prepare << "SELECT plugin, settings FROM tenant_plugins"
                            " WHERE tenant_id = :id AND enabled = 1",
         soci::use(tenant_id, "id"));
    for (const auto& row : enabled) {
        snapshot->enabled_settings[row.get<std::string>(0)] = row.get<std::string>(1);
    }
    return snapshot;
}

void TenantStore::load() {
    std::lock_guard serial(refresh_mutex_);
    std::map<std::string, std::shared_ptr<const TenantSnapshot>, std::less<>> loaded;
    database_.with_platform([&](soci::session& session) {
        std::vector<std::string> ids;
        soci::rowset<std::string> rows = (session.prepare << "SELECT id FROM tenants");
        for (const auto& id : rows) ids.push_back(id);
        for (const auto& id : ids) loaded[id] = read_snapshot(session, id);
    });
    std::unique_lock lock(mutex_);
    snapshots_ = std::move(loaded);
    ++version_;
}

void TenantStore::notify_change(soci::session& session, const std::string& tenant_id) const {
    announce_change(session, database_.backend(), tenant_id);
}

void TenantStore::refresh(const std::string& tenant_id) {
    if (tenant_id.empty()) {
        load();
        return;
    }
    // One refresh at a time, read and store together: otherwise a refresh that read the
    // database before a change (the one another instance's notification started) could store
    // its stale snapshot after the one that read the change — the tenant would stay suspended
    // after being reactivated, until its next change.
    std::lock_guard serial(refresh_mutex_);
    std::shared_ptr<const TenantSnapshot> snapshot;
    database_.with_platform(
        [&](soci::session& session) { snapshot = read_snapshot(session, tenant_id); });
    std::unique_lock lock(mutex_);
    if (snapshot) {
        snapshots_[tenant_id] = std::move(snapshot);
    } else {
        snapshots_.erase(tenant_id);
    }
    ++version_;
}

uint64_t TenantStore::version() const {
    std::shared_lock lock(mutex_);
    return version_;
}

std::shared_ptr<const TenantSnapshot> TenantStore::find(std::string_view tenant_id) const {
    std::shared_lock lock(mutex_);
    auto found = snapshots_.find(tenant_id);
    return found == snapshots_.end() ? nullptr : found->second;
}

std::vector<std::string> TenantStore::ids() const {
    std::shared_lock lock(mutex_);
    std::vector<std::string> ids;
    for (const auto& [id, snapshot] : snapshots_) ids.push_back(id);
    return ids;
}

std::vector<Tenant> TenantStore::list(const std::string& after_id, size_t limit) const {
    std::vector<Tenant> page;
    database_.with_platform([&](soci::session& session) {
        const int row_limit = static_cast<int>(limit);
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kTenantColumns +
                                    " FROM tenants WHERE id > :after ORDER BY id LIMIT :limit",
             soci::use(after_id, "after"), soci::use(row_limit, "limit"));
        for (const auto& row : rows) page.push_back(read_tenant(row));
    });
    return page;
}

bool TenantStore::create(Tenant tenant) {
    tenant.created_at = tenant.updated_at = clock::now_text();
    bool created = false;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        int existing = 0;
        session << "SELECT COUNT(*) FROM tenants WHERE id = :id", soci::into(existing),
            soci::use(tenant.id, "id");
        if (existing != 0) return;
        session << "INSERT INTO tenants (id, name, timezone, locale, status, created_at,"
                   " updated_at) VALUES (:id, :name, :timezone, :locale, :status, :created_at,"
                   " :updated_at)",
            soci::use(tenant.id, "id"), soci::use(tenant.name, "name"),
            soci::use(tenant.timezone, "timezone"), soci::use(tenant.locale, "locale"),
            soci::use(tenant.status, "status"), soci::use(tenant.created_at, "created_at"),
            soci::use(tenant.updated_at, "updated_at");
        notify_change(session, tenant.id);
        transaction.commit();
        created = true;
    });
    if (created) refresh(tenant.id);
    return created;
}

void TenantStore::update(const Tenant& tenant) {
    const std::string updated_at = clock::now_text();
    database_.with_platform([&](soci::session& session) {
        session << "UPDATE tenants SET name = :name, timezone = :timezone, locale = :locale,"
                   " status = :status, updated_at = :updated_at WHERE id = :id",
            soci::use(tenant.name, "name"), soci::use(tenant.timezone, "timezone"),
            soci::use(tenant.locale, "locale"), soci::use(tenant.status, "status"),
            soci::use(updated_at, "updated_at"), soci::use(tenant.id, "id");
        notify_change(session, tenant.id);
    });
    refresh(tenant.id);
}

std::vector<PluginEnablement> TenantStore::enablements(const std::string& tenant_id) const {
    std::vector<PluginEnablement> result;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT plugin, enabled, settings, updated_at, revision"
                                " FROM tenant_plugins WHERE tenant_id = :id ORDER BY plugin",
             soci::use(tenant_id, "id"));
        for (const auto& row : rows) {
            result.push_back({row.get<std::string>(0), storage::integer_column(row, 1) != 0,
                              Json::parse(row.get<std::string>(2)), row.get<std::string>(3),
                              static_cast<int>(storage::integer_column(row, 4))});
        }
    });
    return result;
}

int TenantStore::set_enablement(const std::string& tenant_id, const std::string& plugin,
                                bool enabled, const Json& settings, const ChangeAuthor& author) {
    const std::string settings_text = settings.dump();
    const std::string updated_at = clock::now_text();
    const int enabled_flag = enabled ? 1 : 0;
    int revision = 0;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        // ON CONFLICT … DO UPDATE: the same upsert on SQLite (3.24+) and PostgreSQL. The row's
        // update takes its lock, so a concurrent writer waits and then counts from this one's
        // number: revisions never clash.
        session << "INSERT INTO tenant_plugins (tenant_id, plugin, enabled, settings, updated_at,"
                   " revision) VALUES (:tenant, :plugin, :enabled, :settings, :updated_at, 1)"
                   " ON CONFLICT (tenant_id, plugin) DO UPDATE SET enabled = excluded.enabled,"
                   " settings = excluded.settings, updated_at = excluded.updated_at,"
                   " revision = tenant_plugins.revision + 1 RETURNING revision",
            soci::use(tenant_id, "tenant"), soci::use(plugin, "plugin"),
            soci::use(enabled_flag, "enabled"), soci::use(settings_text, "settings"),
            soci::use(updated_at, "updated_at"), soci::into(revision);
        // A null indicator reads as "no restored_from".
        int restored_from = author.restored_from.value_or(0);
        soci::indicator restored_indicator = author.restored_from ? soci::i_ok : soci::i_null;
        session << "INSERT INTO settings_revisions (tenant_id, plugin, revision, enabled,"
                   " settings, actor, time, reason, restored_from) VALUES (:tenant, :plugin,"
                   " :revision, :enabled, :settings, :actor, :time, :reason, :restored_from)",
            soci::use(tenant_id, "tenant"), soci::use(plugin, "plugin"),
            soci::use(revision, "revision"), soci::use(enabled_flag, "enabled"),
            soci::use(settings_text, "settings"), soci::use(author.actor, "actor"),
            soci::use(updated_at, "time"), soci::use(author.reason, "reason"),
            soci::use(restored_from, restored_indicator, "restored_from");
        notify_change(session, tenant_id);
        transaction.commit();
    });
    refresh(tenant_id);
    return revision;
}

namespace {
constexpr const char* kRevisionColumns =
    "tenant_id, plugin, revision, enabled, settings, actor, time, reason, restored_from";

SettingsRevision read_revision(const soci::row& row) {
    SettingsRevision revision;
    revision.tenant_id = row.get<std::string>(0);
    revision.plugin = row.get<std::string>(1);
    revision.revision = static_cast<int>(storage::integer_column(row, 2));
    revision.enabled = storage::integer_column(row, 3) != 0;
    revision.settings = Json::parse(row.get<std::string>(4));
    revision.actor = row.get<std::string>(5);
    revision.time = row.get<std::string>(6);
    revision.reason = row.get<std::string>(7);
    if (row.get_indicator(8) != soci::i_null) {
        revision.restored_from = static_cast<int>(storage::integer_column(row, 8));
    }
    return revision;
}
}  // namespace

std::vector<SettingsRevision> TenantStore::revisions(const std::string& tenant_id,
                                                     const std::string& plugin, int before,
                                                     size_t limit) const {
    std::vector<SettingsRevision> result;
    const int below = before > 0 ? before : std::numeric_limits<int>::max();
    const int row_limit = static_cast<int>(limit);
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kRevisionColumns +
                                    " FROM settings_revisions WHERE tenant_id = :tenant AND"
                                    " plugin = :plugin AND revision < :below"
                                    " ORDER BY revision DESC LIMIT :limit",
             soci::use(tenant_id, "tenant"), soci::use(plugin, "plugin"), soci::use(below, "below"),
             soci::use(row_limit, "limit"));
        for (const auto& row : rows) result.push_back(read_revision(row));
    });
    return result;
}

std::optional<SettingsRevision> TenantStore::revision(const std::string& tenant_id,
                                                      const std::string& plugin, int number) const {
    std::optional<SettingsRevision> result;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kRevisionColumns +
                                    " FROM settings_revisions WHERE tenant_id = :tenant AND"
                                    " plugin = :plugin AND revision = :revision",
             soci::use(tenant_id, "tenant"), soci::use(plugin, "plugin"),
             soci::use(number, "revision"));
        for (const auto& row : rows) result = read_revision(row);
    });
    return result;
}

}  // namespace miconsul::tenants
