#include "api/messages_api.h"

#include "auth/token_hash.h"
#include "bus/bus.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>
#include <set>

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

constexpr auto kSignatureTolerance = std::chrono::minutes(5);

/// What a patient's WhatsApp reply asks for: withdraw (false) or give (true) consent.
std::optional<bool> consent_keyword(const std::string& text) {
    std::string word;
    for (const char c : text) {
        if (!std::isspace(static_cast<unsigned char>(c)) && c != '.' && c != '!') {
            word += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
    }
    if (word == "STOP" || word == "BAJA" || word == "UNSUBSCRIBE" || word == "CANCELAR")
        return false;
    if (word == "START" || word == "ALTA" || word == "SUBSCRIBE") return true;
    return std::nullopt;
}

bool is_date(const std::string& text) {
    static const std::regex pattern(R"(^[0-9]{4}-[0-9]{2}-[0-9]{2}$)");
    return std::regex_match(text, pattern);
}

class Handlers {
public:
    explicit Handlers(const MessagesDependencies& deps) : deps_(deps) {}

    // --- Management: /api/v1/tenants/{id}/… (behind admin_route) ---

    HttpResponse list(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto limit = page_limit(request);
        if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
        const Json filters = query_filters(request, {"status", "channel", "source", "patient_id"});
        if (filters.contains("status")) {
            static const std::set<std::string> statuses = {"queued", "sent", "failed",
                                                           "suppressed"};
            if (!statuses.count(filters["status"].get<std::string>())) {
                return invalid_fields(
                    "bad filter",
                    Json::array({{{"field", "status"},
                                  {"message", "must be queued, sent, failed or suppressed"}}}));
            }
        }
        return page_response(deps_.outbox.list(
            tenant, filters, std::string(request.query_value("cursor")), std::get<size_t>(limit)));
    }

    HttpResponse get(const HttpRequest&, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto message = deps_.outbox.find(tenant, path_param(params, "message"));
        return message ? HttpResponse::json(*message)
                       : HttpResponse::problem(404, "no such message");
    }

    HttpResponse usage(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        const std::string from(request.query_value("from"));
        const std::string to(request.query_value("to"));
        Json errors = Json::array();
        if (!is_date(from))
            errors.push_back({{"field", "from"}, {"message", "must be YYYY-MM-DD"}});
        if (!is_date(to)) errors.push_back({{"field", "to"}, {"message", "must be YYYY-MM-DD"}});
        if (!errors.empty()) return invalid_fields("the usage period is not valid", errors);
        return HttpResponse::json({{"items", deps_.outbox.usage(tenant, from, to)}});
    }

    HttpResponse get_settings(const HttpRequest&, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        return HttpResponse::json(deps_.settings.public_view(tenant));
    }

    HttpResponse put_settings(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json before = deps_.settings.public_view(tenant);
        const Json errors = deps_.settings.replace(tenant, std::get<Json>(parsed));
        if (!errors.empty()) return invalid_fields("the messaging settings are not valid", errors);
        // The public view on both sides: secrets appear only as whether they are set.
        record_change(deps_.audit, deps_.access, request, tenant, "messaging.settings",
                      {{"before", before}, {"after", deps_.settings.public_view(tenant)}});
        return HttpResponse::json(deps_.settings.public_view(tenant));
    }

    // --- For the tenant: /t/{tenant}/messages… ---

    template <class Work>
    HttpResponse for_tenant(const HttpRequest& request, const PathParams& params,
                            Work&& work) const {
        return for_active_tenant(deps_.access, deps_.tenants, request, params, work);
    }

    /// Templates for `plugin` in this tenant: the plugin's, with the tenant's overrides.
    std::optional<messages::TemplateSources> templates_of(const tenants::TenantSnapshot& tenant,
                                                          const std::string& plugin) const {
        messages::TemplateSources sources;
        sources.tenant_language = tenant.tenant.locale.substr(0, 2);
        sources.clinic = tenant.tenant.name;
        if (plugin.empty()) return sources;
        const auto loaded = deps_.registry.find_loaded(plugin);
        const auto settings = tenant.enabled_settings.find(plugin);
        if (!loaded || settings == tenant.enabled_settings.end()) return std::nullopt;
        sources.defaults = loaded->manifest.templates;
        sources.overrides =
            Json::parse(settings->second, nullptr, false).value("templates", Json::object());
        return sources;
    }

    HttpResponse queue(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const tenants::TenantSnapshot& tenant) {
            auto parsed = parse_json_object(request);
            if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
            // Over HTTP a message brings its own content: templates belong to plugins.
            auto draft = messages::compose(std::get<Json>(parsed), tenant.tenant.id, "api",
                                           *templates_of(tenant, ""), deps_.records);
            if (auto* refusal = std::get_if<records::Refusal>(&draft))
                return refusal_response(*refusal);
            const auto queued = deps_.outbox.queue(std::get<messages::Draft>(draft));
            return HttpResponse::json(
                {{"id", queued.id}, {"status", queued.status}, {"duplicate", queued.duplicate}},
                queued.duplicate ? 200 : 201);
        });
    }

    HttpResponse preview(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const tenants::TenantSnapshot& tenant) {
            auto parsed = parse_json_object(request);
            if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
            const Json body = std::get<Json>(parsed);
            Json errors = unknown_fields(body, {"plugin", "template", "language", "data"});
            if (!body.value("plugin", Json()).is_string()) {
                errors.push_back({{"field", "/plugin"}, {"message", "must be a plugin's name"}});
            }
            if (!body.value("template", Json()).is_string()) {
                errors.push_back(
                    {{"field", "/template"}, {"message", "must be a template's name"}});
            }
            if (body.contains("data") && !body["data"].is_object()) {
                errors.push_back({{"field", "/data"}, {"message", "must be an object"}});
            }
            if (!errors.empty()) return invalid_fields("the preview request is not valid", errors);
            const std::string plugin = body["plugin"];
            const std::string name = body["template"];
            const auto sources = templates_of(tenant, plugin);
            if (!sources)
                return HttpResponse::problem(404, "plugin " + plugin + " is not enabled here");
            // Without data, the template's own sample (the tenant's, else the plugin's).
            Json data = body.value("data", Json());
            if (data.is_null()) {
                data =
                    sources->defaults.value(name, Json::object()).value("sample", Json::object());
                data.update(
                    sources->overrides.value(name, Json::object()).value("sample", Json::object()));
            }
            return outcome_response(messages::render_named(
                name, body.value("language", tenant.tenant.locale), data, *sources));
        });
    }

    HttpResponse whatsapp_webhook(const HttpRequest& request, const PathParams& params) const {
        auto snapshot = deps_.tenants.find(path_param(params, "tenant"));
        if (!snapshot) return HttpResponse::problem(404, "no such resource for this tenant");
        const std::string& tenant = snapshot->tenant.id;
        const auto settings = deps_.settings.load(tenant);
        // No secret configured, or a wrong signature: the same answer, so neither can be probed.
        if (settings.ycloud_webhook_secret.empty() ||
            !ycloud_signature_valid(request.header("ycloud-signature"), request.body,
                                    settings.ycloud_webhook_secret, deps_.clock.now())) {
            return HttpResponse::problem(401, "the YCloud-Signature is missing or wrong");
        }
        const Json event = Json::parse(request.body, nullptr, false);
        if (!event.is_object()) return HttpResponse::problem(400, "the body is not a JSON object");
        try {
            return ycloud_event(tenant, event);
        } catch (const Json::exception&) {
            // Signed by YCloud but not shaped as documented: say so; YCloud will retry it.
            return HttpResponse::problem(400, "the event is not shaped as YCloud documents it");
        }
    }

    HttpResponse ycloud_event(const std::string& tenant, const Json& event) const {
        const std::string type = event.value("type", "");
        if (type == "whatsapp.message.updated" && event.contains("whatsappMessage")) {
            const Json& message = event["whatsappMessage"];
            const std::string id = message.value("externalId", message.value("id", ""));
            const bool known = deps_.outbox.record_provider_status(
                tenant, id, message.value("status", ""),
                message.value("errorMessage", message.value("errorCode", "")));
            return HttpResponse::json({{"recorded", known}});
        }
        if (type == "whatsapp.inbound_message.received" &&
            event.contains("whatsappInboundMessage")) {
            const Json& inbound = event["whatsappInboundMessage"];
            const std::string from = inbound.value("from", "");
            const std::string text = inbound.value("text", Json::object()).value("body", "");
            Json changed = Json::array();
            if (const auto granted = consent_keyword(text); granted && records::is_e164(from)) {
                for (const auto& id : deps_.records.record_consent(
                         tenant, from, "whatsapp", *granted, "whatsapp reply \"" + text + "\"")) {
                    changed.push_back(id);
                }
                deps_.log.info("whatsapp consent changed by a reply",
                               {{"tenant", tenant},
                                {"granted", *granted ? "true" : "false"},
                                {"patients", std::to_string(changed.size())}});
            }
            try {
                // n8n workflows may answer replies: every reply is an event.
                deps_.bus.publish(tenant, "core", "message.received",
                                  {{"channel", "whatsapp"},
                                   {"from", from},
                                   {"text", text},
                                   {"consent_changed_for", changed}});
            } catch (const std::exception& error) {
                deps_.log.warn("a WhatsApp reply's event could not be published",
                               {{"tenant", tenant}, {"error", error.what()}});
            }
            return HttpResponse::json({{"consent_changed_for", changed}});
        }
        return HttpResponse::json({{"ignored", type}});  // other events: acknowledged, unused
    }

private:
    const MessagesDependencies& deps_;
};

}  // namespace

bool ycloud_signature_valid(std::string_view signature_header, std::string_view body,
                            const std::string& secret, clock::TimePoint now) {
    std::string timestamp, signature;
    size_t start = 0;
    while (start <= signature_header.size()) {
        const size_t end = std::min(signature_header.find(',', start), signature_header.size());
        const std::string_view part = signature_header.substr(start, end - start);
        if (part.rfind("t=", 0) == 0) timestamp = part.substr(2);
        if (part.rfind("s=", 0) == 0) signature = part.substr(2);
        start = end + 1;
    }
    long long seconds = 0;
    const auto [end, error] =
        std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
    if (timestamp.empty() || error != std::errc() || end != timestamp.data() + timestamp.size()) {
        return false;
    }
    const auto signed_at = clock::TimePoint(std::chrono::seconds(seconds));
    if (signed_at < now - kSignatureTolerance || signed_at > now + kSignatureTolerance)
        return false;
    const std::string expected = auth::hmac_sha256_hex(secret, timestamp + "." + std::string(body));
    return auth::constant_time_equal(expected, signature);
}

std::vector<routing::RouteDefinition> messages_routes(const MessagesDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    auto tenant_route = [&](const char* method, const std::string& path, auto member,
                            const char* access = "tenant") {
        return routing::RouteDefinition{
            method, "/t/{tenant}/messages" + path, "core",
            [handlers, member](const HttpRequest& request, const PathParams& params) {
                return ((*handlers).*member)(request, params);
            },
            access};
    };
    return {
        tenant_admin_route(deps.access, handlers, "GET", "/api/v1/tenants/{id}/messages",
                           &Handlers::list),
        tenant_admin_route(deps.access, handlers, "GET", "/api/v1/tenants/{id}/messages/{message}",
                           &Handlers::get),
        tenant_admin_route(deps.access, handlers, "GET", "/api/v1/tenants/{id}/usage/messages",
                           &Handlers::usage),
        tenant_admin_route(deps.access, handlers, "GET", "/api/v1/tenants/{id}/messaging",
                           &Handlers::get_settings),
        tenant_admin_route(deps.access, handlers, "PUT", "/api/v1/tenants/{id}/messaging",
                           &Handlers::put_settings),
        tenant_route("POST", "", &Handlers::queue),
        tenant_route("POST", "/preview", &Handlers::preview),
        // YCloud calls it: its signature, not a token, says who it is.
        tenant_route("POST", "/whatsapp/webhook", &Handlers::whatsapp_webhook, "signature"),
    };
}

}  // namespace miconsul::api
