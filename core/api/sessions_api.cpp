#include "api/sessions_api.h"

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

constexpr const char* kNoSession = "sign in first: no live session";

// The cookie goes only over HTTPS (the host sits behind a TLS proxy; browsers treat
// http://localhost as secure too), never to scripts, never with a request another site starts.
std::string session_cookie_header(const std::string& token, long max_age_seconds) {
    return std::string(auth::kSessionCookie) + "=" + token +
           "; Path=/; Max-Age=" + std::to_string(max_age_seconds) +
           "; HttpOnly; Secure; SameSite=Strict";
}

class Handlers {
public:
    explicit Handlers(const SessionsDependencies& deps) : deps_(deps) {}

    // POST /api/v1/session {"email", "password", "code"?}
    HttpResponse sign_in(const HttpRequest& request, const PathParams&) const {
        // A form another site posts (text/plain needs no preflight) must not sign the
        // visitor's browser in to an account of the attacker's: only JSON is taken.
        if (!request.header("content-type").starts_with("application/json")) {
            return HttpResponse::problem(415, "send the sign-in as application/json");
        }
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"email", "password", "code"});
        for (const char* field : {"email", "password"}) {
            if (!body.contains(field) || !body[field].is_string()) {
                errors.push_back({{"field", std::string("/") + field}, {"message", "is required"}});
            }
        }
        if (body.contains("code") && !body["code"].is_string()) {
            errors.push_back({{"field", "/code"}, {"message", "must be a string"}});
        }
        if (!errors.empty()) return invalid_fields("the sign-in is not valid", errors);
        const std::string email = body["email"];
        const auto outcome =
            deps_.users.sign_in(email, body["password"], body.value("code", std::string()));
        using Result = auth::SignInOutcome::Result;
        switch (outcome.result) {
            case Result::refused:
                record_change_as(deps_.audit, request, "anonymous", "", "session.refused",
                                 {{"email", email}});
                return HttpResponse::problem(401, "wrong email, password or code");
            case Result::locked: {
                record_change_as(
                    deps_.audit, request, "anonymous", "", "session.locked",
                    {{"email", email}, {"retry_after_seconds", outcome.retry_after.count()}});
                HttpResponse locked =
                    HttpResponse::problem(429, "too many failed sign-ins: try again later",
                                          {{"retry_after_seconds", outcome.retry_after.count()}});
                locked.headers.emplace_back("Retry-After",
                                            std::to_string(outcome.retry_after.count()));
                return locked;
            }
            case Result::code_required:
                return HttpResponse::problem(
                    401, "a code from the authenticator app (or a recovery code) is required",
                    {{"code_required", true}});
            case Result::signed_in:
                break;
        }
        const auto& session = *outcome.session;
        record_change_as(deps_.audit, request, "user:" + session.user.id, session.user.tenant_id,
                         "session.signed_in",
                         {{"session", session.id}, {"mfa_pending", session.mfa_pending}});
        HttpResponse created = HttpResponse::json({{"user", session.user.to_json()},
                                                   {"csrf_token", outcome.csrf_token},
                                                   {"expires_at", session.expires_at},
                                                   {"mfa_pending", session.mfa_pending}},
                                                  201);
        created.headers.emplace_back(
            "Set-Cookie",
            session_cookie_header(outcome.session_token, deps_.users.session_lifetime().count()));
        return created;
    }

    // GET /api/v1/session: who is signed in (also during TOTP enrolment).
    HttpResponse current(const HttpRequest& request, const PathParams&) const {
        const auto session = live_session(request);
        if (!session) return HttpResponse::unauthorized(kNoSession);
        return HttpResponse::json({{"user", session->user.to_json()},
                                   {"expires_at", session->expires_at},
                                   {"mfa_pending", session->mfa_pending}});
    }

    // DELETE /api/v1/session: signs out; the cookie is cleared.
    HttpResponse sign_out(const HttpRequest& request, const PathParams&) const {
        const auto session = live_session(request);
        if (!session) return HttpResponse::unauthorized(kNoSession);
        if (!auth::carries_csrf_token(request, *session)) return missing_csrf();
        deps_.users.end_session(session->id);
        record_change_as(deps_.audit, request, "user:" + session->user.id, session->user.tenant_id,
                         "session.signed_out", {{"session", session->id}});
        HttpResponse done = HttpResponse::no_content();
        done.headers.emplace_back("Set-Cookie", session_cookie_header("", 0));
        return done;
    }

    // POST /api/v1/session/totp: a new TOTP secret for the signed-in user, to confirm.
    HttpResponse begin_totp(const HttpRequest& request, const PathParams&) const {
        const auto session = live_session(request);
        if (!session) return HttpResponse::unauthorized(kNoSession);
        if (!auth::carries_csrf_token(request, *session)) return missing_csrf();
        if (session->user.totp_enabled) {
            return HttpResponse::problem(409, "TOTP is set up already for this user");
        }
        const auto enrolment = deps_.users.begin_totp(*session);
        if (!enrolment) {
            return HttpResponse::problem(
                503, "TOTP needs the host's secret key (secret_key, MICONSUL_SECRET_KEY)");
        }
        return HttpResponse::json(
            {{"secret", enrolment->secret_base32}, {"otpauth_uri", enrolment->otpauth_uri}}, 201);
    }

    // POST /api/v1/session/totp/confirm {"code"}: TOTP on, recovery codes shown once.
    HttpResponse confirm_totp(const HttpRequest& request, const PathParams&) const {
        const auto session = live_session(request);
        if (!session) return HttpResponse::unauthorized(kNoSession);
        if (!auth::carries_csrf_token(request, *session)) return missing_csrf();
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"code"});
        if (!body.contains("code") || !body["code"].is_string()) {
            errors.push_back({{"field", "/code"}, {"message", "is required"}});
        }
        if (!errors.empty()) return invalid_fields("the confirmation is not valid", errors);
        const auto codes = deps_.users.confirm_totp(*session, body["code"]);
        if (!codes) {
            return HttpResponse::problem(
                422, "the code does not match the secret being enrolled (or none is)");
        }
        record_change_as(deps_.audit, request, "user:" + session->user.id, session->user.tenant_id,
                         "user.totp_enrolled", {{"user", session->user.id}});
        return HttpResponse::json({{"recovery_codes", *codes}});
    }

    // POST /api/v1/users {"email", "password", "role", "tenant_id"?}
    HttpResponse create_user(const HttpRequest& request, const PathParams&) const {
        auto parsed = parse_json_object(request);
        if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
        const Json& body = std::get<Json>(parsed);
        Json errors = unknown_fields(body, {"email", "password", "role", "tenant_id"});
        for (const char* field : {"email", "password", "role"}) {
            if (!body.contains(field) || !body[field].is_string()) {
                errors.push_back(
                    {{"field", std::string("/") + field}, {"message", "is required: a string"}});
            }
        }
        if (body.contains("tenant_id") && !body["tenant_id"].is_string()) {
            errors.push_back({{"field", "/tenant_id"}, {"message", "must be a string"}});
        }
        if (!errors.empty()) return invalid_fields("the user is not valid", errors);
        const std::string tenant_id = body.value("tenant_id", std::string());
        if (!tenant_id.empty() && !deps_.tenants.find(tenant_id)) {
            return invalid_fields("the user is not valid",
                                  Json::array({{{"field", "/tenant_id"},
                                                {"message", "no tenant '" + tenant_id + "'"}}}));
        }
        auto created = deps_.users.create(body["email"], body["password"], body["role"], tenant_id);
        if (auto* refusal = std::get_if<std::string>(&created)) {
            return HttpResponse::problem(refusal->find("exists") != std::string::npos ? 409 : 400,
                                         *refusal);
        }
        const auto& user = std::get<auth::AdminUser>(created);
        record_change(deps_.audit, deps_.access, request, user.tenant_id, "user.created",
                      {{"after", user.to_json()}});
        return HttpResponse::json(user.to_json(), 201);
    }

    HttpResponse list_users(const HttpRequest&, const PathParams&) const {
        Json items = Json::array();
        for (const auto& user : deps_.users.list()) items.push_back(user.to_json());
        return HttpResponse::json({{"items", items}, {"next_cursor", nullptr}});
    }

    HttpResponse delete_user(const HttpRequest& request, const PathParams& params) const {
        const std::string& id = path_param(params, "user");
        const auto user = deps_.users.find(id);
        if (!user || !deps_.users.remove(id)) {
            return HttpResponse::problem(404, "no user '" + id + "'");
        }
        record_change(deps_.audit, deps_.access, request, user->tenant_id, "user.removed",
                      {{"before", user->to_json()}});
        return HttpResponse::no_content();
    }

private:
    std::optional<auth::AdminSession> live_session(const HttpRequest& request) const {
        const auto token = auth::session_cookie(request.header("cookie"));
        if (token.empty()) return std::nullopt;
        return deps_.users.session(token);
    }

    static HttpResponse missing_csrf() {
        return HttpResponse::problem(403, "X-CSRF-Token is missing or wrong for this session");
    }

    const SessionsDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> sessions_routes(const SessionsDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    // The session routes check the cookie themselves (a session still enrolling TOTP reaches
    // them, and nothing else): "session" in GET /api/v1/routes.
    auto session_route = [&](const char* method, const char* pattern, auto member) {
        return routing::RouteDefinition{
            method, pattern, "core",
            [handlers, member](const HttpRequest& request, const PathParams& params) {
                return ((*handlers).*member)(request, params);
            },
            "session"};
    };
    auto route = [&](const char* method, const char* pattern, auto member) {
        return admin_route(deps.access, handlers, method, pattern, member);
    };
    auto sign_in = session_route("POST", "/api/v1/session", &Handlers::sign_in);
    sign_in.access = "public";  // the way in: credentials in the body
    return {
        std::move(sign_in),
        session_route("GET", "/api/v1/session", &Handlers::current),
        session_route("DELETE", "/api/v1/session", &Handlers::sign_out),
        session_route("POST", "/api/v1/session/totp", &Handlers::begin_totp),
        session_route("POST", "/api/v1/session/totp/confirm", &Handlers::confirm_totp),
        route("POST", "/api/v1/users", &Handlers::create_user),
        route("GET", "/api/v1/users", &Handlers::list_users),
        route("DELETE", "/api/v1/users/{user}", &Handlers::delete_user),
    };
}

}  // namespace miconsul::api
