#include "tenants/change_listener.h"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <memory>

namespace miconsul::tenants {

namespace {
using Connection = std::unique_ptr<PGconn, decltype(&PQfinish)>;

Connection listen_connection(const std::string& url, std::string& error) {
    Connection connection(PQconnectdb(url.c_str()), &PQfinish);
    if (PQstatus(connection.get()) != CONNECTION_OK) {
        error = PQerrorMessage(connection.get());
        return Connection(nullptr, &PQfinish);
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> result(
        PQexec(connection.get(), (std::string("LISTEN ") + kTenantChangeChannel).c_str()),
        &PQclear);
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
        error = PQerrorMessage(connection.get());
        return Connection(nullptr, &PQfinish);
    }
    return connection;
}
}  // namespace

void announce_change(soci::session& session, storage::Backend backend, const std::string& payload) {
    if (backend != storage::Backend::postgresql) return;
    const std::string channel = kTenantChangeChannel;
    session << "SELECT pg_notify(:channel, :payload)", soci::use(channel, "channel"),
        soci::use(payload, "payload");
}

TenantChangeListener::TenantChangeListener(std::string postgres_url,
                                           std::function<void(const std::string&)> on_change,
                                           logging::Log log)
    : postgres_url_(std::move(postgres_url)),
      on_change_(std::move(on_change)),
      log_(std::move(log)),
      thread_([this] { run(); }) {}

TenantChangeListener::~TenantChangeListener() {
    stopping_ = true;
    thread_.join();
}

void TenantChangeListener::run() {
    auto backoff = std::chrono::milliseconds(200);
    bool connected_before = false;
    while (!stopping_) {
        std::string error;
        Connection connection = listen_connection(postgres_url_, error);
        if (!connection) {
            log_.warn("tenant change listener cannot connect; retrying", {{"reason", error}});
            for (auto waited = std::chrono::milliseconds(0); waited < backoff && !stopping_;
                 waited += std::chrono::milliseconds(50)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            continue;
        }
        backoff = std::chrono::milliseconds(200);
        // Anything may have changed while we were not listening.
        if (connected_before) on_change_("");
        connected_before = true;
        while (!stopping_) {
            pollfd descriptor{PQsocket(connection.get()), POLLIN, 0};
            // A short timeout so stop requests are seen promptly.
            if (poll(&descriptor, 1, 200) < 0) break;
            if (PQconsumeInput(connection.get()) == 0) {
                log_.warn("tenant change listener lost its connection",
                          {{"reason", PQerrorMessage(connection.get())}});
                break;
            }
            while (PGnotify* notification = PQnotifies(connection.get())) {
                const std::string tenant_id = notification->extra;
                PQfreemem(notification);
                try {
                    on_change_(tenant_id);
                } catch (const std::exception& failure) {
                    log_.error("tenant refresh failed",
                               {{"tenant", tenant_id}, {"reason", failure.what()}});
                }
            }
        }
    }
}

}  // namespace miconsul::tenants
