// fidelizacion — Loyalty: a welcome on a patient's first payment, birthday greetings with a
// discount code the clinic's system looks up and redeems.
//
// Everything here runs at least once: events are redelivered, runs are retried and re-fired.
// What keeps each fact single is, in this order, the plugin's own UNIQUE constraints (one
// welcome per patient, one birthday code per patient and year), then queue_message's
// idempotency keys (one message per patient, channel and occasion).
#include <miconsul/calendar.hpp>
#include <miconsul/plugin.hpp>

#include "loyalty.hpp"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace {

using miconsul::Context;
using miconsul::HttpError;
using miconsul::Json;
using miconsul::Request;
using miconsul::Response;

constexpr const char* kChannels[] = {"email", "whatsapp"};
constexpr int kCodeAttempts = 8;
constexpr size_t kMaxReferenceLength = 200;

Json settings_schema() {
    return {{"type", "object"},
            {"additionalProperties", false},
            {"properties",
             {{"birthday_hour",
               {{"type", "integer"},
                {"minimum", 0},
                {"maximum", 23},
                {"default", 8},
                {"description", "Local hour at which birthday greetings are queued."}}},
              {"channels",
               {{"type", "array"},
                {"items", {{"enum", Json::array({"email", "whatsapp"})}}},
                {"maxItems", 2},
                {"default", Json::array({"email", "whatsapp"})},
                {"description",
                 "Channels the plugin may use; each also needs the patient's "
                 "address and consent."}}},
              {"welcome_enabled", {{"type", "boolean"}, {"default", true}}},
              {"birthday_enabled", {{"type", "boolean"}, {"default", true}}},
              {"discount_percent",
               {{"type", "integer"}, {"minimum", 1}, {"maximum", 100}, {"default", 15}}},
              {"discount_valid_days",
               {{"type", "integer"}, {"minimum", 1}, {"maximum", 365}, {"default", 30}}},
              {"templates", {{"type", "object"}, {"default", Json::object()}}}}}};
}

Json message_templates() {
    return {
        {"welcome",
         {{"es",
           {{"subject", "¡Le damos la bienvenida a {{clinic}}, {{patient.first_name}}!"},
            {"text",
             "Hola {{patient.first_name}}:\n\nGracias por confiar en {{clinic}}. Recibimos su "
             "primer pago de {{amount}}.\nEstamos para servirle; responda a este mensaje si "
             "tiene cualquier duda.\n\n{{clinic}}"},
            {"html",
             "<p>Hola <b>{{patient.first_name}}</b>:</p><p>Gracias por confiar en {{clinic}}. "
             "Recibimos su primer pago de {{amount}}.</p><p>Estamos para servirle; responda a "
             "este mensaje si tiene cualquier duda.</p><p>{{clinic}}</p>"},
            {"whatsapp",
             "Hola {{patient.first_name}}, gracias por confiar en {{clinic}}. Recibimos su "
             "primer pago de {{amount}}. ¡Le damos la bienvenida!"}}},
          {"en",
           {{"subject", "Welcome to {{clinic}}, {{patient.first_name}}!"},
            {"text",
             "Hello {{patient.first_name}},\n\nThank you for choosing {{clinic}}. We received "
             "your first payment of {{amount}}.\nReply to this message with any question.\n\n"
             "{{clinic}}"},
            {"html",
             "<p>Hello <b>{{patient.first_name}}</b>,</p><p>Thank you for choosing {{clinic}}. "
             "We received your first payment of {{amount}}.</p><p>Reply to this message with "
             "any question.</p><p>{{clinic}}</p>"},
            {"whatsapp",
             "Hello {{patient.first_name}}, thank you for choosing {{clinic}}. We received your "
             "first payment of {{amount}}. Welcome!"}}},
          {"sample",
           {{"patient", {{"first_name", "Ana"}}},
            {"clinic", "Clínica Sol"},
            {"amount", "$1,234.50"}}}}},
        {"birthday",
         {{"es",
           {{"subject", "¡Feliz cumpleaños, {{patient.first_name}}!"},
            {"text",
             "¡Feliz cumpleaños, {{patient.first_name}}!\n\nEn {{clinic}} queremos celebrarlo "
             "con usted: presente el código {{code}} y obtenga {{percent}}% de descuento en su "
             "próxima consulta. Válido hasta el {{valid_until}}.\n\n{{clinic}}"},
            {"html",
             "<p>¡Feliz cumpleaños, <b>{{patient.first_name}}</b>!</p><p>En {{clinic}} queremos "
             "celebrarlo con usted: presente el código <b>{{code}}</b> y obtenga {{percent}}% "
             "de descuento en su próxima consulta.</p><p>Válido hasta el {{valid_until}}.</p>"
             "<p>{{clinic}}</p>"},
            {"whatsapp",
             "¡Feliz cumpleaños, {{patient.first_name}}! 🎂 En {{clinic}} le regalamos "
             "{{percent}}% de descuento en su próxima consulta con el código {{code}}, válido "
             "hasta el {{valid_until}}."}}},
          {"en",
           {{"subject", "Happy birthday, {{patient.first_name}}!"},
            {"text",
             "Happy birthday, {{patient.first_name}}!\n\n{{clinic}} would like to celebrate "
             "with you: show the code {{code}} for {{percent}}% off your next visit. Valid "
             "until {{valid_until}}.\n\n{{clinic}}"},
            {"html",
             "<p>Happy birthday, <b>{{patient.first_name}}</b>!</p><p>{{clinic}} would like to "
             "celebrate with you: show the code <b>{{code}}</b> for {{percent}}% off your next "
             "visit.</p><p>Valid until {{valid_until}}.</p><p>{{clinic}}</p>"},
            {"whatsapp",
             "Happy birthday, {{patient.first_name}}! 🎂 {{clinic}} gives you {{percent}}% off "
             "your next visit with the code {{code}}, valid until {{valid_until}}."}}},
          {"sample",
           {{"patient", {{"first_name", "Ana"}}},
            {"clinic", "Clínica Sol"},
            {"code", "CUMPLE-7K3M9Q"},
            {"percent", 15},
            {"valid_until", "30 de diciembre de 2026"}}}}}};
}

/// Channels a message to this patient may use: allowed by the clinic's settings, and the
/// patient has an address for it and consented to it. The outbox re-checks consent when it
/// sends; checking here too keeps messages that could only be suppressed out of the outbox.
std::vector<std::string> channels_for(const Context& context, const Json& patient) {
    const Json allowed = context.settings().value("channels", Json::array({"email", "whatsapp"}));
    const Json consent = patient.value("consent", Json::object());
    std::vector<std::string> channels;
    for (const std::string channel : kChannels) {
        if (std::find(allowed.begin(), allowed.end(), channel) == allowed.end()) continue;
        const Json address = patient.value(channel == "email" ? "email" : "phone", Json());
        if (!address.is_string() || address.get<std::string>().empty()) continue;
        if (!consent.is_object() || !consent.value(channel, false)) continue;
        channels.push_back(channel);
    }
    return channels;
}

std::string joined(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : ",") + item;
    return text;
}

Json split(const Json& text) {
    Json items = Json::array();
    if (!text.is_string()) return items;
    std::string rest = text.get<std::string>();
    while (!rest.empty()) {
        const size_t comma = rest.find(',');
        items.push_back(rest.substr(0, comma));
        rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    }
    return items;
}

Json utc_or_null(const Json& unix_ms) {
    return unix_ms.is_number_integer()
               ? Json(miconsul::calendar::format_utc(unix_ms.get<int64_t>()))
               : Json(nullptr);
}

std::string local_today(const Context& context) {
    return context.local_time(context.now_ms()).date;
}

// ---------------------------------------------------------------------------------------------
// Welcome on the first payment

void welcome_on_first_payment(Context& context, const miconsul::Event& event) {
    if (!context.settings().value("welcome_enabled", true)) return;
    // The event's data is the payment itself plus first_for_patient (docs/records.md).
    if (!event.data.value("first_for_patient", false)) return;
    const Json& payment = event.data;
    const std::string payment_id = payment.value("id", "");
    const std::string patient_id = payment.value("patient_id", "");
    if (payment_id.empty() || patient_id.empty()) {
        context.warn("payment.received without id or patient_id; no welcome");
        return;
    }
    // The same payment sent twice by the legacy system is two payment records; should both
    // claim to be first (two transactions at once), only the patient's earliest one counts.
    const Json first = context.first_payment(patient_id);
    if (!first.is_object() || first.value("id", "") != payment_id) {
        context.info("payment " + payment_id + " is not the patient's first; no welcome");
        return;
    }
    // The claim: one welcome per patient, whichever payment or delivery comes first.
    context.sql(
        "INSERT INTO fidelizacion_entries (patient_id, kind, reference, created_at_ms)"
        " VALUES (:patient, 'welcome', :payment, :now) ON CONFLICT DO NOTHING",
        {{"patient", patient_id}, {"payment", payment_id}, {"now", context.now_ms()}});
    const Json entry = context.sql(
        "SELECT reference, announced_at_ms FROM fidelizacion_entries"
        " WHERE patient_id = :patient AND kind = 'welcome'",
        {{"patient", patient_id}});
    if (entry.empty() || entry[0].value("reference", "") != payment_id) {
        context.info("patient " + patient_id + " was welcomed for another payment already");
        return;
    }
    // Finished before (this is a redelivery): done, even if the patient's consent changed since.
    if (!entry[0]["announced_at_ms"].is_null()) return;
    const Json patient = context.patient(patient_id);
    if (!patient.is_object()) throw std::runtime_error("patient " + patient_id + " not found");

    // A redelivery after a crash gets here again: the keys make the queueing a no-op then.
    const std::vector<std::string> channels = channels_for(context, patient);
    const std::string amount = fidelizacion::format_amount(
        payment.value("amount_cents", int64_t{0}), payment.value("currency", "MXN"));
    for (const auto& channel : channels) {
        context.queue_message({{"channel", channel},
                               {"template", "welcome"},
                               {"patient_id", patient_id},
                               {"data", {{"amount", amount}}},
                               {"idempotency_key", "welcome-" + channel + "-" + patient_id}});
    }
    // Announced at least once: a crash between publish and the UPDATE publishes again.
    if (!channels.empty()) {
        context.publish(
            "fidelizacion.welcome_sent",
            {{"patient_id", patient_id}, {"payment_id", payment_id}, {"channels", channels}});
    }
    context.sql(
        "UPDATE fidelizacion_entries SET announced_at_ms = :now, channels = :channels"
        " WHERE patient_id = :patient AND kind = 'welcome'",
        {{"now", context.now_ms()}, {"channels", joined(channels)}, {"patient", patient_id}});
}

// ---------------------------------------------------------------------------------------------
// Birthdays

struct IssuedCode {
    std::string code;
    int percent = 0;
    std::string valid_until;
    bool announced = false;
};

IssuedCode issued_from_row(const Json& row) {
    return {row.at("code").get<std::string>(), row.at("percent").get<int>(),
            row.at("valid_until").get<std::string>(), !row["announced_at_ms"].is_null()};
}

/// The patient's code for the year: the one issued already (a re-fired or retried run), else a
/// new one. The UNIQUE (patient_id, birthday_year) makes two overlapping runs agree on one code;
/// a clash on the code itself (another patient's) is retried with a fresh one.
IssuedCode code_for(const Context& context, std::random_device& random,
                    const std::string& patient_id, int year, const std::string& today) {
    const Json params_base = {{"patient", patient_id}, {"year", year}};
    const Json& settings = context.settings();
    const int percent = settings.value("discount_percent", 15);
    const int valid_days = settings.value("discount_valid_days", 30);
    // Valid for `valid_days` days counting the birthday: 30 days from 1 December end on the 30th.
    const std::string valid_until =
        miconsul::calendar::add_days(today, valid_days - 1).value_or(today);
    for (int attempt = 0; attempt < kCodeAttempts; ++attempt) {
        const std::string code =
            fidelizacion::make_code(fidelizacion::kBirthdayCodePrefix, [&] { return random(); });
        context.sql(
            "INSERT INTO fidelizacion_codes (code, patient_id, birthday_year, percent, issued_on,"
            " valid_until, issued_at_ms) VALUES (:code, :patient, :year, :percent, :today,"
            " :valid_until, :now) ON CONFLICT DO NOTHING",
            {{"code", code},
             {"patient", patient_id},
             {"year", year},
             {"percent", percent},
             {"today", today},
             {"valid_until", valid_until},
             {"now", context.now_ms()}});
        const Json rows = context.sql(
            "SELECT code, percent, valid_until, announced_at_ms FROM fidelizacion_codes"
            " WHERE patient_id = :patient AND birthday_year = :year",
            params_base);
        if (!rows.empty()) return issued_from_row(rows[0]);
    }
    throw std::runtime_error("could not find a free code in " + std::to_string(kCodeAttempts) +
                             " attempts");
}

void greet_birthday(const Context& context, std::random_device& random, const Json& patient,
                    int year, const std::string& today, const Json& codes_issued_today) {
    const std::string patient_id = patient.at("id").get<std::string>();
    const auto issued_row = codes_issued_today.find(patient_id);
    const IssuedCode issued = issued_row != codes_issued_today.end()
                                  ? issued_from_row(*issued_row)
                                  : code_for(context, random, patient_id, year, today);
    // Greeted in full by an earlier run (announced comes last): nothing to redo.
    if (issued.announced) return;
    const std::vector<std::string> channels = channels_for(context, patient);
    const std::string language = context.message_language(patient.value("language", ""));
    const Json data = {
        {"code", issued.code},
        {"percent", issued.percent},
        {"valid_until", fidelizacion::format_long_date(issued.valid_until, language)}};
    for (const auto& channel : channels) {
        context.queue_message({{"channel", channel},
                               {"template", "birthday"},
                               {"patient_id", patient_id},
                               {"language", language},
                               {"data", data},
                               {"idempotency_key", "birthday-" + channel + "-" + patient_id + "-" +
                                                       std::to_string(year)}});
    }
    // Announced at least once: a crash between publish and the UPDATE publishes again.
    context.publish("fidelizacion.code_issued", {{"code", issued.code},
                                                 {"patient_id", patient_id},
                                                 {"percent", issued.percent},
                                                 {"valid_until", issued.valid_until},
                                                 {"channels", channels}});
    context.sql(
        "UPDATE fidelizacion_codes SET announced_at_ms = :now, channels = :channels"
        " WHERE code = :code",
        {{"now", context.now_ms()}, {"channels", joined(channels)}, {"code", issued.code}});
}

void greet_birthdays(Context& context) {
    if (!context.settings().value("birthday_enabled", true)) {
        context.info("birthday greetings are off in this clinic's settings");
        return;
    }
    // The run's local date (an as_of run is about its as_of day), never the system clock's.
    const std::string today = context.local_now().date;
    const int year = std::stoi(today.substr(0, 4));
    const Json answer = context.birthdays_on(today);
    const Json patients = answer.is_array() ? answer : answer.value("items", Json::array());

    // Codes already issued today (a re-fired run), read at once rather than one query each.
    Json codes_issued_today = Json::object();
    for (const auto& row :
         context.sql("SELECT patient_id, code, percent, valid_until, announced_at_ms"
                     " FROM fidelizacion_codes WHERE issued_on = :today AND birthday_year = :year",
                     {{"today", today}, {"year", year}})) {
        codes_issued_today[row.at("patient_id").get<std::string>()] = row;
    }

    std::random_device random;
    size_t failures = 0;
    std::string first_failure;
    for (const auto& patient : patients) {
        try {
            greet_birthday(context, random, patient, year, today, codes_issued_today);
        } catch (const std::exception& error) {
            // One patient's problem (a tenant's broken template, a bad record) must not cost
            // the others their greeting; the run fails at the end and is retried.
            ++failures;
            if (first_failure.empty()) first_failure = error.what();
            context.error("birthday greeting failed for patient " + patient.value("id", "?") +
                          ": " + error.what());
        }
    }
    context.info("birthdays of " + today + ": " + std::to_string(patients.size()) + " patients, " +
                 std::to_string(failures) + " failed");
    if (failures > 0) {
        throw std::runtime_error(std::to_string(failures) + " of " +
                                 std::to_string(patients.size()) +
                                 " birthday greetings failed; first: " + first_failure);
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

Response problem(int status, const std::string& detail, const Json& extra = Json::object()) {
    Json body = {
        {"type", "about:blank"}, {"title", "Client Error"}, {"status", status}, {"detail", detail}};
    body.update(extra);
    return Response{status, {{"Content-Type", "application/problem+json"}}, body.dump()};
}

Json code_json(const Json& row, const std::string& today) {
    const bool redeemed = !row["redeemed_at_ms"].is_null();
    const std::string valid_until = row.at("valid_until").get<std::string>();
    return {{"code", row.at("code")},
            {"patient_id", row.at("patient_id")},
            {"percent", row.at("percent")},
            {"issued_on", row.at("issued_on")},
            {"valid_until", valid_until},
            {"status", fidelizacion::code_status(redeemed, valid_until, today)},
            {"channels", split(row["channels"])},
            {"redeemed_at", utc_or_null(row["redeemed_at_ms"])},
            {"reference", row["redeemed_reference"]}};
}

constexpr const char* kCodeColumns =
    "SELECT code, patient_id, percent, issued_on, valid_until, channels, redeemed_at_ms,"
    " redeemed_reference FROM fidelizacion_codes";

/// The stored code row, or a 404 for a code that does not exist (or could not be one).
Json find_code(const Context& context, std::string_view text) {
    const auto code = fidelizacion::normalize_code(text);
    if (code) {
        const Json rows =
            context.sql(std::string(kCodeColumns) + " WHERE code = :code", {{"code", *code}});
        if (!rows.empty()) return rows[0];
    }
    throw HttpError(404, "no code '" + std::string(text.substr(0, 40)) + "'");
}

/// The optional redeem body: nothing, or {"reference": "ticket 123"}.
Json reference_from(const Request& request) {
    const std::string_view body = request.body();
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return nullptr;
    const Json parsed = request.json();  // not JSON → 400
    if (!parsed.is_object()) throw HttpError(400, "body must be {\"reference\": \"…\"} or empty");
    for (const auto& [key, value] : parsed.items()) {
        if (key != "reference") throw HttpError(400, "unknown field '" + key + "'");
    }
    if (!parsed.contains("reference") || parsed["reference"].is_null()) return nullptr;
    if (!parsed["reference"].is_string() || parsed["reference"].get<std::string>().empty() ||
        parsed["reference"].get<std::string>().size() > kMaxReferenceLength) {
        throw HttpError(400, "reference must be a string of 1 to 200 characters");
    }
    return parsed["reference"];
}

Response redeem(Context& context, const Request& request) {
    const Json reference = reference_from(request);
    const Json row = find_code(context, request.param("code"));
    const std::string code = row.at("code").get<std::string>();
    const std::string today = local_today(context);
    const int64_t now = context.now_ms();
    // Atomic: of two redeems at once, the database lets exactly one change the row.
    const Json changed = context.sql(
        "UPDATE fidelizacion_codes SET redeemed_at_ms = :now, redeemed_reference = :reference"
        " WHERE code = :code AND redeemed_at_ms IS NULL AND valid_until >= :today",
        {{"now", now}, {"reference", reference}, {"code", code}, {"today", today}});
    const Json current =
        context.sql(std::string(kCodeColumns) + " WHERE code = :code", {{"code", code}}).at(0);
    const Json answer = code_json(current, today);
    if (changed.value("affected_rows", 0) == 1) {
        context.publish("fidelizacion.code_redeemed", {{"code", code},
                                                       {"patient_id", answer["patient_id"]},
                                                       {"percent", answer["percent"]},
                                                       {"reference", reference},
                                                       {"redeemed_at", answer["redeemed_at"]}});
        context.info("code " + code + " redeemed");
        return Response::json(answer);
    }
    if (answer["status"] == "redeemed") {
        return problem(
            409,
            "the code " + code + " was already redeemed at " +
                answer["redeemed_at"].get<std::string>(),
            {{"redeemed_at", answer["redeemed_at"]}, {"reference", answer["reference"]}});
    }
    return problem(
        410, "the code " + code + " expired after " + answer["valid_until"].get<std::string>(),
        {{"valid_until", answer["valid_until"]}});
}

Response patient_loyalty(Context& context, const Request& request) {
    const std::string patient_id(request.param("patient_id"));
    if (patient_id.size() > 64 || !context.patient(patient_id).is_object()) {
        throw HttpError(404, "no patient '" + patient_id.substr(0, 64) + "'");
    }
    Json entries = Json::array();
    for (const auto& row :
         context.sql("SELECT kind, reference, channels, created_at_ms FROM fidelizacion_entries"
                     " WHERE patient_id = :patient ORDER BY created_at_ms, kind",
                     {{"patient", patient_id}})) {
        entries.push_back({{"kind", row.at("kind")},
                           {"payment_id", row.at("reference")},
                           {"channels", split(row["channels"])},
                           {"created_at", utc_or_null(row["created_at_ms"])}});
    }
    const std::string today = local_today(context);
    Json codes = Json::array();
    for (const auto& row :
         context.sql(std::string(kCodeColumns) +
                         " WHERE patient_id = :patient ORDER BY birthday_year DESC, code",
                     {{"patient", patient_id}})) {
        codes.push_back(code_json(row, today));
    }
    return Response::json({{"patient_id", patient_id}, {"entries", entries}, {"codes", codes}});
}

class FidelizacionPlugin final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "fidelizacion";
        manifest.version = "1.0.0";
        manifest.scope = "tenant";
        manifest.description =
            "Loyalty: a welcome on a patient's first payment, birthday greetings with a discount "
            "code.";
        manifest.settings_schema = settings_schema();
        manifest.migrations = {
            {1, "loyalty entries and birthday codes",
             // One welcome per patient: the primary key is the claim.
             "CREATE TABLE fidelizacion_entries ("
             " patient_id TEXT NOT NULL,"
             " kind TEXT NOT NULL,"
             " reference TEXT NOT NULL,"
             " channels TEXT NOT NULL DEFAULT '',"
             " created_at_ms BIGINT NOT NULL,"
             " announced_at_ms BIGINT,"
             " PRIMARY KEY (patient_id, kind));"
             // One code per patient and year; codes unique across the tenant.
             "CREATE TABLE fidelizacion_codes ("
             " code TEXT PRIMARY KEY,"
             " patient_id TEXT NOT NULL,"
             " birthday_year INTEGER NOT NULL,"
             " percent INTEGER NOT NULL,"
             " issued_on TEXT NOT NULL,"
             " valid_until TEXT NOT NULL,"
             " channels TEXT NOT NULL DEFAULT '',"
             " issued_at_ms BIGINT NOT NULL,"
             " announced_at_ms BIGINT,"
             " redeemed_at_ms BIGINT,"
             " redeemed_reference TEXT,"
             " UNIQUE (patient_id, birthday_year));"
             "CREATE INDEX fidelizacion_codes_issued_on ON fidelizacion_codes (issued_on)"}};
        manifest.events_emitted = {"fidelizacion.welcome_sent", "fidelizacion.code_issued",
                                   "fidelizacion.code_redeemed"};
        manifest.templates = message_templates();
        return manifest;
    }

    void register_with(miconsul::Registrar& registrar) override {
        registrar.on_event("welcome", "payment.received", welcome_on_first_payment);
        registrar.schedule("birthdays", "0 {birthday_hour} * * *", greet_birthdays,
                           {.misfire = "run_once", .misfire_grace_seconds = 3600});

        // GET /t/{tenant}/fidelizacion/codes/{code} → the code and its status
        registrar.route("GET", "/codes/{code}", [](Context& context, const Request& request) {
            return Response::json(
                code_json(find_code(context, request.param("code")), local_today(context)));
        });
        // POST /t/{tenant}/fidelizacion/codes/{code}/redeem {"reference"?} → the redeemed code
        registrar.route("POST", "/codes/{code}/redeem", redeem);
        // GET /t/{tenant}/fidelizacion/patients/{patient_id} → the patient's entries and codes
        registrar.route("GET", "/patients/{patient_id}", patient_loyalty);
    }
};

}  // namespace

MICONSUL_PLUGIN(FidelizacionPlugin)
