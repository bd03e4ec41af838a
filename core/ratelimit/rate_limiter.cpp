#include "ratelimit/rate_limiter.h"

#include <hiredis/hiredis.h>

#include <cmath>
#include <memory>

namespace miconsul::ratelimit {

namespace {

constexpr auto kRedisTimeout = std::chrono::milliseconds(100);
constexpr auto kRetryRedisAfter = std::chrono::seconds(5);

// GCRA in Redis, atomically: the key holds the theoretical arrival time (TAT, ms) of the next
// request. Redis's own clock, so that every instance measures against the same time.
constexpr const char* kScript = R"lua(
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return {1, math.floor((period - (new_tat - now)) / interval), math.ceil(new_tat - now), 0}
)lua";

/// The same GCRA step on a local TAT; `now` in ms.
Decision gcra(double& tat, double now, int limit, double period) {
    const double interval = period / limit;
    Decision decision;
    decision.limit = limit;
    const double start = std::max(tat, now);
    const double new_tat = start + interval;
    const double allow_at = new_tat - period;
    if (now < allow_at) {
        decision.allowed = false;
        decision.reset = std::chrono::milliseconds(static_cast<long long>(std::ceil(start - now)));
        decision.retry_after =
            std::chrono::milliseconds(static_cast<long long>(std::ceil(allow_at - now)));
        return decision;
    }
    tat = new_tat;
    decision.remaining = static_cast<int>(std::floor((period - (new_tat - now)) / interval));
    decision.reset = std::chrono::milliseconds(static_cast<long long>(std::ceil(new_tat - now)));
    return decision;
}

}  // namespace

RateLimiter::RateLimiter(std::optional<redis::RedisAddress> redis, logging::Log log,
                         std::chrono::milliseconds period)
    : redis_(std::move(redis)), log_(std::move(log)), period_(period) {}

RateLimiter::~RateLimiter() {
    if (context_ != nullptr) redisFree(static_cast<redisContext*>(context_));
}

Decision RateLimiter::take(const std::string& key, int limit) {
    if (limit <= 0) return Decision{true, 0, 0, {}, {}};
    if (redis_) {
        if (auto shared = take_shared(key, limit)) return *shared;
    }
    return take_local(key, limit);
}

Decision RateLimiter::take_local(const std::string& key, int limit) {
    const double now = std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
    std::lock_guard lock(local_mutex_);
    return gcra(local_tat_[key], now, limit, static_cast<double>(period_.count()));
}

std::optional<Decision> RateLimiter::take_shared(const std::string& key, int limit) {
    std::lock_guard lock(redis_mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (context_ == nullptr) {
        if (now < retry_redis_at_) return std::nullopt;
        const timeval timeout{0, static_cast<suseconds_t>(kRedisTimeout.count() * 1000)};
        redisContext* context =
            redisConnectWithTimeout(redis_->host.c_str(), redis_->port, timeout);
        if (context != nullptr && context->err == 0) {
            redisSetTimeout(context, timeout);
            if (redis_->database != 0) {
                freeReplyObject(redisCommand(context, "SELECT %d", redis_->database));
            }
            context_ = context;
        } else {
            const std::string reason = context != nullptr ? context->errstr : "cannot connect";
            if (context != nullptr) redisFree(context);
            if (redis_error_.empty()) {
                log_.warn("rate limits are local to this instance: Redis is unreachable",
                          {{"error", reason}});
            }
            redis_error_ = reason;
            retry_redis_at_ = now + kRetryRedisAfter;
            return std::nullopt;
        }
    }
    auto* context = static_cast<redisContext*>(context_);
    const std::string redis_key = "miconsul:ratelimit:" + key;
    const std::string period = std::to_string(period_.count());
    const std::string limit_text = std::to_string(limit);
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(
        static_cast<redisReply*>(redisCommand(context, "EVAL %s 1 %s %s %s", kScript,
                                              redis_key.c_str(), period.c_str(),
                                              limit_text.c_str())),
        &freeReplyObject);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        const std::string reason = reply && reply->type == REDIS_REPLY_ERROR
                                       ? std::string(reply->str, reply->len)
                                       : std::string(context->errstr);
        redisFree(context);
        context_ = nullptr;
        if (redis_error_.empty()) {
            log_.warn("rate limits are local to this instance: Redis failed", {{"error", reason}});
        }
        redis_error_ = reason.empty() ? "no answer" : reason;
        retry_redis_at_ = now + kRetryRedisAfter;
        return std::nullopt;
    }
    if (!redis_error_.empty()) {
        log_.info("rate limits are shared through Redis again");
        redis_error_.clear();
    }
    Decision decision;
    decision.limit = limit;
    decision.allowed = reply->element[0]->integer == 1;
    decision.remaining = static_cast<int>(reply->element[1]->integer);
    decision.reset = std::chrono::milliseconds(reply->element[2]->integer);
    decision.retry_after = std::chrono::milliseconds(reply->element[3]->integer);
    return decision;
}

std::string RateLimiter::mode() const {
    if (!redis_) return "local";
    std::lock_guard lock(redis_mutex_);
    return redis_error_.empty() ? "shared (redis)"
                                : "local (redis unreachable: " + redis_error_ + ")";
}

}  // namespace miconsul::ratelimit
