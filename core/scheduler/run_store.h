// Scheduled runs in the platform database: the claim that makes each instant run once across
// instances, the lease that lets another instance recover a crashed one's runs, and the
// record of every run (status, attempts, timing, error).
//
// A run's life: queued (next_attempt_at = when it may start) → running (leased by one
// instance) → succeeded | failed | skipped, or back to queued for a retry or after its lease
// expired. Times are RFC 3339 UTC text, which sorts as time.
#pragma once

#include "clock/clock.h"
#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace miconsul::scheduler {

/// Identifies a schedule for one tenant ("" for a platform plugin).
struct ScheduleKey {
    std::string tenant_id;
    std::string plugin;
    std::string schedule;
    auto operator<=>(const ScheduleKey&) const = default;
};

struct RunRecord {
    std::string id;
    ScheduleKey key;
    std::string scheduled_at;
    std::string origin;  // "cron", or "manual:<id>" for a run asked for over the API
    std::string status;  // queued, running, succeeded, failed, skipped
    int attempts = 0;
    int max_attempts = 1;
    std::string next_attempt_at;
    std::optional<std::string> started_at;
    std::optional<std::string> finished_at;
    std::optional<long long> duration_ms;
    std::optional<std::string> error;
    bool timed_out = false;
    std::string created_at;

    nlohmann::json to_json() const;
};

/// What one attempt changed in a run's record, written behind in batches: the start
/// (status running, lease kept) or the end (a final status, or queued for a retry; lease
/// released).
struct RunUpdate {
    std::string id;
    std::string status;
    int attempts = 0;
    std::optional<std::string> started_at;
    std::optional<std::string> finished_at;
    std::optional<long long> duration_ms;
    std::optional<std::string> error;
    std::string next_attempt_at;
    std::optional<std::string> lease_until;  // set: the run stays leased; nullopt: released
};

struct RunFilter {
    std::string tenant_id;
    std::string plugin;    // "" = any
    std::string status;    // "" = any
    std::string schedule;  // "" = any
    std::string cursor;    // from a previous page
    size_t limit = 50;
};

class RunStore {
public:
    explicit RunStore(storage::Database& database);

    /// Inserts a queued run unless one with the same key, instant and origin exists. Returns
    /// whether this call inserted it (false: another instance or an earlier tick did).
    bool enqueue(const RunRecord& run);

    /// Inserts queued runs in a few statements, leased to `owner` until `lease_until` (no
    /// owner: left for any instance to claim). Runs whose key and instant another instance
    /// (or an earlier tick) already inserted are left out. Returns the ids this call inserted.
    std::vector<std::string> enqueue_batch(const std::vector<RunRecord>& runs,
                                           const std::optional<std::string>& owner,
                                           const std::optional<std::string>& lease_until);

    /// Leases to `owner` up to `limit` queued runs due by `horizon` that nobody holds (or
    /// whose holder's lease ended before `now`), oldest first; the runs as leased. Several
    /// instances claiming at once each get different runs.
    std::vector<RunRecord> claim_due(const std::string& horizon, const std::string& now,
                                     const std::string& owner, const std::string& lease_until,
                                     size_t limit);

    /// Leases a queued run to `owner` and starts it (status running, one more attempt), as an
    /// instance that then crashed would have; the run, or nullopt if it is not queued.
    std::optional<RunRecord> claim(const std::string& id, const std::string& owner,
                                   const std::string& now, const std::string& lease_until);

    /// Extends to `lease_until` every lease `owner` holds that ends before `renew_before`, on
    /// waiting and running runs alike: one statement however many runs it holds, and a row
    /// rewritten only once its lease has partly run down.
    void renew_leases(const std::string& owner, const std::string& lease_until,
                      const std::string& renew_before);

    /// Gives up `owner`'s leases on runs it has not started, for other instances to take now.
    void release(const std::string& owner);

    /// Writes attempts' starts and ends for runs `owner` holds, in a few statements.
    void record(const std::vector<RunUpdate>& updates, const std::string& owner);

    /// Puts running runs whose lease expired back in the queue. Returns how many.
    int requeue_expired(const std::string& now);

    /// Marks a run that is still running past its timeout (it cannot be interrupted).
    void mark_timed_out(const std::string& id);

    /// Records a run that was decided not to run (misfire skip, plugin disabled meanwhile).
    void record_skipped(const RunRecord& run, const std::string& reason);

    /// A failed run queued once more (one more attempt). False if it is not failed.
    bool retry_failed(const std::string& tenant_id, const std::string& id, const std::string& now);

    std::optional<RunRecord> find(const std::string& tenant_id, const std::string& id);

    /// Runs newest first, filtered; `next_cursor` set when more exist.
    std::vector<RunRecord> list(const RunFilter& filter, std::string& next_cursor);

    /// The latest cron instant recorded for every schedule: where planning resumes.
    std::map<ScheduleKey, std::string> latest_cron_instants();

    std::set<ScheduleKey> paused();
    void set_paused(const ScheduleKey& key, bool paused, const std::string& now);

private:
    storage::Database& database_;
};

}  // namespace miconsul::scheduler
