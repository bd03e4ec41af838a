#include "plugins/enablement.h"

#include "settings/schema_validator.h"
#include "storage/migrations.h"

namespace miconsul::plugins {

std::optional<std::string> migrate_for_tenant(storage::Database& database,
                                              const std::string& tenant_id,
                                              const LoadedPlugin& plugin) {
    if (plugin.manifest.migrations.empty()) return std::nullopt;
    try {
        database.with_tenant(tenant_id, [&](soci::session& session) {
            storage::apply_migrations(session, database.backend(), plugin.manifest.name,
                                      plugin.manifest.migrations);
        });
        return std::nullopt;
    } catch (const std::exception& failure) {
        return std::string(failure.what());
    }
}

void reconcile_enablements(storage::Database& database, tenants::TenantStore& tenants,
                           const PluginRegistry& registry, const logging::Log& log) {
    for (const auto& tenant_id : tenants.ids()) {
        auto snapshot = tenants.find(tenant_id);
        if (!snapshot) continue;
        for (const auto& [name, settings_text] : snapshot->enabled_settings) {
            auto plugin = registry.find_loaded(name);
            if (!plugin) {
                log.warn("tenant has a plugin enabled that is not loaded",
                         {{"tenant", tenant_id}, {"plugin", name}});
                continue;
            }
            if (auto failure = migrate_for_tenant(database, tenant_id, *plugin)) {
                log.error("tenant migration failed",
                          {{"tenant", tenant_id}, {"plugin", name}, {"reason", *failure}});
                continue;
            }
            const auto stored = nlohmann::json::parse(settings_text);
            const auto filled = settings::apply_defaults(plugin->manifest.settings_schema, stored);
            if (filled != stored) {
                tenants.set_enablement(tenant_id, name, true, filled,
                                       {"host", "defaults", std::nullopt});
                log.info("new setting defaults stored", {{"tenant", tenant_id}, {"plugin", name}});
            }
        }
    }
}

}  // namespace miconsul::plugins
