// What enabling a plugin for a tenant does to that tenant's data, shared by the management
// API (one tenant, now) and the host's start (every enabled tenant, after an upgrade).
#pragma once

#include "logging/log.h"
#include "plugins/registry.h"
#include "storage/database.h"
#include "tenants/tenant_store.h"

#include <optional>
#include <string>

namespace miconsul::plugins {

/// Runs the plugin's pending migrations on the tenant's database. Returns the reason on
/// failure (the failing migration is rolled back; earlier ones stay).
std::optional<std::string> migrate_for_tenant(storage::Database& database,
                                              const std::string& tenant_id,
                                              const LoadedPlugin& plugin);

/// For every tenant and every loaded plugin it has enabled: runs migrations a newer plugin
/// version brought, and stores defaults of settings it added. Failures are logged per tenant
/// and do not stop the others. Call at start, after plugins are loaded.
void reconcile_enablements(storage::Database& database, tenants::TenantStore& tenants,
                           const PluginRegistry& registry, const logging::Log& log);

}  // namespace miconsul::plugins
