#include "api/events_api.h"

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

class Handlers {
public:
    explicit Handlers(const EventsDependencies& deps) : deps_(deps) {}

    // POST /t/{tenant}/events {"type", "data"} → 202 {"id"}
    HttpResponse publish(const HttpRequest& request, const PathParams& params) const {
        return for_active_tenant(deps_.access, deps_.tenants, request, params,
                                 [&](const tenants::TenantSnapshot& snapshot) {
                                     return publish_for(request, snapshot.tenant.id);
                                 });
    }

    HttpResponse publish_for(const HttpRequest& request, const std::string& tenant) const {
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"type", "data"});
        if (!body.contains("type") || !body["type"].is_string() ||
            !bus::is_valid_event_type(body["type"].get<std::string>())) {
            errors.push_back({{"field", "/type"},
                              {"message",
                               "must look like appointment.created: dot-separated"
                               " lower-case words"}});
        }
        if (body.contains("data") && !body["data"].is_object()) {
            errors.push_back({{"field", "/data"}, {"message", "must be an object"}});
        }
        if (!errors.empty()) return invalid_fields("the event is not valid", errors);
        const std::string id = deps_.bus.publish(tenant, "api", body["type"].get<std::string>(),
                                                 body.value("data", Json::object()));
        return HttpResponse::json({{"id", id}}, 202);
    }

    HttpResponse list_events(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto limit = page_limit(request);
        if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
        Json items = Json::array();
        for (const auto& event : deps_.bus.events(tenant, std::string(request.query_value("type")),
                                                  std::get<size_t>(limit))) {
            items.push_back(event.to_json());
        }
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    HttpResponse list_deliveries(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto limit = page_limit(request);
        if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
        const std::string status(request.query_value("status"));
        static const std::set<std::string> kStatuses = {"",          "pending", "delivering",
                                                        "delivered", "dead",    "skipped"};
        if (kStatuses.count(status) == 0) {
            return HttpResponse::problem(
                400, "status must be pending, delivering, delivered, dead or skipped");
        }
        Json items = Json::array();
        for (const auto& delivery : deps_.bus.deliveries(tenant, status, std::get<size_t>(limit))) {
            items.push_back(delivery.to_json());
        }
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    // POST …/deliveries/{event}/redeliver {"subscriber": "hello/log-greeting" | "webhook:<id>"}
    HttpResponse redeliver(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"subscriber"});
        if (!body.contains("subscriber") || !body["subscriber"].is_string()) {
            errors.push_back({{"field", "/subscriber"},
                              {"message",
                               "is required: \"<plugin>/<handler>\" or "
                               "\"webhook:<id>\", as the delivery lists it"}});
        }
        if (!errors.empty()) return invalid_fields("the request is not valid", errors);
        const std::string subscriber = body["subscriber"];
        if (!deps_.bus.redeliver(tenant, path_param(params, "event"), subscriber)) {
            return HttpResponse::problem(404, "no dead delivery of that event to " + subscriber);
        }
        return HttpResponse::json({{"status", "pending"}}, 202);
    }

private:
    const EventsDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> events_routes(const EventsDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    auto route = [&](const char* method, const char* pattern, auto member) {
        return tenant_admin_route(deps.access, handlers, method, pattern, member);
    };
    return {
        // For the tenant (n8n, the legacy system): any of its tokens.
        routing::RouteDefinition{"POST", "/t/{tenant}/events", "core",
                                 [handlers](const HttpRequest& request, const PathParams& params) {
                                     return handlers->publish(request, params);
                                 },
                                 "tenant"},
        route("GET", "/api/v1/tenants/{id}/events", &Handlers::list_events),
        route("GET", "/api/v1/tenants/{id}/deliveries", &Handlers::list_deliveries),
        route("POST", "/api/v1/tenants/{id}/deliveries/{event}/redeliver", &Handlers::redeliver),
    };
}

}  // namespace miconsul::api
