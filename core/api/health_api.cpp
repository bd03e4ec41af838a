#include "api/health_api.h"

#include <nlohmann/json.hpp>

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using Json = nlohmann::json;

HttpResponse readiness(const HealthDependencies& deps) {
    Json checks = Json::object();
    bool ready = true;
    std::string database_error;
    if (deps.database.ping(database_error)) {
        checks["database"] = {{"status", "ok"}};
    } else {
        checks["database"] = {{"status", "failing"}, {"detail", database_error}};
        ready = false;
    }
    if (deps.registry.loading_finished()) {
        size_t failed = 0;
        for (const auto& record : deps.registry.records()) failed += record.loaded ? 0 : 1;
        // Refused plugins do not make the host unready: it serves everything else.
        checks["plugins"] = {{"status", "ok"}, {"refused", failed}};
    } else {
        checks["plugins"] = {{"status", "loading"}};
        ready = false;
    }
    if (deps.redis) {
        if (auto failure = redis::ping(*deps.redis, std::chrono::milliseconds(500))) {
            checks["redis"] = {{"status", "failing"}, {"detail", *failure}};
            ready = false;
        } else {
            checks["redis"] = {{"status", "ok"}};
        }
    } else {
        checks["redis"] = {{"status", "not configured"}};
    }
    if (deps.rate_limit_mode) {
        const std::string mode = deps.rate_limit_mode();
        // Local limits still serve (each instance keeps its own budget): a detail, not unready.
        checks["rate_limit"] = {
            {"status", mode.rfind("shared", 0) == 0 || mode == "local" ? "ok" : "degraded"},
            {"detail", mode}};
    }
    if (deps.draining.load()) {
        checks["shutdown"] = {{"status", "draining"}};
        ready = false;
    }
    if (ready) return HttpResponse::json({{"status", "ready"}, {"checks", checks}});
    // A problem body like every error, with the same "checks" a ready answer has.
    HttpResponse response = HttpResponse::problem(503, "not ready", {{"checks", checks}});
    response.headers.emplace_back("Retry-After", "5");
    return response;
}
}  // namespace

std::vector<routing::RouteDefinition> health_routes(const HealthDependencies& deps) {
    return {
        {"GET", "/healthz", "core",
         [](const HttpRequest&, const routing::PathParams&) {
             return HttpResponse::json({{"status", "ok"}});
         },
         "public"},
        {"GET", "/readyz", "core",
         [&deps](const HttpRequest&, const routing::PathParams&) { return readiness(deps); },
         "public"},
    };
}

}  // namespace miconsul::api
