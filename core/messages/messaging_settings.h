// A tenant's messaging settings: its own SMTP server or sender address, its YCloud account
// for WhatsApp, and its quiet hours. Stored in the platform database; the secrets in it (SMTP
// password, YCloud API key, YCloud webhook secret) sealed with the host's secret key, never
// in clear and never answered back over the API.
#pragma once

#include "auth/secret_box.h"
#include "clock/clock.h"
#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace miconsul::messages {

/// Hours in the tenant's zone when messages of some channels wait: [start, end), crossing
/// midnight when end < start ("21:00"–"08:00").
struct QuietHours {
    int start_minute = -1;  // minutes after local midnight; -1: no quiet hours
    int end_minute = -1;
    std::vector<std::string> channels;  // which channels wait; both by default

    bool applies_to(const std::string& channel) const;
};

/// The instant the quiet window around `now` ends, when `now` (in `timezone`) is inside it
/// for `channel`; nullopt otherwise.
std::optional<clock::TimePoint> quiet_until(const QuietHours& quiet, const std::string& channel,
                                            clock::TimePoint now, const std::string& timezone);

struct TenantMessaging {
    // Email: the tenant's own SMTP server (all four or none), or only its sender address
    // through the platform's server.
    std::string email_from;
    std::string smtp_url, smtp_username, smtp_password;
    bool smtp_starttls = true;
    // WhatsApp through YCloud.
    std::string whatsapp_from;  // the clinic's business number, E.164
    std::string ycloud_api_key;
    std::string ycloud_webhook_secret;  // verifies YCloud's status and reply webhooks
    QuietHours quiet_hours;
};

class MessagingSettings {
public:
    /// `secrets` null: settings without secrets are accepted, those with secrets refused (the
    /// host has no key to seal them with).
    MessagingSettings(storage::Database& database, const auth::SecretBox* secrets);

    /// Validates `input` (docs/messages.md, "Tenant settings") and replaces the tenant's
    /// settings; a secret field left out keeps its stored value, null removes it. Returns the
    /// failing fields ({"field", "message"}) and changes nothing when any.
    nlohmann::json replace(const std::string& tenant_id, const nlohmann::json& input);

    /// What the API shows: the settings with each secret as true (set) or false.
    nlohmann::json public_view(const std::string& tenant_id);

    /// The settings with secrets opened, for sending. Cached for a few seconds: another
    /// instance's change is seen within that.
    TenantMessaging load(const std::string& tenant_id);

private:
    struct Stored {
        nlohmann::json settings = nlohmann::json::object();
        nlohmann::json secrets = nlohmann::json::object();  // opened
    };
    Stored read(const std::string& tenant_id);

    storage::Database& database_;
    const auth::SecretBox* secrets_;
    std::mutex mutex_;
    struct CacheEntry {
        TenantMessaging value;
        std::chrono::steady_clock::time_point read_at;
    };
    std::map<std::string, CacheEntry> cache_;
};

}  // namespace miconsul::messages
