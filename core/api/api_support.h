// Shared pieces of the JSON management API: body parsing, field errors, pagination, the admin
// guard. Every error leaves here as application/problem+json.
#pragma once

#include "audit/audit_log.h"
#include "auth/access.h"
#include "http/message.h"
#include "records/records.h"
#include "routing/router.h"
#include "tenants/tenant_store.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace miconsul::api {

using Json = nlohmann::json;

/// The body as a JSON object, or the 400 response to send instead.
std::variant<Json, http::HttpResponse> parse_json_object(const http::HttpRequest& request);

/// A 400 listing each failing field: {"errors": [{"field": "/timezone", "message": "…"}]}.
http::HttpResponse invalid_fields(std::string_view detail, const Json& errors);

/// One {"field": "/<name>", "message": "unknown field"} entry per member of `body` not in
/// `allowed`: a misspelt field is an error, not silently ignored.
Json unknown_fields(const Json& body, std::initializer_list<std::string_view> allowed);

/// Page size from ?limit= (1–200, default 50), or the 400 to send.
std::variant<size_t, http::HttpResponse> page_limit(const http::HttpRequest& request);

/// The answer to a caller a route does not let through: 401 with WWW-Authenticate, 403, or —
/// for another tenant's route — `hidden`, the same answer an unknown tenant gets.
http::HttpResponse access_refused(auth::Verdict verdict, http::HttpResponse hidden);

/// Wraps a handler so that it runs only for callers `need` admits. A tenant need is judged for
/// the route's `tenant_param` ("id" under /api/v1/tenants/, "tenant" under /t/).
routing::RouteHandler guarded(const auth::Access& access, auth::Need need, std::string tenant_param,
                              routing::RouteHandler handler);

/// A core route served by a member function of a shared handler object, behind a guard:
/// platform admins only (admin_route), or a tenant's admins and platform admins
/// (tenant_admin_route, for /api/v1/tenants/{id}/…).
template <class Handlers>
routing::RouteDefinition guarded_route(
    const auth::Access& access, auth::Need need, const std::shared_ptr<const Handlers>& handlers,
    const char* method, const char* pattern,
    http::HttpResponse (Handlers::*member)(const http::HttpRequest&, const routing::PathParams&)
        const) {
    return routing::RouteDefinition{
        method, pattern, "core",
        guarded(access, need, need == auth::Need::platform_admin ? "" : "id",
                [handlers, member](const http::HttpRequest& request,
                                   const routing::PathParams& params) {
                    return ((*handlers).*member)(request, params);
                }),
        need == auth::Need::platform_admin ? "platform_admin" : "tenant_admin"};
}
template <class Handlers, class Member>
routing::RouteDefinition admin_route(const auth::Access& access,
                                     const std::shared_ptr<const Handlers>& handlers,
                                     const char* method, const char* pattern, Member member) {
    return guarded_route(access, auth::Need::platform_admin, handlers, method, pattern, member);
}
template <class Handlers, class Member>
routing::RouteDefinition tenant_admin_route(const auth::Access& access,
                                            const std::shared_ptr<const Handlers>& handlers,
                                            const char* method, const char* pattern,
                                            Member member) {
    return guarded_route(access, auth::Need::tenant_admin, handlers, method, pattern, member);
}

/// A refused record or message write as its problem response: 400 with the failing fields
/// when it has them, else its status and detail.
http::HttpResponse refusal_response(const records::Refusal& refusal);

/// The outcome's JSON with `status`, or its refusal.
http::HttpResponse outcome_response(const records::Outcome<Json>& outcome, int status = 200);

/// {"items", "next_cursor" (null on the last page)}.
http::HttpResponse page_response(const records::Page& page);

/// The query parameters among `names` that are present, as a JSON object of strings.
Json query_filters(const http::HttpRequest& request, std::initializer_list<const char*> names);

/// The value of a path parameter the route pattern guarantees.
const std::string& path_param(const routing::PathParams& params, std::string_view name);

/// The guard of a core route under /t/{tenant}/: the credential (401), another tenant's
/// token (404), then the tenant — an unknown or suspended one answers the same 404, as its
/// plugin routes do, so tenants cannot be probed — then `work` with the tenant's snapshot.
template <class Work>
http::HttpResponse for_active_tenant(const auth::Access& access,
                                     const tenants::TenantStore& tenants,
                                     const http::HttpRequest& request,
                                     const routing::PathParams& params, Work&& work) {
    static const char* const kHidden = "no such resource for this tenant";
    const std::string& tenant_id = path_param(params, "tenant");
    const auto verdict = access.check(request, auth::Need::tenant_member, tenant_id);
    if (verdict != auth::Verdict::allow) {
        return access_refused(verdict, http::HttpResponse::problem(404, kHidden));
    }
    const auto snapshot = tenants.find(tenant_id);
    if (!snapshot || snapshot->tenant.status != "active") {
        return http::HttpResponse::problem(404, kHidden);
    }
    return work(*snapshot);
}

/// Records a change in the audit log as made by the caller of `request` (docs/security.md).
/// Throws when it cannot be written: a change that cannot be audited is answered 500.
void record_change(audit::AuditLog& audit, const auth::Access& access,
                   const http::HttpRequest& request, const std::string& tenant_id,
                   const std::string& action, Json detail);

/// The same for a change whose actor is not the request's caller: a sign-in, made by nobody
/// yet, is recorded as the user it signs in (docs/security.md).
void record_change_as(audit::AuditLog& audit, const http::HttpRequest& request, std::string actor,
                      const std::string& tenant_id, const std::string& action, Json detail);

/// The management API's 404 for a tenant id that does not exist.
http::HttpResponse tenant_not_found(const std::string& tenant_id);

}  // namespace miconsul::api
