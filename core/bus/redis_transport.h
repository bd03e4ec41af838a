// Redis Streams as the bus's fast path between instances. The database stays the truth (the
// event and its deliveries are committed there first); after the commit, each delivery is
// announced on a stream that every instance reads through one consumer group, so the first
// attempt starts at once on some instance instead of at the next database poll. An entry
// whose consumer died is reclaimed with XAUTOCLAIM. If Redis is unreachable nothing is lost:
// the database poll delivers.
#pragma once

#include "logging/log.h"
#include "redis/redis_probe.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

struct redisContext;

namespace miconsul::bus {

/// (event id, subscriber)
using DeliveryKey = std::pair<std::string, std::string>;

class RedisTransport {
public:
    /// Before each read the transport's thread asks `room` how many entries to read at most
    /// (it may wait; 0 skips the read). `on_announced` is then called with the deliveries of
    /// the batch read; it claims them in the database (or finds them taken) and returns
    /// quickly. The batch's entries are acknowledged on the stream after it returns.
    RedisTransport(redis::RedisAddress address, std::string consumer_name,
                   std::chrono::milliseconds reclaim_idle, logging::Log log,
                   std::function<size_t()> room,
                   std::function<void(const std::vector<DeliveryKey>&)> on_announced);
    ~RedisTransport();
    RedisTransport(const RedisTransport&) = delete;
    RedisTransport& operator=(const RedisTransport&) = delete;

    void start();
    void stop();

    /// XADDs one entry per delivery. False when Redis could not take them (logged once per
    /// outage); the database poll delivers them anyway.
    bool announce(const std::vector<DeliveryKey>& deliveries);

private:
    void consume();
    redisContext* connect() const;

    redis::RedisAddress address_;
    std::string consumer_name_;
    std::chrono::milliseconds reclaim_idle_;
    logging::Log log_;
    std::function<size_t()> room_;
    std::function<void(const std::vector<DeliveryKey>&)> on_announced_;
    std::mutex publisher_mutex_;
    redisContext* publisher_ = nullptr;  // guarded by publisher_mutex_
    bool publisher_down_logged_ = false;
    // While Redis is down, publishers try to reconnect at most once a second.
    std::chrono::steady_clock::time_point next_connect_attempt_{};
    std::atomic<bool> stopping_{false};
    std::thread consumer_;
};

}  // namespace miconsul::bus
