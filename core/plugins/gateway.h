// The bridge from an HTTP request to a plugin's route handler: the tenant gate (unknown,
// suspended or not enabled → 404), the route's access rule, then the call across the ABI.
#pragma once

#include "auth/access.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "routing/router.h"
#include "tenants/tenant_store.h"

#include <functional>
#include <memory>

namespace miconsul::plugins {

/// Whether the caller of `request` may call a route of `tenant_id` ("" for platform routes)
/// that needs `need`.
using AccessCheck = std::function<auth::Verdict(const http::HttpRequest& request, auth::Need need,
                                                std::string_view tenant_id)>;

class PluginGateway {
public:
    PluginGateway(tenants::TenantStore& tenants, HostServices& services, AccessCheck may_access);

    /// The router handler for one route of a plugin. The returned handler holds `plugin`.
    routing::RouteHandler bind(std::shared_ptr<const LoadedPlugin> plugin,
                               const RouteInfo& route) const;

private:
    http::HttpResponse call(const LoadedPlugin& plugin, const RouteInfo& route,
                            const http::HttpRequest& request, const routing::PathParams& params,
                            const std::string& tenant_id, const tenants::TenantSnapshot* tenant,
                            const std::string& settings_json) const;

    tenants::TenantStore& tenants_;
    HostServices& services_;
    AccessCheck may_access_;
};

}  // namespace miconsul::plugins
