// reportes — Reports: the daily PDF for each doctor and the weekly PDF with trends and charts for
// the clinic's admins, by email on a schedule and on demand over HTTP (JSON or PDF).
//
// This file talks to the host (records, settings, messages); the figures become the plain
// structs of report_model.h, and report_pdf.cpp draws them.
#include "report_model.h"
#include "report_pdf.h"

#include <miconsul/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

namespace {

using miconsul::Context;
using miconsul::HttpError;
using miconsul::Json;
using miconsul::Request;
using miconsul::Response;
namespace calendar = miconsul::calendar;

constexpr const char* kDefaultCurrency = "MXN";

// ---------------------------------------------------------------------------------------------
// Settings

struct ReportSettings {
    bool daily_enabled = true;
    bool weekly_enabled = true;
    bool skip_empty = true;
    std::vector<std::string> recipients;
    reportes::Sections sections;
};

ReportSettings read_settings(const Context& context) {
    const Json& settings = context.settings();
    ReportSettings result;
    result.daily_enabled = settings.value("daily_enabled", true);
    result.weekly_enabled = settings.value("weekly_enabled", true);
    result.skip_empty = settings.value("skip_empty", true);
    for (const auto& address : settings.value("recipients", Json::array())) {
        result.recipients.push_back(address.get<std::string>());
    }
    const Json sections = settings.value("sections", Json::object());
    result.sections.appointments = sections.value("appointments", true);
    result.sections.sales = sections.value("sales", true);
    result.sections.charts = sections.value("charts", true);
    return result;
}

// The language of the PDFs: the clinic's ("es-MX" → "es"); English or Spanish.
std::string report_language(const Context& context) {
    return context.locale().substr(0, 2) == "en" ? "en" : "es";
}

// The name printed on the PDFs: the clinic's own choice (a legal or brand name), else the
// tenant's name, else (a host older than ABI 1.3) its id.
std::string clinic_name(const Context& context) {
    const std::string configured = context.settings().value("clinic_name", "");
    if (!configured.empty()) return configured;
    return std::string(context.tenant_name().empty() ? context.tenant() : context.tenant_name());
}

// Template data: {{clinic}} is the tenant's name unless the clinic set its own.
Json with_clinic(const Context& context, Json data) {
    const std::string configured = context.settings().value("clinic_name", "");
    if (!configured.empty()) data["clinic"] = configured;
    return data;
}

// ---------------------------------------------------------------------------------------------
// Gathering a day

/// "Ana López" from the appointment's {first_name, last_name}; "" when unknown.
std::string patient_name(const Json& patient) {
    if (!patient.is_object()) return "";
    std::string name = patient.value("first_name", "");
    if (patient.contains("last_name") && patient["last_name"].is_string() &&
        !patient["last_name"].get<std::string>().empty()) {
        name += " " + patient["last_name"].get<std::string>();
    }
    return name;
}

std::vector<reportes::CurrencySales> currency_sales(const Json& by_currency,
                                                    const std::string& main_currency) {
    std::vector<reportes::CurrencySales> result;
    for (const auto& [currency, totals] : by_currency.items()) {
        reportes::CurrencySales entry{currency,
                                      totals.value("total_cents", int64_t{0}),
                                      totals.value("payments", int64_t{0}),
                                      {}};
        // Bound first: a range-for over items() of a temporary would outlive it.
        const Json methods = totals.value("by_method", Json::object());
        for (const auto& [method, cents] : methods.items()) {
            entry.by_method[method] = cents.get<int64_t>();
        }
        result.push_back(std::move(entry));
    }
    // The main currency first: the report's headline figure.
    std::stable_partition(result.begin(), result.end(),
                          [&](const auto& entry) { return entry.currency == main_currency; });
    return result;
}

/// Everything a day's reports need, read once and shared by every doctor's report.
struct DayData {
    std::string date;
    Json doctors = Json::array();
    std::map<std::string, std::string> doctor_names;
    std::vector<std::pair<std::string, reportes::AppointmentLine>> appointments;  // doctor id
    std::vector<reportes::CurrencySales> clinic_sales;
    std::map<std::string, std::vector<reportes::CurrencySales>> doctor_sales;
};

std::string local_clock(const Context& context, int64_t unix_ms, int offset_minutes,
                        bool fixed_offset) {
    if (!fixed_offset) return context.local_time(unix_ms).time.substr(0, 5);
    // One offset all day (no daylight-saving change in it): plain arithmetic, no host call for
    // each of possibly a thousand appointments.
    const int64_t local_minutes =
        ((unix_ms / 60000 + offset_minutes) % (24 * 60) + 24 * 60) % (24 * 60);
    char text[8];
    std::snprintf(text, sizeof text, "%02d:%02d", static_cast<int>(local_minutes / 60),
                  static_cast<int>(local_minutes % 60));
    return text;
}

DayData load_day(const Context& context, const std::string& date) {
    DayData day;
    day.date = date;
    day.doctors = context.doctors();
    for (const auto& doctor : day.doctors) {
        day.doctor_names[doctor["id"].get<std::string>()] = doctor.value("name", "");
    }
    const Json sales = context.sales_on(date);
    const std::string main_currency =
        sales["currency"].is_string() ? sales["currency"].get<std::string>() : kDefaultCurrency;
    day.clinic_sales = currency_sales(sales["by_currency"], main_currency);

    // Each doctor's sales, per currency and method, as the records answer them.
    std::map<std::string, std::map<std::string, reportes::CurrencySales>> per_doctor;
    for (const auto& [currency, totals] : sales["by_currency"].items()) {
        for (const auto& doctor : totals.value("by_doctor", Json::array())) {
            if (!doctor["doctor_id"].is_string()) continue;  // payments without a doctor
            auto& entry = per_doctor[doctor["doctor_id"].get<std::string>()][currency];
            entry.currency = currency;
            entry.total_cents = doctor.value("total_cents", int64_t{0});
            entry.payments = doctor.value("payments", int64_t{0});
            const Json methods = doctor.value("by_method", Json::object());
            for (const auto& [method, cents] : methods.items()) {
                entry.by_method[method] = cents.get<int64_t>();
            }
        }
    }
    for (auto& [doctor, currencies] : per_doctor) {
        auto& list = day.doctor_sales[doctor];
        for (auto& [currency, entry] : currencies) list.push_back(std::move(entry));
        std::stable_partition(list.begin(), list.end(),
                              [&](const auto& entry) { return entry.currency == main_currency; });
    }

    const Json appointments = context.appointments_on(date, {{"with_patients", true}});
    if (appointments.empty()) return day;
    const int64_t from_ms = calendar::parse_utc_ms(sales["from"].get<std::string>()).value_or(0);
    const int64_t to_ms = calendar::parse_utc_ms(sales["to"].get<std::string>()).value_or(0);
    const int offset = context.local_time(from_ms).utc_offset_minutes;
    const bool fixed_offset = context.local_time(to_ms - 1).utc_offset_minutes == offset;
    for (const auto& appointment : appointments) {
        const std::string doctor_id = appointment["doctor_id"].get<std::string>();
        const auto start = calendar::parse_utc_ms(appointment["start"].get<std::string>());
        reportes::AppointmentLine line{
            start ? local_clock(context, *start, offset, fixed_offset) : "--:--",
            patient_name(appointment["patient"]), day.doctor_names[doctor_id],
            appointment["status"].get<std::string>()};
        day.appointments.emplace_back(doctor_id, std::move(line));
    }
    return day;
}

/// One doctor's day (doctor_id set) or the clinic's (empty).
reportes::DailyReport daily_report(const Context& context, const DayData& day,
                                   const std::string& doctor_id, const ReportSettings& settings) {
    reportes::DailyReport report;
    report.clinic = clinic_name(context);
    report.language = report_language(context);
    report.date = day.date;
    report.doctor_id = doctor_id;
    report.sections = settings.sections;
    if (!doctor_id.empty()) {
        const auto name = day.doctor_names.find(doctor_id);
        report.doctor_name = name == day.doctor_names.end() ? "" : name->second;
        const auto sales = day.doctor_sales.find(doctor_id);
        if (sales != day.doctor_sales.end()) report.sales = sales->second;
    } else {
        report.sales = day.clinic_sales;
    }
    for (const auto& [appointment_doctor, line] : day.appointments) {
        if (!doctor_id.empty() && appointment_doctor != doctor_id) continue;
        ++report.appointments_by_status[line.status];
        report.appointments.push_back(line);
    }
    return report;
}

Json sales_json(const std::vector<reportes::CurrencySales>& sales) {
    Json main = {{"currency", kDefaultCurrency},
                 {"total_cents", 0},
                 {"total", reportes::format_money(0, kDefaultCurrency)},
                 {"payments", 0},
                 {"by_method", Json::object()}};
    Json others = Json::array();
    for (size_t index = 0; index < sales.size(); ++index) {
        const auto& entry = sales[index];
        Json methods = Json::object();
        for (const auto& [method, cents] : entry.by_method) methods[method] = cents;
        Json figures = {{"currency", entry.currency},
                        {"total_cents", entry.total_cents},
                        {"total", reportes::format_money(entry.total_cents, entry.currency)},
                        {"payments", entry.payments},
                        {"by_method", methods}};
        if (index == 0) {
            main = figures;
        } else {
            others.push_back(figures);
        }
    }
    main["other_currencies"] = others;
    return main;
}

Json daily_json(const reportes::DailyReport& report) {
    Json items = Json::array();
    for (const auto& line : report.appointments) {
        items.push_back({{"time", line.local_time},
                         {"patient", line.patient},
                         {"doctor", line.doctor},
                         {"status", line.status}});
    }
    Json by_status = Json::object();
    for (const auto& [status, count] : report.appointments_by_status) by_status[status] = count;
    Json answer = {{"date", report.date}, {"clinic", report.clinic}};
    answer["doctor"] = report.doctor_id.empty()
                           ? Json(nullptr)
                           : Json{{"id", report.doctor_id}, {"name", report.doctor_name}};
    if (report.sections.appointments) {
        answer["appointments"] = {
            {"total", report.appointment_count()}, {"by_status", by_status}, {"items", items}};
    }
    if (report.sections.sales) answer["sales"] = sales_json(report.sales);
    return answer;
}

// ---------------------------------------------------------------------------------------------
// Gathering a week

std::string day_after(const std::string& date, int days) {
    const auto moved = calendar::add_days(date, days);
    if (!moved) throw std::runtime_error("not a date: " + date);
    return *moved;
}

std::map<std::string, int64_t> status_counts(const Json& summary) {
    std::map<std::string, int64_t> counts;
    for (const auto& [status, count] : summary["appointments_by_status"].items()) {
        counts[status] = count.get<int64_t>();
    }
    return counts;
}

reportes::WeekFigures load_week(const Context& context, const std::string& monday) {
    reportes::WeekFigures week;
    week.week = calendar::iso_week_of(monday).value_or("");
    week.from = monday;
    week.to = day_after(monday, 7);
    const Json summary = context.records_summary(week.from, week.to);
    week.appointments_by_status = status_counts(summary);
    week.new_patients = summary.value("new_patients", int64_t{0});
    week.first_payments = summary.value("first_payments", int64_t{0});
    for (const auto& [currency, totals] : summary["sales"].items()) {
        week.sales.push_back({currency,
                              totals["total_cents"].get<int64_t>(),
                              totals["payments"].get<int64_t>(),
                              {}});
    }
    return week;
}

// The daily series of a week, in `currency`: one summary per day.
void load_series(const Context& context, reportes::WeekFigures& week, const std::string& currency) {
    week.appointments_per_day.assign(7, 0);
    week.sales_per_day_cents.assign(7, 0);
    for (int day = 0; day < 7; ++day) {
        const std::string date = day_after(week.from, day);
        const Json summary = context.records_summary(date, day_after(date, 1));
        for (const auto& [status, count] : status_counts(summary)) {
            week.appointments_per_day[static_cast<size_t>(day)] += count;
        }
        if (summary["sales"].contains(currency)) {
            week.sales_per_day_cents[static_cast<size_t>(day)] =
                summary["sales"][currency]["total_cents"].get<int64_t>();
        }
    }
}

reportes::WeeklyReport weekly_report(const Context& context, const std::string& monday,
                                     const ReportSettings& settings) {
    reportes::WeeklyReport report;
    report.clinic = clinic_name(context);
    report.language = report_language(context);
    report.sections = settings.sections;
    report.current = load_week(context, monday);
    report.previous = load_week(context, day_after(monday, -7));
    // The currency of the charts: the most used over both weeks, MXN when nothing was paid.
    std::map<std::string, int64_t> payments;
    for (const auto* week : {&report.current, &report.previous}) {
        for (const auto& entry : week->sales) payments[entry.currency] += entry.payments;
    }
    int64_t most = 0;
    for (const auto& [currency, count] : payments) {
        if (count > most) {
            most = count;
            report.currency = currency;
        }
    }
    load_series(context, report.current, report.currency);
    load_series(context, report.previous, report.currency);
    return report;
}

Json week_json(const reportes::WeekFigures& week) {
    Json by_status = Json::object();
    for (const auto& [status, count] : week.appointments_by_status) by_status[status] = count;
    Json sales = Json::object();
    for (const auto& entry : week.sales) {
        sales[entry.currency] = {
            {"total_cents", entry.total_cents},
            {"total", reportes::format_money(entry.total_cents, entry.currency)},
            {"payments", entry.payments}};
    }
    auto rate = [](const std::optional<double>& value) {
        return value ? Json(std::round(*value * 10000.0) / 10000.0) : Json(nullptr);
    };
    return {{"week", week.week},
            {"from", week.from},
            {"to", day_after(week.to, -1)},
            {"appointments", week.appointments()},
            {"appointments_by_status", by_status},
            {"completion_rate", rate(week.completion_rate())},
            {"no_show_rate", rate(week.no_show_rate())},
            {"new_patients", week.new_patients},
            {"first_payments", week.first_payments},
            {"sales", sales},
            {"appointments_per_day", week.appointments_per_day},
            {"sales_per_day_cents", week.sales_per_day_cents}};
}

Json weekly_json(const reportes::WeeklyReport& report) {
    return {{"clinic", report.clinic},
            {"currency", report.currency},
            {"week", week_json(report.current)},
            {"previous_week", week_json(report.previous)}};
}

// ---------------------------------------------------------------------------------------------
// Emailing

Json pdf_attachment(const std::string& filename, const std::string& pdf) {
    return Json::array({miconsul::attachment(filename, "application/pdf", pdf)});
}

std::string headline_sales(const std::vector<reportes::CurrencySales>& sales) {
    if (sales.empty()) return reportes::format_money(0, kDefaultCurrency);
    return reportes::format_money(sales.front().total_cents, sales.front().currency);
}

void run_daily(Context& context) {
    const ReportSettings settings = read_settings(context);
    if (!settings.daily_enabled) {
        context.info("daily reports are off (daily_enabled is false)");
        return;
    }
    const std::string date = context.local_now().date;
    const DayData day = load_day(context, date);
    int sent = 0, failed = 0;
    std::string first_failure;
    for (const auto& doctor : day.doctors) {
        const std::string doctor_id = doctor["id"].get<std::string>();
        // One doctor's failure must not keep the others from their report.
        try {
            if (!doctor["email"].is_string() || doctor["email"].get<std::string>().empty())
                continue;
            const reportes::DailyReport report = daily_report(context, day, doctor_id, settings);
            if (settings.skip_empty && report.empty()) continue;
            const std::string pdf = reportes::render_daily_pdf(report);
            context.queue_message(
                {{"channel", "email"},
                 {"template", "daily_report"},
                 {"to", doctor["email"]},
                 {"data", with_clinic(context, {{"doctor", report.doctor_name},
                                                {"date", date},
                                                {"appointments", report.appointment_count()},
                                                {"sales_total", headline_sales(report.sales)}})},
                 {"attachments", pdf_attachment("reporte-" + date + ".pdf", pdf)},
                 // Once per doctor and day, however often the run is retried or redone.
                 {"idempotency_key", "daily-email-" + doctor_id + "-" + date}});
            ++sent;
        } catch (const std::exception& error) {
            ++failed;
            if (first_failure.empty()) first_failure = error.what();
            context.error("daily report for doctor " + doctor_id + " failed: " + error.what());
        }
    }
    context.info("daily reports of " + date + ": " + std::to_string(sent) + " queued, " +
                 std::to_string(failed) + " failed");
    if (failed > 0) {
        // The host retries the run; the idempotency keys keep the sent ones from going twice.
        throw std::runtime_error(std::to_string(failed) +
                                 " daily report(s) failed, first: " + first_failure);
    }
}

void run_weekly(Context& context) {
    const ReportSettings settings = read_settings(context);
    if (!settings.weekly_enabled) {
        context.info("weekly reports are off (weekly_enabled is false)");
        return;
    }
    if (settings.recipients.empty()) {
        context.info("weekly report not sent: no recipients are set");
        return;
    }
    // The ISO week before the run's local date (a Monday run reports Monday–Sunday just ended).
    const std::string today = context.local_now().date;
    const std::string this_monday =
        calendar::iso_week_monday(calendar::iso_week_of(today).value_or("")).value_or(today);
    const std::string monday = day_after(this_monday, -7);
    const reportes::WeeklyReport report = weekly_report(context, monday, settings);
    const std::string pdf = reportes::render_weekly_pdf(report);
    const Json attachment = pdf_attachment("reporte-" + report.current.week + ".pdf", pdf);
    int failed = 0;
    std::string first_failure;
    for (const auto& recipient : settings.recipients) {
        try {
            context.queue_message(
                {{"channel", "email"},
                 {"template", "weekly_report"},
                 {"to", recipient},
                 {"data",
                  with_clinic(context,
                              {{"week", report.current.week},
                               {"from", report.current.from},
                               {"to", day_after(report.current.to, -1)},
                               {"appointments", report.current.appointments()},
                               {"previous_appointments", report.previous.appointments()},
                               {"sales_total",
                                reportes::format_money(report.current.sales_cents(report.currency),
                                                       report.currency)},
                               {"previous_sales_total",
                                reportes::format_money(report.previous.sales_cents(report.currency),
                                                       report.currency)}})},
                 {"attachments", attachment},
                 {"idempotency_key", "weekly-email-" + recipient + "-" + report.current.week}});
        } catch (const std::exception& error) {
            ++failed;
            if (first_failure.empty()) first_failure = error.what();
            context.error("weekly report to a recipient failed: " + std::string(error.what()));
        }
    }
    if (failed > 0) {
        throw std::runtime_error(std::to_string(failed) +
                                 " weekly report(s) failed, first: " + first_failure);
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

enum class Format { json, pdf };

Format requested_format(const Request& request) {
    const std::string format(request.query("format").value_or("json"));
    if (format == "json") return Format::json;
    if (format == "pdf") return Format::pdf;
    throw HttpError(400, "format must be pdf or json");
}

Response pdf_response(std::string pdf, const std::string& filename) {
    return Response{200,
                    {{"Content-Type", "application/pdf"},
                     {"Content-Disposition", "inline; filename=" + filename}},
                    std::move(pdf)};
}

Response daily_route(Context& context, const Request& request) {
    const Format format = requested_format(request);
    const auto date_parameter = request.query("date");
    std::string date = date_parameter ? std::string(*date_parameter) : context.local_now().date;
    if (!calendar::parse_date(date)) throw HttpError(400, "date must be a date as YYYY-MM-DD");
    // A day's UTC window, and the week before a week, must still be dates the host can write.
    if (date < "1971-01-01" || date > "9998-12-31") {
        throw HttpError(400, "date must be between 1971-01-01 and 9998-12-31");
    }
    const std::string doctor_id(request.query("doctor_id").value_or(""));
    if (request.query("doctor_id") && doctor_id.empty()) {
        throw HttpError(400, "doctor_id must not be empty");
    }
    const ReportSettings settings = read_settings(context);
    const DayData day = load_day(context, date);
    if (!doctor_id.empty() && !day.doctor_names.count(doctor_id)) {
        throw HttpError(404, "no doctor with doctor_id " + doctor_id);
    }
    const reportes::DailyReport report = daily_report(context, day, doctor_id, settings);
    if (format == Format::pdf) {
        return pdf_response(reportes::render_daily_pdf(report), "reporte-" + date + ".pdf");
    }
    return Response::json(daily_json(report));
}

Response weekly_route(Context& context, const Request& request) {
    const Format format = requested_format(request);
    const auto week_parameter = request.query("week");
    std::string week = week_parameter
                           ? std::string(*week_parameter)
                           : calendar::iso_week_of(context.local_now().date).value_or("");
    const auto monday = calendar::iso_week_monday(week);
    if (!monday) throw HttpError(400, "week must be an ISO week as YYYY-Www, e.g. 2026-W49");
    if (*monday < "1971-01-01" || *monday > "9998-12-31") {
        throw HttpError(400, "week must be between 1971-W01 and 9998-W52");
    }
    const reportes::WeeklyReport report = weekly_report(context, *monday, read_settings(context));
    if (format == Format::pdf) {
        return pdf_response(reportes::render_weekly_pdf(report), "reporte-" + week + ".pdf");
    }
    return Response::json(weekly_json(report));
}

// ---------------------------------------------------------------------------------------------
// Manifest

Json settings_schema() {
    auto hour = [](int fallback, const char* description) {
        return Json{{"type", "integer"},
                    {"minimum", 0},
                    {"maximum", 23},
                    {"default", fallback},
                    {"description", description}};
    };
    auto flag = [](bool fallback, const char* description) {
        return Json{{"type", "boolean"}, {"default", fallback}, {"description", description}};
    };
    return {
        {"type", "object"},
        {"additionalProperties", false},
        {"properties",
         {{"daily_hour", hour(20, "local hour of the doctors' daily report")},
          {"weekly_hour", hour(8, "local hour, on Mondays, of the weekly report")},
          {"daily_enabled", flag(true, "send the daily report to each doctor")},
          {"weekly_enabled", flag(true, "send the weekly report to the recipients")},
          {"skip_empty", flag(true, "no daily email to a doctor without appointments or sales")},
          {"recipients",
           {{"type", "array"},
            {"maxItems", 20},
            {"items",
             {{"type", "string"},
              {"maxLength", 160},  // the address is in the idempotency key (≤ 200)
              {"pattern", "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"}}},
            {"default", Json::array()},
            {"description", "email addresses of the weekly report; none: it is not sent"}}},
          {"sections",
           {{"type", "object"},
            {"additionalProperties", false},
            {"properties",
             {{"appointments", flag(true, "appointments by status and their list")},
              {"sales", flag(true, "sales by method and currency")},
              {"charts", flag(true, "charts")}}},
            {"default", {{"appointments", true}, {"sales", true}, {"charts", true}}}}},
          {"clinic_name",
           {{"type", "string"},
            {"maxLength", 120},
            {"default", ""},
            {"description", "the clinic's name on the PDFs; empty: the tenant's id"}}},
          {"templates", {{"type", "object"}, {"default", Json::object()}}}}}};
}

Json message_templates() {
    return {
        {"daily_report",
         {{"es",
           {{"subject", "Reporte diario {{date}} · {{clinic}}"},
            {"text",
             "Hola {{doctor}}:\n\nAdjuntamos su reporte del {{date}} en {{clinic}}: "
             "{{appointments}} citas, ventas {{sales_total}}.\n"},
            {"html",
             "<p>Hola {{doctor}}:</p><p>Adjuntamos su reporte del <b>{{date}}</b> en "
             "{{clinic}}: {{appointments}} citas, ventas {{sales_total}}.</p>"}}},
          {"en",
           {{"subject", "Daily report {{date}} · {{clinic}}"},
            {"text",
             "Hello {{doctor}},\n\nAttached is your report of {{date}} at {{clinic}}: "
             "{{appointments}} appointments, sales {{sales_total}}.\n"},
            {"html",
             "<p>Hello {{doctor}},</p><p>Attached is your report of <b>{{date}}</b> at "
             "{{clinic}}: {{appointments}} appointments, sales {{sales_total}}.</p>"}}},
          {"sample",
           {{"doctor", "Dra. Ruiz"},
            {"date", "2026-12-01"},
            {"appointments", 12},
            {"sales_total", "$1,234.50 MXN"},
            {"clinic", "Clínica Sol"}}}}},
        {"weekly_report",
         {{"es",
           {{"subject", "Reporte semanal {{week}} · {{clinic}}"},
            {"text",
             "Reporte de {{clinic}} del {{from}} al {{to}} ({{week}}): {{appointments}} citas "
             "(semana anterior: {{previous_appointments}}), ventas {{sales_total}} (semana "
             "anterior: {{previous_sales_total}}). Detalle y gráficas en el PDF adjunto.\n"},
            {"html",
             "<p>Reporte de {{clinic}} del {{from}} al {{to}} (<b>{{week}}</b>): "
             "{{appointments}} citas (semana anterior: {{previous_appointments}}), ventas "
             "{{sales_total}} (semana anterior: {{previous_sales_total}}).</p><p>Detalle y "
             "gráficas en el PDF adjunto.</p>"}}},
          {"en",
           {{"subject", "Weekly report {{week}} · {{clinic}}"},
            {"text",
             "{{clinic}} from {{from}} to {{to}} ({{week}}): {{appointments}} appointments "
             "(previous week: {{previous_appointments}}), sales {{sales_total}} (previous week: "
             "{{previous_sales_total}}). Details and charts in the attached PDF.\n"},
            {"html",
             "<p>{{clinic}} from {{from}} to {{to}} (<b>{{week}}</b>): {{appointments}} "
             "appointments (previous week: {{previous_appointments}}), sales {{sales_total}} "
             "(previous week: {{previous_sales_total}}).</p><p>Details and charts in the "
             "attached PDF.</p>"}}},
          {"sample",
           {{"week", "2026-W49"},
            {"from", "2026-11-30"},
            {"to", "2026-12-06"},
            {"appointments", 84},
            {"previous_appointments", 78},
            {"sales_total", "$52,300.00 MXN"},
            {"previous_sales_total", "$48,150.50 MXN"},
            {"clinic", "Clínica Sol"}}}}}};
}

class ReportesPlugin final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "reportes";
        manifest.version = "1.0.0";
        manifest.scope = "tenant";
        manifest.description =
            "Reports: the daily PDF for each doctor and the weekly PDF with trends and charts for "
            "the clinic's admins.";
        manifest.settings_schema = settings_schema();
        manifest.templates = message_templates();
        return manifest;
    }

    void register_with(miconsul::Registrar& registrar) override {
        registrar.route("GET", "/daily", &daily_route);
        registrar.route("GET", "/weekly", &weekly_route);
        // A report is worth sending late after downtime (run_once), within the day.
        const miconsul::ScheduleOptions options{.misfire = "run_once",
                                                .misfire_grace_seconds = 6 * 3600,
                                                .timeout_seconds = 600,
                                                .max_attempts = 3};
        registrar.schedule("daily", "0 {daily_hour} * * *", &run_daily, options);
        registrar.schedule("weekly", "0 {weekly_hour} * * 1", &run_weekly, options);
    }
};

}  // namespace

MICONSUL_PLUGIN(ReportesPlugin)
