// Fires plugins' cron schedules for every tenant that enabled them, each instant once across
// any number of instances, through restarts and crashes.
//
// Each tick: plan (for every schedule of every enabled tenant, enqueue the instants due up to
// a short horizon ahead — the database's unique key makes the enqueue the claim, and the
// inserting instance holds a lease on what it inserted), renew leases, reap (requeue runs
// whose instance stopped renewing), and claim other queued runs that are due. Claimed runs
// wait in memory and start at their instant on the worker threads; their starts and ends are
// written behind, in batches. See docs/scheduling.md.
#pragma once

#include "clock/clock.h"
#include "logging/log.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "scheduler/cron.h"
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
#include <unordered_map>
#include <variant>
#include <vector>

namespace miconsul::scheduler {

struct SchedulerOptions {
    std::chrono::milliseconds tick{1000};
    std::chrono::milliseconds lease{30000};  // renewed every tick while a run waits or executes
    int workers = 2;                         // 0: tick() executes due runs itself (tests)
    std::chrono::seconds retry_base{30};
    std::chrono::seconds retry_cap{3600};
    // Runs one instance holds at most (claimed ahead, waiting for a worker, or executing).
    // Beyond it, planned runs are stored unclaimed for any instance to take.
    size_t max_claimed = 50000;
    // How far ahead of its instant a run is claimed (at least two ticks): enough for a tick
    // to enqueue a whole burst (30,000 runs take about a second on SQLite) before it is due.
    std::chrono::milliseconds lookahead{5000};
    // How long a finished run's record may wait to be written with others (workers > 0).
    std::chrono::milliseconds record_delay{20};
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
    /// handler takes; its timeout only marks it) and returns the finished record. Returns the
    /// reason when the schedule does not exist for the tenant.
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
    /// The cron a schedule follows for a tenant: as registered, with the settings it names
    /// replaced by the tenant's values. nullopt when the schedule does not exist for it.
    std::optional<std::string> effective_cron(const ScheduleKey& key) const;

    RunStore& runs() { return runs_; }

private:
    struct Target;  // a schedule resolved for one tenant: plugin, schedule, zone, settings
    // Where planning stands for one schedule of one tenant.
    struct SchedulePlan {
        ScheduleKey key;
        std::shared_ptr<const plugins::LoadedPlugin> plugin;
        const plugins::ScheduleInfo* schedule = nullptr;
        const date::time_zone* zone = nullptr;
        clock::TimePoint planned_through;      // instants up to here are enqueued (or skipped)
        std::optional<Instant> next;           // the first instant after it
        std::shared_ptr<const Target> target;  // what its runs execute with
    };
    // A tenant's schedules, rebuilt only when its snapshot changes.
    struct TenantPlan {
        std::shared_ptr<const tenants::TenantSnapshot> snapshot;  // null for the platform
        std::vector<SchedulePlan> schedules;
    };
    // A run this instance holds, and the instant it stands for (parsed once, at claim).
    struct ClaimedRun {
        RunRecord record;
        clock::TimePoint scheduled;
        // Resolved when planned, valid while no tenant changed since (else resolved again).
        std::shared_ptr<const Target> target;
        uint64_t tenant_version = 0;
    };
    // A run's start or end waiting to be written, and the event to publish once it is.
    struct Outcome {
        RunUpdate update;
        ScheduleKey key;
        std::string scheduled_at;
        std::string event_type;  // "" = none
    };
    struct Executing {
        clock::TimePoint started;
        std::chrono::seconds timeout;
        int attempts = 0;
        std::string next_attempt_at;
        bool start_recorded = false;  // written by the recorder if it outlasts a batch
        bool marked = false;          // marked as past its timeout
    };

    std::optional<Target> resolve(const ScheduleKey& key) const;
    void refresh_plans(clock::TimePoint now);
    std::vector<SchedulePlan> plan_tenant(const std::string& tenant_id,
                                          const tenants::TenantSnapshot* snapshot,
                                          const std::map<ScheduleKey, clock::TimePoint>& cursors,
                                          clock::TimePoint now) const;
    void plan(clock::TimePoint now);
    void claim_queued(clock::TimePoint now);
    std::vector<ClaimedRun> take_due(clock::TimePoint now);
    static std::pair<clock::TimePoint, ClaimedRun> claimed(RunRecord run, clock::TimePoint now,
                                                           std::shared_ptr<const Target> target,
                                                           uint64_t tenant_version);
    void hold(std::vector<std::pair<clock::TimePoint, ClaimedRun>> runs);
    size_t claimed_count() const;  // with mutex_ held
    bool runs_waiting();           // due runs wait for a worker
    void execute(ClaimedRun run);
    void add_outcome(Outcome outcome);
    bool record_outcomes();  // false: the write failed, the outcomes wait for the next
    void loop();
    void work();
    void write_behind();
    void wake_up(bool claim);
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

    const std::chrono::milliseconds lookahead_;  // how far ahead of its instant a run is claimed

    std::mutex plan_mutex_;                              // guards the plans and the pause set
    std::unordered_map<std::string, TenantPlan> plans_;  // "" = platform plugins
    bool plans_loaded_ = false;
    uint64_t plans_tenant_version_ = 0;
    size_t plans_plugin_count_ = 0;
    std::set<ScheduleKey> paused_;
    bool paused_loaded_ = false;

    std::mutex mutex_;  // guards everything below up to the outcome journal
    std::condition_variable wake_;
    std::multimap<clock::TimePoint, ClaimedRun> held_;  // claimed, waiting for their instant
    std::map<std::string, Executing> executing_;        // run id → when it started
    bool more_queued_ = false;  // the last claim of queued runs hit its limit
    bool woken_ = false;
    bool claim_requested_ = false;
    bool stopping_ = false;         // no new work
    bool ticker_stopping_ = false;  // set once the workers are done

    std::mutex journal_mutex_;  // guards the journal and its flags
    std::condition_variable journal_changed_;
    std::deque<Outcome> journal_;  // a deque: a burst appends without relocating
    bool journal_closing_ = false;
    std::mutex recording_mutex_;  // one batch written at a time: starts before their ends

    std::thread ticker_;
    std::thread recorder_;
    std::vector<std::thread> workers_;
};

}  // namespace miconsul::scheduler
