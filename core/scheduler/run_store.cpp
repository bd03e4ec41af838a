#include "scheduler/run_store.h"

#include "storage/json_statement.h"

namespace miconsul::scheduler {

namespace {
using Json = nlohmann::json;

constexpr const char* kColumns =
    "id, tenant_id, plugin, schedule, scheduled_at, origin, status, attempts, max_attempts,"
    " next_attempt_at, started_at, finished_at, duration_ms, error, timed_out, created_at";

RunRecord read_run(const soci::row& row) {
    RunRecord run;
    run.id = row.get<std::string>(0);
    run.key = {row.get<std::string>(1), row.get<std::string>(2), row.get<std::string>(3)};
    run.scheduled_at = row.get<std::string>(4);
    run.origin = row.get<std::string>(5);
    run.status = row.get<std::string>(6);
    run.attempts = static_cast<int>(storage::integer_column(row, 7));
    run.max_attempts = static_cast<int>(storage::integer_column(row, 8));
    run.next_attempt_at = row.get<std::string>(9);
    run.started_at = storage::optional_text_column(row, 10);
    run.finished_at = storage::optional_text_column(row, 11);
    if (row.get_indicator(12) != soci::i_null) run.duration_ms = storage::integer_column(row, 12);
    run.error = storage::optional_text_column(row, 13);
    run.timed_out = storage::integer_column(row, 14) != 0;
    run.created_at = row.get<std::string>(15);
    return run;
}

Json optional_json(const std::optional<std::string>& value) {
    return value ? Json(*value) : Json(nullptr);
}
}  // namespace

Json RunRecord::to_json() const {
    return {{"id", id},
            {"tenant", key.tenant_id},
            {"plugin", key.plugin},
            {"schedule", key.schedule},
            {"scheduled_at", scheduled_at},
            {"trigger", origin == "cron" ? "cron" : "manual"},
            {"status", status},
            {"attempts", attempts},
            {"max_attempts", max_attempts},
            {"next_attempt_at", status == "queued" ? Json(next_attempt_at) : Json(nullptr)},
            {"started_at", optional_json(started_at)},
            {"finished_at", optional_json(finished_at)},
            {"duration_ms", duration_ms ? Json(*duration_ms) : Json(nullptr)},
            {"error", optional_json(error)},
            {"timed_out", timed_out},
            {"created_at", created_at}};
}

RunStore::RunStore(storage::Database& database) : database_(database) {}

bool RunStore::enqueue(const RunRecord& run) {
    long long inserted = 0;
    database_.with_platform([&](soci::session& session) {
        // ON CONFLICT DO NOTHING: the unique (tenant, plugin, schedule, instant, origin) key is
        // the claim — however many instances plan the same instant, one row wins.
        soci::statement statement =
            (session.prepare << "INSERT INTO scheduled_runs (id, tenant_id, plugin, schedule,"
                                " scheduled_at, origin, status, attempts, max_attempts,"
                                " next_attempt_at, timed_out, created_at) VALUES (:id, :tenant,"
                                " :plugin, :schedule, :scheduled_at, :origin, 'queued', 0,"
                                " :max_attempts, :next_attempt_at, 0, :created_at)"
                                " ON CONFLICT DO NOTHING",
             soci::use(run.id, "id"), soci::use(run.key.tenant_id, "tenant"),
             soci::use(run.key.plugin, "plugin"), soci::use(run.key.schedule, "schedule"),
             soci::use(run.scheduled_at, "scheduled_at"), soci::use(run.origin, "origin"),
             soci::use(run.max_attempts, "max_attempts"),
             soci::use(run.next_attempt_at, "next_attempt_at"),
             soci::use(run.created_at, "created_at"));
        statement.execute(true);
        inserted = statement.get_affected_rows();
    });
    return inserted == 1;
}

std::vector<std::string> RunStore::due(const std::string& now, size_t limit) {
    std::vector<std::string> ids;
    const int row_limit = static_cast<int>(limit);
    database_.with_platform([&](soci::session& session) {
        soci::rowset<std::string> rows =
            (session.prepare << "SELECT id FROM scheduled_runs WHERE status = 'queued' AND"
                                " next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :limit",
             soci::use(now, "now"), soci::use(row_limit, "limit"));
        for (const auto& id : rows) ids.push_back(id);
    });
    return ids;
}

std::optional<RunRecord> RunStore::claim(const std::string& id, const std::string& owner,
                                         const std::string& now,
                                         const std::string& lease_until) {
    std::optional<RunRecord> claimed;
    database_.with_platform([&](soci::session& session) {
        // Conditional on still being queued: of several instances, exactly one changes the row.
        soci::statement statement =
            (session.prepare << "UPDATE scheduled_runs SET status = 'running', attempts ="
                                " attempts + 1, started_at = :now, lease_owner = :owner,"
                                " lease_until = :lease_until, finished_at = NULL"
                                " WHERE id = :id AND status = 'queued'",
             soci::use(now, "now"), soci::use(owner, "owner"),
             soci::use(lease_until, "lease_until"), soci::use(id, "id"));
        statement.execute(true);
        if (statement.get_affected_rows() != 1) return;
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kColumns +
                                    " FROM scheduled_runs WHERE id = :id",
             soci::use(id, "id"));
        for (const auto& row : rows) claimed = read_run(row);
    });
    return claimed;
}

void RunStore::heartbeat(const std::vector<std::string>& ids, const std::string& owner,
                         const std::string& lease_until) {
    if (ids.empty()) return;
    database_.with_platform([&](soci::session& session) {
        for (const auto& id : ids) {
            session << "UPDATE scheduled_runs SET lease_until = :lease_until"
                       " WHERE id = :id AND lease_owner = :owner AND status = 'running'",
                soci::use(lease_until, "lease_until"), soci::use(id, "id"),
                soci::use(owner, "owner");
        }
    });
}

int RunStore::requeue_expired(const std::string& now) {
    long long requeued = 0;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        // A run that already used its attempts (it may be what crashed the instances) fails
        // instead of going round again.
        session << "UPDATE scheduled_runs SET status = 'failed', finished_at = :now,"
                   " lease_owner = NULL, lease_until = NULL,"
                   " error = 'the instance running it stopped, and no attempts are left'"
                   " WHERE status = 'running' AND lease_until < :expired_before"
                   " AND attempts >= max_attempts",
            soci::use(now, "now"), soci::use(now, "expired_before");
        soci::statement statement =
            (session.prepare << "UPDATE scheduled_runs SET status = 'queued', lease_owner = NULL,"
                                " lease_until = NULL, next_attempt_at = :now,"
                                " error = 'the instance running it stopped; recovered'"
                                " WHERE status = 'running' AND lease_until < :expired_before",
             soci::use(now, "now"), soci::use(now, "expired_before"));
        statement.execute(true);
        requeued = statement.get_affected_rows();
        transaction.commit();
    });
    return static_cast<int>(requeued);
}

void RunStore::finish(const std::string& id, const std::string& owner, const std::string& status,
                      const std::string& finished_at, long long duration_ms,
                      const std::optional<std::string>& error) {
    soci::indicator error_indicator = error ? soci::i_ok : soci::i_null;
    const std::string error_text = error.value_or("");
    database_.with_platform([&](soci::session& session) {
        session << "UPDATE scheduled_runs SET status = :status, finished_at = :finished_at,"
                   " duration_ms = :duration_ms, error = :error, lease_owner = NULL,"
                   " lease_until = NULL WHERE id = :id AND lease_owner = :owner",
            soci::use(status, "status"), soci::use(finished_at, "finished_at"),
            soci::use(duration_ms, "duration_ms"), soci::use(error_text, error_indicator, "error"),
            soci::use(id, "id"), soci::use(owner, "owner");
    });
}

void RunStore::retry_later(const std::string& id, const std::string& owner,
                           const std::string& next_attempt_at, long long duration_ms,
                           const std::string& error) {
    database_.with_platform([&](soci::session& session) {
        session << "UPDATE scheduled_runs SET status = 'queued', next_attempt_at = :next,"
                   " duration_ms = :duration_ms, error = :error, lease_owner = NULL,"
                   " lease_until = NULL WHERE id = :id AND lease_owner = :owner",
            soci::use(next_attempt_at, "next"), soci::use(duration_ms, "duration_ms"),
            soci::use(error, "error"), soci::use(id, "id"), soci::use(owner, "owner");
    });
}

void RunStore::mark_timed_out(const std::string& id) {
    database_.with_platform([&](soci::session& session) {
        session << "UPDATE scheduled_runs SET timed_out = 1 WHERE id = :id", soci::use(id, "id");
    });
}

void RunStore::record_skipped(const RunRecord& run, const std::string& reason) {
    database_.with_platform([&](soci::session& session) {
        session << "INSERT INTO scheduled_runs (id, tenant_id, plugin, schedule, scheduled_at,"
                   " origin, status, attempts, max_attempts, next_attempt_at, finished_at,"
                   " error, timed_out, created_at) VALUES (:id, :tenant, :plugin, :schedule,"
                   " :scheduled_at, :origin, 'skipped', 0, :max_attempts, :next_attempt_at,"
                   " :finished_at, :error, 0, :created_at) ON CONFLICT DO NOTHING",
            soci::use(run.id, "id"), soci::use(run.key.tenant_id, "tenant"),
            soci::use(run.key.plugin, "plugin"), soci::use(run.key.schedule, "schedule"),
            soci::use(run.scheduled_at, "scheduled_at"), soci::use(run.origin, "origin"),
            soci::use(run.max_attempts, "max_attempts"),
            soci::use(run.next_attempt_at, "next_attempt_at"),
            soci::use(run.created_at, "finished_at"), soci::use(reason, "error"),
            soci::use(run.created_at, "created_at");
    });
}

bool RunStore::retry_failed(const std::string& tenant_id, const std::string& id,
                            const std::string& now) {
    long long changed = 0;
    database_.with_platform([&](soci::session& session) {
        soci::statement statement =
            (session.prepare << "UPDATE scheduled_runs SET status = 'queued', next_attempt_at ="
                                " :now, max_attempts = attempts + 1, finished_at = NULL"
                                " WHERE id = :id AND tenant_id = :tenant AND status = 'failed'",
             soci::use(now, "now"), soci::use(id, "id"), soci::use(tenant_id, "tenant"));
        statement.execute(true);
        changed = statement.get_affected_rows();
    });
    return changed == 1;
}

std::optional<RunRecord> RunStore::find(const std::string& tenant_id, const std::string& id) {
    std::optional<RunRecord> found;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kColumns +
                                    " FROM scheduled_runs WHERE id = :id AND tenant_id = :tenant",
             soci::use(id, "id"), soci::use(tenant_id, "tenant"));
        for (const auto& row : rows) found = read_run(row);
    });
    return found;
}

std::vector<RunRecord> RunStore::list(const RunFilter& filter, std::string& next_cursor) {
    // Newest first by (created_at, id); the cursor is the last row's "created_at|id". Without
    // one, a bound above every real value: "~" sorts after digits, letters and '-'.
    std::string cursor_time = "~", cursor_id = "~";
    if (const auto bar = filter.cursor.find('|'); bar != std::string::npos) {
        cursor_time = filter.cursor.substr(0, bar);
        cursor_id = filter.cursor.substr(bar + 1);
    }
    const int row_limit = static_cast<int>(filter.limit + 1);
    std::vector<RunRecord> runs;
    database_.with_platform([&](soci::session& session) {
        // Every placeholder is named once: SOCI's backends differ on repeated names.
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kColumns +
                                    " FROM scheduled_runs WHERE tenant_id = :tenant"
                                    " AND (:any_plugin = '' OR plugin = :plugin)"
                                    " AND (:any_status = '' OR status = :status)"
                                    " AND (:any_schedule = '' OR schedule = :schedule)"
                                    " AND (created_at < :before_time OR (created_at = :at_time"
                                    " AND id < :before_id))"
                                    " ORDER BY created_at DESC, id DESC LIMIT :limit",
             soci::use(filter.tenant_id, "tenant"), soci::use(filter.plugin, "any_plugin"),
             soci::use(filter.plugin, "plugin"), soci::use(filter.status, "any_status"),
             soci::use(filter.status, "status"), soci::use(filter.schedule, "any_schedule"),
             soci::use(filter.schedule, "schedule"), soci::use(cursor_time, "before_time"),
             soci::use(cursor_time, "at_time"), soci::use(cursor_id, "before_id"),
             soci::use(row_limit, "limit"));
        for (const auto& row : rows) runs.push_back(read_run(row));
    });
    next_cursor.clear();
    if (runs.size() > filter.limit) {
        runs.resize(filter.limit);
        next_cursor = runs.back().created_at + "|" + runs.back().id;
    }
    return runs;
}

std::map<ScheduleKey, std::string> RunStore::latest_cron_instants() {
    std::map<ScheduleKey, std::string> latest;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT tenant_id, plugin, schedule, MAX(scheduled_at)"
                                " FROM scheduled_runs WHERE origin = 'cron'"
                                " GROUP BY tenant_id, plugin, schedule");
        for (const auto& row : rows) {
            latest[{row.get<std::string>(0), row.get<std::string>(1), row.get<std::string>(2)}] =
                row.get<std::string>(3);
        }
    });
    return latest;
}

std::set<ScheduleKey> RunStore::paused() {
    std::set<ScheduleKey> keys;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT tenant_id, plugin, schedule FROM schedule_state"
                                " WHERE paused = 1");
        for (const auto& row : rows) {
            keys.insert({row.get<std::string>(0), row.get<std::string>(1), row.get<std::string>(2)});
        }
    });
    return keys;
}

void RunStore::set_paused(const ScheduleKey& key, bool paused, const std::string& now) {
    const int flag = paused ? 1 : 0;
    database_.with_platform([&](soci::session& session) {
        session << "INSERT INTO schedule_state (tenant_id, plugin, schedule, paused, updated_at)"
                   " VALUES (:tenant, :plugin, :schedule, :paused, :now)"
                   " ON CONFLICT (tenant_id, plugin, schedule) DO UPDATE SET"
                   " paused = excluded.paused, updated_at = excluded.updated_at",
            soci::use(key.tenant_id, "tenant"), soci::use(key.plugin, "plugin"),
            soci::use(key.schedule, "schedule"), soci::use(flag, "paused"),
            soci::use(now, "now");
    });
}

}  // namespace miconsul::scheduler
