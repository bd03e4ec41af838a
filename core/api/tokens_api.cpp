#include "api/tokens_api.h"

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

constexpr int kMaxLifetimeDays = 3650;

class Handlers {
public:
    explicit Handlers(const TokensDependencies& deps) : deps_(deps) {}

    HttpResponse create_for_tenant(const HttpRequest& request, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        return create(request, tenant);
    }

    HttpResponse create_platform(const HttpRequest& request, const PathParams&) const {
        return create(request, "");
    }

    HttpResponse list_for_tenant(const HttpRequest&, const PathParams& params) const {
        const std::string& tenant = path_param(params, "id");
        if (!deps_.tenants.find(tenant)) return tenant_not_found(tenant);
        return list(tenant);
    }

    HttpResponse list_platform(const HttpRequest&, const PathParams&) const { return list(""); }

    HttpResponse rotate(const HttpRequest& request, const PathParams& params) const {
        return for_token(request, params, [&](const auth::TokenRecord& token) {
            const auto issued = deps_.tokens.rotate(
                token.id, std::chrono::duration_cast<std::chrono::seconds>(deps_.rotation_overlap),
                lifetime_of(token));
            if (!issued) {
                return HttpResponse::problem(409, "a revoked or expired token cannot be rotated");
            }
            record_change(deps_.audit, deps_.access, request, token.tenant_id, "token.rotated",
                          {{"token", token.id}, {"replaced_by", issued->record.id}});
            return issued_answer(*issued);
        });
    }

    HttpResponse revoke(const HttpRequest& request, const PathParams& params) const {
        return for_token(request, params, [&](const auth::TokenRecord& token) {
            if (!deps_.tokens.revoke(token.id)) {
                return HttpResponse::problem(409, "the token is revoked already");
            }
            record_change(deps_.audit, deps_.access, request, token.tenant_id, "token.revoked",
                          {{"token", token.id}});
            return HttpResponse::no_content();
        });
    }

private:
    HttpResponse create(const HttpRequest& request, const std::string& tenant) const {
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"kind", "label", "expires_in_days"});
        auth::TokenKind kind = auth::TokenKind::platform_admin;
        if (!tenant.empty()) {
            const Json kind_name = body.value("kind", Json("api"));
            if (kind_name == "api") {
                kind = auth::TokenKind::tenant_api;
            } else if (kind_name == "admin") {
                kind = auth::TokenKind::tenant_admin;
            } else {
                errors.push_back({{"field", "/kind"}, {"message", "must be api or admin"}});
            }
        } else if (body.contains("kind") && body["kind"] != "platform") {
            errors.push_back(
                {{"field", "/kind"}, {"message", "platform tokens are of kind platform"}});
        }
        const Json label = body.value("label", Json(""));
        if (!label.is_string() || label.get<std::string>().size() > 200) {
            errors.push_back(
                {{"field", "/label"}, {"message", "must be a string of at most 200 characters"}});
        }
        auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(deps_.default_lifetime);
        if (body.contains("expires_in_days")) {
            const Json& days = body["expires_in_days"];
            if (!days.is_number_integer() || days.get<long long>() < 1 ||
                days.get<long long>() > kMaxLifetimeDays) {
                errors.push_back({{"field", "/expires_in_days"},
                                  {"message", "must be a whole number of days from 1 to 3650"}});
            } else {
                lifetime = std::chrono::hours(24 * days.get<long long>());
            }
        }
        if (!errors.empty()) return invalid_fields("the token request is not valid", errors);
        const auto issued = deps_.tokens.issue(kind, tenant, label.get<std::string>(), lifetime);
        record_change(deps_.audit, deps_.access, request, tenant, "token.issued",
                      {{"after", issued.record.to_json()}});  // never the token itself
        return issued_answer(issued);
    }

    HttpResponse list(const std::string& tenant) const {
        Json items = Json::array();
        for (const auto& token : deps_.tokens.list(tenant)) items.push_back(token.to_json());
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    /// The token named in the path, if the caller may manage it: a platform admin any, a
    /// tenant admin its tenant's; anyone else learns nothing (401, or 404 as for no token).
    template <class Work>
    HttpResponse for_token(const HttpRequest& request, const PathParams& params,
                           Work&& work) const {
        const auth::Caller& caller = deps_.access.identify(request);
        const auto token = deps_.tokens.find(path_param(params, "token"));
        const auth::Verdict verdict =
            auth::judge(caller,
                        token && !token->tenant_id.empty() ? auth::Need::tenant_admin
                                                           : auth::Need::platform_admin,
                        token ? token->tenant_id : "");
        const auto not_found = HttpResponse::problem(404, "no such token");
        if (verdict == auth::Verdict::unauthenticated) return access_refused(verdict, not_found);
        if (caller.missing_csrf) return access_refused(verdict, not_found);  // 403, as anywhere
        if (!token || verdict != auth::Verdict::allow) return not_found;
        return work(*token);
    }

    /// A rotated token lives as long as the one it replaces was meant to.
    static std::chrono::seconds lifetime_of(const auth::TokenRecord& token) {
        const auto created = clock::parse_rfc3339(token.created_at);
        const auto expires = clock::parse_rfc3339(token.expires_at);
        if (!created || !expires || *expires <= *created) return std::chrono::hours(24 * 30);
        return std::chrono::duration_cast<std::chrono::seconds>(*expires - *created);
    }

    static HttpResponse issued_answer(const auth::IssuedToken& issued) {
        Json body = issued.record.to_json();
        body["token"] = issued.token;          // the only time it is ever shown
        return HttpResponse::json(body, 201);  // Cache-Control: no-store, as every answer
    }

    const TokensDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> tokens_routes(const TokensDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    auto own_gate = [&](const char* method, const char* pattern, auto member) {
        return routing::RouteDefinition{
            method, pattern, "core",
            [handlers, member](const HttpRequest& request, const PathParams& params) {
                return ((*handlers).*member)(request, params);
            },
            "token_owner"};
    };
    return {
        tenant_admin_route(deps.access, handlers, "POST", "/api/v1/tenants/{id}/tokens",
                           &Handlers::create_for_tenant),
        tenant_admin_route(deps.access, handlers, "GET", "/api/v1/tenants/{id}/tokens",
                           &Handlers::list_for_tenant),
        admin_route(deps.access, handlers, "POST", "/api/v1/tokens", &Handlers::create_platform),
        admin_route(deps.access, handlers, "GET", "/api/v1/tokens", &Handlers::list_platform),
        // Whose token it is decides who may touch it: these check it themselves.
        own_gate("POST", "/api/v1/tokens/{token}/rotate", &Handlers::rotate),
        own_gate("DELETE", "/api/v1/tokens/{token}", &Handlers::revoke),
    };
}

}  // namespace miconsul::api
