#include "api/runs_api.h"

#include "clock/clock.h"

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

class Handlers {
public:
    explicit Handlers(const RunsDependencies& deps) : deps_(deps) {}

    HttpResponse list_runs(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto limit = page_limit(request);
        if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
        const std::string status(request.query_value("status"));
        static const std::set<std::string> kStatuses = {"",       "queued",    "running",
                                                        "failed", "succeeded", "skipped"};
        if (kStatuses.count(status) == 0) {
            return HttpResponse::problem(
                400, "status must be queued, running, succeeded, failed or skipped");
        }
        scheduler::RunFilter filter{tenant,
                                    std::string(request.query_value("plugin")),
                                    status,
                                    std::string(request.query_value("schedule")),
                                    std::string(request.query_value("cursor")),
                                    std::get<size_t>(limit)};
        std::string next_cursor;
        Json items = Json::array();
        for (const auto& run : deps_.scheduler.runs().list(filter, next_cursor)) {
            items.push_back(run.to_json());
        }
        return HttpResponse::json(
            {{"items", items},
             {"next_cursor", next_cursor.empty() ? Json(nullptr) : Json(next_cursor)}});
    }

    HttpResponse get_run(const HttpRequest&, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        auto run = deps_.scheduler.runs().find(tenant, path_param(params, "run"));
        if (!run) return HttpResponse::problem(404, "no such run for this tenant");
        return HttpResponse::json(run->to_json());
    }

    HttpResponse retry_run(const HttpRequest&, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        const std::string& id = path_param(params, "run");
        auto run = deps_.scheduler.runs().find(tenant, id);
        if (!run) return HttpResponse::problem(404, "no such run for this tenant");
        auto queued = deps_.scheduler.retry(tenant, id);
        if (!queued) {
            return HttpResponse::problem(
                409, "only a failed run can be retried; this one is " + run->status);
        }
        return HttpResponse::json(queued->to_json(), 202);
    }

    HttpResponse list_schedules(const HttpRequest&, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        const std::string& plugin_name = path_param(params, "plugin");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto plugin = deps_.registry.find_loaded(plugin_name);
        if (!plugin || plugin->manifest.scope != plugins::Scope::tenant) {
            return HttpResponse::problem(404, "no loaded tenant plugin '" + plugin_name + "'");
        }
        Json items = Json::array();
        for (const auto& schedule : plugin->schedules) {
            items.push_back(schedule_json(tenant, plugin_name, schedule));
        }
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    HttpResponse set_schedule(const HttpRequest& request, const PathParams& params) const {
        auto key = schedule_key(params);
        if (auto* problem = std::get_if<HttpResponse>(&key)) return std::move(*problem);
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        if (body.size() != 1 || !body.contains("paused") || !body["paused"].is_boolean()) {
            return invalid_fields(
                "the request is not valid",
                Json::array({{{"field", "/paused"}, {"message", "is required: true or false"}}}));
        }
        const auto& schedule_key_value = std::get<scheduler::ScheduleKey>(key);
        deps_.scheduler.set_paused(schedule_key_value, body["paused"].get<bool>());
        auto plugin = deps_.registry.find_loaded(schedule_key_value.plugin);
        for (const auto& schedule : plugin->schedules) {
            if (schedule.name == schedule_key_value.schedule) {
                return HttpResponse::json(
                    schedule_json(schedule_key_value.tenant_id, plugin->manifest.name, schedule));
            }
        }
        return HttpResponse::problem(404, "no such schedule");
    }

    HttpResponse run_schedule(const HttpRequest& request, const PathParams& params) const {
        auto key = schedule_key(params);
        if (auto* problem = std::get_if<HttpResponse>(&key)) return std::move(*problem);
        Json body = Json::object();
        if (!request.body.empty()) {
            auto parsed = parse_json_object(request);
            if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
            body = std::get<Json>(parsed);
        }
        Json errors = unknown_fields(body, {"as_of", "wait"});
        std::optional<clock::TimePoint> as_of;
        if (body.contains("as_of")) {
            if (body["as_of"].is_string()) {
                as_of = clock::parse_rfc3339(body["as_of"].get<std::string>());
            }
            if (!as_of) {
                errors.push_back({{"field", "/as_of"},
                                  {"message",
                                   "must be an RFC 3339 instant such as "
                                   "2026-11-28T08:00:00-06:00"}});
            }
        }
        if (body.contains("wait") && !body["wait"].is_boolean()) {
            errors.push_back({{"field", "/wait"}, {"message", "must be true or false"}});
        }
        if (!errors.empty()) return invalid_fields("the request is not valid", errors);
        const bool wait = body.value("wait", true);
        auto outcome = deps_.scheduler.trigger(std::get<scheduler::ScheduleKey>(key), as_of, wait);
        if (auto* problem = std::get_if<std::string>(&outcome)) {
            return HttpResponse::problem(404, *problem);
        }
        const auto& run = std::get<scheduler::RunRecord>(outcome);
        return HttpResponse::json(run.to_json(), wait ? 200 : 202);
    }

private:
    // The schedule named by the path, if the plugin is loaded and has it; else the 404.
    std::variant<scheduler::ScheduleKey, HttpResponse> schedule_key(
        const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        const std::string& plugin_name = path_param(params, "plugin");
        const std::string& name = path_param(params, "name");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        auto plugin = deps_.registry.find_loaded(plugin_name);
        if (!plugin || plugin->manifest.scope != plugins::Scope::tenant) {
            return HttpResponse::problem(404, "no loaded tenant plugin '" + plugin_name + "'");
        }
        for (const auto& schedule : plugin->schedules) {
            if (schedule.name == name) return scheduler::ScheduleKey{tenant, plugin_name, name};
        }
        return HttpResponse::problem(404,
                                     "plugin '" + plugin_name + "' has no schedule '" + name + "'");
    }

    Json schedule_json(const std::string& tenant, const std::string& plugin,
                       const plugins::ScheduleInfo& schedule) const {
        const scheduler::ScheduleKey key{tenant, plugin, schedule.name};
        const auto next = deps_.scheduler.next_run(key);
        const auto effective_cron = deps_.scheduler.effective_cron(key);
        return {{"name", schedule.name},
                {"cron", schedule.cron},
                {"effective_cron", effective_cron ? Json(*effective_cron) : Json(nullptr)},
                {"misfire", schedule.misfire},
                {"timeout_s", schedule.timeout_seconds},
                {"max_attempts", schedule.max_attempts},
                {"paused", deps_.scheduler.is_paused(key)},
                {"next_run_at", next ? Json(clock::rfc3339_utc(*next)) : Json(nullptr)}};
    }

    const RunsDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> runs_routes(const RunsDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    auto route = [&](const char* method, const char* pattern, auto member) {
        return tenant_admin_route(deps.access, handlers, method, pattern, member);
    };
    return {
        route("GET", "/api/v1/tenants/{id}/runs", &Handlers::list_runs),
        route("GET", "/api/v1/tenants/{id}/runs/{run}", &Handlers::get_run),
        route("POST", "/api/v1/tenants/{id}/runs/{run}/retry", &Handlers::retry_run),
        route("GET", "/api/v1/tenants/{id}/plugins/{plugin}/schedules", &Handlers::list_schedules),
        route("PUT", "/api/v1/tenants/{id}/plugins/{plugin}/schedules/{name}",
              &Handlers::set_schedule),
        route("POST", "/api/v1/tenants/{id}/plugins/{plugin}/schedules/{name}/run",
              &Handlers::run_schedule),
    };
}

}  // namespace miconsul::api
