#include "audit/audit_log.h"

#include "ids/ids.h"
#include "storage/json_statement.h"

#include <algorithm>
#include <iterator>

namespace miconsul::audit {

namespace {
using Json = nlohmann::json;

constexpr auto kFlushEvery = std::chrono::milliseconds(200);
constexpr auto kPruneEvery = std::chrono::hours(1);
constexpr size_t kRowsPerStatement = 200;
}  // namespace

AuditLog::AuditLog(storage::Database& database, const clock::Clock& clock, logging::Log log,
                   std::chrono::hours retention)
    : database_(database), clock_(clock), log_(std::move(log)), retention_(retention) {}

AuditLog::~AuditLog() {
    stop();
}

void AuditLog::start() {
    std::lock_guard lock(mutex_);
    if (started_) return;
    started_ = true;
    writer_ = std::thread([this] { run(); });
}

void AuditLog::stop() {
    {
        std::lock_guard lock(mutex_);
        if (!started_ || stopping_) return;
        stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
}

void AuditLog::record_call(Entry entry) {
    entry.kind = "call";
    {
        std::lock_guard lock(mutex_);
        if (started_ && !stopping_) {
            queued_.push_back(std::move(entry));
            return;
        }
    }
    try {
        write({std::move(entry)});
    } catch (const std::exception& error) {
        log_.warn("an API call could not be audited", {{"error", error.what()}});
    }
}

void AuditLog::record_change(Entry entry) {
    entry.kind = "change";
    write({std::move(entry)});
}

void AuditLog::write(const std::vector<Entry>& entries) {
    const auto now = clock_.now();
    const std::string time = clock::rfc3339_utc(now);
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        for (size_t start = 0; start < entries.size(); start += kRowsPerStatement) {
            std::vector<Json> rows;
            for (size_t i = start; i < entries.size() && i < start + kRowsPerStatement; ++i) {
                const Entry& entry = entries[i];
                rows.push_back(
                    Json::array({ids::time_ordered_uuid(now), time, entry.kind, entry.actor,
                                 entry.tenant_id, entry.action, entry.status, entry.duration_ms,
                                 entry.client_address, entry.request_id,
                                 entry.detail.is_null() ? Json() : Json(entry.detail.dump())}));
            }
            std::string sql =
                "INSERT INTO audit_log (id, time, kind, actor, tenant_id, action, status,"
                " duration_ms, client_address, request_id, detail) VALUES ";
            Json values = Json::array();
            storage::append_values_rows(session, rows, sql, values);
            storage::run_positional_statement(session, sql, values);
        }
        transaction.commit();
    });
}

void AuditLog::run() {
    auto next_prune = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    while (true) {
        wake_.wait_for(lock, kFlushEvery, [&] { return stopping_; });
        std::vector<Entry> batch;
        batch.swap(queued_);
        const bool stopping = stopping_;
        lock.unlock();
        // One transaction per statement's worth of rows, each taking the platform session on
        // its own: under load a batch grows to tens of thousands of calls and took seconds to
        // write, while every other user of the platform database (a token read, a tenant
        // change) waited for the whole of it.
        for (size_t start = 0; start < batch.size(); start += kRowsPerStatement) {
            const auto first = batch.begin() + static_cast<std::ptrdiff_t>(start);
            const auto last = batch.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                  batch.size(), start + kRowsPerStatement));
            const std::vector<Entry> chunk(std::make_move_iterator(first),
                                           std::make_move_iterator(last));
            try {
                write(chunk);
            } catch (const std::exception& error) {
                log_.error("API calls could not be audited",
                           {{"calls", std::to_string(chunk.size())}, {"error", error.what()}});
            }
        }
        if (std::chrono::steady_clock::now() >= next_prune) {
            next_prune = std::chrono::steady_clock::now() + kPruneEvery;
            try {
                if (const size_t pruned = prune(); pruned > 0) {
                    log_.info("audit entries past their retention deleted",
                              {{"entries", std::to_string(pruned)}});
                }
            } catch (const std::exception& error) {
                log_.warn("the audit log could not be pruned", {{"error", error.what()}});
            }
        }
        lock.lock();
        if (stopping && queued_.empty()) return;
    }
}

size_t AuditLog::prune() {
    size_t deleted = 0;
    database_.with_platform([&](soci::session& session) {
        const Json result = storage::run_json_statement(
            session, "DELETE FROM audit_log WHERE time < :before",
            Json{{"before", clock::rfc3339_utc(clock_.now() - retention_)}});
        deleted = result.value("affected_rows", 0);
    });
    return deleted;
}

records::Page AuditLog::list(const Json& filters, const std::string& cursor, size_t limit) {
    std::string sql =
        "SELECT id, time, kind, actor, tenant_id, action, status, duration_ms, client_address,"
        " request_id, detail FROM audit_log WHERE 1 = 1";
    Json params = {{"limit", static_cast<long long>(limit + 1)}};
    for (const char* filter : {"tenant_id", "actor", "kind"}) {
        if (filters.contains(filter)) {
            sql += std::string(" AND ") + filter + " = :" + filter;
            params[filter] = filters[filter];
        }
    }
    if (filters.contains("from")) {
        sql += " AND time >= :from";
        params["from"] = filters["from"];
    }
    if (filters.contains("to")) {
        sql += " AND time < :to";
        params["to"] = filters["to"];
    }
    if (!cursor.empty()) {
        sql += " AND id < :cursor";
        params["cursor"] = cursor;
    }
    sql += " ORDER BY id DESC LIMIT :limit";
    records::Page page;
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(session, sql, params);
        for (size_t i = 0; i < rows.size() && i < limit; ++i) {
            Json item = rows[i];
            item["tenant"] = item["tenant_id"];
            item.erase("tenant_id");
            item["detail"] = item["detail"].is_string()
                                 ? Json::parse(item["detail"].get<std::string>())
                                 : Json();
            page.items.push_back(std::move(item));
        }
        if (rows.size() > limit) page.next_cursor = rows[limit - 1]["id"];
    });
    return page;
}

}  // namespace miconsul::audit
