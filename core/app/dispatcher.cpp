#include "app/dispatcher.h"

#include "ids/ids.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace miconsul::app {

namespace {
using http::HttpRequest;
using http::HttpResponse;

// A caller's X-Request-Id is kept when it is short and printable, so a proxy's or n8n's id
// follows the request through our logs; anything else is replaced.
bool is_usable_request_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

// Management routes of one tenant: its first path parameter is the tenant.
constexpr std::string_view kTenantManagement = "/api/v1/tenants/{id}";

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string joined;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) joined += separator;
        joined += parts[i];
    }
    return joined;
}
}  // namespace

Dispatcher::Dispatcher(const routing::Router& router, logging::Log log,
                       ratelimit::TenantRateLimits* limits, audit::AuditLog* audit,
                       const auth::Access* access, http::Cors cors)
    : router_(router),
      log_(std::move(log)),
      limits_(limits),
      audit_(audit),
      access_(access),
      cors_(std::move(cors)),
      request_id_prefix_(ids::random_request_id()) {}

std::string Dispatcher::next_request_id() const {
    return request_id_prefix_ + "-" + std::to_string(request_counter_.fetch_add(1) + 1);
}

HttpResponse Dispatcher::route(const HttpRequest& request, std::string& owner, std::string& tenant,
                               std::string& route_pattern) const {
    routing::RouteMatch match = router_.find(request.method, request.path);
    using Outcome = routing::RouteMatch::Outcome;
    if (match.outcome == Outcome::path_not_found) {
        return HttpResponse::problem(404, "no route for " + request.path);
    }
    if (match.outcome == Outcome::method_not_allowed) {
        // No route takes OPTIONS, so a preflight lands here, with the path's methods at hand.
        // Without CORS configured, or from another origin, it gets the 405 below.
        if (cors_.enabled() && http::Cors::is_preflight(request) &&
            cors_.allows(request.header("origin"))) {
            return cors_.preflight(match.allowed_methods);
        }
        HttpResponse response = HttpResponse::problem(
            405, request.method + " is not allowed here; use " + join(match.allowed_methods, ", "));
        response.headers.emplace_back("Allow", join(match.allowed_methods, ", "));
        return response;
    }
    owner = match.route->owner;
    route_pattern = match.route->pattern;
    for (const auto& [name, value] : match.params) {
        if (name == "tenant") tenant = value;
    }
    const std::string& pattern = match.route->pattern;
    const bool management = pattern.rfind(kTenantManagement, 0) == 0;
    if (management && !match.params.empty()) tenant = match.params.front().second;
    if (limits_ == nullptr || tenant.empty()) return match.route->handler(request, match.params);
    // The route's class: what follows the tenant ("/t/{tenant}/records/…" → records).
    std::string route_class = "management";
    if (!management) {
        const size_t start = pattern.find('/', 3) + 1;  // past "/t/{tenant}"
        route_class = pattern.substr(start, pattern.find('/', start) - start);
    }
    const auto decision = limits_->decide(request, tenant, route_class);
    if (decision && !decision->allowed) return ratelimit::TenantRateLimits::refusal(*decision);
    HttpResponse response = match.route->handler(request, match.params);
    if (decision) ratelimit::TenantRateLimits::add_headers(*decision, response);
    return response;
}

HttpResponse Dispatcher::handle(HttpRequest& request) const {
    const auto started = std::chrono::steady_clock::now();
    const std::string_view caller_id = request.header("x-request-id");
    request.request_id =
        is_usable_request_id(caller_id) ? std::string(caller_id) : next_request_id();

    std::string owner, tenant, pattern;
    HttpResponse response;
    try {
        response = route(request, owner, tenant, pattern);
    } catch (const std::exception& failure) {
        log_.error("handler threw", {{"request_id", request.request_id},
                                     {"path", request.path},
                                     {"reason", failure.what()}});
        response =
            HttpResponse::problem(500, "internal error", {{"request_id", request.request_id}});
    }
    response.headers.emplace_back("X-Request-Id", request.request_id);
    cors_.add_headers(request, response);
    if (request.method == "HEAD") response.body.clear();

    const auto elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
    // Every call but the probes load balancers make every few seconds.
    if (audit_ != nullptr && access_ != nullptr && pattern != "/healthz" && pattern != "/readyz") {
        audit::Entry entry;
        entry.actor = access_->identify(request).actor();
        entry.tenant_id = tenant;
        entry.action = request.method + " " + (pattern.empty() ? request.path : pattern);
        entry.status = response.status;
        entry.duration_ms = std::round(elapsed.count() * 1000) / 1000;
        entry.client_address = request.client_address;
        entry.request_id = request.request_id;
        audit_->record_call(std::move(entry));
    }
    if (!log_.enabled(spdlog::level::info)) return response;
    log_.info("request", {{"method", request.method},
                          {"path", request.path},
                          {"status", response.status},
                          {"tenant", tenant},
                          {"owner", owner},
                          {"ms", std::round(elapsed.count() * 1000) / 1000},
                          {"request_id", request.request_id}});
    return response;
}

}  // namespace miconsul::app
