// The audit log: every API call (who, tenant, route, status, duration, client address, request
// id) and every change (tenant, enablement and settings before and after, tokens, messaging
// settings) in the platform database, kept `retention` long and pruned. Calls are written in
// batches by a thread of their own, so that recording one costs a request nothing; changes are
// written before the change's answer goes out. See docs/security.md, "Audit log".
#pragma once

#include "clock/clock.h"
#include "logging/log.h"
#include "records/records.h"
#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace miconsul::audit {

struct Entry {
    std::string kind;       // "call" or "change"
    std::string actor;      // auth::Caller::actor(): "admin", "token:<id>", "anonymous"
    std::string tenant_id;  // "" when none
    std::string action;  // a call: "GET /t/{tenant}/records/patients"; a change: "plugin.settings"
    int status = 0;      // a call's HTTP status
    double duration_ms = 0;
    std::string client_address, request_id;
    nlohmann::json detail;  // a change's before and after (never a secret)
};

class AuditLog {
public:
    AuditLog(storage::Database& database, const clock::Clock& clock, logging::Log log,
             std::chrono::hours retention);
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    /// Starts the writer (and the daily pruning). Without it, record_call writes at once.
    void start();
    /// Writes what is queued, then stops the writer. Idempotent.
    void stop();

    /// Queues a call; it is written within a fraction of a second. Never throws.
    void record_call(Entry entry);
    /// Writes a change now. Throws when it cannot be written.
    void record_change(Entry entry);

    /// Entries newest first; filters tenant, actor, kind, from, to (RFC 3339); cursor pages.
    records::Page list(const nlohmann::json& filters, const std::string& cursor, size_t limit);

    /// Deletes entries older than the retention; how many.
    size_t prune();

private:
    void write(const std::vector<Entry>& entries);
    void run();

    storage::Database& database_;
    const clock::Clock& clock_;
    logging::Log log_;
    const std::chrono::hours retention_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Entry> queued_;
    bool stopping_ = false;
    bool started_ = false;
    std::thread writer_;
};

}  // namespace miconsul::audit
