// citas — Appointments: a confirmation when one is booked (WhatsApp, and email with an ICS
// file), a notice to the doctor, a reminder before the day, and a signed link with which the
// patient confirms or cancels.
#include "citas_text.hpp"

#include <miconsul/plugin.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using miconsul::Context;
using miconsul::HostError;
using miconsul::HttpError;
using miconsul::Json;
using miconsul::Request;
using miconsul::Response;

constexpr const char* kLinkKeyName = "link_hmac";

// ---------------------------------------------------------------- manifest

Json settings_schema() {
    return {{"type", "object"},
            {"additionalProperties", false},
            {"properties",
             {{"reminder_hour",
               {{"type", "integer"},
                {"minimum", 0},
                {"maximum", 23},
                {"default", 18},
                {"description", "Local hour at which the day's reminders go out"}}},
              {"lead_days",
               {{"type", "integer"},
                {"minimum", 1},
                {"maximum", 7},
                {"default", 1},
                {"description", "Remind appointments this many days after the run's day"}}},
              {"channels",
               {{"type", "array"},
                {"items", {{"enum", Json::array({"email", "whatsapp"})}}},
                {"minItems", 1},
                {"maxItems", 2},
                {"default", Json::array({"email", "whatsapp"})}}},
              {"notify_doctor", {{"type", "boolean"}, {"default", true}}},
              {"confirmation_enabled", {{"type", "boolean"}, {"default", true}}},
              {"reminders_enabled", {{"type", "boolean"}, {"default", true}}},
              {"public_base_url",
               {{"type", "string"},
                {"maxLength", 300},
                {"pattern", R"(^(https?://[^\s/?#]+(/[^\s?#]*)?)?$)"},
                {"default", ""},
                {"description",
                 "Where patients reach the host, e.g. https://citas.clinicasol.mx; empty: links "
                 "are paths only"}}},
              {"location",
               {{"type", "string"},
                {"maxLength", 300},
                {"default", ""},
                {"description", "The clinic's address, for the calendar file"}}},
              {"templates", {{"type", "object"}, {"default", Json::object()}}}}}};
}

Json message_templates() {
    const Json sample = {{"patient", {{"first_name", "Ana"}, {"last_name", "López"}}},
                         {"clinic", "Clínica Sol"},
                         {"when", "martes 1 de diciembre, 10:00"},
                         {"doctor", {{"name", "Dra. Ruiz"}}},
                         {"link", "https://citas.clinicasol.mx/t/sol/citas/a/0193…?e=…&s=…"}};
    return {
        {"confirmation",
         {{"es",
           {{"subject", "Su cita en {{clinic}}: {{when}}"},
            {"text",
             "Hola {{patient.first_name}}, su cita con {{doctor.name}} en {{clinic}} quedó "
             "agendada para el {{when}}.\n\nConfirme o cancele aquí: {{link}}\n\nLe adjuntamos "
             "la cita para su calendario."},
            {"html",
             "<p>Hola {{patient.first_name}},</p><p>su cita con <b>{{doctor.name}}</b> en "
             "{{clinic}} quedó agendada para el <b>{{when}}</b>.</p><p><a href=\"{{link}}\">"
             "Confirmar o cancelar</a></p><p>Le adjuntamos la cita para su calendario.</p>"},
            {"whatsapp",
             "Hola {{patient.first_name}}, su cita con {{doctor.name}} en {{clinic}} quedó "
             "agendada para el {{when}}. Confirme o cancele aquí: {{link}}"}}},
          {"en",
           {{"subject", "Your appointment at {{clinic}}: {{when}}"},
            {"text",
             "Hello {{patient.first_name}}, your appointment with {{doctor.name}} at {{clinic}} "
             "is booked for {{when}}.\n\nConfirm or cancel here: {{link}}\n\nThe appointment "
             "is attached for your calendar."},
            {"html",
             "<p>Hello {{patient.first_name}},</p><p>your appointment with "
             "<b>{{doctor.name}}</b> at {{clinic}} is booked for <b>{{when}}</b>.</p><p><a "
             "href=\"{{link}}\">Confirm or cancel</a></p>"},
            {"whatsapp",
             "Hello {{patient.first_name}}, your appointment with {{doctor.name}} at {{clinic}} "
             "is booked for {{when}}. Confirm or cancel here: {{link}}"}}},
          {"sample", sample}}},
        {"reminder",
         {{"es",
           {{"subject", "Recordatorio: su cita en {{clinic}} el {{when}}"},
            {"text",
             "Hola {{patient.first_name}}, le recordamos su cita con {{doctor.name}} en "
             "{{clinic}} el {{when}}.\n\nConfirme o cancele aquí: {{link}}"},
            {"html",
             "<p>Hola {{patient.first_name}},</p><p>le recordamos su cita con "
             "<b>{{doctor.name}}</b> en {{clinic}} el <b>{{when}}</b>.</p><p><a "
             "href=\"{{link}}\">Confirmar o cancelar</a></p>"},
            {"whatsapp",
             "Hola {{patient.first_name}}, le recordamos su cita con {{doctor.name}} en "
             "{{clinic}} el {{when}}. Confirme o cancele aquí: {{link}}"}}},
          {"en",
           {{"subject", "Reminder: your appointment at {{clinic}} on {{when}}"},
            {"text",
             "Hello {{patient.first_name}}, this is a reminder of your appointment with "
             "{{doctor.name}} at {{clinic}} on {{when}}.\n\nConfirm or cancel here: {{link}}"},
            {"html",
             "<p>Hello {{patient.first_name}},</p><p>this is a reminder of your appointment "
             "with <b>{{doctor.name}}</b> at {{clinic}} on <b>{{when}}</b>.</p><p><a "
             "href=\"{{link}}\">Confirm or cancel</a></p>"},
            {"whatsapp",
             "Hello {{patient.first_name}}, reminder of your appointment with {{doctor.name}} "
             "at {{clinic}} on {{when}}. Confirm or cancel here: {{link}}"}}},
          {"sample", sample}}},
        {"doctor_notice",
         {{"es",
           {{"subject", "Nueva cita: {{patient.first_name}} {{patient.last_name}}, {{when}}"},
            {"text",
             "{{doctor.name}}: {{patient.first_name}} {{patient.last_name}} agendó una cita "
             "con usted en {{clinic}} para el {{when}}."},
            {"html",
             "<p>{{doctor.name}}:</p><p><b>{{patient.first_name}} {{patient.last_name}}</b> "
             "agendó una cita con usted en {{clinic}} para el <b>{{when}}</b>.</p>"}}},
          {"en",
           {{"subject", "New appointment: {{patient.first_name}} {{patient.last_name}}, {{when}}"},
            {"text",
             "{{doctor.name}}: {{patient.first_name}} {{patient.last_name}} booked an "
             "appointment with you at {{clinic}} for {{when}}."},
            {"html",
             "<p>{{doctor.name}}:</p><p><b>{{patient.first_name}} {{patient.last_name}}</b> "
             "booked an appointment with you at {{clinic}} for <b>{{when}}</b>.</p>"}}},
          {"sample", sample}}},
        {"rescheduled",
         {{"es",
           {{"subject", "Su cita en {{clinic}} cambió: {{when}}"},
            {"text",
             "Hola {{patient.first_name}}, su cita con {{doctor.name}} en {{clinic}} se movió "
             "al {{when}}.\n\nConfirme o cancele aquí: {{link}}\n\nLe adjuntamos la cita "
             "actualizada para su calendario."},
            {"html",
             "<p>Hola {{patient.first_name}},</p><p>su cita con <b>{{doctor.name}}</b> en "
             "{{clinic}} se movió al <b>{{when}}</b>.</p><p><a href=\"{{link}}\">Confirmar o "
             "cancelar</a></p><p>Le adjuntamos la cita actualizada para su calendario.</p>"},
            {"whatsapp",
             "Hola {{patient.first_name}}, su cita con {{doctor.name}} en {{clinic}} se movió "
             "al {{when}}. Confirme o cancele aquí: {{link}}"}}},
          {"en",
           {{"subject", "Your appointment at {{clinic}} moved: {{when}}"},
            {"text",
             "Hello {{patient.first_name}}, your appointment with {{doctor.name}} at {{clinic}} "
             "moved to {{when}}.\n\nConfirm or cancel here: {{link}}\n\nThe updated "
             "appointment is attached for your calendar."},
            {"html",
             "<p>Hello {{patient.first_name}},</p><p>your appointment with "
             "<b>{{doctor.name}}</b> at {{clinic}} moved to <b>{{when}}</b>.</p><p><a "
             "href=\"{{link}}\">Confirm or cancel</a></p>"},
            {"whatsapp",
             "Hello {{patient.first_name}}, your appointment with {{doctor.name}} at {{clinic}} "
             "moved to {{when}}. Confirm or cancel here: {{link}}"}}},
          {"sample", sample}}},
        {"doctor_rescheduled",
         {{"es",
           {{"subject", "Cita movida: {{patient.first_name}} {{patient.last_name}}, {{when}}"},
            {"text",
             "{{doctor.name}}: la cita de {{patient.first_name}} {{patient.last_name}} en "
             "{{clinic}} se movió al {{when}}."},
            {"html",
             "<p>{{doctor.name}}:</p><p>la cita de <b>{{patient.first_name}} "
             "{{patient.last_name}}</b> en {{clinic}} se movió al <b>{{when}}</b>.</p>"}}},
          {"en",
           {{"subject",
             "Appointment moved: {{patient.first_name}} {{patient.last_name}}, {{when}}"},
            {"text",
             "{{doctor.name}}: the appointment of {{patient.first_name}} {{patient.last_name}} "
             "at {{clinic}} moved to {{when}}."},
            {"html",
             "<p>{{doctor.name}}:</p><p>the appointment of <b>{{patient.first_name}} "
             "{{patient.last_name}}</b> at {{clinic}} moved to <b>{{when}}</b>.</p>"}}},
          {"sample", sample}}}};
}

// ---------------------------------------------------------------- helpers

std::string text_of(const Json& object, const char* key) {
    if (!object.is_object()) return "";
    const auto found = object.find(key);
    return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

bool is_open(std::string_view status) {
    return status == "scheduled" || status == "confirmed";
}

/// The tenant's link-signing key, created on first use. INSERT … ON CONFLICT DO NOTHING then
/// SELECT: two instances creating it at once both read the one that won.
std::optional<std::string> stored_link_secret(const Context& ctx) {
    const Json stored =
        ctx.sql("SELECT secret FROM citas_secrets WHERE name = :name", {{"name", kLinkKeyName}});
    if (stored.empty()) return std::nullopt;
    return stored.at(0).at("secret").get<std::string>();
}

std::string link_secret(const Context& ctx) {
    if (auto stored = stored_link_secret(ctx)) return *stored;
    ctx.sql(
        "INSERT INTO citas_secrets (name, secret, created_at_ms) VALUES (:name, :secret, :at)"
        " ON CONFLICT (name) DO NOTHING",
        {{"name", kLinkKeyName}, {"secret", citas::random_secret_hex()}, {"at", ctx.now_ms()}});
    return ctx.sql("SELECT secret FROM citas_secrets WHERE name = :name", {{"name", kLinkKeyName}})
        .at(0)
        .at("secret")
        .get<std::string>();
}

/// The patient's confirm-or-cancel link, valid until the appointment starts.
std::string patient_link(const Context& ctx, const std::string& secret,
                         const std::string& appointment_id, int64_t start_ms) {
    std::string base = text_of(ctx.settings(), "public_base_url");
    while (!base.empty() && base.back() == '/') base.pop_back();
    const int64_t expiry = start_ms / 1000;
    const std::string tenant(ctx.tenant());
    return base + "/t/" + tenant + "/citas/a/" + appointment_id + "?e=" + std::to_string(expiry) +
           "&s=" + citas::link_signature(secret, tenant, appointment_id, expiry);
}

/// The page link plus the two action URLs, for the plugin's events (n8n may act for a patient
/// who phoned in): a link is path?query, so the actions cannot be derived by appending.
Json link_urls(const std::string& link) {
    const size_t query = link.find('?');
    const std::string path = link.substr(0, query);
    const std::string rest = query == std::string::npos ? "" : link.substr(query);
    return {{"link", link},
            {"confirm_url", path + "/confirm" + rest},
            {"cancel_url", path + "/cancel" + rest}};
}

std::string when_text(const Context& ctx, int64_t start_ms, const std::string& language) {
    const auto local = ctx.local_time(start_ms);
    return citas::describe_when(language, local.date, local.time, local.weekday);
}

std::vector<std::string> enabled_channels(const Json& settings) {
    std::vector<std::string> channels;
    const auto found = settings.find("channels");
    if (found == settings.end() || !found->is_array()) return {"email", "whatsapp"};
    for (const auto& channel : *found) {
        if (channel.is_string()) channels.push_back(channel.get<std::string>());
    }
    return channels;
}

/// Whether the patient can be written on `channel`: an address and consent. queue_message
/// refuses a patient without an address, and a message without consent would only be
/// suppressed later, so neither is queued.
bool reachable(const Json& patient, const std::string& channel) {
    const std::string address = text_of(patient, channel == "email" ? "email" : "phone");
    if (address.empty()) return false;
    const auto consent = patient.find("consent");
    return consent != patient.end() && consent->is_object() && consent->value(channel, false);
}

/// Collects per-item failures so that one patient's failure does not stop the others, and
/// fails the whole call at the end so that the host retries it (idempotency keys make the
/// retry send only what is missing).
class Failures {
public:
    template <class Work>
    void attempt(const Context& ctx, const std::string& what, Work&& work) {
        try {
            work();
        } catch (const std::exception& error) {
            ++count_;
            ctx.error(what + " failed: " + error.what());
        }
    }
    /// A failure reported rather than thrown (one message of a batch the host refused).
    void record(const Context& ctx, const std::string& what) {
        ++count_;
        ctx.error(what);
    }
    void throw_if_any(const std::string& summary) const {
        if (count_ > 0) throw std::runtime_error(std::to_string(count_) + " " + summary);
    }

private:
    int count_ = 0;
};

/// Adds the wall time of each step to a total, for the run's summary line: where a slow run
/// spends its time (records, outbox, bus) is what an operator needs to know.
class StepTimer {
public:
    template <class Work>
    auto time(Work&& work) {
        const auto started = std::chrono::steady_clock::now();
        struct AddOnExit {
            StepTimer& timer;
            std::chrono::steady_clock::time_point started;
            ~AddOnExit() { timer.total_ += std::chrono::steady_clock::now() - started; }
        } add{*this, started};
        return work();
    }
    long long milliseconds() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(total_).count();
    }

private:
    std::chrono::steady_clock::duration total_{};
};

struct Appointment {
    std::string id, patient_id, doctor_id, status;
    int64_t start_ms = 0, end_ms = 0;
};

std::optional<Appointment> read_appointment(const Json& data) {
    Appointment appointment{text_of(data, "id"), text_of(data, "patient_id"),
                            text_of(data, "doctor_id"), text_of(data, "status")};
    const auto start = miconsul::calendar::parse_utc_ms(text_of(data, "start"));
    const auto end = miconsul::calendar::parse_utc_ms(text_of(data, "end"));
    if (appointment.id.empty() || appointment.patient_id.empty() || !start) return std::nullopt;
    appointment.start_ms = *start;
    appointment.end_ms = end ? *end : *start + 30 * 60 * 1000;
    return appointment;
}

/// Queues one message; true when it is new (not a duplicate of an earlier delivery).
bool queue(const Context& ctx, const Json& message) {
    return !ctx.queue_message(message).value("duplicate", false);
}

// ---------------------------------------------------------------- booking

// What a booking's messages announce: the booking itself, or that it moved to a new start.
enum class Notice { booked, moved };

void confirm_booking(const Context& ctx, const Json& data, Notice notice = Notice::booked) {
    const Json& settings = ctx.settings();
    const auto appointment = read_appointment(data);
    if (!appointment) {
        ctx.warn("an appointment event without id, patient_id or a readable start; ignored");
        return;
    }
    const bool moved = notice == Notice::moved;
    // A move is announced once per new start: moved twice, it is announced twice.
    const std::string key_suffix = moved ? "-" + text_of(data, "start") : "";
    // A bulk import of past appointments, or one booked already cancelled, messages no one.
    if (!is_open(appointment->status) || appointment->start_ms <= ctx.now_ms()) return;
    const bool confirm_patient = settings.value("confirmation_enabled", true);
    const bool notify_doctor = settings.value("notify_doctor", true);
    if (!confirm_patient && !notify_doctor) return;

    const Json doctor = ctx.doctor(appointment->doctor_id);
    const std::string doctor_name = text_of(doctor, "name");
    std::vector<std::string> sent;
    bool doctor_notified = false;
    std::string patient_link_text;
    Failures failures;

    if (confirm_patient) {
        const Json patient = ctx.patient(appointment->patient_id);
        const std::string language = ctx.message_language(text_of(patient, "language"));
        const std::string when = when_text(ctx, appointment->start_ms, language);
        const std::string link =
            patient_link(ctx, link_secret(ctx), appointment->id, appointment->start_ms);
        patient_link_text = link;
        for (const std::string& channel : enabled_channels(settings)) {
            if (!reachable(patient, channel)) continue;
            Json message = {
                {"channel", channel},
                {"template", moved ? "rescheduled" : "confirmation"},
                {"patient_id", appointment->patient_id},
                {"language", language},
                {"data", {{"when", when}, {"doctor", {{"name", doctor_name}}}, {"link", link}}},
                {"idempotency_key", (moved ? "rescheduled-" : "confirmation-") + channel + "-" +
                                        appointment->id + key_suffix}};
            if (channel == "email") {
                const bool english = language == "en";
                citas::CalendarEvent event;
                event.uid = appointment->id + "@miconsul";
                event.stamp_ms = ctx.now_ms();
                event.start_ms = appointment->start_ms;
                event.end_ms = appointment->end_ms;
                event.summary = (english ? "Appointment with " : "Cita con ") + doctor_name;
                event.description =
                    (english ? "Confirm or cancel: " : "Confirme o cancele: ") + link;
                event.location = text_of(settings, "location");
                // Seconds since 2020: grows with every move, so the calendar takes the update.
                if (moved) event.sequence = ctx.now_ms() / 1000 - 1577836800;
                message["attachments"] = Json::array({miconsul::attachment(
                    "cita.ics", "text/calendar; method=PUBLISH", citas::build_ics(event))});
            }
            failures.attempt(ctx, "confirmation by " + channel + " for " + appointment->id, [&] {
                if (queue(ctx, message)) sent.push_back(channel);
            });
        }
    }

    const std::string doctor_email = text_of(doctor, "email");
    if (notify_doctor && !doctor_email.empty()) {
        failures.attempt(ctx, "doctor notice for " + appointment->id, [&] {
            const Json patient = ctx.patient(appointment->patient_id);
            // No patient_id: the doctor is not a patient, so no consent applies.
            doctor_notified = queue(
                ctx, {{"channel", "email"},
                      {"template", moved ? "doctor_rescheduled" : "doctor_notice"},
                      {"to", doctor_email},
                      {"data",
                       {{"when", when_text(ctx, appointment->start_ms, ctx.message_language(""))},
                        {"doctor", {{"name", doctor_name}}},
                        {"patient",
                         {{"first_name", text_of(patient, "first_name")},
                          {"last_name", text_of(patient, "last_name")}}}}},
                      {"idempotency_key", (moved ? "doctor-moved-" : "doctor-notice-") +
                                              appointment->id + key_suffix}});
        });
    }

    if (!sent.empty() || doctor_notified) {
        Json data = {{"appointment_id", appointment->id},
                     {"patient_id", appointment->patient_id},
                     {"channels", sent},
                     {"doctor_notified", doctor_notified},
                     {"rescheduled", moved}};
        if (!patient_link_text.empty()) data.update(link_urls(patient_link_text));
        ctx.publish("citas.confirmation_sent", data);
    }
    failures.throw_if_any("message(s) of the booking could not be queued; will retry");
}

/// appointment.updated: a new start is announced like a booking, with the calendar entry
/// replaced; other changes (notes, a confirmation, a cancellation) send nothing from here.
void confirm_move(const Context& ctx, const Json& data) {
    if (!data.is_object() || !data.contains("appointment") || !data.contains("previous")) return;
    if (text_of(data["appointment"], "start") == text_of(data["previous"], "start")) return;
    confirm_booking(ctx, data["appointment"], Notice::moved);
}

// ---------------------------------------------------------------- reminders

void send_reminders(const Context& ctx) {
    const Json& settings = ctx.settings();
    if (!settings.value("reminders_enabled", true)) return;
    const int lead_days = settings.value("lead_days", 1);
    // Every day from tomorrow through lead_days ahead, not only the last: an appointment booked
    // closer than lead_days, or one a raised lead time jumped over, is still reminded — once,
    // since the key names the appointment and its start.
    const std::string today = ctx.local_now().date;
    Json appointments = Json::array();
    std::string day_range;
    for (int ahead = 1; ahead <= lead_days; ++ahead) {
        const auto day = miconsul::calendar::add_days(today, ahead);
        if (!day) throw std::runtime_error("the run's local date could not be read");
        for (auto& appointment : ctx.appointments_on(*day)) {
            appointments.push_back(std::move(appointment));
        }
        day_range = ahead == 1 ? *day : day_range.substr(0, 10) + ".." + *day;
    }
    std::map<std::string, std::string> doctor_names;
    for (const auto& doctor : ctx.doctors()) {
        doctor_names[text_of(doctor, "id")] = text_of(doctor, "name");
    }
    const std::string secret = link_secret(ctx);
    const std::vector<std::string> channels = enabled_channels(settings);
    int reminded = 0;
    Failures failures;
    StepTimer reading, queueing, publishing;
    // In chunks: each chunk's messages are stored in one transaction and its events in
    // another, instead of one per call (10,000 appointments made 30,000 transactions).
    constexpr size_t kChunk = 250;
    for (size_t first = 0; first < appointments.size(); first += kChunk) {
        const size_t last = std::min(appointments.size(), first + kChunk);
        Json batch = Json::array();
        struct Pending {
            Appointment appointment;
            std::string start, link;
            std::vector<std::pair<size_t, std::string>> messages;  // batch index, channel
        };
        std::vector<Pending> pending;
        for (size_t i = first; i < last; ++i) {
            const Json& data = appointments[i];
            const auto appointment = read_appointment(data);
            // Never for a cancelled or finished one, nor one that has begun (a late manual run).
            if (!appointment || !is_open(appointment->status) ||
                appointment->start_ms <= ctx.now_ms()) {
                continue;
            }
            failures.attempt(ctx, "reminder for " + appointment->id, [&] {
                const Json patient =
                    reading.time([&] { return ctx.patient(appointment->patient_id); });
                const std::string language = ctx.message_language(text_of(patient, "language"));
                const std::string when = when_text(ctx, appointment->start_ms, language);
                Pending entry{*appointment,
                              text_of(data, "start"),
                              patient_link(ctx, secret, appointment->id, appointment->start_ms),
                              {}};
                for (const std::string& channel : channels) {
                    if (!reachable(patient, channel)) continue;
                    // The start is in the key: a rescheduled appointment is reminded again.
                    entry.messages.emplace_back(batch.size(), channel);
                    batch.push_back({{"channel", channel},
                                     {"template", "reminder"},
                                     {"patient_id", appointment->patient_id},
                                     {"language", language},
                                     {"data",
                                      {{"when", when},
                                       {"doctor", {{"name", doctor_names[appointment->doctor_id]}}},
                                       {"link", entry.link}}},
                                     {"idempotency_key", "reminder-" + channel + "-" +
                                                             appointment->id + "-" + entry.start}});
                }
                pending.push_back(std::move(entry));
            });
        }
        if (batch.empty()) continue;
        failures.attempt(
            ctx,
            "reminders " + std::to_string(first + 1) + "-" + std::to_string(last) + " of the run",
            [&] {
                const Json results = queueing.time([&] { return ctx.queue_messages(batch); });
                Json events = Json::array();
                for (const auto& entry : pending) {
                    std::vector<std::string> sent;
                    for (const auto& [index, channel] : entry.messages) {
                        const Json& result = results.at(index);
                        if (result.contains("error")) {
                            failures.record(
                                ctx, "reminder by " + channel + " for " + entry.appointment.id +
                                         " failed: " + result.value("error", "refused"));
                        } else if (!result.value("duplicate", false)) {
                            sent.push_back(channel);
                        }
                    }
                    if (sent.empty()) continue;
                    ++reminded;
                    Json event = {{"appointment_id", entry.appointment.id},
                                  {"patient_id", entry.appointment.patient_id},
                                  {"start", entry.start},
                                  {"channels", sent}};
                    event.update(link_urls(entry.link));
                    events.push_back({{"type", "citas.reminder_sent"}, {"data", event}});
                }
                if (!events.empty()) publishing.time([&] { return ctx.publish_many(events); });
            });
    }
    ctx.info("reminders for " + day_range + ": " + std::to_string(reminded) +
             " appointment(s) of " + std::to_string(appointments.size()) + "; patients " +
             std::to_string(reading.milliseconds()) + " ms, queueing " +
             std::to_string(queueing.milliseconds()) + " ms, events " +
             std::to_string(publishing.milliseconds()) + " ms");
    failures.throw_if_any("reminder(s) could not be queued; the run will retry them");
}

// ---------------------------------------------------------------- the patient's link

struct Link {
    Json appointment;  // as records answer it: id, doctor_id, start, status
    std::string expiry, signature;
};

/// Checks the link's signature, then its expiry, then finds the appointment. GET and POST
/// share it: the page shows nothing to a forged link.
Link verify_link(const Context& ctx, const Request& request) {
    const std::string id(request.param("id"));
    const std::string expiry_text(request.query("e").value_or(""));
    const std::string signature(request.query("s").value_or(""));
    const auto expiry = citas::parse_expiry(expiry_text);
    if (!expiry || signature.empty()) {
        throw HttpError(403, "the link is incomplete or malformed");
    }
    // Read only: a forged link must not even create the key (no key yet: no link is valid).
    const auto secret = stored_link_secret(ctx);
    if (!secret || !citas::signature_matches(
                       citas::link_signature(*secret, ctx.tenant(), id, *expiry), signature)) {
        throw HttpError(403, "the link's signature is not valid");
    }
    if (ctx.now_ms() / 1000 >= *expiry) throw HttpError(410, "the link has expired");
    const Json appointment = ctx.appointment(id);
    if (appointment.is_null()) throw HttpError(404, "no such appointment");
    const auto start = miconsul::calendar::parse_utc_ms(text_of(appointment, "start"));
    if (!start || *start <= ctx.now_ms()) throw HttpError(410, "the appointment has started");
    return {appointment, expiry_text, signature};
}

std::string status_es(std::string_view status) {
    if (status == "scheduled") return "agendada";
    if (status == "confirmed") return "confirmada";
    if (status == "cancelled") return "cancelada";
    if (status == "completed") return "realizada";
    return "no asistió";
}

Response html_page(const std::string& title, const std::string& body_html, int status = 200) {
    return Response{status,
                    {{"Content-Type", "text/html; charset=utf-8"}},
                    "<!doctype html><html lang=\"es\"><head><meta charset=\"utf-8\"><meta "
                    "name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" +
                        citas::html_escape(title) + "</title></head><body><h1>" +
                        citas::html_escape(title) + "</h1>" + body_html + "</body></html>"};
}

std::string appointment_summary_html(const Context& ctx, const Json& row) {
    const auto start = miconsul::calendar::parse_utc_ms(text_of(row, "start"));
    const Json doctor = ctx.doctor(text_of(row, "doctor_id"));
    return "<p>Cita con <b>" + citas::html_escape(text_of(doctor, "name")) + "</b> el <b>" +
           citas::html_escape(start ? when_text(ctx, *start, "es") : "") +
           "</b>.</p><p>Estado: " + citas::html_escape(status_es(text_of(row, "status"))) + "</p>";
}

// GET: shows the appointment and two forms. It changes nothing: mail scanners fetch links.
Response show_link(Context& ctx, const Request& request) {
    const Link link = verify_link(ctx, request);
    const std::string status = text_of(link.appointment, "status");
    const std::string query =
        "?e=" + citas::html_escape(link.expiry) + "&amp;s=" + citas::html_escape(link.signature);
    const std::string base = citas::html_escape(std::string(request.path()));
    std::string body = appointment_summary_html(ctx, link.appointment);
    if (is_open(status)) {
        if (status != "confirmed") {
            body += "<form method=\"post\" action=\"" + base + "/confirm" + query +
                    "\"><button type=\"submit\">Confirmar mi cita</button></form>";
        }
        body += "<form method=\"post\" action=\"" + base + "/cancel" + query +
                "\"><button type=\"submit\">Cancelar mi cita</button></form>";
    }
    return html_page("Su cita", body);
}

/// JSON for scripts (n8n), HTML for people: `Accept: application/json`, or `?format=json` for
/// clients that cannot set headers.
bool wants_json(const Request& request) {
    return request.query("format") == "json" ||
           request.header("accept").find("application/json") != std::string_view::npos;
}

// POST confirm / cancel: the only requests that change the appointment.
Response answer_link(Context& ctx, const Request& request, const std::string& wanted) {
    const Link link = verify_link(ctx, request);
    const std::string id = text_of(link.appointment, "id");
    const std::string status = text_of(link.appointment, "status");
    if (wanted == "confirmed" && status == "cancelled") {
        throw HttpError(409, "the appointment is cancelled; book another one");
    }
    if (!is_open(status) && status != "cancelled") {
        throw HttpError(409, "the appointment is " + status + " and can no longer change");
    }
    Json changed = link.appointment;
    if (status != wanted) {  // a second click answers the same page and changes nothing
        try {
            // Only from the status just shown: staff cancelling meanwhile wins over a late
            // "confirm", rather than the confirm reviving what they cancelled.
            changed = ctx.set_appointment_status(id, wanted, {status});
        } catch (const HostError& refusal) {
            if (refusal.status() == MC_ERR_NOT_FOUND) throw HttpError(404, "no such appointment");
            if (refusal.status() == MC_ERR_CONFLICT ||
                refusal.status() == MC_ERR_INVALID_ARGUMENT) {
                throw HttpError(409, refusal.what());
            }
            throw;
        }
        ctx.publish(
            wanted == "confirmed" ? "citas.confirmed_by_patient" : "citas.cancelled_by_patient",
            {{"appointment_id", id}, {"patient_id", text_of(link.appointment, "patient_id")}});
    }
    if (wants_json(request)) {
        return Response::json({{"appointment_id", id}, {"status", wanted}});
    }
    Json row = link.appointment;
    row["status"] = wanted;
    return html_page(wanted == "confirmed" ? "Cita confirmada" : "Cita cancelada",
                     appointment_summary_html(ctx, row) + "<p>Gracias.</p>");
}

// ---------------------------------------------------------------- the plugin

class CitasPlugin final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "citas";
        manifest.version = "1.0.0";
        manifest.scope = "tenant";
        manifest.description =
            "Appointments: confirmation when booked, a reminder before the day, a signed link to "
            "confirm or cancel.";
        manifest.settings_schema = settings_schema();
        manifest.migrations = {{1, "link signing key",
                                "CREATE TABLE citas_secrets ("
                                " name TEXT PRIMARY KEY,"
                                " secret TEXT NOT NULL,"
                                " created_at_ms BIGINT NOT NULL)"}};
        manifest.events_emitted = {"citas.confirmation_sent", "citas.reminder_sent",
                                   "citas.confirmed_by_patient", "citas.cancelled_by_patient"};
        manifest.templates = message_templates();
        return manifest;
    }

    void register_with(miconsul::Registrar& registrar) override {
        registrar.on_event(
            "confirm-booking", "appointment.created",
            [](Context& ctx, const miconsul::Event& event) { confirm_booking(ctx, event.data); });
        registrar.on_event(
            "confirm-move", "appointment.updated",
            [](Context& ctx, const miconsul::Event& event) { confirm_move(ctx, event.data); });
        registrar.schedule("reminders", "0 {reminder_hour} * * *", &send_reminders,
                           {.misfire = "run_once",
                            .misfire_grace_seconds = 3600,
                            .timeout_seconds = 1800,
                            .max_attempts = 5});
        registrar.route("GET", "/a/{id}", &show_link, MC_ACCESS_PUBLIC);
        registrar.route(
            "POST", "/a/{id}/confirm",
            [](Context& ctx, const Request& request) {
                return answer_link(ctx, request, "confirmed");
            },
            MC_ACCESS_PUBLIC);
        registrar.route(
            "POST", "/a/{id}/cancel",
            [](Context& ctx, const Request& request) {
                return answer_link(ctx, request, "cancelled");
            },
            MC_ACCESS_PUBLIC);
    }
};

}  // namespace

MICONSUL_PLUGIN(CitasPlugin)
