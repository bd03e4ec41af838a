#include "messages/messaging_settings.h"

#include "clock/clock.h"
#include "storage/json_statement.h"

#include <date/date.h>
#include <date/tz.h>

#include <regex>

namespace miconsul::messages {

namespace {

using Json = nlohmann::json;

constexpr auto kCacheFor = std::chrono::seconds(5);
// Fields whose values are sealed, and where each sits in the input.
const std::vector<std::pair<std::string, std::string>> kSecretFields = {
    {"email", "password"}, {"whatsapp", "api_key"}, {"whatsapp", "webhook_secret"}};

std::optional<int> minute_of_day(const Json& value) {
    static const std::regex pattern(R"(^([01][0-9]|2[0-3]):([0-5][0-9])$)");
    std::smatch match;
    if (!value.is_string()) return std::nullopt;
    const auto& text = value.get_ref<const std::string&>();
    if (!std::regex_match(text, match, pattern)) return std::nullopt;
    return std::stoi(match[1]) * 60 + std::stoi(match[2]);
}

void refuse(Json& errors, const std::string& field, const std::string& message) {
    errors.push_back({{"field", field}, {"message", message}});
}

/// Checks one section's fields: known names, strings, and each field's own rule.
void check_section(const Json& input, const std::string& section,
                   const std::map<std::string, std::function<std::string(const Json&)>>& rules,
                   Json& errors) {
    if (!input.contains(section)) return;
    const Json& fields = input[section];
    if (!fields.is_object()) {
        refuse(errors, "/" + section, "must be an object");
        return;
    }
    for (const auto& [name, value] : fields.items()) {
        const auto rule = rules.find(name);
        if (rule == rules.end()) {
            refuse(errors, "/" + section + "/" + name, "is not a known setting");
            continue;
        }
        if (value.is_null()) continue;  // removes the stored value
        if (auto message = rule->second(value); !message.empty()) {
            refuse(errors, "/" + section + "/" + name, message);
        }
    }
}

std::string nonempty_text(const Json& value, size_t max) {
    if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        return "must be a non-empty string";
    }
    const auto& text = value.get_ref<const std::string&>();
    if (text.size() > max) return "must be at most " + std::to_string(max) + " characters";
    if (text.find_first_of("\r\n") != std::string::npos) return "must be one line";
    return "";
}

Json validate(const Json& input) {
    Json errors = Json::array();
    if (!input.is_object()) {
        refuse(errors, "", "must be a JSON object");
        return errors;
    }
    for (const auto& [name, value] : input.items()) {
        if (name != "email" && name != "whatsapp" && name != "quiet_hours") {
            refuse(errors, "/" + name, "is not a known setting");
        }
    }
    const auto text = [](size_t max) {
        return [max](const Json& v) { return nonempty_text(v, max); };
    };
    check_section(input, "email",
                  {{"from", text(320)},
                   {"smtp_url",
                    [](const Json& v) -> std::string {
                        if (!v.is_string() || (v.get<std::string>().rfind("smtp://", 0) != 0 &&
                                               v.get<std::string>().rfind("smtps://", 0) != 0)) {
                            return "must start with smtp:// or smtps://";
                        }
                        return "";
                    }},
                   {"username", text(320)},
                   {"password", text(1024)},
                   {"starttls",
                    [](const Json& v) -> std::string {
                        return v.is_boolean() ? "" : "must be true or false";
                    }}},
                  errors);
    check_section(input, "whatsapp",
                  {{"from",
                    [](const Json& v) -> std::string {
                        static const std::regex e164(R"(^\+[1-9][0-9]{7,14}$)");
                        return v.is_string() && std::regex_match(v.get<std::string>(), e164)
                                   ? ""
                                   : "must be in E.164 form, such as +525512345678";
                    }},
                   {"api_key", text(1024)},
                   {"webhook_secret", text(1024)}},
                  errors);
    check_section(input, "quiet_hours",
                  {{"start",
                    [](const Json& v) -> std::string {
                        return minute_of_day(v) ? "" : "must be HH:MM (00:00 to 23:59)";
                    }},
                   {"end",
                    [](const Json& v) -> std::string {
                        return minute_of_day(v) ? "" : "must be HH:MM (00:00 to 23:59)";
                    }},
                   {"channels",
                    [](const Json& v) -> std::string {
                        if (!v.is_array() || v.empty()) return "must be a non-empty list";
                        for (const auto& channel : v) {
                            if (channel != "email" && channel != "whatsapp") {
                                return "may hold only email and whatsapp";
                            }
                        }
                        return "";
                    }}},
                  errors);
    if (input.contains("quiet_hours") && input["quiet_hours"].is_object()) {
        const Json& quiet = input["quiet_hours"];
        const bool has_start = quiet.contains("start") && !quiet["start"].is_null();
        const bool has_end = quiet.contains("end") && !quiet["end"].is_null();
        if (has_start != has_end) refuse(errors, "/quiet_hours", "needs both start and end");
        if (has_start && has_end && quiet["start"] == quiet["end"]) {
            refuse(errors, "/quiet_hours", "start and end must differ");
        }
    }
    if (input.contains("email") && input["email"].is_object()) {
        const Json& email = input["email"];
        const bool own_server = email.contains("smtp_url") && !email["smtp_url"].is_null();
        if (own_server && (!email.contains("from") || email["from"].is_null())) {
            refuse(errors, "/email/from", "is required with smtp_url");
        }
    }
    return errors;
}

TenantMessaging to_settings(const Json& settings, const Json& secrets) {
    TenantMessaging result;
    const Json email = settings.value("email", Json::object());
    result.email_from = email.value("from", "");
    result.smtp_url = email.value("smtp_url", "");
    result.smtp_username = email.value("username", "");
    result.smtp_starttls = email.value("starttls", true);
    const Json whatsapp = settings.value("whatsapp", Json::object());
    result.whatsapp_from = whatsapp.value("from", "");
    result.smtp_password = secrets.value("email", Json::object()).value("password", "");
    result.ycloud_api_key = secrets.value("whatsapp", Json::object()).value("api_key", "");
    result.ycloud_webhook_secret =
        secrets.value("whatsapp", Json::object()).value("webhook_secret", "");
    const Json quiet = settings.value("quiet_hours", Json::object());
    if (auto start = minute_of_day(quiet.value("start", Json()))) {
        result.quiet_hours.start_minute = *start;
        result.quiet_hours.end_minute = minute_of_day(quiet.value("end", Json())).value_or(-1);
        result.quiet_hours.channels = quiet.value("channels", Json::array({"email", "whatsapp"}))
                                          .get<std::vector<std::string>>();
    }
    return result;
}

}  // namespace

bool QuietHours::applies_to(const std::string& channel) const {
    return start_minute >= 0 && end_minute >= 0 &&
           std::find(channels.begin(), channels.end(), channel) != channels.end();
}

std::optional<clock::TimePoint> quiet_until(const QuietHours& quiet, const std::string& channel,
                                            clock::TimePoint now, const std::string& timezone) {
    if (!quiet.applies_to(channel)) return std::nullopt;
    const date::time_zone* zone = nullptr;
    try {
        zone = date::locate_zone(timezone);
    } catch (const std::exception&) {
        zone = date::locate_zone("UTC");
    }
    const auto local = zone->to_local(std::chrono::time_point_cast<std::chrono::seconds>(now));
    const auto local_midnight = date::floor<date::days>(local);
    const int minute = static_cast<int>(
        std::chrono::duration_cast<std::chrono::minutes>(local - local_midnight).count());
    const bool crosses_midnight = quiet.end_minute < quiet.start_minute;
    bool inside = false;
    auto end_day = local_midnight;
    if (!crosses_midnight) {
        inside = minute >= quiet.start_minute && minute < quiet.end_minute;
    } else if (minute >= quiet.start_minute) {
        inside = true;
        end_day = local_midnight + date::days(1);
    } else if (minute < quiet.end_minute) {
        inside = true;
    }
    if (!inside) return std::nullopt;
    const auto local_end = end_day + std::chrono::minutes(quiet.end_minute);
    // A window ending in a skipped hour (spring forward) ends when the clocks jump.
    return zone->to_sys(local_end, date::choose::latest);
}

MessagingSettings::MessagingSettings(storage::Database& database, const auth::SecretBox* secrets)
    : database_(database), secrets_(secrets) {}

MessagingSettings::Stored MessagingSettings::read(const std::string& tenant_id) {
    Stored stored;
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(
            session, "SELECT settings, secrets FROM tenant_messaging WHERE tenant_id = :tenant",
            Json{{"tenant", tenant_id}});
        if (rows.empty()) return;
        stored.settings = Json::parse(rows[0]["settings"].get<std::string>());
        const std::string sealed = rows[0]["secrets"].get<std::string>();
        if (!sealed.empty() && secrets_ != nullptr) {
            if (auto opened = secrets_->open(sealed)) stored.secrets = Json::parse(*opened);
        }
    });
    return stored;
}

Json MessagingSettings::replace(const std::string& tenant_id, const Json& input) {
    Json errors = validate(input);
    if (!errors.empty()) return errors;
    Stored stored = read(tenant_id);
    Json settings = Json::object();
    Json secrets = stored.secrets;
    for (const auto& [section, fields] : input.items()) {
        for (const auto& [name, value] : fields.items()) {
            const bool secret = std::find(kSecretFields.begin(), kSecretFields.end(),
                                          std::pair<std::string, std::string>(section, name)) !=
                                kSecretFields.end();
            if (!secret) {
                if (!value.is_null()) settings[section][name] = value;
            } else if (value.is_null()) {
                if (secrets.contains(section)) secrets[section].erase(name);
            } else if (secrets_ == nullptr) {
                refuse(errors, "/" + section + "/" + name,
                       "cannot be stored: the host has no secret_key (MICONSUL_SECRET_KEY)");
            } else {
                secrets[section][name] = value;
            }
        }
    }
    if (!errors.empty()) return errors;
    const std::string sealed =
        secrets.empty() || secrets_ == nullptr ? "" : secrets_->seal(secrets.dump());
    database_.with_platform([&](soci::session& session) {
        storage::run_json_statement(
            session,
            "INSERT INTO tenant_messaging (tenant_id, settings, secrets, updated_at)"
            " VALUES (:tenant, :settings, :secrets, :now)"
            " ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings,"
            " secrets = excluded.secrets, updated_at = excluded.updated_at",
            Json{{"tenant", tenant_id},
                 {"settings", settings.dump()},
                 {"secrets", sealed},
                 {"now", clock::now_text()}});
    });
    std::lock_guard lock(mutex_);
    cache_.erase(tenant_id);
    return Json::array();
}

Json MessagingSettings::public_view(const std::string& tenant_id) {
    const Stored stored = read(tenant_id);
    Json view = stored.settings;
    for (const auto& [section, name] : kSecretFields) {
        const bool set = stored.secrets.contains(section) && stored.secrets[section].contains(name);
        view[section][name + "_set"] = set;
    }
    return view;
}

TenantMessaging MessagingSettings::load(const std::string& tenant_id) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        const auto cached = cache_.find(tenant_id);
        if (cached != cache_.end() && now - cached->second.read_at < kCacheFor) {
            return cached->second.value;
        }
    }
    const Stored stored = read(tenant_id);
    TenantMessaging value = to_settings(stored.settings, stored.secrets);
    std::lock_guard lock(mutex_);
    cache_[tenant_id] = CacheEntry{value, now};
    return value;
}

}  // namespace miconsul::messages
