#include "auth/access.h"

#include "auth/token_hash.h"

namespace miconsul::auth {

std::string Caller::actor() const {
    switch (kind) {
        case Kind::anonymous:
            return "anonymous";
        case Kind::unrecognised:
            return "unrecognised";
        default:
            return token_id.empty() ? "admin" : "token:" + token_id;
    }
}

Verdict judge(const Caller& caller, Need need, std::string_view tenant_id) {
    if (need == Need::nothing) return Verdict::allow;
    switch (caller.kind) {
        case Caller::Kind::anonymous:
        case Caller::Kind::unrecognised:
            return Verdict::unauthenticated;
        case Caller::Kind::platform_admin:
            return Verdict::allow;
        case Caller::Kind::tenant_admin:
        case Caller::Kind::tenant_api:
            break;
    }
    // A tenant token: platform routes are not its business, and other tenants do not exist
    // for it — their routes answer as an unknown tenant's would, so none can be discovered.
    if (need == Need::platform_admin) return Verdict::forbidden;
    if (tenant_id != caller.tenant_id) return Verdict::hidden;
    if (need == Need::tenant_admin && caller.kind != Caller::Kind::tenant_admin) {
        return Verdict::forbidden;
    }
    return Verdict::allow;
}

Access::Access(std::string admin_token_sha256, TokenStore& tokens)
    : admin_token_sha256_(std::move(admin_token_sha256)), tokens_(tokens) {}

Caller Access::identify(const http::HttpRequest& request) const {
    if (const auto* known = std::any_cast<Caller>(&request.caller)) return *known;
    Caller caller = look_up(request);
    request.caller = caller;
    return caller;
}

Caller Access::look_up(const http::HttpRequest& request) const {
    Caller caller;
    const std::string_view presented = bearer_token(request.header("authorization"));
    if (presented.empty()) return caller;
    // Hashed once for both: the configured admin token and the stored tokens are kept as
    // SHA-256, and each hash costs a visible part of a cached token's call.
    const std::string hash = sha256_hex(presented);
    if (is_sha256_hex(admin_token_sha256_) && constant_time_equal(hash, admin_token_sha256_)) {
        caller.kind = Caller::Kind::platform_admin;
        return caller;
    }
    caller.kind = Caller::Kind::unrecognised;
    try {
        if (const auto token = tokens_.authenticate(presented, hash)) {
            caller.token_id = token->id;
            caller.tenant_id = token->tenant_id;
            caller.kind = token->kind == TokenKind::platform_admin ? Caller::Kind::platform_admin
                          : token->kind == TokenKind::tenant_admin ? Caller::Kind::tenant_admin
                                                                   : Caller::Kind::tenant_api;
        }
    } catch (const std::exception&) {
        // The database cannot say who this is: unrecognised, so the call is refused (401)
        // rather than let through.
    }
    return caller;
}

Verdict Access::check(const http::HttpRequest& request, Need need,
                      std::string_view tenant_id) const {
    if (need == Need::nothing) return Verdict::allow;
    return judge(identify(request), need, tenant_id);
}

}  // namespace miconsul::auth
