#include "redis/redis_probe.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <memory>

namespace miconsul::redis {

std::optional<RedisAddress> parse_redis_url(const std::string& url) {
    constexpr std::string_view kScheme = "redis://";
    if (url.rfind(kScheme, 0) != 0) return std::nullopt;
    std::string_view rest = std::string_view(url).substr(kScheme.size());
    RedisAddress address;
    const size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        const std::string_view db = rest.substr(slash + 1);
        if (!db.empty()) {
            auto [end, error] = std::from_chars(db.data(), db.data() + db.size(), address.database);
            if (error != std::errc() || end != db.data() + db.size()) return std::nullopt;
        }
    }
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
        const std::string_view port = authority.substr(colon + 1);
        auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
        if (error != std::errc() || end != port.data() + port.size() || address.port <= 0 ||
            address.port > 65535) {
            return std::nullopt;
        }
        authority = authority.substr(0, colon);
    }
    if (authority.empty()) return std::nullopt;
    address.host = std::string(authority);
    return address;
}

std::optional<std::string> ping(const RedisAddress& address, std::chrono::milliseconds timeout) {
    const timeval limit{static_cast<time_t>(timeout.count() / 1000),
                        static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    std::unique_ptr<redisContext, decltype(&redisFree)> context(
        redisConnectWithTimeout(address.host.c_str(), address.port, limit), &redisFree);
    if (!context) return "cannot allocate a Redis context";
    if (context->err != 0) return std::string("cannot connect to Redis: ") + context->errstr;
    redisSetTimeout(context.get(), limit);
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply(
        static_cast<redisReply*>(redisCommand(context.get(), "PING")), &freeReplyObject);
    if (!reply) return std::string("Redis did not answer: ") + context->errstr;
    if (reply->type != REDIS_REPLY_STATUS || std::string(reply->str, reply->len) != "PONG") {
        return "Redis answered PING unexpectedly";
    }
    return std::nullopt;
}

}  // namespace miconsul::redis
