// The management API under /api/v1: tenants, loaded plugins, and each tenant's plugins with
// their settings. Platform admin only.
#pragma once

#include "api/api_support.h"
#include "bus/bus.h"
#include "logging/log.h"
#include "plugins/registry.h"
#include "routing/router.h"
#include "storage/database.h"
#include "tenants/tenant_store.h"

#include <vector>

namespace miconsul::api {

struct ManagementDependencies {
    tenants::TenantStore& tenants;
    plugins::PluginRegistry& registry;
    storage::Database& database;
    bus::Bus& bus;
    logging::Log log;
    const auth::Access& access;
    audit::AuditLog& audit;         // changes are recorded here
    const routing::Router& router;  // for GET /api/v1/routes
};

/// The routes, each already behind the admin guard. `deps` must outlive them.
std::vector<routing::RouteDefinition> management_routes(const ManagementDependencies& deps);

}  // namespace miconsul::api
