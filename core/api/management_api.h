// The management API under /api/v1: tenants, loaded plugins, routes and the audit log.
// Platform admins, and a tenant's admins for reading their own tenant. A tenant's plugins and
// their settings are in plugin_settings_api.h.
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

/// The routes, each already behind its guard. `deps` must outlive them.
std::vector<routing::RouteDefinition> management_routes(const ManagementDependencies& deps);

/// The problems of a tenant body ({"field", "message"} each); `creating` requires id, name and
/// timezone and refuses status.
Json tenant_field_errors(const Json& body, bool creating);

/// Publishes a core event after the change it reports; a failure to store it is logged, and
/// the change itself (already committed) stands.
void publish_core_event(const ManagementDependencies& deps, const std::string& tenant_id,
                        const std::string& type, const Json& data);

/// Creates `tenant` for the caller of `request`: stored, logged, audited, tenant.created
/// published. False when the id exists.
bool store_new_tenant(const ManagementDependencies& deps, const http::HttpRequest& request,
                      const tenants::Tenant& tenant);

/// Stores `after` over `before` for the caller of `request`: logged, audited (before and
/// after), tenant.updated published with `changes`, and tenant.suspended or
/// tenant.reactivated when the status moved.
void store_tenant_change(const ManagementDependencies& deps, const http::HttpRequest& request,
                         const tenants::Tenant& before, const tenants::Tenant& after,
                         const Json& changes);

}  // namespace miconsul::api
