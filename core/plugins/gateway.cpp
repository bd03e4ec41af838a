#include "plugins/gateway.h"

#include <optional>
#include <vector>

namespace miconsul::plugins {

namespace {
using http::HttpResponse;

// One answer for an unknown tenant, a suspended one and a plugin it has not enabled: callers
// must not learn which tenants exist.
HttpResponse not_found() {
    return HttpResponse::problem(404, "no such resource for this tenant");
}

/// The answer for a caller the route does not admit, or nullopt to go on.
std::optional<HttpResponse> refusal(auth::Verdict verdict) {
    switch (verdict) {
        case auth::Verdict::allow:
            return std::nullopt;
        case auth::Verdict::unauthenticated:
            return HttpResponse::unauthorized("a valid bearer token is required");
        case auth::Verdict::forbidden:
            return HttpResponse::problem(403, "this token may not do this");
        case auth::Verdict::hidden:
            return not_found();
    }
    return not_found();
}

std::vector<mc_key_value> as_key_values(const http::Fields& fields) {
    std::vector<mc_key_value> pairs;
    pairs.reserve(fields.size());
    for (const auto& [key, value] : fields) pairs.push_back({key.c_str(), value.c_str()});
    return pairs;
}
}  // namespace

PluginGateway::PluginGateway(tenants::TenantStore& tenants, HostServices& services,
                             AccessCheck may_access)
    : tenants_(tenants), services_(services), may_access_(std::move(may_access)) {}

routing::RouteHandler PluginGateway::bind(std::shared_ptr<const LoadedPlugin> plugin,
                                          const RouteInfo& route) const {
    return [this, plugin, route](const http::HttpRequest& request,
                                 const routing::PathParams& params) -> HttpResponse {
        if (plugin->manifest.scope == Scope::platform) {
            if (route.access != MC_ACCESS_PUBLIC) {
                if (auto refused = refusal(may_access_(request, auth::Need::platform_admin, ""))) {
                    return std::move(*refused);
                }
            }
            static const std::string kPlatformSettings = "{}";
            return call(*plugin, route, request, params, "", nullptr, kPlatformSettings);
        }
        // The router puts the {tenant} segment first for every tenant route.
        const std::string& tenant_id = params.front().second;
        // The credential first: without one, a caller cannot tell which tenants exist or what
        // they enabled (every tenant route answers it the same 401); another tenant's token
        // gets the 404 of a tenant that does not exist.
        if (route.access != MC_ACCESS_PUBLIC) {
            const auto need = route.access == MC_ACCESS_TENANT_ADMIN ? auth::Need::tenant_admin
                                                                     : auth::Need::tenant_member;
            if (auto refused = refusal(may_access_(request, need, tenant_id))) {
                return std::move(*refused);
            }
        }
        auto tenant = tenants_.find(tenant_id);
        if (!tenant || tenant->tenant.status != "active") return not_found();
        auto settings = tenant->enabled_settings.find(plugin->manifest.name);
        if (settings == tenant->enabled_settings.end()) return not_found();
        return call(*plugin, route, request, params, tenant_id, tenant.get(), settings->second);
    };
}

HttpResponse PluginGateway::call(const LoadedPlugin& plugin, const RouteInfo& route,
                                 const http::HttpRequest& request,
                                 const routing::PathParams& params, const std::string& tenant_id,
                                 const tenants::TenantSnapshot* tenant,
                                 const std::string& settings_json) const {
    // Plugins parse their own bodies, in the host's process: a body nested deeply enough
    // overflows a thread's stack when parsed or copied recursively, whichever code does it.
    // The host's own routes refuse it before parsing (kMaxJsonDepth); so do plugin routes,
    // whatever Content-Type the body claims: a plugin may parse it as JSON all the same.
    if (http::json_nesting_exceeds(request.body)) {
        return HttpResponse::problem(
            400, "the body nests deeper than " + std::to_string(http::kMaxJsonDepth) + " levels");
    }
    mc_context context;
    context.plugin = &plugin;
    context.tenant_id = tenant_id;
    context.request_id = request.request_id;
    context.services = &services_;
    context.timezone = tenant != nullptr ? tenant->tenant.timezone : "UTC";

    const mc_call call{sizeof(mc_call),
                       &context,
                       plugin.manifest.name.c_str(),
                       tenant_id.c_str(),
                       tenant != nullptr ? tenant->tenant.timezone.c_str() : "UTC",
                       tenant != nullptr ? tenant->tenant.locale.c_str() : "",
                       settings_json.c_str(),
                       request.request_id.c_str(),
                       0,
                       tenant != nullptr ? tenant->tenant.name.c_str() : ""};

    // The plugin sees its own parameters, not the tenant segment the host consumed.
    http::Fields own_params(params.begin() + (tenant != nullptr ? 1 : 0), params.end());
    const auto path_params = as_key_values(own_params);
    const auto query = as_key_values(request.query);
    const auto headers = as_key_values(request.headers);
    const mc_request plugin_request{
        sizeof(mc_request), request.method.c_str(), request.path.c_str(), path_params.data(),
        path_params.size(), query.data(),           query.size(),         headers.data(),
        headers.size(),     request.body.data(),    request.body.size()};
    mc_response response;
    mc_status status = MC_ERR_INTERNAL;
    try {
        status = route.handler(route.user_data, &call, &plugin_request, &response);
    } catch (...) {
        // Only a plugin that bypasses the SDK can let an exception get here.
        response.status = 0;
    }
    if (status != MC_OK) {
        services_.log.error("plugin route failed", {{"plugin", plugin.manifest.name},
                                                    {"route", route.method + " " + route.path},
                                                    {"tenant", tenant_id},
                                                    {"request_id", request.request_id},
                                                    {"detail", response.body}});
        // The plugin's own text may carry internals (SQL, paths): it goes to the log only.
        return HttpResponse::problem(500, "plugin " + plugin.manifest.name + " failed",
                                     {{"request_id", request.request_id}});
    }
    if (response.status < 100 || response.status > 599) {
        return HttpResponse::problem(
            500, "plugin " + plugin.manifest.name + " did not produce a response");
    }
    return HttpResponse{response.status, std::move(response.headers), std::move(response.body)};
}

}  // namespace miconsul::plugins
