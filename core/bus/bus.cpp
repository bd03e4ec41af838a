#include "bus/bus.h"

#include "bus/redis_transport.h"
#include "ids/ids.h"
#include "storage/json_statement.h"
#include "webhooks/webhooks.h"

#include <map>
#include <regex>

namespace miconsul::bus {

namespace {
using clock::TimePoint;
using Json = nlohmann::json;

std::string text(TimePoint instant) {
    return clock::rfc3339_utc(instant);
}

Json optional_json(const std::optional<std::string>& value) {
    return value ? Json(*value) : Json(nullptr);
}

constexpr const char* kDeliveryColumns =
    "event_id, subscriber, tenant_id, status, attempts, next_attempt_at, last_error, delivered_at";

DeliveryRecord read_delivery(const soci::row& row) {
    DeliveryRecord delivery;
    delivery.event_id = row.get<std::string>(0);
    delivery.subscriber = row.get<std::string>(1);
    delivery.tenant_id = row.get<std::string>(2);
    delivery.status = row.get<std::string>(3);
    delivery.attempts = static_cast<int>(storage::integer_column(row, 4));
    delivery.next_attempt_at = row.get<std::string>(5);
    delivery.last_error = storage::optional_text_column(row, 6);
    delivery.delivered_at = storage::optional_text_column(row, 7);
    return delivery;
}

EventRecord read_event(const soci::row& row) {
    return {row.get<std::string>(0), row.get<std::string>(1),
            row.get<std::string>(2), row.get<std::string>(3),
            row.get<std::string>(4), Json::parse(row.get<std::string>(5), nullptr, false)};
}

// "plugin/handler" → {plugin, handler}.
std::pair<std::string, std::string> split_subscriber(const std::string& subscriber) {
    const auto slash = subscriber.find('/');
    if (slash == std::string::npos) return {subscriber, ""};
    return {subscriber.substr(0, slash), subscriber.substr(slash + 1)};
}
}  // namespace

bool type_matches(std::string_view pattern, std::string_view type) {
    if (pattern.size() > 2 && pattern.substr(pattern.size() - 2) == ".*") {
        // "payment.*" matches "payment.received" and "payment.refund.issued".
        return type.size() > pattern.size() - 1 &&
               type.substr(0, pattern.size() - 1) == pattern.substr(0, pattern.size() - 1);
    }
    return pattern == type;
}

bool is_valid_event_type(std::string_view type) {
    static const std::regex pattern(R"(^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$)");
    return type.size() <= 128 && std::regex_match(type.begin(), type.end(), pattern);
}

Json EventRecord::to_json() const {
    return {{"id", id},         {"type", type}, {"tenant", tenant_id},
            {"source", source}, {"time", time}, {"data", data}};
}

Json DeliveryRecord::to_json() const {
    return {{"event_id", event_id},
            {"subscriber", subscriber},
            {"status", status},
            {"attempts", attempts},
            {"next_attempt_at", status == "pending" ? Json(next_attempt_at) : Json(nullptr)},
            {"last_error", optional_json(last_error)},
            {"delivered_at", optional_json(delivered_at)}};
}

Bus::Bus(storage::Database& database, tenants::TenantStore& tenants,
         const plugins::PluginRegistry& registry, plugins::HostServices& services,
         const clock::Clock& clock, logging::Log log, BusOptions options)
    : database_(database),
      tenants_(tenants),
      registry_(registry),
      services_(services),
      clock_(clock),
      log_(std::move(log)),
      options_(options),
      instance_id_(ids::random_request_id()) {}

Bus::~Bus() {
    stop();
}

void Bus::use_redis(const redis::RedisAddress& address) {
    transport_ = std::make_unique<RedisTransport>(
        address, instance_id_, options_.lease, log_, [this](const DeliveryKey& key) {
            if (auto claimed = claim(key.first, key.second, clock_.now())) {
                hand_to_workers(std::move(*claimed));
            }
        });
}

void Bus::hand_to_workers(DeliveryRecord delivery) {
    if (options_.workers == 0) {
        deliver(delivery);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        ready_.push_back(std::move(delivery));
    }
    wake_.notify_all();
}

void Bus::start() {
    if (transport_) transport_->start();
    ticker_ = std::thread([this] { loop(); });
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
}

void Bus::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.notify_all();
    if (transport_) transport_->stop();
    if (ticker_.joinable()) ticker_.join();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
}

std::string Bus::publish(const std::string& tenant_id, const std::string& source,
                         const std::string& type, const Json& data) {
    // Group commit: callers publishing at the same moment share one transaction (and one
    // flush of the database's log). The first caller to find no batch being written writes
    // every event waiting, its own included; the others wait for that batch.
    auto mine = std::make_shared<PendingPublish>();
    mine->draft = {tenant_id, source, type, data};
    std::unique_lock lock(publish_mutex_);
    pending_publishes_.push_back(mine);
    while (!mine->done) {
        if (publish_in_progress_) {
            publish_done_.wait(lock);
            continue;
        }
        publish_in_progress_ = true;
        std::vector<std::shared_ptr<PendingPublish>> batch;
        batch.swap(pending_publishes_);
        lock.unlock();
        write_publishes(batch);
        lock.lock();
        publish_in_progress_ = false;
        publish_done_.notify_all();
    }
    lock.unlock();
    if (mine->failure) std::rethrow_exception(mine->failure);
    return mine->id;
}

void Bus::write_publishes(const std::vector<std::shared_ptr<PendingPublish>>& batch) {
    std::vector<Draft> drafts;
    for (const auto& pending : batch) drafts.push_back(pending->draft);
    try {
        const auto ids = publish_many(drafts);
        for (size_t i = 0; i < batch.size(); ++i) batch[i]->id = ids[i];
    } catch (...) {
        if (batch.size() == 1) {
            batch[0]->failure = std::current_exception();
        } else {
            // Nothing of the batch was stored: each alone, so that only what fails, fails.
            for (const auto& pending : batch) {
                try {
                    pending->id = publish_many({pending->draft}).front();
                } catch (...) {
                    pending->failure = std::current_exception();
                }
            }
        }
    }
    std::lock_guard lock(publish_mutex_);
    for (const auto& pending : batch) pending->done = true;
}

std::vector<std::string> Bus::publish_many(const std::vector<Draft>& drafts) {
    std::vector<std::string> published;
    std::vector<DeliveryKey> announced;
    const std::string time = text(clock_.now());
    database_.with_platform([&](soci::session& session) {
        // One transaction: an event is never stored without its deliveries, nor the reverse.
        soci::transaction transaction(session);
        // Who gets an event is decided now, with the enablement in force when it happened —
        // read from the database inside the transaction, not from this instance's snapshot,
        // which may lag a change just made through another instance. Read once per tenant.
        std::map<std::string, std::vector<std::shared_ptr<const plugins::LoadedPlugin>>> enabled;
        auto plugins_of = [&](const std::string& tenant_id) -> const auto& {
            auto found = enabled.find(tenant_id);
            if (found != enabled.end()) return found->second;
            auto& plugins = enabled[tenant_id];
            if (tenant_id.empty()) {
                for (const auto& record : registry_.records()) {
                    if (record.loaded &&
                        record.plugin->manifest.scope == plugins::Scope::platform) {
                        plugins.push_back(record.plugin);
                    }
                }
                return plugins;
            }
            soci::rowset<std::string> rows =
                (session.prepare << "SELECT p.plugin FROM tenant_plugins p JOIN tenants t ON"
                                    " t.id = p.tenant_id WHERE p.tenant_id = :tenant AND"
                                    " p.enabled = 1 AND t.status = 'active'",
                 soci::use(tenant_id, "tenant"));
            for (const auto& name : rows) {
                if (auto plugin = registry_.find_loaded(name)) plugins.push_back(plugin);
            }
            return plugins;
        };
        std::string id, tenant_id, source, type, data_text, subscriber;
        soci::statement insert_event =
            (session.prepare << "INSERT INTO events (id, type, tenant_id, source, time, data)"
                                " VALUES (:id, :type, :tenant, :source, :time, :data)",
             soci::use(id, "id"), soci::use(type, "type"), soci::use(tenant_id, "tenant"),
             soci::use(source, "source"), soci::use(time, "time"), soci::use(data_text, "data"));
        soci::statement insert_delivery =
            (session.prepare << "INSERT INTO event_deliveries (event_id, subscriber, tenant_id,"
                                " status, attempts, next_attempt_at, created_at) VALUES (:event,"
                                " :subscriber, :tenant, 'pending', 0, :next_attempt_at,"
                                " :created_at)",
             soci::use(id, "event"), soci::use(subscriber, "subscriber"),
             soci::use(tenant_id, "tenant"), soci::use(time, "next_attempt_at"),
             soci::use(time, "created_at"));
        for (const auto& draft : drafts) {
            id = ids::random_uuid();
            tenant_id = draft.tenant_id;
            source = draft.source;
            type = draft.type;
            data_text = draft.data.dump(-1, ' ', false, Json::error_handler_t::replace);
            std::vector<std::string> subscribers;
            for (const auto& plugin : plugins_of(tenant_id)) {
                for (const auto& handler : plugin->event_handlers) {
                    if (type_matches(handler.event_type, type)) {
                        subscribers.push_back(plugin->manifest.name + "/" + handler.name);
                    }
                }
            }
            if (webhooks_ != nullptr && !tenant_id.empty()) {
                for (auto& webhook : webhooks_->subscribers_for(session, tenant_id, type)) {
                    subscribers.push_back(std::move(webhook));
                }
            }
            insert_event.execute(true);
            for (const auto& each : subscribers) {
                subscriber = each;
                insert_delivery.execute(true);
                announced.emplace_back(id, each);
            }
            published.push_back(id);
        }
        transaction.commit();
    });
    if (!announced.empty()) {
        if (transport_) {
            transport_->announce(announced);
        } else {
            wake_up();
        }
    }
    return published;
}

void Bus::dispatch(TimePoint now) {
    const std::string now_text = text(now);
    long long recovered = 0;
    const int max_attempts = options_.max_attempts;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        // A delivery that used its attempts (it may be what killed the instances) is dead,
        // not retried forever.
        session << "UPDATE event_deliveries SET status = 'dead', lease_owner = NULL,"
                   " lease_until = NULL, last_error = 'the instance delivering it stopped, and no"
                   " attempts are left' WHERE status = 'delivering' AND lease_until < :now"
                   " AND attempts >= :max_attempts",
            soci::use(now_text, "now"), soci::use(max_attempts, "max_attempts");
        soci::statement statement =
            (session.prepare << "UPDATE event_deliveries SET status = 'pending', lease_owner ="
                                " NULL, lease_until = NULL, next_attempt_at = :now"
                                " WHERE status = 'delivering' AND lease_until < :expired_before",
             soci::use(now_text, "now"), soci::use(now_text, "expired_before"));
        statement.execute(true);
        recovered = statement.get_affected_rows();
        transaction.commit();
    });
    if (recovered > 0) {
        log_.warn("recovered deliveries of a stopped instance", {{"deliveries", recovered}});
    }
    int capacity = 100;
    if (options_.workers > 0) {
        std::lock_guard lock(mutex_);
        const int busy = static_cast<int>(ready_.size() + delivering_);
        capacity = std::max(0, options_.workers * 4 - busy);
    }
    if (capacity == 0) return;
    std::vector<std::pair<std::string, std::string>> due;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT event_id, subscriber FROM event_deliveries WHERE"
                                " status = 'pending' AND next_attempt_at <= :now"
                                " ORDER BY next_attempt_at LIMIT :limit",
             soci::use(now_text, "now"), soci::use(capacity, "limit"));
        for (const auto& row : rows)
            due.emplace_back(row.get<std::string>(0), row.get<std::string>(1));
    });
    for (const auto& [event_id, subscriber] : due) {
        if (auto claimed = claim(event_id, subscriber, now)) hand_to_workers(std::move(*claimed));
    }
}

std::optional<DeliveryRecord> Bus::claim(const std::string& event_id, const std::string& subscriber,
                                         TimePoint now) {
    const std::string lease_until = text(now + options_.lease);
    std::optional<DeliveryRecord> claimed;
    database_.with_platform([&](soci::session& session) {
        // Conditional on still pending: one instance wins each delivery.
        soci::statement statement =
            (session.prepare << "UPDATE event_deliveries SET status = 'delivering', attempts ="
                                " attempts + 1, lease_owner = :owner, lease_until = :until"
                                " WHERE event_id = :event AND subscriber = :subscriber"
                                " AND status = 'pending'",
             soci::use(instance_id_, "owner"), soci::use(lease_until, "until"),
             soci::use(event_id, "event"), soci::use(subscriber, "subscriber"));
        statement.execute(true);
        if (statement.get_affected_rows() != 1) return;
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kDeliveryColumns +
                                    " FROM event_deliveries WHERE event_id = :event AND"
                                    " subscriber = :subscriber",
             soci::use(event_id, "event"), soci::use(subscriber, "subscriber"));
        for (const auto& row : rows) claimed = read_delivery(row);
    });
    return claimed;
}

void Bus::tick() {
    try {
        dispatch(clock_.now());
    } catch (const std::exception& failure) {
        log_.error("event dispatch failed", {{"reason", failure.what()}});
    }
}

void Bus::deliver(const DeliveryRecord& delivery) {
    std::optional<EventRecord> event;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT id, tenant_id, type, source, time, data FROM events"
                                " WHERE id = :id",
             soci::use(delivery.event_id, "id"));
        for (const auto& row : rows) event = read_event(row);
    });
    const std::string now = text(clock_.now());
    auto record = [&](const std::string& status, const std::optional<std::string>& error,
                      const std::string& next_attempt_at) {
        soci::indicator error_indicator = error ? soci::i_ok : soci::i_null;
        const std::string error_text = error.value_or("");
        soci::indicator delivered_indicator = status == "delivered" ? soci::i_ok : soci::i_null;
        database_.with_platform([&](soci::session& session) {
            session << "UPDATE event_deliveries SET status = :status, last_error = :error,"
                       " next_attempt_at = :next, delivered_at = :delivered, lease_owner = NULL,"
                       " lease_until = NULL WHERE event_id = :event AND subscriber = :subscriber"
                       " AND lease_owner = :owner",
                soci::use(status, "status"), soci::use(error_text, error_indicator, "error"),
                soci::use(next_attempt_at, "next"),
                soci::use(now, delivered_indicator, "delivered"),
                soci::use(delivery.event_id, "event"), soci::use(delivery.subscriber, "subscriber"),
                soci::use(instance_id_, "owner");
        });
    };
    {
        std::lock_guard lock(mutex_);
        ++delivering_;
    }
    std::optional<std::string> failure;
    if (!event) {
        failure = std::nullopt;
    } else if (delivery.subscriber.rfind("webhook:", 0) == 0) {
        failure = deliver_to_webhook(delivery, *event);
    } else {
        failure = deliver_to_handler(delivery, *event);
    }
    {
        std::lock_guard lock(mutex_);
        --delivering_;
    }
    if (!failure) {
        // The subscriber was disabled, deleted or unloaded since: it must get nothing more.
        record("skipped", std::string("the subscriber no longer takes this tenant's events"), now);
        return;
    }
    if (failure->empty()) {
        record("delivered", std::nullopt, now);
        return;
    }
    if (delivery.attempts < options_.max_attempts) {
        const std::chrono::milliseconds backoff = std::min<std::chrono::milliseconds>(
            options_.retry_base * (1 << std::min(delivery.attempts - 1, 20)), options_.retry_cap);
        record("pending", *failure, text(clock_.now() + backoff));
        return;
    }
    record("dead", *failure, now);
    log_.error("event delivery dead-lettered", {{"event", delivery.event_id},
                                                {"type", event->type},
                                                {"subscriber", delivery.subscriber},
                                                {"tenant", delivery.tenant_id},
                                                {"attempts", delivery.attempts},
                                                {"error", *failure}});
}

std::optional<std::string> Bus::deliver_to_handler(const DeliveryRecord& delivery,
                                                   const EventRecord& event) {
    const auto [plugin_name, handler_name] = split_subscriber(delivery.subscriber);
    auto plugin = registry_.find_loaded(plugin_name);
    const plugins::EventHandlerInfo* handler = nullptr;
    if (plugin) {
        for (const auto& candidate : plugin->event_handlers) {
            if (candidate.name == handler_name) handler = &candidate;
        }
    }
    if (handler == nullptr) {
        // During a rolling upgrade another instance may have it: retry rather than drop.
        return "the handler is not loaded on this instance";
    }
    std::string settings_json = "{}", timezone = "UTC", locale;
    if (!delivery.tenant_id.empty()) {
        auto enabled_in = [&](const tenants::TenantSnapshot* snapshot) {
            return snapshot != nullptr && snapshot->tenant.status == "active" &&
                   snapshot->enabled_settings.count(plugin_name) != 0;
        };
        auto snapshot = tenants_.find(delivery.tenant_id);
        if (!enabled_in(snapshot.get())) {
            // This instance's snapshot may lag a change made elsewhere: ask the database once
            // before deciding the subscriber may not have it.
            tenants_.refresh(delivery.tenant_id);
            snapshot = tenants_.find(delivery.tenant_id);
            if (!enabled_in(snapshot.get())) return std::nullopt;
        }
        settings_json = snapshot->enabled_settings.at(plugin_name);
        timezone = snapshot->tenant.timezone;
        locale = snapshot->tenant.locale;
    }
    mc_context context;
    context.plugin = plugin.get();
    context.tenant_id = delivery.tenant_id;
    context.request_id = "event-" + delivery.event_id;
    context.services = &services_;
    const mc_call call{sizeof(mc_call),
                       &context,
                       plugin_name.c_str(),
                       delivery.tenant_id.c_str(),
                       timezone.c_str(),
                       locale.c_str(),
                       settings_json.c_str(),
                       context.request_id.c_str(),
                       0};
    const std::string data_text = event.data.dump();
    const mc_event plugin_event{sizeof(mc_event),        event.id.c_str(),     event.type.c_str(),
                                event.tenant_id.c_str(), event.source.c_str(), event.time.c_str(),
                                data_text.c_str()};
    mc_status status = MC_ERR_INTERNAL;
    try {
        status = handler->handler(handler->user_data, &call, &plugin_event);
    } catch (...) {
        context.last_logged_error = "an exception escaped the event handler";
    }
    if (status == MC_OK) return std::string();
    return context.last_logged_error.empty() ? "the event handler reported a failure"
                                             : context.last_logged_error;
}

std::optional<std::string> Bus::deliver_to_webhook(const DeliveryRecord& delivery,
                                                   const EventRecord& event) {
    if (webhooks_ == nullptr) return std::nullopt;
    const auto outcome =
        webhooks_->deliver(delivery.subscriber, event.to_json(), delivery.attempts);
    if (outcome.disabled_now) {
        const auto& disabled = *outcome.disabled_now;
        try {
            publish(disabled.tenant_id, "core", "webhook.disabled",
                    {{"id", disabled.id},
                     {"url", disabled.url},
                     {"reason", disabled.disabled_reason.value_or("")}});
        } catch (const std::exception& failure) {
            log_.error("core event not stored",
                       {{"type", "webhook.disabled"}, {"reason", failure.what()}});
        }
    }
    if (outcome.skip) return std::nullopt;
    if (outcome.delivered) return std::string();
    return outcome.error;
}

std::vector<EventRecord> Bus::events(const std::string& tenant_id, const std::string& type,
                                     size_t limit) {
    std::vector<EventRecord> found;
    const int row_limit = static_cast<int>(limit);
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT id, tenant_id, type, source, time, data FROM events"
                                " WHERE tenant_id = :tenant AND (:any_type = '' OR type = :type)"
                                " ORDER BY time DESC, id DESC LIMIT :limit",
             soci::use(tenant_id, "tenant"), soci::use(type, "any_type"), soci::use(type, "type"),
             soci::use(row_limit, "limit"));
        for (const auto& row : rows) found.push_back(read_event(row));
    });
    return found;
}

std::vector<DeliveryRecord> Bus::deliveries(const std::string& tenant_id, const std::string& status,
                                            size_t limit) {
    std::vector<DeliveryRecord> found;
    const int row_limit = static_cast<int>(limit);
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kDeliveryColumns +
                                    " FROM event_deliveries WHERE tenant_id = :tenant AND"
                                    " (:any_status = '' OR status = :status)"
                                    " ORDER BY created_at DESC, event_id DESC LIMIT :limit",
             soci::use(tenant_id, "tenant"), soci::use(status, "any_status"),
             soci::use(status, "status"), soci::use(row_limit, "limit"));
        for (const auto& row : rows) found.push_back(read_delivery(row));
    });
    return found;
}

bool Bus::redeliver(const std::string& tenant_id, const std::string& event_id,
                    const std::string& subscriber) {
    long long changed = 0;
    const std::string now = text(clock_.now());
    database_.with_platform([&](soci::session& session) {
        soci::statement statement =
            (session.prepare << "UPDATE event_deliveries SET status = 'pending', attempts = 0,"
                                " next_attempt_at = :now WHERE tenant_id = :tenant AND"
                                " event_id = :event AND subscriber = :subscriber AND"
                                " status = 'dead'",
             soci::use(now, "now"), soci::use(tenant_id, "tenant"), soci::use(event_id, "event"),
             soci::use(subscriber, "subscriber"));
        statement.execute(true);
        changed = statement.get_affected_rows();
    });
    if (changed == 1) wake_up();
    return changed == 1;
}

void Bus::wake_up() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    wake_.notify_all();
}

void Bus::loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        woken_ = false;
        lock.unlock();
        tick();
        lock.lock();
        // A publish wakes the loop at once; otherwise it looks again after one tick.
        wake_.wait_for(lock, options_.tick, [this] { return stopping_ || woken_; });
    }
}

void Bus::work() {
    for (;;) {
        DeliveryRecord delivery;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
            if (ready_.empty()) return;
            delivery = std::move(ready_.front());
            ready_.pop_front();
        }
        deliver(delivery);
        wake_up();  // a worker is free: claim more now rather than at the next poll
    }
}

}  // namespace miconsul::bus
