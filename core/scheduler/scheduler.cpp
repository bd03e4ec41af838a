#include "scheduler/scheduler.h"

#include "bus/bus.h"
#include "ids/ids.h"

#include <date/tz.h>

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace miconsul::scheduler {

namespace {
using clock::TimePoint;
using Json = nlohmann::json;

// A catch-up after downtime computes at most this many instants per schedule and tick.
constexpr size_t kMaxInstantsPerTick = 1000;

std::string text(TimePoint instant) {
    return clock::rfc3339_utc(instant);
}

Instant to_instant(TimePoint instant) {
    return std::chrono::floor<std::chrono::seconds>(instant);
}

// The schedule's cron for one tenant. A cron that names settings ("0 {reminder_hour} * * *")
// takes the tenant's values; should they not make a valid cron (the plugin's schema ought to
// prevent it), the schedule keeps the defaults' time and says so.
std::shared_ptr<const CronExpression> expression_for(const plugins::ScheduleInfo& schedule,
                                                     const std::string& settings_json,
                                                     const logging::Log& log,
                                                     const std::string& tenant_id) {
    if (!names_settings(schedule.cron)) return schedule.expression;
    const auto substituted =
        substitute_settings(schedule.cron, Json::parse(settings_json, nullptr, false));
    std::string problem = substituted.problem;
    if (problem.empty()) {
        auto parsed = CronExpression::parse(substituted.text);
        if (auto* expression = std::get_if<CronExpression>(&parsed)) {
            return std::make_shared<const CronExpression>(std::move(*expression));
        }
        problem = std::get<std::string>(parsed);
    }
    log.warn("a tenant's settings do not make a valid cron; the schedule keeps its default time",
             {{"tenant", tenant_id},
              {"schedule", schedule.name},
              {"cron", schedule.cron},
              {"reason", problem}});
    return schedule.expression;
}
}  // namespace

struct Scheduler::Target {
    std::shared_ptr<const plugins::LoadedPlugin> plugin;
    const plugins::ScheduleInfo* schedule = nullptr;
    const date::time_zone* zone = nullptr;
    std::string timezone_name;
    std::string locale;
    std::string tenant_name;
    std::string settings_json;
    std::shared_ptr<const CronExpression> expression;  // with the tenant's settings
};

Scheduler::Scheduler(storage::Database& database, tenants::TenantStore& tenants,
                     const plugins::PluginRegistry& registry, plugins::HostServices& services,
                     const clock::Clock& clock, logging::Log log, SchedulerOptions options)
    : database_(database),
      tenants_(tenants),
      registry_(registry),
      services_(services),
      clock_(clock),
      log_(std::move(log)),
      options_(options),
      runs_(database),
      instance_id_(ids::random_request_id()),
      // At least two ticks ahead: the next tick may come late, and planning takes time.
      lookahead_(std::max(options.lookahead, options.tick * 2)) {
    // A lease must outlive several ticks, or a slow tick would let another instance take over
    // a healthy run; and it must outlive the lookahead, or a run would lapse before it starts.
    options_.lease = std::max({options_.lease, options_.tick * 3, lookahead_ * 2});
}

Scheduler::~Scheduler() {
    stop();
}

void Scheduler::start() {
    recorder_ = std::thread([this] { write_behind(); });
    ticker_ = std::thread([this] { loop(); });
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
}

void Scheduler::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
        // Runs not yet started go back to the database for another instance (or the next
        // start) rather than keeping a stopping one busy.
        held_.clear();
    }
    wake_.notify_all();
    // Workers finish the runs they are executing while the ticker still renews their leases;
    // only then does the ticker stop.
    for (auto& worker : workers_) worker.join();
    workers_.clear();
    {
        std::lock_guard lock(journal_mutex_);
        journal_closing_ = true;
    }
    journal_changed_.notify_all();
    if (recorder_.joinable()) recorder_.join();
    record_outcomes();  // without a recorder thread (tests), or what came after it stopped
    {
        std::lock_guard lock(mutex_);
        ticker_stopping_ = true;
    }
    wake_.notify_all();
    if (ticker_.joinable()) ticker_.join();
    // Last, once no tick can claim more.
    try {
        runs_.release(instance_id_);
    } catch (const std::exception& failure) {
        log_.warn("could not release claimed runs; they return when their lease ends",
                  {{"reason", failure.what()}});
    }
}

std::optional<Scheduler::Target> Scheduler::resolve(const ScheduleKey& key) const {
    Target target;
    target.plugin = registry_.find_loaded(key.plugin);
    if (!target.plugin) return std::nullopt;
    const bool platform = target.plugin->manifest.scope == plugins::Scope::platform;
    if (platform != key.tenant_id.empty()) return std::nullopt;
    for (const auto& schedule : target.plugin->schedules) {
        if (schedule.name == key.schedule) target.schedule = &schedule;
    }
    if (target.schedule == nullptr) return std::nullopt;
    if (platform) {
        target.zone = date::locate_zone("UTC");
        target.timezone_name = "UTC";
        target.settings_json = "{}";
        target.expression = target.schedule->expression;
        return target;
    }
    auto snapshot = tenants_.find(key.tenant_id);
    if (!snapshot || snapshot->tenant.status != "active") return std::nullopt;
    auto settings = snapshot->enabled_settings.find(key.plugin);
    if (settings == snapshot->enabled_settings.end()) return std::nullopt;
    try {
        target.zone = date::locate_zone(snapshot->tenant.timezone);
    } catch (const std::exception&) {
        return std::nullopt;  // validated on write; only a changed tz database gets here
    }
    target.timezone_name = snapshot->tenant.timezone;
    target.locale = snapshot->tenant.locale;
    target.tenant_name = snapshot->tenant.name;
    target.settings_json = settings->second;
    target.expression = expression_for(*target.schedule, target.settings_json, log_, key.tenant_id);
    return target;
}

std::vector<Scheduler::SchedulePlan> Scheduler::plan_tenant(
    const std::string& tenant_id, const tenants::TenantSnapshot* snapshot,
    const std::map<ScheduleKey, TimePoint>& cursors, TimePoint now) const {
    std::vector<SchedulePlan> plans;
    auto add = [&](const std::shared_ptr<const plugins::LoadedPlugin>& plugin,
                   const date::time_zone* zone) {
        for (const auto& schedule : plugin->schedules) {
            SchedulePlan plan;
            plan.key = {tenant_id, plugin->manifest.name, schedule.name};
            plan.plugin = plugin;
            plan.schedule = &schedule;
            plan.zone = zone;
            // A schedule seen for the first time starts from now: no backfill. One seen
            // before resumes where it (or the last run recorded for it) left off.
            auto cursor = cursors.find(plan.key);
            plan.planned_through = cursor == cursors.end() ? now : cursor->second;
            auto target = std::make_shared<Target>();
            target->plugin = plugin;
            target->schedule = &schedule;
            target->zone = zone;
            target->timezone_name = snapshot ? snapshot->tenant.timezone : "UTC";
            target->locale = snapshot ? snapshot->tenant.locale : "";
            target->tenant_name = snapshot ? snapshot->tenant.name : "";
            if (snapshot == nullptr) {
                target->settings_json = "{}";
            } else if (auto settings = snapshot->enabled_settings.find(plugin->manifest.name);
                       settings != snapshot->enabled_settings.end()) {
                target->settings_json = settings->second;
            }
            target->expression = expression_for(schedule, target->settings_json, log_, tenant_id);
            plan.next = target->expression->next_after(to_instant(plan.planned_through), zone);
            plan.target = std::move(target);
            plans.push_back(std::move(plan));
        }
    };
    if (snapshot == nullptr) {  // the platform: UTC
        const auto* utc = date::locate_zone("UTC");
        for (const auto& record : registry_.records()) {
            if (record.loaded && record.plugin->manifest.scope == plugins::Scope::platform) {
                add(record.plugin, utc);
            }
        }
        return plans;
    }
    if (snapshot->tenant.status != "active") return plans;
    const date::time_zone* zone = nullptr;
    try {
        zone = date::locate_zone(snapshot->tenant.timezone);
    } catch (const std::exception&) {
        return plans;  // validated on write; only a changed tz database gets here
    }
    for (const auto& [name, settings] : snapshot->enabled_settings) {
        auto plugin = registry_.find_loaded(name);
        if (plugin && plugin->manifest.scope == plugins::Scope::tenant) add(plugin, zone);
    }
    return plans;
}

void Scheduler::refresh_plans(TimePoint now) {
    // Called with plan_mutex_ held. Cheap when nothing changed: two counters compared.
    const uint64_t tenant_version = tenants_.version();
    const size_t plugin_count = registry_.records().size();
    if (plans_loaded_ && tenant_version == plans_tenant_version_ &&
        plugin_count == plans_plugin_count_) {
        return;
    }
    std::map<ScheduleKey, TimePoint> cursors;
    if (!plans_loaded_) {
        // Resume where the last run of each schedule left off, whichever instance planned it.
        for (const auto& [key, instant] : runs_.latest_cron_instants()) {
            if (auto parsed = clock::parse_rfc3339(instant)) cursors[key] = *parsed;
        }
    }
    const bool plugins_changed = plugin_count != plans_plugin_count_;
    auto keep_cursors = [&](const TenantPlan& plan) {
        for (const auto& schedule : plan.schedules)
            cursors[schedule.key] = schedule.planned_through;
    };
    std::unordered_map<std::string, TenantPlan> rebuilt;
    if (auto platform = plans_.find(""); platform != plans_.end()) keep_cursors(platform->second);
    rebuilt[""] = {nullptr, plan_tenant("", nullptr, cursors, now)};
    for (const auto& tenant_id : tenants_.ids()) {
        auto snapshot = tenants_.find(tenant_id);
        if (!snapshot) continue;
        auto existing = plans_.find(tenant_id);
        if (existing != plans_.end() && existing->second.snapshot == snapshot && !plugins_changed) {
            rebuilt[tenant_id] = std::move(existing->second);  // unchanged: keep as planned
            continue;
        }
        // Changed: keep the cursors of schedules still enabled; a schedule disabled and enabled
        // again between two ticks keeps its cursor too (re-enabling later starts fresh, since
        // the plan forgot it meanwhile).
        if (existing != plans_.end()) keep_cursors(existing->second);
        rebuilt[tenant_id] = {snapshot, plan_tenant(tenant_id, snapshot.get(), cursors, now)};
    }
    plans_ = std::move(rebuilt);
    plans_loaded_ = true;
    plans_tenant_version_ = tenant_version;
    plans_plugin_count_ = plugin_count;
}

void Scheduler::plan(TimePoint now) {
    const TimePoint horizon = now + lookahead_;
    const std::string now_text = text(now);
    std::vector<RunRecord> runs;
    std::vector<std::shared_ptr<const Target>> targets;  // of each run
    std::vector<std::pair<RunRecord, std::string>> skipped;
    uint64_t tenant_version = 0;
    // Read every tick, before taking the plan's lock: a pause made through another instance
    // must hold here too.
    auto paused = runs_.paused();
    {
        // Not mutex_: workers starting runs must never wait for planning.
        std::lock_guard lock(plan_mutex_);
        paused_ = std::move(paused);
        paused_loaded_ = true;
        refresh_plans(now);
        tenant_version = plans_tenant_version_;
        for (auto& [tenant_id, tenant_plan] : plans_) {
            for (auto& plan : tenant_plan.schedules) {
                if (!paused_.empty() && paused_.count(plan.key) != 0) {
                    // Paused: no runs, and resuming starts from then (no replay).
                    plan.planned_through = now;
                    plan.next = plan.target->expression->next_after(to_instant(now), plan.zone);
                    continue;
                }
                if (!plan.next || TimePoint(*plan.next) > horizon) continue;  // most ticks
                const auto& schedule = *plan.schedule;
                std::vector<Instant> instants;
                for (auto next = plan.next;
                     next && TimePoint(*next) <= horizon && instants.size() < kMaxInstantsPerTick;
                     next = plan.target->expression->next_after(*next, plan.zone)) {
                    instants.push_back(*next);
                }
                const bool capped = instants.size() == kMaxInstantsPerTick;
                // Never less than two ticks: an instant a tick is late for is not a misfire.
                const auto grace = std::max<std::chrono::seconds>(
                    std::chrono::seconds(schedule.misfire_grace_seconds),
                    std::chrono::ceil<std::chrono::seconds>(options_.tick * 2));
                std::vector<Instant> missed, timely;
                for (const auto& instant : instants) {
                    (to_instant(now) - instant > grace ? missed : timely).push_back(instant);
                }
                auto make_run = [&](Instant instant) {
                    RunRecord run;
                    run.id = ids::random_uuid();
                    run.key = plan.key;
                    run.scheduled_at = text(instant);
                    run.origin = "cron";
                    run.status = "queued";
                    run.max_attempts = schedule.max_attempts;
                    run.next_attempt_at = run.scheduled_at;
                    run.created_at = now_text;
                    return run;
                };
                if (!missed.empty()) {
                    const std::string count =
                        (capped ? "at least " : "") + std::to_string(missed.size());
                    if (schedule.misfire == "run_once") {
                        runs.push_back(make_run(missed.back()));
                        targets.push_back(plan.target);
                    } else {
                        skipped.emplace_back(make_run(missed.back()),
                                             count +
                                                 " run(s) missed while no instance was"
                                                 " running; skipped (misfire policy skip)");
                    }
                    log_.warn("missed scheduled runs", {{"tenant", plan.key.tenant_id},
                                                        {"plugin", plan.key.plugin},
                                                        {"schedule", plan.key.schedule},
                                                        {"missed", count},
                                                        {"policy", schedule.misfire}});
                }
                for (const auto& instant : timely) {
                    runs.push_back(make_run(instant));
                    targets.push_back(plan.target);
                }
                // After a long outage, jump to now rather than replay thousands of instants.
                plan.planned_through = capped ? now : TimePoint(instants.back());
                plan.next = plan.target->expression->next_after(to_instant(plan.planned_through),
                                                                plan.zone);
            }
        }
    }
    for (const auto& [run, reason] : skipped) runs_.record_skipped(run, reason);
    if (runs.empty()) return;
    // Claim what this instance may hold; store the rest unclaimed for any instance to take.
    size_t room = 0;
    {
        std::lock_guard lock(mutex_);
        const size_t claimed = claimed_count();
        room = claimed >= options_.max_claimed ? 0 : options_.max_claimed - claimed;
    }
    const size_t leased = std::min(room, runs.size());
    std::vector<RunRecord> ours(runs.begin(), runs.begin() + static_cast<long>(leased));
    const std::vector<RunRecord> overflow(runs.begin() + static_cast<long>(leased), runs.end());
    const auto inserted = runs_.enqueue_batch(ours, instance_id_, text(horizon + options_.lease));
    runs_.enqueue_batch(overflow, std::nullopt, std::nullopt);
    if (!overflow.empty()) {
        std::lock_guard lock(mutex_);
        more_queued_ = true;
    }
    const std::unordered_set<std::string> inserted_ids(inserted.begin(), inserted.end());
    std::vector<std::pair<TimePoint, ClaimedRun>> held;
    for (size_t i = 0; i < ours.size(); ++i) {
        // Not inserted: another instance (or an earlier tick of this one) has that instant.
        if (inserted_ids.count(ours[i].id) == 0) continue;
        held.push_back(claimed(std::move(ours[i]), now, targets[i], tenant_version));
    }
    hold(std::move(held));
}

std::pair<TimePoint, Scheduler::ClaimedRun> Scheduler::claimed(RunRecord run, TimePoint now,
                                                               std::shared_ptr<const Target> target,
                                                               uint64_t tenant_version) {
    const auto due = clock::parse_rfc3339(run.next_attempt_at).value_or(now);
    const auto scheduled = clock::parse_rfc3339(run.scheduled_at).value_or(due);
    return {due, ClaimedRun{std::move(run), scheduled, std::move(target), tenant_version}};
}

void Scheduler::hold(std::vector<std::pair<TimePoint, ClaimedRun>> runs) {
    if (runs.empty()) return;
    {
        std::lock_guard lock(mutex_);
        for (auto& [due, run] : runs) held_.emplace(due, std::move(run));
    }
    wake_.notify_all();  // workers sleep until the earliest instant they know of
}

bool Scheduler::runs_waiting() {
    std::lock_guard lock(mutex_);
    return !held_.empty() && held_.begin()->first <= clock_.now();
}

size_t Scheduler::claimed_count() const {
    return held_.size() + executing_.size();
}

void Scheduler::claim_queued(TimePoint now) {
    // Retries, manual runs, runs recovered from a stopped instance, runs another instance
    // released or could not hold.
    size_t room = 0;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        const size_t claimed = claimed_count();
        room = claimed >= options_.max_claimed ? 0 : options_.max_claimed - claimed;
    }
    const size_t limit = std::min<size_t>(room, 1000);
    const TimePoint horizon = now + lookahead_;
    auto runs = runs_.claim_due(text(horizon), text(now), instance_id_,
                                text(horizon + options_.lease), limit);
    {
        std::lock_guard lock(mutex_);
        more_queued_ = limit > 0 && runs.size() == limit;
    }
    std::vector<std::pair<TimePoint, ClaimedRun>> held;
    for (auto& run : runs) held.push_back(claimed(std::move(run), now, nullptr, 0));
    hold(std::move(held));
}

std::vector<Scheduler::ClaimedRun> Scheduler::take_due(TimePoint now) {
    std::vector<ClaimedRun> due;
    std::lock_guard lock(mutex_);
    const auto end = held_.upper_bound(now);
    for (auto it = held_.begin(); it != end; ++it) due.push_back(std::move(it->second));
    held_.erase(held_.begin(), end);
    return due;
}

void Scheduler::renew_leases(TimePoint now) {
    std::vector<std::pair<std::string, std::chrono::seconds>> overdue;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, executing] : executing_) {
            if (!executing.marked && now - executing.started > executing.timeout) {
                executing.marked = true;
                overdue.emplace_back(id, executing.timeout);
            }
        }
    }
    for (const auto& [id, timeout] : overdue) {
        runs_.mark_timed_out(id);
        log_.error("scheduled run exceeded its timeout",
                   {{"run", id}, {"timeout_s", timeout.count()}});
    }
    // Renewed once a third of a lease has passed: ticks come far more often than that.
    runs_.renew_leases(instance_id_, text(now + options_.lease),
                       text(now + options_.lease * 2 / 3));
}

void Scheduler::tick() {
    const TimePoint now = clock_.now();
    try {
        plan(now);
        renew_leases(now);
        if (const int recovered = runs_.requeue_expired(text(now)); recovered > 0) {
            log_.warn("recovered runs of a stopped instance", {{"runs", recovered}});
        }
        claim_queued(now);
    } catch (const std::exception& failure) {
        // The database may be briefly unreachable: the next tick tries again.
        log_.error("scheduler tick failed", {{"reason", failure.what()}});
    }
    if (options_.workers > 0) return;
    // Without workers (tests): run what is due here, and write it down before returning.
    for (auto& run : take_due(clock_.now())) execute(std::move(run));
    record_outcomes();
}

void Scheduler::add_outcome(Outcome outcome) {
    bool first = false;
    {
        std::lock_guard lock(journal_mutex_);
        first = journal_.empty();
        journal_.push_back(std::move(outcome));
    }
    if (first) journal_changed_.notify_all();  // the recorder sleeps only on an empty journal
}

bool Scheduler::record_outcomes() {
    std::lock_guard recording(recording_mutex_);
    std::deque<Outcome> batch;
    {
        std::lock_guard lock(journal_mutex_);
        batch.swap(journal_);
    }
    // Starts of runs still executing, read after the batch was taken: a run whose end is in
    // the batch has left executing_, and one that ends from now on is written next time.
    std::vector<RunUpdate> updates;
    {
        std::lock_guard lock(mutex_);
        const std::string lease_until = text(clock_.now() + options_.lease);
        for (auto& [id, executing] : executing_) {
            if (executing.start_recorded) continue;
            executing.start_recorded = true;
            RunUpdate start;
            start.id = id;
            start.status = "running";
            start.attempts = executing.attempts;
            start.started_at = text(executing.started);
            start.next_attempt_at = executing.next_attempt_at;
            start.lease_until = lease_until;
            updates.push_back(std::move(start));
        }
    }
    const size_t starts = updates.size();
    if (batch.empty() && starts == 0) return true;
    for (const auto& outcome : batch) updates.push_back(outcome.update);
    try {
        runs_.record(updates, instance_id_);
    } catch (const std::exception& failure) {
        {
            std::lock_guard lock(mutex_);
            for (size_t i = 0; i < starts; ++i) {
                if (auto found = executing_.find(updates[i].id); found != executing_.end()) {
                    found->second.start_recorded = false;
                }
            }
        }
        // Keep them for the next batch, ahead of anything newer: nothing is lost while the
        // database is away (and the leases keep the runs from being taken meanwhile).
        log_.error("could not record scheduled runs; will retry",
                   {{"runs", updates.size()}, {"reason", failure.what()}});
        std::lock_guard lock(journal_mutex_);
        batch.insert(batch.end(), std::make_move_iterator(journal_.begin()),
                     std::make_move_iterator(journal_.end()));
        journal_ = std::move(batch);
        return false;
    }
    // Events only once the record they describe is stored; all of a batch in one transaction.
    if (services_.bus == nullptr) return true;
    std::vector<bus::Bus::Draft> events;
    for (const auto& outcome : batch) {
        if (outcome.event_type.empty()) continue;
        const auto& update = outcome.update;
        Json data = {{"run_id", update.id},
                     {"plugin", outcome.key.plugin},
                     {"schedule", outcome.key.schedule},
                     {"scheduled_at", outcome.scheduled_at},
                     {"attempts", update.attempts},
                     {"duration_ms", update.duration_ms.value_or(0)}};
        if (update.status == "failed") data["error"] = update.error.value_or("");
        events.push_back({outcome.key.tenant_id, "core", outcome.event_type, std::move(data), ""});
    }
    if (events.empty()) return true;
    try {
        services_.bus->publish_many(events);
    } catch (const std::exception& failure) {
        // The runs' own records are stored; the events are what is lost: say so loudly.
        log_.error("run events not stored",
                   {{"events", events.size()}, {"reason", failure.what()}});
    }
    return true;
}

void Scheduler::write_behind() {
    std::unique_lock lock(journal_mutex_);
    while (!journal_closing_) {
        // Ends come through the journal; starts of long runs are picked up at least every tick.
        journal_changed_.wait_for(lock, options_.tick,
                                  [this] { return journal_closing_ || !journal_.empty(); });
        if (journal_closing_) break;
        // Let a burst of runs finish into one batch; and while due runs still wait for a
        // worker, let them start first (on two cores the writes would delay them), for up to
        // a second.
        const auto deferred_until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        do {
            journal_changed_.wait_for(lock, options_.record_delay,
                                      [this] { return journal_closing_; });
        } while (!journal_closing_ && runs_waiting() &&
                 std::chrono::steady_clock::now() < deferred_until);
        lock.unlock();
        const bool written = record_outcomes();
        lock.lock();
        if (!written && !journal_closing_) {
            // The write failed: wait before trying again rather than spin.
            journal_changed_.wait_for(lock, options_.tick, [this] { return journal_closing_; });
        }
    }
}

void Scheduler::execute(ClaimedRun claimed) {
    RunRecord& run = claimed.record;
    std::shared_ptr<const Target> target = claimed.target;
    if (!target || claimed.tenant_version != tenants_.version()) {
        // A tenant changed since it was planned (it may have disabled the plugin): look again.
        auto resolved = resolve(run.key);
        target = resolved ? std::make_shared<const Target>(std::move(*resolved)) : nullptr;
    }
    const TimePoint started = clock_.now();
    RunUpdate update;
    update.id = run.id;
    update.attempts = run.attempts;
    update.next_attempt_at = run.next_attempt_at;
    if (!target) {
        update.status = "skipped";
        update.finished_at = text(started);
        update.duration_ms = 0;
        update.error = "the plugin is no longer enabled for this tenant";
        add_outcome({std::move(update), std::move(run.key), std::move(run.scheduled_at), ""});
        return;
    }
    const auto& schedule = *target->schedule;
    run.attempts += 1;
    update.attempts = run.attempts;
    update.started_at = text(started);

    const auto scheduled = claimed.scheduled;
    mc_context context;
    context.plugin = target->plugin.get();
    context.tenant_id = run.key.tenant_id;
    context.request_id = "run-" + run.id;
    context.services = &services_;
    context.timezone = target->timezone_name;
    const int64_t scheduled_at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(scheduled.time_since_epoch()).count();
    const mc_call call{sizeof(mc_call),
                       &context,
                       target->plugin->manifest.name.c_str(),
                       run.key.tenant_id.c_str(),
                       target->timezone_name.c_str(),
                       target->locale.c_str(),
                       target->settings_json.c_str(),
                       context.request_id.c_str(),
                       scheduled_at_ms,
                       target->tenant_name.c_str()};
    {
        std::lock_guard lock(mutex_);
        // Its start is written only if it is still running when the recorder next writes:
        // most runs end first, and are written once, as they ended.
        executing_[run.id] = {started, std::chrono::seconds(schedule.timeout_seconds), run.attempts,
                              run.next_attempt_at};
    }
    const auto started_steady = std::chrono::steady_clock::now();
    mc_status status = MC_ERR_INTERNAL;
    try {
        status = schedule.handler(schedule.user_data, &call);
    } catch (...) {
        context.last_logged_error = "an exception escaped the schedule handler";
    }
    const long long duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started_steady)
                                      .count();
    {
        std::lock_guard lock(mutex_);
        executing_.erase(run.id);
    }
    const TimePoint finished = clock_.now();
    update.finished_at = text(finished);
    update.duration_ms = duration_ms;
    if (status == MC_OK) {
        update.status = "succeeded";
        add_outcome(
            {std::move(update), std::move(run.key), std::move(run.scheduled_at), "run.succeeded"});
        return;
    }
    const std::string error = context.last_logged_error.empty()
                                  ? "the schedule handler reported a failure"
                                  : context.last_logged_error;
    update.error = error;
    if (run.attempts < run.max_attempts) {
        // Exponential backoff: base, 2×base, 4×base … up to the cap.
        const std::chrono::seconds backoff = std::min<std::chrono::seconds>(
            options_.retry_base * (1 << std::min(run.attempts - 1, 20)), options_.retry_cap);
        update.status = "queued";
        update.finished_at.reset();
        update.next_attempt_at = text(finished + backoff);
        log_.warn("scheduled run failed; will retry", {{"run", run.id},
                                                       {"plugin", run.key.plugin},
                                                       {"schedule", run.key.schedule},
                                                       {"tenant", run.key.tenant_id},
                                                       {"attempt", run.attempts},
                                                       {"retry_in_s", backoff.count()},
                                                       {"error", error}});
        add_outcome({std::move(update), std::move(run.key), std::move(run.scheduled_at), ""});
        return;
    }
    update.status = "failed";
    log_.error("scheduled run failed", {{"run", run.id},
                                        {"plugin", run.key.plugin},
                                        {"schedule", run.key.schedule},
                                        {"tenant", run.key.tenant_id},
                                        {"attempts", run.attempts},
                                        {"error", error}});
    add_outcome({std::move(update), std::move(run.key), std::move(run.scheduled_at), "run.failed"});
}

std::variant<RunRecord, std::string> Scheduler::trigger(const ScheduleKey& key,
                                                        std::optional<TimePoint> as_of, bool wait) {
    auto target = resolve(key);
    if (!target) {
        return "no schedule '" + key.schedule + "' of plugin '" + key.plugin +
               "' enabled for this tenant";
    }
    const TimePoint now = clock_.now();
    RunRecord run;
    run.id = ids::random_uuid();
    run.key = key;
    run.scheduled_at = text(as_of.value_or(now));
    run.origin = "manual:" + run.id;  // manual runs never collide with each other or cron
    run.status = "queued";
    run.max_attempts = target->schedule->max_attempts;
    run.next_attempt_at = text(now);
    run.created_at = text(now);
    if (!wait) {
        runs_.enqueue(run);
        wake_up(true);
        return run;
    }
    // Executed here, so inserted already leased to this instance: no other takes it.
    runs_.enqueue_batch({run}, instance_id_, text(now + options_.lease));
    execute({run, std::chrono::floor<std::chrono::seconds>(as_of.value_or(now)), nullptr, 0});
    record_outcomes();
    return runs_.find(key.tenant_id, run.id).value_or(run);
}

std::optional<RunRecord> Scheduler::retry(const std::string& tenant_id, const std::string& run_id) {
    if (!runs_.retry_failed(tenant_id, run_id, text(clock_.now()))) return std::nullopt;
    // Read before waking the workers, so the caller sees the run as it was queued.
    auto queued = runs_.find(tenant_id, run_id);
    wake_up(true);
    return queued;
}

void Scheduler::set_paused(const ScheduleKey& key, bool paused) {
    runs_.set_paused(key, paused, text(clock_.now()));
    const TimePoint now = clock_.now();
    std::lock_guard lock(plan_mutex_);
    if (paused) {
        paused_.insert(key);
        return;
    }
    paused_.erase(key);
    // Resuming does not replay the paused time.
    auto tenant = plans_.find(key.tenant_id);
    if (tenant == plans_.end()) return;
    for (auto& plan : tenant->second.schedules) {
        if (plan.key != key) continue;
        plan.planned_through = now;
        plan.next = plan.target->expression->next_after(to_instant(now), plan.zone);
    }
}

bool Scheduler::is_paused(const ScheduleKey& key) {
    std::lock_guard lock(plan_mutex_);
    if (!paused_loaded_) {
        paused_ = runs_.paused();
        paused_loaded_ = true;
    }
    return paused_.count(key) != 0;
}

std::optional<TimePoint> Scheduler::next_run(const ScheduleKey& key) {
    if (is_paused(key)) return std::nullopt;
    auto target = resolve(key);
    if (!target) return std::nullopt;
    auto next = target->expression->next_after(to_instant(clock_.now()), target->zone);
    if (!next) return std::nullopt;
    return TimePoint(*next);
}

std::optional<std::string> Scheduler::effective_cron(const ScheduleKey& key) const {
    auto target = resolve(key);
    if (!target) return std::nullopt;
    return target->expression->text();
}

void Scheduler::wake_up(bool claim) {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
        claim_requested_ = claim_requested_ || claim;
    }
    wake_.notify_all();
}

void Scheduler::loop() {
    std::unique_lock lock(mutex_);
    auto last_tick = std::chrono::steady_clock::time_point{};
    while (!ticker_stopping_) {
        woken_ = false;
        const bool claim = std::exchange(claim_requested_, false);
        const bool draining = stopping_;
        lock.unlock();
        if (draining) {
            try {
                renew_leases(clock_.now());  // no new work, but keep what runs ours
            } catch (const std::exception& failure) {
                log_.error("scheduler lease renewal failed", {{"reason", failure.what()}});
            }
        } else {
            if (std::chrono::steady_clock::now() - last_tick >= options_.tick) {
                last_tick = std::chrono::steady_clock::now();
                tick();
            } else if (claim) {
                // A manual run, a retry, or workers free while more runs are queued.
                try {
                    claim_queued(clock_.now());
                } catch (const std::exception& failure) {
                    log_.error("scheduler claim failed", {{"reason", failure.what()}});
                }
            }
        }
        lock.lock();
        // Sleep until the next tick or a wake-up. (Workers start claimed runs at their
        // instant themselves, so a slow tick never delays them.)
        const auto wait = options_.tick - std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - last_tick);
        if (wait <= std::chrono::milliseconds::zero()) continue;
        wake_.wait_for(lock, wait, [this, draining] {
            return ticker_stopping_ || woken_ || (stopping_ && !draining);
        });
    }
}

void Scheduler::work() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (held_.empty()) {
            wake_.wait(lock);
            continue;
        }
        const auto until_due = held_.begin()->first - clock_.now();
        if (until_due > TimePoint::duration::zero()) {
            // Sleep to the instant (to the tick at most: a test's clock may jump meanwhile).
            wake_.wait_for(
                lock, std::min<std::chrono::microseconds>(
                          std::chrono::ceil<std::chrono::microseconds>(until_due), options_.tick));
            continue;
        }
        // In a burst (thousands due at one instant) take several per turn of the lock, so the
        // workers spend their time running handlers rather than queueing for it.
        const size_t take = held_.size() >= 256 * static_cast<size_t>(options_.workers) ? 32 : 1;
        std::vector<ClaimedRun> runs;
        const auto now = clock_.now();
        while (runs.size() < take && !held_.empty() && held_.begin()->first <= now) {
            runs.push_back(std::move(held_.begin()->second));
            held_.erase(held_.begin());
        }
        lock.unlock();
        for (auto& run : runs) execute(std::move(run));
        lock.lock();
        if (more_queued_ && (held_.empty() || held_.begin()->first > clock_.now())) {
            // Free, and more is queued than was claimed: claim now, not at the next tick.
            claim_requested_ = woken_ = true;
            wake_.notify_all();
        }
    }
    // Runs not started stay queued (stop() releases them) for another instance.
}

}  // namespace miconsul::scheduler
