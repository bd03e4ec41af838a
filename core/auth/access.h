// Who is calling, and whether a route lets them: the one place that turns a request's bearer
// token — or the panel's session cookie — into a caller and a route's need into an answer. Every
// core and plugin route goes through judge(); docs/security.md has the table.
#pragma once

#include "auth/admin_users.h"
#include "auth/tokens.h"
#include "http/message.h"

#include <string>
#include <string_view>

namespace miconsul::auth {

struct Caller {
    enum class Kind {
        anonymous,     // no bearer token
        unrecognised,  // a token that is malformed, unknown, expired or revoked
        platform_admin,
        tenant_admin,
        tenant_api,
    };
    Kind kind = Kind::anonymous;
    std::string tenant_id;  // for tenant tokens and tenant admins' sessions
    std::string token_id;   // "" for the configured admin token (MICONSUL_ADMIN_TOKEN)
    std::string user_id;    // for a panel session: the signed-in admin user
    /// A panel session's state-changing request without its X-CSRF-Token: refused (403), as a
    /// page on another site could have made the browser send it.
    bool missing_csrf = false;

    /// How the audit log and the request log name the caller: "admin", "token:<id>",
    /// "user:<id>", "anonymous".
    std::string actor() const;
};

/// What a route needs from its caller.
enum class Need {
    nothing,         // public: links in messages, webhooks with their own signature
    tenant_member,   // any token of the route's tenant (admin or API) or a platform admin
    tenant_admin,    // a tenant admin token of the route's tenant or a platform admin
    platform_admin,  // a platform admin
};

enum class Verdict {
    allow,
    unauthenticated,  // 401 with WWW-Authenticate: Bearer
    forbidden,        // 403: the caller's own tenant, but a token of too little power (or a
                      // session's request without its CSRF token)
    hidden,           // 404: another tenant's route, answered as if it did not exist
};

/// Whether `request` carries `session`'s CSRF token in X-CSRF-Token (compared by hash, in
/// constant time).
bool carries_csrf_token(const http::HttpRequest& request, const AdminSession& session);

/// The value of the session cookie (`mc_session`) among a Cookie header's pairs, or empty.
std::string_view session_cookie(std::string_view cookie_header);

/// The rule. `tenant_id` is the tenant the route acts for ("" for platform routes).
Verdict judge(const Caller& caller, Need need, std::string_view tenant_id);

class Access {
public:
    /// `admin_token_sha256`: the configured admin token's hash ("" for none). `users`: the
    /// panel's admin users, whose session cookies count as credentials (null: they do not).
    Access(std::string admin_token_sha256, TokenStore& tokens, AdminUsers* users = nullptr);

    /// Who calls: looked up once per request, then remembered on it; the reference lives as
    /// long as the request.
    const Caller& identify(const http::HttpRequest& request) const;

    /// identify, then judge.
    Verdict check(const http::HttpRequest& request, Need need, std::string_view tenant_id) const;

private:
    Caller look_up(const http::HttpRequest& request) const;

    Caller from_session(const http::HttpRequest& request, std::string_view session_token) const;

    std::string admin_token_sha256_;
    TokenStore& tokens_;
    AdminUsers* users_;
};

}  // namespace miconsul::auth
