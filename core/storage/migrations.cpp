#include "storage/migrations.h"

#include "clock/clock.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace miconsul::storage {

std::vector<std::string> split_statements(std::string_view sql) {
    std::vector<std::string> statements;
    std::string current;
    char quote = 0;  // the quote character we are inside, or 0
    for (size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (quote != 0) {
            current += c;
            if (c == quote) quote = 0;  // a doubled quote re-enters at once: same effect
            continue;
        }
        if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
            while (i < sql.size() && sql[i] != '\n') ++i;
            current += '\n';
            continue;
        }
        if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
            const size_t end = sql.find("*/", i + 2);
            i = end == std::string_view::npos ? sql.size() : end + 1;
            current += ' ';
            continue;
        }
        if (c == ';') {
            statements.push_back(std::move(current));
            current.clear();
            continue;
        }
        if (c == '\'' || c == '"') quote = c;
        current += c;
    }
    statements.push_back(std::move(current));
    auto blank = [](const std::string& text) {
        return std::all_of(text.begin(), text.end(),
                           [](unsigned char c) { return std::isspace(c) != 0; });
    };
    statements.erase(std::remove_if(statements.begin(), statements.end(), blank), statements.end());
    return statements;
}

namespace {
void ensure_migrations_table(soci::session& session) {
    session << "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " owner TEXT NOT NULL,"
               " version INTEGER NOT NULL,"
               " description TEXT NOT NULL,"
               " applied_at TEXT NOT NULL,"
               " PRIMARY KEY (owner, version))";
}

int highest_applied(soci::session& session, const std::string& owner) {
    int highest = 0;
    soci::indicator indicator = soci::i_null;
    session << "SELECT MAX(version) FROM schema_migrations WHERE owner = :owner",
        soci::into(highest, indicator), soci::use(owner, "owner");
    return indicator == soci::i_null ? 0 : highest;
}
}  // namespace

int apply_migrations(soci::session& session, Backend backend, std::string_view owner_name,
                     const std::vector<Migration>& migrations) {
    const std::string owner(owner_name);
    std::vector<const Migration*> ordered;
    for (const auto& migration : migrations) ordered.push_back(&migration);
    std::sort(ordered.begin(), ordered.end(),
              [](const Migration* a, const Migration* b) { return a->version < b->version; });

    if (backend == Backend::postgresql) {
        // Two instances starting together must not both create the table.
        soci::transaction transaction(session);
        session << "SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))";
        ensure_migrations_table(session);
        transaction.commit();
    } else {
        ensure_migrations_table(session);
    }

    int applied = 0;
    for (const Migration* migration : ordered) {
        soci::transaction transaction(session);
        if (backend == Backend::postgresql) {
            // Serialises instances migrating the same owner in the same schema.
            session << "SELECT pg_advisory_xact_lock(hashtext(current_schema() || :owner))",
                soci::use(owner, "owner");
        }
        if (migration->version <= highest_applied(session, owner)) continue;
        try {
            for (const auto& statement : split_statements(migration->sql)) session << statement;
            const std::string applied_at = clock::now_text();
            session << "INSERT INTO schema_migrations (owner, version, description, applied_at)"
                       " VALUES (:owner, :version, :description, :applied_at)",
                soci::use(owner, "owner"), soci::use(migration->version, "version"),
                soci::use(migration->description, "description"),
                soci::use(applied_at, "applied_at");
        } catch (const std::exception& failure) {
            throw std::runtime_error("migration " + owner + " v" +
                                     std::to_string(migration->version) + " (" +
                                     migration->description + ") failed: " + failure.what());
        }
        transaction.commit();
        ++applied;
    }
    return applied;
}

const std::vector<Migration>& core_platform_migrations() {
    static const std::vector<Migration> migrations = {
        {1, "tenants, plugin enablement and events",
         R"sql(
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  timezone TEXT NOT NULL,
  locale TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE tenant_plugins (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  plugin TEXT NOT NULL,
  enabled INTEGER NOT NULL,
  settings TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, plugin)
);
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  source TEXT NOT NULL,
  time TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX events_by_tenant_time ON events (tenant_id, time);
)sql"},
        {2, "scheduled runs and schedule state",
         R"sql(
CREATE TABLE scheduled_runs (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  plugin TEXT NOT NULL,
  schedule TEXT NOT NULL,
  scheduled_at TEXT NOT NULL,
  origin TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  next_attempt_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  duration_ms INTEGER,
  error TEXT,
  timed_out INTEGER NOT NULL,
  lease_owner TEXT,
  lease_until TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (tenant_id, plugin, schedule, scheduled_at, origin)
);
CREATE INDEX scheduled_runs_due ON scheduled_runs (status, next_attempt_at);
CREATE INDEX scheduled_runs_by_tenant ON scheduled_runs (tenant_id, scheduled_at);
CREATE TABLE schedule_state (
  tenant_id TEXT NOT NULL,
  plugin TEXT NOT NULL,
  schedule TEXT NOT NULL,
  paused INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, plugin, schedule)
);
)sql"},
        {3, "event deliveries",
         R"sql(
CREATE TABLE event_deliveries (
  event_id TEXT NOT NULL REFERENCES events(id),
  subscriber TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at TEXT NOT NULL,
  last_error TEXT,
  delivered_at TEXT,
  lease_owner TEXT,
  lease_until TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (event_id, subscriber)
);
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);
CREATE INDEX event_deliveries_by_tenant ON event_deliveries (tenant_id, created_at);
)sql"},
        {4, "webhook subscriptions",
         R"sql(
CREATE TABLE webhook_subscriptions (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  url TEXT NOT NULL,
  event_types TEXT NOT NULL,
  secret_sealed TEXT NOT NULL,
  status TEXT NOT NULL,
  consecutive_failures INTEGER NOT NULL,
  disabled_reason TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX webhook_subscriptions_by_tenant ON webhook_subscriptions (tenant_id, status);
)sql"},
        // Runs are claimed ahead of their instant, so thousands wait leased at once: finding
        // the few whose lease lapsed or is due for renewal must not read them all.
        {5, "scheduled run leases",
         R"sql(
CREATE INDEX scheduled_runs_leases ON scheduled_runs (status, lease_until, next_attempt_at);
)sql"},
        // Deliveries no longer reference events with a foreign key: both are written together
        // by Bus::publish_many alone, in one transaction, and the key cost a lookup per
        // delivery — on PostgreSQL through a plan each connection caches for its lifetime, a
        // sequential scan if first planned while the table was small (publishing slowed 5 times
        // over a 20,000-event run; docs/performance.md). The table is rebuilt without it (the
        // only way SQLite drops a foreign key); same columns, keys and indexes.
        {6, "event deliveries without a foreign key to events",
         R"sql(
CREATE TABLE event_deliveries_rebuilt (
  event_id TEXT NOT NULL,
  subscriber TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at TEXT NOT NULL,
  last_error TEXT,
  delivered_at TEXT,
  lease_owner TEXT,
  lease_until TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (event_id, subscriber)
);
INSERT INTO event_deliveries_rebuilt (event_id, subscriber, tenant_id, status, attempts,
  next_attempt_at, last_error, delivered_at, lease_owner, lease_until, created_at)
  SELECT event_id, subscriber, tenant_id, status, attempts, next_attempt_at, last_error,
  delivered_at, lease_owner, lease_until, created_at FROM event_deliveries;
DROP TABLE event_deliveries;
ALTER TABLE event_deliveries_rebuilt RENAME TO event_deliveries;
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);
CREATE INDEX event_deliveries_by_tenant ON event_deliveries (tenant_id, created_at);
)sql"},
        // The message outbox (core/messages): a message is a row before the plugin's call
        // returns; the unique key is what makes one idempotency key one message, across
        // instances. Content is stored rendered, so a retry sends exactly what was queued.
        {7, "message outbox, usage and tenant messaging settings",
         R"sql(
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  source TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  channel TEXT NOT NULL,
  recipient TEXT NOT NULL,
  patient_id TEXT,
  template TEXT,
  language TEXT,
  content TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  next_attempt_at TEXT NOT NULL,
  lease_owner TEXT,
  lease_until TEXT,
  error TEXT,
  provider_id TEXT,
  provider_status TEXT,
  created_at TEXT NOT NULL,
  sent_at TEXT,
  updated_at TEXT NOT NULL,
  UNIQUE (tenant_id, source, idempotency_key)
);
CREATE INDEX messages_due ON messages (status, next_attempt_at);
CREATE INDEX messages_by_tenant ON messages (tenant_id, id);
CREATE INDEX messages_by_provider_id ON messages (provider_id);
CREATE TABLE message_usage (
  tenant_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  day TEXT NOT NULL,
  sent INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  suppressed INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, channel, day)
);
CREATE TABLE tenant_messaging (
  tenant_id TEXT PRIMARY KEY,
  settings TEXT NOT NULL,
  secrets TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
)sql"},
        // API tokens (core/auth/tokens): only the SHA-256 of a token is kept; the prefix, a
        // public part of the token, finds its row without scanning.
        {8, "API tokens",
         R"sql(
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  prefix TEXT NOT NULL UNIQUE,
  token_sha256 TEXT NOT NULL,
  kind TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  label TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT,
  replaced_by TEXT
);
CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant_id, created_at);
)sql"},
        {9, "audit log",
         R"sql(
CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  time TEXT NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  action TEXT NOT NULL,
  status INTEGER NOT NULL,
  duration_ms REAL NOT NULL,
  client_address TEXT NOT NULL,
  request_id TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (time);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);
)sql"},
        // Settings revisions (core/tenants): every state of a tenant's plugin row, numbered per
        // tenant and plugin; the row itself carries the number it is at. Rows that exist
        // already become revision 1, by "host".
        {10, "settings revisions",
         R"sql(
ALTER TABLE tenant_plugins ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
UPDATE tenant_plugins SET revision = 1;
CREATE TABLE settings_revisions (
  tenant_id TEXT NOT NULL,
  plugin TEXT NOT NULL,
  revision INTEGER NOT NULL,
  enabled INTEGER NOT NULL,
  settings TEXT NOT NULL,
  actor TEXT NOT NULL,
  time TEXT NOT NULL,
  reason TEXT NOT NULL,
  restored_from INTEGER,
  PRIMARY KEY (tenant_id, plugin, revision)
);
INSERT INTO settings_revisions (tenant_id, plugin, revision, enabled, settings, actor, time,
  reason) SELECT tenant_id, plugin, 1, enabled, settings, 'host', updated_at, 'existing'
  FROM tenant_plugins;
)sql"},
        // Admin users of the panel (core/auth/admin_users): passwords as scrypt hashes, TOTP
        // secrets sealed with the host's secret key, sessions and recovery codes as SHA-256;
        // failed sign-ins counted by the email's SHA-256, whether or not a user has it.
        {11, "admin users and their sessions",
         R"sql(
CREATE TABLE admin_users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  totp_secret TEXT,
  totp_pending TEXT,
  totp_last_step BIGINT NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  last_sign_in_at TEXT
);
CREATE TABLE admin_sessions (
  token_sha256 TEXT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  csrf_sha256 TEXT NOT NULL,
  mfa_pending INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX admin_sessions_by_user ON admin_sessions (user_id);
CREATE TABLE signin_failures (
  email_sha256 TEXT PRIMARY KEY,
  failed_attempts INTEGER NOT NULL,
  locked_until TEXT,
  last_failed_at TEXT NOT NULL
);
CREATE INDEX signin_failures_by_time ON signin_failures (last_failed_at);
CREATE TABLE admin_recovery_codes (
  user_id TEXT NOT NULL,
  code_sha256 TEXT NOT NULL,
  used_at TEXT,
  PRIMARY KEY (user_id, code_sha256)
);
)sql"},
    };
    return migrations;
}

}  // namespace miconsul::storage
