#include "bus/redis_transport.h"

#include <hiredis/hiredis.h>

#include <memory>

namespace miconsul::bus {

namespace {
constexpr const char* kStream = "miconsul:deliveries";
constexpr const char* kGroup = "miconsul-bus";
// Entries beyond this are trimmed: the stream is a doorbell, the database keeps the events.
constexpr const char* kMaxLength = "100000";

using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

Reply command(redisContext* context, const std::vector<std::string>& arguments) {
    std::vector<const char*> pointers;
    std::vector<size_t> lengths;
    for (const auto& argument : arguments) {
        pointers.push_back(argument.data());
        lengths.push_back(argument.size());
    }
    return Reply(static_cast<redisReply*>(redisCommandArgv(
                     context, static_cast<int>(arguments.size()), pointers.data(), lengths.data())),
                 &freeReplyObject);
}

// Reads "event"/"subscriber" fields of one stream entry ([id, [k, v, k, v]]).
bool read_entry(const redisReply* entry, std::string& id, DeliveryKey& key) {
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return false;
    id.assign(entry->element[0]->str, entry->element[0]->len);
    const redisReply* fields = entry->element[1];
    if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY) return false;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const std::string name(fields->element[i]->str, fields->element[i]->len);
        const std::string value(fields->element[i + 1]->str, fields->element[i + 1]->len);
        if (name == "event") key.first = value;
        if (name == "subscriber") key.second = value;
    }
    return !key.first.empty() && !key.second.empty();
}
}  // namespace

RedisTransport::RedisTransport(redis::RedisAddress address, std::string consumer_name,
                               std::chrono::milliseconds reclaim_idle, logging::Log log,
                               std::function<size_t()> room,
                               std::function<void(const std::vector<DeliveryKey>&)> on_announced)
    : address_(std::move(address)),
      consumer_name_(std::move(consumer_name)),
      reclaim_idle_(reclaim_idle),
      log_(std::move(log)),
      room_(std::move(room)),
      on_announced_(std::move(on_announced)) {}

RedisTransport::~RedisTransport() {
    stop();
    if (publisher_ != nullptr) redisFree(publisher_);
}

void RedisTransport::start() {
    consumer_ = std::thread([this] { consume(); });
}

void RedisTransport::stop() {
    stopping_ = true;
    if (consumer_.joinable()) consumer_.join();
}

redisContext* RedisTransport::connect() const {
    const timeval timeout{1, 0};
    redisContext* context = redisConnectWithTimeout(address_.host.c_str(), address_.port, timeout);
    if (context == nullptr || context->err != 0) {
        if (context != nullptr) redisFree(context);
        return nullptr;
    }
    redisSetTimeout(context, timeval{2, 0});
    if (address_.database != 0) command(context, {"SELECT", std::to_string(address_.database)});
    return context;
}

bool RedisTransport::announce(const std::vector<DeliveryKey>& deliveries) {
    if (deliveries.empty()) return true;
    std::lock_guard lock(publisher_mutex_);
    if (publisher_ == nullptr) {
        if (std::chrono::steady_clock::now() < next_connect_attempt_) return false;
        publisher_ = connect();
        if (publisher_ == nullptr) {
            next_connect_attempt_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        }
    }
    bool ok = publisher_ != nullptr;
    // Pipelined: one round trip for all of an event's deliveries.
    for (size_t i = 0; ok && i < deliveries.size(); ++i) {
        const char* arguments[] = {"XADD",       kStream,
                                   "MAXLEN",     "~",
                                   kMaxLength,   "*",
                                   "event",      deliveries[i].first.c_str(),
                                   "subscriber", deliveries[i].second.c_str()};
        ok = redisAppendCommandArgv(publisher_, 10, arguments, nullptr) == REDIS_OK;
    }
    for (size_t i = 0; ok && i < deliveries.size(); ++i) {
        void* raw = nullptr;
        ok = redisGetReply(publisher_, &raw) == REDIS_OK && raw != nullptr &&
             static_cast<redisReply*>(raw)->type != REDIS_REPLY_ERROR;
        if (raw != nullptr) freeReplyObject(raw);
    }
    if (!ok) {
        if (publisher_ != nullptr) {
            redisFree(publisher_);
            publisher_ = nullptr;
        }
        if (!publisher_down_logged_) {
            log_.warn("Redis unreachable: events are delivered from the database poll",
                      {{"redis", address_.host + ":" + std::to_string(address_.port)}});
            publisher_down_logged_ = true;
        }
        return false;
    }
    if (publisher_down_logged_) {
        log_.info("Redis reachable again", {});
        publisher_down_logged_ = false;
    }
    return true;
}

void RedisTransport::consume() {
    // A blocked read is its own connection: hiredis cannot share it while it waits.
    std::unique_ptr<redisContext, decltype(&redisFree)> reader(nullptr, &redisFree);
    auto last_reclaim = std::chrono::steady_clock::now();
    while (!stopping_) {
        if (!reader) {
            reader.reset(connect());
            if (!reader) {
                for (int i = 0; i < 10 && !stopping_; ++i) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
                continue;
            }
            // The group may exist already (BUSYGROUP): that is the normal case.
            command(reader.get(), {"XGROUP", "CREATE", kStream, kGroup, "$", "MKSTREAM"});
        }
        auto handle = [&](const redisReply* entries) {
            if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) return;
            std::vector<DeliveryKey> keys;
            std::vector<std::string> acknowledge = {"XACK", kStream, kGroup};
            for (size_t i = 0; i < entries->elements; ++i) {
                std::string id;
                DeliveryKey key;
                if (read_entry(entries->element[i], id, key)) keys.push_back(std::move(key));
                if (!id.empty()) acknowledge.push_back(std::move(id));
            }
            try {
                if (!keys.empty()) on_announced_(keys);
            } catch (const std::exception& failure) {
                // The database poll will deliver them; do not lose the stream entries'
                // acknowledgement over it.
                log_.warn("announced deliveries not claimed", {{"reason", failure.what()}});
            }
            if (acknowledge.size() > 3) command(reader.get(), acknowledge);
        };
        const size_t room = room_();
        if (room == 0) continue;
        // BLOCK 500 ms: short enough to notice stop requests.
        Reply reply =
            command(reader.get(), {"XREADGROUP", "GROUP", kGroup, consumer_name_, "COUNT",
                                   std::to_string(room), "BLOCK", "500", "STREAMS", kStream, ">"});
        if (!reply || reader->err != 0) {
            reader.reset();
            continue;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            // NOGROUP after a Redis restart without persistence: create it again.
            reader.reset();
            continue;
        }
        if (reply->type == REDIS_REPLY_ARRAY) {
            for (size_t s = 0; s < reply->elements; ++s) {
                const redisReply* stream = reply->element[s];
                if (stream->type == REDIS_REPLY_ARRAY && stream->elements == 2) {
                    handle(stream->element[1]);
                }
            }
        }
        if (std::chrono::steady_clock::now() - last_reclaim > reclaim_idle_) {
            last_reclaim = std::chrono::steady_clock::now();
            // Entries read by a consumer that died before acknowledging them.
            Reply claimed =
                command(reader.get(), {"XAUTOCLAIM", kStream, kGroup, consumer_name_,
                                       std::to_string(reclaim_idle_.count()), "0", "COUNT", "64"});
            if (claimed && claimed->type == REDIS_REPLY_ARRAY && claimed->elements >= 2) {
                handle(claimed->element[1]);
            }
        }
    }
}

}  // namespace miconsul::bus
