// Who reaches what, against the real binary on SQLite and PostgreSQL: every registered route
// (GET /api/v1/routes — core and plugin routes alike, so a route added later is walked too)
// with every kind of credential — none, malformed, expired, revoked, another tenant's, a token
// of too little power, the right one, a platform admin's — and the answer each must get.
#include "support/host_process.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <regex>
#include <thread>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;

const std::vector<std::string> kAdmin = {kAdminHeader};

class AccessTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") {
            MICONSUL_REQUIRE_POSTGRES();
            database_url_ = miconsul::testing::create_postgres_database(
                *miconsul::testing::postgres_admin_url());
        }
        std::filesystem::create_directories(scratch_.path() / "plugins");
        std::filesystem::create_symlink(miconsul::testing::shipped_plugin_dir() / "hello.so",
                                        scratch_.path() / "plugins" / "hello.so");
        // A rotated token expires at once: an expired credential without waiting a day.
        host_ = std::make_unique<HostProcess>(
            HostOptions{scratch_.path(),
                        scratch_.path() / "plugins",
                        database_url_,
                        {{"MICONSUL_TOKEN_ROTATION_OVERLAP_HOURS", "0"},
                         // The walk makes more calls a minute than a tenant's default budget.
                         {"MICONSUL_RATE_LIMIT", "0"}}});
        for (const auto* id : {"sol", "luna"}) {
            ASSERT_EQ(host_->http()
                          .send("POST", "/api/v1/tenants",
                                json{{"id", id}, {"name", id}, {"timezone", "UTC"}}.dump(), kAdmin)
                          .status,
                      201);
            ASSERT_EQ(host_->http()
                          .send("PUT", std::string("/api/v1/tenants/") + id + "/plugins/hello",
                                R"({"enabled": true})", kAdmin)
                          .status,
                      200);
        }
    }

    json issue(const std::string& path, const json& body,
               const std::vector<std::string>& as = kAdmin) {
        const auto answer = host_->http().send("POST", path, body.dump(), as);
        EXPECT_EQ(answer.status, 201) << path << " " << answer.body;
        return json::parse(answer.body, nullptr, false);
    }
    static std::vector<std::string> bearer(const std::string& token) {
        return {"Authorization: Bearer " + token};
    }
    /// The route's pattern with its tenant and placeholders filled in.
    static std::string path_of(const std::string& pattern, const std::string& tenant,
                               const std::string& token_id) {
        std::string path = std::regex_replace(pattern, std::regex(R"(\{(tenant|id)\})"), tenant);
        path = std::regex_replace(path, std::regex(R"(\{token\})"), token_id);
        path = std::regex_replace(path, std::regex(R"(\{plugin\})"), "hello");
        return std::regex_replace(path, std::regex(R"(\{[a-z_]+\})"), "x");
    }
    HttpResult call(const json& route, const std::string& path,
                    const std::vector<std::string>& as) {
        return host_->http().send(route["method"], path, "{}", as);
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::string database_url_;  // empty: SQLite under scratch_
    std::unique_ptr<HostProcess> host_;
};

TEST_P(AccessTest, EveryRouteAnswersEveryKindOfCredentialAsItShould) {
    const json platform = issue("/api/v1/tokens", {{"label", "ops"}});
    const json sol_admin =
        issue("/api/v1/tenants/sol/tokens", {{"kind", "admin"}, {"label", "panel"}});
    const json sol_api = issue("/api/v1/tenants/sol/tokens", {{"kind", "api"}, {"label", "n8n"}});
    const json luna_admin = issue("/api/v1/tenants/luna/tokens", {{"kind", "admin"}});
    const json revoked = issue("/api/v1/tenants/sol/tokens", {{"kind", "admin"}});
    ASSERT_EQ(host_->http()
                  .send("DELETE", "/api/v1/tokens/" + revoked["id"].get<std::string>(), "", kAdmin)
                  .status,
              204);
    const json expired = issue("/api/v1/tenants/sol/tokens", {{"kind", "admin"}});
    issue("/api/v1/tokens/" + expired["id"].get<std::string>() + "/rotate", json::object());

    const auto routes = json::parse(host_->http().get("/api/v1/routes", kAdmin).body)["items"];
    ASSERT_GT(routes.size(), 40u);
    std::set<std::string> owners;
    for (const auto& route : routes) {
        const std::string pattern = route["pattern"];
        const std::string access = route["access"];
        owners.insert(route["owner"]);
        SCOPED_TRACE(route["method"].get<std::string>() + " " + pattern + " (" + access + ")");
        ASSERT_TRUE(access == "public" || access == "signature" || access == "tenant" ||
                    access == "tenant_admin" || access == "platform_admin" ||
                    access == "token_owner" || access == "session")
            << "every route declares who may call it";
        // Token routes act on a token of sol's, a fresh one for each call that may change it.
        auto target = [&] {
            return issue("/api/v1/tenants/sol/tokens", {{"kind", "api"}})["id"].get<std::string>();
        };
        const std::string sol_path =
            path_of(pattern, "sol", access == "token_owner" ? target() : "x");
        if (access == "public") {
            const auto answer = call(route, sol_path, {});
            EXPECT_NE(answer.status, 401);
            EXPECT_NE(answer.status, 403);
            continue;
        }
        for (const auto& wrong : std::vector<std::vector<std::string>>{
                 {},
                 bearer("nonsense"),
                 bearer("mc_000000000000_" + std::string(64, '0')),
                 bearer(revoked["token"]),
                 bearer(expired["token"])}) {
            const auto answer = call(route, sol_path, wrong);
            EXPECT_EQ(answer.status, 401) << (wrong.empty() ? "no token" : wrong[0]);
            if (answer.status == 401 && access != "signature") {
                EXPECT_NE(answer.header("www-authenticate").find("Bearer"), std::string::npos);
            }
        }
        // YCloud's signature, tested in messages_e2e_test; the panel's session, which no bearer
        // token opens, in sessions_e2e_test.
        if (access == "signature") continue;
        if (access == "session") {
            EXPECT_EQ(call(route, sol_path, bearer(platform["token"])).status, 401);
            continue;
        }
        for (const auto* token : {&platform, &sol_admin, &sol_api, &luna_admin}) {
            const auto answer =
                call(route, access == "token_owner" ? path_of(pattern, "sol", target()) : sol_path,
                     bearer((*token)["token"]));
            const bool is_platform = token == &platform;
            const bool is_sol = token == &sol_admin || token == &sol_api;
            std::string expected = "through";  // past the guard: the handler's own answer
            if (access == "platform_admin" && !is_platform) expected = "403";
            if ((access == "tenant" || access == "tenant_admin" || access == "token_owner") &&
                !is_platform && !is_sol) {
                expected = "404";
            }
            if (access == "tenant_admin" && token == &sol_api) expected = "403";
            if (access == "token_owner" && token == &sol_api) expected = "404";
            SCOPED_TRACE((*token)["kind"].get<std::string>() + " token of " +
                         (*token)["tenant_id"].dump() + " expects " + expected);
            if (expected == "through") {
                EXPECT_NE(answer.status, 401) << answer.body;
                EXPECT_NE(answer.status, 403) << answer.body;
            } else if (expected == "403") {
                EXPECT_EQ(answer.status, 403) << answer.body;
            } else {
                // Another tenant's route answers this token exactly as a tenant that does not
                // exist: it cannot tell the two apart.
                EXPECT_EQ(answer.status, 404) << answer.body;
                if (access != "token_owner") {
                    const auto unknown =
                        call(route, path_of(pattern, "nadie", "x"), bearer((*token)["token"]));
                    EXPECT_EQ(std::regex_replace(answer.body, std::regex("sol"), "nadie"),
                              unknown.body);
                }
            }
        }
    }
    EXPECT_TRUE(owners.count("plugin hello")) << "plugin routes are walked too";
}

TEST_P(AccessTest, TokensAreShownOnceRotatedAndRevokedByTheirTenantsAdmins) {
    const json sol_admin =
        issue("/api/v1/tenants/sol/tokens", {{"kind", "admin"}, {"label", "panel"}});
    const json n8n = issue("/api/v1/tenants/sol/tokens",
                           {{"kind", "api"}, {"label", "n8n"}, {"expires_in_days", 90}},
                           bearer(sol_admin["token"]));
    EXPECT_EQ(n8n["tenant_id"], "sol");
    EXPECT_EQ(n8n["kind"], "api");
    for (const char* field : {"id", "token", "expires_at"})
        EXPECT_TRUE(n8n.contains(field)) << field;
    const auto listed = host_->http().get("/api/v1/tenants/sol/tokens", bearer(sol_admin["token"]));
    ASSERT_EQ(listed.status, 200);
    EXPECT_EQ(listed.body.find(n8n["token"].get<std::string>()), std::string::npos)
        << "shown only once";
    EXPECT_EQ(json::parse(listed.body)["items"].size(), 2u);
    EXPECT_EQ(host_->http().get("/t/sol/hello/greetings", bearer(n8n["token"])).status, 200);

    // Another tenant's admin cannot touch it, or tell that it exists.
    const json luna_admin = issue("/api/v1/tenants/luna/tokens", {{"kind", "admin"}});
    const std::string id = n8n["id"];
    EXPECT_EQ(host_->http()
                  .send("DELETE", "/api/v1/tokens/" + id, "", bearer(luna_admin["token"]))
                  .status,
              404);
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/tokens/" + id + "/rotate", "", bearer(n8n["token"]))
                  .status,
              404)
        << "an API token manages no tokens";

    // Rotation with this host's overlap of 0 h: the new one works, the old one at once no more.
    const auto rotated = host_->http().send("POST", "/api/v1/tokens/" + id + "/rotate", "",
                                            bearer(sol_admin["token"]));
    ASSERT_EQ(rotated.status, 201) << rotated.body;
    const json next = json::parse(rotated.body);
    EXPECT_EQ(next["label"], "n8n");
    EXPECT_EQ(host_->http().get("/t/sol/hello/greetings", bearer(next["token"])).status, 200);
    EXPECT_EQ(host_->http().get("/t/sol/hello/greetings", bearer(n8n["token"])).status, 401);

    const std::string next_id = next["id"];
    EXPECT_EQ(host_->http()
                  .send("DELETE", "/api/v1/tokens/" + next_id, "", bearer(sol_admin["token"]))
                  .status,
              204);
    EXPECT_EQ(host_->http().get("/t/sol/hello/greetings", bearer(next["token"])).status, 401)
        << "revoked at once";
    EXPECT_EQ(host_->http()
                  .send("DELETE", "/api/v1/tokens/" + next_id, "", bearer(sol_admin["token"]))
                  .status,
              409);

    const auto bad =
        host_->http().send("POST", "/api/v1/tenants/sol/tokens",
                           R"({"kind": "root", "expires_in_days": 0, "scope": "all"})", kAdmin);
    EXPECT_EQ(bad.status, 400);
    for (const char* field : {"/kind", "/expires_in_days", "/scope"}) {
        EXPECT_NE(bad.body.find(field), std::string::npos) << field;
    }
    EXPECT_EQ(host_->http().send("POST", "/api/v1/tenants/sol/tokens", "{\"kind\":", kAdmin).status,
              400);
}

TEST_P(AccessTest, TheFirstPlatformAdminComesFromTheCommandLine) {
    const std::string command = miconsul::testing::host_binary().string() +
                                " admin create --label first --expires-in-days 7 2>/dev/null";
    // The host's own configuration: the command reaches the same database.
    std::string environment = "MICONSUL_DATA_DIR=" + scratch_.path().string() + " ";
    if (!database_url_.empty()) environment += "MICONSUL_DATABASE_URL='" + database_url_ + "' ";
    FILE* pipe = ::popen((environment + command).c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char line[256] = {};
    ASSERT_NE(std::fgets(line, sizeof line, pipe), nullptr);
    ASSERT_EQ(::pclose(pipe), 0);
    std::string token(line);
    token.erase(token.find_last_not_of("\n") + 1);
    ASSERT_EQ(token.rfind("mc_", 0), 0u) << token;
    const auto tenants = host_->http().get("/api/v1/tenants", bearer(token));
    EXPECT_EQ(tenants.status, 200) << "a platform admin, accepted by the running host";
    const auto listed = json::parse(host_->http().get("/api/v1/tokens", kAdmin).body)["items"];
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["label"], "first");
    EXPECT_EQ(listed[0]["kind"], "platform");
}

TEST_P(AccessTest, EveryCallAndEveryChangeIsInTheAuditLogWithWhoDidIt) {
    const json sol_admin =
        issue("/api/v1/tenants/sol/tokens", {{"kind", "admin"}, {"label", "panel"}});
    const std::string token_actor = "token:" + sol_admin["id"].get<std::string>();
    ASSERT_EQ(host_->http()
                  .send("PUT", "/api/v1/tenants/sol/plugins/hello",
                        R"({"enabled": true, "settings": {"greeting": "Buenas"}})",
                        bearer(sol_admin["token"]))
                  .status,
              200);
    EXPECT_EQ(host_->http().get("/t/sol/hello/greetings", bearer(sol_admin["token"])).status, 200);
    EXPECT_EQ(host_->http().get("/t/sol/hello/greetings", bearer("wrong")).status, 401);

    json items;
    for (int i = 0; i < 50; ++i) {  // calls are written in batches, a fraction of a second later
        items = json::parse(
            host_->http().get("/api/v1/audit?tenant=sol&limit=200", kAdmin).body)["items"];
        // Both calls to greetings (200 and 401) are in once the 401, the later one, is.
        const bool refused_written = items.dump().find("\"status\":401") != std::string::npos;
        if (refused_written) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    bool saw_change = false, saw_call = false, saw_refused = false, saw_token = false;
    for (const auto& item : items) {
        for (const char* field : {"time", "actor", "action", "status", "kind", "request_id"}) {
            EXPECT_TRUE(item.contains(field)) << field;
        }
        EXPECT_EQ(item["tenant"], "sol");
        // The fixture enabled hello as "admin"; this test changed its settings with the token.
        if (item["action"] == "plugin.enablement" && item["actor"] == token_actor) {
            saw_change = true;
            EXPECT_EQ(item["detail"]["before"]["settings"]["greeting"], "Hola");
            EXPECT_EQ(item["detail"]["after"]["settings"]["greeting"], "Buenas");
        }
        if (item["action"] == "GET /t/{tenant}/hello/greetings" && item["status"] == 200) {
            saw_call = true;
            EXPECT_EQ(item["actor"], token_actor);
            EXPECT_EQ(item["client_address"], "127.0.0.1");
        }
        if (item["action"] == "GET /t/{tenant}/hello/greetings" && item["status"] == 401) {
            saw_refused = true;
            EXPECT_EQ(item["actor"], "unrecognised");
        }
        if (item["action"] == "token.issued") {
            saw_token = true;
            EXPECT_EQ(item["actor"], "admin");
            EXPECT_EQ(item.dump().find(sol_admin["token"].get<std::string>()), std::string::npos)
                << "never the token";
        }
    }
    EXPECT_TRUE(saw_change && saw_call && saw_refused && saw_token) << items.dump(1);
    const auto changes =
        json::parse(host_->http()
                        .get("/api/v1/audit?tenant=sol&kind=change&actor=" + token_actor, kAdmin)
                        .body)["items"];
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(host_->http().get("/api/v1/audit?from=yesterday", kAdmin).status, 400);
    EXPECT_EQ(host_->http().get("/api/v1/audit", bearer(sol_admin["token"])).status, 403)
        << "the platform's log is the platform's";
}

INSTANTIATE_TEST_SUITE_P(Backends, AccessTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
