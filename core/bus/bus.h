// The event bus, embedded: events are stored in the platform database together with one
// delivery per subscribed handler, in one transaction, then delivered by worker threads —
// at least once, acknowledged per handler, retried with backoff, dead-lettered at the end.
// A handler only gets events of tenants that have its plugin enabled (platform plugins get
// platform events). See docs/events.md.
#pragma once

#include "bus/redis_transport.h"
#include "clock/clock.h"
#include "logging/log.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "redis/redis_probe.h"
#include "storage/database.h"
#include "tenants/tenant_store.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace miconsul::webhooks {
class Webhooks;
}

namespace miconsul::bus {

struct BusOptions {
    std::chrono::milliseconds tick{500};
    std::chrono::milliseconds lease{30000};  // a delivery not acknowledged by then is retaken
    int workers = 2;                         // 0: tick() delivers what is due itself (tests)
    int max_attempts = 8;
    std::chrono::milliseconds retry_base{5000};  // doubled at each failed attempt
    std::chrono::milliseconds retry_cap{600000};
};

struct EventRecord {
    std::string id, tenant_id, type, source, time;
    nlohmann::json data;
    nlohmann::json to_json() const;
};

struct DeliveryRecord {
    // status: pending, delivering, delivered, dead, or skipped (subscriber no longer enabled)
    std::string event_id, subscriber, tenant_id, status;
    int attempts = 0;
    std::string next_attempt_at;
    std::optional<std::string> last_error, delivered_at;
    nlohmann::json to_json() const;
};

/// Whether a handler's `pattern` ("a.b", or a prefix "a.*") matches event `type`.
bool type_matches(std::string_view pattern, std::string_view type);

/// Whether `type` looks like "appointment.created": dot-separated lower-case words, ≤ 128.
bool is_valid_event_type(std::string_view type);

class Bus {
public:
    Bus(storage::Database& database, tenants::TenantStore& tenants,
        const plugins::PluginRegistry& registry, plugins::HostServices& services,
        const clock::Clock& clock, logging::Log log, BusOptions options);
    ~Bus();
    Bus(const Bus&) = delete;
    Bus& operator=(const Bus&) = delete;

    /// Lets the bus fan events out to tenants' webhook subscriptions too. Call before start().
    void set_webhooks(webhooks::Webhooks* webhooks) { webhooks_ = webhooks; }

    /// Announces deliveries on a Redis stream read by every instance (see redis_transport.h).
    /// Call before start(). Without it, deliveries start at the next database poll.
    void use_redis(const redis::RedisAddress& address);

    void start();
    /// Stops delivering; deliveries in progress finish. Idempotent.
    void stop();

    /// Stores the event and its deliveries atomically and returns its id. `tenant_id` is ""
    /// for platform events; `source` is "core", "api" or a plugin's name. Throws on failure
    /// (then nothing was stored).
    std::string publish(const std::string& tenant_id, const std::string& source,
                        const std::string& type, const nlohmann::json& data);

    struct Draft {
        std::string tenant_id, source, type;
        nlohmann::json data;
        /// Given by a caller that stored the event elsewhere first (the records' outbox) and
        /// may publish it again after a crash: an id already published is skipped, so the
        /// event is stored, and delivered, once. Empty: the bus makes one.
        std::string id;
    };
    /// The same for many events in one transaction (all stored, or none); their ids in order.
    /// What the scheduler uses for the run.* events of a burst of runs.
    std::vector<std::string> publish_many(const std::vector<Draft>& drafts);

    /// One step: recover deliveries of a stopped instance, then deliver what is due. Called by
    /// the bus thread, or by tests that did not start() it: never by both.
    void tick();

    /// A tenant's events, newest first, optionally of one type.
    std::vector<EventRecord> events(const std::string& tenant_id, const std::string& type,
                                    size_t limit);

    /// A tenant's deliveries of one status ("" = any), newest first.
    std::vector<DeliveryRecord> deliveries(const std::string& tenant_id, const std::string& status,
                                           size_t limit);

    /// Puts a dead delivery back in the queue. False if there is no such dead delivery.
    bool redeliver(const std::string& tenant_id, const std::string& event_id,
                   const std::string& subscriber);

private:
    struct PendingPublish {
        Draft draft;
        std::string id;
        std::exception_ptr failure;
        // Guarded by publish_mutex_: written (done) or chosen to write the next batch (leads).
        bool done = false, leads = false;
        std::condition_variable wake;  // each waiter its own: a batch wakes only its members
    };
    void write_publishes(const std::vector<std::shared_ptr<PendingPublish>>& batch);
    void dispatch(clock::TimePoint now);

    /// A delivery this instance holds, with its event (nullopt if the event is gone).
    struct ClaimedDelivery {
        DeliveryRecord delivery;
        std::optional<EventRecord> event;
    };
    /// What became of one delivery, to be written with others in one statement.
    struct Acknowledgement {
        std::string event_id, subscriber, status, next_attempt_at;
        std::optional<std::string> error, delivered_at;
    };
    /// Leases the pending ones of these deliveries to this instance, with one statement per
    /// few hundred, and reads their events with one query: those another instance took or
    /// that are done are left out.
    std::vector<ClaimedDelivery> claim(const std::vector<DeliveryKey>& keys, clock::TimePoint now);
    /// How many announced deliveries the Redis transport may read now; waits while the
    /// workers have enough queued, 0 when stopping.
    size_t room_for_announced();
    void hand_to_workers(std::vector<ClaimedDelivery> claimed);
    /// Delivers a batch, writing the outcomes together — as they accumulate, at least every
    /// kAcknowledgeEvery, so that a slow webhook does not keep the others unacknowledged.
    void deliver_batch(std::vector<ClaimedDelivery>& batch);
    Acknowledgement deliver(const ClaimedDelivery& claimed);
    /// Writes outcomes of deliveries this instance still holds (one whose lease lapsed and was
    /// retaken belongs to the other instance now). Failures are logged: the leases lapse and
    /// the deliveries are made again — at least once.
    void acknowledge(const std::vector<Acknowledgement>& outcomes);
    /// Runs one delivery to a plugin handler; the error text when it failed, "" when delivered,
    /// nullopt when the subscriber may not receive it any more (skipped).
    std::optional<std::string> deliver_to_handler(const DeliveryRecord& delivery,
                                                  const EventRecord& event);
    std::optional<std::string> deliver_to_webhook(const DeliveryRecord& delivery,
                                                  const EventRecord& event);
    void loop();
    void work();
    void wake_up();

    storage::Database& database_;
    tenants::TenantStore& tenants_;
    const plugins::PluginRegistry& registry_;
    plugins::HostServices& services_;
    const clock::Clock& clock_;
    logging::Log log_;
    BusOptions options_;
    const std::string instance_id_;
    webhooks::Webhooks* webhooks_ = nullptr;
    std::unique_ptr<class RedisTransport> transport_;

    std::mutex publish_mutex_;  // guards the publishes waiting for a batch
    std::vector<std::shared_ptr<PendingPublish>> pending_publishes_;
    bool publish_in_progress_ = false;  // a leader is writing a batch

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable room_;  // workers took deliveries: ready_ has room again
    std::deque<ClaimedDelivery> ready_;
    size_t delivering_ = 0;
    bool woken_ = false;
    bool stopping_ = false;
    std::thread ticker_;
    std::vector<std::thread> workers_;
};

}  // namespace miconsul::bus
