// The panel's sign-in against the real binary on SQLite and PostgreSQL: a platform admin
// reaches nothing without enrolling TOTP and nothing later without a valid code; codes and
// recovery codes work once; the session cookie needs its CSRF token to change anything;
// repeated failures lock the account out for a growing while.
#include "support/host_process.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <regex>
#include <thread>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;

const std::vector<std::string> kAdmin = {kAdminHeader};
constexpr const char* kPassword = "una clave bastante larga";
const std::string kJson = "Content-Type: application/json";

// RFC 6238 written again here, independently of the host's, from the RFC's own text.
std::string base32_decoded(const std::string& text) {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string bytes;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        buffer = (buffer << 5) | static_cast<unsigned>(alphabet.find(c));
        bits += 5;
        if (bits >= 8) {
            bytes += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
            bits -= 8;
        }
    }
    return bytes;
}

std::string totp(const std::string& secret_base32, int64_t offset_steps = 0) {
    const std::string key = base32_decoded(secret_base32);
    uint64_t step = static_cast<uint64_t>(std::time(nullptr) / 30 + offset_steps);
    unsigned char counter[8];
    for (int i = 7; i >= 0; --i, step >>= 8) counter[i] = static_cast<unsigned char>(step);
    unsigned char digest[20];
    unsigned length = 0;
    HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), counter, 8, digest, &length);
    const int offset = digest[19] & 0x0F;
    const uint32_t value = ((digest[offset] & 0x7Fu) << 24) | (digest[offset + 1] << 16) |
                           (digest[offset + 2] << 8) | digest[offset + 3];
    char code[8];
    std::snprintf(code, sizeof code, "%06u", value % 1000000);
    return code;
}

struct Session {
    std::string cookie;  // "Cookie: mc_session=…"
    std::string csrf;    // "X-CSRF-Token: …"
};

class SessionsTest : public ::testing::TestWithParam<std::string> {
protected:
    void start(std::map<std::string, std::string> environment = {}) {
        if (GetParam() == "postgresql") {
            MICONSUL_REQUIRE_POSTGRES();
            database_url_ = miconsul::testing::create_postgres_database(
                *miconsul::testing::postgres_admin_url());
            // SQLite keeps a key file beside its data; scaled out, the key is configured.
            environment["MICONSUL_SECRET_KEY"] = std::string(64, 'a');
        }
        std::filesystem::create_directories(scratch_.path() / "plugins");
        host_ = std::make_unique<HostProcess>(
            HostOptions{scratch_.path(), scratch_.path() / "plugins", database_url_, environment});
        for (const auto* id : {"sol", "luna"}) {
            ASSERT_EQ(host_->http()
                          .send("POST", "/api/v1/tenants",
                                json{{"id", id}, {"name", id}, {"timezone", "UTC"}}.dump(), kAdmin)
                          .status,
                      201);
        }
    }

    json create_user(const std::string& email, const std::string& role,
                     const std::string& tenant = "") {
        json body = {{"email", email}, {"password", kPassword}, {"role", role}};
        if (!tenant.empty()) body["tenant_id"] = tenant;
        const auto answer = host_->http().send("POST", "/api/v1/users", body.dump(), kAdmin);
        EXPECT_EQ(answer.status, 201) << answer.body;
        return json::parse(answer.body, nullptr, false);
    }
    HttpResult sign_in(const std::string& email, const std::string& password,
                       const std::string& code = "") {
        json body = {{"email", email}, {"password", password}};
        if (!code.empty()) body["code"] = code;
        return host_->http().send("POST", "/api/v1/session", body.dump(), {kJson});
    }
    static Session session_of(const HttpResult& signed_in) {
        const std::string set_cookie = signed_in.header("set-cookie");
        std::smatch token;
        EXPECT_TRUE(std::regex_search(set_cookie, token, std::regex("mc_session=(mcs_[0-9a-f]+)")))
            << set_cookie;
        return {"Cookie: mc_session=" + token[1].str(),
                "X-CSRF-Token: " + json::parse(signed_in.body)["csrf_token"].get<std::string>()};
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::string database_url_;
    std::unique_ptr<HostProcess> host_;
};

TEST_P(SessionsTest, APlatformAdminCannotSignInWithoutAValidTotpCode) {
    ASSERT_NO_FATAL_FAILURE(start());
    create_user("Ana@Clinica.mx", "platform_admin");
    // First sign-in: password only, and a session that reaches enrolment and nothing else.
    const auto first = sign_in("ana@clinica.mx", kPassword);
    ASSERT_EQ(first.status, 201) << first.body;
    const std::string set_cookie = first.header("set-cookie");
    for (const char* attribute : {"HttpOnly", "Secure", "SameSite=Strict", "Max-Age=43200"}) {
        EXPECT_NE(set_cookie.find(attribute), std::string::npos) << attribute << ": " << set_cookie;
    }
    EXPECT_EQ(json::parse(first.body)["mfa_pending"], true);
    const Session pending = session_of(first);
    EXPECT_EQ(host_->http().get("/api/v1/tenants", {pending.cookie}).status, 401);
    EXPECT_EQ(host_->http().get("/api/v1/session", {pending.cookie}).status, 200);

    EXPECT_EQ(host_->http().send("POST", "/api/v1/session/totp", "", {pending.cookie}).status, 403)
        << "no CSRF token";
    const auto enrolment =
        host_->http().send("POST", "/api/v1/session/totp", "", {pending.cookie, pending.csrf});
    ASSERT_EQ(enrolment.status, 201) << enrolment.body;
    const std::string secret = json::parse(enrolment.body)["secret"];
    EXPECT_EQ(json::parse(enrolment.body)["otpauth_uri"],
              "otpauth://totp/MiConsul:ana%40clinica.mx?secret=" + secret +
                  "&issuer=MiConsul&algorithm=SHA1&digits=6&period=30");
    const std::string not_the_code = totp(secret) == "000000" ? "111111" : "000000";
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/session/totp/confirm", json{{"code", not_the_code}}.dump(),
                        {pending.cookie, pending.csrf})
                  .status,
              422);
    const auto confirmed =
        host_->http().send("POST", "/api/v1/session/totp/confirm",
                           json{{"code", totp(secret)}}.dump(), {pending.cookie, pending.csrf});
    ASSERT_EQ(confirmed.status, 200) << confirmed.body;
    const json recovery = json::parse(confirmed.body)["recovery_codes"];
    ASSERT_EQ(recovery.size(), 10u);
    // Enrolled: the same session now reaches the platform, and changes need the CSRF token.
    EXPECT_EQ(host_->http().get("/api/v1/tenants", {pending.cookie}).status, 200);
    const std::string tenant = R"({"id": "norte", "name": "Norte", "timezone": "UTC"})";
    EXPECT_EQ(host_->http().send("POST", "/api/v1/tenants", tenant, {pending.cookie}).status, 403);
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/tenants", tenant,
                        {pending.cookie, "X-CSRF-Token: " + std::string(64, 'f')})
                  .status,
              403);
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/tenants", tenant, {pending.cookie, pending.csrf})
                  .status,
              201);

    // Later sign-ins: the password alone is not enough, nor a wrong code, nor a code used once.
    const auto without_code = sign_in("ana@clinica.mx", kPassword);
    EXPECT_EQ(without_code.status, 401);
    EXPECT_EQ(json::parse(without_code.body)["code_required"], true);
    EXPECT_TRUE(without_code.header("set-cookie").empty());
    const std::string wrong = totp(secret) == "123456" ? "654321" : "123456";
    EXPECT_EQ(sign_in("ana@clinica.mx", kPassword, wrong).status, 401);
    EXPECT_EQ(sign_in("ana@clinica.mx", "not the password", totp(secret)).status, 401);
    // The enrolment used this step's code already: the next step's is within the window.
    const std::string next = totp(secret, 1);
    const auto with_code = sign_in("ana@clinica.mx", kPassword, next);
    ASSERT_EQ(with_code.status, 201) << with_code.body;
    EXPECT_EQ(json::parse(with_code.body)["mfa_pending"], false);
    EXPECT_EQ(sign_in("ana@clinica.mx", kPassword, next).status, 401) << "a code works once";
    const std::string recovery_code = recovery[0];
    std::string typed = recovery_code;
    std::transform(typed.begin(), typed.end(), typed.begin(), ::toupper);
    EXPECT_EQ(sign_in("ana@clinica.mx", kPassword, typed).status, 201) << "a recovery code";
    EXPECT_EQ(sign_in("ana@clinica.mx", kPassword, recovery_code).status, 401)
        << "each recovery code works once";

    // Signing out ends the session at once.
    const Session active = session_of(with_code);
    EXPECT_EQ(host_->http().send("DELETE", "/api/v1/session", "", {active.cookie}).status, 403);
    EXPECT_EQ(
        host_->http().send("DELETE", "/api/v1/session", "", {active.cookie, active.csrf}).status,
        204);
    EXPECT_EQ(host_->http().get("/api/v1/tenants", {active.cookie}).status, 401);
    EXPECT_EQ(host_->http().get("/api/v1/session", {active.cookie}).status, 401);

    // Who signed in, who failed, and who created the tenant, in the audit log.
    const json audit =
        json::parse(host_->http().get("/api/v1/audit?kind=change&limit=200", kAdmin).body)["items"];
    std::map<std::string, int> actions;
    for (const auto& entry : audit) ++actions[entry["action"].get<std::string>()];
    EXPECT_GE(actions["session.signed_in"], 3);
    EXPECT_GE(actions["session.refused"], 3);
    EXPECT_EQ(actions["user.totp_enrolled"], 1);
    EXPECT_EQ(actions["user.created"], 1);
    const json created = json::parse(
        host_->http().get("/api/v1/audit?kind=change&tenant=norte", kAdmin).body)["items"];
    ASSERT_FALSE(created.empty());
    EXPECT_EQ(created.back()["actor"].get<std::string>().rfind("user:", 0), 0u);
}

TEST_P(SessionsTest, RepeatedFailuresLockTheAccountOutWithAGrowingWait) {
    ASSERT_NO_FATAL_FAILURE(
        start({{"MICONSUL_SIGNIN_LOCKOUT_AFTER", "3"}, {"MICONSUL_SIGNIN_LOCKOUT_SECONDS", "2"}}));
    create_user("luis@sol.mx", "tenant_admin", "sol");
    const auto unknown = sign_in("nadie@sol.mx", "whatever it is");
    EXPECT_EQ(sign_in("luis@sol.mx", "wrong one").status, 401);
    EXPECT_EQ(sign_in("luis@sol.mx", "wrong two").body, unknown.body)
        << "an unknown email and a wrong password get the same answer";
    const auto locked = sign_in("luis@sol.mx", "wrong three");
    EXPECT_EQ(locked.status, 429);
    EXPECT_EQ(locked.header("retry-after"), "2");
    const auto still = sign_in("luis@sol.mx", kPassword);
    EXPECT_EQ(still.status, 429) << "not even the right password while locked";
    std::this_thread::sleep_for(std::chrono::milliseconds(2200));
    // Past the lockout, one more failure locks it again, for twice as long.
    const auto again = sign_in("luis@sol.mx", "wrong four");
    EXPECT_EQ(again.status, 429);
    EXPECT_EQ(again.header("retry-after"), "4");
    std::this_thread::sleep_for(std::chrono::milliseconds(4200));
    EXPECT_EQ(sign_in("luis@sol.mx", kPassword).status, 201) << "then the right one works";
    EXPECT_EQ(sign_in("luis@sol.mx", "wrong five").status, 401) << "and the count starts over";
    // An email nobody has locks out exactly the same way: a lockout tells nobody who exists.
    EXPECT_EQ(unknown.status, 401);
    EXPECT_EQ(sign_in("nadie@sol.mx", "again").status, 401);
    const auto nobody_locked = sign_in("nadie@sol.mx", "and again");
    EXPECT_EQ(nobody_locked.status, 429);
    EXPECT_EQ(nobody_locked.header("retry-after"), "2");
    const json users = json::parse(host_->http().get("/api/v1/users", kAdmin).body)["items"];
    ASSERT_EQ(users.size(), 1u);
    EXPECT_TRUE(users[0]["last_sign_in_at"].is_string());
    EXPECT_EQ(users[0].dump().find("scrypt"), std::string::npos) << "no hash leaves the host";
}

TEST_P(SessionsTest, ATenantAdminsSessionReachesOnlyItsTenantAndBadInputIsRefused) {
    ASSERT_NO_FATAL_FAILURE(start());
    const json luis = create_user("luis@sol.mx", "tenant_admin", "sol");
    const auto signed_in = sign_in("luis@sol.mx", kPassword);
    ASSERT_EQ(signed_in.status, 201) << signed_in.body;
    EXPECT_EQ(json::parse(signed_in.body)["mfa_pending"], false) << "TOTP optional for clinics";
    const Session luis_session = session_of(signed_in);
    EXPECT_EQ(host_->http().get("/api/v1/tenants/sol", {luis_session.cookie}).status, 200);
    const auto other = host_->http().get("/api/v1/tenants/luna", {luis_session.cookie});
    EXPECT_EQ(other.status, 404);
    EXPECT_EQ(std::regex_replace(other.body, std::regex("luna"), "nadie"),
              host_->http().get("/api/v1/tenants/nadie", {luis_session.cookie}).body);
    EXPECT_EQ(host_->http().get("/api/v1/tenants", {luis_session.cookie}).status, 403);
    EXPECT_EQ(host_->http().get("/api/v1/users", {luis_session.cookie}).status, 403);
    EXPECT_EQ(host_->http()
                  .get("/api/v1/tenants/sol", {"Cookie: mc_session=mcs_" + std::string(64, '0')})
                  .status,
              401);
    EXPECT_EQ(host_->http().get("/api/v1/tenants/sol", {"Cookie: mc_session=garbage"}).status, 401);

    // Bad input to sign-in and to user creation: clear refusals, the host keeps serving.
    EXPECT_EQ(host_->http().send("POST", "/api/v1/session", "{\"email\":", {kJson}).status, 400);
    EXPECT_EQ(host_->http().send("POST", "/api/v1/session", R"({"email": 1})", {kJson}).status,
              400);
    // A form another site could post: refused, whatever it holds.
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/session",
                        json{{"email", "luis@sol.mx"}, {"password", kPassword}}.dump(),
                        {"Content-Type: text/plain"})
                  .status,
              415);
    EXPECT_EQ(
        host_->http()
            .send("POST", "/api/v1/session",
                  json{{"email", "luis@sol.mx"}, {"password", std::string(10000, 'x')}}.dump(),
                  {kJson})
            .status,
        401);
    auto create = [&](const json& body) {
        return host_->http().send("POST", "/api/v1/users", body.dump(), kAdmin).status;
    };
    EXPECT_EQ(create({{"email", "x@y.z"}, {"password", "short"}, {"role", "platform_admin"}}), 400);
    EXPECT_EQ(create({{"email", "no-at"}, {"password", kPassword}, {"role", "platform_admin"}}),
              400);
    EXPECT_EQ(create({{"email", "a@b.c"}, {"password", kPassword}, {"role", "root"}}), 400);
    EXPECT_EQ(create({{"email", "a@b.c"}, {"password", kPassword}, {"role", "tenant_admin"}}), 400);
    EXPECT_EQ(create({{"email", "a@b.c"},
                      {"password", kPassword},
                      {"role", "tenant_admin"},
                      {"tenant_id", "nadie"}}),
              400);
    EXPECT_EQ(
        create({{"email", "LUIS@sol.mx"}, {"password", kPassword}, {"role", "platform_admin"}}),
        409);
    EXPECT_EQ(create({{"email", "a@b.c"},
                      {"password", kPassword},
                      {"role", "platform_admin"},
                      {"extra", true}}),
              400);
    EXPECT_EQ(
        host_->http()
            .send("POST", "/api/v1/users",
                  json{{"email", "a@b.c"}, {"password", kPassword}, {"role", "platform_admin"}}
                      .dump(),
                  {luis_session.cookie, luis_session.csrf})
            .status,
        403)
        << "a clinic's admin creates no users";

    // Removing a user ends their sessions at once.
    EXPECT_EQ(host_->http()
                  .send("DELETE", "/api/v1/users/" + luis["id"].get<std::string>(), "", kAdmin)
                  .status,
              204);
    EXPECT_EQ(host_->http().get("/api/v1/tenants/sol", {luis_session.cookie}).status, 401);
    EXPECT_EQ(sign_in("luis@sol.mx", kPassword).status, 401);
    EXPECT_EQ(host_->http().get("/readyz").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Backends, SessionsTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
