// Which requests count against which tenant's budget: the calls a tenant's own tokens make to
// its routes (/t/{tenant}/… and /api/v1/tenants/{tenant}/…). Platform admins are not limited,
// and a request without a valid token of that tenant costs the tenant nothing — so nobody can
// spend a clinic's budget for it. See docs/security.md, "Rate limits".
#pragma once

#include "auth/access.h"
#include "http/message.h"
#include "ratelimit/rate_limiter.h"

#include <map>
#include <optional>
#include <string>

namespace miconsul::ratelimit {

struct RateLimitPolicy {
    int per_minute = 100;                             // each tenant's budget; 0: no limit
    std::map<std::string, int, std::less<>> tenants;  // a tenant's own budget instead
    /// A route class ("records", "messages", a plugin's name, "management") with a budget of
    /// its own per tenant, instead of sharing the tenant's.
    std::map<std::string, int, std::less<>> classes;
};

class TenantRateLimits {
public:
    TenantRateLimits(RateLimiter& limiter, const auth::Access& access, RateLimitPolicy policy);

    /// The verdict for a request to `tenant`'s route of `route_class`, or nullopt when it does
    /// not count (see above).
    std::optional<Decision> decide(const http::HttpRequest& request, const std::string& tenant,
                                   const std::string& route_class);

    /// Adds RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (and Retry-After on a
    /// refusal) to `response`.
    static void add_headers(const Decision& decision, http::HttpResponse& response);

    /// The 429 for a refused request.
    static http::HttpResponse refusal(const Decision& decision);

private:
    RateLimiter& limiter_;
    const auth::Access& access_;
    const RateLimitPolicy policy_;
};

}  // namespace miconsul::ratelimit
