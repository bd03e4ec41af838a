#include "webhooks/webhooks.h"

#include "auth/token_hash.h"
#include "bus/bus.h"
#include "clock/clock.h"
#include "ids/ids.h"
#include "outbound/http_post.h"
#include "storage/json_statement.h"

#include <regex>

namespace miconsul::webhooks {

namespace {
using Json = nlohmann::json;

constexpr const char* kColumns =
    "id, tenant_id, url, event_types, status, consecutive_failures, disabled_reason, created_at";

Subscription read_subscription(const soci::row& row) {
    Subscription subscription;
    subscription.id = row.get<std::string>(0);
    subscription.tenant_id = row.get<std::string>(1);
    subscription.url = row.get<std::string>(2);
    subscription.event_types = Json::parse(row.get<std::string>(3)).get<std::vector<std::string>>();
    subscription.status = row.get<std::string>(4);
    subscription.consecutive_failures = static_cast<int>(storage::integer_column(row, 5));
    if (row.get_indicator(6) != soci::i_null)
        subscription.disabled_reason = row.get<std::string>(6);
    subscription.created_at = row.get<std::string>(7);
    return subscription;
}
}  // namespace

Json Subscription::to_json() const {
    return {{"id", id},
            {"url", url},
            {"event_types", event_types},
            {"status", status},
            {"consecutive_failures", consecutive_failures},
            {"disabled_reason", disabled_reason ? Json(*disabled_reason) : Json(nullptr)},
            {"created_at", created_at}};
}

bool is_acceptable_url(const std::string& url) {
    static const std::regex pattern(R"(^https?://[^\s/?#]+(/[^\s]*)?$)", std::regex::icase);
    return url.size() <= 2048 && std::regex_match(url, pattern);
}

std::string signature_header(const std::string& secret, long long unix_seconds,
                             const std::string& body) {
    return "t=" + std::to_string(unix_seconds) +
           ",v1=" + auth::hmac_sha256_hex(secret, std::to_string(unix_seconds) + "." + body);
}

Webhooks::Webhooks(storage::Database& database, auth::SecretBox secrets, logging::Log log,
                   WebhookOptions options)
    : database_(database), secrets_(std::move(secrets)), log_(std::move(log)), options_(options) {}

std::pair<Subscription, std::string> Webhooks::create(const std::string& tenant_id,
                                                      const std::string& url,
                                                      const std::vector<std::string>& event_types,
                                                      const std::string& now) {
    Subscription subscription;
    subscription.id = ids::random_uuid();
    subscription.tenant_id = tenant_id;
    subscription.url = url;
    subscription.event_types = event_types;
    subscription.status = "active";
    subscription.created_at = now;
    const std::string secret = "whsec_" + auth::SecretBox::generate_key_hex();
    const std::string sealed = secrets_.seal(secret);
    const std::string types_text = Json(event_types).dump();
    database_.with_platform([&](soci::session& session) {
        session << "INSERT INTO webhook_subscriptions (id, tenant_id, url, event_types,"
                   " secret_sealed, status, consecutive_failures, created_at, updated_at)"
                   " VALUES (:id, :tenant, :url, :types, :secret, 'active', 0, :created, :updated)",
            soci::use(subscription.id, "id"), soci::use(tenant_id, "tenant"), soci::use(url, "url"),
            soci::use(types_text, "types"), soci::use(sealed, "secret"), soci::use(now, "created"),
            soci::use(now, "updated");
    });
    return {subscription, secret};
}

std::vector<Subscription> Webhooks::list(const std::string& tenant_id) {
    std::vector<Subscription> found;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kColumns +
                                    " FROM webhook_subscriptions WHERE tenant_id = :tenant"
                                    " ORDER BY created_at, id",
             soci::use(tenant_id, "tenant"));
        for (const auto& row : rows) found.push_back(read_subscription(row));
    });
    return found;
}

std::optional<Subscription> Webhooks::find(const std::string& tenant_id, const std::string& id) {
    std::optional<Subscription> found;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << std::string("SELECT ") + kColumns +
                                    " FROM webhook_subscriptions WHERE tenant_id = :tenant"
                                    " AND id = :id",
             soci::use(tenant_id, "tenant"), soci::use(id, "id"));
        for (const auto& row : rows) found = read_subscription(row);
    });
    return found;
}

bool Webhooks::remove(const std::string& tenant_id, const std::string& id) {
    long long removed = 0;
    database_.with_platform([&](soci::session& session) {
        soci::statement statement =
            (session.prepare << "DELETE FROM webhook_subscriptions WHERE tenant_id = :tenant"
                                " AND id = :id",
             soci::use(tenant_id, "tenant"), soci::use(id, "id"));
        statement.execute(true);
        removed = statement.get_affected_rows();
    });
    return removed == 1;
}

bool Webhooks::reactivate(const std::string& tenant_id, const std::string& id,
                          const std::string& now) {
    long long changed = 0;
    database_.with_platform([&](soci::session& session) {
        soci::statement statement =
            (session.prepare << "UPDATE webhook_subscriptions SET status = 'active',"
                                " consecutive_failures = 0, disabled_reason = NULL,"
                                " updated_at = :now WHERE tenant_id = :tenant AND id = :id",
             soci::use(now, "now"), soci::use(tenant_id, "tenant"), soci::use(id, "id"));
        statement.execute(true);
        changed = statement.get_affected_rows();
    });
    return changed == 1;
}

std::vector<std::pair<std::string, std::vector<std::string>>> Webhooks::subscriptions_of(
    soci::session& session, const std::string& tenant_id) {
    std::vector<std::pair<std::string, std::vector<std::string>>> subscriptions;
    soci::rowset<soci::row> rows =
        (session.prepare << "SELECT w.id, w.event_types FROM webhook_subscriptions w JOIN tenants t"
                            " ON t.id = w.tenant_id WHERE w.tenant_id = :tenant AND"
                            " w.status = 'active' AND t.status = 'active'",
         soci::use(tenant_id, "tenant"));
    for (const auto& row : rows) {
        subscriptions.emplace_back(
            "webhook:" + row.get<std::string>(0),
            Json::parse(row.get<std::string>(1)).get<std::vector<std::string>>());
    }
    return subscriptions;
}

DeliveryOutcome Webhooks::deliver(const std::string& subscriber, const Json& event, int attempt) {
    DeliveryOutcome outcome;
    const std::string id = subscriber.substr(std::string("webhook:").size());
    std::optional<std::string> sealed;
    std::string url, status, tenant_id;
    database_.with_platform([&](soci::session& session) {
        soci::rowset<soci::row> rows =
            (session.prepare << "SELECT w.url, CASE WHEN t.status = 'active' THEN w.status ELSE"
                                " 'tenant suspended' END, w.secret_sealed, w.tenant_id FROM"
                                " webhook_subscriptions w JOIN tenants t ON t.id = w.tenant_id"
                                " WHERE w.id = :id",
             soci::use(id, "id"));
        for (const auto& row : rows) {
            url = row.get<std::string>(0);
            status = row.get<std::string>(1);
            sealed = row.get<std::string>(2);
            tenant_id = row.get<std::string>(3);
        }
    });
    if (!sealed || status != "active") {
        outcome.skip = true;
        outcome.error = sealed ? "the subscription is " + status : "the subscription was deleted";
        return outcome;
    }
    const auto secret = secrets_.open(*sealed);
    if (!secret) {
        outcome.skip = true;
        outcome.error = "the subscription's secret cannot be read with this host's secret_key";
        log_.error("webhook secret unreadable", {{"subscription", id}});
        return outcome;
    }
    const std::string body = event.dump(-1, ' ', false, Json::error_handler_t::replace);
    const long long now_seconds = clock::now_unix_ms() / 1000;
    const auto result = outbound::post(
        url, body,
        {"Content-Type: application/json", "X-MiConsul-Event-Id: " + event.value("id", ""),
         "X-MiConsul-Event-Type: " + event.value("type", ""),
         "X-MiConsul-Delivery-Attempt: " + std::to_string(attempt),
         "X-MiConsul-Signature: " + signature_header(*secret, now_seconds, body)},
        options_.timeout);
    const bool success = result.status >= 200 && result.status < 300;
    log_.info("webhook delivery", {{"subscription", id},
                                   {"tenant", tenant_id},
                                   {"event", event.value("id", "")},
                                   {"status", result.status},
                                   {"ms", result.latency.count()},
                                   {"attempt", attempt},
                                   {"error", result.error}});
    const std::string now = clock::now_text();
    if (success) {
        outcome.delivered = true;
        database_.with_platform([&](soci::session& session) {
            session << "UPDATE webhook_subscriptions SET consecutive_failures = 0"
                       " WHERE id = :id",
                soci::use(id, "id");
        });
        return outcome;
    }
    outcome.error = result.status != 0
                        ? "HTTP " + std::to_string(result.status) + " after " +
                              std::to_string(result.latency.count()) + " ms"
                        : result.error + " after " + std::to_string(result.latency.count()) + " ms";
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        session << "UPDATE webhook_subscriptions SET consecutive_failures ="
                   " consecutive_failures + 1, updated_at = :now WHERE id = :id",
            soci::use(now, "now"), soci::use(id, "id");
        const std::string reason = std::to_string(options_.failure_limit) +
                                   " consecutive failed deliveries; last: " + outcome.error;
        soci::statement disable =
            (session.prepare << "UPDATE webhook_subscriptions SET status = 'disabled',"
                                " disabled_reason = :reason WHERE id = :id AND status = 'active'"
                                " AND consecutive_failures >= :limit",
             soci::use(reason, "reason"), soci::use(id, "id"),
             soci::use(options_.failure_limit, "limit"));
        disable.execute(true);
        const bool disabled_now = disable.get_affected_rows() == 1;
        transaction.commit();
        if (disabled_now) {
            Subscription disabled;
            disabled.id = id;
            disabled.tenant_id = tenant_id;
            disabled.url = url;
            disabled.status = "disabled";
            disabled.disabled_reason = reason;
            outcome.disabled_now = disabled;
        }
    });
    if (outcome.disabled_now) {
        log_.warn("webhook subscription disabled",
                  {{"subscription", id}, {"tenant", tenant_id}, {"reason", outcome.error}});
    }
    return outcome;
}

}  // namespace miconsul::webhooks
