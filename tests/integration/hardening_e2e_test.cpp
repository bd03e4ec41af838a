// Hardening against the real binary: the security headers on every kind of answer, CORS off by
// default and exact when configured, and no token or secret in the log.
#include "support/host_process.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;

const std::vector<std::string> kAdmin = {kAdminHeader};
constexpr const char* kPanel = "https://panel.example.com";

// One SQLite host with the hello plugin: headers and CORS do not depend on the database.
class Hardening : public ::testing::Test {
protected:
    void start(std::map<std::string, std::string> environment) {
        std::filesystem::create_directories(scratch_.path() / "plugins");
        std::filesystem::create_symlink(miconsul::testing::shipped_plugin_dir() / "hello.so",
                                        scratch_.path() / "plugins" / "hello.so");
        environment.emplace("MICONSUL_MAX_REQUEST_BYTES", "4096");
        host_ = std::make_unique<HostProcess>(
            HostOptions{scratch_.path(), scratch_.path() / "plugins", "", std::move(environment)});
    }
    const miconsul::testing::HttpClient& http() const { return host_->http(); }

    void create_demo_with_hello() {
        ASSERT_EQ(
            http()
                .send("POST", "/api/v1/tenants",
                      json{{"id", "demo"}, {"name", "Demo"}, {"timezone", "UTC"}}.dump(), kAdmin)
                .status,
            201);
        ASSERT_EQ(
            http()
                .send("PUT", "/api/v1/tenants/demo/plugins/hello", R"({"enabled": true})", kAdmin)
                .status,
            200);
    }

    static void expect_security_headers(const HttpResult& answer) {
        EXPECT_EQ(answer.header("x-content-type-options"), "nosniff");
        EXPECT_EQ(answer.header("x-frame-options"), "DENY");
        EXPECT_EQ(answer.header("referrer-policy"), "no-referrer");
        EXPECT_EQ(answer.header("content-security-policy"),
                  "default-src 'none'; frame-ancestors 'none'");
        EXPECT_EQ(answer.header("cache-control"), "no-store");
    }
    static void expect_no_cors(const HttpResult& answer) {
        for (const auto& [name, value] : answer.headers) {
            EXPECT_NE(name.rfind("access-control-", 0), 0u) << name << ": " << value;
        }
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<HostProcess> host_;
};

TEST_F(Hardening, EveryKindOfAnswerCarriesTheSecurityHeadersAndNoCors) {
    start({});
    create_demo_with_hello();
    const std::map<std::string, HttpResult> answers = {
        {"health", http().get("/healthz")},
        {"admin 200", http().get("/api/v1/tenants", kAdmin)},
        {"401", http().get("/api/v1/tenants")},
        {"404", http().get("/no/such/route")},
        {"405", http().send("PATCH", "/healthz")},
        {"plugin", http().get("/t/demo/hello/greet?name=Ana", kAdmin)},
        {"head", http().send("HEAD", "/healthz")},
        // Refused by the server before the dispatcher sees it.
        {"413", http().send("POST", "/api/v1/tenants", std::string(8192, 'x'), kAdmin)},
        {"origin", http().get("/healthz", {std::string("Origin: ") + kPanel})},
    };
    for (const auto& [what, answer] : answers) {
        SCOPED_TRACE(what);
        EXPECT_NE(answer.status, 0);
        expect_security_headers(answer);
        expect_no_cors(answer);
        EXPECT_EQ(answer.header("strict-transport-security"), "") << "only when configured";
        EXPECT_EQ(answer.header("vary"), "");
    }
    EXPECT_EQ(answers.at("plugin").status, 200);
    EXPECT_EQ(answers.at("413").status, 413);
}

TEST_F(Hardening, WithoutCorsAPreflightIsAnsweredAsAnyOptionsRequest) {
    start({});
    const auto preflight =
        http().send("OPTIONS", "/api/v1/tenants", "",
                    {std::string("Origin: ") + kPanel, "Access-Control-Request-Method: POST",
                     "Access-Control-Request-Headers: authorization"});
    EXPECT_EQ(preflight.status, 405);
    EXPECT_EQ(preflight.header("allow"), "GET, HEAD, POST");
    expect_no_cors(preflight);
    expect_security_headers(preflight);
}

TEST_F(Hardening, HstsOnlyWhenConfigured) {
    start({{"MICONSUL_HSTS_MAX_AGE", "31536000"}});
    EXPECT_EQ(http().get("/healthz").header("strict-transport-security"), "max-age=31536000");
    EXPECT_EQ(http().get("/nope").header("strict-transport-security"), "max-age=31536000");
}

TEST_F(Hardening, CorsReflectsOnlyAConfiguredOrigin) {
    start({{"MICONSUL_CORS_ORIGINS", std::string(kPanel) + ", http://localhost:5173"}});
    const std::string from_panel = std::string("Origin: ") + kPanel;

    const auto allowed = http().get("/api/v1/tenants", {kAdminHeader, from_panel});
    EXPECT_EQ(allowed.status, 200);
    EXPECT_EQ(allowed.header("access-control-allow-origin"), kPanel);
    EXPECT_EQ(allowed.header("vary"), "Origin");
    EXPECT_NE(allowed.header("access-control-expose-headers").find("X-Request-Id"),
              std::string::npos);
    EXPECT_EQ(allowed.header("access-control-allow-credentials"), "");
    expect_security_headers(allowed);

    // The page must be able to read a refusal too.
    const auto refused = http().get("/api/v1/tenants", {from_panel});
    EXPECT_EQ(refused.status, 401);
    EXPECT_EQ(refused.header("access-control-allow-origin"), kPanel);

    for (const char* other : {"https://evil.example", "https://panel.example.com.evil.example",
                              "http://panel.example.com", "null"}) {
        SCOPED_TRACE(other);
        const auto answer =
            http().get("/api/v1/tenants", {kAdminHeader, std::string("Origin: ") + other});
        EXPECT_EQ(answer.status, 200);
        expect_no_cors(answer);
        EXPECT_EQ(answer.header("vary"), "Origin") << "a cache must keep origins apart";
    }
    const auto no_origin = http().get("/healthz");
    expect_no_cors(no_origin);
}

TEST_F(Hardening, CorsPreflightFromAConfiguredOriginOnly) {
    start({{"MICONSUL_CORS_ORIGINS", kPanel}});
    const std::vector<std::string> preflight_headers = {
        std::string("Origin: ") + kPanel, "Access-Control-Request-Method: POST",
        "Access-Control-Request-Headers: authorization, content-type"};

    const auto preflight = http().send("OPTIONS", "/api/v1/tenants", "", preflight_headers);
    EXPECT_EQ(preflight.status, 204);
    EXPECT_EQ(preflight.header("access-control-allow-origin"), kPanel);
    EXPECT_EQ(preflight.header("access-control-allow-methods"), "GET, HEAD, POST");
    const std::string allowed_headers = preflight.header("access-control-allow-headers");
    for (const char* header :
         {"Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "X-CSRF-Token"}) {
        EXPECT_NE(allowed_headers.find(header), std::string::npos) << header;
    }
    EXPECT_EQ(preflight.header("access-control-max-age"), "600");
    EXPECT_EQ(preflight.header("vary"), "Origin");
    EXPECT_EQ(preflight.header("access-control-allow-credentials"), "");
    expect_security_headers(preflight);
    EXPECT_TRUE(preflight.body.empty());

    // Another origin: what any OPTIONS request gets.
    const auto other =
        http().send("OPTIONS", "/api/v1/tenants", "",
                    {"Origin: https://evil.example", "Access-Control-Request-Method: POST"});
    EXPECT_EQ(other.status, 405);
    expect_no_cors(other);

    // A path without routes: 404, so no route is invented for it.
    const auto unknown = http().send("OPTIONS", "/no/such/route", "", preflight_headers);
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(unknown.header("access-control-allow-methods"), "");

    // OPTIONS without Access-Control-Request-Method is not a preflight.
    const auto plain =
        http().send("OPTIONS", "/api/v1/tenants", "", {std::string("Origin: ") + kPanel});
    EXPECT_EQ(plain.status, 405);
    EXPECT_EQ(plain.header("access-control-allow-methods"), "");
}

TEST_F(Hardening, ADeeplyNestedBodyIsRefusedBeforeAPluginParsesIt) {
    start({{"MICONSUL_MAX_REQUEST_BYTES", "1048576"}});
    create_demo_with_hello();
    // 100,000 levels: parsed recursively inside the plugin, this would overflow a stack and
    // take the whole host down with it.
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const auto refused = http().send("POST", "/t/demo/hello/greetings", deep, kAdmin);
    EXPECT_EQ(refused.status, 400) << refused.body;
    EXPECT_NE(refused.body.find("nests deeper"), std::string::npos) << refused.body;
    // Just under the limit, the plugin gets the body and answers for itself.
    const std::string shallow = std::string(60, '[') + std::string(60, ']');
    const auto plugins_own = http().send("POST", "/t/demo/hello/greetings", shallow, kAdmin);
    EXPECT_EQ(plugins_own.status, 400);
    EXPECT_EQ(plugins_own.body.find("nests deeper"), std::string::npos) << plugins_own.body;
    EXPECT_EQ(http().send("POST", "/t/demo/hello/greetings", R"({"name": "Ana"})", kAdmin).status,
              201)
        << "the host keeps serving";
}

TEST_F(Hardening, NoTokenOrSecretReachesTheLog) {
    start({{"MICONSUL_LOG_LEVEL", "debug"}});
    create_demo_with_hello();
    const auto issued = http().send("POST", "/api/v1/tenants/demo/tokens",
                                    R"({"kind": "admin", "label": "panel"})", kAdmin);
    ASSERT_EQ(issued.status, 201) << issued.body;
    const std::string token = issued.json()["token"];
    const auto rotated = http().send(
        "POST", "/api/v1/tokens/" + issued.json()["id"].get<std::string>() + "/rotate", "", kAdmin);
    ASSERT_EQ(rotated.status, 201) << rotated.body;
    const std::string rotated_token = rotated.json()["token"];
    const std::string as_tenant_admin = "Authorization: Bearer " + token;
    EXPECT_EQ(http().get("/t/demo/hello/greet?name=Ana", {as_tenant_admin}).status, 200);
    const std::string smtp_password = "smtp-password-do-not-log-7f3a";
    const std::string ycloud_key = "ycloud-key-do-not-log-91b2";
    const auto messaging =
        http().send("PUT", "/api/v1/tenants/demo/messaging",
                    json{{"email",
                          {{"from", "Demo <citas@demo.example>"},
                           {"smtp_url", "smtp://127.0.0.1:1"},
                           {"username", "citas"},
                           {"password", smtp_password}}},
                         {"whatsapp",
                          {{"from", "+525512345678"},
                           {"api_key", ycloud_key},
                           {"webhook_secret", "ycloud-webhook-secret-do-not-log"}}}}
                        .dump(),
                    {as_tenant_admin});
    EXPECT_EQ(messaging.status, 200) << messaging.body;
    // Wrong credentials and a token in the query string are not logged either.
    const std::string wrong = "mc_000000000000_" + std::string(64, 'f');
    EXPECT_EQ(http().get("/api/v1/tenants", {"Authorization: Bearer " + wrong}).status, 401);
    EXPECT_EQ(http().get("/t/demo/records/patients?access_token=query-secret-do-not-log").status,
              401);
    const auto webhook = http().send(
        "POST", "/api/v1/tenants/demo/webhooks",
        json{{"url", "http://127.0.0.1:1/n8n"}, {"event_types", {"x.*"}}}.dump(), kAdmin);
    ASSERT_EQ(webhook.status, 201) << webhook.body;
    const std::string webhook_secret = webhook.json()["secret"];

    ASSERT_TRUE(host_->log_contains("request_id"));
    ASSERT_TRUE(host_->log_contains("/api/v1/tenants/demo/webhooks"));
    const std::string log = host_->log();
    for (const std::string& secret :
         {token, rotated_token, std::string(miconsul::testing::kAdminToken), wrong, smtp_password,
          ycloud_key, std::string("ycloud-webhook-secret-do-not-log"),
          std::string("query-secret-do-not-log"), webhook_secret}) {
        EXPECT_EQ(log.find(secret), std::string::npos) << secret << " is in the log:\n" << log;
    }
    // Nor the secret part of a token on its own.
    EXPECT_EQ(log.find(token.substr(token.size() - 32)), std::string::npos);
}

}  // namespace
