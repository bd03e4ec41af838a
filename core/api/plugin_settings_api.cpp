#include "api/plugin_settings_api.h"

#include "plugins/enablement.h"
#include "settings/schema_validator.h"

#include <charconv>
#include <set>

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

// What a tenant's plugin row is, or is to become.
struct PluginState {
    bool enabled = false;
    Json settings = Json::object();
};

// The names of the top-level settings that differ. Events carry names only: settings may
// hold credentials, and events reach webhooks.
Json changed_setting_names(const Json& before, const Json& after) {
    Json changed = Json::array();
    for (const auto& [key, value] : after.items()) {
        if (!before.contains(key) || before[key] != value) changed.push_back(key);
    }
    for (const auto& [key, value] : before.items()) {
        if (!after.contains(key)) changed.push_back(key);
    }
    return changed;
}

std::optional<int> positive_number(std::string_view text) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 1) return std::nullopt;
    return value;
}

class Handlers {
public:
    explicit Handlers(const ManagementDependencies& deps) : deps_(deps) {}

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
        if (auto enablement = stored(id, name)) {
            return HttpResponse::json(enablement_json(id, *enablement));
        }
        return HttpResponse::json({{"tenant", id}, {"plugin", name}, {"enabled", false}});
    }

    HttpResponse put_tenant_plugin(const HttpRequest& request, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        const std::string& name = path_param(params, "plugin");
        if (!deps_.tenants.find(id)) return tenant_not_found(id);
        auto found = tenant_plugin(name);
        if (auto* problem = std::get_if<HttpResponse>(&found)) return std::move(*problem);
        const auto& plugin = *std::get<std::shared_ptr<const plugins::LoadedPlugin>>(found);
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

        // Re-enabling without settings keeps what the tenant had set before.
        const PluginState before = current(id, name);
        PluginState wanted{body["enabled"].get<bool>(), before.settings};
        if (body.contains("settings")) wanted.settings = body["settings"];
        if (Json failures = complete(plugin, wanted, "/settings"); !failures.empty()) {
            return invalid_fields("the settings are not valid", failures);
        }
        auto stored_change =
            store(request, id, plugin, before, wanted, {actor(request), "change", std::nullopt});
        if (auto* problem = std::get_if<HttpResponse>(&stored_change)) return std::move(*problem);
        return HttpResponse::json(std::get<Json>(stored_change));
    }

    // GET …/revisions?cursor=&limit=: newest first; the cursor is the last revision seen.
    HttpResponse list_revisions(const HttpRequest& request, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        const std::string& name = path_param(params, "plugin");
        if (!deps_.tenants.find(id)) return tenant_not_found(id);
        auto limit = page_limit(request);
        if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
        int before = 0;
        if (const auto cursor = request.query_value("cursor"); !cursor.empty()) {
            const auto number = positive_number(cursor);
            if (!number) return HttpResponse::problem(400, "cursor must be a revision number");
            before = *number;
        }
        const size_t page_size = std::get<size_t>(limit);
        // One extra row tells whether another page exists.
        auto page = deps_.tenants.revisions(id, name, before, page_size + 1);
        Json next_cursor = nullptr;
        if (page.size() > page_size) {
            page.resize(page_size);
            next_cursor = std::to_string(page.back().revision);
        }
        Json items = Json::array();
        for (const auto& revision : page) items.push_back(revision.to_json());
        return HttpResponse::json({{"items", items}, {"next_cursor", next_cursor}});
    }

    HttpResponse get_revision(const HttpRequest&, const PathParams& params) const {
        auto found = find_revision(params);
        if (auto* problem = std::get_if<HttpResponse>(&found)) return std::move(*problem);
        return HttpResponse::json(std::get<tenants::SettingsRevision>(found).to_json());
    }

    // GET …/revisions/{n}/diff?against=m: what changed from m (default n-1; nothing before 1)
    // to n, as a JSON Patch (RFC 6902) over the settings.
    HttpResponse diff_revision(const HttpRequest& request, const PathParams& params) const {
        auto found = find_revision(params);
        if (auto* problem = std::get_if<HttpResponse>(&found)) return std::move(*problem);
        const auto& to = std::get<tenants::SettingsRevision>(found);
        PluginState from_state;
        Json from_number = nullptr;
        std::optional<int> against =
            to.revision > 1 ? std::optional(to.revision - 1) : std::nullopt;
        if (const auto text = request.query_value("against"); !text.empty()) {
            against = positive_number(text);
            if (!against) return HttpResponse::problem(400, "against must be a revision number");
        }
        if (against) {
            auto from = deps_.tenants.revision(to.tenant_id, to.plugin, *against);
            if (!from) {
                return HttpResponse::problem(404, "no revision " + std::to_string(*against) +
                                                      " of this plugin for this tenant");
            }
            from_state = {from->enabled, from->settings};
            from_number = from->revision;
        }
        return HttpResponse::json({{"tenant", to.tenant_id},
                                   {"plugin", to.plugin},
                                   {"from", from_number},
                                   {"to", to.revision},
                                   {"enabled", {{"from", from_state.enabled}, {"to", to.enabled}}},
                                   {"changes", Json::diff(from_state.settings, to.settings)}});
    }

    // POST …/revisions/{n}/restore: brings back revision n's settings exactly, as a new
    // revision. Whether the plugin is enabled stays as it is: that is a switch of its own.
    HttpResponse restore_revision(const HttpRequest& request, const PathParams& params) const {
        auto found = find_revision(params);
        if (auto* problem = std::get_if<HttpResponse>(&found)) return std::move(*problem);
        const auto& revision = std::get<tenants::SettingsRevision>(found);
        auto loaded = tenant_plugin(revision.plugin);
        if (auto* problem = std::get_if<HttpResponse>(&loaded)) return std::move(*problem);
        const auto& plugin = *std::get<std::shared_ptr<const plugins::LoadedPlugin>>(loaded);
        const PluginState before = current(revision.tenant_id, revision.plugin);
        PluginState wanted{before.enabled, revision.settings};
        // The plugin may have changed its schema since: what no longer validates is refused.
        if (Json failures = complete(plugin, wanted, "/settings"); !failures.empty()) {
            return HttpResponse::problem(
                422,
                "revision " + std::to_string(revision.revision) +
                    "'s settings are not valid for the plugin as it is now",
                {{"errors", failures}});
        }
        auto stored_change = store(request, revision.tenant_id, plugin, before, wanted,
                                   {actor(request), "restore", revision.revision});
        if (auto* problem = std::get_if<HttpResponse>(&stored_change)) return std::move(*problem);
        return HttpResponse::json(std::get<Json>(stored_change));
    }

    // GET /api/v1/tenants/{id}/configuration: the tenant and every plugin row it has, in the
    // shape PUT takes back (and `miconsul-host export` writes).
    HttpResponse get_configuration(const HttpRequest&, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        const auto snapshot = deps_.tenants.find(id);
        if (!snapshot) return tenant_not_found(id);
        return HttpResponse::json(configuration_json(snapshot->tenant));
    }

    // PUT /api/v1/tenants/{id}/configuration[?dry_run=true]: makes the tenant (created if it
    // does not exist) and its plugin rows match the body; a plugin the body leaves out is
    // disabled (its settings kept). Everything is checked before anything is stored; the
    // answer lists each change, with the revision it became unless this is a dry run.
    HttpResponse put_configuration(const HttpRequest& request, const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        const std::string_view dry_run_text = request.query_value("dry_run");
        if (!dry_run_text.empty() && dry_run_text != "true" && dry_run_text != "false") {
            return HttpResponse::problem(400, "dry_run must be true or false");
        }
        const bool dry_run = dry_run_text == "true";

        Json errors = unknown_fields(body, {"tenant", "plugins"});
        const auto snapshot = deps_.tenants.find(id);
        tenants::Tenant tenant = snapshot ? snapshot->tenant : tenants::Tenant{};
        const Json tenant_body = body.value("tenant", Json::object());
        if (!tenant_body.is_object()) {
            errors.push_back({{"field", "/tenant"}, {"message", "must be an object"}});
        } else {
            Json fields = tenant_body;
            if (fields.contains("id") && fields["id"] != id) {
                errors.push_back(
                    {{"field", "/tenant/id"}, {"message", "must be the tenant of the path"}});
            }
            fields.erase("id");
            if (!snapshot) fields["id"] = id;
            for (auto error : tenant_field_errors(fields, !snapshot)) {
                error["field"] = "/tenant" + error["field"].get<std::string>();
                errors.push_back(error);
            }
            if (errors.empty()) {
                tenant.id = id;
                tenant.name = fields.value("name", tenant.name);
                tenant.timezone = fields.value("timezone", tenant.timezone);
                tenant.locale = fields.value("locale", tenant.locale);
                tenant.status = fields.value("status", tenant.status);
            }
        }

        struct PlannedPlugin {
            std::shared_ptr<const plugins::LoadedPlugin> plugin;
            PluginState before, after;
            size_t change_index = 0;  // its entry in `changes`
        };
        std::vector<PlannedPlugin> planned;
        const Json plugins_body = body.value("plugins", Json::object());
        std::set<std::string> named;
        if (!plugins_body.is_object()) {
            errors.push_back({{"field", "/plugins"}, {"message", "must be an object"}});
        } else {
            for (const auto& [name, entry] : plugins_body.items()) {
                const std::string field = "/plugins/" + name;
                named.insert(name);
                auto found = tenant_plugin(name);
                if (auto* problem = std::get_if<HttpResponse>(&found)) {
                    errors.push_back({{"field", field}, {"message", problem_detail(*problem)}});
                    continue;
                }
                auto plugin = std::get<std::shared_ptr<const plugins::LoadedPlugin>>(found);
                Json entry_errors =
                    entry.is_object()
                        ? unknown_fields(entry, {"enabled", "settings"})
                        : Json::array({{{"field", ""}, {"message", "must be an object"}}});
                if (entry.is_object() &&
                    (!entry.contains("enabled") || !entry["enabled"].is_boolean())) {
                    entry_errors.push_back(
                        {{"field", "/enabled"}, {"message", "is required: true or false"}});
                }
                if (entry.is_object() && entry.contains("settings") &&
                    !entry["settings"].is_object()) {
                    entry_errors.push_back(
                        {{"field", "/settings"}, {"message", "must be an object"}});
                }
                if (entry_errors.empty()) {
                    PluginState after{entry["enabled"].get<bool>(),
                                      entry.value("settings", Json::object())};
                    entry_errors = complete(*plugin, after, "/settings");
                    planned.push_back({plugin, current(id, name), after});
                }
                for (auto error : entry_errors) {
                    error["field"] = field + error["field"].get<std::string>();
                    errors.push_back(error);
                }
            }
        }
        if (!errors.empty()) return invalid_fields("the configuration is not valid", errors);
        // What the file leaves out is not wanted: disabled, settings kept for a later return.
        if (snapshot) {
            for (const auto& [name, settings_text] : snapshot->enabled_settings) {
                if (named.count(name)) continue;
                auto plugin = deps_.registry.find_loaded(name);
                if (!plugin) continue;  // not loaded here: nothing this host could check
                const PluginState before = current(id, name);
                planned.push_back({plugin, before, {false, before.settings}});
            }
        }

        Json changes = Json::array();
        if (!snapshot) {
            changes.push_back({{"kind", "tenant.created"}, {"after", tenant.to_json()}});
        } else if (tenant.to_json() != snapshot->tenant.to_json()) {
            changes.push_back(
                {{"kind", "tenant.updated"},
                 {"changes", Json::diff(snapshot->tenant.to_json(), tenant.to_json())}});
        }
        std::erase_if(planned, [](const PlannedPlugin& item) {
            return item.before.enabled == item.after.enabled &&
                   item.before.settings == item.after.settings;
        });
        for (auto& [plugin, before, after, change_index] : planned) {
            change_index = changes.size();
            changes.push_back({{"kind", "plugin"},
                               {"plugin", plugin->manifest.name},
                               {"enabled", {{"before", before.enabled}, {"after", after.enabled}}},
                               {"changes", Json::diff(before.settings, after.settings)}});
        }
        if (!dry_run) {
            if (!snapshot) {
                if (!store_new_tenant(deps_, request, tenant)) {
                    return HttpResponse::problem(409, "the tenant was created meanwhile: retry");
                }
            } else if (tenant.to_json() != snapshot->tenant.to_json()) {
                store_tenant_change(deps_, request, snapshot->tenant, tenant, tenant_body);
            }
            for (const auto& [plugin, before, after, change_index] : planned) {
                auto stored_change = store(request, id, *plugin, before, after,
                                           {actor(request), "apply", std::nullopt});
                if (auto* problem = std::get_if<HttpResponse>(&stored_change)) {
                    return std::move(*problem);
                }
                changes[change_index]["revision"] = std::get<Json>(stored_change)["revision"];
            }
        }
        return HttpResponse::json({{"tenant", id}, {"dry_run", dry_run}, {"changes", changes}});
    }

private:
    static Json enablement_json(const std::string& tenant_id,
                                const tenants::PluginEnablement& enablement) {
        return {{"tenant", tenant_id},
                {"plugin", enablement.plugin},
                {"enabled", enablement.enabled},
                {"settings", enablement.settings},
                {"revision", enablement.revision},
                {"updated_at", enablement.updated_at}};
    }

    Json configuration_json(const tenants::Tenant& tenant) const {
        Json plugins = Json::object();
        for (const auto& enablement : deps_.tenants.enablements(tenant.id)) {
            plugins[enablement.plugin] = {{"enabled", enablement.enabled},
                                          {"settings", enablement.settings}};
        }
        return {{"tenant",
                 {{"id", tenant.id},
                  {"name", tenant.name},
                  {"timezone", tenant.timezone},
                  {"locale", tenant.locale}}},
                {"plugins", plugins}};
    }

    static std::string problem_detail(const HttpResponse& problem) {
        return Json::parse(problem.body).value("detail", "refused");
    }

    std::string actor(const HttpRequest& request) const {
        return deps_.access.identify(request).actor();
    }

    // A loaded plugin that tenants enable, or the answer for one that is not (404, 409).
    std::variant<std::shared_ptr<const plugins::LoadedPlugin>, HttpResponse> tenant_plugin(
        const std::string& name) const {
        auto plugin = deps_.registry.find_loaded(name);
        if (!plugin) return HttpResponse::problem(404, "no loaded plugin '" + name + "'");
        if (plugin->manifest.scope != plugins::Scope::tenant) {
            return HttpResponse::problem(
                409, "plugin '" + name + "' has platform scope: it is not enabled per tenant");
        }
        return plugin;
    }

    std::optional<tenants::PluginEnablement> stored(const std::string& tenant_id,
                                                    const std::string& plugin) const {
        for (auto& enablement : deps_.tenants.enablements(tenant_id)) {
            if (enablement.plugin == plugin) return std::move(enablement);
        }
        return std::nullopt;
    }

    // The row as stored, or a plugin never enabled: disabled, no settings.
    PluginState current(const std::string& tenant_id, const std::string& plugin) const {
        if (auto enablement = stored(tenant_id, plugin)) {
            return {enablement->enabled, enablement->settings};
        }
        return {};
    }

    // Fills in the schema's defaults; for an enabled plugin, the settings' problems (their
    // fields under `prefix`). A disabled plugin keeps whatever it has until enabled again.
    static Json complete(const plugins::LoadedPlugin& plugin, PluginState& state,
                         const std::string& prefix) {
        state.settings = settings::apply_defaults(plugin.manifest.settings_schema, state.settings);
        Json errors = Json::array();
        if (!state.enabled) return errors;
        for (const auto& failure :
             settings::validate(plugin.manifest.settings_schema, state.settings)) {
            errors.push_back({{"field", prefix + failure.path}, {"message", failure.message}});
        }
        return errors;
    }

    // The revision a route's {id}, {plugin} and {revision} name, or its 404.
    std::variant<tenants::SettingsRevision, HttpResponse> find_revision(
        const PathParams& params) const {
        const std::string& id = path_param(params, "id");
        const std::string& name = path_param(params, "plugin");
        if (!deps_.tenants.find(id)) return tenant_not_found(id);
        const auto number = positive_number(path_param(params, "revision"));
        auto revision = number ? deps_.tenants.revision(id, name, *number) : std::nullopt;
        if (!revision) {
            return HttpResponse::problem(404, "no revision " + path_param(params, "revision") +
                                                  " of plugin '" + name + "' for this tenant");
        }
        return std::move(*revision);
    }

    // Stores a checked change as the next revision: the plugin's tenant migrations first when
    // it is enabled, then the row and its revision, the audit entry (before and after), the
    // events and the log; `before` is the row as the caller read it. The answer's body, or a
    // 500 when the migrations fail.
    std::variant<Json, HttpResponse> store(const HttpRequest& request, const std::string& id,
                                           const plugins::LoadedPlugin& plugin,
                                           const PluginState& before, const PluginState& wanted,
                                           const tenants::ChangeAuthor& author) const {
        const std::string& name = plugin.manifest.name;
        if (wanted.enabled) {
            if (auto failure = plugins::migrate_for_tenant(deps_.database, id, plugin)) {
                deps_.log.error("tenant migration failed",
                                {{"tenant", id}, {"plugin", name}, {"reason", *failure}});
                return HttpResponse::problem(500, "the plugin's migrations failed for this tenant",
                                             {{"reason", *failure}});
            }
        }
        const int revision =
            deps_.tenants.set_enablement(id, name, wanted.enabled, wanted.settings, author);
        Json detail = {{"plugin", name},
                       {"revision", revision},
                       {"reason", author.reason},
                       {"before", {{"enabled", before.enabled}, {"settings", before.settings}}},
                       {"after", {{"enabled", wanted.enabled}, {"settings", wanted.settings}}}};
        if (author.restored_from) detail["restored_from"] = *author.restored_from;
        record_change(deps_.audit, deps_.access, request, id,
                      author.reason == "restore" ? "plugin.settings.restored" : "plugin.enablement",
                      std::move(detail));
        if (wanted.enabled != before.enabled) {
            publish_core_event(deps_, id, wanted.enabled ? "plugin.enabled" : "plugin.disabled",
                               {{"plugin", name}});
        }
        if (wanted.settings != before.settings) {
            publish_core_event(
                deps_, id, "settings.updated",
                {{"plugin", name},
                 {"changed", changed_setting_names(before.settings, wanted.settings)}});
        }
        deps_.log.info(wanted.enabled ? "plugin enabled" : "plugin disabled",
                       {{"tenant", id}, {"plugin", name}, {"revision", revision}});
        Json answer = {{"tenant", id},
                       {"plugin", name},
                       {"enabled", wanted.enabled},
                       {"settings", wanted.settings},
                       {"revision", revision}};
        if (author.restored_from) answer["restored_from"] = *author.restored_from;
        return answer;
    }

    const ManagementDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> plugin_settings_routes(const ManagementDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    // A clinic's own admins see and change their plugins; replacing a whole configuration can
    // create the tenant and rename it, which only platform admins do.
    auto tenant_route = [&](const char* method, const char* pattern, auto member) {
        return tenant_admin_route(deps.access, handlers, method, pattern, member);
    };
    return {
        tenant_route("GET", "/api/v1/tenants/{id}/plugins", &Handlers::list_tenant_plugins),
        tenant_route("GET", "/api/v1/tenants/{id}/plugins/{plugin}", &Handlers::get_tenant_plugin),
        tenant_route("PUT", "/api/v1/tenants/{id}/plugins/{plugin}", &Handlers::put_tenant_plugin),
        tenant_route("GET", "/api/v1/tenants/{id}/plugins/{plugin}/revisions",
                     &Handlers::list_revisions),
        tenant_route("GET", "/api/v1/tenants/{id}/plugins/{plugin}/revisions/{revision}",
                     &Handlers::get_revision),
        tenant_route("GET", "/api/v1/tenants/{id}/plugins/{plugin}/revisions/{revision}/diff",
                     &Handlers::diff_revision),
        tenant_route("POST", "/api/v1/tenants/{id}/plugins/{plugin}/revisions/{revision}/restore",
                     &Handlers::restore_revision),
        tenant_route("GET", "/api/v1/tenants/{id}/configuration", &Handlers::get_configuration),
        admin_route(deps.access, handlers, "PUT", "/api/v1/tenants/{id}/configuration",
                    &Handlers::put_configuration),
    };
}

}  // namespace miconsul::api
