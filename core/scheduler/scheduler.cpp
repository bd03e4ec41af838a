#include "scheduler/scheduler.h"

#include "bus/bus.h"
#include "ids/ids.h"

#include <date/tz.h>

#include <algorithm>

namespace miconsul::scheduler {

namespace {
using clock::TimePoint;
using Json = nlohmann::json;

// A catch-up after downtime computes at most this many instants per schedule and tick.
constexpr size_t kMaxInstantsPerTick = 1000;

std::string text(TimePoint instant) { return clock::rfc3339_utc(instant); }

Instant to_instant(TimePoint instant) {
    return std::chrono::floor<std::chrono::seconds>(instant);
}
}  // namespace

struct Scheduler::Target {
    std::shared_ptr<const plugins::LoadedPlugin> plugin;
    const plugins::ScheduleInfo* schedule = nullptr;
    const date::time_zone* zone = nullptr;
    std::string timezone_name;
    std::string locale;
    std::string settings_json;
};

Scheduler::Scheduler(storage::Database& database, tenants::TenantStore& tenants,
                     const plugins::PluginRegistry& registry, plugins::HostServices& services,
                     const clock::Clock& clock, logging::Log log, SchedulerOptions options)
    : database_(database), tenants_(tenants), registry_(registry), services_(services),
      clock_(clock), log_(std::move(log)), options_(options), runs_(database),
      instance_id_(ids::random_request_id()) {
    // A lease must outlive several ticks, or a slow tick would let another instance take over
    // a healthy run.
    options_.lease = std::max(options_.lease, options_.tick * 3);
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
    ticker_ = std::thread([this] { loop(); });
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
}

void Scheduler::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.notify_all();
    // Workers finish the runs they hold while the ticker still renews their leases; only then
    // does the ticker stop.
    for (auto& worker : workers_) worker.join();
    workers_.clear();
    {
        std::lock_guard lock(mutex_);
        ticker_stopping_ = true;
    }
    wake_.notify_all();
    if (ticker_.joinable()) ticker_.join();
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
    target.settings_json = settings->second;
    return target;
}

std::vector<ScheduleKey> Scheduler::all_keys() const {
    std::vector<ScheduleKey> keys;
    for (const auto& record : registry_.records()) {
        if (!record.loaded || record.plugin->manifest.scope != plugins::Scope::platform) continue;
        for (const auto& schedule : record.plugin->schedules) {
            keys.push_back({"", record.name, schedule.name});
        }
    }
    for (const auto& tenant_id : tenants_.ids()) {
        auto snapshot = tenants_.find(tenant_id);
        if (!snapshot || snapshot->tenant.status != "active") continue;
        for (const auto& [name, settings] : snapshot->enabled_settings) {
            auto plugin = registry_.find_loaded(name);
            if (!plugin) continue;
            for (const auto& schedule : plugin->schedules) {
                keys.push_back({tenant_id, name, schedule.name});
            }
        }
    }
    return keys;
}

void Scheduler::plan(TimePoint now) {
    std::lock_guard lock(mutex_);
    if (!planned_loaded_) {
        // Resume where the last run of each schedule left off, whichever instance planned it.
        for (const auto& [key, instant] : runs_.latest_cron_instants()) {
            if (auto parsed = clock::parse_rfc3339(instant)) planned_through_[key] = *parsed;
        }
        planned_loaded_ = true;
    }
    // Read every tick: a pause made through another instance must hold here too.
    paused_ = runs_.paused();
    paused_loaded_ = true;
    std::set<ScheduleKey> live;
    for (const auto& key : all_keys()) {
        live.insert(key);
        auto cursor = planned_through_.find(key);
        // A schedule seen for the first time, or paused, starts from now: no backfill.
        if (cursor == planned_through_.end() || paused_.count(key) != 0) {
            planned_through_[key] = now;
            continue;
        }
        auto target = resolve(key);
        if (!target) continue;
        const auto& schedule = *target->schedule;
        std::vector<Instant> instants;
        Instant after = to_instant(cursor->second);
        while (instants.size() < kMaxInstantsPerTick) {
            auto next = schedule.expression->next_after(after, target->zone);
            if (!next || *next > to_instant(now)) break;
            instants.push_back(*next);
            after = *next;
        }
        if (instants.empty()) continue;
        const bool capped = instants.size() == kMaxInstantsPerTick;
        // Never less than two ticks: an instant a tick is late for is not a misfire.
        const auto grace = std::max<std::chrono::seconds>(
            std::chrono::seconds(schedule.misfire_grace_seconds),
            std::chrono::ceil<std::chrono::seconds>(options_.tick * 2));
        std::vector<Instant> missed, timely;
        for (const auto& instant : instants) {
            (to_instant(now) - instant > grace ? missed : timely).push_back(instant);
        }
        const std::string now_text = text(now);
        auto make_run = [&](Instant instant) {
            RunRecord run;
            run.id = ids::random_uuid();
            run.key = key;
            run.scheduled_at = text(instant);
            run.origin = "cron";
            run.max_attempts = schedule.max_attempts;
            run.next_attempt_at = run.scheduled_at;
            run.created_at = now_text;
            return run;
        };
        if (!missed.empty()) {
            const std::string count =
                (capped ? "at least " : "") + std::to_string(missed.size());
            if (schedule.misfire == "run_once") {
                runs_.enqueue(make_run(missed.back()));
            } else {
                runs_.record_skipped(make_run(missed.back()),
                                     count + " run(s) missed while no instance was running;"
                                             " skipped (misfire policy skip)");
            }
            log_.warn("missed scheduled runs", {{"tenant", key.tenant_id},
                                                {"plugin", key.plugin},
                                                {"schedule", key.schedule},
                                                {"missed", count},
                                                {"policy", schedule.misfire}});
        }
        for (const auto& instant : timely) runs_.enqueue(make_run(instant));
        // After a long outage, jump to now rather than replay thousands of instants.
        planned_through_[key] = capped ? now : TimePoint(instants.back());
    }
    // Forget schedules no longer enabled, so re-enabling starts fresh (no backfill).
    for (auto it = planned_through_.begin(); it != planned_through_.end();) {
        it = live.count(it->first) != 0 ? std::next(it) : planned_through_.erase(it);
    }
}

void Scheduler::renew_leases(TimePoint now) {
    std::vector<std::string> ids;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, started] : executing_) {
            ids.push_back(id);
            const auto timeout = timeouts_[id];
            if (now - started > timeout && timed_out_marked_.insert(id).second) {
                runs_.mark_timed_out(id);
                log_.error("scheduled run exceeded its timeout",
                           {{"run", id}, {"timeout_s", timeout.count()}});
            }
        }
    }
    runs_.heartbeat(ids, instance_id_, text(now + options_.lease));
}

void Scheduler::dispatch(TimePoint now) {
    if (const int recovered = runs_.requeue_expired(text(now)); recovered > 0) {
        log_.warn("recovered runs of a stopped instance", {{"runs", recovered}});
    }
    // Claim a few runs ahead of the workers (not more: a claimed run waits with its lease
    // running); workers wake the loop to claim more as they finish.
    size_t capacity = 100;
    if (options_.workers > 0) {
        std::lock_guard lock(mutex_);
        const size_t limit = static_cast<size_t>(options_.workers) * 4;
        const size_t busy = ready_.size() + executing_.size();
        capacity = busy >= limit ? 0 : limit - busy;
    }
    if (capacity == 0) return;
    for (const auto& id : runs_.due(text(now), capacity)) {
        auto claimed = runs_.claim(id, instance_id_, text(now), text(now + options_.lease));
        if (!claimed) continue;  // another instance was faster
        if (options_.workers == 0) {
            execute(std::move(*claimed));
            continue;
        }
        {
            std::lock_guard lock(mutex_);
            ready_.push_back(std::move(*claimed));
        }
        wake_.notify_all();
    }
}

void Scheduler::tick() {
    const TimePoint now = clock_.now();
    try {
        plan(now);
        renew_leases(now);
        dispatch(now);
    } catch (const std::exception& failure) {
        // The database may be briefly unreachable: the next tick tries again.
        log_.error("scheduler tick failed", {{"reason", failure.what()}});
    }
}

void Scheduler::publish_run_event(const std::string& type, const std::string& tenant_id,
                                  const Json& data) {
    if (services_.bus == nullptr) return;
    try {
        services_.bus->publish(tenant_id, "core", type, data);
    } catch (const std::exception& failure) {
        // The run's own record is already stored; the event is what is lost: say so loudly.
        log_.error("run event not stored", {{"type", type}, {"reason", failure.what()}});
    }
}

void Scheduler::execute(RunRecord run) {
    const auto target = resolve(run.key);
    if (!target) {
        runs_.finish(run.id, instance_id_, "skipped", text(clock_.now()), 0,
                     std::string("the plugin is no longer enabled for this tenant"));
        return;
    }
    const auto& schedule = *target->schedule;
    const auto scheduled = clock::parse_rfc3339(run.scheduled_at).value_or(clock_.now());
    mc_context context;
    context.plugin = target->plugin.get();
    context.tenant_id = run.key.tenant_id;
    context.request_id = "run-" + run.id;
    context.services = &services_;
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
                       scheduled_at_ms};
    const TimePoint started = clock_.now();
    {
        std::lock_guard lock(mutex_);
        executing_[run.id] = started;
        timeouts_[run.id] = std::chrono::seconds(schedule.timeout_seconds);
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
        timeouts_.erase(run.id);
        timed_out_marked_.erase(run.id);
    }
    const TimePoint finished = clock_.now();
    const Json event_data = {{"run_id", run.id},
                             {"plugin", run.key.plugin},
                             {"schedule", run.key.schedule},
                             {"scheduled_at", run.scheduled_at},
                             {"attempts", run.attempts},
                             {"duration_ms", duration_ms}};
    if (status == MC_OK) {
        runs_.finish(run.id, instance_id_, "succeeded", text(finished), duration_ms, std::nullopt);
        publish_run_event("run.succeeded", run.key.tenant_id, event_data);
        return;
    }
    const std::string error = context.last_logged_error.empty()
                                  ? "the schedule handler reported a failure"
                                  : context.last_logged_error;
    if (run.attempts < run.max_attempts) {
        // Exponential backoff: base, 2×base, 4×base … up to the cap.
        const std::chrono::seconds backoff =
            std::min<std::chrono::seconds>(options_.retry_base * (1 << std::min(run.attempts - 1, 20)),
                                           options_.retry_cap);
        runs_.retry_later(run.id, instance_id_, text(finished + backoff), duration_ms, error);
        log_.warn("scheduled run failed; will retry", {{"run", run.id},
                                                       {"plugin", run.key.plugin},
                                                       {"schedule", run.key.schedule},
                                                       {"tenant", run.key.tenant_id},
                                                       {"attempt", run.attempts},
                                                       {"retry_in_s", backoff.count()},
                                                       {"error", error}});
        return;
    }
    runs_.finish(run.id, instance_id_, "failed", text(finished), duration_ms, error);
    Json failed_data = event_data;
    failed_data["error"] = error;
    publish_run_event("run.failed", run.key.tenant_id, failed_data);
    log_.error("scheduled run failed", {{"run", run.id},
                                        {"plugin", run.key.plugin},
                                        {"schedule", run.key.schedule},
                                        {"tenant", run.key.tenant_id},
                                        {"attempts", run.attempts},
                                        {"error", error}});
}

std::variant<RunRecord, std::string> Scheduler::trigger(const ScheduleKey& key,
                                                        std::optional<TimePoint> as_of,
                                                        bool wait) {
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
    run.max_attempts = target->schedule->max_attempts;
    // A run we are about to execute here is not due for the ticker until its lease would end.
    run.next_attempt_at = text(wait ? now + options_.lease : now);
    run.created_at = text(now);
    runs_.enqueue(run);
    if (!wait) {
        wake_up();
        return run;
    }
    if (auto claimed = runs_.claim(run.id, instance_id_, text(now), text(now + options_.lease))) {
        execute(std::move(*claimed));
    }
    return runs_.find(key.tenant_id, run.id).value_or(run);
}

std::optional<RunRecord> Scheduler::retry(const std::string& tenant_id,
                                          const std::string& run_id) {
    if (!runs_.retry_failed(tenant_id, run_id, text(clock_.now()))) return std::nullopt;
    // Read before waking the workers, so the caller sees the run as it was queued.
    auto queued = runs_.find(tenant_id, run_id);
    wake_up();
    return queued;
}

void Scheduler::set_paused(const ScheduleKey& key, bool paused) {
    runs_.set_paused(key, paused, text(clock_.now()));
    std::lock_guard lock(mutex_);
    if (paused) {
        paused_.insert(key);
    } else {
        paused_.erase(key);
        planned_through_[key] = clock_.now();  // resuming does not replay the paused time
    }
}

bool Scheduler::is_paused(const ScheduleKey& key) {
    std::lock_guard lock(mutex_);
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
    auto next = target->schedule->expression->next_after(to_instant(clock_.now()), target->zone);
    if (!next) return std::nullopt;
    return TimePoint(*next);
}

void Scheduler::wake_up() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    wake_.notify_all();
}

void Scheduler::loop() {
    std::unique_lock lock(mutex_);
    auto last_full_tick = std::chrono::steady_clock::time_point{};
    while (!ticker_stopping_) {
        woken_ = false;
        const bool draining = stopping_;
        lock.unlock();
        if (draining) {
            renew_leases(clock_.now());  // no new work, but keep what runs ours
        } else if (std::chrono::steady_clock::now() - last_full_tick >= options_.tick) {
            last_full_tick = std::chrono::steady_clock::now();
            tick();
        } else {
            // Woken between ticks (a worker is free, a manual run): only look for due runs.
            try {
                dispatch(clock_.now());
            } catch (const std::exception& failure) {
                log_.error("scheduler dispatch failed", {{"reason", failure.what()}});
            }
        }
        lock.lock();
        // A manual run or a retry wakes the loop at once; otherwise one tick later.
        wake_.wait_for(lock, options_.tick,
                       [this, draining] { return ticker_stopping_ || woken_ || (stopping_ && !draining); });
    }
}

void Scheduler::work() {
    for (;;) {
        RunRecord run;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
            if (ready_.empty()) return;  // stopping, and nothing claimed is left
            run = std::move(ready_.front());
            ready_.pop_front();
        }
        execute(std::move(run));
        wake_up();  // a worker is free: claim more now rather than at the next tick
    }
}

}  // namespace miconsul::scheduler
