// The embedded event bus in process, on real SQLite and PostgreSQL, with a clock the test moves.
#include "bus/bus.h"
#include "clock/clock.h"
#include "plugins/host_services.h"
#include "redis/redis_probe.h"
#include "storage/migrations.h"
#include "support/test_database.h"
#include "support/test_environment.h"
#include "tenants/tenant_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {
using miconsul::bus::Bus;
using miconsul::bus::type_matches;
using miconsul::clock::ManualClock;
using nlohmann::json;

TEST(EventTypes, PatternsMatchExactTypesAndPrefixes) {
    EXPECT_TRUE(type_matches("payment.received", "payment.received"));
    EXPECT_FALSE(type_matches("payment.received", "payment.refunded"));
    EXPECT_TRUE(type_matches("payment.*", "payment.received"));
    EXPECT_TRUE(type_matches("payment.*", "payment.refund.issued"));
    EXPECT_FALSE(type_matches("payment.*", "payment"));
    EXPECT_FALSE(type_matches("payment.*", "payments.received"));
    EXPECT_TRUE(miconsul::bus::is_valid_event_type("appointment.created"));
    EXPECT_FALSE(miconsul::bus::is_valid_event_type("Appointment.Created"));
    EXPECT_FALSE(miconsul::bus::is_valid_event_type("appointment"));
    EXPECT_FALSE(miconsul::bus::is_valid_event_type("a..b"));
}

// Records what each handler saw; fails the first `fail_first` calls of a handler.
struct Recorder {
    std::mutex mutex;
    std::map<std::string, std::vector<std::string>> seen;  // handler → event ids
    std::map<std::string, int> fail_first;
};

struct HandlerTag {
    Recorder* recorder;
    std::string name;
};

mc_status record_event(void* user_data, const mc_call* call, const mc_event* event) {
    auto& tag = *static_cast<HandlerTag*>(user_data);
    std::lock_guard lock(tag.recorder->mutex);
    auto& seen = tag.recorder->seen[tag.name];
    seen.push_back(event->id);
    EXPECT_STREQ(call->tenant_id, event->tenant);
    EXPECT_EQ(json::parse(event->data_json).value("amount", 0), 500);
    if (static_cast<int>(seen.size()) <= tag.recorder->fail_first[tag.name]) {
        miconsul::plugins::host_api().log(call->context, MC_LOG_ERROR, "ledger offline");
        return MC_ERR_INTERNAL;
    }
    return MC_OK;
}

class BusTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        database_ = miconsul::testing::open_test_database(GetParam(), scratch_);
        tenants_ = std::make_unique<miconsul::tenants::TenantStore>(*database_);
        tenants_->load();
        for (const auto* id : {"sol", "luna"}) {
            miconsul::tenants::Tenant tenant;
            tenant.id = id;
            tenant.name = id;
            ASSERT_TRUE(tenants_->create(tenant));
        }
        tenants_->set_enablement("sol", "listener", true, json::object());
        services_ = std::make_unique<miconsul::plugins::HostServices>(
            miconsul::plugins::HostServices{*database_, miconsul::logging::Log::null()});

        auto plugin = std::make_shared<miconsul::plugins::LoadedPlugin>();
        plugin->manifest.name = "listener";
        plugin->manifest.scope = miconsul::plugins::Scope::tenant;
        plugin->event_handlers.push_back({"on-payment", "payment.*", &record_event, &on_payment_});
        plugin->event_handlers.push_back(
            {"on-received", "payment.received", &record_event, &on_received_});
        registry_.add({"listener", "", "listener.so", true, "", plugin});
    }

    std::unique_ptr<Bus> make_bus() {
        miconsul::bus::BusOptions options;
        options.workers = 0;
        options.max_attempts = 3;
        return std::make_unique<Bus>(*database_, *tenants_, registry_, *services_, clock_,
                                     miconsul::logging::Log::null(), options);
    }

    size_t seen(const std::string& handler) {
        std::lock_guard lock(recorder_.mutex);
        return recorder_.seen[handler].size();
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<miconsul::storage::Database> database_;
    std::unique_ptr<miconsul::tenants::TenantStore> tenants_;
    miconsul::plugins::PluginRegistry registry_;
    std::unique_ptr<miconsul::plugins::HostServices> services_;
    ManualClock clock_{miconsul::clock::parse_rfc3339("2026-03-01T13:00:00Z").value()};
    Recorder recorder_;
    HandlerTag on_payment_{&recorder_, "on-payment"};
    HandlerTag on_received_{&recorder_, "on-received"};
};

TEST_P(BusTest, DeliversToEachMatchingHandlerOfEnabledTenantsOnly) {
    auto bus = make_bus();
    const std::string id = bus->publish("sol", "api", "payment.received", {{"amount", 500}});
    bus->publish("sol", "api", "payment.refunded", {{"amount", 500}});
    bus->publish("luna", "api", "payment.received", {{"amount", 500}});  // not enabled there
    bus->tick();
    bus->tick();
    EXPECT_EQ(seen("on-payment"), 2u);
    EXPECT_EQ(seen("on-received"), 1u);
    EXPECT_EQ(recorder_.seen["on-received"][0], id);
    EXPECT_EQ(bus->deliveries("sol", "delivered", 50).size(), 3u);
    EXPECT_TRUE(bus->deliveries("luna", "", 50).empty());
    EXPECT_EQ(bus->events("luna", "", 50).size(), 1u) << "the event itself is still recorded";
}

TEST_P(BusTest, ConcurrentPublishersShareTransactionsAndEveryEventIsStoredOnce) {
    auto bus = make_bus();
    constexpr int kThreads = 8, kEach = 25;
    std::mutex ids_mutex;
    std::set<std::string> ids;
    std::vector<std::thread> publishers;
    for (int t = 0; t < kThreads; ++t) {
        publishers.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                auto id = bus->publish("sol", "api", "payment.refunded",
                                       {{"amount", 500}, {"n", t * kEach + i}});
                std::lock_guard lock(ids_mutex);
                ids.insert(id);
            }
        });
    }
    for (auto& publisher : publishers) publisher.join();
    EXPECT_EQ(ids.size(), size_t{kThreads * kEach}) << "one distinct id per publish";
    EXPECT_EQ(bus->events("sol", "payment.refunded", 500).size(), size_t{kThreads * kEach});
    for (int i = 0; i < 10 && seen("on-payment") < size_t{kThreads * kEach}; ++i) bus->tick();
    EXPECT_EQ(seen("on-payment"), size_t{kThreads * kEach}) << "each delivered, once";
    EXPECT_EQ(seen("on-received"), 0u);
}

TEST_P(BusTest, AFailingHandlerIsRetriedWithBackoffThenDeadLetteredAndAffectsNoOther) {
    recorder_.fail_first["on-received"] = 100;
    auto bus = make_bus();
    bus->publish("sol", "api", "payment.received", {{"amount", 500}});
    bus->tick();
    EXPECT_EQ(seen("on-payment"), 1u);
    EXPECT_EQ(seen("on-received"), 1u);
    auto pending = bus->deliveries("sol", "pending", 50);
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].last_error.value_or(""), "ledger offline");
    EXPECT_EQ(pending[0].next_attempt_at, "2026-03-01T13:00:05Z");
    clock_.advance(std::chrono::seconds(4));
    bus->tick();
    EXPECT_EQ(seen("on-received"), 1u) << "not before its backoff";
    clock_.advance(std::chrono::seconds(2));
    bus->tick();
    EXPECT_EQ(seen("on-received"), 2u);
    clock_.advance(std::chrono::seconds(11));  // second backoff: 10 s
    bus->tick();
    EXPECT_EQ(seen("on-received"), 3u);
    auto dead = bus->deliveries("sol", "dead", 50);
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].subscriber, "listener/on-received");
    EXPECT_EQ(dead[0].attempts, 3);
    clock_.advance(std::chrono::hours(1));
    bus->tick();
    EXPECT_EQ(seen("on-received"), 3u) << "dead letters stay dead";

    recorder_.fail_first["on-received"] = 0;
    EXPECT_TRUE(bus->redeliver("sol", dead[0].event_id, dead[0].subscriber));
    EXPECT_FALSE(bus->redeliver("luna", dead[0].event_id, dead[0].subscriber)) << "other tenant";
    bus->tick();
    EXPECT_EQ(seen("on-received"), 4u);
    EXPECT_EQ(bus->deliveries("sol", "delivered", 50).size(), 2u);
}

TEST_P(BusTest, HandlerOfAPluginDisabledSinceGetsNothing) {
    auto bus = make_bus();
    bus->publish("sol", "api", "payment.received", {{"amount", 500}});
    tenants_->set_enablement("sol", "listener", false, json::object());
    bus->tick();
    EXPECT_EQ(seen("on-payment") + seen("on-received"), 0u);
    EXPECT_EQ(bus->deliveries("sol", "skipped", 50).size(), 2u);
}

TEST_P(BusTest, DeliveriesOfACrashedInstanceAreRecovered) {
    auto bus = make_bus();
    const std::string id = bus->publish("sol", "api", "payment.received", {{"amount", 500}});
    // Another instance took both deliveries and died: leases end at 13:00:30.
    database_->with_platform([&](soci::session& session) {
        session << "UPDATE event_deliveries SET status = 'delivering', attempts = 1,"
                   " lease_owner = 'dead', lease_until = '2026-03-01T13:00:30Z'";
    });
    bus->tick();
    EXPECT_EQ(seen("on-payment"), 0u) << "the lease still holds";
    clock_.set(miconsul::clock::parse_rfc3339("2026-03-01T13:00:31Z").value());
    bus->tick();
    EXPECT_EQ(seen("on-payment"), 1u);
    EXPECT_EQ(seen("on-received"), 1u);
}

TEST_P(BusTest, SeveralInstancesHandleEachEventOncePerHandler) {
    std::vector<std::unique_ptr<Bus>> instances;
    for (int i = 0; i < 3; ++i) instances.push_back(make_bus());
    for (int i = 0; i < 20; ++i) {
        instances[static_cast<size_t>(i) % 3]->publish("sol", "api", "payment.received",
                                                       {{"amount", 500}});
    }
    for (int round = 0; round < 3; ++round) {
        for (auto& instance : instances) instance->tick();
    }
    EXPECT_EQ(seen("on-payment"), 20u);
    EXPECT_EQ(seen("on-received"), 20u);
}

// Holds every call until opened, recording the events it was given.
struct Gate {
    std::mutex mutex;
    std::condition_variable opened;
    bool open = false;
    std::vector<std::string> seen;
    int arrived = 0;  // calls that reached the gate
};

// A registry with plugin "listener" and its one handler "on-payment" (payment.*).
std::unique_ptr<miconsul::plugins::PluginRegistry> registry_with(mc_event_fn handler, Gate& gate) {
    auto plugin = std::make_shared<miconsul::plugins::LoadedPlugin>();
    plugin->manifest.name = "listener";
    plugin->manifest.scope = miconsul::plugins::Scope::tenant;
    plugin->event_handlers.push_back({"on-payment", "payment.*", handler, &gate});
    auto registry = std::make_unique<miconsul::plugins::PluginRegistry>();
    registry->add({"listener", "", "listener.so", true, "", plugin});
    return registry;
}

mc_status wait_at_gate(void* user_data, const mc_call*, const mc_event* event) {
    auto& gate = *static_cast<Gate*>(user_data);
    std::unique_lock lock(gate.mutex);
    ++gate.arrived;
    gate.opened.wait(lock, [&] { return gate.open; });
    gate.seen.push_back(event->id);
    return MC_OK;
}

mc_status pass_through_gate(void* user_data, const mc_call*, const mc_event* event) {
    auto& gate = *static_cast<Gate*>(user_data);
    std::lock_guard lock(gate.mutex);
    gate.seen.push_back(event->id);
    return MC_OK;
}

TEST_P(BusTest, WithRedisABusyInstanceLeavesTheRestToTheOthers) {
    auto url = miconsul::testing::redis_url();
    if (!url) {
        if (miconsul::testing::servers_required()) FAIL() << "MICONSUL_TEST_REDIS_URL unset";
        GTEST_SKIP() << "no Redis";
    }
    // A database of its own on the shared Redis: the bus's stream name is fixed.
    auto redis = miconsul::redis::parse_redis_url(*url).value();
    redis.database = GetParam() == "sqlite" ? 11 : 12;
    const std::string flush = "redis-cli -h " + redis.host + " -p " + std::to_string(redis.port) +
                              " -n " + std::to_string(redis.database) + " FLUSHDB >/dev/null";
    ASSERT_EQ(std::system(flush.c_str()), 0);

    // The same handler, stuck on instance "busy" and quick on instance "free".
    Gate stuck, quick;
    quick.open = true;
    auto busy_registry = registry_with(&wait_at_gate, stuck);
    auto free_registry = registry_with(&pass_through_gate, quick);
    miconsul::clock::SystemClock clock;
    auto make = [&](const miconsul::plugins::PluginRegistry& registry, int workers) {
        miconsul::bus::BusOptions options;
        options.workers = workers;
        options.tick = std::chrono::milliseconds(100);
        auto bus = std::make_unique<Bus>(*database_, *tenants_, registry, *services_, clock,
                                         miconsul::logging::Log::null(), options);
        bus->use_redis(redis);
        bus->start();
        return bus;
    };
    auto busy = make(*busy_registry, 1);
    auto free = make(*free_registry, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both consumers in the group

    constexpr size_t kEvents = 600;
    for (size_t i = 0; i < kEvents; ++i) free->publish("sol", "api", "payment.received", {});
    // "busy" may hold one batch being handled and twice that queued (1 worker × 64 × 3);
    // everything else must reach "free", through the stream or through its database poll.
    auto handled_by_free = [&] {
        std::lock_guard lock(quick.mutex);
        return quick.seen.size();
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (handled_by_free() < kEvents - 192 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_GE(handled_by_free(), kEvents - 192);

    {
        std::lock_guard lock(stuck.mutex);
        stuck.open = true;
    }
    stuck.opened.notify_all();
    auto handled = [&] {
        std::lock_guard lock_stuck(stuck.mutex);
        std::lock_guard lock_quick(quick.mutex);
        std::multiset<std::string> all(stuck.seen.begin(), stuck.seen.end());
        all.insert(quick.seen.begin(), quick.seen.end());
        return all;
    };
    const auto second_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (handled().size() < kEvents && std::chrono::steady_clock::now() < second_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto all = handled();
    EXPECT_EQ(all.size(), kEvents);
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), kEvents) << "each event once";
    busy->stop();
    free->stop();
}

TEST_P(BusTest, ADeliveryKeepsItsLeaseWhileItsInstanceLives) {
    Gate gate;
    auto holder_registry = registry_with(&wait_at_gate, gate);
    miconsul::bus::BusOptions options;
    options.workers = 1;
    options.tick = std::chrono::milliseconds(20);
    Bus holder(*database_, *tenants_, *holder_registry, *services_, clock_,
               miconsul::logging::Log::null(), options);
    holder.start();
    auto other = make_bus();
    holder.publish("sol", "api", "payment.received", {{"amount", 500}});
    auto arrived = [&] {
        std::lock_guard lock(gate.mutex);
        return gate.arrived;
    };
    for (int i = 0; i < 500 && arrived() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(arrived(), 1);

    // The handler runs on past its lease (30 s from 13:00:00): its instance is alive and
    // renews it, so the other instance must not take the delivery.
    clock_.advance(std::chrono::seconds(25));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // several of holder's ticks
    clock_.advance(std::chrono::seconds(10));
    other->tick();
    EXPECT_EQ(seen("on-payment"), 0u) << "delivered twice: the lease was not renewed";

    {
        std::lock_guard lock(gate.mutex);
        gate.open = true;
    }
    gate.opened.notify_all();
    bool delivered = false;
    for (int i = 0; i < 500 && !delivered; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        delivered = holder.deliveries("sol", "delivered", 10).size() == 1;
    }
    EXPECT_TRUE(delivered);
    EXPECT_EQ(holder.deliveries("sol", "delivered", 10).at(0).attempts, 1);
    holder.stop();
}

INSTANTIATE_TEST_SUITE_P(Backends, BusTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
}  // namespace
