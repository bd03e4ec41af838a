// What one rate-limit check costs (issue 3), with Google Benchmark: RateLimiter::take in
// memory, on 1 and 2 threads sharing one limiter and one tenant (the host's case: every request
// thread of an instance checks the same tenant's budget), and over Redis (the shared limiter:
// one Lua script per check). Each beside a baseline in the same run, so the figures read as
// multiples of something known: an uncontended/contended empty std::mutex lock and unlock for
// memory, a PING round trip on the same Redis for the Redis limiter.
//
//   MICONSUL_BENCH_REDIS_URL=redis://127.0.0.1:56379 build/bin/limiter_bench [benchmark flags]
//
// Without MICONSUL_BENCH_REDIS_URL the Redis benchmarks are skipped (said on stderr).
// Read items_per_second for the 2-thread lines: checks a second through both threads together.
#include "logging/log.h"
#include "ratelimit/rate_limiter.h"
#include "redis/redis_probe.h"

#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace {
using miconsul::ratelimit::RateLimiter;

// A budget no run can use up, so every check takes the allowing path (the one that writes).
constexpr int kUnlimited = std::numeric_limits<int>::max();

void register_memory(RateLimiter& limiter, std::mutex& mutex) {
    benchmark::RegisterBenchmark("baseline/empty_mutex_lock_unlock",
                                 [&mutex](benchmark::State& state) {
                                     for (auto _ : state) {
                                         std::lock_guard lock(mutex);
                                         benchmark::ClobberMemory();
                                     }
                                     state.SetItemsProcessed(state.iterations());
                                 })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("limiter/memory",
                                 [&limiter](benchmark::State& state) {
                                     const std::string tenant = "bench";
                                     for (auto _ : state)
                                         benchmark::DoNotOptimize(limiter.take(tenant, kUnlimited));
                                     state.SetItemsProcessed(state.iterations());
                                 })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
}

using Connection = std::unique_ptr<redisContext, decltype(&redisFree)>;

void register_redis(RateLimiter& limiter, redisContext& connection) {
    benchmark::RegisterBenchmark("baseline/redis_ping_round_trip", [&connection](
                                                                       benchmark::State& state) {
        for (auto _ : state) {
            auto* reply = static_cast<redisReply*>(redisCommand(&connection, "PING"));
            if (reply == nullptr) {
                state.SkipWithError("PING failed");
                break;
            }
            freeReplyObject(reply);
        }
        state.SetItemsProcessed(state.iterations());
    })->UseRealTime();
    // The limiter keeps one connection and sends one command at a time, so 2 threads show
    // whether it becomes the bottleneck of an instance.
    benchmark::RegisterBenchmark(
        "limiter/redis",
        [&limiter](benchmark::State& state) {
            const std::string tenant = "limiter_bench";
            for (auto _ : state) benchmark::DoNotOptimize(limiter.take(tenant, kUnlimited));
            state.SetItemsProcessed(state.iterations());
            // A Redis that failed midway would leave the limiter on its local fallback, and the
            // figure would be the memory one under the Redis name.
            if (state.thread_index() == 0 && limiter.mode() != "shared (redis)") {
                state.SkipWithError(("the limiter fell back: " + limiter.mode()).c_str());
            }
        })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
}
}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    RateLimiter memory_limiter(std::nullopt, miconsul::logging::Log::null());
    std::mutex empty_mutex;
    register_memory(memory_limiter, empty_mutex);

    std::optional<RateLimiter> redis_limiter;
    Connection ping_connection(nullptr, &redisFree);
    const char* redis_url = std::getenv("MICONSUL_BENCH_REDIS_URL");
    if (redis_url == nullptr || *redis_url == '\0') {
        std::fprintf(stderr,
                     "limiter_bench: MICONSUL_BENCH_REDIS_URL is not set; skipping the Redis "
                     "limiter and its PING baseline\n");
    } else if (const auto address = miconsul::redis::parse_redis_url(redis_url); !address) {
        std::fprintf(stderr, "limiter_bench: not a redis:// URL: %s\n", redis_url);
        return 1;
    } else {
        ping_connection.reset(redisConnect(address->host.c_str(), address->port));
        if (!ping_connection || ping_connection->err != 0) {
            std::fprintf(stderr, "limiter_bench: cannot connect to %s\n", redis_url);
            return 1;
        }
        if (address->database != 0) {
            freeReplyObject(redisCommand(ping_connection.get(), "SELECT %d", address->database));
        }
        redis_limiter.emplace(*address, miconsul::logging::Log::null());
        register_redis(*redis_limiter, *ping_connection);
    }

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
