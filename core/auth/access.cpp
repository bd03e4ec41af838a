#include "auth/access.h"

#include "auth/token_hash.h"

#include <algorithm>

namespace miconsul::auth {

std::string Caller::actor() const {
    switch (kind) {
        case Kind::anonymous:
            return "anonymous";
        case Kind::unrecognised:
            return "unrecognised";
        default:
            if (!user_id.empty()) return "user:" + user_id;
            return token_id.empty() ? "admin" : "token:" + token_id;
    }
}

Verdict judge(const Caller& caller, Need need, std::string_view tenant_id) {
    if (need == Need::nothing) return Verdict::allow;
    if (caller.missing_csrf) return Verdict::forbidden;
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

bool carries_csrf_token(const http::HttpRequest& request, const AdminSession& session) {
    return constant_time_equal(sha256_hex(request.header("x-csrf-token")), session.csrf_sha256);
}

std::string_view session_cookie(std::string_view cookie_header) {
    while (!cookie_header.empty()) {
        const size_t end = std::min(cookie_header.find(';'), cookie_header.size());
        std::string_view pair = cookie_header.substr(0, end);
        cookie_header.remove_prefix(std::min(end + 1, cookie_header.size()));
        while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
        if (pair.substr(0, kSessionCookie.size() + 1) == std::string(kSessionCookie) + "=") {
            return pair.substr(kSessionCookie.size() + 1);
        }
    }
    return {};
}

Access::Access(std::string admin_token_sha256, TokenStore& tokens, AdminUsers* users)
    : admin_token_sha256_(std::move(admin_token_sha256)), tokens_(tokens), users_(users) {}

const Caller& Access::identify(const http::HttpRequest& request) const {
    if (const auto* known = std::any_cast<Caller>(&request.caller)) return *known;
    request.caller = look_up(request);
    return *std::any_cast<Caller>(&request.caller);
}

Caller Access::look_up(const http::HttpRequest& request) const {
    Caller caller;
    const std::string_view presented = bearer_token(request.header("authorization"));
    if (presented.empty()) {
        const std::string_view session_token = session_cookie(request.header("cookie"));
        return session_token.empty() ? caller : from_session(request, session_token);
    }
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

Caller Access::from_session(const http::HttpRequest& request,
                            std::string_view session_token) const {
    Caller caller;
    caller.kind = Caller::Kind::unrecognised;
    if (!users_) return caller;
    try {
        const auto session = users_->session(session_token);
        // A platform admin who has not enrolled TOTP yet reaches nothing but enrolment.
        if (!session || session->mfa_pending) return caller;
        caller.user_id = session->user.id;
        caller.tenant_id = session->user.tenant_id;
        caller.kind = session->user.role == "platform_admin" ? Caller::Kind::platform_admin
                                                             : Caller::Kind::tenant_admin;
        const bool safe =
            request.method == "GET" || request.method == "HEAD" || request.method == "OPTIONS";
        caller.missing_csrf = !safe && !carries_csrf_token(request, *session);
    } catch (const std::exception&) {
        // As for tokens: a session the database cannot confirm is not one.
    }
    return caller;
}

Verdict Access::check(const http::HttpRequest& request, Need need,
                      std::string_view tenant_id) const {
    if (need == Need::nothing) return Verdict::allow;
    return judge(identify(request), need, tenant_id);
}

}  // namespace miconsul::auth
