// The scheduler in process, on real SQLite and PostgreSQL, with a clock the test moves.
#include "scheduler/scheduler.h"
#include "clock/clock.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "storage/migrations.h"
#include "support/test_database.h"
#include "support/test_environment.h"
#include "tenants/tenant_store.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace {
using miconsul::clock::ManualClock;
using miconsul::clock::parse_rfc3339;
using miconsul::clock::TimePoint;
using miconsul::scheduler::RunFilter;
using miconsul::scheduler::RunRecord;
using miconsul::scheduler::ScheduleKey;
using miconsul::scheduler::Scheduler;
using nlohmann::json;

TimePoint at(const std::string& rfc3339) {
    return parse_rfc3339(rfc3339).value();
}

// What the test plugin's schedule handler records, and how it should behave.
struct Probe {
    std::mutex mutex;
    std::vector<int64_t> scheduled_at_ms;  // one entry per call
    int fail_first = 0;                    // fail this many calls, then succeed
};

mc_status probe_handler(void* user_data, const mc_call* call) {
    auto& probe = *static_cast<Probe*>(user_data);
    std::lock_guard lock(probe.mutex);
    probe.scheduled_at_ms.push_back(call->scheduled_at_ms);
    if (static_cast<int>(probe.scheduled_at_ms.size()) <= probe.fail_first) {
        miconsul::plugins::host_api().log(call->context, MC_LOG_ERROR, "the printer is on fire");
        return MC_ERR_INTERNAL;
    }
    return MC_OK;
}

class SchedulerTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        database_ = miconsul::testing::open_test_database(GetParam(), scratch_);
        tenants_ = std::make_unique<miconsul::tenants::TenantStore>(*database_);
        tenants_->load();
        miconsul::tenants::Tenant tenant;
        tenant.id = "sol";
        tenant.name = "Clínica Sol";
        tenant.timezone = "America/Mexico_City";  // UTC-6 all year
        ASSERT_TRUE(tenants_->create(tenant));
        tenants_->set_enablement("sol", "ticker", true, json::object());
        services_ = std::make_unique<miconsul::plugins::HostServices>(
            miconsul::plugins::HostServices{*database_, miconsul::logging::Log::null()});
    }

    // Registers the test plugin with one schedule; call before making schedulers.
    // `registered_cron`, when given, is the text as the plugin wrote it (naming settings) and
    // `cron` the expression of its defaults.
    void add_plugin(const std::string& cron, json options = json::object(),
                    const std::string& registered_cron = "") {
        auto plugin = std::make_shared<miconsul::plugins::LoadedPlugin>();
        plugin->manifest.name = "ticker";
        plugin->manifest.scope = miconsul::plugins::Scope::tenant;
        miconsul::plugins::ScheduleInfo schedule;
        schedule.name = "daily";
        schedule.cron = registered_cron.empty() ? cron : registered_cron;
        schedule.expression = std::make_shared<const miconsul::scheduler::CronExpression>(
            std::get<miconsul::scheduler::CronExpression>(
                miconsul::scheduler::CronExpression::parse(cron)));
        schedule.misfire = options.value("misfire", "skip");
        schedule.max_attempts = options.value("max_attempts", 3);
        schedule.handler = &probe_handler;
        schedule.user_data = &probe_;
        plugin->schedules.push_back(schedule);
        registry_.add({"ticker", "", "ticker.so", true, "", plugin});
    }

    std::unique_ptr<Scheduler> make_scheduler(miconsul::scheduler::SchedulerOptions options = {}) {
        options.workers = 0;  // tick() executes what is due: deterministic
        return std::make_unique<Scheduler>(*database_, *tenants_, registry_, *services_, clock_,
                                           miconsul::logging::Log::null(), options);
    }

    std::vector<RunRecord> runs(const std::string& status = "") {
        std::string cursor;
        RunFilter filter;
        filter.tenant_id = "sol";
        filter.status = status;
        filter.limit = 200;
        return make_scheduler()->runs().list(filter, cursor);
    }

    size_t calls() {
        std::lock_guard lock(probe_.mutex);
        return probe_.scheduled_at_ms.size();
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<miconsul::storage::Database> database_;
    std::unique_ptr<miconsul::tenants::TenantStore> tenants_;
    miconsul::plugins::PluginRegistry registry_;
    std::unique_ptr<miconsul::plugins::HostServices> services_;
    ManualClock clock_{at("2026-03-01T13:00:00Z")};  // 07:00 in Mexico City
    Probe probe_;
};

TEST_P(SchedulerTest, FiresAtTheTenantsLocalTimeOnce) {
    add_plugin("0 8 * * *");
    auto scheduler = make_scheduler();
    scheduler->tick();  // first sight: starts from now
    clock_.set(at("2026-03-01T13:59:59Z"));
    scheduler->tick();
    EXPECT_EQ(calls(), 0u);
    clock_.set(at("2026-03-01T14:00:01Z"));  // 08:00:01 local
    scheduler->tick();
    scheduler->tick();
    ASSERT_EQ(calls(), 1u);
    EXPECT_EQ(probe_.scheduled_at_ms[0], std::chrono::duration_cast<std::chrono::milliseconds>(
                                             at("2026-03-01T14:00:00Z").time_since_epoch())
                                             .count());
    auto succeeded = runs("succeeded");
    ASSERT_EQ(succeeded.size(), 1u);
    EXPECT_EQ(succeeded[0].scheduled_at, "2026-03-01T14:00:00Z");
    EXPECT_EQ(succeeded[0].attempts, 1);
}

TEST_P(SchedulerTest, ACronThatNamesASettingFiresAtEachTenantsOwnHour) {
    // As the host registers "0 {hour} * * *" from a plugin whose schema defaults hour to 8.
    add_plugin("0 8 * * *", json::object(), "0 {hour} * * *");
    miconsul::tenants::Tenant luna;
    luna.id = "luna";
    luna.name = "Clínica Luna";
    luna.timezone = "America/Mexico_City";
    ASSERT_TRUE(tenants_->create(luna));
    tenants_->set_enablement("sol", "ticker", true, json{{"hour", 10}});
    tenants_->set_enablement("luna", "ticker", true, json{{"hour", 8}});
    auto scheduler = make_scheduler();
    EXPECT_EQ(scheduler->effective_cron({"sol", "ticker", "daily"}), "0 10 * * *");
    EXPECT_EQ(scheduler->next_run({"sol", "ticker", "daily"}), at("2026-03-01T16:00:00Z"));
    scheduler->tick();
    auto runs_of = [&](const std::string& tenant) {
        std::string cursor;
        RunFilter filter;
        filter.tenant_id = tenant;
        filter.status = "succeeded";
        std::vector<std::string> instants;
        for (const auto& run : scheduler->runs().list(filter, cursor)) {
            instants.push_back(run.scheduled_at);
        }
        return instants;
    };
    clock_.set(at("2026-03-01T14:00:01Z"));  // 08:00 in Mexico City
    scheduler->tick();
    EXPECT_EQ(runs_of("luna"), std::vector<std::string>{"2026-03-01T14:00:00Z"});
    EXPECT_TRUE(runs_of("sol").empty()) << "sol set 10:00";
    clock_.set(at("2026-03-01T16:00:01Z"));
    scheduler->tick();
    EXPECT_EQ(runs_of("sol"), std::vector<std::string>{"2026-03-01T16:00:00Z"});

    // A change of the setting moves the next run at once; a value that makes no valid cron
    // keeps the default hour rather than stopping the schedule.
    tenants_->set_enablement("sol", "ticker", true, json{{"hour", 11}});
    EXPECT_EQ(scheduler->next_run({"sol", "ticker", "daily"}), at("2026-03-01T17:00:00Z"));
    tenants_->set_enablement("sol", "ticker", true, json{{"hour", 25}});
    EXPECT_EQ(scheduler->effective_cron({"sol", "ticker", "daily"}), "0 8 * * *");
    EXPECT_EQ(scheduler->next_run({"sol", "ticker", "daily"}), at("2026-03-02T14:00:00Z"));
}

TEST_P(SchedulerTest, SeveralInstancesRunEachInstantOnce) {
    add_plugin("*/5 * * * *");  // every five minutes
    std::vector<std::unique_ptr<Scheduler>> instances;
    for (int i = 0; i < 3; ++i) instances.push_back(make_scheduler());
    for (auto& instance : instances) instance->tick();
    for (int minute = 1; minute <= 60; ++minute) {
        clock_.advance(std::chrono::minutes(1));
        for (auto& instance : instances) instance->tick();
    }
    EXPECT_EQ(calls(), 12u) << "an hour of */5 is twelve instants";
    EXPECT_EQ(runs("succeeded").size(), 12u);
}

TEST_P(SchedulerTest, MisfireSkipRecordsOneSkippedRunAfterDowntime) {
    add_plugin("0 8 * * *");
    {
        auto before = make_scheduler();
        before->tick();
        clock_.set(at("2026-03-01T14:00:05Z"));
        before->tick();
        ASSERT_EQ(calls(), 1u);
    }
    // Down for three days; a new instance starts at 09:00 local on the 4th.
    clock_.set(at("2026-03-04T15:00:00Z"));
    auto after = make_scheduler();
    after->tick();
    EXPECT_EQ(calls(), 1u) << "no flood after downtime";
    auto skipped = runs("skipped");
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].scheduled_at, "2026-03-04T14:00:00Z");
    EXPECT_NE(skipped[0].error.value_or("").find("3 run(s) missed"), std::string::npos)
        << skipped[0].error.value_or("");
    clock_.set(at("2026-03-05T14:00:02Z"));
    after->tick();
    EXPECT_EQ(calls(), 2u) << "the next instant runs normally";
}

TEST_P(SchedulerTest, MisfireRunOnceRunsTheLatestMissedInstantOnce) {
    add_plugin("0 8 * * *", {{"misfire", "run_once"}});
    {
        auto before = make_scheduler();
        before->tick();
        clock_.set(at("2026-03-01T14:00:05Z"));
        before->tick();
    }
    clock_.set(at("2026-03-04T15:00:00Z"));
    auto after = make_scheduler();
    after->tick();
    after->tick();
    ASSERT_EQ(calls(), 2u);
    EXPECT_EQ(probe_.scheduled_at_ms[1], std::chrono::duration_cast<std::chrono::milliseconds>(
                                             at("2026-03-04T14:00:00Z").time_since_epoch())
                                             .count());
}

TEST_P(SchedulerTest, FailuresRetryWithBackoffThenStayFailedAndVisible) {
    add_plugin("0 8 * * *", {{"max_attempts", 3}});
    probe_.fail_first = 100;
    auto scheduler = make_scheduler();
    scheduler->tick();
    clock_.set(at("2026-03-01T14:00:01Z"));
    scheduler->tick();
    ASSERT_EQ(calls(), 1u);
    auto queued = runs("queued");
    ASSERT_EQ(queued.size(), 1u);
    EXPECT_EQ(queued[0].error.value_or(""), "the printer is on fire");
    EXPECT_EQ(queued[0].next_attempt_at, "2026-03-01T14:00:31Z");  // 30 s backoff
    clock_.advance(std::chrono::seconds(29));
    scheduler->tick();
    EXPECT_EQ(calls(), 1u) << "not before its backoff";
    clock_.advance(std::chrono::seconds(2));
    scheduler->tick();
    EXPECT_EQ(calls(), 2u);
    clock_.advance(std::chrono::seconds(61));  // second backoff: 60 s
    scheduler->tick();
    EXPECT_EQ(calls(), 3u);
    auto failed = runs("failed");
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].attempts, 3);
    clock_.advance(std::chrono::hours(1));
    scheduler->tick();
    EXPECT_EQ(calls(), 3u) << "a failed run stays failed";

    // A retry over the API gives it one more attempt.
    probe_.fail_first = 0;
    EXPECT_TRUE(scheduler->retry("sol", failed[0].id).has_value());
    scheduler->tick();
    EXPECT_EQ(calls(), 4u);
    EXPECT_EQ(runs("succeeded").size(), 1u);
    EXPECT_FALSE(scheduler->retry("sol", failed[0].id).has_value())
        << "only failed runs can be retried";
}

TEST_P(SchedulerTest, RunOfACrashedInstanceIsRecoveredWhenItsLeaseExpires) {
    add_plugin("0 8 * * *");
    auto scheduler = make_scheduler();
    RunRecord orphan;
    orphan.id = "00000000-0000-4000-8000-000000000001";
    orphan.key = {"sol", "ticker", "daily"};
    orphan.scheduled_at = "2026-03-01T14:00:00Z";
    orphan.origin = "cron";
    orphan.max_attempts = 3;
    orphan.next_attempt_at = orphan.scheduled_at;
    orphan.created_at = "2026-03-01T14:00:00Z";
    ASSERT_TRUE(scheduler->runs().enqueue(orphan));
    // Another instance claimed it and died: its lease ends at 14:00:30.
    ASSERT_TRUE(scheduler->runs().claim(orphan.id, "dead-instance", "2026-03-01T14:00:00Z",
                                        "2026-03-01T14:00:30Z"));
    clock_.set(at("2026-03-01T14:00:10Z"));
    scheduler->tick();
    EXPECT_EQ(calls(), 0u) << "the lease still holds";
    clock_.set(at("2026-03-01T14:00:31Z"));
    scheduler->tick();
    EXPECT_EQ(calls(), 1u);
    auto done = scheduler->runs().find("sol", orphan.id);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->status, "succeeded");
    EXPECT_EQ(done->attempts, 2);
}

TEST_P(SchedulerTest, DisabledOrPausedSchedulesDoNotFireAndResumeDoesNotReplay) {
    add_plugin("0 * * * *");  // hourly
    auto scheduler = make_scheduler();
    scheduler->tick();
    const ScheduleKey key{"sol", "ticker", "daily"};
    scheduler->set_paused(key, true);
    EXPECT_TRUE(scheduler->is_paused(key));
    EXPECT_FALSE(scheduler->next_run(key));
    clock_.advance(std::chrono::hours(3));
    scheduler->tick();
    EXPECT_EQ(calls(), 0u);
    scheduler->set_paused(key, false);
    scheduler->tick();
    EXPECT_EQ(calls(), 0u) << "the paused hours are not replayed";
    clock_.advance(std::chrono::hours(1));
    scheduler->tick();
    EXPECT_EQ(calls(), 1u);

    tenants_->set_enablement("sol", "ticker", false, json::object());
    clock_.advance(std::chrono::hours(2));
    scheduler->tick();
    EXPECT_EQ(calls(), 1u) << "disabled: no runs";
    EXPECT_FALSE(scheduler->next_run(key));
}

TEST_P(SchedulerTest, TriggerRunsNowAsOfAChosenInstant) {
    add_plugin("0 8 * * *");
    auto scheduler = make_scheduler();
    auto outcome = scheduler->trigger({"sol", "ticker", "daily"}, at("2026-02-28T14:00:00Z"), true);
    ASSERT_TRUE(std::holds_alternative<RunRecord>(outcome));
    const auto& run = std::get<RunRecord>(outcome);
    EXPECT_EQ(run.status, "succeeded");
    EXPECT_EQ(run.scheduled_at, "2026-02-28T14:00:00Z");
    ASSERT_EQ(calls(), 1u);
    // Triggering the same instant again runs again: manual runs are never deduplicated.
    scheduler->trigger({"sol", "ticker", "daily"}, at("2026-02-28T14:00:00Z"), true);
    EXPECT_EQ(calls(), 2u);
    EXPECT_TRUE(std::holds_alternative<std::string>(
        scheduler->trigger({"sol", "ticker", "nope"}, std::nullopt, true)));
    EXPECT_TRUE(std::holds_alternative<std::string>(
        scheduler->trigger({"other", "ticker", "daily"}, std::nullopt, true)));
}

TEST_P(SchedulerTest, RunsAreClaimedAheadAndStartAtTheirInstantNotBefore) {
    add_plugin("0 8 * * *");
    auto scheduler = make_scheduler();
    scheduler->tick();
    clock_.set(at("2026-03-01T13:59:58Z"));  // two seconds before 08:00 local
    scheduler->tick();
    EXPECT_EQ(calls(), 0u);
    auto queued = runs("queued");
    ASSERT_EQ(queued.size(), 1u) << "claimed ahead of its instant";
    EXPECT_EQ(queued[0].scheduled_at, "2026-03-01T14:00:00Z");
    // Another instance sees it taken: it neither inserts nor claims it again.
    auto other = make_scheduler();
    other->tick();
    clock_.set(at("2026-03-01T14:00:00Z"));
    other->tick();
    EXPECT_EQ(calls(), 0u) << "held by the first instance";
    scheduler->tick();
    ASSERT_EQ(calls(), 1u);
    EXPECT_EQ(runs("succeeded").size(), 1u);
}

TEST_P(SchedulerTest, StoppingReleasesClaimedRunsForAnotherInstanceAtOnce) {
    add_plugin("0 8 * * *");
    auto survivor = make_scheduler();
    survivor->tick();
    {
        auto stopping = make_scheduler();
        stopping->tick();
        clock_.set(at("2026-03-01T13:59:58Z"));
        stopping->tick();  // claims the 08:00 run ahead, then stops before it is due
    }
    clock_.set(at("2026-03-01T14:00:01Z"));
    survivor->tick();
    EXPECT_EQ(calls(), 1u) << "released on stop: no wait for the lease to run out";
    auto succeeded = runs("succeeded");
    ASSERT_EQ(succeeded.size(), 1u);
    EXPECT_EQ(succeeded[0].attempts, 1) << "a release is not an attempt";
}

TEST_P(SchedulerTest, RunsHeldByADeadInstanceAreRecoveredAndALapseCountsAsAnAttempt) {
    add_plugin("0 8 * * *", {{"max_attempts", 1}});
    auto scheduler = make_scheduler();
    RunRecord held;
    held.id = "00000000-0000-4000-8000-000000000002";
    held.key = {"sol", "ticker", "daily"};
    held.scheduled_at = held.next_attempt_at = held.created_at = "2026-03-01T14:00:00Z";
    held.origin = "cron";
    held.max_attempts = 1;
    // Claimed ahead by an instance that died before (or while) starting it.
    ASSERT_EQ(scheduler->runs()
                  .enqueue_batch({held}, std::string("dead-instance"),
                                 std::string("2026-03-01T14:00:30Z"))
                  .size(),
              1u);
    clock_.set(at("2026-03-01T14:00:10Z"));
    scheduler->tick();
    EXPECT_EQ(calls(), 0u) << "its lease still holds";
    clock_.set(at("2026-03-01T14:00:31Z"));
    scheduler->tick();
    ASSERT_EQ(calls(), 1u) << "recovered once the lease lapsed";
    auto done = scheduler->runs().find("sol", held.id);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->status, "succeeded");
    EXPECT_EQ(done->attempts, 2) << "the lapse counted, then the attempt that ran";

    // A run that keeps taking its holders down (its start never written) ends up failed
    // rather than going round forever.
    held.id = "00000000-0000-4000-8000-000000000003";
    held.scheduled_at = held.next_attempt_at = "2026-03-01T15:00:00Z";
    scheduler->runs().enqueue_batch({held}, std::string("dead-1"),
                                    std::string("2026-03-01T15:00:30Z"));
    clock_.set(at("2026-03-01T15:00:31Z"));
    scheduler->runs().requeue_expired("2026-03-01T15:00:31Z");
    ASSERT_TRUE(scheduler->runs()
                    .claim_due("2026-03-01T15:00:31Z", "2026-03-01T15:00:31Z", "dead-2",
                               "2026-03-01T15:01:00Z", 10)
                    .size() == 1);
    scheduler->runs().requeue_expired("2026-03-01T15:01:01Z");
    auto poisoned = scheduler->runs().find("sol", held.id);
    ASSERT_TRUE(poisoned);
    EXPECT_EQ(poisoned->status, "failed");
    EXPECT_NE(poisoned->error.value_or("").find("no attempts are left"), std::string::npos);
}

TEST_P(SchedulerTest, RunsBeyondWhatAnInstanceMayHoldAreLeftForOthers) {
    add_plugin("0 8 * * *");
    miconsul::scheduler::SchedulerOptions full;
    full.max_claimed = 0;
    auto saturated = make_scheduler(full);
    saturated->tick();
    clock_.set(at("2026-03-01T14:00:01Z"));
    saturated->tick();
    EXPECT_EQ(calls(), 0u) << "it may hold nothing more";
    ASSERT_EQ(runs("queued").size(), 1u) << "stored unclaimed, not dropped";
    auto other = make_scheduler();
    other->tick();
    EXPECT_EQ(calls(), 1u);
    EXPECT_EQ(runs("succeeded").size(), 1u);
}

// A handler that blocks until released, to hold a run open while the clock moves.
struct Gate {
    std::mutex mutex;
    std::condition_variable changed;
    bool entered = false;
    bool released = false;
};

mc_status blocking_handler(void* user_data, const mc_call*) {
    auto& gate = *static_cast<Gate*>(user_data);
    std::unique_lock lock(gate.mutex);
    gate.entered = true;
    gate.changed.notify_all();
    gate.changed.wait(lock, [&] { return gate.released; });
    return MC_OK;
}

TEST_P(SchedulerTest, ARunPastItsTimeoutIsMarkedWhileItRuns) {
    Gate gate;
    auto plugin = std::make_shared<miconsul::plugins::LoadedPlugin>();
    plugin->manifest.name = "ticker";
    plugin->manifest.scope = miconsul::plugins::Scope::tenant;
    miconsul::plugins::ScheduleInfo schedule;
    schedule.name = "daily";
    schedule.cron = "0 8 * * *";
    schedule.expression = std::make_shared<const miconsul::scheduler::CronExpression>(
        std::get<miconsul::scheduler::CronExpression>(
            miconsul::scheduler::CronExpression::parse(schedule.cron)));
    schedule.timeout_seconds = 60;
    schedule.handler = &blocking_handler;
    schedule.user_data = &gate;
    plugin->schedules.push_back(schedule);
    registry_.add({"ticker", "", "ticker.so", true, "", plugin});

    miconsul::scheduler::SchedulerOptions options;
    options.workers = 1;
    options.tick = std::chrono::milliseconds(20);
    Scheduler scheduler(*database_, *tenants_, registry_, *services_, clock_,
                        miconsul::logging::Log::null(), options);
    scheduler.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // first sight at 13:00
    clock_.set(at("2026-03-01T14:00:01Z"));
    {
        std::unique_lock lock(gate.mutex);
        ASSERT_TRUE(
            gate.changed.wait_for(lock, std::chrono::seconds(5), [&] { return gate.entered; }));
    }
    clock_.advance(std::chrono::seconds(61));
    bool marked = false;
    for (int i = 0; i < 100 && !marked; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        auto running = runs("running");
        marked = !running.empty() && running[0].timed_out;
    }
    EXPECT_TRUE(marked) << "the run is marked timed out while it still runs";
    {
        std::lock_guard lock(gate.mutex);
        gate.released = true;
    }
    gate.changed.notify_all();
    scheduler.stop();
    auto succeeded = runs("succeeded");
    ASSERT_EQ(succeeded.size(), 1u);
    EXPECT_TRUE(succeeded[0].timed_out) << "the mark stays on the record";
}

INSTANTIATE_TEST_SUITE_P(Backends, SchedulerTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
}  // namespace
