// What happens to every request between the listener and a route handler: a request id,
// routing (404, 405 with Allow, CORS preflights), the handler, response headers (the request
// id, CORS; the fixed security headers are the server's), HEAD, and one log line.
#pragma once

#include "audit/audit_log.h"
#include "auth/access.h"
#include "ratelimit/tenant_limits.h"

#include "http/cors.h"
#include "http/message.h"
#include "logging/log.h"
#include "routing/router.h"

#include <atomic>
#include <string>

namespace miconsul::app {

class Dispatcher {
public:
    /// `limits`: per-tenant rate limits applied to tenant routes; null for none.
    /// `audit`: where each call is recorded, with the caller `access` names; null for neither.
    /// `cors`: the origins allowed cross-origin calls; none by default.
    Dispatcher(const routing::Router& router, logging::Log log,
               ratelimit::TenantRateLimits* limits = nullptr, audit::AuditLog* audit = nullptr,
               const auth::Access* access = nullptr, http::Cors cors = http::Cors());

    /// Never throws: a handler's exception becomes a 500 problem, logged with the request id.
    http::HttpResponse handle(http::HttpRequest& request) const;

private:
    http::HttpResponse route(const http::HttpRequest& request, std::string& owner,
                             std::string& tenant, std::string& pattern) const;

    std::string next_request_id() const;

    const routing::Router& router_;
    logging::Log log_;
    ratelimit::TenantRateLimits* limits_;
    audit::AuditLog* audit_;
    const auth::Access* access_;
    const http::Cors cors_;
    // Request ids are this instance's random prefix plus a counter: unique across instances,
    // and far cheaper per request than drawing random bytes.
    const std::string request_id_prefix_;
    mutable std::atomic<uint64_t> request_counter_{0};
};

}  // namespace miconsul::app
