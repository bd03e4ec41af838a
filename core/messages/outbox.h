// The message outbox: a message is stored before the caller is answered, then delivered by
// worker threads with retries and backoff. Guards run at send time: the patient's consent for
// the channel (else suppressed, with the reason) and the tenant's quiet hours (the message waits
// for the window to open). Statuses: queued, sent, failed, suppressed. See docs/messages.md.
//
// Once and only once: the idempotency key is unique per tenant and source in the database, so a
// key queued twice — by two instances at once, or by a handler running twice — is one message.
// A worker leases the messages it sends (renewed while its instance lives); a crashed
// instance's leases lapse and another instance takes them over. What no outbox can rule out is
// a crash after the provider accepted a message and before its status is written: that message
// is sent again, with the same Message-ID (email) or externalId (YCloud), so the receiving side
// can recognise it (docs/messages.md, "Exactly once").
#pragma once

#include "clock/clock.h"
#include "logging/log.h"
#include "messages/channels.h"
#include "messages/composer.h"
#include "messages/messaging_settings.h"
#include "records/records.h"
#include "storage/database.h"
#include "tenants/tenant_store.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace miconsul::bus {
class Bus;
}

namespace miconsul::messages {

struct OutboxOptions {
    int workers = 4;                      // 0: nothing is delivered except by deliver_due() (tests)
    std::chrono::milliseconds poll{500};  // how often the database is asked for due messages
    std::chrono::milliseconds lease{30000};  // a silent instance's messages are retaken after it
    std::chrono::milliseconds retry_base{30000};  // doubled at each failed attempt
    std::chrono::milliseconds retry_cap{3600000};
    int max_attempts = 8;
    std::chrono::milliseconds timeout{30000};  // one attempt at a provider
    /// The platform's SMTP server and sender; a tenant may set its own (messaging settings).
    SmtpSettings platform_smtp;
    std::string platform_from;
    std::string ycloud_url = "https://api.ycloud.com";
};

struct QueueResult {
    std::string id;
    std::string status;
    bool duplicate = false;  // the idempotency key was queued before: that message is answered
};

class Outbox {
public:
    Outbox(storage::Database& database, tenants::TenantStore& tenants, records::Records& records,
           MessagingSettings& settings, const clock::Clock& clock, logging::Log log,
           OutboxOptions options);
    ~Outbox();
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    /// Publishes message.sent / message.failed / message.suppressed on this bus. Before start().
    void set_bus(bus::Bus* bus) { bus_ = bus; }

    void start();
    /// Stops the workers after the sends in progress. Idempotent.
    void stop();

    /// Stores the message (or finds the one queued before with its idempotency key) and wakes
    /// a worker. Throws when the database cannot store it: then nothing was queued.
    QueueResult queue(const Draft& draft);
    /// The same for many messages in one transaction (all stored, or none when it throws):
    /// what a scheduled run queues for a day. Results in the drafts' order.
    std::vector<QueueResult> queue_many(const std::vector<Draft>& drafts);

    /// Delivers, on this thread, the messages due now; how many were handled. For tests that
    /// run without workers.
    size_t deliver_due();

    /// A tenant's messages, newest first; filters status, channel, source, patient_id.
    records::Page list(const std::string& tenant_id, const Json& filters, const std::string& cursor,
                       size_t limit);
    /// One message with its content (attachments by name and size); nullopt if not the
    /// tenant's.
    std::optional<Json> find(const std::string& tenant_id, const std::string& id);
    /// Messages per channel and local day, [from, to] as YYYY-MM-DD: sent, failed, suppressed.
    Json usage(const std::string& tenant_id, const std::string& from, const std::string& to);

    /// A provider's later word on a message it accepted (YCloud's status webhook): `status` is
    /// its own (delivered, read, failed); a failure turns the message failed with `error`.
    /// False when the tenant has no message with that provider id or external id.
    bool record_provider_status(const std::string& tenant_id, const std::string& message_id,
                                const std::string& status, const std::string& error);

private:
    struct Claimed {
        std::string id, tenant_id, channel, to, patient_id;
        Json content;
        int attempts = 0, max_attempts = 0;
    };
    std::vector<Claimed> claim(size_t limit);
    void deliver(const Claimed& message, SmtpClient& smtp, YCloudClient& ycloud);
    SendResult send(const Claimed& message, const TenantMessaging& settings, SmtpClient& smtp,
                    YCloudClient& ycloud);
    /// Why the patient may not get this message now, or "" when it may.
    std::string consent_problem(const Claimed& message);
    void finish(const Claimed& message, const std::string& status, const std::string& error,
                const std::string& provider_id);
    void retry_later(const Claimed& message, const std::string& error);
    void wait_until(const Claimed& message, clock::TimePoint until);
    void renew_leases();
    void work();

    storage::Database& database_;
    tenants::TenantStore& tenants_;
    records::Records& records_;
    MessagingSettings& settings_;
    const clock::Clock& clock_;
    logging::Log log_;
    OutboxOptions options_;
    const std::string instance_id_;
    bus::Bus* bus_ = nullptr;

    std::mutex mutex_;
    std::condition_variable wake_;
    uint64_t queued_since_start_ = 0;  // bumped by queue(): a worker that finds nothing due
                                       // sleeps only if nothing was queued meanwhile
    bool stopping_ = false;
    std::chrono::steady_clock::time_point last_renewal_;
    std::vector<std::thread> workers_;
};

}  // namespace miconsul::messages
