#include "scheduler/run_store.h"

#include "storage/json_statement.h"

#include <algorithm>

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
    return !enqueue_batch({run}, std::nullopt, std::nullopt).empty();
}

namespace {
// Rows per multi-row statement: well under SQLite's and PostgreSQL's parameter limits.
constexpr size_t kRowsPerStatement = 500;

Json nullable(const std::optional<std::string>& value) {
    return value ? Json(*value) : Json(nullptr);
}

RunRecord run_from_json(const Json& row) {
    auto text = [&](const char* column) -> std::optional<std::string> {
        const auto& value = row.at(column);
        return value.is_null() ? std::nullopt
                               : std::optional<std::string>(value.get<std::string>());
    };
    // SQLite gives integers; PostgreSQL gives what the column is — integer too.
    auto integer = [&](const char* column) { return row.at(column).get<long long>(); };
    RunRecord run;
    run.id = row.at("id").get<std::string>();
    run.key = {row.at("tenant_id").get<std::string>(), row.at("plugin").get<std::string>(),
               row.at("schedule").get<std::string>()};
    run.scheduled_at = row.at("scheduled_at").get<std::string>();
    run.origin = row.at("origin").get<std::string>();
    run.status = row.at("status").get<std::string>();
    run.attempts = static_cast<int>(integer("attempts"));
    run.max_attempts = static_cast<int>(integer("max_attempts"));
    run.next_attempt_at = row.at("next_attempt_at").get<std::string>();
    run.started_at = text("started_at");
    run.finished_at = text("finished_at");
    if (!row.at("duration_ms").is_null()) run.duration_ms = integer("duration_ms");
    run.error = text("error");
    run.timed_out = integer("timed_out") != 0;
    run.created_at = row.at("created_at").get<std::string>();
    return run;
}
}  // namespace

std::vector<std::string> RunStore::enqueue_batch(const std::vector<RunRecord>& runs,
                                                 const std::optional<std::string>& owner,
                                                 const std::optional<std::string>& lease_until) {
    std::vector<std::string> inserted;
    if (runs.empty()) return inserted;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        for (size_t first = 0; first < runs.size(); first += kRowsPerStatement) {
            const size_t last = std::min(runs.size(), first + kRowsPerStatement);
            std::string sql =
                "INSERT INTO scheduled_runs (id, tenant_id, plugin, schedule, scheduled_at,"
                " origin, status, attempts, max_attempts, next_attempt_at, timed_out, created_at,"
                " lease_owner, lease_until) VALUES ";
            std::vector<Json> rows;
            for (size_t i = first; i < last; ++i) {
                const auto& run = runs[i];
                rows.push_back(Json::array(
                    {run.id, run.key.tenant_id, run.key.plugin, run.key.schedule, run.scheduled_at,
                     run.origin, "queued", 0, run.max_attempts, run.next_attempt_at, 0,
                     run.created_at, nullable(owner), nullable(lease_until)}));
            }
            Json values = Json::array();
            storage::append_values_rows(session, rows, sql, values);
            // The unique (tenant, plugin, schedule, instant, origin) key is the claim: however
            // many instances plan the same instant, one row wins, and only its inserter sees it
            // come back.
            sql += " ON CONFLICT DO NOTHING RETURNING id";
            for (const auto& row : storage::run_positional_statement(session, sql, values)) {
                inserted.push_back(row.at("id").get<std::string>());
            }
        }
        transaction.commit();
    });
    return inserted;
}

std::vector<RunRecord> RunStore::claim_due(const std::string& horizon, const std::string& now,
                                           const std::string& owner, const std::string& lease_until,
                                           size_t limit) {
    std::vector<RunRecord> claimed;
    if (limit == 0) return claimed;
    // PostgreSQL: SKIP LOCKED lets instances claiming at the same moment take different rows
    // instead of queueing on each other's. SQLite has one writer at a time: no need.
    // SQLite: the two halves as a UNION, each an exact range of the lease index (an OR would
    // read every run waiting leased, thousands just before a busy minute).
    const bool postgresql = database_.backend() == storage::Backend::postgresql;
    const std::string candidates =
        postgresql ? "SELECT id FROM scheduled_runs WHERE status = 'queued'"
                     " AND next_attempt_at <= :horizon AND (lease_until IS NULL OR lease_until"
                     " < :now) ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED"
                   : "SELECT id FROM (SELECT id, next_attempt_at FROM scheduled_runs"
                     " WHERE status = 'queued' AND lease_until IS NULL AND next_attempt_at"
                     " <= :horizon UNION ALL SELECT id, next_attempt_at FROM scheduled_runs"
                     " WHERE status = 'queued' AND lease_until < :now AND next_attempt_at"
                     " <= :horizon) ORDER BY next_attempt_at LIMIT :limit";
    const std::string sql =
        "UPDATE scheduled_runs SET lease_owner = :owner, lease_until = :lease_until WHERE id IN (" +
        candidates + ") AND status = 'queued' AND (lease_until IS NULL OR lease_until < :now)" +
        " RETURNING " + kColumns;
    const Json params = {{"owner", owner},
                         {"lease_until", lease_until},
                         {"horizon", horizon},
                         {"now", now},
                         {"limit", static_cast<long long>(limit)}};
    database_.with_platform([&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(session, sql, params)) {
            claimed.push_back(run_from_json(row));
        }
    });
    std::sort(claimed.begin(), claimed.end(), [](const RunRecord& a, const RunRecord& b) {
        return a.next_attempt_at < b.next_attempt_at;
    });
    return claimed;
}

std::optional<RunRecord> RunStore::claim(const std::string& id, const std::string& owner,
                                         const std::string& now, const std::string& lease_until) {
    std::optional<RunRecord> claimed;
    database_.with_platform([&](soci::session& session) {
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

void RunStore::renew_leases(const std::string& owner, const std::string& lease_until,
                            const std::string& renew_before) {
    database_.with_platform([&](soci::session& session) {
        session << "UPDATE scheduled_runs SET lease_until = :lease_until"
                   " WHERE lease_owner = :owner AND status IN ('queued', 'running')"
                   " AND lease_until < :renew_before",
            soci::use(lease_until, "lease_until"), soci::use(owner, "owner"),
            soci::use(renew_before, "renew_before");
    });
}

void RunStore::release(const std::string& owner) {
    database_.with_platform([&](soci::session& session) {
        session << "UPDATE scheduled_runs SET lease_owner = NULL, lease_until = NULL"
                   " WHERE lease_owner = :owner AND status = 'queued'",
            soci::use(owner, "owner");
    });
}

void RunStore::record(const std::vector<RunUpdate>& updates, const std::string& owner) {
    if (updates.empty()) return;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        for (size_t first = 0; first < updates.size(); first += kRowsPerStatement) {
            const size_t last = std::min(updates.size(), first + kRowsPerStatement);
            // One UPDATE … FROM a VALUES list per chunk (SQLite ≥ 3.33 and PostgreSQL alike).
            // Values arrive untyped in PostgreSQL's VALUES, hence the casts.
            std::string sql =
                "WITH v (id, status, attempts, started_at, finished_at, duration_ms, error,"
                " next_attempt_at, lease_until) AS (VALUES ";
            std::vector<Json> rows;
            for (size_t i = first; i < last; ++i) {
                const auto& update = updates[i];
                rows.push_back(
                    Json::array({update.id, update.status, update.attempts,
                                 nullable(update.started_at), nullable(update.finished_at),
                                 update.duration_ms ? Json(*update.duration_ms) : Json(nullptr),
                                 nullable(update.error), update.next_attempt_at,
                                 nullable(update.lease_until)}));
            }
            Json values = Json::array();
            storage::append_values_rows(session, rows, sql, values);
            // Only runs this instance still holds: one whose lease it lost belongs to another.
            sql +=
                ") UPDATE scheduled_runs SET status = v.status,"
                " attempts = CAST(v.attempts AS INTEGER), started_at = v.started_at,"
                " finished_at = v.finished_at, duration_ms = CAST(v.duration_ms AS INTEGER),"
                " error = v.error, next_attempt_at = v.next_attempt_at,"
                " lease_until = v.lease_until, lease_owner = CASE WHEN v.lease_until IS NULL"
                " THEN NULL ELSE scheduled_runs.lease_owner END"
                " FROM v WHERE scheduled_runs.id = v.id AND scheduled_runs.lease_owner = ";
            values.push_back(owner);
            sql += storage::positional_placeholder(session, values.size());
            storage::run_positional_statement(session, sql, values);
        }
        transaction.commit();
    });
}

int RunStore::requeue_expired(const std::string& now) {
    long long requeued = 0;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        // A run that already used its attempts (it may be what crashed the instances) fails
        // instead of going round again.
        auto fail_exhausted = [&](const std::string& status, const std::string& error) {
            session << "UPDATE scheduled_runs SET status = 'failed', finished_at = :now,"
                       " lease_owner = NULL, lease_until = NULL, error = :error"
                       " WHERE status = :status AND lease_until < :expired_before"
                       " AND attempts >= max_attempts",
                soci::use(now, "now"), soci::use(error, "error"), soci::use(status, "status"),
                soci::use(now, "expired_before");
        };
        fail_exhausted("running", "the instance running it stopped, and no attempts are left");
        soci::statement statement =
            (session.prepare << "UPDATE scheduled_runs SET status = 'queued', lease_owner = NULL,"
                                " lease_until = NULL, next_attempt_at = :now,"
                                " error = 'the instance running it stopped; recovered'"
                                " WHERE status = 'running' AND lease_until < :expired_before",
             soci::use(now, "now"), soci::use(now, "expired_before"));
        statement.execute(true);
        requeued = statement.get_affected_rows();
        // Runs an instance claimed and then stopped renewing while they were still queued:
        // most never started, but one may have started and taken the instance down before
        // its start was written (starts are written behind). Counting the lapse as an
        // attempt keeps such a run from taking instance after instance down forever.
        fail_exhausted("queued", "the instance holding it stopped, and no attempts are left");
        soci::statement lapsed =
            (session.prepare << "UPDATE scheduled_runs SET lease_owner = NULL, lease_until = NULL,"
                                " attempts = attempts + 1,"
                                " error = 'the instance holding it stopped; recovered'"
                                " WHERE status = 'queued' AND lease_until < :expired_before",
             soci::use(now, "expired_before"));
        lapsed.execute(true);
        requeued += lapsed.get_affected_rows();
        transaction.commit();
    });
    return static_cast<int>(requeued);
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
            keys.insert(
                {row.get<std::string>(0), row.get<std::string>(1), row.get<std::string>(2)});
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
            soci::use(key.schedule, "schedule"), soci::use(flag, "paused"), soci::use(now, "now");
    });
}

}  // namespace miconsul::scheduler
