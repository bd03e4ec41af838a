// Keeps this instance's tenant snapshots fresh when another instance changes a tenant.
//
// On PostgreSQL every tenant write also sends NOTIFY miconsul_tenant_changes '<tenant id>'
// (TenantStore does it in the same session); this listener holds its own connection in LISTEN
// and hands each id to a callback, so an enablement made through any instance takes effect on
// every instance within milliseconds. With SQLite there is one instance and nothing to listen to.
#pragma once

#include "logging/log.h"
#include "storage/database.h"

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace miconsul::tenants {

/// The channel TenantStore notifies on.
inline constexpr const char* kTenantChangeChannel = "miconsul_tenant_changes";

/// Sends `payload` (a tenant id, or another change the listeners know, e.g. a token's) on
/// kTenantChangeChannel through `session` — inside its transaction, if any: PostgreSQL delivers
/// it only on commit. A no-op on SQLite, where one instance has nobody to tell.
void announce_change(soci::session& session, storage::Backend backend, const std::string& payload);

class TenantChangeListener {
public:
    /// `on_change` gets a tenant id, or "" after a reconnection (changes may have been missed:
    /// reload everything). Called on the listener's own thread.
    TenantChangeListener(std::string postgres_url,
                         std::function<void(const std::string&)> on_change, logging::Log log);
    /// Stops and joins the thread.
    ~TenantChangeListener();
    TenantChangeListener(const TenantChangeListener&) = delete;
    TenantChangeListener& operator=(const TenantChangeListener&) = delete;

private:
    void run();

    std::string postgres_url_;
    std::function<void(const std::string&)> on_change_;
    logging::Log log_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace miconsul::tenants
