// End-to-end bus throughput on Redis Streams: N events published to one tenant, each delivered
// to one plugin handler, from the first publish to the last delivery recorded as delivered in
// the database (the handler's acknowledgement). Prints one line: events, seconds, events/s.
// bench/bus_run.sh runs it beside redis-benchmark XADD on the same Redis. With `publish-only`
// the bus is not started: the line is then how fast events are stored with their deliveries
// alone — the ceiling of any delivery path over the same durable store.
//
//   bus_bench <events> <redis_url> [database_url=sqlite://<temp dir>] [publishers=2]
//             [publish-only]
#include "bus/bus.h"
#include "clock/clock.h"
#include "logging/log.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "redis/redis_probe.h"
#include "storage/migrations.h"
#include "tenants/tenant_store.h"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {
using namespace std::chrono;

mc_status count_event(void* user_data, const mc_call*, const mc_event*) {
    static_cast<std::atomic<long>*>(user_data)->fetch_add(1, std::memory_order_relaxed);
    return MC_OK;
}

// Removes the run's rows: on a shared PostgreSQL, deliveries left pending by a publish-only
// run would otherwise be delivered during the next run and slow it down.
void remove_rows_of(miconsul::storage::Database& database, const std::string& tenant_id) {
    database.with_platform([&](soci::session& session) {
        session << "DELETE FROM event_deliveries WHERE tenant_id = :tenant",
            soci::use(tenant_id, "tenant");
        session << "DELETE FROM events WHERE tenant_id = :tenant", soci::use(tenant_id, "tenant");
    });
}

long delivered(miconsul::storage::Database& database) {
    long count = 0;
    database.with_platform([&](soci::session& session) {
        session << "SELECT COUNT(*) FROM event_deliveries WHERE status = 'delivered'",
            soci::into(count);
    });
    return count;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: bus_bench <events> <redis_url> [database_url] [publishers]"
                     " [publish-only]\n");
        return 2;
    }
    mallopt(M_TRIM_THRESHOLD, 8 << 20);  // as miconsul-host does (core/main.cpp)
    const long events = std::atol(argv[1]);
    const auto redis = miconsul::redis::parse_redis_url(argv[2]);
    if (!redis) {
        std::fprintf(stderr, "bad redis url\n");
        return 2;
    }
    const auto scratch =
        std::filesystem::temp_directory_path() / ("miconsul-bus-bench-" + std::to_string(getpid()));
    const std::string url =
        argc > 3 && argv[3][0] != '\0' ? argv[3] : "sqlite://" + scratch.string();
    const int publishers = argc > 4 ? std::atoi(argv[4]) : 2;
    const bool publish_only = argc > 5 && std::string(argv[5]) == "publish-only";
    auto database = miconsul::storage::Database::open(url, scratch, 8);
    database->with_platform([&](soci::session& session) {
        miconsul::storage::apply_migrations(session, database->backend(), "core",
                                            miconsul::storage::core_platform_migrations());
    });
    miconsul::tenants::TenantStore store(*database);
    store.load();
    miconsul::tenants::Tenant tenant;
    tenant.id = "bench-" + std::to_string(getpid());
    tenant.name = tenant.id;
    store.create(tenant);
    store.set_enablement(tenant.id, "sink", true, nlohmann::json::object());

    std::atomic<long> handled{0};
    auto plugin = std::make_shared<miconsul::plugins::LoadedPlugin>();
    plugin->manifest.name = "sink";
    plugin->manifest.scope = miconsul::plugins::Scope::tenant;
    plugin->event_handlers.push_back({"count", "bench.*", &count_event, &handled});
    miconsul::plugins::PluginRegistry registry;
    registry.add({"sink", "", "sink.so", true, "", plugin});
    miconsul::plugins::HostServices services{*database, miconsul::logging::Log::null()};
    miconsul::clock::SystemClock clock;
    miconsul::bus::Bus bus(*database, store, registry, services, clock,
                           miconsul::logging::Log::null(), miconsul::bus::BusOptions{});
    services.bus = &bus;
    if (!publish_only) {
        bus.use_redis(*redis);
        bus.start();
    }

    const long before = delivered(*database);
    const auto started = steady_clock::now();
    std::vector<std::thread> threads;
    for (int p = 0; p < publishers; ++p) {
        threads.emplace_back([&, p] {
            for (long i = p; i < events; i += publishers) {
                bus.publish(tenant.id, "bench", "bench.ping", {{"n", i}});
            }
        });
    }
    for (auto& thread : threads) thread.join();
    const double published_s = duration<double>(steady_clock::now() - started).count();
    if (publish_only) {
        std::printf("events %ld published_s %.2f events_per_s %.0f\n", events, published_s,
                    events / published_s);
        remove_rows_of(*database, tenant.id);
        std::error_code ignored;
        std::filesystem::remove_all(scratch, ignored);
        return 0;
    }
    while (delivered(*database) - before < events) {
        if (steady_clock::now() - started > minutes(10)) {
            std::fprintf(stderr, "timed out: %ld of %ld delivered\n", delivered(*database) - before,
                         events);
            return 1;
        }
        std::this_thread::sleep_for(milliseconds(5));
    }
    const double seconds = duration<double>(steady_clock::now() - started).count();
    std::printf("events %ld published_s %.2f delivered_s %.2f events_per_s %.0f handled %ld\n",
                events, published_s, seconds, events / seconds, handled.load());
    bus.stop();
    remove_rows_of(*database, tenant.id);
    std::error_code ignored;
    std::filesystem::remove_all(scratch, ignored);
    return 0;
}
