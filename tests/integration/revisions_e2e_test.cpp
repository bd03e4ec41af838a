// Settings revisions and configuration as code, against the real binary on SQLite and
// PostgreSQL: every change of a tenant's plugin is a numbered revision with its author; a
// rollback restores the exact earlier settings as a new revision, and the audit log names who
// did both; `miconsul-host apply -f` and `export` round-trip a tenant's configuration through
// a file.
#include "support/host_process.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::kAdminHeader;
using miconsul::testing::kAdminToken;
using nlohmann::json;

const std::vector<std::string> kAdmin = {kAdminHeader};
const std::string kHello = "/api/v1/tenants/sol/plugins/hello";

class RevisionsTest : public ::testing::TestWithParam<std::string> {
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
        host_ = std::make_unique<HostProcess>(
            HostOptions{scratch_.path(), scratch_.path() / "plugins", database_url_, {}});
        for (const auto* id : {"sol", "luna"}) {
            ASSERT_EQ(
                send("POST", "/api/v1/tenants", {{"id", id}, {"name", id}, {"timezone", "UTC"}})
                    .status,
                201);
        }
    }

    miconsul::testing::HttpResult send(const std::string& method, const std::string& path,
                                       const json& body,
                                       const std::vector<std::string>& as = kAdmin) {
        return host_->http().send(method, path, body.is_null() ? "" : body.dump(), as);
    }
    json get(const std::string& path, const std::vector<std::string>& as = kAdmin) {
        const auto answer = host_->http().get(path, as);
        EXPECT_EQ(answer.status, 200) << path << " " << answer.body;
        return json::parse(answer.body, nullptr, false);
    }
    static std::vector<std::string> bearer(const std::string& token) {
        return {"Authorization: Bearer " + token};
    }

    /// Runs the host binary with `arguments` against this host; its exit code and stdout.
    std::pair<int, std::string> command(const std::string& arguments,
                                        const std::string& token = kAdminToken) {
        const std::string line =
            "MICONSUL_TOKEN='" + token + "' " + miconsul::testing::host_binary().string() + " " +
            arguments + " --url http://127.0.0.1:" + std::to_string(host_->port()) + " 2>&1";
        FILE* pipe = ::popen(line.c_str(), "r");
        std::string output;
        char buffer[512];
        while (pipe && std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
        const int status = pipe ? ::pclose(pipe) : -1;
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::string database_url_;
    std::unique_ptr<HostProcess> host_;
};

TEST_P(RevisionsTest, EveryChangeIsARevisionAndARollbackRestoresTheExactEarlierSettings) {
    const json sol_admin =
        json::parse(send("POST", "/api/v1/tenants/sol/tokens", {{"kind", "admin"}}).body);
    const auto as_clinic = bearer(sol_admin["token"]);
    const json first = {{"greeting", "Buenos días"}, {"punctuation", "!"}};
    auto put = send("PUT", kHello, {{"enabled", true}, {"settings", first}});
    ASSERT_EQ(put.status, 200) << put.body;
    EXPECT_EQ(json::parse(put.body)["revision"], 1);
    put = send("PUT", kHello, {{"enabled", true}, {"settings", {{"greeting", "Qué tal"}}}},
               as_clinic);
    ASSERT_EQ(put.status, 200) << put.body;
    EXPECT_EQ(json::parse(put.body)["revision"], 2);
    EXPECT_EQ(host_->http().get("/t/sol/hello/greet?name=Ana").body,
              R"({"message":"Qué tal, Ana"})");

    const json history = get(kHello + "/revisions", as_clinic);
    ASSERT_EQ(history["items"].size(), 2u);
    EXPECT_EQ(history["items"][0]["revision"], 2) << "newest first";
    EXPECT_EQ(history["items"][0]["actor"], "token:" + sol_admin["id"].get<std::string>());
    EXPECT_EQ(history["items"][1]["actor"], "admin");
    EXPECT_EQ(history["items"][1]["settings"], first);
    for (const char* field : {"revision", "settings", "actor", "time"}) {
        EXPECT_TRUE(history["items"][0].contains(field)) << field;
    }
    const json diff = get(kHello + "/revisions/2/diff");
    EXPECT_EQ(diff["from"], 1);
    EXPECT_EQ(diff["changes"],
              json::parse(R"([{"op":"replace","path":"/greeting","value":"Qué tal"},
                              {"op":"replace","path":"/punctuation","value":""}])"));

    // The clinic's admin rolls back to revision 1: a new revision, 3, with exactly its settings.
    const auto restored = send("POST", kHello + "/revisions/1/restore", nullptr, as_clinic);
    ASSERT_EQ(restored.status, 200) << restored.body;
    EXPECT_EQ(json::parse(restored.body)["revision"], 3);
    EXPECT_EQ(get(kHello)["settings"], first);
    EXPECT_EQ(host_->http().get("/t/sol/hello/greet?name=Ana").body,
              R"({"message":"Buenos días, Ana!"})");
    const json third = get(kHello + "/revisions/3");
    EXPECT_EQ(third["settings"], first);
    EXPECT_EQ(third["restored_from"], 1);
    EXPECT_EQ(third["reason"], "restore");

    // The audit log names who changed the settings and who rolled them back.
    const json changes = get("/api/v1/audit?tenant=sol&kind=change&limit=200")["items"];
    bool saw_change = false, saw_restore = false;
    for (const auto& entry : changes) {
        const std::string actor = entry["actor"];
        if (entry["action"] == "plugin.enablement" && entry["detail"]["revision"] == 2) {
            saw_change = actor == "token:" + sol_admin["id"].get<std::string>();
        }
        if (entry["action"] == "plugin.settings.restored") {
            saw_restore = actor == "token:" + sol_admin["id"].get<std::string>() &&
                          entry["detail"]["restored_from"] == 1 &&
                          entry["detail"]["after"]["settings"] == first;
        }
    }
    EXPECT_TRUE(saw_change) << changes.dump();
    EXPECT_TRUE(saw_restore) << changes.dump();

    // Pages of one, by cursor, walk 3, 2, 1.
    std::vector<int> walked;
    std::string cursor;
    for (int page = 0; page < 5; ++page) {
        const json listed =
            get(kHello + "/revisions?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor));
        for (const auto& item : listed["items"]) walked.push_back(item["revision"]);
        if (listed["next_cursor"].is_null()) break;
        cursor = listed["next_cursor"];
    }
    EXPECT_EQ(walked, (std::vector<int>{3, 2, 1}));
}

TEST_P(RevisionsTest, RevisionsRefuseBadInputAndStayWithinTheirTenant) {
    ASSERT_EQ(send("PUT", kHello, {{"enabled", true}}).status, 200);
    const json luna_admin =
        json::parse(send("POST", "/api/v1/tenants/luna/tokens", {{"kind", "admin"}}).body);
    const json sol_api =
        json::parse(send("POST", "/api/v1/tenants/sol/tokens", {{"kind", "api"}}).body);
    // Another tenant's admin: the 404 of a tenant that does not exist, on every revision route.
    for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
             {"GET", kHello + "/revisions"},
             {"GET", kHello + "/revisions/1"},
             {"GET", kHello + "/revisions/1/diff"},
             {"POST", kHello + "/revisions/1/restore"},
             {"GET", "/api/v1/tenants/sol/configuration"}}) {
        EXPECT_EQ(send(method, path, nullptr, bearer(luna_admin["token"])).status, 404) << path;
        EXPECT_EQ(send(method, path, nullptr, bearer(sol_api["token"])).status, 403) << path;
        EXPECT_EQ(send(method, path, nullptr, {"Authorization: Bearer wrong"}).status, 401);
    }
    EXPECT_EQ(send("GET", "/api/v1/tenants/luna/plugins/hello/revisions", nullptr).body,
              R"({"items":[],"next_cursor":null})")
        << "sol's history is not luna's";
    EXPECT_EQ(host_->http().get(kHello + "/revisions/9", kAdmin).status, 404);
    EXPECT_EQ(host_->http().get(kHello + "/revisions/-1", kAdmin).status, 404);
    EXPECT_EQ(host_->http().get(kHello + "/revisions/1/diff?against=x", kAdmin).status, 400);
    EXPECT_EQ(host_->http().get(kHello + "/revisions?cursor=abc", kAdmin).status, 400);
    EXPECT_EQ(send("POST", kHello + "/revisions/7/restore", nullptr).status, 404);
    EXPECT_EQ(host_->http().get("/api/v1/tenants/nadie/plugins/hello/revisions", kAdmin).status,
              404);

    // A configuration that is not valid changes nothing, and says every problem at once.
    const auto bad = send("PUT", "/api/v1/tenants/sol/configuration",
                          {{"tenant", {{"timezone", "Mars/Olympus"}}},
                           {"plugins",
                            {{"hello", {{"enabled", true}, {"settings", {{"greeting", ""}}}}},
                             {"nope", {{"enabled", true}}}}},
                           {"extra", 1}});
    EXPECT_EQ(bad.status, 400);
    for (const char* field :
         {"/tenant/timezone", "/plugins/hello/settings/greeting", "/plugins/nope", "/extra"}) {
        EXPECT_NE(bad.body.find(field), std::string::npos) << field << " in " << bad.body;
    }
    EXPECT_EQ(host_->http()
                  .send("PUT", "/api/v1/tenants/sol/configuration", "{\"tenant\":", kAdmin)
                  .status,
              400);
    EXPECT_EQ(get(kHello + "/revisions")["items"].size(), 1u) << "nothing stored";
    EXPECT_EQ(send("PUT", "/api/v1/tenants/sol/configuration", json::object(),
                   bearer(luna_admin["token"]))
                  .status,
              403)
        << "replacing a configuration is for platform admins";
}

TEST_P(RevisionsTest, ApplyMakesATenantMatchItsFileAndExportWritesIt) {
    const std::filesystem::path file = scratch_.path() / "tenants" / "sur.json";
    std::filesystem::create_directories(file.parent_path());
    const json wanted = {
        {"tenant", {{"id", "sur"}, {"name", "Clínica Sur"}, {"timezone", "America/Bogota"}}},
        {"plugins", {{"hello", {{"enabled", true}, {"settings", {{"greeting", "Quiubo"}}}}}}}};
    std::ofstream(file) << wanted.dump(2);

    // A dry run says what would change and stores nothing.
    auto [dry_code, dry_output] = command("apply -f " + file.string() + " --dry-run");
    EXPECT_EQ(dry_code, 0) << dry_output;
    EXPECT_NE(dry_output.find("+ tenant sur"), std::string::npos) << dry_output;
    EXPECT_NE(dry_output.find("+ plugin hello (enable)"), std::string::npos) << dry_output;
    EXPECT_EQ(host_->http().get("/api/v1/tenants/sur", kAdmin).status, 404);

    auto [code, output] = command("apply -f " + file.string());
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("revision 1"), std::string::npos) << output;
    EXPECT_EQ(host_->http().get("/t/sur/hello/greet?name=Ana").body,
              R"({"message":"Quiubo, Ana"})");
    EXPECT_EQ(get("/api/v1/tenants/sur")["timezone"], "America/Bogota");
    auto [again_code, again] = command("apply -f " + file.string());
    EXPECT_EQ(again_code, 0);
    EXPECT_NE(again.find("no changes"), std::string::npos) << again;

    // Export writes the file apply takes; leaving hello out of it disables hello.
    auto [export_code, exported] = command("export sur");
    ASSERT_EQ(export_code, 0) << exported;
    const json document = json::parse(exported);
    EXPECT_EQ(document["plugins"]["hello"]["settings"]["greeting"], "Quiubo");
    EXPECT_EQ(document["tenant"]["name"], "Clínica Sur");
    json without_hello = document;
    without_hello["plugins"] = json::object();
    std::ofstream(file) << without_hello.dump(2);
    auto [off_code, off] = command("apply -f " + file.string());
    EXPECT_EQ(off_code, 0) << off;
    EXPECT_NE(off.find("- plugin hello (disable)"), std::string::npos) << off;
    EXPECT_EQ(host_->http().get("/t/sur/hello/greet?name=Ana").status, 404);
    const json history = get("/api/v1/tenants/sur/plugins/hello/revisions");
    EXPECT_EQ(history["items"][0]["reason"], "apply");
    EXPECT_EQ(history["items"][0]["enabled"], false);
    EXPECT_EQ(history["items"][0]["settings"]["greeting"], "Quiubo") << "kept for a return";

    // Refusals reach the operator, with a non-zero exit.
    std::ofstream(file) << R"({"tenant": {"id": "sur"}, "plugins": {"hello": {"enabled": "yes"}}})";
    auto [bad_code, bad] = command("apply -f " + file.string());
    EXPECT_EQ(bad_code, 1);
    EXPECT_NE(bad.find("/plugins/hello/enabled"), std::string::npos) << bad;
    auto [token_code, token_output] = command("export sur", "wrong");
    EXPECT_EQ(token_code, 1);
    EXPECT_NE(token_output.find("401"), std::string::npos) << token_output;
    std::ofstream(file) << "{not json";
    EXPECT_EQ(command("apply -f " + file.string()).first, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, RevisionsTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
