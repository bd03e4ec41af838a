#include "api/api_support.h"

namespace miconsul::api {

using http::HttpResponse;

HttpResponse access_refused(auth::Verdict verdict, HttpResponse hidden) {
    switch (verdict) {
        case auth::Verdict::unauthenticated:
            return HttpResponse::unauthorized("a valid bearer token is required");
        case auth::Verdict::forbidden:
            return HttpResponse::problem(403, "this token may not do this");
        case auth::Verdict::hidden:
        case auth::Verdict::allow:
            break;
    }
    return hidden;
}

routing::RouteHandler guarded(const auth::Access& access, auth::Need need, std::string tenant_param,
                              routing::RouteHandler handler) {
    return [&access, need, tenant_param = std::move(tenant_param), handler = std::move(handler)](
               const http::HttpRequest& request, const routing::PathParams& params) {
        const std::string tenant_id = tenant_param.empty() ? "" : path_param(params, tenant_param);
        const auto verdict = access.check(request, need, tenant_id);
        if (verdict != auth::Verdict::allow) {
            return access_refused(verdict, tenant_not_found(tenant_id));
        }
        return handler(request, params);
    };
}

HttpResponse tenant_not_found(const std::string& tenant_id) {
    return HttpResponse::problem(404, "no tenant '" + tenant_id + "'");
}

const std::string& path_param(const routing::PathParams& params, std::string_view name) {
    for (const auto& [key, value] : params) {
        if (key == name) return value;
    }
    static const std::string kAbsent;
    return kAbsent;
}

http::HttpResponse refusal_response(const records::Refusal& refusal) {
    if (!refusal.errors.empty()) return invalid_fields(refusal.detail, refusal.errors);
    return http::HttpResponse::problem(refusal.status, refusal.detail);
}

http::HttpResponse outcome_response(const records::Outcome<Json>& outcome, int status) {
    if (const auto* refusal = std::get_if<records::Refusal>(&outcome)) {
        return refusal_response(*refusal);
    }
    return http::HttpResponse::json(std::get<Json>(outcome), status);
}

http::HttpResponse page_response(const records::Page& page) {
    return http::HttpResponse::json(
        {{"items", page.items},
         {"next_cursor", page.next_cursor.empty() ? Json(nullptr) : Json(page.next_cursor)}});
}

Json query_filters(const http::HttpRequest& request, std::initializer_list<const char*> names) {
    Json filters = Json::object();
    for (const char* name : names) {
        const auto value = request.query_value(name);
        if (!value.empty()) filters[name] = std::string(value);
    }
    return filters;
}

void record_change(audit::AuditLog& audit, const auth::Access& access,
                   const http::HttpRequest& request, const std::string& tenant_id,
                   const std::string& action, Json detail) {
    record_change_as(audit, request, access.identify(request).actor(), tenant_id, action,
                     std::move(detail));
}

void record_change_as(audit::AuditLog& audit, const http::HttpRequest& request, std::string actor,
                      const std::string& tenant_id, const std::string& action, Json detail) {
    audit::Entry entry;
    entry.actor = std::move(actor);
    entry.tenant_id = tenant_id;
    entry.action = action;
    entry.client_address = request.client_address;
    entry.request_id = request.request_id;
    entry.detail = std::move(detail);
    audit.record_change(std::move(entry));
}

}  // namespace miconsul::api
