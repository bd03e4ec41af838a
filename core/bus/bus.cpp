#include "bus/bus.h"

#include "bus/redis_transport.h"
#include "ids/ids.h"
#include "storage/json_statement.h"
#include "webhooks/webhooks.h"

#include <algorithm>
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

// Rows per multi-row statement: well under SQLite's and PostgreSQL's parameter limits.
constexpr size_t kRowsPerStatement = 500;
// Deliveries a worker takes at once, and writes the outcomes of with one statement.
constexpr size_t kDeliveriesPerBatch = 64;
// Stream entries read at once at most.
constexpr size_t kAnnouncedPerRead = 256;
constexpr std::chrono::milliseconds kAcknowledgeEvery{250};

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

DeliveryRecord delivery_from_json(const Json& row) {
    DeliveryRecord delivery;
    delivery.event_id = row.at("event_id").get<std::string>();
    delivery.subscriber = row.at("subscriber").get<std::string>();
    delivery.tenant_id = row.at("tenant_id").get<std::string>();
    delivery.status = row.at("status").get<std::string>();
    delivery.attempts = static_cast<int>(row.at("attempts").get<long long>());
    delivery.next_attempt_at = row.at("next_attempt_at").get<std::string>();
    if (!row.at("last_error").is_null()) delivery.last_error = row.at("last_error");
    if (!row.at("delivered_at").is_null()) delivery.delivered_at = row.at("delivered_at");
    return delivery;
}

EventRecord event_from_json(const Json& row) {
    return {row.at("id").get<std::string>(),
            row.at("tenant_id").get<std::string>(),
            row.at("type").get<std::string>(),
            row.at("source").get<std::string>(),
            row.at("time").get<std::string>(),
            Json::parse(row.at("data").get<std::string>(), nullptr, false)};
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
        address, instance_id_, options_.lease, log_, [this] { return room_for_announced(); },
        [this](const std::vector<DeliveryKey>& keys) {
            auto claimed = claim(keys, clock_.now());
            if (!claimed.empty()) hand_to_workers(std::move(claimed));
        });
}

size_t Bus::room_for_announced() {
    if (options_.workers == 0) return kAnnouncedPerRead;
    // Back-pressure: read no more from the stream than the workers can start soon. While they
    // are busy the entries wait in the stream for the other instances of the group, instead
    // of being leased here and left to lapse.
    const size_t limit = static_cast<size_t>(options_.workers) * kDeliveriesPerBatch * 2;
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return stopping_ || ready_.size() < limit; });
    return stopping_ ? 0 : std::min(kAnnouncedPerRead, limit - ready_.size());
}

void Bus::hand_to_workers(std::vector<ClaimedDelivery> claimed) {
    if (options_.workers == 0) {
        deliver_batch(claimed);
        return;
    }
    {
        std::lock_guard lock(mutex_);
        for (auto& each : claimed) ready_.push_back(std::move(each));
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
    room_.notify_all();
    if (transport_) transport_->stop();
    if (ticker_.joinable()) ticker_.join();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
}

std::string Bus::publish(const std::string& tenant_id, const std::string& source,
                         const std::string& type, const Json& data) {
    // Group commit: callers publishing at the same moment share one transaction (and one
    // flush of the database's log). A caller that finds no batch being written leads: it
    // writes every event waiting, its own included. When a batch is written its members are
    // woken, and the first caller still waiting, if any, is made the next leader — one
    // wake-up per publish, not one per waiting caller per batch.
    auto mine = std::make_shared<PendingPublish>();
    mine->draft = {tenant_id, source, type, data, ""};
    std::unique_lock lock(publish_mutex_);
    pending_publishes_.push_back(mine);
    if (publish_in_progress_) {
        mine->wake.wait(lock, [&] { return mine->done || mine->leads; });
    } else {
        publish_in_progress_ = true;
        mine->leads = true;
    }
    if (!mine->done) {
        std::vector<std::shared_ptr<PendingPublish>> batch;
        batch.swap(pending_publishes_);
        lock.unlock();
        write_publishes(batch);
        lock.lock();
        for (const auto& member : batch) {
            member->done = true;
            if (member != mine) member->wake.notify_one();
        }
        if (pending_publishes_.empty()) {
            publish_in_progress_ = false;
        } else {
            pending_publishes_.front()->leads = true;
            pending_publishes_.front()->wake.notify_one();
        }
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
}

std::vector<std::string> Bus::publish_many(const std::vector<Draft>& drafts) {
    std::vector<std::string> published;
    std::vector<DeliveryKey> announced;
    const TimePoint now = clock_.now();
    const std::string time = text(now);
    database_.with_platform([&](soci::session& session) {
        // One transaction: an event is never stored without its deliveries, nor the reverse.
        soci::transaction transaction(session);
        // Who gets an event is decided now, with the enablement in force when it happened —
        // read from the database inside the transaction, not from this instance's snapshot,
        // which may lag a change just made through another instance. Read once per tenant:
        // (subscriber, type pattern) of its enabled plugins' handlers and its webhooks.
        std::map<std::string, std::vector<std::pair<std::string, std::string>>> subscriptions;
        auto subscriptions_of = [&](const std::string& tenant_id) -> const auto& {
            auto found = subscriptions.find(tenant_id);
            if (found != subscriptions.end()) return found->second;
            auto& tenant_subscriptions = subscriptions[tenant_id];
            std::vector<std::shared_ptr<const plugins::LoadedPlugin>> plugins;
            if (tenant_id.empty()) {
                for (const auto& record : registry_.records()) {
                    if (record.loaded &&
                        record.plugin->manifest.scope == plugins::Scope::platform) {
                        plugins.push_back(record.plugin);
                    }
                }
            } else {
                soci::rowset<std::string> rows =
                    (session.prepare << "SELECT p.plugin FROM tenant_plugins p JOIN tenants t ON"
                                        " t.id = p.tenant_id WHERE p.tenant_id = :tenant AND"
                                        " p.enabled = 1 AND t.status = 'active'",
                     soci::use(tenant_id, "tenant"));
                for (const auto& name : rows) {
                    if (auto plugin = registry_.find_loaded(name)) plugins.push_back(plugin);
                }
            }
            for (const auto& plugin : plugins) {
                for (const auto& handler : plugin->event_handlers) {
                    tenant_subscriptions.emplace_back(plugin->manifest.name + "/" + handler.name,
                                                      handler.event_type);
                }
            }
            if (webhooks_ != nullptr && !tenant_id.empty()) {
                for (auto& [subscriber, patterns] :
                     webhooks_->subscriptions_of(session, tenant_id)) {
                    for (auto& pattern : patterns) {
                        tenant_subscriptions.emplace_back(subscriber, std::move(pattern));
                    }
                }
            }
            return tenant_subscriptions;
        };
        std::vector<Json> event_rows, delivery_rows;
        for (const auto& draft : drafts) {
            // Time-ordered: a batch's rows land at the end of the events and deliveries
            // indexes, on a few pages, instead of one random page per row.
            const std::string id = draft.id.empty() ? ids::time_ordered_uuid(now) : draft.id;
            event_rows.push_back(
                Json::array({id, draft.type, draft.tenant_id, draft.source, time,
                             draft.data.dump(-1, ' ', false, Json::error_handler_t::replace)}));
            std::string last_subscriber;  // a webhook with two matching patterns gets one
            for (const auto& [subscriber, pattern] : subscriptions_of(draft.tenant_id)) {
                if (subscriber == last_subscriber || !type_matches(pattern, draft.type)) continue;
                last_subscriber = subscriber;
                delivery_rows.push_back(
                    Json::array({id, subscriber, draft.tenant_id, "pending", 0, time, time}));
                announced.emplace_back(id, subscriber);
            }
            published.push_back(id);
        }
        // Multi-row INSERTs, a few hundred rows each: one round trip per chunk, not per row.
        auto insert = [&](const std::string& head, const std::vector<Json>& rows) {
            for (size_t first = 0; first < rows.size(); first += kRowsPerStatement) {
                const size_t last = std::min(rows.size(), first + kRowsPerStatement);
                std::string sql = head;
                Json values = Json::array();
                storage::append_values_rows(session,
                                            {rows.begin() + static_cast<std::ptrdiff_t>(first),
                                             rows.begin() + static_cast<std::ptrdiff_t>(last)},
                                            sql, values);
                // A preset id seen before (see Draft::id) is skipped with its deliveries.
                storage::run_positional_statement(session, sql + " ON CONFLICT DO NOTHING", values);
            }
        };
        insert("INSERT INTO events (id, type, tenant_id, source, time, data) VALUES ", event_rows);
        insert(
            "INSERT INTO event_deliveries (event_id, subscriber, tenant_id, status, attempts,"
            " next_attempt_at, created_at) VALUES ",
            delivery_rows);
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
    // Heartbeat: deliveries this instance holds — queued here or running, perhaps behind a
    // batch of slow webhooks — keep their lease while it runs, renewed once a third of it is
    // left. Only an instance that stopped ticking (it died) loses them to the others.
    const std::string renewed_until = text(now + options_.lease);
    const std::string renew_before = text(now + options_.lease / 3);
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        // SKIP LOCKED (PostgreSQL): a row a worker is acknowledging needs no renewal, and
        // waiting for it could deadlock with that worker's multi-row statement.
        session << std::string(
                       "UPDATE event_deliveries SET lease_until = :until WHERE"
                       " (event_id, subscriber) IN (SELECT event_id, subscriber FROM"
                       " event_deliveries WHERE lease_owner = :owner AND status ="
                       " 'delivering' AND lease_until < :renew_before") +
                       (database_.backend() == storage::Backend::postgresql
                            ? " FOR UPDATE SKIP LOCKED)"
                            : ")"),
            soci::use(renewed_until, "until"), soci::use(instance_id_, "owner"),
            soci::use(renew_before, "renew_before");
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
        capacity = std::max(0, options_.workers * static_cast<int>(kDeliveriesPerBatch) - busy);
    }
    if (capacity == 0) return;
    std::vector<DeliveryKey> due;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT event_id, subscriber FROM event_deliveries WHERE"
                                " status = 'pending' AND next_attempt_at <= :now"
                                " ORDER BY next_attempt_at LIMIT :limit",
             soci::use(now_text, "now"), soci::use(capacity, "limit"));
        for (const auto& row : rows)
            due.emplace_back(row.get<std::string>(0), row.get<std::string>(1));
    });
    auto claimed = claim(due, now);
    if (!claimed.empty()) hand_to_workers(std::move(claimed));
}

std::vector<Bus::ClaimedDelivery> Bus::claim(const std::vector<DeliveryKey>& keys, TimePoint now) {
    std::vector<ClaimedDelivery> claimed;
    if (keys.empty()) return claimed;
    const std::string lease_until = text(now + options_.lease);
    const bool postgresql = database_.backend() == storage::Backend::postgresql;
    database_.with_platform([&](soci::session& session) {
        for (size_t first = 0; first < keys.size(); first += kRowsPerStatement) {
            const size_t last = std::min(keys.size(), first + kRowsPerStatement);
            std::vector<Json> rows;
            for (size_t i = first; i < last; ++i) {
                rows.push_back(Json::array({keys[i].first, keys[i].second}));
            }
            std::string sql = "WITH v (wanted_event, wanted_subscriber) AS (VALUES ";
            Json values = Json::array();
            storage::append_values_rows(session, rows, sql, values);
            // Conditional on still pending: one instance wins each delivery. On PostgreSQL the
            // rows are locked first with SKIP LOCKED: two claims of overlapping batches (the
            // stream and the poll, or two instances) would otherwise lock rows in different
            // orders and deadlock; a row another claim holds is that claim's anyway.
            sql += postgresql ? "), wanted AS (SELECT d.event_id AS wanted_event, d.subscriber AS"
                                " wanted_subscriber FROM event_deliveries d JOIN v ON d.event_id ="
                                " v.wanted_event AND d.subscriber = v.wanted_subscriber WHERE"
                                " d.status = 'pending' FOR UPDATE OF d SKIP LOCKED)"
                              : "), wanted AS (SELECT * FROM v)";
            sql +=
                " UPDATE event_deliveries SET status = 'delivering', attempts = attempts + 1,"
                " lease_owner = ";
            values.push_back(instance_id_);
            sql += storage::positional_placeholder(session, values.size());
            sql += ", lease_until = ";
            values.push_back(lease_until);
            sql += storage::positional_placeholder(session, values.size());
            sql += std::string(
                       " FROM wanted WHERE event_id = wanted.wanted_event AND subscriber ="
                       " wanted.wanted_subscriber AND status = 'pending' RETURNING ") +
                   kDeliveryColumns;
            for (const auto& row : storage::run_positional_statement(session, sql, values)) {
                claimed.push_back({delivery_from_json(row), std::nullopt});
            }
        }
        if (claimed.empty()) return;
        // Their events, with one query per few hundred.
        std::map<std::string, EventRecord> events;
        for (size_t first = 0; first < claimed.size(); first += kRowsPerStatement) {
            const size_t last = std::min(claimed.size(), first + kRowsPerStatement);
            std::string sql =
                "SELECT id, tenant_id, type, source, time, data FROM events WHERE id IN (";
            Json values = Json::array();
            for (size_t i = first; i < last; ++i) {
                values.push_back(claimed[i].delivery.event_id);
                if (i > first) sql += ", ";
                sql += storage::positional_placeholder(session, values.size());
            }
            sql += ")";
            for (const auto& row : storage::run_positional_statement(session, sql, values)) {
                auto event = event_from_json(row);
                events.emplace(event.id, std::move(event));
            }
        }
        for (auto& each : claimed) {
            auto found = events.find(each.delivery.event_id);
            if (found != events.end()) each.event = found->second;
        }
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

void Bus::deliver_batch(std::vector<ClaimedDelivery>& batch) {
    std::vector<Acknowledgement> outcomes;
    auto last_written = std::chrono::steady_clock::now();
    for (const auto& claimed : batch) {
        outcomes.push_back(deliver(claimed));
        if (std::chrono::steady_clock::now() - last_written >= kAcknowledgeEvery) {
            acknowledge(outcomes);
            outcomes.clear();
            last_written = std::chrono::steady_clock::now();
        }
    }
    acknowledge(outcomes);
}

Bus::Acknowledgement Bus::deliver(const ClaimedDelivery& claimed) {
    const auto& delivery = claimed.delivery;
    std::optional<std::string> failure;
    if (!claimed.event) {
        failure = std::nullopt;
    } else if (delivery.subscriber.rfind("webhook:", 0) == 0) {
        failure = deliver_to_webhook(delivery, *claimed.event);
    } else {
        failure = deliver_to_handler(delivery, *claimed.event);
    }
    const std::string now = text(clock_.now());
    Acknowledgement outcome{delivery.event_id, delivery.subscriber, "", now,
                            std::nullopt,      std::nullopt};
    if (!failure) {
        // The subscriber was disabled, deleted or unloaded since: it must get nothing more.
        outcome.status = "skipped";
        outcome.error = "the subscriber no longer takes this tenant's events";
    } else if (failure->empty()) {
        outcome.status = "delivered";
        outcome.delivered_at = now;
    } else if (delivery.attempts < options_.max_attempts) {
        const std::chrono::milliseconds backoff = std::min<std::chrono::milliseconds>(
            options_.retry_base * (1 << std::min(delivery.attempts - 1, 20)), options_.retry_cap);
        outcome.status = "pending";
        outcome.error = *failure;
        outcome.next_attempt_at = text(clock_.now() + backoff);
    } else {
        outcome.status = "dead";
        outcome.error = *failure;
        log_.error("event delivery dead-lettered", {{"event", delivery.event_id},
                                                    {"type", claimed.event->type},
                                                    {"subscriber", delivery.subscriber},
                                                    {"tenant", delivery.tenant_id},
                                                    {"attempts", delivery.attempts},
                                                    {"error", *failure}});
    }
    return outcome;
}

void Bus::acknowledge(const std::vector<Acknowledgement>& outcomes) {
    if (outcomes.empty()) return;
    try {
        database_.with_platform([&](soci::session& session) {
            soci::transaction transaction(session);
            for (size_t first = 0; first < outcomes.size(); first += kRowsPerStatement) {
                const size_t last = std::min(outcomes.size(), first + kRowsPerStatement);
                std::vector<Json> rows;
                for (size_t i = first; i < last; ++i) {
                    const auto& outcome = outcomes[i];
                    rows.push_back(
                        Json::array({outcome.event_id, outcome.subscriber, outcome.status,
                                     optional_json(outcome.error), outcome.next_attempt_at,
                                     optional_json(outcome.delivered_at)}));
                }
                std::string sql =
                    "WITH v (done_event, done_subscriber, new_status, error, next_attempt,"
                    " delivered) AS (VALUES ";
                Json values = Json::array();
                storage::append_values_rows(session, rows, sql, values);
                sql +=
                    ") UPDATE event_deliveries SET status = v.new_status, last_error = v.error,"
                    " next_attempt_at = v.next_attempt, delivered_at = v.delivered,"
                    " lease_owner = NULL, lease_until = NULL FROM v WHERE event_id ="
                    " v.done_event AND subscriber = v.done_subscriber AND lease_owner = ";
                values.push_back(instance_id_);
                sql += storage::positional_placeholder(session, values.size());
                storage::run_positional_statement(session, sql, values);
            }
            transaction.commit();
        });
    } catch (const std::exception& failure) {
        log_.error("event deliveries not acknowledged; they will be made again",
                   {{"deliveries", outcomes.size()}, {"reason", failure.what()}});
    }
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
    std::string settings_json = "{}", timezone = "UTC", locale, tenant_name;
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
        tenant_name = snapshot->tenant.name;
    }
    mc_context context;
    context.plugin = plugin.get();
    context.tenant_id = delivery.tenant_id;
    context.request_id = "event-" + delivery.event_id;
    context.services = &services_;
    context.timezone = timezone;
    const mc_call call{sizeof(mc_call),
                       &context,
                       plugin_name.c_str(),
                       delivery.tenant_id.c_str(),
                       timezone.c_str(),
                       locale.c_str(),
                       settings_json.c_str(),
                       context.request_id.c_str(),
                       0,
                       tenant_name.c_str()};
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
        std::vector<ClaimedDelivery> batch;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
            if (ready_.empty()) return;
            // A fair share of what is ready, so that every worker has some.
            const size_t share = std::clamp<size_t>(
                ready_.size() / static_cast<size_t>(options_.workers), 1, kDeliveriesPerBatch);
            for (size_t i = 0; i < share; ++i) {
                batch.push_back(std::move(ready_.front()));
                ready_.pop_front();
            }
            delivering_ += batch.size();
        }
        room_.notify_all();
        deliver_batch(batch);
        {
            std::lock_guard lock(mutex_);
            delivering_ -= batch.size();
        }
        // A worker is free: without Redis, claim more from the database now rather than at
        // the next poll. With Redis, new deliveries arrive announced; the poll only recovers.
        if (!transport_) wake_up();
    }
}

}  // namespace miconsul::bus
