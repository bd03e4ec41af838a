#include "api/management_api.h"

#include "plugins/enablement.h"
#include "settings/schema_validator.h"

#include <regex>
#include <set>

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

bool is_valid_locale(const std::string& locale) {
    static const std::regex pattern("^[a-z]{2,3}(-[A-Z]{2}|-[0-9]{3})?$");
    return std::regex_match(locale, pattern);
}

// Checks the fields a tenant body may carry; `creating` requires id, name and timezone.
Json tenant_field_errors(const Json& body, bool creating) {
    Json errors = creating ? unknown_fields(body, {"id", "name", "timezone", "locale"})
                           : unknown_fields(body, {"name", "timezone", "locale", "status"});
    auto add = [&](const std::string& field, const std::string& message) {
        errors.push_back({{"field", "/" + field}, {"message", message}});
    };
    auto text = [&](const char* key, bool required) -> const std::string* {
        if (!body.contains(key)) {
            if (required) add(key, "is required");
            return nullptr;
        }
        if (!body[key].is_string()) {
            add(key, "must be a string");
            return nullptr;
        }
        return body[key].get_ptr<const std::string*>();
    };
    if (creating) {
        if (const auto* id = text("id", true); id && !storage::is_valid_tenant_id(*id)) {
            add("id", "must be 1-63 lower-case letters, digits or '-', not starting with '-'");
        }
    }
    if (const auto* name = text("name", creating); name && (name->empty() || name->size() > 200)) {
        add("name", "must be 1-200 characters");
    }
    if (const auto* zone = text("timezone", creating); zone && !tenants::is_known_timezone(*zone)) {
        add("timezone", "must be an IANA time zone such as America/Mexico_City");
    }
    if (const auto* locale = text("locale", false); locale && !is_valid_locale(*locale)) {
        add("locale", "must be a language tag such as es-MX");
    }
    if (!creating) {
        if (const auto* status = text("status", false);
            status && *status != "active" && *status != "suspended") {
            add("status", "must be active or suspended");
        }
    }
    return errors;
}

Json plugin_json(const plugins::PluginRecord& record) {
    Json item = {{"name", record.name},
                 {"file", record.file},
                 {"status", record.loaded ? "loaded" : "failed"}};
    if (!record.loaded) {
        item["reason"] = record.reason;
        if (!record.manifest_name.empty()) item["manifest_name"] = record.manifest_name;
        return item;
    }
    const auto& plugin = *record.plugin;
    const auto& manifest = plugin.manifest;
    item["version"] = manifest.version;
    item["scope"] = plugins::scope_name(manifest.scope);
    item["description"] = manifest.description;
    item["settings_schema"] = manifest.settings_schema;
    item["default_settings"] = manifest.default_settings;
    item["events_emitted"] = manifest.events_emitted;
    Json migrations = Json::array();
    for (const auto& migration : manifest.migrations) {
        migrations.push_back(
            {{"version", migration.version}, {"description", migration.description}});
    }
    item["migrations"] = migrations;
    Json routes = Json::array();
    for (const auto& route : plugin.routes) {
        routes.push_back({{"method", route.method},
                          {"path", route.full_pattern},
                          {"access", route.access == MC_ACCESS_PUBLIC ? "public" : "tenant"}});
    }
    item["routes"] = routes;
    Json schedules = Json::array();
    for (const auto& schedule : plugin.schedules) {
        schedules.push_back(
            {{"name", schedule.name}, {"cron", schedule.cron}, {"options", schedule.options}});
    }
    item["schedules"] = schedules;
    Json handlers = Json::array();
    for (const auto& handler : plugin.event_handlers) {
        handlers.push_back({{"name", handler.name}, {"event_type", handler.event_type}});
    }
    item["event_handlers"] = handlers;
    return item;
}

class Handlers {
public:
    explicit Handlers(const ManagementDependencies& deps) : deps_(deps) {}

    // GET /api/v1/audit?tenant=&actor=&kind=&from=&to=
    HttpResponse list_audit(const HttpRequest& request, const PathParams&) const {
        auto limit = page_limit(request);
        if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
        Json filters = query_filters(request, {"actor", "kind", "from", "to"});
        if (const auto tenant = request.query_value("tenant"); !tenant.empty()) {
            filters["tenant_id"] = std::string(tenant);
        }
        for (const char* bound : {"from", "to"}) {
            if (filters.contains(bound) &&
                !clock::parse_rfc3339(filters[bound].get<std::string>())) {
                return invalid_fields(
                    "bad filter",
                    Json::array({{{"field", bound}, {"message", "must be RFC 3339"}}}));
            }
            if (filters.contains(bound)) {
                filters[bound] =
                    clock::rfc3339_utc(*clock::parse_rfc3339(filters[bound].get<std::string>()));
            }
        }
        return page_response(deps_.audit.list(filters, std::string(request.query_value("cursor")),
                                              std::get<size_t>(limit)));
    }

    // Every route with who may call it: what an operator audits, and what the tests walk.
    HttpResponse list_routes(const HttpRequest&, const PathParams&) const {
        Json items = Json::array();
        for (const auto& route : deps_.router.routes()) {
            items.push_back({{"method", route->method},
                             {"pattern", route->pattern},
                             {"owner", route->owner},
                             {"access", route->access}});
        }
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    HttpResponse list_plugins(const HttpRequest&, const PathParams&) const {
        Json items = Json::array();
        for (const auto& record : deps_.registry.records()) items.push_back(plugin_json(record));
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    HttpResponse get_plugin(const HttpRequest&, const PathParams& params) const {
        const std::string& name = path_param(params, "name");
        for (const auto& record : deps_.registry.records()) {
            if (record.name == name) return HttpResponse::json(plugin_json(record));
        }
        return HttpResponse::problem(404, "no plugin '" + name + "'");
    }

    HttpResponse create_tenant(const HttpRequest& request, const PathParams&) const {
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        if (Json errors = tenant_field_errors(body, true); !errors.empty()) {
            return invalid_fields("the tenant is not valid", errors);
        }
        tenants::Tenant tenant;
        tenant.id = body["id"];
        tenant.name = body["name"];
        tenant.timezone = body["timezone"];
        tenant.locale = body.value("locale", tenant.locale);
        if (!deps_.tenants.create(tenant)) {
            return HttpResponse::problem(409, "a tenant '" + tenant.id + "' already exists");
        }
        deps_.log.info("tenant created", {{"tenant", tenant.id}});
        record_change(deps_.audit, deps_.access, request, tenant.id, "tenant.created",
                      {{"after", deps_.tenants.find(tenant.id)->tenant.to_json()}});
        emit(tenant.id, "tenant.created",
             {{"id", tenant.id}, {"name", tenant.name}, {"timezone", tenant.timezone}});
        HttpResponse created =
            HttpResponse::json(deps_.tenants.find(tenant.id)->tenant.to_json(), 201);
        created.headers.emplace_back("Location", "/api/v1/tenants/" + tenant.id);
        return created;
    }

    HttpResponse list_tenants(const HttpRequest& request, const PathParams&) const {
        auto limit = page_limit(request);
        if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
        const size_t page_size = std::get<size_t>(limit);
        // One extra row tells whether another page exists.
        auto page = deps_.tenants.list(std::string(request.query_value("cursor")), page_size + 1);
        Json next_cursor = nullptr;
        if (page.size() > page_size) {
            page.resize(page_size);
            next_cursor = page.back().id;
        }
        Json items = Json::array();
        for (const auto& tenant : page) items.push_back(tenant.to_json());
        return HttpResponse::json({{"items", items}, {"next_cursor", next_cursor}});
    }

    HttpResponse get_tenant(const HttpRequest&, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        auto snapshot = deps_.tenants.find(id);
        if (!snapshot) return tenant_not_found(id);
        return HttpResponse::json(snapshot->tenant.to_json());
    }

    HttpResponse update_tenant(const HttpRequest& request, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        auto snapshot = deps_.tenants.find(id);
        if (!snapshot) return tenant_not_found(id);
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        if (Json errors = tenant_field_errors(body, false); !errors.empty()) {
            return invalid_fields("the change is not valid", errors);
        }
        tenants::Tenant tenant = snapshot->tenant;
        tenant.name = body.value("name", tenant.name);
        tenant.timezone = body.value("timezone", tenant.timezone);
        tenant.locale = body.value("locale", tenant.locale);
        tenant.status = body.value("status", tenant.status);
        deps_.tenants.update(tenant);
        deps_.log.info("tenant updated", {{"tenant", id}, {"status", tenant.status}});
        record_change(deps_.audit, deps_.access, request, id, "tenant.updated",
                      {{"before", snapshot->tenant.to_json()},
                       {"after", deps_.tenants.find(id)->tenant.to_json()}});
        emit(id, "tenant.updated", {{"id", id}, {"changes", body}});
        if (tenant.status != snapshot->tenant.status) {
            emit(id, tenant.status == "suspended" ? "tenant.suspended" : "tenant.reactivated",
                 {{"id", id}});
        }
        return HttpResponse::json(deps_.tenants.find(id)->tenant.to_json());
    }

    HttpResponse list_tenant_plugins(const HttpRequest&, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        if (!deps_.tenants.find(id)) return tenant_not_found(id);
        Json items = Json::array();
        for (const auto& enablement : deps_.tenants.enablements(id)) {
            if (!enablement.enabled) continue;
            items.push_back(enablement_json(id, enablement));
        }
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    HttpResponse get_tenant_plugin(const HttpRequest&, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        const std::string& name = path_param(params, "plugin");
        if (!deps_.tenants.find(id)) return tenant_not_found(id);
        for (const auto& enablement : deps_.tenants.enablements(id)) {
            if (enablement.plugin == name)
                return HttpResponse::json(enablement_json(id, enablement));
        }
        return HttpResponse::json({{"tenant", id}, {"plugin", name}, {"enabled", false}});
    }

    HttpResponse put_tenant_plugin(const HttpRequest& request, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        const std::string& name = path_param(params, "plugin");
        if (!deps_.tenants.find(id)) return tenant_not_found(id);
        auto plugin = deps_.registry.find_loaded(name);
        if (!plugin) return HttpResponse::problem(404, "no loaded plugin '" + name + "'");
        if (plugin->manifest.scope != plugins::Scope::tenant) {
            return HttpResponse::problem(409, "plugin '" + name +
                                                  "' has platform scope: it is not enabled per "
                                                  "tenant");
        }
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"enabled", "settings"});
        if (!body.contains("enabled") || !body["enabled"].is_boolean()) {
            errors.push_back({{"field", "/enabled"}, {"message", "is required: true or false"}});
        }
        if (body.contains("settings") && !body["settings"].is_object()) {
            errors.push_back({{"field", "/settings"}, {"message", "must be an object"}});
        }
        if (!errors.empty()) return invalid_fields("the request is not valid", errors);

        const bool enabled = body["enabled"].get<bool>();
        Json settings = stored_settings(id, name);
        if (body.contains("settings")) settings = body["settings"];
        settings = settings::apply_defaults(plugin->manifest.settings_schema, settings);
        if (enabled) {
            for (const auto& failure :
                 settings::validate(plugin->manifest.settings_schema, settings)) {
                errors.push_back(
                    {{"field", "/settings" + failure.path}, {"message", failure.message}});
            }
            if (!errors.empty()) return invalid_fields("the settings are not valid", errors);
            if (auto failure = plugins::migrate_for_tenant(deps_.database, id, *plugin)) {
                deps_.log.error("tenant migration failed",
                                {{"tenant", id}, {"plugin", name}, {"reason", *failure}});
                return HttpResponse::problem(500, "the plugin's migrations failed for this tenant",
                                             {{"reason", *failure}});
            }
        }
        const Json before = stored_settings(id, name);
        const bool was_enabled = deps_.tenants.find(id)->enabled_settings.count(name) != 0;
        deps_.tenants.set_enablement(id, name, enabled, settings);
        record_change(deps_.audit, deps_.access, request, id, "plugin.enablement",
                      {{"plugin", name},
                       {"before", {{"enabled", was_enabled}, {"settings", before}}},
                       {"after", {{"enabled", enabled}, {"settings", settings}}}});
        if (enabled != was_enabled) {
            emit(id, enabled ? "plugin.enabled" : "plugin.disabled", {{"plugin", name}});
        }
        if (settings != before) {
            // Names only: settings may hold credentials, and events reach webhooks.
            Json changed = Json::array();
            for (const auto& [key, value] : settings.items()) {
                if (!before.contains(key) || before[key] != value) changed.push_back(key);
            }
            for (const auto& [key, value] : before.items()) {
                if (!settings.contains(key)) changed.push_back(key);
            }
            emit(id, "settings.updated", {{"plugin", name}, {"changed", changed}});
        }
        deps_.log.info(enabled ? "plugin enabled" : "plugin disabled",
                       {{"tenant", id}, {"plugin", name}});
        return HttpResponse::json(
            {{"tenant", id}, {"plugin", name}, {"enabled", enabled}, {"settings", settings}});
    }

private:
    // Core events follow the change they report; a failure to store one is logged, and the
    // change itself (already committed) stands.
    void emit(const std::string& tenant_id, const std::string& type, const Json& data) const {
        try {
            deps_.bus.publish(tenant_id, "core", type, data);
        } catch (const std::exception& failure) {
            deps_.log.error("core event not stored", {{"type", type}, {"reason", failure.what()}});
        }
    }

    static Json enablement_json(const std::string& tenant_id,
                                const tenants::PluginEnablement& enablement) {
        return {{"tenant", tenant_id},
                {"plugin", enablement.plugin},
                {"enabled", enablement.enabled},
                {"settings", enablement.settings},
                {"updated_at", enablement.updated_at}};
    }

    // Re-enabling without settings keeps what the tenant had set before.
    Json stored_settings(const std::string& tenant_id, const std::string& plugin) const {
        for (const auto& enablement : deps_.tenants.enablements(tenant_id)) {
            if (enablement.plugin == plugin) return enablement.settings;
        }
        return Json::object();
    }

    const ManagementDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> management_routes(const ManagementDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    auto route = [&](const char* method, const char* pattern, auto member) {
        return admin_route(deps.access, handlers, method, pattern, member);
    };
    // What a clinic's own admins may see and change: their tenant and its plugins.
    auto tenant_route = [&](const char* method, const char* pattern, auto member) {
        return tenant_admin_route(deps.access, handlers, method, pattern, member);
    };
    return {
        route("GET", "/api/v1/routes", &Handlers::list_routes),
        route("GET", "/api/v1/audit", &Handlers::list_audit),
        route("GET", "/api/v1/plugins", &Handlers::list_plugins),
        route("GET", "/api/v1/plugins/{name}", &Handlers::get_plugin),
        route("POST", "/api/v1/tenants", &Handlers::create_tenant),
        route("GET", "/api/v1/tenants", &Handlers::list_tenants),
        tenant_route("GET", "/api/v1/tenants/{id}", &Handlers::get_tenant),
        route("PATCH", "/api/v1/tenants/{id}", &Handlers::update_tenant),
        tenant_route("GET", "/api/v1/tenants/{id}/plugins", &Handlers::list_tenant_plugins),
        tenant_route("GET", "/api/v1/tenants/{id}/plugins/{plugin}", &Handlers::get_tenant_plugin),
        tenant_route("PUT", "/api/v1/tenants/{id}/plugins/{plugin}", &Handlers::put_tenant_plugin),
    };
}

}  // namespace miconsul::api
