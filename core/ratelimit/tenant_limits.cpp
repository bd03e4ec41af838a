#include "ratelimit/tenant_limits.h"

namespace miconsul::ratelimit {

namespace {
std::string seconds_rounded_up(std::chrono::milliseconds duration) {
    return std::to_string((duration.count() + 999) / 1000);
}
}  // namespace

TenantRateLimits::TenantRateLimits(RateLimiter& limiter, const auth::Access& access,
                                   RateLimitPolicy policy)
    : limiter_(limiter), access_(access), policy_(std::move(policy)) {}

std::optional<Decision> TenantRateLimits::decide(const http::HttpRequest& request,
                                                 const std::string& tenant,
                                                 const std::string& route_class) {
    if (request.header("authorization").empty()) return std::nullopt;
    const auth::Caller& caller = access_.identify(request);
    const bool tenants_own = (caller.kind == auth::Caller::Kind::tenant_admin ||
                              caller.kind == auth::Caller::Kind::tenant_api) &&
                             caller.tenant_id == tenant;
    if (!tenants_own) return std::nullopt;
    if (const auto own_class = policy_.classes.find(route_class);
        own_class != policy_.classes.end()) {
        return limiter_.take(tenant + ":" + route_class, own_class->second);
    }
    const auto own_budget = policy_.tenants.find(tenant);
    const int limit = own_budget != policy_.tenants.end() ? own_budget->second : policy_.per_minute;
    if (limit <= 0) return std::nullopt;
    return limiter_.take(tenant, limit);
}

void TenantRateLimits::add_headers(const Decision& decision, http::HttpResponse& response) {
    response.headers.emplace_back("RateLimit-Limit", std::to_string(decision.limit));
    response.headers.emplace_back("RateLimit-Remaining", std::to_string(decision.remaining));
    response.headers.emplace_back("RateLimit-Reset", seconds_rounded_up(decision.reset));
    if (!decision.allowed) {
        response.headers.emplace_back(
            "Retry-After",
            seconds_rounded_up(std::max(decision.retry_after, std::chrono::milliseconds(1))));
    }
}

http::HttpResponse TenantRateLimits::refusal(const Decision& decision) {
    auto response = http::HttpResponse::problem(
        429, "this tenant's rate limit of " + std::to_string(decision.limit) +
                 " requests a minute is used up; retry after the time in Retry-After");
    add_headers(decision, response);
    return response;
}

}  // namespace miconsul::ratelimit
