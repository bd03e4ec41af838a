// Host configuration: a JSON file (comments allowed) overridden key by key by MICONSUL_*
// environment variables. See docs/operations.md for every key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace miconsul::config {

struct Config {
    std::string listen_host = "0.0.0.0";
    uint16_t listen_port = 8080;
    int threads = 2;
    std::filesystem::path data_dir = "var";
    /// "sqlite://" (files under data_dir), "sqlite:///abs/dir", or "postgresql://…".
    std::string database_url = "sqlite://";
    std::string redis_url;  // optional: "redis://host:port"
    std::filesystem::path plugin_dir = "plugins";
    std::string log_level = "info";
    std::string log_format = "plain";  // or "json"
    size_t max_request_bytes = 1024 * 1024;
    int header_timeout_ms = 5000;
    int body_timeout_ms = 15000;
    int shutdown_grace_ms = 10000;
    int scheduler_workers = 2;             // threads that execute scheduled runs
    int scheduler_tick_ms = 1000;          // how often due schedules are looked for
    size_t scheduler_max_claimed = 50000;  // runs an instance holds at most (ahead or running)
    int lease_ms = 30000;  // how long a run or delivery stays claimed by a silent instance
    /// 64 hex digits: the key that encrypts webhook secrets at rest. Empty: on SQLite the host
    /// keeps one in <data_dir>/secret.key (created 0600); on PostgreSQL webhooks are refused.
    std::string secret_key;
    int event_retry_base_ms = 5000;  // first retry of a failed delivery; doubled each time
    int webhook_failure_limit = 10;  // consecutive failures that disable a subscription
    int webhook_timeout_ms = 10000;
    /// The platform's outgoing mail (tenants may set their own, see docs/messages.md).
    std::string smtp_url;       // "smtp://mail.example.com:587"; empty: no platform email
    std::string smtp_from;      // "MiConsul <avisos@miconsul.mx>"
    std::string smtp_username;  // the password comes only from MICONSUL_SMTP_PASSWORD
    std::string smtp_password;
    bool smtp_starttls = true;  // refuse to send in clear (always on with credentials off loopback)
    std::string smtp_ca_file;   // PEM bundle to verify the SMTP server; empty: the system's
    std::string ycloud_url = "https://api.ycloud.com";  // base URL of the YCloud API
    int message_workers = 4;            // threads that deliver messages (each waits on a provider)
    int message_timeout_ms = 30000;     // one attempt at a provider
    int message_retry_base_ms = 30000;  // first retry of a failed attempt; doubled each time
    int message_max_attempts = 8;
    int rate_limit = 100;  // requests a minute per tenant (MICONSUL_RATE_LIMIT); 0: none
    std::map<std::string, int, std::less<>> rate_limit_tenants;  // tenant id → its own budget
    std::map<std::string, int, std::less<>> rate_limit_classes;  // route class → own budget
    int audit_retention_days = 90;          // audit entries older than this are deleted
    int token_expiry_days = 30;             // lifetime of an API token when its request names none
    int token_rotation_overlap_hours = 24;  // how long a rotated token keeps working
    int session_lifetime_hours = 12;        // how long a panel sign-in lasts
    int signin_lockout_after = 5;           // failed sign-ins in a row before a lockout
    int signin_lockout_seconds = 60;        // the first lockout; each further failure doubles it
    /// Exact origins ("https://panel.example.com") whose pages may call the host from a
    /// browser; empty: no CORS at all. A JSON array, or a comma-separated list in the
    /// environment.
    std::vector<std::string> cors_origins;
    /// Strict-Transport-Security max-age in seconds; 0: not sent (the TLS proxy may send it).
    int hsts_max_age = 0;
    /// Hex SHA-256 of the admin bearer token. The token itself never sits in a file.
    std::string admin_token_sha256;
};

struct LoadedConfig {
    Config config;
    std::vector<std::string> problems;  // every problem found, not just the first
};

/// Looks up an environment variable; injectable so tests need not touch the process's.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment.
EnvironmentLookup process_environment();

/// Reads `file` (if given; a missing explicit file is a problem), then applies environment
/// overrides: MICONSUL_<KEY> for each key (MICONSUL_LISTEN is "host:port"), and
/// MICONSUL_ADMIN_TOKEN, a plaintext token that is hashed at once.
LoadedConfig load_config(const std::optional<std::filesystem::path>& file,
                         const EnvironmentLookup& environment);

}  // namespace miconsul::config
