// MiConsul SDK v1 — the header-only C++ layer over plugin_abi.h.
//
// A plugin derives from miconsul::Plugin, describes itself in manifest(), registers its routes,
// schedules and event handlers in register_with(), and exports itself with
// MICONSUL_PLUGIN(ClassName). Everything here runs inside the plugin; only the C structs of
// plugin_abi.h cross to the host, and no exception does: the trampolines below catch them.
//
// JSON inside the plugin is nlohmann::json (Debian: nlohmann-json3-dev). It never crosses the
// ABI as a type: both sides exchange JSON text.
#pragma once

#include <miconsul/plugin_abi.h>
#include <miconsul/calendar.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace miconsul {

using Json = nlohmann::json;

/// Thrown by Context services when the host reports a failure; `status()` is the host's code.
class HostError : public std::runtime_error {
public:
    HostError(mc_status status, const std::string& reason)
        : std::runtime_error(reason), status_(status) {}
    mc_status status() const { return status_; }

private:
    mc_status status_;
};

/// An HTTP error a handler throws to answer with a problem+json body of that status.
class HttpError : public std::runtime_error {
public:
    HttpError(int status, const std::string& detail)
        : std::runtime_error(detail), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

namespace detail {
/// JSON text for the host. Text a plugin took from a request (a path segment, a query value)
/// may be invalid UTF-8: it is written with U+FFFD rather than thrown on, so that a bad byte
/// never turns a 404 into a 500.
inline std::string to_text(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}
inline void append_to_string(void* target, const char* data, size_t size) {
    static_cast<std::string*>(target)->append(data, size);
}
inline std::string_view find_value(const mc_key_value* pairs, size_t count, std::string_view key) {
    for (size_t i = 0; i < count; ++i) {
        if (key == pairs[i].key) return pairs[i].value;
    }
    return {};
}
}  // namespace detail

/// Bytes as standard base64 (RFC 4648, padded): how queue_message carries an attachment.
inline std::string base64_encode(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string encoded;
    encoded.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const uint32_t block = (static_cast<unsigned char>(bytes[i]) << 16) |
                               (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                               static_cast<unsigned char>(bytes[i + 2]);
        encoded += kAlphabet[(block >> 18) & 63];
        encoded += kAlphabet[(block >> 12) & 63];
        encoded += kAlphabet[(block >> 6) & 63];
        encoded += kAlphabet[block & 63];
    }
    if (i < bytes.size()) {
        uint32_t block = static_cast<unsigned char>(bytes[i]) << 16;
        if (i + 1 < bytes.size()) block |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        encoded += kAlphabet[(block >> 18) & 63];
        encoded += kAlphabet[(block >> 12) & 63];
        encoded += i + 1 < bytes.size() ? kAlphabet[(block >> 6) & 63] : '=';
        encoded += '=';
    }
    return encoded;
}

/// One entry of queue_message's "attachments": a file the email carries (a PDF, an ICS).
inline Json attachment(std::string_view filename, std::string_view content_type,
                       std::string_view bytes) {
    return {{"filename", std::string(filename)},
            {"content_type", std::string(content_type)},
            {"content_base64", base64_encode(bytes)}};
}

/// The tenant's wall clock at an instant (Context::local_time).
struct LocalTime {
    std::string date;      // "2026-12-01"
    std::string time;      // "18:00:00"
    int hour = 0;          // 0-23
    int minute = 0;        // 0-59
    int weekday = 1;       // ISO: Monday 1 … Sunday 7
    std::string iso_week;  // "2026-W49"
    int utc_offset_minutes = 0;
    std::string timezone;  // "America/Mexico_City"
};

/// The services of one call (a request, a scheduled run or an event). Valid only during it.
class Context {
public:
    Context(const mc_host_api* host, const mc_call* call) : host_(host), call_(call) {}

    std::string_view plugin() const { return call_->plugin; }
    /// The tenant the call is for; empty for platform-scope calls.
    std::string_view tenant() const { return call_->tenant_id; }
    std::string_view timezone() const { return call_->tenant_timezone; }
    std::string_view locale() const { return call_->tenant_locale; }
    /// The language to write a patient's message in, among those the plugin's templates have
    /// (`available`, the first being the last resort): the patient's, else the clinic's — the
    /// outbox's own order. Pass it as the message's "language" so that the template chosen and
    /// the words the plugin writes itself (dates spelt out) agree.
    std::string message_language(std::string_view patient_language,
                                 std::initializer_list<std::string_view> available = {"es",
                                                                                      "en"}) const {
        for (const std::string_view candidate :
             {patient_language.substr(0, 2), locale().substr(0, 2)}) {
            for (const std::string_view language : available) {
                if (candidate == language) return std::string(language);
            }
        }
        return std::string(*available.begin());
    }
    /// The clinic's name (ABI 1.3); empty for platform calls or an older host.
    std::string_view tenant_name() const {
        const bool sent =
            call_->struct_size >= offsetof(mc_call, tenant_name) + sizeof(const char*);
        return sent && call_->tenant_name != nullptr ? call_->tenant_name : "";
    }
    std::string_view request_id() const { return call_->request_id; }
    /// The scheduled instant of a run (Unix ms), or 0 outside scheduled runs.
    int64_t scheduled_at_ms() const { return call_->scheduled_at_ms; }

    /// The tenant's effective settings: what it set, with the schema's defaults filled in (when
    /// the plugin was enabled, and again at each host start). {} for platform plugins.
    const Json& settings() const {
        if (!settings_) settings_ = Json::parse(call_->settings_json);
        return *settings_;
    }

    /// Runs one statement with bound parameters (a JSON array for positional placeholders, an
    /// object for :named ones). Returns the rows as an array of objects, or
    /// {"affected_rows": N} for statements without rows. Throws HostError on failure.
    Json sql(std::string_view statement, const Json& params = nullptr) const {
        const std::string statement_text(statement);
        const std::string params_text = params.is_null() ? std::string() : detail::to_text(params);
        std::string result;
        const mc_sink sink{&result, &detail::append_to_string};
        check(host_->sql(call_->context, statement_text.c_str(),
                         params.is_null() ? nullptr : params_text.c_str(), &sink));
        return Json::parse(result);
    }

    /// Publishes an event for this call's tenant; returns its id. Throws HostError on failure.
    std::string publish(std::string_view type, const Json& data) const {
        const std::string type_text(type);
        const std::string data_text = detail::to_text(data);
        std::string id;
        const mc_sink sink{&id, &detail::append_to_string};
        check(host_->publish_event(call_->context, type_text.c_str(), data_text.c_str(), &sink));
        return id;
    }

    /// The clinic's records (ABI 1.1): one query, answered as JSON. Throws HostError on a bad
    /// query or a failure. The named helpers below cover every query; see docs/sdk.md.
    Json records(const Json& query) const {
        if (host_->abi_minor < 1) {
            throw HostError(MC_ERR_UNAVAILABLE, "this host predates records (ABI 1.1)");
        }
        const std::string query_text = detail::to_text(query);
        std::string result;
        const mc_sink sink{&result, &detail::append_to_string};
        check(host_->records(call_->context, query_text.c_str(), &sink));
        return Json::parse(result);
    }
    /// A patient by id, or null: {id, first_name, last_name, birth_date, phone, email,
    /// language, consent: {email, whatsapp}, external_id, created_at, updated_at}.
    Json patient(std::string_view id) const {
        return records({{"query", "patient"}, {"id", std::string(id)}});
    }
    /// A doctor by id, or null: {id, name, email, phone, external_id, …}.
    Json doctor(std::string_view id) const {
        return records({{"query", "doctor"}, {"id", std::string(id)}});
    }
    /// An appointment by id, or null: {id, patient_id, doctor_id, start, end,
    /// duration_minutes, status, notes, external_id, …}.
    Json appointment(std::string_view id) const {
        return records({{"query", "appointment"}, {"id", std::string(id)}});
    }
    /// Every doctor of the clinic.
    Json doctors() const { return records({{"query", "doctors"}}); }
    /// {patient, appointments, payments, payments_total_cents}, or null.
    Json patient_history(std::string_view patient_id) const {
        return records({{"query", "history"}, {"patient_id", std::string(patient_id)}});
    }
    /// The appointments starting on a local date (YYYY-MM-DD), by start; `filters` may hold
    /// doctor_id, status, patient_id.
    Json appointments_on(std::string_view date, const Json& filters = Json::object()) const {
        Json query = filters;
        query["query"] = "appointments";
        query["date"] = std::string(date);
        return records(query);
    }
    /// The patients whose birthday is on the date (29 February on the 28th in common years).
    Json birthdays_on(std::string_view date) const {
        return records({{"query", "birthdays"}, {"date", std::string(date)}});
    }
    /// Sales of a local date: {total_cents, payments, by_method, by_doctor, by_currency, …}.
    Json sales_on(std::string_view date) const {
        return records({{"query", "sales"}, {"date", std::string(date)}});
    }
    /// The patient's first payment, or null.
    Json first_payment(std::string_view patient_id) const {
        return records({{"query", "first_payment"}, {"patient_id", std::string(patient_id)}});
    }
    /// Figures of the local days [from, to): {appointments_by_status, new_patients,
    /// first_payments, sales: {currency: {total_cents, payments}}}.
    Json records_summary(std::string_view from, std::string_view to) const {
        return records(
            {{"query", "summary"}, {"from", std::string(from)}, {"to", std::string(to)}});
    }

    /// Queues an email or WhatsApp message (ABI 1.2); see mc_host_api.queue_message for the
    /// fields. Returns {"id", "status", "duplicate"}. The same idempotency_key twice is one
    /// message. Throws HostError on a bad request, an unknown patient or a template missing a
    /// variable.
    Json queue_message(const Json& message) const {
        if (host_->abi_minor < 2) {
            throw HostError(MC_ERR_UNAVAILABLE, "this host predates messages (ABI 1.2)");
        }
        const std::string message_text = detail::to_text(message);
        std::string result;
        const mc_sink sink{&result, &detail::append_to_string};
        check(host_->queue_message(call_->context, message_text.c_str(), &sink));
        return Json::parse(result);
    }

    /// Many messages at once (ABI 1.3), stored in one transaction: what a scheduled run sends
    /// for a day, in chunks of at most 1,000. Each is checked alone; returns an array in
    /// order, {"id", "status", "duplicate"} for each message stored or {"error", "not_found"}
    /// for one refused. Throws HostError when the batch is malformed or could not be stored.
    Json queue_messages(const Json& messages) const {
        if (host_->abi_minor < 3) {
            throw HostError(MC_ERR_UNAVAILABLE, "this host predates queue_messages (ABI 1.3)");
        }
        const std::string messages_text = detail::to_text(messages);
        std::string result;
        const mc_sink sink{&result, &detail::append_to_string};
        check(host_->queue_messages(call_->context, messages_text.c_str(), &sink));
        return Json::parse(result);
    }

    /// Many events at once (ABI 1.3): `events` is an array of {"type", "data"}; all are stored
    /// in one transaction, or none. Returns their ids in order. Throws HostError.
    std::vector<std::string> publish_many(const Json& events) const {
        if (host_->abi_minor < 3) {
            throw HostError(MC_ERR_UNAVAILABLE, "this host predates publish_many (ABI 1.3)");
        }
        const std::string events_text = detail::to_text(events);
        std::string result;
        const mc_sink sink{&result, &detail::append_to_string};
        check(host_->publish_events(call_->context, events_text.c_str(), &sink));
        return Json::parse(result).get<std::vector<std::string>>();
    }

    /// Unix time in milliseconds, from the host's clock (controllable in tests).
    int64_t now_ms() const { return host_->now_ms(call_->context); }

    /// The tenant's wall clock at a Unix instant in ms (ABI 1.3): which local day and hour it
    /// is in the clinic. Throws HostError outside 1970-9999.
    LocalTime local_time(int64_t unix_ms) const {
        if (host_->abi_minor < 3) {
            throw HostError(MC_ERR_UNAVAILABLE, "this host predates local_time (ABI 1.3)");
        }
        std::string result;
        const mc_sink sink{&result, &detail::append_to_string};
        check(host_->local_time(call_->context, unix_ms, &sink));
        const Json answer = Json::parse(result);
        return LocalTime{answer.at("date").get<std::string>(),
                         answer.at("time").get<std::string>(),
                         answer.at("hour").get<int>(),
                         answer.at("minute").get<int>(),
                         answer.at("weekday").get<int>(),
                         answer.at("iso_week").get<std::string>(),
                         answer.at("utc_offset_minutes").get<int>(),
                         answer.at("timezone").get<std::string>()};
    }
    /// Changes an appointment or a patient (ABI 1.3) as PATCH …/records/… does, with the same
    /// validation and events; returns the record as changed. Throws HostError: invalid change
    /// (MC_ERR_INVALID_ARGUMENT), unknown record (MC_ERR_NOT_FOUND), double booking
    /// (MC_ERR_CONFLICT).
    Json change_record(std::string_view kind, std::string_view id, const Json& changes,
                       const std::vector<std::string>& only_from_status = {}) const {
        if (host_->abi_minor < 3) {
            throw HostError(MC_ERR_UNAVAILABLE, "this host predates change_record (ABI 1.3)");
        }
        Json change = {{"kind", std::string(kind)}, {"id", std::string(id)}, {"changes", changes}};
        if (!only_from_status.empty()) change["only_from_status"] = only_from_status;
        const std::string change_text = detail::to_text(change);
        std::string result;
        const mc_sink sink{&result, &detail::append_to_string};
        check(host_->change_record(call_->context, change_text.c_str(), &sink));
        return Json::parse(result);
    }
    /// Sets an appointment's status ("confirmed", "cancelled", …); see change_record. With
    /// `only_from_status`, only if the stored status is one of those (else MC_ERR_CONFLICT),
    /// decided atomically with the change.
    Json set_appointment_status(std::string_view id, std::string_view status,
                                const std::vector<std::string>& only_from_status = {}) const {
        return change_record("appointment", id, {{"status", std::string(status)}},
                             only_from_status);
    }

    /// The local wall clock the call is about: a run's scheduled instant (which a manual run
    /// may set in the past or future), else now.
    LocalTime local_now() const {
        return local_time(scheduled_at_ms() != 0 ? scheduled_at_ms() : now_ms());
    }

    void log(mc_log_level level, std::string_view message) const {
        const std::string text(message);
        host_->log(call_->context, level, text.c_str());
    }
    void info(std::string_view message) const { log(MC_LOG_INFO, message); }
    void warn(std::string_view message) const { log(MC_LOG_WARN, message); }
    void error(std::string_view message) const { log(MC_LOG_ERROR, message); }

private:
    void check(mc_status status) const {
        if (status != MC_OK) throw HostError(status, host_->last_error(call_->context));
    }

    const mc_host_api* host_;
    const mc_call* call_;
    mutable std::optional<Json> settings_;  // parsed on first use: many calls never read it
};

/// A request as the plugin sees it. Valid only during the handler.
class Request {
public:
    explicit Request(const mc_request* request) : request_(request) {}

    std::string_view method() const { return request_->method; }
    std::string_view path() const { return request_->path; }
    std::string_view body() const { return {request_->body, request_->body_size}; }
    /// The value of a {name} segment of the route's path; empty if the route has none.
    std::string_view param(std::string_view name) const {
        return detail::find_value(request_->path_params, request_->path_param_count, name);
    }
    /// The first query parameter of that name, or nullopt when absent.
    std::optional<std::string_view> query(std::string_view name) const {
        for (size_t i = 0; i < request_->query_count; ++i) {
            if (name == request_->query[i].key) return std::string_view(request_->query[i].value);
        }
        return std::nullopt;
    }
    /// A header by lower-case name; empty if absent.
    std::string_view header(std::string_view lower_case_name) const {
        return detail::find_value(request_->headers, request_->header_count, lower_case_name);
    }
    /// The body parsed as JSON; throws HttpError(400) when it is not valid JSON.
    Json json() const {
        Json parsed = Json::parse(body(), nullptr, /*allow_exceptions=*/false);
        if (parsed.is_discarded()) throw HttpError(400, "request body is not valid JSON");
        return parsed;
    }

private:
    const mc_request* request_;
};

/// What a route handler returns.
struct Response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    static Response json(const Json& value, int status = 200) {
        return Response{status, {{"Content-Type", "application/json"}}, detail::to_text(value)};
    }
    static Response text(std::string body, int status = 200) {
        return Response{status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
    }
    static Response problem(int status, std::string_view detail) {
        Json problem_body = {{"type", "about:blank"},
                             {"title", status < 500 ? "Client Error" : "Server Error"},
                             {"status", status},
                             {"detail", detail}};
        return Response{
            status, {{"Content-Type", "application/problem+json"}}, detail::to_text(problem_body)};
    }
};

using RouteHandler = std::function<Response(Context&, const Request&)>;
using ScheduleHandler = std::function<void(Context&)>;

namespace detail {
// What a trampoline's user_data points to: the handler and the host table it reports to.
template <class Handler>
struct Bound {
    const mc_host_api* host;
    Handler handler;
};
}  // namespace detail

/// An event as a handler sees it. Valid only during the handler.
struct Event {
    std::string_view id;
    std::string_view type;
    std::string_view tenant;
    std::string_view source;
    std::string_view time;
    Json data;
};
using EventHandler = std::function<void(Context&, const Event&)>;

/// Options of a schedule. See docs/scheduling.md.
struct ScheduleOptions {
    std::string misfire = "skip";    // after downtime: "skip" missed instants, or "run_once"
    int misfire_grace_seconds = 60;  // an instant at most this late still runs normally
    int timeout_seconds = 300;       // past it the run is marked and alerted on
    int max_attempts = 3;            // a failing run is retried with backoff up to this many
};

/// Registers what a plugin offers. Handed to Plugin::register_with; valid only during it.
class Registrar {
public:
    Registrar(const mc_host_api* host, mc_registrar* registrar,
              std::deque<detail::Bound<RouteHandler>>& routes,
              std::deque<detail::Bound<ScheduleHandler>>& schedules,
              std::deque<detail::Bound<EventHandler>>& events)
        : host_(host),
          registrar_(registrar),
          routes_(routes),
          schedules_(schedules),
          events_(events) {}

    /// A route under the plugin's mount. Throws HostError if the host refuses it.
    void route(std::string_view method, std::string_view path, RouteHandler handler,
               mc_route_access access = MC_ACCESS_TENANT) {
        routes_.push_back({host_, std::move(handler)});
        auto& stored = routes_.back();
        const std::string method_text(method), path_text(path);
        const mc_route_spec spec{sizeof(mc_route_spec), method_text.c_str(),
                                 path_text.c_str(),     access,
                                 &route_trampoline,     &stored};
        check(host_->add_route(registrar_, &spec));
    }

    /// A cron schedule evaluated in each tenant's time zone. Throws HostError if refused.
    void schedule(std::string_view name, std::string_view cron, ScheduleHandler handler,
                  const ScheduleOptions& options = {}) {
        schedules_.push_back({host_, std::move(handler)});
        auto& stored = schedules_.back();
        const std::string name_text(name), cron_text(cron);
        const std::string options_text = Json{
            {"misfire", options.misfire},
            {"misfire_grace_s", options.misfire_grace_seconds},
            {"timeout_s", options.timeout_seconds},
            {"max_attempts",
             options.max_attempts}}.dump();
        const mc_schedule_spec spec{sizeof(mc_schedule_spec), name_text.c_str(),
                                    cron_text.c_str(),        options_text.c_str(),
                                    &schedule_trampoline,     &stored};
        check(host_->add_schedule(registrar_, &spec));
    }

    /// A handler of events of `event_type` ("a.b", or a prefix "a.*"). Throws if refused.
    void on_event(std::string_view name, std::string_view event_type, EventHandler handler) {
        events_.push_back({host_, std::move(handler)});
        auto& stored = events_.back();
        const std::string name_text(name), type_text(event_type);
        const mc_event_handler_spec spec{sizeof(mc_event_handler_spec), name_text.c_str(),
                                         type_text.c_str(), &event_trampoline, &stored};
        check(host_->add_event_handler(registrar_, &spec));
    }

private:
    void check(mc_status status) {
        if (status != MC_OK) throw HostError(status, host_->registrar_error(registrar_));
    }

    static void write_response(const mc_host_api* host, mc_response* out,
                               const Response& response) {
        host->response_set_status(out, response.status);
        for (const auto& [name, value] : response.headers) {
            host->response_add_header(out, name.c_str(), value.c_str());
        }
        host->response_set_body(out, response.body.data(), response.body.size());
    }

    static mc_status route_trampoline(void* user_data, const mc_call* call,
                                      const mc_request* request, mc_response* out) {
        const auto& bound = *static_cast<detail::Bound<RouteHandler>*>(user_data);
        try {
            Context context(bound.host, call);
            write_response(bound.host, out, bound.handler(context, Request(request)));
            return MC_OK;
        } catch (const HttpError& error) {
            write_response(bound.host, out, Response::problem(error.status(), error.what()));
            return MC_OK;
        } catch (const std::exception& error) {
            write_response(bound.host, out, Response::problem(500, error.what()));
            return MC_ERR_INTERNAL;
        } catch (...) {
            write_response(bound.host, out, Response::problem(500, "unknown exception in plugin"));
            return MC_ERR_INTERNAL;
        }
    }

    // Runs `work`; an exception is logged through the host and reported as MC_ERR_INTERNAL.
    template <class Work>
    static mc_status report_failures(const Context& context, Work&& work) {
        try {
            work();
            return MC_OK;
        } catch (const std::exception& error) {
            context.error(error.what());
        } catch (...) {
            context.error("unknown exception in plugin");
        }
        return MC_ERR_INTERNAL;
    }

    static mc_status schedule_trampoline(void* user_data, const mc_call* call) {
        const auto& bound = *static_cast<detail::Bound<ScheduleHandler>*>(user_data);
        Context context(bound.host, call);
        return report_failures(context, [&] { bound.handler(context); });
    }

    static mc_status event_trampoline(void* user_data, const mc_call* call, const mc_event* event) {
        const auto& bound = *static_cast<detail::Bound<EventHandler>*>(user_data);
        Context context(bound.host, call);
        return report_failures(context, [&] {
            const Event view{event->id,     event->type, event->tenant,
                             event->source, event->time, Json::parse(event->data_json)};
            bound.handler(context, view);
        });
    }

    const mc_host_api* host_;
    mc_registrar* registrar_;
    std::deque<detail::Bound<RouteHandler>>& routes_;
    std::deque<detail::Bound<ScheduleHandler>>& schedules_;
    std::deque<detail::Bound<EventHandler>>& events_;
};

/// One migration of the plugin's own tables, applied once per tenant database, in order.
struct Migration {
    int version;
    std::string description;
    std::string sql;  // portable SQL (SQLite and PostgreSQL); one or more statements
};

/// What the host reads before it lets the plugin register.
struct Manifest {
    std::string name;     // [a-z][a-z0-9_-]{0,39}, unique among plugins; the route mount
    std::string version;  // semver, e.g. "1.2.0"
    std::string scope;    // "tenant" or "platform"
    std::string description;
    Json settings_schema = {{"type", "object"}};  // JSON Schema (draft 7 subset) with defaults
    std::vector<Migration> migrations;
    std::vector<std::string> events_emitted;
    /// Message templates (ABI 1.2): {"welcome": {"es": {"subject", "text", "html",
    /// "whatsapp"}, "en": {…}, "sample": {…data for previews…}}}. Mustache syntax; a tenant
    /// overrides them through a "templates" object of the same shape in its settings.
    Json templates = Json::object();

    std::string to_json() const {
        Json migration_list = Json::array();
        for (const auto& migration : migrations) {
            migration_list.push_back({{"version", migration.version},
                                      {"description", migration.description},
                                      {"sql", migration.sql}});
        }
        return Json{{"name", name},
                    {"version", version},
                    {"scope", scope},
                    {"description", description},
                    {"settings_schema", settings_schema},
                    {"migrations", migration_list},
                    {"events_emitted", events_emitted},
                    {"templates", templates}}
            .dump();
    }
};

/// The base of every plugin. One instance per process, created on first use of the entry
/// point and never destroyed while the host runs (libraries are never unloaded).
class Plugin {
public:
    virtual ~Plugin() = default;
    virtual Manifest manifest() const = 0;
    /// Registers routes, schedules and handlers. Throwing refuses the whole plugin.
    virtual void register_with(Registrar& registrar) = 0;

    // Used by MICONSUL_PLUGIN; not part of the authoring API.
    mc_status register_through(const mc_host_api* host, mc_registrar* registrar) {
        Registrar wrapped(host, registrar, routes_, schedules_, events_);
        try {
            register_with(wrapped);
            return MC_OK;
        } catch (const std::exception& error) {
            host->registrar_fail(registrar, error.what());
        } catch (...) {
            host->registrar_fail(registrar, "unknown exception while registering");
        }
        return MC_ERR_INTERNAL;
    }

private:
    // Deques: references to stored handlers stay valid as more are added.
    std::deque<detail::Bound<RouteHandler>> routes_;
    std::deque<detail::Bound<ScheduleHandler>> schedules_;
    std::deque<detail::Bound<EventHandler>> events_;
};

}  // namespace miconsul

/// Exports `PluginClass` (default-constructible, derived from miconsul::Plugin) as this
/// library's plugin. Use once per library, at namespace scope.
#define MICONSUL_PLUGIN(PluginClass)                                                             \
    extern "C" MC_EXPORT const mc_plugin* miconsul_plugin_entry(void) {                          \
        static PluginClass instance;                                                             \
        static const std::string manifest_text = [] {                                            \
            try {                                                                                \
                return instance.manifest().to_json();                                            \
            } catch (const std::exception& error) {                                              \
                return miconsul::Json{{"manifest_error", error.what()}}.dump();                  \
            } catch (...) {                                                                      \
                return miconsul::Json{{"manifest_error", "unknown exception"}}.dump();           \
            }                                                                                    \
        }();                                                                                     \
        static const mc_plugin descriptor{sizeof(mc_plugin), MC_ABI_MAJOR, MC_ABI_MINOR,         \
                                          manifest_text.c_str(),                                 \
                                          [](const mc_host_api* host, mc_registrar* registrar) { \
                                              return instance.register_through(host, registrar); \
                                          }};                                                    \
        return &descriptor;                                                                      \
    }
