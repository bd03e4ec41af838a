// Fires plugins' cron schedules for every tenant that enabled them, each instant once across
// any number of instances, through restarts and crashes.
//
// Each tick: plan (for every schedule of every enabled tenant, enqueue the instants that came
// due since the last one planned — the database's unique key makes the enqueue the claim),
// reap (requeue runs whose instance stopped renewing their lease), and dispatch (lease due
// runs and execute them on the worker threads). See docs/scheduling.md.
#pragma once

#include "clock/clock.h"
#include "logging/log.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "scheduler/run_store.h"
#include "storage/database.h"
#include "tenants/tenant_store.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace miconsul::scheduler {

struct SchedulerOptions {
    std::chrono::milliseconds tick{1000};
    std::chrono::milliseconds lease{30000};  // renewed every tick while a run executes
    int workers = 2;                 // 0: tick() executes due runs itself (tests)
    std::chrono::seconds retry_base{30};
    std::chrono::seconds retry_cap{3600};
};

class Scheduler {
public:
    Scheduler(storage::Database& database, tenants::TenantStore& tenants,
              const plugins::PluginRegistry& registry, plugins::HostServices& services,
              const clock::Clock& clock, logging::Log log, SchedulerOptions options);
    /// Stops, letting runs in progress finish.
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    /// Starts the ticking thread and the workers.
    void start();
    /// Stops ticking; waits for runs in progress. Idempotent.
    void stop();

    /// One step (plan, reap, dispatch) at the clock's now. With workers = 0 the due runs are
    /// executed before it returns. Called by the ticking thread, or by tests that did not
    /// start() it: never by both.
    void tick();

    /// Queues a run of a schedule now, seeing `as_of` (default: now) as its scheduled instant.
    /// With `wait`, executes it on the calling thread before returning (however long the
    /// handler takes; its timeout only marks it) and returns the finished record. Returns the reason when the schedule does not exist for the tenant.
    std::variant<RunRecord, std::string> trigger(const ScheduleKey& key,
                                                 std::optional<clock::TimePoint> as_of, bool wait);

    /// Puts a failed run back in the queue for one more attempt; the run as queued, or
    /// nullopt if it is not a failed run of that tenant.
    std::optional<RunRecord> retry(const std::string& tenant_id, const std::string& run_id);

    /// Pauses or resumes a schedule for one tenant (no runs planned while paused).
    void set_paused(const ScheduleKey& key, bool paused);
    bool is_paused(const ScheduleKey& key);

    /// The next instant a schedule will fire for a tenant, if enabled and not paused.
    std::optional<clock::TimePoint> next_run(const ScheduleKey& key);

    RunStore& runs() { return runs_; }

private:
    struct Target;  // a schedule resolved for one tenant: plugin, schedule, zone, settings
    std::optional<Target> resolve(const ScheduleKey& key) const;
    std::vector<ScheduleKey> all_keys() const;
    void plan(clock::TimePoint now);
    void dispatch(clock::TimePoint now);
    void execute(RunRecord run);
    void loop();
    void work();
    void wake_up();
    void publish_run_event(const std::string& type, const std::string& tenant_id,
                           const nlohmann::json& data);
    void renew_leases(clock::TimePoint now);

    storage::Database& database_;
    tenants::TenantStore& tenants_;
    const plugins::PluginRegistry& registry_;
    plugins::HostServices& services_;
    const clock::Clock& clock_;
    logging::Log log_;
    SchedulerOptions options_;
    RunStore runs_;
    const std::string instance_id_;

    std::mutex mutex_;  // guards everything below
    std::condition_variable wake_;
    std::map<ScheduleKey, clock::TimePoint> planned_through_;
    bool planned_loaded_ = false;
    std::set<ScheduleKey> paused_;
    bool paused_loaded_ = false;
    std::deque<RunRecord> ready_;                                // claimed, waiting for a worker
    std::map<std::string, clock::TimePoint> executing_;          // run id → started
    std::map<std::string, std::chrono::seconds> timeouts_;       // run id → its timeout
    std::set<std::string> timed_out_marked_;
    bool woken_ = false;
    bool stopping_ = false;         // no new work
    bool ticker_stopping_ = false;  // set once the workers are done
    std::thread ticker_;
    std::vector<std::thread> workers_;
};

}  // namespace miconsul::scheduler
