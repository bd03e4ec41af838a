#include "api/webhooks_api.h"

#include "bus/bus.h"
#include "clock/clock.h"

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

class Handlers {
public:
    explicit Handlers(const WebhooksDependencies& deps) : deps_(deps) {}

    HttpResponse create(const HttpRequest& request, const PathParams& params) const {
        if (auto refusal = unavailable_or_unknown(params)) return std::move(*refusal);
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"url", "event_types"});
        if (!body.contains("url") || !body["url"].is_string() ||
            !webhooks::is_acceptable_url(body["url"].get<std::string>())) {
            errors.push_back({{"field", "/url"},
                              {"message",
                               "must be an absolute http(s) URL of at most 2048 "
                               "characters"}});
        }
        std::vector<std::string> types;
        const bool types_ok = body.contains("event_types") && body["event_types"].is_array() &&
                              !body["event_types"].empty() && body["event_types"].size() <= 50;
        if (types_ok) {
            for (const auto& type : body["event_types"]) {
                const std::string text = type.is_string() ? type.get<std::string>() : "";
                const bool prefix = text.size() > 2 && text.ends_with(".*");
                const std::string checked = prefix ? text.substr(0, text.size() - 2) + ".x" : text;
                if (!bus::is_valid_event_type(checked)) {
                    errors.push_back({{"field", "/event_types"},
                                      {"message", "'" + text +
                                                      "' is not an event type such as "
                                                      "appointment.created or appointment.*"}});
                }
                types.push_back(text);
            }
        } else {
            errors.push_back({{"field", "/event_types"},
                              {"message", "must be a non-empty array of at most 50 types"}});
        }
        if (!errors.empty()) return invalid_fields("the subscription is not valid", errors);
        auto [subscription, secret] = deps_.webhooks->create(
            path_param(params, "id"), body["url"].get<std::string>(), types, clock::now_text());
        Json answer = subscription.to_json();
        answer["secret"] = secret;  // shown once: only its encrypted form is kept
        return HttpResponse::json(answer, 201);
    }

    HttpResponse list(const HttpRequest&, const PathParams& params) const {
        if (auto refusal = unavailable_or_unknown(params)) return std::move(*refusal);
        Json items = Json::array();
        for (const auto& subscription : deps_.webhooks->list(path_param(params, "id"))) {
            items.push_back(subscription.to_json());
        }
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    HttpResponse remove(const HttpRequest&, const PathParams& params) const {
        if (auto refusal = unavailable_or_unknown(params)) return std::move(*refusal);
        if (!deps_.webhooks->remove(path_param(params, "id"), path_param(params, "webhook"))) {
            return HttpResponse::problem(404, "no such webhook subscription for this tenant");
        }
        return HttpResponse::no_content();
    }

    HttpResponse reactivate(const HttpRequest&, const PathParams& params) const {
        if (auto refusal = unavailable_or_unknown(params)) return std::move(*refusal);
        const std::string& tenant = path_param(params, "id");
        const std::string& id = path_param(params, "webhook");
        if (!deps_.webhooks->reactivate(tenant, id, clock::now_text())) {
            return HttpResponse::problem(404, "no such webhook subscription for this tenant");
        }
        return HttpResponse::json(deps_.webhooks->find(tenant, id)->to_json());
    }

private:
    std::optional<HttpResponse> unavailable_or_unknown(const PathParams& params) const {
        if (deps_.webhooks == nullptr) {
            return HttpResponse::problem(
                503,
                "webhooks need a secret_key (MICONSUL_SECRET_KEY) to keep their secrets "
                "encrypted; see docs/operations.md");
        }
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        return std::nullopt;
    }

    const WebhooksDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> webhooks_routes(const WebhooksDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    auto route = [&](const char* method, const char* pattern, auto member) {
        return tenant_admin_route(deps.access, handlers, method, pattern, member);
    };
    return {
        route("POST", "/api/v1/tenants/{id}/webhooks", &Handlers::create),
        route("GET", "/api/v1/tenants/{id}/webhooks", &Handlers::list),
        route("DELETE", "/api/v1/tenants/{id}/webhooks/{webhook}", &Handlers::remove),
        route("POST", "/api/v1/tenants/{id}/webhooks/{webhook}/reactivate", &Handlers::reactivate),
    };
}

}  // namespace miconsul::api
