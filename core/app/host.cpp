#include "app/host.h"

#include "api/events_api.h"
#include "api/health_api.h"
#include "api/management_api.h"
#include "api/messages_api.h"
#include "api/plugin_settings_api.h"
#include "api/records_api.h"
#include "api/runs_api.h"
#include "api/sessions_api.h"
#include "api/tokens_api.h"
#include "api/webhooks_api.h"
#include "app/dispatcher.h"
#include "auth/token_hash.h"
#include "bus/bus.h"
#include "http/security_headers.h"
#include "http/server.h"
#include "plugins/enablement.h"
#include "plugins/gateway.h"
#include "plugins/loader.h"
#include "plugins/registry.h"
#include "routing/router.h"
#include "scheduler/scheduler.h"
#include "storage/migrations.h"
#include "tenants/change_listener.h"
#include "tenants/tenant_store.h"
#include "webhooks/webhooks.h"

#include <sys/stat.h>
#include <fstream>

#include <stdexcept>

namespace miconsul::app {

// Declared in start order; destroyed in reverse, so the server stops before what it calls.
struct Host::Parts {
    std::unique_ptr<storage::Database> database;
    std::unique_ptr<tenants::TenantStore> tenants;
    clock::SystemClock clock;
    std::unique_ptr<auth::TokenStore> tokens;
    // After what its thread calls (tenants, tokens), so it stops before they go.
    std::unique_ptr<tenants::TenantChangeListener> tenant_changes;  // PostgreSQL only
    plugins::PluginRegistry registry;
    routing::Router router;
    std::unique_ptr<auth::AdminUsers> users;
    std::unique_ptr<auth::Access> access;
    std::unique_ptr<api::SessionsDependencies> sessions_api;
    std::unique_ptr<api::TokensDependencies> tokens_api;
    std::unique_ptr<audit::AuditLog> audit;
    std::unique_ptr<ratelimit::RateLimiter> rate_limiter;
    std::unique_ptr<ratelimit::TenantRateLimits> tenant_limits;
    std::unique_ptr<plugins::HostServices> services;
    std::unique_ptr<plugins::PluginGateway> gateway;
    std::unique_ptr<api::HealthDependencies> health;
    std::unique_ptr<api::ManagementDependencies> management;
    std::unique_ptr<webhooks::Webhooks> webhooks;  // null without a secret key
    std::unique_ptr<api::WebhooksDependencies> webhooks_api;
    std::unique_ptr<bus::Bus> bus;
    std::unique_ptr<api::EventsDependencies> events;
    std::unique_ptr<records::Records> records;
    std::unique_ptr<api::RecordsDependencies> records_api;
    std::optional<auth::SecretBox> secret_box;  // null without a secret key
    std::unique_ptr<messages::MessagingSettings> messaging;
    std::unique_ptr<messages::Outbox> outbox;
    std::unique_ptr<api::MessagesDependencies> messages_api;
    std::unique_ptr<scheduler::Scheduler> scheduler;
    std::unique_ptr<api::RunsDependencies> runs;
    std::unique_ptr<Dispatcher> dispatcher;
    std::unique_ptr<http::Server> server;
};

Host::Host(config::Config config, logging::Log log)
    : config_(std::move(config)), log_(std::move(log)), parts_(std::make_unique<Parts>()) {}

Host::~Host() {
    if (parts_->server) parts_->server->stop(std::chrono::milliseconds(0));
}

void Host::start() {
    Parts& parts = *parts_;
    parts.database = storage::Database::open(config_.database_url, config_.data_dir,
                                             static_cast<size_t>(config_.threads) + 2);
    parts.database->with_platform([&](soci::session& session) {
        storage::apply_migrations(session, parts.database->backend(), "core",
                                  storage::core_platform_migrations());
    });
    parts.tenants = std::make_unique<tenants::TenantStore>(*parts.database);
    parts.tokens = std::make_unique<auth::TokenStore>(*parts.database, parts.clock, log_);
    if (parts.database->backend() == storage::Backend::postgresql) {
        // Listen before the first load, so no change can slip between the two. The channel
        // also carries tokens revoked or rotated on other instances, which this one stops
        // trusting at once instead of within TokenStore::kTrustVerifiedFor.
        parts.tenant_changes = std::make_unique<tenants::TenantChangeListener>(
            config_.database_url,
            [tenants = parts.tenants.get(),
             tokens = parts.tokens.get()](const std::string& changed) {
                constexpr auto prefix = auth::TokenStore::kChangedTokenPrefix;
                if (changed.rfind(prefix, 0) == 0) {
                    tokens->forget(changed.substr(prefix.size()));
                    return;
                }
                if (changed.empty()) tokens->forget("");  // notifications may have been missed
                tenants->refresh(changed);
            },
            log_);
    }
    parts.tenants->load();

    if (config_.admin_token_sha256.empty()) {
        log_.warn(
            "no admin token configured: only API tokens are accepted",
            {{"hint", "set MICONSUL_ADMIN_TOKEN, or create one with miconsul-host admin create"}});
    }
    parts.audit = std::make_unique<audit::AuditLog>(
        *parts.database, parts.clock, log_, std::chrono::hours(24 * config_.audit_retention_days));
    parts.audit->start();
    const auto key = secret_key();
    if (key) parts.secret_box.emplace(*key);
    auth::AdminUsers::Settings user_settings;
    user_settings.session_lifetime = std::chrono::hours(config_.session_lifetime_hours);
    user_settings.failures_before_lockout = config_.signin_lockout_after;
    user_settings.first_lockout = std::chrono::seconds(config_.signin_lockout_seconds);
    parts.users = std::make_unique<auth::AdminUsers>(*parts.database, parts.clock, parts.secret_box,
                                                     user_settings, log_);
    parts.access = std::make_unique<auth::Access>(config_.admin_token_sha256, *parts.tokens,
                                                  parts.users.get());
    parts.sessions_api = std::make_unique<api::SessionsDependencies>(
        api::SessionsDependencies{*parts.users, *parts.tenants, *parts.access, *parts.audit});
    if (auto problem = parts.router.add_all(api::sessions_routes(*parts.sessions_api))) {
        throw std::logic_error(*problem);
    }
    parts.services =
        std::make_unique<plugins::HostServices>(plugins::HostServices{*parts.database, log_});
    // The gateway names each plugin route's need: see PluginGateway::bind.
    parts.gateway = std::make_unique<plugins::PluginGateway>(
        *parts.tenants, *parts.services,
        [&access = *parts.access](const http::HttpRequest& request, auth::Need need,
                                  std::string_view tenant_id) {
            return access.check(request, need, tenant_id);
        });
    parts.tokens_api = std::make_unique<api::TokensDependencies>(
        api::TokensDependencies{*parts.tokens, *parts.tenants, *parts.access, *parts.audit,
                                std::chrono::hours(24 * config_.token_expiry_days),
                                std::chrono::hours(config_.token_rotation_overlap_hours)});
    if (auto problem = parts.router.add_all(api::tokens_routes(*parts.tokens_api))) {
        throw std::logic_error(*problem);
    }

    std::optional<redis::RedisAddress> redis_address;
    if (!config_.redis_url.empty()) {
        redis_address = redis::parse_redis_url(config_.redis_url);
        if (!redis_address) throw std::runtime_error("redis_url is malformed");
    }
    parts.rate_limiter = std::make_unique<ratelimit::RateLimiter>(redis_address, log_);
    ratelimit::RateLimitPolicy rate_limits;
    rate_limits.per_minute = config_.rate_limit;
    rate_limits.tenants = config_.rate_limit_tenants;
    rate_limits.classes = config_.rate_limit_classes;
    parts.tenant_limits = std::make_unique<ratelimit::TenantRateLimits>(
        *parts.rate_limiter, *parts.access, std::move(rate_limits));
    parts.health = std::make_unique<api::HealthDependencies>(
        api::HealthDependencies{*parts.database, parts.registry, redis_address, draining_,
                                [&limiter = *parts.rate_limiter] { return limiter.mode(); }});
    bus::BusOptions bus_options;
    bus_options.retry_base = std::chrono::milliseconds(config_.event_retry_base_ms);
    // A delivery's lease must outlast the slowest webhook call, or it would be taken twice.
    bus_options.lease = std::max(std::chrono::milliseconds(config_.lease_ms),
                                 std::chrono::milliseconds(config_.webhook_timeout_ms) * 2);
    parts.bus = std::make_unique<bus::Bus>(*parts.database, *parts.tenants, parts.registry,
                                           *parts.services, parts.clock, log_, bus_options);
    parts.services->bus = parts.bus.get();
    if (redis_address) parts.bus->use_redis(*redis_address);
    if (key) {
        webhooks::WebhookOptions webhook_options;
        webhook_options.failure_limit = config_.webhook_failure_limit;
        webhook_options.timeout = std::chrono::milliseconds(config_.webhook_timeout_ms);
        parts.webhooks = std::make_unique<webhooks::Webhooks>(
            *parts.database, auth::SecretBox(*key), log_, webhook_options);
        parts.bus->set_webhooks(parts.webhooks.get());
    } else {
        log_.warn(
            "webhooks are off: set secret_key (MICONSUL_SECRET_KEY) to encrypt their "
            "secrets");
    }
    parts.webhooks_api = std::make_unique<api::WebhooksDependencies>(
        api::WebhooksDependencies{parts.webhooks.get(), *parts.tenants, *parts.access});
    if (auto problem = parts.router.add_all(api::webhooks_routes(*parts.webhooks_api))) {
        throw std::logic_error(*problem);
    }
    parts.events = std::make_unique<api::EventsDependencies>(
        api::EventsDependencies{*parts.bus, *parts.tenants, *parts.access});
    if (auto problem = parts.router.add_all(api::events_routes(*parts.events))) {
        throw std::logic_error(*problem);
    }
    parts.records =
        std::make_unique<records::Records>(*parts.database, *parts.bus, parts.clock, log_);
    parts.services->records = parts.records.get();
    // Events of record changes staged but not yet published (a crash, the platform database
    // down) go out from here: at start for every tenant, then every 30 s for those that failed.
    parts.records->start_forwarding([&tenants = *parts.tenants] { return tenants.ids(); },
                                    std::chrono::seconds(30));
    parts.records_api = std::make_unique<api::RecordsDependencies>(
        api::RecordsDependencies{*parts.records, *parts.tenants, *parts.access});
    if (auto problem = parts.router.add_all(api::records_routes(*parts.records_api))) {
        throw std::logic_error(*problem);
    }
    parts.messaging = std::make_unique<messages::MessagingSettings>(
        *parts.database, parts.secret_box ? &*parts.secret_box : nullptr);
    messages::OutboxOptions outbox_options;
    outbox_options.workers = config_.message_workers;
    outbox_options.lease = std::chrono::milliseconds(config_.lease_ms);
    outbox_options.timeout = std::chrono::milliseconds(config_.message_timeout_ms);
    outbox_options.retry_base = std::chrono::milliseconds(config_.message_retry_base_ms);
    outbox_options.max_attempts = config_.message_max_attempts;
    outbox_options.platform_smtp = {config_.smtp_url,      config_.smtp_username,
                                    config_.smtp_password, config_.smtp_starttls,
                                    config_.smtp_ca_file,  outbox_options.timeout};
    outbox_options.platform_from = config_.smtp_from;
    outbox_options.ycloud_url = config_.ycloud_url;
    parts.outbox =
        std::make_unique<messages::Outbox>(*parts.database, *parts.tenants, *parts.records,
                                           *parts.messaging, parts.clock, log_, outbox_options);
    parts.outbox->set_bus(parts.bus.get());
    parts.services->outbox = parts.outbox.get();
    parts.services->tenants = parts.tenants.get();
    parts.messages_api = std::make_unique<api::MessagesDependencies>(api::MessagesDependencies{
        *parts.outbox, *parts.messaging, *parts.records, *parts.tenants, parts.registry, *parts.bus,
        parts.clock, log_, *parts.access, *parts.audit});
    if (auto problem = parts.router.add_all(api::messages_routes(*parts.messages_api))) {
        throw std::logic_error(*problem);
    }
    parts.management = std::make_unique<api::ManagementDependencies>(
        api::ManagementDependencies{*parts.tenants, parts.registry, *parts.database, *parts.bus,
                                    log_, *parts.access, *parts.audit, parts.router});
    if (auto problem = parts.router.add_all(api::health_routes(*parts.health))) {
        throw std::logic_error(*problem);
    }
    if (auto problem = parts.router.add_all(api::management_routes(*parts.management))) {
        throw std::logic_error(*problem);
    }
    if (auto problem = parts.router.add_all(api::plugin_settings_routes(*parts.management))) {
        throw std::logic_error(*problem);
    }

    plugins::LoaderDependencies loader{parts.registry, parts.router, *parts.database,
                                       [&parts](std::shared_ptr<const plugins::LoadedPlugin> plugin,
                                                const plugins::RouteInfo& route) {
                                           return parts.gateway->bind(std::move(plugin), route);
                                       },
                                       log_};
    plugins::load_plugin_directory(config_.plugin_dir, loader);
    // A plugin upgraded since the last start may bring migrations and new setting defaults
    // for the tenants that already have it enabled.
    plugins::reconcile_enablements(*parts.database, *parts.tenants, parts.registry, log_);

    scheduler::SchedulerOptions scheduler_options;
    scheduler_options.workers = config_.scheduler_workers;
    scheduler_options.tick = std::chrono::milliseconds(config_.scheduler_tick_ms);
    scheduler_options.max_claimed = config_.scheduler_max_claimed;
    scheduler_options.lease = std::chrono::milliseconds(config_.lease_ms);
    parts.scheduler = std::make_unique<scheduler::Scheduler>(*parts.database, *parts.tenants,
                                                             parts.registry, *parts.services,
                                                             parts.clock, log_, scheduler_options);
    parts.runs = std::make_unique<api::RunsDependencies>(
        api::RunsDependencies{*parts.scheduler, *parts.tenants, parts.registry, *parts.access});
    if (auto problem = parts.router.add_all(api::runs_routes(*parts.runs))) {
        throw std::logic_error(*problem);
    }
    parts.scheduler->start();
    parts.bus->start();
    parts.outbox->start();

    parts.dispatcher = std::make_unique<Dispatcher>(parts.router, log_, parts.tenant_limits.get(),
                                                    parts.audit.get(), parts.access.get(),
                                                    http::Cors(config_.cors_origins));
    http::ServerOptions options;
    options.host = config_.listen_host;
    options.port = config_.listen_port;
    options.threads = config_.threads;
    options.max_request_bytes = config_.max_request_bytes;
    options.header_timeout = std::chrono::milliseconds(config_.header_timeout_ms);
    options.body_timeout = std::chrono::milliseconds(config_.body_timeout_ms);
    options.fixed_headers = http::security_headers({config_.hsts_max_age});
    parts.server = std::make_unique<http::Server>(
        options,
        [dispatcher = parts.dispatcher.get()](http::HttpRequest& request) {
            return dispatcher->handle(request);
        },
        log_);
    parts.server->start();
    log_.info("listening",
              {{"address", config_.listen_host + ":" + std::to_string(port())},
               {"database",
                parts.database->backend() == storage::Backend::sqlite ? "sqlite" : "postgresql"},
               {"plugin_dir", config_.plugin_dir.string()}});
}

std::optional<std::string> Host::secret_key() const {
    if (!config_.secret_key.empty()) return config_.secret_key;
    if (config_.database_url.rfind("sqlite://", 0) != 0) return std::nullopt;
    // Embedded: one instance, so a key file beside the data is enough (and is not in the
    // database, which is what a leaked backup exposes).
    const auto path = config_.data_dir / "secret.key";
    std::ifstream existing(path);
    std::string key;
    if (existing >> key) {
        // Never replace a key silently: every stored webhook secret depends on it.
        try {
            auth::SecretBox check(key);
        } catch (const std::exception&) {
            throw std::runtime_error(path.string() +
                                     " is not a 64-hex-digit key; fix or remove it");
        }
        return key;
    }
    key = auth::SecretBox::generate_key_hex();
    const mode_t previous = umask(077);
    std::ofstream(path) << key << "\n";
    umask(previous);
    log_.info("created a webhook secret key", {{"file", path.string()}});
    return key;
}

uint16_t Host::port() const {
    return parts_->server ? parts_->server->port() : 0;
}

void Host::stop() {
    draining_ = true;
    if (!parts_->server) return;
    log_.info("draining", {{"in_flight", parts_->server->in_flight()}});
    parts_->server->stop(std::chrono::milliseconds(config_.shutdown_grace_ms));
    parts_->server.reset();
    // After the listener: a request may still have been triggering a run.
    if (parts_->scheduler) parts_->scheduler->stop();
    if (parts_->outbox) parts_->outbox->stop();
    if (parts_->bus) parts_->bus->stop();
    if (parts_->audit) parts_->audit->stop();  // after the listener: the last calls are written
    log_.info("stopped");
}

}  // namespace miconsul::app
