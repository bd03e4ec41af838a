// Several real host processes on one PostgreSQL database: each scheduled instant runs once,
// each event is handled once per handler, and work of an instance killed with SIGKILL is
// recovered by another.
#include "support/host_process.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <thread>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::kAdminHeader;
using nlohmann::json;

const std::vector<std::string> kAdmin = {kAdminHeader};

class InstancesTest : public ::testing::Test {
protected:
    void SetUp() override {
        MICONSUL_REQUIRE_POSTGRES();
        database_url_ =
            miconsul::testing::create_postgres_database(*miconsul::testing::postgres_admin_url());
        std::filesystem::create_directories(scratch_.path() / "plugins");
        std::filesystem::create_symlink(miconsul::testing::test_plugin_dir() / "test_counter.so",
                                        scratch_.path() / "plugins" / "test_counter.so");
    }

    std::unique_ptr<HostProcess> start(const std::string& name, const std::string& redis_url = "") {
        const auto data = scratch_.path() / name;
        std::filesystem::create_directories(data);
        std::map<std::string, std::string> environment = {{"MICONSUL_SCHEDULER_TICK_MS", "200"},
                                                          {"MICONSUL_LEASE_MS", "2000"},
                                                          {"MICONSUL_WEBHOOK_TIMEOUT_MS", "500"}};
        if (!redis_url.empty()) environment["MICONSUL_REDIS_URL"] = redis_url;
        return std::make_unique<HostProcess>(
            HostOptions{data, scratch_.path() / "plugins", database_url_, environment});
    }

    static void setup_tenant(const HostProcess& host) {
        ASSERT_EQ(host.http()
                      .send("POST", "/api/v1/tenants",
                            R"({"id":"sol","name":"Sol","timezone":"UTC"})", kAdmin)
                      .status,
                  201);
        ASSERT_EQ(
            host.http()
                .send("PUT", "/api/v1/tenants/sol/plugins/counter", R"({"enabled":true})", kAdmin)
                .status,
            200);
    }

    // kind → {hits, distinct keys}
    static std::map<std::string, std::pair<int, int>> hits(const HostProcess& host) {
        std::map<std::string, std::pair<int, int>> counts;
        const json rows = host.http().get("/t/sol/counter/hits", kAdmin).json();
        for (const auto& row : rows) {
            counts[row["kind"]] = {row["hits"].get<int>(), row["distinct_keys"].get<int>()};
        }
        return counts;
    }

    static bool eventually(const std::function<bool()>& condition, int seconds) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (std::chrono::steady_clock::now() < deadline) {
            if (condition()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::string database_url_;
};

TEST_F(InstancesTest, EachInstantAndEachEventIsHandledOnceAcrossInstances) {
    auto a = start("a");
    auto b = start("b");
    setup_tenant(*a);
    // b learns of the tenant through PostgreSQL's NOTIFY: on a loaded machine, not at once.
    ASSERT_TRUE(
        eventually([&] { return b->http().get("/t/sol/counter/hits", kAdmin).status == 200; }, 10));
    for (int i = 0; i < 30; ++i) {
        const auto& host = i % 2 == 0 ? *a : *b;
        ASSERT_EQ(
            host.http().send("POST", "/t/sol/events", R"({"type":"counter.bump"})", kAdmin).status,
            202);
    }
    std::this_thread::sleep_for(std::chrono::seconds(4));  // about four every-second instants
    ASSERT_TRUE(eventually([&] { return hits(*a)["event"].first >= 30; }, 20));
    const auto counts = hits(*a);
    EXPECT_EQ(counts.at("event"), std::make_pair(30, 30)) << "each event once per handler";
    ASSERT_TRUE(counts.count("tick"));
    EXPECT_GE(counts.at("tick").first, 2);
    EXPECT_EQ(counts.at("tick").first, counts.at("tick").second) << "no instant ran twice";
}

TEST_F(InstancesTest, WithRedisStreamsEachEventIsHandledOnce) {
    auto redis = miconsul::testing::redis_url();
    if (!redis) {
        if (miconsul::testing::servers_required()) FAIL() << "MICONSUL_TEST_REDIS_URL unset";
        GTEST_SKIP() << "no Redis";
    }
    auto a = start("a", *redis);
    auto b = start("b", *redis);
    setup_tenant(*a);
    ASSERT_TRUE(
        eventually([&] { return b->http().get("/t/sol/counter/hits", kAdmin).status == 200; }, 5));
    for (int i = 0; i < 40; ++i) {
        const auto& host = i % 2 == 0 ? *a : *b;
        ASSERT_EQ(
            host.http().send("POST", "/t/sol/events", R"({"type":"counter.bump"})", kAdmin).status,
            202);
    }
    ASSERT_TRUE(eventually([&] { return hits(*a)["event"].first >= 40; }, 20));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(hits(*a).at("event"), std::make_pair(40, 40)) << "each event once per handler";
}

// A Redis of the test's own, so the test can stop and start it.
class OwnRedis {
public:
    OwnRedis() : port_(miconsul::testing::free_port()) { start(); }
    ~OwnRedis() { stop(); }
    void start() {
        const std::string command = "redis-server --bind 127.0.0.1 --port " +
                                    std::to_string(port_) +
                                    " --save '' --appendonly no --daemonize yes >/dev/null";
        EXPECT_EQ(std::system(command.c_str()), 0);
        for (int i = 0; i < 50 && !ping(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    void stop() {
        const std::string command =
            "redis-cli -p " + std::to_string(port_) + " shutdown nosave >/dev/null 2>&1";
        std::system(command.c_str());
        for (int i = 0; i < 50 && ping(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    bool ping() const {
        const std::string command =
            "redis-cli -p " + std::to_string(port_) + " ping 2>/dev/null | grep -q PONG";
        return std::system(command.c_str()) == 0;
    }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

private:
    int port_;
};

TEST_F(InstancesTest, EventsPublishedWhileRedisIsDownAreDeliveredNothingLost) {
    OwnRedis redis;
    ASSERT_TRUE(redis.ping());
    auto a = start("a", redis.url());
    setup_tenant(*a);
    auto bump = [&](int count) {
        for (int i = 0; i < count; ++i) {
            ASSERT_EQ(a->http()
                          .send("POST", "/t/sol/events", R"({"type":"counter.bump"})", kAdmin)
                          .status,
                      202);
        }
    };
    bump(5);
    ASSERT_TRUE(eventually([&] { return hits(*a)["event"].first >= 5; }, 10));

    redis.stop();
    EXPECT_TRUE(eventually([&] { return a->http().get("/readyz").status == 503; }, 5))
        << "readiness reports the outage";
    bump(5);
    ASSERT_TRUE(eventually([&] { return hits(*a)["event"].first >= 10; }, 15)) << a->log();

    redis.start();
    EXPECT_TRUE(eventually([&] { return a->http().get("/readyz").status == 200; }, 5));
    bump(5);
    ASSERT_TRUE(eventually([&] { return hits(*a)["event"].first >= 15; }, 15)) << a->log();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(hits(*a).at("event"), std::make_pair(15, 15));
}

TEST_F(InstancesTest, RunOfAKilledInstanceIsRecoveredByAnother) {
    auto a = start("a");
    setup_tenant(*a);
    ASSERT_EQ(a->http()
                  .send("POST", "/api/v1/tenants/sol/plugins/counter/schedules/slow/run",
                        R"({"wait": false})", kAdmin)
                  .status,
              202);
    ASSERT_TRUE(a->log_contains("slow run started", std::chrono::seconds(5)));
    a->kill_hard();
    auto b = start("b");
    json runs;
    ASSERT_TRUE(eventually(
        [&] {
            runs = b->http()
                       .get("/api/v1/tenants/sol/runs?plugin=counter&schedule=slow", kAdmin)
                       .json()["items"];
            return runs.size() == 1 && runs[0]["status"] == "succeeded";
        },
        20))
        << b->log();
    EXPECT_EQ(runs[0]["status"], "succeeded");
    EXPECT_EQ(runs[0]["attempts"], 2);
    EXPECT_EQ(hits(*b)["slow-run"].first, 1);
}

TEST_F(InstancesTest, EventOfAKilledInstanceIsRedeliveredAndHandled) {
    auto a = start("a");
    setup_tenant(*a);
    auto published = a->http().send("POST", "/t/sol/events", R"({"type":"counter.slow"})", kAdmin);
    ASSERT_EQ(published.status, 202);
    ASSERT_TRUE(a->log_contains("slow event started", std::chrono::seconds(5)));
    a->kill_hard();
    auto b = start("b");
    json deliveries;
    // The handler's row comes first, its acknowledgement right after: wait for the latter.
    ASSERT_TRUE(eventually(
        [&] {
            deliveries = b->http()
                             .get("/api/v1/tenants/sol/deliveries?status=delivered", kAdmin)
                             .json()["items"];
            return deliveries.size() == 1;
        },
        // A lease to run out, a process to start, a handler of seconds: on two loaded cores
        // that once took longer than 20 s.
        40))
        << b->log();
    EXPECT_EQ(hits(*b)["slow-event"].first, 1);
    EXPECT_EQ(deliveries[0]["event_id"], published.json()["id"]);
    EXPECT_EQ(deliveries[0]["attempts"], 2);
}
TEST_F(InstancesTest, ATokenRevokedOnOneInstanceIsRefusedByTheOtherAtOnce) {
    const auto a = start("revoking-a");
    const auto b = start("revoking-b");
    setup_tenant(*a);
    const json issued = json::parse(
        a->http().send("POST", "/api/v1/tenants/sol/tokens", R"({"kind":"api"})", kAdmin).body);
    const std::vector<std::string> n8n = {"Authorization: Bearer " +
                                          issued["token"].get<std::string>()};
    // b has verified it, and would trust it for TokenStore::kTrustVerifiedFor (2 s) on its own.
    ASSERT_EQ(b->http().get("/t/sol/counter/hits", n8n).status, 200);
    ASSERT_EQ(a->http()
                  .send("DELETE", "/api/v1/tokens/" + issued["id"].get<std::string>(), "", kAdmin)
                  .status,
              204);
    const auto revoked_at = std::chrono::steady_clock::now();
    // PostgreSQL's NOTIFY reaches b within milliseconds; well before the trust would lapse.
    ASSERT_TRUE(
        eventually([&] { return b->http().get("/t/sol/counter/hits", n8n).status == 401; }, 2));
    EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, std::chrono::milliseconds(1000));
    EXPECT_EQ(a->http().get("/t/sol/counter/hits", n8n).status, 401);
}

TEST_F(InstancesTest, TwoInstancesOnOneRedisLetATenantThroughAtMostItsBudget) {
    OwnRedis redis;
    ASSERT_TRUE(redis.ping());
    const auto data_a = scratch_.path() / "limited-a";
    const auto data_b = scratch_.path() / "limited-b";
    std::filesystem::create_directories(data_a);
    std::filesystem::create_directories(data_b);
    const std::map<std::string, std::string> environment = {{"MICONSUL_REDIS_URL", redis.url()},
                                                            {"MICONSUL_RATE_LIMIT", "20"}};
    HostProcess a(HostOptions{data_a, scratch_.path() / "plugins", database_url_, environment});
    HostProcess b(HostOptions{data_b, scratch_.path() / "plugins", database_url_, environment});
    setup_tenant(a);
    const auto issued =
        a.http().send("POST", "/api/v1/tenants/sol/tokens", R"({"kind":"api"})", kAdmin);
    ASSERT_EQ(issued.status, 201);
    const std::vector<std::string> n8n = {"Authorization: Bearer " +
                                          json::parse(issued.body)["token"].get<std::string>()};

    int allowed = 0, limited = 0;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 40; ++i) {
        const auto answer = (i % 2 == 0 ? a : b).http().get("/t/sol/counter/hits", n8n);
        if (answer.status == 200) {
            ++allowed;
            EXPECT_EQ(answer.header("ratelimit-limit"), "20");
            EXPECT_FALSE(answer.header("ratelimit-remaining").empty());
        } else {
            ASSERT_EQ(answer.status, 429) << answer.body;
            ++limited;
            EXPECT_GE(std::stoi(answer.header("retry-after")), 1);
            EXPECT_EQ(answer.header("ratelimit-remaining"), "0");
            EXPECT_FALSE(answer.header("ratelimit-reset").empty());
        }
    }
    const auto seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // 20 at once, and one more every 3 s refilled while the test ran.
    EXPECT_GE(allowed, 20);
    EXPECT_LE(allowed, 20 + static_cast<int>(seconds / 3) + 1) << "one budget for both instances";
    EXPECT_EQ(allowed + limited, 40);
    EXPECT_EQ(a.http().get("/t/sol/counter/hits", kAdmin).status, 200)
        << "platform admins are not limited";
    EXPECT_EQ(json::parse(a.http().get("/readyz").body)["checks"]["rate_limit"]["detail"],
              "shared (redis)");
}

}  // namespace
