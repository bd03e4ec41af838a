// Outbound webhooks: a tenant subscribes URLs (an n8n Webhook node, say) to event types; each
// matching event is POSTed as JSON, signed with HMAC-SHA256 of "<timestamp>.<body>" under the
// subscription's secret (kept encrypted, shown once), retried by the bus, and the subscription
// is disabled after a run of failures. See docs/events.md.
#pragma once

#include "auth/secret_box.h"
#include "logging/log.h"
#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace miconsul::webhooks {

struct Subscription {
    std::string id, tenant_id, url;
    std::vector<std::string> event_types;  // exact types or "prefix.*"
    std::string status;                    // active or disabled
    int consecutive_failures = 0;
    std::optional<std::string> disabled_reason;
    std::string created_at;
    nlohmann::json to_json() const;  // never includes the secret
};

struct DeliveryOutcome {
    bool delivered = false;
    bool skip = false;  // the subscription is gone or disabled: do not retry
    std::string error;  // when not delivered: "HTTP 500 after 12 ms", "timeout …"
    std::optional<Subscription> disabled_now;  // set when this failure disabled it
};

/// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
std::string signature_header(const std::string& secret, long long unix_seconds,
                             const std::string& body);

struct WebhookOptions {
    int failure_limit = 10;  // consecutive failed attempts that disable a subscription
    std::chrono::milliseconds timeout{10000};
};

class Webhooks {
public:
    Webhooks(storage::Database& database, auth::SecretBox secrets, logging::Log log,
             WebhookOptions options);

    /// Creates a subscription; returns it with its secret, which is never shown again.
    std::pair<Subscription, std::string> create(const std::string& tenant_id,
                                                const std::string& url,
                                                const std::vector<std::string>& event_types,
                                                const std::string& now);
    std::vector<Subscription> list(const std::string& tenant_id);
    std::optional<Subscription> find(const std::string& tenant_id, const std::string& id);
    bool remove(const std::string& tenant_id, const std::string& id);
    /// Re-activates a disabled subscription (its failure count starts again).
    bool reactivate(const std::string& tenant_id, const std::string& id, const std::string& now);

    /// The tenant's active subscriptions as (subscriber id "webhook:<id>", event type
    /// patterns), read inside the publisher's transaction — once per tenant of a batch.
    std::vector<std::pair<std::string, std::vector<std::string>>> subscriptions_of(
        soci::session& session, const std::string& tenant_id);

    /// POSTs the event to the subscription named by `subscriber` and accounts for the result.
    DeliveryOutcome deliver(const std::string& subscriber, const nlohmann::json& event,
                            int attempt);

private:
    storage::Database& database_;
    auth::SecretBox secrets_;
    logging::Log log_;
    WebhookOptions options_;
};

/// Whether `url` is an absolute http(s) URL of at most 2048 characters.
bool is_acceptable_url(const std::string& url);

}  // namespace miconsul::webhooks
