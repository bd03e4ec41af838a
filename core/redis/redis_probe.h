// Reaching Redis (hiredis). For now the host only checks that the configured Redis answers;
// the bus and the shared rate limiter build on the same connection settings.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace miconsul::redis {

struct RedisAddress {
    std::string host;
    int port = 6379;
    int database = 0;
};

/// Parses "redis://host[:port][/db]"; nullopt when malformed.
std::optional<RedisAddress> parse_redis_url(const std::string& url);

/// Connects and sends PING within `timeout`. Returns nullopt on PONG, else the reason.
std::optional<std::string> ping(const RedisAddress& address, std::chrono::milliseconds timeout);

}  // namespace miconsul::redis
