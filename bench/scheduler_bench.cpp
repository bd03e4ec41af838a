// Scheduler load: N tenants × 3 schedules that all fire every minute (the worst case: every run
// of the minute due at one instant), with idle handlers, on the real scheduler and database.
// Reports, per minute boundary: runs executed, lag between scheduled instant and handler start
// (p50, p99, max), CPU time used, and peak RSS. Every run's record and its run.succeeded
// event are stored, as in the host.
//
//   scheduler_bench [tenants=10000] [minutes=2] [database_url=sqlite://<temp dir>]
#include "bus/bus.h"
#include "clock/clock.h"
#include "logging/log.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "scheduler/scheduler.h"
#include "storage/migrations.h"
#include "tenants/tenant_store.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

namespace {
using namespace std::chrono;

struct Lags {
    std::mutex mutex;
    std::vector<int64_t> lag_ms;
};

mc_status idle_handler(void* user_data, const mc_call* call) {
    const int64_t now = miconsul::clock::now_unix_ms();
    auto& lags = *static_cast<Lags*>(user_data);
    std::lock_guard lock(lags.mutex);
    lags.lag_ms.push_back(now - call->scheduled_at_ms);
    return MC_OK;
}

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
           (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}
}  // namespace

int main(int argc, char** argv) {
    const int tenants = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int minutes = argc > 2 ? std::atoi(argv[2]) : 2;
    const auto scratch = std::filesystem::temp_directory_path() /
                         ("miconsul-scheduler-bench-" + std::to_string(getpid()));
    const std::string url = argc > 3 ? argv[3] : "sqlite://" + scratch.string();
    auto database = miconsul::storage::Database::open(url, scratch, 4);
    database->with_platform([&](soci::session& session) {
        miconsul::storage::apply_migrations(session, database->backend(), "core",
                                            miconsul::storage::core_platform_migrations());
    });
    miconsul::tenants::TenantStore store(*database);
    store.load();
    const auto setup_started = steady_clock::now();
    for (int i = 0; i < tenants; ++i) {
        miconsul::tenants::Tenant tenant;
        tenant.id = "t" + std::to_string(i);
        tenant.name = tenant.id;
        if (store.create(tenant))
            store.set_enablement(tenant.id, "load", true, nlohmann::json::object());
    }
    std::printf("setup: %d tenants in %.1f s\n", tenants,
                duration<double>(steady_clock::now() - setup_started).count());

    Lags lags;
    auto plugin = std::make_shared<miconsul::plugins::LoadedPlugin>();
    plugin->manifest.name = "load";
    plugin->manifest.scope = miconsul::plugins::Scope::tenant;
    for (const auto* name : {"a", "b", "c"}) {
        miconsul::plugins::ScheduleInfo schedule;
        schedule.name = name;
        schedule.cron = "* * * * *";
        schedule.expression = std::make_shared<const miconsul::scheduler::CronExpression>(
            std::get<miconsul::scheduler::CronExpression>(
                miconsul::scheduler::CronExpression::parse(schedule.cron)));
        schedule.handler = &idle_handler;
        schedule.user_data = &lags;
        plugin->schedules.push_back(schedule);
    }
    miconsul::plugins::PluginRegistry registry;
    registry.add({"load", "", "load.so", true, "", plugin});
    miconsul::plugins::HostServices services{*database, miconsul::logging::Log::null()};
    miconsul::clock::SystemClock clock;
    // As in the host, every run publishes run.succeeded (stored; nobody subscribes here).
    miconsul::bus::Bus bus(*database, store, registry, services, clock,
                           miconsul::logging::Log::null(), miconsul::bus::BusOptions{});
    services.bus = &bus;
    miconsul::scheduler::SchedulerOptions options;  // defaults: 1 s tick, 2 workers
    miconsul::scheduler::Scheduler scheduler(*database, store, registry, services, clock,
                                             miconsul::logging::Log::null(), options);
    scheduler.start();
    // Measure whole minutes: from the next boundary + 1 s to the one after it, `minutes` times.
    auto next_minute = ceil<std::chrono::minutes>(system_clock::now());
    std::this_thread::sleep_until(next_minute - seconds(1));
    for (int minute = 0; minute < minutes; ++minute) {
        {
            std::lock_guard lock(lags.mutex);
            lags.lag_ms.clear();
        }
        const double cpu_before = cpu_seconds();
        next_minute += std::chrono::minutes(1);
        std::this_thread::sleep_until(next_minute - seconds(1));
        const double cpu = cpu_seconds() - cpu_before;
        std::vector<int64_t> sorted;
        {
            std::lock_guard lock(lags.mutex);
            sorted = lags.lag_ms;
        }
        std::sort(sorted.begin(), sorted.end());
        auto at = [&](double q) {
            return sorted.empty() ? -1 : sorted[static_cast<size_t>(q * (sorted.size() - 1))];
        };
        std::printf(
            "minute %d: %zu runs of %d due; lag min %lld ms, p50 %lld ms, p99 %lld ms, max %lld "
            "ms; "
            "CPU %.1f s; peak RSS %ld MiB\n",
            minute + 1, sorted.size(), tenants * 3, static_cast<long long>(at(0.0)),
            static_cast<long long>(at(0.5)), static_cast<long long>(at(0.99)),
            static_cast<long long>(at(1.0)), cpu, peak_rss_kib() / 1024);
        std::fflush(stdout);
    }
    scheduler.stop();
    std::error_code ignored;
    std::filesystem::remove_all(scratch, ignored);
    return 0;
}
