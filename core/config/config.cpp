#include "config/config.h"

#include "auth/token_hash.h"
#include "http/cors.h"
#include "logging/log.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace miconsul::config {

namespace {
using Json = nlohmann::json;

// One setter per key; each reports a problem instead of throwing, so --check-config can list
// every problem at once.
using Setter = std::function<std::optional<std::string>(Config&, const std::string& text)>;

std::optional<std::string> parse_listen(Config& config, const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return "listen must be host:port";
    int port = -1;
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    auto [end, error] = std::from_chars(first, last, port);
    if (error != std::errc() || end != last || port < 0 || port > 65535) {
        return "listen port must be 0-65535";
    }
    config.listen_host = text.substr(0, colon);
    config.listen_port = static_cast<uint16_t>(port);
    return std::nullopt;
}

template <class Number>
Setter number_setter(Number Config::*field, Number minimum, Number maximum, std::string key) {
    return [=](Config& config, const std::string& text) -> std::optional<std::string> {
        Number value{};
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size() || value < minimum ||
            value > maximum) {
            return key + " must be a number from " + std::to_string(minimum) + " to " +
                   std::to_string(maximum);
        }
        config.*field = value;
        return std::nullopt;
    };
}

template <class Text>
Setter text_setter(Text Config::*field) {
    return [=](Config& config, const std::string& text) -> std::optional<std::string> {
        config.*field = text;
        return std::nullopt;
    };
}

/// A JSON object of names to budgets (requests a minute, 0 to 1000000).
Setter budgets_setter(std::map<std::string, int, std::less<>> Config::*field, std::string key) {
    return [=](Config& config, const std::string& text) -> std::optional<std::string> {
        const Json budgets = Json::parse(text, nullptr, false);
        if (!budgets.is_object()) return key + " must be a JSON object of names to numbers";
        std::map<std::string, int, std::less<>> parsed;
        for (const auto& [name, value] : budgets.items()) {
            if (!value.is_number_integer() || value.get<long long>() < 0 ||
                value.get<long long>() > 1000000) {
                return key + "." + name + " must be a number from 0 to 1000000";
            }
            parsed[name] = value.get<int>();
        }
        config.*field = std::move(parsed);
        return std::nullopt;
    };
}

/// Origins as a JSON array (the file's form) or a comma-separated list (handier in the
/// environment); empty text or [] for none.
std::optional<std::string> parse_cors_origins(Config& config, const std::string& text) {
    std::vector<std::string> origins;
    const size_t first = text.find_first_not_of(" \t");
    if (first != std::string::npos && text[first] == '[') {
        const Json list = Json::parse(text, nullptr, false);
        if (!list.is_array()) return "cors_origins must be a JSON array of origins";
        for (const auto& origin : list) {
            if (!origin.is_string()) return "cors_origins must be a JSON array of origins";
            origins.push_back(origin.get<std::string>());
        }
    } else {
        size_t start = 0;
        while (start <= text.size()) {
            size_t end = text.find(',', start);
            if (end == std::string::npos) end = text.size();
            std::string origin = text.substr(start, end - start);
            origin.erase(0, origin.find_first_not_of(" \t"));
            origin.erase(origin.find_last_not_of(" \t") + 1);
            if (!origin.empty()) origins.push_back(std::move(origin));
            start = end + 1;
        }
    }
    for (const auto& origin : origins) {
        if (auto problem = http::origin_problem(origin)) {
            return "cors_origins: '" + origin + "' " + *problem;
        }
    }
    config.cors_origins = std::move(origins);
    return std::nullopt;
}

const std::vector<std::pair<std::string, Setter>>& setters() {
    static const std::vector<std::pair<std::string, Setter>> table = {
        {"listen", parse_listen},
        {"threads", number_setter(&Config::threads, 1, 256, "threads")},
        {"data_dir", text_setter(&Config::data_dir)},
        {"database_url",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (text.rfind("sqlite://", 0) != 0 && text.rfind("postgresql://", 0) != 0 &&
                 text.rfind("postgres://", 0) != 0) {
                 return "database_url must start with sqlite:// or postgresql://";
             }
             config.database_url = text;
             return std::nullopt;
         }},
        {"redis_url",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (!text.empty() && text.rfind("redis://", 0) != 0) {
                 return "redis_url must start with redis://";
             }
             config.redis_url = text;
             return std::nullopt;
         }},
        {"plugin_dir", text_setter(&Config::plugin_dir)},
        {"log_level",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (!logging::is_valid_level(text)) {
                 return "log_level must be debug, info, warn or error";
             }
             config.log_level = text;
             return std::nullopt;
         }},
        {"log_format",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (text != "plain" && text != "json") return "log_format must be plain or json";
             config.log_format = text;
             return std::nullopt;
         }},
        {"max_request_bytes", number_setter(&Config::max_request_bytes, size_t{4096},
                                            size_t{1} << 30, "max_request_bytes")},
        {"header_timeout_ms",
         number_setter(&Config::header_timeout_ms, 100, 600000, "header_timeout_ms")},
        {"body_timeout_ms",
         number_setter(&Config::body_timeout_ms, 100, 600000, "body_timeout_ms")},
        {"shutdown_grace_ms",
         number_setter(&Config::shutdown_grace_ms, 0, 600000, "shutdown_grace_ms")},
        {"scheduler_workers",
         number_setter(&Config::scheduler_workers, 1, 64, "scheduler_workers")},
        {"scheduler_tick_ms",
         number_setter(&Config::scheduler_tick_ms, 50, 60000, "scheduler_tick_ms")},
        {"scheduler_max_claimed", number_setter(&Config::scheduler_max_claimed, size_t{0},
                                                size_t{1000000}, "scheduler_max_claimed")},
        {"lease_ms", number_setter(&Config::lease_ms, 1000, 3600000, "lease_ms")},
        {"secret_key",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (text.size() != 64 ||
                 text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
                 return "secret_key must be 64 hex digits (head -c 32 /dev/urandom | xxd -p -c 64)";
             }
             config.secret_key = text;
             return std::nullopt;
         }},
        {"event_retry_base_ms",
         number_setter(&Config::event_retry_base_ms, 100, 600000, "event_retry_base_ms")},
        {"webhook_failure_limit",
         number_setter(&Config::webhook_failure_limit, 1, 1000, "webhook_failure_limit")},
        {"webhook_timeout_ms",
         number_setter(&Config::webhook_timeout_ms, 100, 60000, "webhook_timeout_ms")},
        {"smtp_url",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (!text.empty() && text.rfind("smtp://", 0) != 0 && text.rfind("smtps://", 0) != 0) {
                 return "smtp_url must start with smtp:// or smtps://";
             }
             config.smtp_url = text;
             return std::nullopt;
         }},
        {"smtp_from", text_setter(&Config::smtp_from)},
        {"smtp_username", text_setter(&Config::smtp_username)},
        {"smtp_password", text_setter(&Config::smtp_password)},
        {"smtp_starttls",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (text != "true" && text != "false") return "smtp_starttls must be true or false";
             config.smtp_starttls = text == "true";
             return std::nullopt;
         }},
        {"smtp_ca_file", text_setter(&Config::smtp_ca_file)},
        {"ycloud_url",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (text.rfind("http://", 0) != 0 && text.rfind("https://", 0) != 0) {
                 return "ycloud_url must start with http:// or https://";
             }
             config.ycloud_url = text;
             while (!config.ycloud_url.empty() && config.ycloud_url.back() == '/') {
                 config.ycloud_url.pop_back();
             }
             return std::nullopt;
         }},
        {"message_workers", number_setter(&Config::message_workers, 1, 64, "message_workers")},
        {"message_timeout_ms",
         number_setter(&Config::message_timeout_ms, 100, 300000, "message_timeout_ms")},
        {"message_retry_base_ms",
         number_setter(&Config::message_retry_base_ms, 100, 3600000, "message_retry_base_ms")},
        {"message_max_attempts",
         number_setter(&Config::message_max_attempts, 1, 50, "message_max_attempts")},
        {"rate_limit", number_setter(&Config::rate_limit, 0, 1000000, "rate_limit")},
        {"rate_limit_tenants", budgets_setter(&Config::rate_limit_tenants, "rate_limit_tenants")},
        {"rate_limit_classes", budgets_setter(&Config::rate_limit_classes, "rate_limit_classes")},
        {"audit_retention_days",
         number_setter(&Config::audit_retention_days, 1, 3650, "audit_retention_days")},
        {"token_expiry_days",
         number_setter(&Config::token_expiry_days, 1, 3650, "token_expiry_days")},
        {"token_rotation_overlap_hours", number_setter(&Config::token_rotation_overlap_hours, 0,
                                                       720, "token_rotation_overlap_hours")},
        {"session_lifetime_hours",
         number_setter(&Config::session_lifetime_hours, 1, 720, "session_lifetime_hours")},
        {"signin_lockout_after",
         number_setter(&Config::signin_lockout_after, 1, 100, "signin_lockout_after")},
        {"signin_lockout_seconds",
         number_setter(&Config::signin_lockout_seconds, 1, 86400, "signin_lockout_seconds")},
        {"cors_origins", parse_cors_origins},
        {"hsts_max_age", number_setter(&Config::hsts_max_age, 0, 63072000, "hsts_max_age")},
        {"admin_token_sha256",
         [](Config& config, const std::string& text) -> std::optional<std::string> {
             if (!auth::is_sha256_hex(text)) {
                 return "admin_token_sha256 must be 64 lower-case hex digits";
             }
             config.admin_token_sha256 = text;
             return std::nullopt;
         }},
    };
    return table;
}

std::string environment_name(const std::string& key) {
    std::string name = "MICONSUL_";
    for (char c : key) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

// File values may be JSON numbers or strings; setters take text so the file and the
// environment go through the same checks.
std::string as_text(const Json& value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
}
}  // namespace

EnvironmentLookup process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

LoadedConfig load_config(const std::optional<std::filesystem::path>& file,
                         const EnvironmentLookup& environment) {
    LoadedConfig loaded;
    if (file) {
        std::ifstream stream(*file);
        if (!stream) {
            loaded.problems.push_back("cannot read config file " + file->string());
        } else {
            std::stringstream text;
            text << stream.rdbuf();
            Json document = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false,
                                        /*ignore_comments=*/true);
            if (document.is_discarded() || !document.is_object()) {
                loaded.problems.push_back(file->string() + " is not a JSON object");
            } else {
                for (const auto& [key, value] : document.items()) {
                    auto setter =
                        std::find_if(setters().begin(), setters().end(),
                                     [&](const auto& entry) { return entry.first == key; });
                    if (setter == setters().end()) {
                        loaded.problems.push_back(file->string() + ": unknown key '" + key + "'");
                        continue;
                    }
                    if (auto problem = setter->second(loaded.config, as_text(value))) {
                        loaded.problems.push_back(file->string() + ": " + *problem);
                    }
                }
            }
        }
    }
    for (const auto& [key, setter] : setters()) {
        const std::string name = environment_name(key);
        if (auto value = environment(name)) {
            if (auto problem = setter(loaded.config, *value)) {
                loaded.problems.push_back(name + ": " + *problem);
            }
        }
    }
    if (auto token = environment("MICONSUL_ADMIN_TOKEN")) {
        if (token->size() < 16) {
            loaded.problems.push_back("MICONSUL_ADMIN_TOKEN must be at least 16 characters");
        } else {
            loaded.config.admin_token_sha256 = auth::sha256_hex(*token);
        }
    }
    return loaded;
}

}  // namespace miconsul::config
