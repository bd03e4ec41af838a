// Per-tenant rate limits: GCRA (the generic cell rate algorithm — a leaky bucket kept as one
// timestamp per key), in memory with one instance, and in Redis with one atomic script when
// Redis is configured, so that several instances share one budget. If Redis cannot be reached
// the limiter falls back to its local state, says so in the log and in /readyz, and keeps
// serving; it tries Redis again every few seconds.
#pragma once

#include "logging/log.h"
#include "redis/redis_probe.h"

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace miconsul::ratelimit {

/// One request's verdict, and what the RateLimit-* headers say.
struct Decision {
    bool allowed = true;
    int limit = 0;                             // requests per period
    int remaining = 0;                         // requests left right now
    std::chrono::milliseconds reset{0};        // until the whole budget is back
    std::chrono::milliseconds retry_after{0};  // when refused: until one request is allowed
};

class RateLimiter {
public:
    /// `redis`: share budgets through it; nullopt: this instance only.
    RateLimiter(std::optional<redis::RedisAddress> redis, logging::Log log,
                std::chrono::milliseconds period = std::chrono::minutes(1));
    ~RateLimiter();
    RateLimiter(const RateLimiter&) = delete;
    RateLimiter& operator=(const RateLimiter&) = delete;

    /// Counts one request against `key`'s budget of `limit` per period. Thread-safe.
    Decision take(const std::string& key, int limit);

    /// "local", "shared (redis)" or "local (redis unreachable: …)", for /readyz.
    std::string mode() const;

private:
    std::optional<Decision> take_shared(const std::string& key, int limit);
    Decision take_local(const std::string& key, int limit);

    const std::optional<redis::RedisAddress> redis_;
    logging::Log log_;
    const std::chrono::milliseconds period_;

    mutable std::mutex local_mutex_;
    // key → theoretical arrival time of the next request, in ms of the steady clock.
    std::unordered_map<std::string, double> local_tat_;

    mutable std::mutex redis_mutex_;  // one connection, one command at a time
    void* context_ = nullptr;         // redisContext*
    std::chrono::steady_clock::time_point retry_redis_at_{};
    std::string redis_error_;  // why the shared limiter is not in use, "" when it is
};

}  // namespace miconsul::ratelimit
