#include "plugins/host_services.h"

#include "messages/composer.h"
#include "messages/outbox.h"
#include "records/records.h"
#include "tenants/tenant_store.h"

#include "bus/bus.h"
#include "clock/clock.h"
#include "ids/ids.h"
#include "routing/router.h"
#include "storage/json_statement.h"

#include <date/tz.h>
#include <miconsul/calendar.hpp>

#include <algorithm>
#include <regex>
#include <variant>

namespace miconsul::plugins {

namespace {
using Json = nlohmann::json;

const std::regex& identifier_pattern() {
    static const std::regex pattern("^[a-z0-9_-]{1,64}$");
    return pattern;
}

using bus::is_valid_event_type;

bool is_valid_event_pattern(const std::string& type) {
    if (type.size() > 2 && type.compare(type.size() - 2, 2, ".*") == 0) {
        static const std::regex prefix(R"(^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$)");
        return std::regex_match(type.substr(0, type.size() - 2), prefix);
    }
    return is_valid_event_type(type);
}

// Sizes of the first versions of each struct: a plugin may send a larger (newer) one, never
// a smaller one than the fields the host reads.
constexpr uint32_t kRouteSpecV1 = sizeof(mc_route_spec);
constexpr uint32_t kScheduleSpecV1 = sizeof(mc_schedule_spec);
constexpr uint32_t kEventSpecV1 = sizeof(mc_event_handler_spec);

mc_status refuse(mc_registrar* registrar, mc_status status, std::string reason) {
    registrar->error = std::move(reason);
    return status;
}

bool text(const char* value) {
    return value != nullptr && value[0] != '\0';
}

mc_status add_route(mc_registrar* registrar, const mc_route_spec* spec) {
    if (registrar == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (spec == nullptr || spec->struct_size < kRouteSpecV1 || !text(spec->method) ||
        !text(spec->path) || spec->handler == nullptr) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "route spec is incomplete (method, path and handler are required)");
    }
    const std::string method = spec->method, path = spec->path;
    static const char* const kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (std::none_of(std::begin(kMethods), std::end(kMethods),
                     [&](const char* known) { return method == known; })) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "route method " + method +
                          " is not one of GET, POST, PUT, "
                          "PATCH, DELETE");
    }
    if (path.front() != '/' || path.find("{tenant}") != std::string::npos ||
        path.find_first_of("?# ") != std::string::npos) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "route path '" + path +
                          "' must start with '/', and not use {tenant}, '?', '#' or spaces");
    }
    if (auto problem = routing::pattern_problem(path)) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT, "route path '" + path + "': " + *problem);
    }
    if (spec->access != MC_ACCESS_TENANT && spec->access != MC_ACCESS_PUBLIC &&
        spec->access != MC_ACCESS_TENANT_ADMIN) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT, "route access is not a known value");
    }
    const auto& manifest = *registrar->manifest;
    const std::string mount =
        manifest.scope == Scope::tenant ? "/t/{tenant}/" + manifest.name : "/p/" + manifest.name;
    registrar->routes.push_back({method, path, path == "/" ? mount : mount + path, spec->access,
                                 spec->handler, spec->user_data});
    return MC_OK;
}

// Reads the scheduler's options; unknown keys are allowed (newer SDKs may send more).
std::optional<std::string> read_schedule_options(const Json& options, ScheduleInfo& info) {
    auto integer = [&](const char* key, int minimum, int maximum,
                       int& target) -> std::optional<std::string> {
        if (!options.contains(key)) return std::nullopt;
        const Json& value = options[key];
        if (!value.is_number_integer() || value.get<long long>() < minimum ||
            value.get<long long>() > maximum) {
            return std::string(key) + " must be an integer from " + std::to_string(minimum) +
                   " to " + std::to_string(maximum);
        }
        target = value.get<int>();
        return std::nullopt;
    };
    if (options.contains("misfire")) {
        const Json& misfire = options["misfire"];
        if (!misfire.is_string() || (misfire != "skip" && misfire != "run_once")) {
            return std::string("misfire must be \"skip\" or \"run_once\"");
        }
        info.misfire = misfire.get<std::string>();
    }
    if (auto problem = integer("timeout_s", 1, 86400, info.timeout_seconds)) return problem;
    if (auto problem = integer("max_attempts", 1, 20, info.max_attempts)) return problem;
    if (auto problem = integer("misfire_grace_s", 0, 86400, info.misfire_grace_seconds)) {
        return problem;
    }
    return std::nullopt;
}

mc_status add_schedule(mc_registrar* registrar, const mc_schedule_spec* spec) {
    if (registrar == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (spec == nullptr || spec->struct_size < kScheduleSpecV1 || !text(spec->name) ||
        !text(spec->cron) || spec->handler == nullptr) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "schedule spec is incomplete (name, cron and handler are required)");
    }
    const std::string name = spec->name;
    if (!std::regex_match(name, identifier_pattern())) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "schedule name '" + name + "' must match [a-z0-9_-]{1,64}");
    }
    for (const auto& existing : registrar->schedules) {
        if (existing.name == name) {
            return refuse(registrar, MC_ERR_CONFLICT, "schedule '" + name + "' registered twice");
        }
    }
    // A cron that names settings is checked with the schema's defaults: every tenant starts
    // from them, and a tenant's own values are checked when its schedule is planned.
    std::string default_cron = spec->cron;
    if (scheduler::names_settings(default_cron)) {
        Json defaults = Json::object();
        if (registrar->manifest != nullptr) {
            const auto& properties =
                registrar->manifest->settings_schema.value("properties", Json::object());
            for (const auto& [key, property] : properties.items()) {
                // "type" may be a list (["integer", "null"]): only a plain integer qualifies.
                if (property.is_object() && property.contains("type") &&
                    property["type"] == "integer" && property.contains("default")) {
                    defaults[key] = property["default"];
                }
            }
        }
        auto substituted = scheduler::substitute_settings(spec->cron, defaults);
        if (!substituted.problem.empty()) {
            return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                          "schedule '" + name + "': cron '" + spec->cron +
                              "' is invalid: " + substituted.problem +
                              " (a setting named in a cron must be an integer with a default)");
        }
        default_cron = std::move(substituted.text);
    }
    auto parsed = scheduler::CronExpression::parse(default_cron);
    if (auto* problem = std::get_if<std::string>(&parsed)) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "schedule '" + name + "': cron '" + spec->cron + "' is invalid: " + *problem);
    }
    plugins::ScheduleInfo info;
    info.name = name;
    info.cron = spec->cron;
    info.expression = std::make_shared<const scheduler::CronExpression>(
        std::get<scheduler::CronExpression>(std::move(parsed)));
    info.options = Json::object();
    if (spec->options_json != nullptr) {
        info.options = Json::parse(spec->options_json, nullptr, false);
        if (!info.options.is_object()) {
            return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                          "schedule '" + name + "' options are not a JSON object");
        }
    }
    if (auto problem = read_schedule_options(info.options, info)) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "schedule '" + name + "' options: " + *problem);
    }
    info.handler = spec->handler;
    info.user_data = spec->user_data;
    registrar->schedules.push_back(std::move(info));
    return MC_OK;
}

mc_status add_event_handler(mc_registrar* registrar, const mc_event_handler_spec* spec) {
    if (registrar == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (spec == nullptr || spec->struct_size < kEventSpecV1 || !text(spec->name) ||
        !text(spec->event_type) || spec->handler == nullptr) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "event handler spec is incomplete (name, event_type and handler are "
                      "required)");
    }
    const std::string name = spec->name, type = spec->event_type;
    if (!std::regex_match(name, identifier_pattern())) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "event handler name '" + name + "' must match [a-z0-9_-]{1,64}");
    }
    if (!is_valid_event_pattern(type)) {
        return refuse(registrar, MC_ERR_INVALID_ARGUMENT,
                      "event type '" + type + "' must look like 'payment.received' or 'payment.*'");
    }
    for (const auto& existing : registrar->event_handlers) {
        if (existing.name == name) {
            return refuse(registrar, MC_ERR_CONFLICT,
                          "event handler '" + name + "' registered twice");
        }
    }
    registrar->event_handlers.push_back({name, type, spec->handler, spec->user_data});
    return MC_OK;
}

const char* registrar_error(mc_registrar* registrar) {
    return registrar == nullptr ? "" : registrar->error.c_str();
}

void registrar_fail(mc_registrar* registrar, const char* reason) {
    if (registrar != nullptr) registrar->error = reason == nullptr ? "" : reason;
}

void response_set_status(mc_response* response, int status) {
    if (response != nullptr) response->status = status;
}

void response_add_header(mc_response* response, const char* name, const char* value) {
    if (response == nullptr || !text(name) || value == nullptr) return;
    std::string header_name = name, header_value = value;
    // A header line break from a plugin must never split the response.
    if (header_name.find_first_of("\r\n:") != std::string::npos ||
        header_value.find_first_of("\r\n") != std::string::npos) {
        return;
    }
    response->headers.emplace_back(std::move(header_name), std::move(header_value));
}

void response_set_body(mc_response* response, const char* data, size_t size) {
    if (response == nullptr) return;
    response->body.assign(data == nullptr ? "" : data, data == nullptr ? 0 : size);
}

void log_message(mc_context* context, mc_log_level level, const char* message) {
    if (context == nullptr || message == nullptr) return;
    const auto spd_level = level == MC_LOG_DEBUG   ? spdlog::level::debug
                           : level == MC_LOG_WARN  ? spdlog::level::warn
                           : level == MC_LOG_ERROR ? spdlog::level::err
                                                   : spdlog::level::info;
    if (level == MC_LOG_ERROR) context->last_logged_error = message;
    context->services->log.write(spd_level, message,
                                 {{"plugin", context->plugin->manifest.name},
                                  {"tenant", context->tenant_id},
                                  {"request_id", context->request_id}});
}

int64_t now_ms(mc_context*) {
    return clock::now_unix_ms();
}

mc_status fail(mc_context* context, mc_status status, std::string reason) {
    context->last_error = std::move(reason);
    return status;
}

void write_to(const mc_sink* sink, const std::string& text) {
    if (sink != nullptr && sink->write != nullptr)
        sink->write(sink->user_data, text.data(), text.size());
}

mc_status run_sql(mc_context* context, const char* statement, const char* params_json,
                  const mc_sink* result_out) {
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (!text(statement)) return fail(context, MC_ERR_INVALID_ARGUMENT, "empty SQL statement");
    Json params = nullptr;
    if (params_json != nullptr) {
        params = Json::parse(params_json, nullptr, false);
        if (params.is_discarded()) {
            return fail(context, MC_ERR_INVALID_ARGUMENT, "SQL parameters are not valid JSON");
        }
    }
    try {
        Json result;
        auto work = [&](soci::session& session) {
            result = storage::run_json_statement(session, statement, params);
        };
        if (context->plugin->manifest.scope == Scope::tenant) {
            context->services->database.with_tenant(context->tenant_id, work);
        } else {
            context->services->database.with_platform(work);
        }
        write_to(result_out, result.dump(-1, ' ', false, Json::error_handler_t::replace));
        return MC_OK;
    } catch (const std::invalid_argument& failure) {
        return fail(context, MC_ERR_INVALID_ARGUMENT, failure.what());
    } catch (const std::exception& failure) {
        return fail(context, MC_ERR_INTERNAL, std::string("SQL failed: ") + failure.what());
    }
}

mc_status publish_event(mc_context* context, const char* type, const char* data_json,
                        const mc_sink* id_out) {
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    const std::string event_type = type == nullptr ? "" : type;
    if (!is_valid_event_type(event_type)) {
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "event type '" + event_type + "' must look like 'appointment.created'");
    }
    const auto& declared = context->plugin->manifest.events_emitted;
    if (std::find(declared.begin(), declared.end(), event_type) == declared.end()) {
        // Declared types are what subscribers (and the panel) can discover; no surprises.
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "event type '" + event_type + "' is not in the manifest's events_emitted");
    }
    const Json data = Json::parse(data_json == nullptr ? "" : data_json, nullptr, false);
    if (!data.is_object()) {
        return fail(context, MC_ERR_INVALID_ARGUMENT, "event data must be a JSON object");
    }
    if (context->services->bus == nullptr) {
        return fail(context, MC_ERR_UNAVAILABLE, "the event bus is not running");
    }
    try {
        const std::string id = context->services->bus->publish(
            context->tenant_id, context->plugin->manifest.name, event_type, data);
        write_to(id_out, id);
        return MC_OK;
    } catch (const std::exception& failure) {
        return fail(context, MC_ERR_UNAVAILABLE,
                    std::string("event not stored: ") + failure.what());
    }
}

mc_status query_records(mc_context* context, const char* query_json, const mc_sink* result_out) {
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (context->tenant_id.empty()) {
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "records belong to a tenant: a platform"
                    " call has none");
    }
    if (context->services->records == nullptr) {
        return fail(context, MC_ERR_UNAVAILABLE, "the records are not available yet");
    }
    const Json query = Json::parse(query_json == nullptr ? "" : query_json, nullptr, false);
    try {
        auto answer =
            context->services->records->query(context->tenant_id, context->timezone, query);
        if (auto* refusal = std::get_if<records::Refusal>(&answer)) {
            return fail(context, MC_ERR_INVALID_ARGUMENT, refusal->detail);
        }
        write_to(result_out,
                 std::get<Json>(answer).dump(-1, ' ', false, Json::error_handler_t::replace));
        return MC_OK;
    } catch (const std::exception& failure) {
        return fail(context, MC_ERR_INTERNAL,
                    std::string("records query failed: ") + failure.what());
    }
}

/// A refusal's detail and failing fields as one reason.
std::string reason_of(const records::Refusal& refusal) {
    std::string reason = refusal.detail;
    for (const auto& error : refusal.errors) {
        reason += "; " + error.value("field", "") + " " + error.value("message", "");
    }
    return reason;
}

mc_status change_record(mc_context* context, const char* change_json, const mc_sink* result_out) {
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (context->tenant_id.empty()) {
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "records belong to a tenant: a platform call has none");
    }
    auto* records = context->services->records;
    if (records == nullptr) {
        return fail(context, MC_ERR_UNAVAILABLE, "the records are not available yet");
    }
    const Json change = Json::parse(change_json == nullptr ? "" : change_json, nullptr, false);
    if (!change.is_object() || !change.contains("id") || !change["id"].is_string() ||
        !change.contains("changes") || !change["changes"].is_object() || !change.contains("kind") ||
        !change["kind"].is_string()) {
        return fail(
            context, MC_ERR_INVALID_ARGUMENT,
            "a change is {\"kind\": \"appointment\"|\"patient\", \"id\", \"changes\": {…}}");
    }
    const std::string kind = change["kind"];
    const std::string id = change["id"];
    try {
        records::Outcome<Json> outcome;
        if (kind == "appointment") {
            std::vector<std::string> only_from;
            if (const auto guard = change.find("only_from_status"); guard != change.end()) {
                if (!guard->is_array()) {
                    return fail(context, MC_ERR_INVALID_ARGUMENT,
                                "only_from_status must be an array of statuses");
                }
                for (const auto& status : *guard) {
                    if (!status.is_string()) {
                        return fail(context, MC_ERR_INVALID_ARGUMENT,
                                    "only_from_status must be an array of statuses");
                    }
                    only_from.push_back(status.get<std::string>());
                }
            }
            outcome =
                records->update_appointment(context->tenant_id, id, change["changes"], only_from);
        } else if (kind == "patient") {
            outcome = records->update_patient(context->tenant_id, id, change["changes"]);
        } else {
            return fail(context, MC_ERR_INVALID_ARGUMENT,
                        "kind '" + kind + "' cannot be changed by a plugin (appointment, patient)");
        }
        if (auto* refusal = std::get_if<records::Refusal>(&outcome)) {
            const mc_status status = refusal->status == 404   ? MC_ERR_NOT_FOUND
                                     : refusal->status == 409 ? MC_ERR_CONFLICT
                                                              : MC_ERR_INVALID_ARGUMENT;
            return fail(context, status, reason_of(*refusal));
        }
        write_to(result_out,
                 std::get<Json>(outcome).dump(-1, ' ', false, Json::error_handler_t::replace));
        return MC_OK;
    } catch (const std::exception& failure) {
        return fail(context, MC_ERR_INTERNAL,
                    std::string("record change failed: ") + failure.what());
    }
}

// A batch call takes at most this many items: a run sends a day in chunks, and one
// transaction stays short.
constexpr size_t kMaxBatch = 1000;

/// Why a message cannot be queued for this plugin and tenant, or nullopt when the outbox can
/// take it now.
std::optional<mc_status> outbox_unavailable(mc_context* context) {
    if (context->tenant_id.empty()) {
        fail(context, MC_ERR_INVALID_ARGUMENT,
             "messages are sent for a tenant: a platform call has none");
        return MC_ERR_INVALID_ARGUMENT;
    }
    const auto& services = *context->services;
    if (services.outbox == nullptr || services.records == nullptr || services.tenants == nullptr) {
        fail(context, MC_ERR_UNAVAILABLE, "the outbox is not running");
        return MC_ERR_UNAVAILABLE;
    }
    return std::nullopt;
}

/// The plugin's templates with the tenant's overrides, its language and name.
messages::TemplateSources templates_for(const mc_context& context) {
    messages::TemplateSources templates;
    templates.defaults = context.plugin->manifest.templates;
    if (const auto tenant = context.services->tenants->find(context.tenant_id)) {
        templates.tenant_language = tenant->tenant.locale.substr(0, 2);
        templates.clinic = tenant->tenant.name;
        const auto settings = tenant->enabled_settings.find(context.plugin->manifest.name);
        if (settings != tenant->enabled_settings.end()) {
            templates.overrides =
                Json::parse(settings->second, nullptr, false).value("templates", Json::object());
        }
    }
    return templates;
}

Json queued_json(const messages::QueueResult& queued) {
    return {{"id", queued.id}, {"status", queued.status}, {"duplicate", queued.duplicate}};
}

mc_status queue_message(mc_context* context, const char* message_json, const mc_sink* result_out) {
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (const auto refused = outbox_unavailable(context)) return *refused;
    const Json request = Json::parse(message_json == nullptr ? "" : message_json, nullptr, false);
    if (request.is_discarded()) {
        return fail(context, MC_ERR_INVALID_ARGUMENT, "the message is not valid JSON");
    }
    try {
        auto draft = messages::compose(request, context->tenant_id, context->plugin->manifest.name,
                                       templates_for(*context), *context->services->records);
        if (auto* refusal = std::get_if<records::Refusal>(&draft)) {
            return fail(context,
                        refusal->status == 404 ? MC_ERR_NOT_FOUND : MC_ERR_INVALID_ARGUMENT,
                        reason_of(*refusal));
        }
        const auto queued = context->services->outbox->queue(std::get<messages::Draft>(draft));
        write_to(result_out, queued_json(queued).dump());
        return MC_OK;
    } catch (const std::exception& failure) {
        return fail(context, MC_ERR_UNAVAILABLE,
                    std::string("message not queued: ") + failure.what());
    }
}

mc_status queue_messages(mc_context* context, const char* messages_json,
                         const mc_sink* result_out) {
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    if (const auto refused = outbox_unavailable(context)) return *refused;
    const Json requests =
        Json::parse(messages_json == nullptr ? "" : messages_json, nullptr, false);
    if (!requests.is_array() || requests.size() > kMaxBatch) {
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "messages must be a JSON array of at most " + std::to_string(kMaxBatch));
    }
    try {
        // Each message is composed (and may be refused) alone; those composed are stored
        // together, in one transaction.
        const auto templates = templates_for(*context);
        Json answers = Json::array();
        std::vector<messages::Draft> drafts;
        std::vector<size_t> draft_positions;
        for (const auto& request : requests) {
            auto draft =
                messages::compose(request, context->tenant_id, context->plugin->manifest.name,
                                  templates, *context->services->records);
            if (auto* refusal = std::get_if<records::Refusal>(&draft)) {
                answers.push_back(
                    {{"error", reason_of(*refusal)}, {"not_found", refusal->status == 404}});
                continue;
            }
            draft_positions.push_back(answers.size());
            answers.push_back(nullptr);
            drafts.push_back(std::move(std::get<messages::Draft>(draft)));
        }
        const auto queued = context->services->outbox->queue_many(drafts);
        for (size_t i = 0; i < queued.size(); ++i) {
            answers[draft_positions[i]] = queued_json(queued[i]);
        }
        write_to(result_out, answers.dump(-1, ' ', false, Json::error_handler_t::replace));
        return MC_OK;
    } catch (const std::exception& failure) {
        return fail(context, MC_ERR_UNAVAILABLE,
                    std::string("messages not queued: ") + failure.what());
    }
}

mc_status publish_events(mc_context* context, const char* events_json, const mc_sink* ids_out) {
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    const Json events = Json::parse(events_json == nullptr ? "" : events_json, nullptr, false);
    if (!events.is_array() || events.size() > kMaxBatch) {
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "events must be a JSON array of at most " + std::to_string(kMaxBatch));
    }
    const auto& declared = context->plugin->manifest.events_emitted;
    std::vector<bus::Bus::Draft> drafts;
    for (size_t i = 0; i < events.size(); ++i) {
        const Json& event = events[i];
        const std::string where = "event " + std::to_string(i) + ": ";
        if (!event.is_object() || !event.contains("type") || !event["type"].is_string() ||
            !event.contains("data") || !event["data"].is_object()) {
            return fail(context, MC_ERR_INVALID_ARGUMENT,
                        where + "must be {\"type\", \"data\": {…}}");
        }
        const std::string type = event["type"];
        if (std::find(declared.begin(), declared.end(), type) == declared.end()) {
            return fail(context, MC_ERR_INVALID_ARGUMENT,
                        where + "type '" + type + "' is not in the manifest's events_emitted");
        }
        drafts.push_back(
            {context->tenant_id, context->plugin->manifest.name, type, event["data"], ""});
    }
    if (context->services->bus == nullptr) {
        return fail(context, MC_ERR_UNAVAILABLE, "the event bus is not running");
    }
    try {
        const auto ids = drafts.empty() ? std::vector<std::string>{}
                                        : context->services->bus->publish_many(drafts);
        write_to(ids_out, Json(ids).dump());
        return MC_OK;
    } catch (const std::exception& failure) {
        return fail(context, MC_ERR_UNAVAILABLE,
                    std::string("events not stored: ") + failure.what());
    }
}

mc_status local_time(mc_context* context, int64_t unix_ms, const mc_sink* result_out) {
    using namespace std::chrono;
    if (context == nullptr) return MC_ERR_INVALID_ARGUMENT;
    // 1970-01-01 to 9999-12-31: what a date of four digits can say.
    constexpr int64_t kLastMs = 253402300799999;
    if (unix_ms < 0 || unix_ms > kLastMs) {
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "local_time: " + std::to_string(unix_ms) + " is outside 1970-9999");
    }
    const date::time_zone* zone = nullptr;
    try {
        zone = date::locate_zone(context->timezone.empty() ? "UTC" : context->timezone);
    } catch (const std::exception&) {
        zone = date::locate_zone("UTC");  // validated on write; only a changed tz database
    }
    const auto instant = sys_seconds(floor<seconds>(milliseconds(unix_ms)));
    const auto offset = zone->get_info(instant).offset;
    const auto local = date::local_seconds((instant + offset).time_since_epoch());
    const auto day = floor<date::days>(local);
    const year_month_day calendar_day(sys_days(day.time_since_epoch()));
    // The zone's offset can carry the last instants of 9999 into a fifth digit of year.
    if (calendar_day.year() > year(9999)) {
        return fail(context, MC_ERR_INVALID_ARGUMENT,
                    "local_time: " + std::to_string(unix_ms) + " is after 9999 in " + zone->name());
    }
    const auto clock_seconds = (local - day).count();
    const std::string local_date = calendar::format_date(calendar_day);
    char clock_text[32];
    std::snprintf(clock_text, sizeof clock_text, "%02d:%02d:%02d",
                  static_cast<int>(clock_seconds / 3600), static_cast<int>(clock_seconds / 60 % 60),
                  static_cast<int>(clock_seconds % 60));
    const Json answer = {{"date", local_date},
                         {"time", clock_text},
                         {"hour", clock_seconds / 3600},
                         {"minute", clock_seconds / 60 % 60},
                         {"weekday", weekday(sys_days(calendar_day)).iso_encoding()},
                         {"iso_week", *calendar::iso_week_of(local_date)},
                         {"utc_offset_minutes", duration_cast<minutes>(offset).count()},
                         {"timezone", zone->name()}};
    write_to(result_out, answer.dump());
    return MC_OK;
}

const char* last_error(mc_context* context) {
    return context == nullptr ? "no context" : context->last_error.c_str();
}

constexpr mc_host_api kHostApi = {
    sizeof(mc_host_api),
    MC_ABI_MAJOR,
    MC_ABI_MINOR,
    &add_route,
    &add_schedule,
    &add_event_handler,
    &registrar_error,
    &registrar_fail,
    &response_set_status,
    &response_add_header,
    &response_set_body,
    &log_message,
    &now_ms,
    &run_sql,
    &publish_event,
    &last_error,
    &query_records,
    &queue_message,
    &local_time,
    &change_record,
    &queue_messages,
    &publish_events,
};
}  // namespace

const mc_host_api& host_api() {
    return kHostApi;
}

}  // namespace miconsul::plugins
