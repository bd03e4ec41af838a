#include "messages/outbox.h"

#include "auth/secret_box.h"
#include "bus/bus.h"
#include "ids/ids.h"
#include "storage/json_statement.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>

namespace miconsul::messages {

namespace {

constexpr size_t kClaimBatch = 4;  // per worker: small, so a slow provider holds few leases

std::string local_date(clock::TimePoint instant, const std::string& timezone) {
    try {
        const auto local = date::locate_zone(timezone)->to_local(
            std::chrono::time_point_cast<std::chrono::seconds>(instant));
        return date::format("%F", date::floor<date::days>(local));
    } catch (const std::exception&) {
        return date::format("%F", date::floor<date::days>(instant));
    }
}

Json message_json(const Json& row) {
    Json message = {{"id", row["id"]},
                    {"channel", row["channel"]},
                    {"to", row["recipient"]},
                    {"status", row["status"]},
                    {"idempotency_key", row["idempotency_key"]},
                    {"source", row["source"]},
                    {"template", row["template"]},
                    {"language", row["language"]},
                    {"patient_id", row["patient_id"]},
                    {"attempts", row["attempts"]},
                    {"created_at", row["created_at"]},
                    {"sent_at", row["sent_at"]},
                    {"error", row["error"]},
                    {"provider_status", row["provider_status"]}};
    if (row["status"] == "queued") message["next_attempt_at"] = row["next_attempt_at"];
    return message;
}

constexpr const char* kMessageColumns =
    "id, channel, recipient, status, idempotency_key, source, template, language, patient_id,"
    " attempts, created_at, sent_at, error, provider_status, next_attempt_at";

}  // namespace

Outbox::Outbox(storage::Database& database, tenants::TenantStore& tenants,
               records::Records& records, MessagingSettings& settings, const clock::Clock& clock,
               logging::Log log, OutboxOptions options)
    : database_(database),
      tenants_(tenants),
      records_(records),
      settings_(settings),
      clock_(clock),
      log_(std::move(log)),
      options_(std::move(options)),
      instance_id_(ids::random_uuid()) {}

Outbox::~Outbox() {
    stop();
}

void Outbox::start() {
    last_renewal_ = std::chrono::steady_clock::now();
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { work(); });
}

void Outbox::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
}

namespace {
// Stores one draft under its idempotency key, or finds the message stored under it before.
QueueResult store_draft(soci::session& session, const Draft& draft, const std::string& id,
                        const std::string& now_text, int max_attempts) {
    QueueResult result{id, "queued", false};
    const Json inserted = storage::run_json_statement(
        session,
        "INSERT INTO messages (id, tenant_id, source, idempotency_key, channel, recipient,"
        " patient_id, template, language, content, status, attempts, max_attempts,"
        " next_attempt_at, created_at, updated_at) VALUES (:id, :tenant, :source, :key,"
        " :channel, :to, :patient, :template, :language, :content, 'queued', 0, :max,"
        " :now, :now, :now) ON CONFLICT (tenant_id, source, idempotency_key) DO NOTHING",
        Json{{"id", id},
             {"tenant", draft.tenant_id},
             {"source", draft.source},
             {"key", draft.idempotency_key},
             {"channel", draft.channel},
             {"to", draft.to},
             {"patient", draft.patient_id.empty() ? Json() : Json(draft.patient_id)},
             {"template", draft.template_name.empty() ? Json() : Json(draft.template_name)},
             {"language", draft.language},
             {"content", draft.content.dump()},
             {"max", max_attempts},
             {"now", now_text}});
    if (inserted.value("affected_rows", 0) == 1) return result;
    const Json existing = storage::run_json_statement(
        session,
        "SELECT id, status FROM messages WHERE tenant_id = :tenant AND source = :source"
        " AND idempotency_key = :key",
        Json{
            {"tenant", draft.tenant_id}, {"source", draft.source}, {"key", draft.idempotency_key}});
    if (existing.empty()) throw std::runtime_error("the message was neither stored nor found");
    result.id = existing[0]["id"];
    result.status = existing[0]["status"];
    result.duplicate = true;
    return result;
}
}  // namespace

QueueResult Outbox::queue(const Draft& draft) {
    return queue_many({draft}).front();
}

std::vector<QueueResult> Outbox::queue_many(const std::vector<Draft>& drafts) {
    if (drafts.empty()) return {};
    const auto now = clock_.now();
    const std::string now_text = clock::rfc3339_utc(now);
    std::vector<QueueResult> results;
    results.reserve(drafts.size());
    database_.with_platform([&](soci::session& session) {
        results.clear();  // a retried attempt starts again
        std::optional<soci::transaction> transaction;
        if (drafts.size() > 1) transaction.emplace(session);
        for (const auto& draft : drafts) {
            results.push_back(store_draft(session, draft, ids::time_ordered_uuid(now), now_text,
                                          options_.max_attempts));
        }
        if (transaction) transaction->commit();
    });
    const bool any_new = std::any_of(results.begin(), results.end(),
                                     [](const QueueResult& result) { return !result.duplicate; });
    if (any_new) {
        {
            std::lock_guard lock(mutex_);
            queued_since_start_ += static_cast<uint64_t>(
                std::count_if(results.begin(), results.end(),
                              [](const QueueResult& result) { return !result.duplicate; }));
        }
        wake_.notify_one();
    }
    return results;
}

std::vector<Outbox::Claimed> Outbox::claim(size_t limit) {
    const auto now = clock_.now();
    std::vector<Claimed> claimed;
    database_.with_platform([&](soci::session& session) {
        const bool postgres = database_.backend() == storage::Backend::postgresql;
        // SKIP LOCKED: instances claiming at once take different messages instead of waiting
        // on each other's rows (SQLite has one writer anyway).
        const Json rows = storage::run_json_statement(
            session,
            std::string("UPDATE messages SET lease_owner = :owner, lease_until = :until,"
                        " attempts = attempts + 1 WHERE id IN (SELECT id FROM messages"
                        " WHERE status = 'queued' AND next_attempt_at <= :now AND"
                        " (lease_until IS NULL OR lease_until < :now)"
                        " ORDER BY next_attempt_at, id LIMIT :limit") +
                (postgres ? " FOR UPDATE SKIP LOCKED" : "") +
                ") RETURNING id, tenant_id, channel, recipient, patient_id, content, attempts,"
                " max_attempts",
            Json{{"owner", instance_id_},
                 {"until", clock::rfc3339_utc(now + options_.lease)},
                 {"now", clock::rfc3339_utc(now)},
                 {"limit", static_cast<long long>(limit)}});
        for (const auto& row : rows) {
            Claimed message;
            message.id = row["id"];
            message.tenant_id = row["tenant_id"];
            message.channel = row["channel"];
            message.to = row["recipient"];
            message.patient_id =
                row["patient_id"].is_string() ? row["patient_id"].get<std::string>() : "";
            message.content = Json::parse(row["content"].get<std::string>());
            message.attempts = row["attempts"];
            message.max_attempts = row["max_attempts"];
            claimed.push_back(std::move(message));
        }
    });
    // RETURNING gives no order: oldest first, as claimed.
    std::sort(claimed.begin(), claimed.end(),
              [](const Claimed& a, const Claimed& b) { return a.id < b.id; });
    return claimed;
}

std::string Outbox::consent_problem(const Claimed& message) {
    if (message.patient_id.empty()) return "";
    const auto patient = records_.patient(message.tenant_id, message.patient_id);
    if (!patient) return "patient " + message.patient_id + " no longer exists";
    const Json consent = patient->value("consent", Json::object());
    if (!consent.value(message.channel, false)) {
        return "the patient has not consented to " + message.channel + " messages";
    }
    return "";
}

SendResult Outbox::send(const Claimed& message, const TenantMessaging& settings, SmtpClient& smtp,
                        YCloudClient& ycloud) {
    const Json& content = message.content;
    if (message.channel == "email") {
        SmtpSettings server = options_.platform_smtp;
        if (!settings.smtp_url.empty()) {
            server.url = settings.smtp_url;
            server.username = settings.smtp_username;
            server.password = settings.smtp_password;
            server.starttls = settings.smtp_starttls;
            server.ca_file.clear();
        }
        server.timeout = options_.timeout;
        Email email;
        email.from = settings.email_from.empty() ? options_.platform_from : settings.email_from;
        if (server.url.empty() || email.from.empty()) {
            return {SendResult::Outcome::retry,
                    "no SMTP server or sender address is configured for this tenant or the "
                    "platform (MICONSUL_SMTP_URL, MICONSUL_SMTP_FROM)",
                    ""};
        }
        email.to = message.to;
        email.subject = content.value("subject", "");
        email.text = content.value("text", "");
        email.html = content.value("html", "");
        email.message_id = "<" + message.id + "@miconsul>";
        for (const auto& attachment : content.value("attachments", Json::array())) {
            email.attachments.push_back(
                {attachment["filename"], attachment["content_type"],
                 auth::base64_decode(attachment["content_base64"].get<std::string>())
                     .value_or("")});
        }
        return smtp.send(server, email);
    }
    if (settings.ycloud_api_key.empty() || settings.whatsapp_from.empty()) {
        return {SendResult::Outcome::retry,
                "the tenant has no YCloud API key or WhatsApp sender number (messaging settings)",
                ""};
    }
    YCloudSettings account{options_.ycloud_url, settings.ycloud_api_key, options_.timeout};
    WhatsAppMessage whatsapp;
    whatsapp.from = settings.whatsapp_from;
    whatsapp.to = message.to;
    whatsapp.text = content.value("text", "");
    whatsapp.external_id = message.id;
    if (content.contains("whatsapp_template")) {
        const Json& approved = content["whatsapp_template"];
        whatsapp.template_name = approved.value("name", "");
        whatsapp.template_language = approved.value("language", "es_MX");
        Json parameters = Json::array();
        for (const auto& value : approved.value("parameters", Json::array())) {
            parameters.push_back({{"type", "text"}, {"text", value}});
        }
        if (!parameters.empty()) {
            whatsapp.template_components_json =
                Json::array({{{"type", "body"}, {"parameters", parameters}}}).dump();
        }
    }
    return ycloud.send(account, whatsapp);
}

void Outbox::deliver(const Claimed& message, SmtpClient& smtp, YCloudClient& ycloud) {
    try {
        const auto tenant = tenants_.find(message.tenant_id);
        if (!tenant) {
            finish(message, "failed", "the tenant no longer exists", "");
            return;
        }
        if (tenant->tenant.status != "active") {
            finish(message, "suppressed", "the tenant is " + tenant->tenant.status, "");
            return;
        }
        const TenantMessaging settings = settings_.load(message.tenant_id);
        if (auto until = quiet_until(settings.quiet_hours, message.channel, clock_.now(),
                                     tenant->tenant.timezone)) {
            wait_until(message, *until);
            return;
        }
        if (auto problem = consent_problem(message); !problem.empty()) {
            finish(message, "suppressed", problem, "");
            return;
        }
        const SendResult result = send(message, settings, smtp, ycloud);
        switch (result.outcome) {
            case SendResult::Outcome::sent:
                finish(message, "sent", "", result.provider_id);
                break;
            case SendResult::Outcome::rejected:
                finish(message, "failed", result.error, "");
                break;
            case SendResult::Outcome::retry:
                if (message.attempts >= message.max_attempts) {
                    finish(message, "failed",
                           "gave up after " + std::to_string(message.attempts) +
                               " attempts: " + result.error,
                           "");
                } else {
                    retry_later(message, result.error);
                }
                break;
        }
    } catch (const std::exception& error) {
        // The database failed around the send: the lease lapses and the message is taken again.
        log_.error(
            "a message could not be handled; it will be retried after its lease",
            {{"message", message.id}, {"tenant", message.tenant_id}, {"error", error.what()}});
    }
}

void Outbox::finish(const Claimed& message, const std::string& status, const std::string& error,
                    const std::string& provider_id) {
    const auto now = clock_.now();
    const std::string now_text = clock::rfc3339_utc(now);
    const auto tenant = tenants_.find(message.tenant_id);
    const std::string day = local_date(now, tenant ? tenant->tenant.timezone : "UTC");
    bool still_ours = false;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        const Json updated = storage::run_json_statement(
            session,
            "UPDATE messages SET status = :status, error = :error, provider_id = :provider,"
            " sent_at = :sent_at, lease_owner = NULL, lease_until = NULL, updated_at = :now"
            " WHERE id = :id AND lease_owner = :owner",
            Json{{"status", status},
                 {"error", error.empty() ? Json() : Json(error)},
                 {"provider", provider_id.empty() ? Json() : Json(provider_id)},
                 {"sent_at", status == "sent" ? Json(now_text) : Json()},
                 {"now", now_text},
                 {"id", message.id},
                 {"owner", instance_id_}});
        still_ours = updated.value("affected_rows", 0) == 1;
        if (!still_ours) return;
        // Metering for billing, in the same transaction as the status it counts.
        storage::run_json_statement(
            session,
            "INSERT INTO message_usage (tenant_id, channel, day, sent, failed, suppressed)"
            " VALUES (:tenant, :channel, :day, :sent, :failed, :suppressed)"
            " ON CONFLICT (tenant_id, channel, day) DO UPDATE SET"
            " sent = message_usage.sent + excluded.sent,"
            " failed = message_usage.failed + excluded.failed,"
            " suppressed = message_usage.suppressed + excluded.suppressed",
            Json{{"tenant", message.tenant_id},
                 {"channel", message.channel},
                 {"day", day},
                 {"sent", status == "sent" ? 1 : 0},
                 {"failed", status == "failed" ? 1 : 0},
                 {"suppressed", status == "suppressed" ? 1 : 0}});
        transaction.commit();
    });
    if (!still_ours) {
        log_.warn("a message's lease was lost before its outcome was written",
                  {{"message", message.id}, {"status", status}});
        return;
    }
    if (status != "sent") {
        log_.info("message not sent", {{"message", message.id},
                                       {"tenant", message.tenant_id},
                                       {"status", status},
                                       {"error", error}});
    }
    if (bus_ != nullptr) {
        try {
            Json data = {
                {"message_id", message.id}, {"channel", message.channel}, {"to", message.to}};
            if (!message.patient_id.empty()) data["patient_id"] = message.patient_id;
            if (!error.empty()) data["error"] = error;
            bus_->publish(message.tenant_id, "core", "message." + status, data);
        } catch (const std::exception& failure) {
            log_.warn("the message's event could not be published",
                      {{"message", message.id}, {"error", failure.what()}});
        }
    }
}

void Outbox::retry_later(const Claimed& message, const std::string& error) {
    const auto now = clock_.now();
    auto delay = options_.retry_base;
    for (int i = 1; i < message.attempts && delay < options_.retry_cap; ++i) delay *= 2;
    delay = std::min(delay, options_.retry_cap);
    database_.with_platform([&](soci::session& session) {
        storage::run_json_statement(
            session,
            "UPDATE messages SET error = :error, next_attempt_at = :next, lease_owner = NULL,"
            " lease_until = NULL, updated_at = :now WHERE id = :id AND lease_owner = :owner",
            Json{{"error", error},
                 {"next", clock::rfc3339_utc(now + delay)},
                 {"now", clock::rfc3339_utc(now)},
                 {"id", message.id},
                 {"owner", instance_id_}});
    });
    log_.info("message will be retried",
              {{"message", message.id}, {"attempt", message.attempts}, {"error", error}});
}

void Outbox::wait_until(const Claimed& message, clock::TimePoint until) {
    // Waiting for quiet hours to end is not an attempt.
    database_.with_platform([&](soci::session& session) {
        storage::run_json_statement(
            session,
            "UPDATE messages SET next_attempt_at = :next, attempts = attempts - 1,"
            " lease_owner = NULL, lease_until = NULL, updated_at = :now"
            " WHERE id = :id AND lease_owner = :owner",
            Json{{"next", clock::rfc3339_utc(until)},
                 {"now", clock::rfc3339_utc(clock_.now())},
                 {"id", message.id},
                 {"owner", instance_id_}});
    });
}

void Outbox::renew_leases() {
    {
        std::lock_guard lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        if (now - last_renewal_ < options_.lease / 3) return;
        last_renewal_ = now;
    }
    try {
        database_.with_platform([&](soci::session& session) {
            storage::run_json_statement(
                session,
                "UPDATE messages SET lease_until = :until WHERE lease_owner = :owner"
                " AND status = 'queued'",
                Json{{"until", clock::rfc3339_utc(clock_.now() + options_.lease)},
                     {"owner", instance_id_}});
        });
    } catch (const std::exception& error) {
        log_.warn("message leases could not be renewed", {{"error", error.what()}});
    }
}

size_t Outbox::deliver_due() {
    SmtpClient smtp;
    YCloudClient ycloud;
    size_t handled = 0;
    for (auto batch = claim(50); !batch.empty(); batch = claim(50)) {
        for (const auto& message : batch) deliver(message, smtp, ycloud);
        handled += batch.size();
    }
    return handled;
}

void Outbox::work() {
    SmtpClient smtp;
    YCloudClient ycloud;
    while (true) {
        uint64_t queued_before = 0;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            queued_before = queued_since_start_;
        }
        renew_leases();
        std::vector<Claimed> batch;
        try {
            batch = claim(kClaimBatch);
        } catch (const std::exception& error) {
            log_.warn("due messages could not be claimed", {{"error", error.what()}});
        }
        for (const auto& message : batch) deliver(message, smtp, ycloud);
        if (batch.size() == kClaimBatch) continue;
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, options_.poll,
                       [&] { return stopping_ || queued_since_start_ != queued_before; });
    }
}

records::Page Outbox::list(const std::string& tenant_id, const Json& filters,
                           const std::string& cursor, size_t limit) {
    std::string sql =
        std::string("SELECT ") + kMessageColumns + " FROM messages WHERE tenant_id = :tenant";
    Json params = {{"tenant", tenant_id}, {"limit", static_cast<long long>(limit + 1)}};
    for (const char* filter : {"status", "channel", "source", "patient_id"}) {
        if (filters.contains(filter)) {
            sql += std::string(" AND ") + filter + " = :" + filter;
            params[filter] = filters[filter];
        }
    }
    if (!cursor.empty()) {
        sql += " AND id < :cursor";
        params["cursor"] = cursor;
    }
    sql += " ORDER BY id DESC LIMIT :limit";
    records::Page page;
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(session, sql, params);
        for (size_t i = 0; i < rows.size() && i < limit; ++i)
            page.items.push_back(message_json(rows[i]));
        if (rows.size() > limit) page.next_cursor = rows[limit - 1]["id"];
    });
    return page;
}

std::optional<Json> Outbox::find(const std::string& tenant_id, const std::string& id) {
    std::optional<Json> found;
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(
            session,
            std::string("SELECT ") + kMessageColumns +
                ", content FROM messages WHERE tenant_id = :tenant AND id = :id",
            Json{{"tenant", tenant_id}, {"id", id}});
        if (rows.empty()) return;
        Json message = message_json(rows[0]);
        Json content = Json::parse(rows[0]["content"].get<std::string>());
        Json attachments = Json::array();
        for (const auto& attachment : content.value("attachments", Json::array())) {
            attachments.push_back(
                {{"filename", attachment["filename"]},
                 {"content_type", attachment["content_type"]},
                 {"size", auth::base64_decode(attachment["content_base64"].get<std::string>())
                              .value_or("")
                              .size()}});
        }
        content.erase("attachments");
        if (!attachments.empty()) content["attachments"] = attachments;
        message["content"] = content;
        found = std::move(message);
    });
    return found;
}

Json Outbox::usage(const std::string& tenant_id, const std::string& from, const std::string& to) {
    Json items = Json::array();
    database_.with_platform([&](soci::session& session) {
        items = storage::run_json_statement(
            session,
            "SELECT day, channel, sent, failed, suppressed FROM message_usage"
            " WHERE tenant_id = :tenant AND day >= :from AND day <= :to ORDER BY day, channel",
            Json{{"tenant", tenant_id}, {"from", from}, {"to", to}});
    });
    return items;
}

bool Outbox::record_provider_status(const std::string& tenant_id, const std::string& message_id,
                                    const std::string& status, const std::string& error) {
    bool found = false;
    database_.with_platform([&](soci::session& session) {
        const bool failed = status == "failed";
        const Json updated = storage::run_json_statement(
            session,
            std::string(
                "UPDATE messages SET provider_status = :provider_status, updated_at = :now") +
                (failed ? ", status = 'failed', error = :error" : "") +
                " WHERE tenant_id = :tenant AND (id = :id OR provider_id = :id)",
            failed ? Json{{"provider_status", status},
                          {"now", clock::now_text()},
                          {"error", "provider: " + error},
                          {"tenant", tenant_id},
                          {"id", message_id}}
                   : Json{{"provider_status", status},
                          {"now", clock::now_text()},
                          {"tenant", tenant_id},
                          {"id", message_id}});
        found = updated.value("affected_rows", 0) > 0;
    });
    return found;
}

}  // namespace miconsul::messages
