// End-to-end: the real miconsul-host binary over HTTP, on SQLite and on PostgreSQL.
#include "support/host_process.h"
#include "support/http_receiver.h"
#include "support/test_environment.h"

#include <openssl/hmac.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;

const std::vector<std::string> kAdmin = {kAdminHeader};

void expect_problem(const HttpResult& result, long status) {
    EXPECT_EQ(result.status, status) << result.body;
    EXPECT_EQ(result.header("content-type"), "application/problem+json") << result.body;
    const json body = json::parse(result.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << result.body;
    EXPECT_EQ(body.value("status", 0), status);
    EXPECT_FALSE(body.value("detail", "").empty());
}

// One host per test, on the backend the parameter names, with the shipped plugins and the
// test-only platform probe.
class HostTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        std::string database_url;
        if (GetParam() == "postgresql") {
            MICONSUL_REQUIRE_POSTGRES();
            database_url = miconsul::testing::create_postgres_database(
                *miconsul::testing::postgres_admin_url());
        }
        std::filesystem::create_directories(plugins());
        std::filesystem::create_symlink(miconsul::testing::shipped_plugin_dir() / "hello.so",
                                        plugins() / "hello.so");
        for (const auto* test_plugin : {"test_platform_probe.so", "test_failing_schedule.so"}) {
            std::filesystem::create_symlink(miconsul::testing::test_plugin_dir() / test_plugin,
                                            plugins() / test_plugin);
        }
        host_ = std::make_unique<HostProcess>(
            HostOptions{scratch_.path(), plugins(), database_url, extra_environment()});
    }

    virtual std::map<std::string, std::string> extra_environment() const {
        return {{"MICONSUL_SCHEDULER_TICK_MS", "100"},
                {"MICONSUL_EVENT_RETRY_BASE_MS", "100"},
                {"MICONSUL_WEBHOOK_FAILURE_LIMIT", "2"},
                {"MICONSUL_SECRET_KEY", std::string(64, 'a')}};
    }
    std::filesystem::path plugins() const { return scratch_.path() / "plugins"; }
    const miconsul::testing::HttpClient& http() const { return host_->http(); }

    void create_tenant(const std::string& id, const std::string& timezone = "America/Mexico_City") {
        auto created = http().send(
            "POST", "/api/v1/tenants",
            json{{"id", id}, {"name", "Clínica " + id}, {"timezone", timezone}}.dump(), kAdmin);
        ASSERT_EQ(created.status, 201) << created.body;
    }

    HttpResult set_plugin(const std::string& tenant, const std::string& plugin, const json& body) {
        return http().send("PUT", "/api/v1/tenants/" + tenant + "/plugins/" + plugin, body.dump(),
                           kAdmin);
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<HostProcess> host_;
};

TEST_P(HostTest, HealthAndReadiness) {
    EXPECT_EQ(http().get("/healthz").json()["status"], "ok");
    auto ready = http().get("/readyz");
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(ready.json()["checks"]["database"]["status"], "ok");
    EXPECT_EQ(ready.json()["checks"]["redis"]["status"], "not configured");
}

TEST_P(HostTest, HelloAnswersOnlyWhereEnabledAndDisablingTakesEffectAtOnce) {
    create_tenant("alpha");
    create_tenant("beta");
    auto enabled = set_plugin("alpha", "hello", {{"enabled", true}});
    ASSERT_EQ(enabled.status, 200) << enabled.body;
    EXPECT_EQ(enabled.json()["settings"]["greeting"], "Hola");

    auto greeting = http().get("/t/alpha/hello/greet?name=Ana");
    ASSERT_EQ(greeting.status, 200) << greeting.body;
    EXPECT_EQ(greeting.json(), json({{"message", "Hola, Ana"}}));
    EXPECT_EQ(greeting.header("content-type"), "application/json");
    EXPECT_FALSE(greeting.header("x-request-id").empty());

    expect_problem(http().get("/t/beta/hello/greet?name=Ana"), 404);
    expect_problem(http().get("/t/nobody/hello/greet?name=Ana"), 404);

    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", false}}).status, 200);
    expect_problem(http().get("/t/alpha/hello/greet?name=Ana"), 404);

    auto listed = http().get("/api/v1/tenants/alpha/plugins", kAdmin).json();
    EXPECT_TRUE(listed["items"].empty());
}

TEST_P(HostTest, SettingsAreValidatedDefaultedAndKeptAcrossReenable) {
    create_tenant("alpha");
    auto invalid = set_plugin(
        "alpha", "hello",
        {{"enabled", true}, {"settings", {{"greeting", ""}, {"punctuation", "?"}, {"x", 1}}}});
    expect_problem(invalid, 400);
    const json errors = invalid.json()["errors"];
    ASSERT_EQ(errors.size(), 3u) << invalid.body;
    std::set<std::string> fields;
    for (const auto& error : errors) fields.insert(error["field"].get<std::string>());
    EXPECT_EQ(fields, (std::set<std::string>{"/settings/greeting", "/settings/punctuation",
                                             "/settings/x"}));
    expect_problem(http().get("/t/alpha/hello/greet?name=Ana"), 404);  // nothing was enabled

    ASSERT_EQ(set_plugin("alpha", "hello",
                         {{"enabled", true}, {"settings", {{"greeting", "Buenos días"}}}})
                  .status,
              200);
    EXPECT_EQ(http().get("/t/alpha/hello/greet?name=Ana").json()["message"], "Buenos días, Ana");
    auto effective = http().get("/api/v1/tenants/alpha/plugins", kAdmin).json()["items"][0];
    EXPECT_EQ(effective["settings"], json({{"greeting", "Buenos días"}, {"punctuation", ""}}));

    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", false}}).status, 200);
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}}).status, 200);
    EXPECT_EQ(http().get("/t/alpha/hello/greet?name=Ana").json()["message"], "Buenos días, Ana");
}

TEST_P(HostTest, PluginTablesAreMigratedPerTenantAndIsolated) {
    create_tenant("alpha");
    create_tenant("beta");
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}}).status, 200);
    ASSERT_EQ(set_plugin("beta", "hello", {{"enabled", true}}).status, 200);
    for (int i = 0; i < 2; ++i) {
        auto posted = http().send("POST", "/t/alpha/hello/greetings", R"({"name":"Ana"})", kAdmin);
        ASSERT_EQ(posted.status, 201) << posted.body;
        EXPECT_EQ(posted.json()["greeting"]["times"], i + 1);
        EXPECT_EQ(posted.json()["event_id"].get<std::string>().size(), 36u);
    }
    EXPECT_EQ(http().get("/t/alpha/hello/greetings", kAdmin).json()["items"].size(), 1u);
    EXPECT_TRUE(http().get("/t/beta/hello/greetings", kAdmin).json()["items"].empty());
    // Enabling again does not re-run the migration (it would fail: the table exists).
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}}).status, 200);
}

TEST_P(HostTest, TenantRoutesNeedACredentialUnlessPublic) {
    create_tenant("alpha");
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}}).status, 200);
    auto anonymous = http().send("POST", "/t/alpha/hello/greetings", R"({"name":"Ana"})");
    expect_problem(anonymous, 401);
    EXPECT_NE(anonymous.header("www-authenticate").find("Bearer"), std::string::npos);
    expect_problem(http().send("POST", "/t/alpha/hello/greetings", R"({"name":"Ana"})",
                               {"Authorization: Bearer wrong-token-wrong-token"}),
                   401);
    EXPECT_EQ(http().get("/t/alpha/hello/greet?name=Ana").status, 200);
}

TEST_P(HostTest, AdminApiRefusesMissingAndWrongTokens) {
    for (const auto& headers : std::vector<std::vector<std::string>>{
             {}, {"Authorization: Bearer nope-nope-nope-nope"}, {"Authorization: Basic abc"}}) {
        auto denied = http().get("/api/v1/tenants", headers);
        expect_problem(denied, 401);
        EXPECT_NE(denied.header("www-authenticate").find("Bearer"), std::string::npos);
    }
    EXPECT_EQ(http().get("/api/v1/tenants", kAdmin).status, 200);
}

TEST_P(HostTest, TenantLifecycleAndBadInput) {
    create_tenant("alpha");
    expect_problem(http().send("POST", "/api/v1/tenants",
                               R"({"id":"alpha","name":"again","timezone":"UTC"})", kAdmin),
                   409);
    expect_problem(http().send("POST", "/api/v1/tenants", R"({"id": "broken",)", kAdmin), 400);
    expect_problem(http().send("POST", "/api/v1/tenants", "[1,2]", kAdmin), 400);
    auto invalid =
        http().send("POST", "/api/v1/tenants",
                    R"({"id":"Bad Id","name":"","timezone":"Mars/Olympus","extra":1})", kAdmin);
    expect_problem(invalid, 400);
    EXPECT_EQ(invalid.json()["errors"].size(), 4u) << invalid.body;
    expect_problem(http().get("/api/v1/tenants/nobody", kAdmin), 404);

    auto patched = http().send("PATCH", "/api/v1/tenants/alpha",
                               R"({"name":"Clínica Alfa","locale":"en-US"})", kAdmin);
    ASSERT_EQ(patched.status, 200) << patched.body;
    EXPECT_EQ(patched.json()["name"], "Clínica Alfa");
    EXPECT_EQ(http().get("/api/v1/tenants/alpha", kAdmin).json()["locale"], "en-US");
    expect_problem(http().send("PATCH", "/api/v1/tenants/alpha", R"({"status":"gone"})", kAdmin),
                   400);
    expect_problem(http().send("PATCH", "/api/v1/tenants/nobody", R"({"name":"x"})", kAdmin), 404);
    expect_problem(set_plugin("alpha", "nosuchplugin", {{"enabled", true}}), 404);
    expect_problem(set_plugin("nobody", "hello", {{"enabled", true}}), 404);
    expect_problem(set_plugin("alpha", "hello", {{"enabled", "yes"}}), 400);
    expect_problem(set_plugin("alpha", "probe", {{"enabled", true}}), 409);  // platform scope
}

TEST_P(HostTest, SuspendedTenantAnswers404UntilReactivated) {
    create_tenant("alpha");
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}}).status, 200);
    ASSERT_EQ(
        http().send("PATCH", "/api/v1/tenants/alpha", R"({"status":"suspended"})", kAdmin).status,
        200);
    expect_problem(http().get("/t/alpha/hello/greet?name=Ana"), 404);
    ASSERT_EQ(
        http().send("PATCH", "/api/v1/tenants/alpha", R"({"status":"active"})", kAdmin).status,
        200);
    EXPECT_EQ(http().get("/t/alpha/hello/greet?name=Ana").status, 200);
}

TEST_P(HostTest, TenantListIsPaginatedByCursor) {
    for (const auto* id : {"c-clinic", "a-clinic", "b-clinic"}) create_tenant(id);
    auto first = http().get("/api/v1/tenants?limit=2", kAdmin).json();
    ASSERT_EQ(first["items"].size(), 2u);
    EXPECT_EQ(first["items"][0]["id"], "a-clinic");
    ASSERT_TRUE(first["next_cursor"].is_string());
    auto second =
        http()
            .get("/api/v1/tenants?limit=2&cursor=" + first["next_cursor"].get<std::string>(),
                 kAdmin)
            .json();
    ASSERT_EQ(second["items"].size(), 1u);
    EXPECT_EQ(second["items"][0]["id"], "c-clinic");
    EXPECT_TRUE(second["next_cursor"].is_null());
    expect_problem(http().get("/api/v1/tenants?limit=0", kAdmin), 400);
    expect_problem(http().get("/api/v1/tenants?limit=abc", kAdmin), 400);
}

TEST_P(HostTest, RoutingErrorsAreProblems) {
    expect_problem(http().get("/no/such/route"), 404);
    auto wrong_method = http().send("DELETE", "/healthz");
    expect_problem(wrong_method, 405);
    EXPECT_EQ(wrong_method.header("allow"), "GET, HEAD");
    EXPECT_EQ(http().send("HEAD", "/healthz").status, 200);
}

TEST_P(HostTest, OversizeBodyIs413AndTheHostKeepsServing) {
    const std::string two_megabytes(2 * 1024 * 1024, 'x');
    expect_problem(http().send("POST", "/api/v1/tenants", two_megabytes, kAdmin), 413);
    EXPECT_EQ(http().get("/healthz").status, 200);
}

TEST_P(HostTest, FailingPluginGets500WithoutLeakingAndHostKeepsServing) {
    auto crashed = http().get("/p/probe/crash", kAdmin);
    expect_problem(crashed, 500);
    EXPECT_EQ(crashed.body.find("no_such_table"), std::string::npos) << "internals leaked";
    EXPECT_FALSE(crashed.json()["request_id"].get<std::string>().empty());
    EXPECT_TRUE(host_->log_contains("no_such_table")) << "the log keeps the cause";
    auto status = http().get("/p/probe/status", kAdmin);
    ASSERT_EQ(status.status, 200) << status.body;
    EXPECT_EQ(status.json()["marks"], 0);
}

TEST_P(HostTest, PluginsPublishOnlyTheEventsTheyDeclare) {
    auto published = http().send("POST", "/p/probe/publish", "", kAdmin);
    ASSERT_EQ(published.status, 201) << published.body;
    EXPECT_EQ(published.json()["id"].get<std::string>().size(), 36u);
    expect_problem(http().send("POST", "/p/probe/publish-undeclared", "", kAdmin), 500);
    EXPECT_TRUE(host_->log_contains("is not in the manifest's events_emitted"));
}

TEST_P(HostTest, SchedulesAreListedRunAsOfAnInstantPausedAndRecorded) {
    create_tenant("alpha");
    create_tenant("beta");
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}}).status, 200);
    const std::string base = "/api/v1/tenants/alpha/plugins/hello/schedules";

    auto schedules = http().get(base, kAdmin);
    ASSERT_EQ(schedules.status, 200) << schedules.body;
    const json daily = schedules.json()["items"][0];
    EXPECT_EQ(daily["name"], "daily-summary");
    EXPECT_EQ(daily["cron"], "0 9 * * *");
    EXPECT_EQ(daily["paused"], false);
    EXPECT_TRUE(daily["next_run_at"].is_string());

    auto run = http().send("POST", base + "/daily-summary/run",
                           R"({"as_of": "2026-11-30T09:00:00-06:00"})", kAdmin);
    ASSERT_EQ(run.status, 200) << run.body;
    EXPECT_EQ(run.json()["status"], "succeeded");
    EXPECT_EQ(run.json()["scheduled_at"], "2026-11-30T15:00:00Z");
    EXPECT_EQ(run.json()["attempts"], 1);

    auto listed = http().get("/api/v1/tenants/alpha/runs?plugin=hello", kAdmin).json()["items"];
    ASSERT_EQ(listed.size(), 1u);
    for (const auto* field :
         {"schedule", "plugin", "scheduled_at", "started_at", "status", "attempts", "error"}) {
        EXPECT_TRUE(listed[0].contains(field)) << field;
    }
    EXPECT_EQ(http().get("/api/v1/tenants/beta/runs", kAdmin).json()["items"].size(), 0u)
        << "runs are per tenant";
    const std::string run_id = listed[0]["id"];
    expect_problem(http().get("/api/v1/tenants/beta/runs/" + run_id, kAdmin), 404);
    expect_problem(
        http().send("POST", "/api/v1/tenants/alpha/runs/" + run_id + "/retry", "", kAdmin),
        409);  // it succeeded

    auto paused = http().send("PUT", base + "/daily-summary", R"({"paused": true})", kAdmin);
    ASSERT_EQ(paused.status, 200) << paused.body;
    EXPECT_EQ(paused.json()["paused"], true);
    EXPECT_TRUE(paused.json()["next_run_at"].is_null());

    // Bad input.
    expect_problem(
        http().send("POST", base + "/daily-summary/run", R"({"as_of": "tomorrow"})", kAdmin), 400);
    expect_problem(http().send("POST", base + "/daily-summary/run", R"({"as_of": )", kAdmin), 400);
    expect_problem(http().send("POST", base + "/nope/run", "", kAdmin), 404);
    expect_problem(
        http().send("POST", "/api/v1/tenants/beta/plugins/hello/schedules/daily-summary/run", "",
                    kAdmin),
        404);  // not enabled for beta
    expect_problem(http().send("PUT", base + "/daily-summary", R"({"paused": "yes"})", kAdmin),
                   400);
    expect_problem(http().get("/api/v1/tenants/alpha/runs?status=exploded", kAdmin), 400);
    expect_problem(http().get("/api/v1/tenants/nobody/runs", kAdmin), 404);
    expect_problem(http().get("/api/v1/tenants/alpha/runs"), 401);
}

TEST_P(HostTest, FailedRunIsVisibleAndRetryable) {
    create_tenant("alpha");
    ASSERT_EQ(set_plugin("alpha", "flaky", {{"enabled", true}}).status, 200);
    auto run = http().send("POST", "/api/v1/tenants/alpha/plugins/flaky/schedules/explode/run", "",
                           kAdmin);
    ASSERT_EQ(run.status, 200) << run.body;
    EXPECT_EQ(run.json()["status"], "failed");
    EXPECT_EQ(run.json()["error"], "boom in schedule");
    const std::string id = run.json()["id"];
    EXPECT_TRUE(host_->log_contains("scheduled run failed"));

    auto retried = http().send("POST", "/api/v1/tenants/alpha/runs/" + id + "/retry", "", kAdmin);
    ASSERT_EQ(retried.status, 202) << retried.body;
    EXPECT_EQ(retried.json()["status"], "queued");
    json after;
    for (int attempt = 0; attempt < 60; ++attempt) {
        after = http().get("/api/v1/tenants/alpha/runs/" + id, kAdmin).json();
        if (after["status"] == "failed") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(after["status"], "failed") << after.dump();
    EXPECT_EQ(after["attempts"], 2);
}

TEST_P(HostTest, EventsArePublishedRecordedAndDeliveredToEnabledHandlers) {
    create_tenant("alpha");
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}}).status, 200);
    ASSERT_EQ(set_plugin("alpha", "hello", {{"enabled", true}, {"settings", {{"greeting", "Hey"}}}})
                  .status,
              200);

    auto published = http().send("POST", "/t/alpha/events",
                                 R"({"type": "hello.greeted", "data": {"name": "Ana"}})", kAdmin);
    ASSERT_EQ(published.status, 202) << published.body;
    const std::string id = published.json()["id"];

    // hello's handler subscribes to hello.greeted: its delivery is acknowledged soon.
    json deliveries;
    for (int attempt = 0; attempt < 60; ++attempt) {
        deliveries =
            http().get("/api/v1/tenants/alpha/deliveries?status=delivered", kAdmin).json()["items"];
        if (!deliveries.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(deliveries.size(), 1u);
    EXPECT_EQ(deliveries[0]["event_id"], id);
    EXPECT_EQ(deliveries[0]["subscriber"], "hello/log-greeting");
    EXPECT_TRUE(host_->log_contains("greeted Ana"));

    std::set<std::string> types;
    const json events = http().get("/api/v1/tenants/alpha/events", kAdmin).json();
    for (const auto& event : events["items"]) {
        types.insert(event["type"].get<std::string>());
    }
    for (const auto* expected :
         {"tenant.created", "plugin.enabled", "settings.updated", "hello.greeted"}) {
        EXPECT_EQ(types.count(expected), 1u) << expected;
    }
    auto only = http().get("/api/v1/tenants/alpha/events?type=hello.greeted", kAdmin).json();
    ASSERT_EQ(only["items"].size(), 1u);
    EXPECT_EQ(only["items"][0]["source"], "api");
    EXPECT_EQ(only["items"][0]["data"], json({{"name", "Ana"}}));

    // Bad input: each a clear error, nothing stored.
    expect_problem(http().send("POST", "/t/alpha/events", R"({"type": "Not A Type"})", kAdmin),
                   400);
    expect_problem(
        http().send("POST", "/t/alpha/events", R"({"type": "a.b", "data": [1]})", kAdmin), 400);
    expect_problem(http().send("POST", "/t/alpha/events", R"({"type": )", kAdmin), 400);
    expect_problem(http().send("POST", "/t/alpha/events", R"({"type": "a.b"})"), 401);
    expect_problem(http().send("POST", "/t/nobody/events", R"({"type": "a.b"})", kAdmin), 404);
    expect_problem(http().get("/api/v1/tenants/alpha/deliveries?status=lost", kAdmin), 400);
    expect_problem(http().send("POST", "/api/v1/tenants/alpha/deliveries/" + id + "/redeliver",
                               R"({"subscriber": "hello/log-greeting"})", kAdmin),
                   404);  // delivered, not dead
    expect_problem(
        http().send("POST", "/api/v1/tenants/alpha/deliveries/" + id + "/redeliver", "{}", kAdmin),
        400);
    EXPECT_EQ(http().get("/api/v1/tenants/alpha/events?type=a.b", kAdmin).json()["items"].size(),
              0u);
}

// What an n8n Code node (or any receiver) does to trust a delivery: recompute the HMAC.
bool signature_is_valid(const std::string& header, const std::string& secret,
                        const std::string& body) {
    const auto comma = header.find(",v1=");
    if (header.rfind("t=", 0) != 0 || comma == std::string::npos) return false;
    const std::string timestamp = header.substr(2, comma - 2);
    const std::string signed_text = timestamp + "." + body;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest,
         &length);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < length; ++i) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return header.substr(comma + 4) == std::string(hex, 2 * length);
}

TEST_P(HostTest, WebhooksReceiveSignedEventsOfTheirTypesOnly) {
    miconsul::testing::HttpReceiver receiver;
    create_tenant("alpha");
    create_tenant("beta");
    auto created =
        http().send("POST", "/api/v1/tenants/alpha/webhooks",
                    json{{"url", receiver.url()}, {"event_types", {"hello.*"}}}.dump(), kAdmin);
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string secret = created.json()["secret"];
    EXPECT_EQ(secret.rfind("whsec_", 0), 0u);
    auto listed = http().get("/api/v1/tenants/alpha/webhooks", kAdmin).json()["items"];
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_FALSE(listed[0].contains("secret")) << "the secret is shown once";
    EXPECT_TRUE(http().get("/api/v1/tenants/beta/webhooks", kAdmin).json()["items"].empty());

    ASSERT_EQ(http().send("POST", "/t/alpha/events", R"({"type": "other.thing"})", kAdmin).status,
              202);
    ASSERT_EQ(http().send("POST", "/t/beta/events", R"({"type": "hello.greeted"})", kAdmin).status,
              202);
    auto published = http().send("POST", "/t/alpha/events",
                                 R"({"type": "hello.greeted", "data": {"name": "Ana"}})", kAdmin);
    ASSERT_EQ(published.status, 202);
    ASSERT_TRUE(receiver.wait_for(1)) << host_->log();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto requests = receiver.received();
    ASSERT_EQ(requests.size(), 1u) << "only alpha's hello.* events";
    const auto& request = requests[0];
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.path, "/hook");
    EXPECT_EQ(request.headers.at("content-type"), "application/json");
    EXPECT_EQ(request.headers.at("x-miconsul-event-type"), "hello.greeted");
    const json body = json::parse(request.body);
    EXPECT_EQ(body["id"], published.json()["id"]);
    EXPECT_EQ(body["tenant"], "alpha");
    EXPECT_EQ(body["data"], json({{"name", "Ana"}}));
    EXPECT_TRUE(
        signature_is_valid(request.headers.at("x-miconsul-signature"), secret, request.body))
        << request.headers.at("x-miconsul-signature");
    EXPECT_FALSE(signature_is_valid(request.headers.at("x-miconsul-signature"), "whsec_wrong",
                                    request.body));
}

TEST_P(HostTest, FailingWebhookIsRetriedThenDisabledWithAnEvent) {
    miconsul::testing::HttpReceiver receiver;
    receiver.answer_with(500);
    create_tenant("alpha");
    auto created =
        http().send("POST", "/api/v1/tenants/alpha/webhooks",
                    json{{"url", receiver.url()}, {"event_types", {"order.*"}}}.dump(), kAdmin);
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = created.json()["id"];
    ASSERT_EQ(http().send("POST", "/t/alpha/events", R"({"type": "order.placed"})", kAdmin).status,
              202);
    ASSERT_TRUE(receiver.wait_for(2)) << "a failed delivery is retried";
    json subscription;
    for (int attempt = 0; attempt < 60; ++attempt) {
        subscription = http().get("/api/v1/tenants/alpha/webhooks", kAdmin).json()["items"][0];
        if (subscription["status"] == "disabled") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(subscription["status"], "disabled");
    EXPECT_NE(subscription["disabled_reason"].get<std::string>().find("HTTP 500"),
              std::string::npos);
    const auto events =
        http().get("/api/v1/tenants/alpha/events?type=webhook.disabled", kAdmin).json()["items"];
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["data"]["id"], id);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(receiver.received().size(), 2u) << "nothing more goes to a disabled subscription";

    receiver.answer_with(200);
    auto reactivated =
        http().send("POST", "/api/v1/tenants/alpha/webhooks/" + id + "/reactivate", "", kAdmin);
    ASSERT_EQ(reactivated.status, 200) << reactivated.body;
    EXPECT_EQ(reactivated.json()["status"], "active");
    ASSERT_EQ(http().send("POST", "/t/alpha/events", R"({"type": "order.paid"})", kAdmin).status,
              202);
    EXPECT_TRUE(receiver.wait_for(3));
    EXPECT_EQ(http().send("DELETE", "/api/v1/tenants/alpha/webhooks/" + id, "", kAdmin).status,
              204);
    expect_problem(http().send("DELETE", "/api/v1/tenants/alpha/webhooks/" + id, "", kAdmin), 404);
}

TEST_P(HostTest, WebhookSubscriptionsRefuseBadInput) {
    create_tenant("alpha");
    const std::string path = "/api/v1/tenants/alpha/webhooks";
    expect_problem(
        http().send("POST", path, R"({"url": "ftp://x", "event_types": ["a.b"]})", kAdmin), 400);
    expect_problem(
        http().send("POST", path, R"({"url": "https://x.example/h", "event_types": []})", kAdmin),
        400);
    expect_problem(
        http().send("POST", path, R"({"url": "https://x.example/h", "event_types": ["Bad Type"]})",
                    kAdmin),
        400);
    expect_problem(http().send("POST", path, R"({"url": )", kAdmin), 400);
    expect_problem(
        http().send("POST", path, R"({"url": "https://x.example/h", "event_types": ["a.b"]})"),
        401);
    expect_problem(http().send("POST", "/api/v1/tenants/nobody/webhooks",
                               R"({"url": "https://x.example/h", "event_types": ["a.b"]})", kAdmin),
                   404);
}

TEST_P(HostTest, CallerRequestIdIsKeptAndGarbageReplaced) {
    EXPECT_EQ(http().get("/healthz", {"X-Request-Id: n8n-run-42"}).header("x-request-id"),
              "n8n-run-42");
    EXPECT_NE(http().get("/healthz", {"X-Request-Id: bad id with spaces"}).header("x-request-id"),
              "bad id with spaces");
}

TEST_P(HostTest, MalformedHttpDoesNotBlockOtherClients) {
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(host_->port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    const std::string garbage = "NOT HTTP AT ALL\r\n\x01\x02\r\n\r\n";
    ASSERT_GT(::write(client, garbage.data(), garbage.size()), 0);
    EXPECT_EQ(http().get("/healthz").status, 200);
    ::close(client);
    EXPECT_EQ(http().get("/healthz").status, 200);
}

TEST_P(HostTest, SigtermLetsRequestsInFlightFinish) {
    auto slow =
        std::async(std::launch::async, [this] { return http().get("/p/probe/sleep?ms=1500"); });
    // SIGTERM only once the request is in the plugin: on a loaded machine a fixed wait could
    // signal before the request even arrived (it failed so once).
    ASSERT_TRUE(host_->log_contains("probe sleep started", std::chrono::seconds(10)));
    const int status = host_->terminate();
    const HttpResult answer = slow.get();
    EXPECT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(answer.json()["slept_ms"], 1500);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << host_->log();
}

INSTANTIATE_TEST_SUITE_P(Backends, HostTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// An upgraded plugin migrates the tenants that already enabled it, at start, and stores the
// defaults of settings it added; what those tenants had set stays.
class PluginUpgrade : public ::testing::TestWithParam<std::string> {};

TEST_P(PluginUpgrade, RestartWithNewerVersionMigratesEnabledTenants) {
    std::string database_url;
    if (GetParam() == "postgresql") {
        MICONSUL_REQUIRE_POSTGRES();
        database_url =
            miconsul::testing::create_postgres_database(*miconsul::testing::postgres_admin_url());
    }
    miconsul::testing::ScratchDirectory scratch;
    const auto plugins = scratch.path() / "plugins";
    const auto versions = miconsul::testing::test_plugin_dir() / "upgradable";
    std::filesystem::create_directories(plugins);
    std::filesystem::create_symlink(versions / "upgradable_v1.so", plugins / "upgradable.so");
    {
        HostProcess v1(HostOptions{scratch.path(), plugins, database_url, {}});
        ASSERT_EQ(v1.http()
                      .send("POST", "/api/v1/tenants",
                            R"({"id":"alpha","name":"A","timezone":"UTC"})", kAdmin)
                      .status,
                  201);
        ASSERT_EQ(v1.http()
                      .send("PUT", "/api/v1/tenants/alpha/plugins/upgradable",
                            R"({"enabled":true,"settings":{"color":"red"}})", kAdmin)
                      .status,
                  200);
        auto state = v1.http().get("/t/alpha/upgradable/state", kAdmin);
        ASSERT_EQ(state.status, 200) << state.body;
        EXPECT_EQ(state.json()["tables"], json::array({0}));
    }
    std::filesystem::remove(plugins / "upgradable.so");
    std::filesystem::create_symlink(versions / "upgradable_v2.so", plugins / "upgradable.so");
    HostProcess v2(HostOptions{scratch.path(), plugins, database_url, {}});
    auto state = v2.http().get("/t/alpha/upgradable/state", kAdmin);
    ASSERT_EQ(state.status, 200) << state.body << v2.log();
    EXPECT_EQ(state.json()["tables"], json::array({0, 0}));
    EXPECT_EQ(state.json()["settings"], json({{"color", "red"}, {"size", 3}}));
}

INSTANTIATE_TEST_SUITE_P(Backends, PluginUpgrade, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// Redis, when configured, is part of readiness.
class HostWithRedisTest : public HostTest {
protected:
    std::map<std::string, std::string> extra_environment() const override {
        return {{"MICONSUL_REDIS_URL", redis_url_}};
    }
    std::string redis_url_;
};

class ReachableRedis : public HostWithRedisTest {
protected:
    void SetUp() override {
        auto url = miconsul::testing::redis_url();
        if (!url) {
            if (miconsul::testing::servers_required()) FAIL() << "MICONSUL_TEST_REDIS_URL unset";
            GTEST_SKIP() << "no Redis: run through scripts/test.sh";
        }
        redis_url_ = *url;
        HostTest::SetUp();
    }
};

TEST_P(ReachableRedis, ReadinessReportsRedis) {
    EXPECT_EQ(http().get("/readyz").json()["checks"]["redis"]["status"], "ok");
}

INSTANTIATE_TEST_SUITE_P(Embedded, ReachableRedis, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

// A client that never finishes its headers (slowloris) is cut off after header_timeout_ms.
class ShortHeaderTimeout : public HostTest {
protected:
    std::map<std::string, std::string> extra_environment() const override {
        return {{"MICONSUL_HEADER_TIMEOUT_MS", "500"}};
    }
};

TEST_P(ShortHeaderTimeout, IncompleteRequestIsClosedWith408) {
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval receive_limit{5, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &receive_limit, sizeof receive_limit);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(host_->port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    const std::string partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";  // no blank line
    ASSERT_GT(::write(client, partial.data(), partial.size()), 0);
    const auto started = std::chrono::steady_clock::now();
    char buffer[512] = {};
    const ssize_t received = ::read(client, buffer, sizeof buffer - 1);
    const auto waited = std::chrono::steady_clock::now() - started;
    ::close(client);
    ASSERT_GT(received, 0) << "the host held the connection past 5 s";
    EXPECT_EQ(std::string(buffer).rfind("HTTP/1.1 408", 0), 0u) << buffer;
    EXPECT_LT(waited, std::chrono::seconds(3));
    EXPECT_EQ(http().get("/healthz").status, 200);
}

INSTANTIATE_TEST_SUITE_P(Embedded, ShortHeaderTimeout, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

class JsonLogs : public HostTest {
protected:
    std::map<std::string, std::string> extra_environment() const override {
        return {{"MICONSUL_LOG_FORMAT", "json"}};
    }
};

TEST_P(JsonLogs, EveryLineIsOneJsonObjectWithTheRequestFields) {
    ASSERT_EQ(http().get("/healthz", {"X-Request-Id: trace-me"}).status, 200);
    ASSERT_TRUE(host_->log_contains("trace-me"));
    std::istringstream lines(host_->log());
    std::string line;
    bool found_request = false;
    while (std::getline(lines, line)) {
        const json parsed = json::parse(line, nullptr, false);
        ASSERT_TRUE(parsed.is_object()) << line;
        EXPECT_TRUE(parsed.contains("level") && parsed.contains("msg") && parsed.contains("time"));
        if (parsed.value("request_id", "") == "trace-me") {
            found_request = true;
            EXPECT_EQ(parsed["path"], "/healthz");
            EXPECT_EQ(parsed["status"], 200);
        }
    }
    EXPECT_TRUE(found_request) << host_->log();
}

INSTANTIATE_TEST_SUITE_P(Embedded, JsonLogs, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

TEST(HostStart, UnreachableRedisMakesTheHostUnreadyButServing) {
    miconsul::testing::ScratchDirectory scratch;
    std::filesystem::create_directories(scratch.path() / "plugins");
    const int dead_port = miconsul::testing::free_port();
    // HostProcess waits for /readyz 200, which never comes: start it by hand instead.
    const std::string environment =
        "MICONSUL_REDIS_URL=redis://127.0.0.1:" + std::to_string(dead_port);
    const int port = miconsul::testing::free_port();
    const pid_t pid = fork();
    if (pid == 0) {
        const std::string listen = "MICONSUL_LISTEN=127.0.0.1:" + std::to_string(port);
        const std::string data = "MICONSUL_DATA_DIR=" + scratch.path().string();
        const std::string plugins = "MICONSUL_PLUGIN_DIR=" + (scratch.path() / "plugins").string();
        const std::string log = (scratch.path() / "host.log").string();
        freopen(log.c_str(), "w", stderr);
        char* envp[] = {const_cast<char*>(listen.c_str()), const_cast<char*>(data.c_str()),
                        const_cast<char*>(plugins.c_str()), const_cast<char*>(environment.c_str()),
                        nullptr};
        const std::string binary = miconsul::testing::host_binary().string();
        char* argv[] = {const_cast<char*>(binary.c_str()), nullptr};
        execve(binary.c_str(), argv, envp);
        _exit(127);
    }
    miconsul::testing::HttpClient client("http://127.0.0.1:" + std::to_string(port));
    HttpResult ready;
    for (int attempt = 0; attempt < 100; ++attempt) {
        try {
            ready = client.get("/readyz");
            break;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    EXPECT_EQ(ready.status, 503) << ready.body;
    EXPECT_EQ(ready.header("content-type"), "application/problem+json");
    EXPECT_EQ(json::parse(ready.body)["checks"]["redis"]["status"], "failing");
    EXPECT_EQ(client.get("/healthz").status, 200);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
}

TEST(HostStart, CheckConfigReportsProblemsAndExitsNonZero) {
    miconsul::testing::ScratchDirectory scratch;
    const auto config = scratch.path() / "bad.json";
    std::ofstream(config) << R"({"threads": -1, "listen": "nowhere"})";
    const std::string command = miconsul::testing::host_binary().string() +
                                " --check-config --config " + config.string() + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    std::string output;
    char buffer[256];
    while (fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
    const int status = pclose(pipe);
    EXPECT_NE(WEXITSTATUS(status), 0);
    EXPECT_NE(output.find("threads"), std::string::npos) << output;
    EXPECT_NE(output.find("listen"), std::string::npos) << output;
}
}  // namespace

namespace {
// Polls `path` on `client` until it answers `status`, for up to 3 s.
bool eventually_answers(const miconsul::testing::HttpClient& client, const std::string& path,
                        long status) {
    for (int attempt = 0; attempt < 60; ++attempt) {
        if (client.get(path).status == status) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

TEST(TwoInstances, EnablementMadeOnOneTakesEffectOnTheOtherWithoutRestart) {
    MICONSUL_REQUIRE_POSTGRES();
    const std::string database_url =
        miconsul::testing::create_postgres_database(*miconsul::testing::postgres_admin_url());
    miconsul::testing::ScratchDirectory scratch_a, scratch_b;
    for (const auto* scratch : {&scratch_a, &scratch_b}) {
        std::filesystem::create_directories(scratch->path() / "plugins");
        std::filesystem::create_symlink(miconsul::testing::shipped_plugin_dir() / "hello.so",
                                        scratch->path() / "plugins" / "hello.so");
    }
    HostProcess a(HostOptions{scratch_a.path(), scratch_a.path() / "plugins", database_url, {}});
    HostProcess b(HostOptions{scratch_b.path(), scratch_b.path() / "plugins", database_url, {}});
    const std::string greet = "/t/shared/hello/greet?name=Ana";

    ASSERT_EQ(a.http()
                  .send("POST", "/api/v1/tenants",
                        R"({"id":"shared","name":"Shared","timezone":"UTC"})", kAdmin)
                  .status,
              201);
    ASSERT_EQ(
        a.http()
            .send("PUT", "/api/v1/tenants/shared/plugins/hello", R"({"enabled":true})", kAdmin)
            .status,
        200);
    EXPECT_TRUE(eventually_answers(b.http(), greet, 200)) << "B never saw A's enablement";

    ASSERT_EQ(
        b.http()
            .send("PUT", "/api/v1/tenants/shared/plugins/hello", R"({"enabled":false})", kAdmin)
            .status,
        200);
    EXPECT_TRUE(eventually_answers(a.http(), greet, 404)) << "A never saw B's disablement";

    ASSERT_EQ(
        b.http()
            .send("PUT", "/api/v1/tenants/shared/plugins/hello", R"({"enabled":true})", kAdmin)
            .status,
        200);
    ASSERT_TRUE(eventually_answers(a.http(), greet, 200));
    ASSERT_EQ(b.http()
                  .send("PATCH", "/api/v1/tenants/shared", R"({"status":"suspended"})", kAdmin)
                  .status,
              200);
    EXPECT_TRUE(eventually_answers(a.http(), greet, 404)) << "A never saw the suspension";
}
}  // namespace
