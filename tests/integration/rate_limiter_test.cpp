// The rate limiter in process: GCRA's budget and refill, a budget shared by two limiters
// through a real Redis, and the fall-back to local limits when Redis is unreachable.
#include "ratelimit/rate_limiter.h"

#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <thread>

namespace {
using miconsul::ratelimit::RateLimiter;
using namespace std::chrono_literals;

std::string unique_key(const std::string& name) {
    return name + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

TEST(RateLimiterTest, ABudgetIsSpentThenRefusedWithTheWaitThenRefills) {
    RateLimiter limiter(std::nullopt, miconsul::logging::Log::null(), 1000ms);  // 5 a second
    for (int i = 0; i < 5; ++i) {
        const auto decision = limiter.take("sol", 5);
        EXPECT_TRUE(decision.allowed) << i;
        EXPECT_EQ(decision.limit, 5);
        EXPECT_EQ(decision.remaining, 4 - i);
    }
    const auto refused = limiter.take("sol", 5);
    EXPECT_FALSE(refused.allowed);
    EXPECT_GT(refused.retry_after, 0ms);
    EXPECT_LE(refused.retry_after, 200ms) << "one request comes back every period / limit";
    EXPECT_TRUE(limiter.take("luna", 5).allowed) << "each key its own budget";
    std::this_thread::sleep_for(refused.retry_after + 20ms);
    EXPECT_TRUE(limiter.take("sol", 5).allowed);
    EXPECT_FALSE(limiter.take("sol", 5).allowed);
    EXPECT_TRUE(limiter.take("anything", 0).allowed) << "0 means no limit";
    EXPECT_EQ(limiter.mode(), "local");
}

TEST(RateLimiterTest, TwoLimitersOnOneRedisShareOneBudget) {
    const auto url = miconsul::testing::redis_url();
    if (!url) GTEST_SKIP() << "no test Redis (MICONSUL_TEST_REDIS_URL)";
    const auto address = miconsul::redis::parse_redis_url(*url);
    RateLimiter a(address, miconsul::logging::Log::null());
    RateLimiter b(address, miconsul::logging::Log::null());
    const std::string key = unique_key("shared");
    int allowed = 0;
    for (int i = 0; i < 40; ++i) allowed += (i % 2 == 0 ? a : b).take(key, 20).allowed ? 1 : 0;
    EXPECT_EQ(allowed, 20) << "one budget of 20 a minute, not 20 each";
    EXPECT_EQ(a.mode(), "shared (redis)");
}

TEST(RateLimiterTest, WithRedisUnreachableLimitsAreLocalAndSaySo) {
    miconsul::redis::RedisAddress nowhere{"127.0.0.1", miconsul::testing::free_port(), 0};
    RateLimiter limiter(nowhere, miconsul::logging::Log::null());
    int allowed = 0;
    for (int i = 0; i < 15; ++i) allowed += limiter.take("sol", 10).allowed ? 1 : 0;
    EXPECT_EQ(allowed, 10) << "still limited, locally";
    EXPECT_NE(limiter.mode().find("local (redis unreachable"), std::string::npos) << limiter.mode();
}

}  // namespace
