#include "api/management_api.h"

#include "plugins/enablement.h"
#include "settings/schema_validator.h"

#include <regex>
#include <set>

namespace miconsul::api {

namespace {
bool is_valid_locale(const std::string& locale) {
    static const std::regex pattern("^[a-z]{2,3}(-[A-Z]{2}|-[0-9]{3})?$");
    return std::regex_match(locale, pattern);
}

}  // namespace

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

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

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
        if (!store_new_tenant(deps_, request, tenant)) {
            return HttpResponse::problem(409, "a tenant '" + tenant.id + "' already exists");
        }
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
        store_tenant_change(deps_, request, snapshot->tenant, tenant, body);
        return HttpResponse::json(deps_.tenants.find(id)->tenant.to_json());
    }

private:
    const ManagementDependencies& deps_;
};
}  // namespace

void publish_core_event(const ManagementDependencies& deps, const std::string& tenant_id,
                        const std::string& type, const Json& data) {
    try {
        deps.bus.publish(tenant_id, "core", type, data);
    } catch (const std::exception& failure) {
        deps.log.error("core event not stored", {{"type", type}, {"reason", failure.what()}});
    }
}

bool store_new_tenant(const ManagementDependencies& deps, const http::HttpRequest& request,
                      const tenants::Tenant& tenant) {
    if (!deps.tenants.create(tenant)) return false;
    deps.log.info("tenant created", {{"tenant", tenant.id}});
    record_change(deps.audit, deps.access, request, tenant.id, "tenant.created",
                  {{"after", deps.tenants.find(tenant.id)->tenant.to_json()}});
    publish_core_event(deps, tenant.id, "tenant.created",
                       {{"id", tenant.id}, {"name", tenant.name}, {"timezone", tenant.timezone}});
    return true;
}

void store_tenant_change(const ManagementDependencies& deps, const http::HttpRequest& request,
                         const tenants::Tenant& before, const tenants::Tenant& after,
                         const Json& changes) {
    deps.tenants.update(after);
    deps.log.info("tenant updated", {{"tenant", after.id}, {"status", after.status}});
    record_change(
        deps.audit, deps.access, request, after.id, "tenant.updated",
        {{"before", before.to_json()}, {"after", deps.tenants.find(after.id)->tenant.to_json()}});
    publish_core_event(deps, after.id, "tenant.updated", {{"id", after.id}, {"changes", changes}});
    if (after.status != before.status) {
        publish_core_event(deps, after.id,
                           after.status == "suspended" ? "tenant.suspended" : "tenant.reactivated",
                           {{"id", after.id}});
    }
}

std::vector<routing::RouteDefinition> management_routes(const ManagementDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    auto route = [&](const char* method, const char* pattern, auto member) {
        return admin_route(deps.access, handlers, method, pattern, member);
    };
    // What a clinic's own admins may see: their tenant.
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
    };
}

}  // namespace miconsul::api
