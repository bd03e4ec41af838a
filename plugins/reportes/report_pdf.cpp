// reportes — PDF rendering with cairo. Text goes through cairo's font machinery (DejaVu Sans,
// embedded as a subset with its Unicode map), so pdftotext and screen readers can extract it.
#include "report_pdf.h"

#include <cairo-pdf.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace reportes {

std::string format_money(int64_t cents, const std::string& currency) {
    const bool negative = cents < 0;
    const uint64_t magnitude =
        negative ? static_cast<uint64_t>(-(cents + 1)) + 1 : static_cast<uint64_t>(cents);
    std::string units = std::to_string(magnitude / 100);
    // Thousands separators, as Mexico writes them: 1,234,567.
    for (int position = static_cast<int>(units.size()) - 3; position > 0; position -= 3) {
        units.insert(static_cast<size_t>(position), ",");
    }
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%02u", static_cast<unsigned>(magnitude % 100));
    const bool dollar_sign = currency == "MXN" || currency == "USD" || currency == "CAD";
    return std::string(negative ? "-" : "") + (dollar_sign ? "$" : "") + units + fraction + " " +
           currency;
}

std::string format_rate(const std::optional<double>& rate) {
    if (!rate) return "—";
    char text[32];
    std::snprintf(text, sizeof text, "%.1f %%", *rate * 100.0);
    return text;
}

namespace {

constexpr double kPageWidth = 595.28;  // A4 in points
constexpr double kPageHeight = 841.89;
constexpr double kMargin = 42;
constexpr double kRowHeight = 14;
constexpr const char* kFont = "DejaVu Sans";

struct Labels {
    const char* daily_title;
    const char* weekly_title;
    const char* clinic_wide;
    const char* appointments;
    const char* sales;
    const char* payments;
    const char* total;
    const char* other_currencies;
    const char* time;
    const char* patient;
    const char* doctor;
    const char* status;
    const char* no_appointments;
    const char* no_sales;
    const char* by_status_chart;
    const char* per_day_chart;
    const char* sales_per_day_chart;
    const char* metric;
    const char* change;
    const char* completion_rate;
    const char* no_show_rate;
    const char* new_patients;
    const char* first_payments;
    const char* page;
    const char* weekdays[7];
};

const Labels kSpanish{"Reporte diario",
                      "Reporte semanal",
                      "Toda la clínica",
                      "Citas",
                      "Ventas",
                      "pagos",
                      "Total",
                      "Otras monedas",
                      "Hora",
                      "Paciente",
                      "Doctor",
                      "Estado",
                      "Sin citas este día.",
                      "Sin ventas este día.",
                      "Citas por estado",
                      "Citas por día",
                      "Ventas por día",
                      "Indicador",
                      "Cambio",
                      "Tasa de asistencia",
                      "Tasa de inasistencia",
                      "Pacientes nuevos",
                      "Primeros pagos",
                      "Página",
                      {"Lun", "Mar", "Mié", "Jue", "Vie", "Sáb", "Dom"}};
const Labels kEnglish{"Daily report",
                      "Weekly report",
                      "Whole clinic",
                      "Appointments",
                      "Sales",
                      "payments",
                      "Total",
                      "Other currencies",
                      "Time",
                      "Patient",
                      "Doctor",
                      "Status",
                      "No appointments this day.",
                      "No sales this day.",
                      "Appointments by status",
                      "Appointments per day",
                      "Sales per day",
                      "Metric",
                      "Change",
                      "Completion rate",
                      "No-show rate",
                      "New patients",
                      "First payments",
                      "Page",
                      {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}};

const Labels& labels_for(const std::string& language) {
    return language == "en" ? kEnglish : kSpanish;
}

// The order statuses are listed in, and their names per language.
const std::vector<std::string> kStatusOrder = {"scheduled", "confirmed", "completed", "no-show",
                                               "cancelled"};

std::string status_name(const std::string& status, const std::string& language) {
    static const std::map<std::string, std::pair<const char*, const char*>> names = {
        {"scheduled", {"Programada", "Scheduled"}},
        {"confirmed", {"Confirmada", "Confirmed"}},
        {"completed", {"Completada", "Completed"}},
        {"no-show", {"No asistió", "No-show"}},
        {"cancelled", {"Cancelada", "Cancelled"}}};
    const auto found = names.find(status);
    if (found == names.end()) return status;
    return language == "en" ? found->second.second : found->second.first;
}

std::string method_name(const std::string& method, const std::string& language) {
    static const std::map<std::string, std::pair<const char*, const char*>> names = {
        {"cash", {"Efectivo", "Cash"}},
        {"card", {"Tarjeta", "Card"}},
        {"transfer", {"Transferencia", "Transfer"}},
        {"check", {"Cheque", "Check"}},
        {"other", {"Otro", "Other"}}};
    const auto found = names.find(method);
    if (found == names.end()) return method;
    return language == "en" ? found->second.second : found->second.first;
}

// At most `limit` code points of UTF-8 text, with "…" when cut: long names must not run into
// the next column.
std::string shortened(const std::string& text, size_t limit) {
    size_t code_points = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            if (code_points == limit) return text.substr(0, i) + "…";
            ++code_points;
        }
    }
    return text;
}

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

// A PDF document being drawn: pages, a cursor and text helpers. Owns the cairo objects.
class Document {
public:
    explicit Document(std::string footer) : footer_(std::move(footer)) {
        surface_ = cairo_pdf_surface_create_for_stream(&append_to_string, &bytes_, kPageWidth,
                                                       kPageHeight);
        cairo_ = cairo_create(surface_);
        if (cairo_status(cairo_) != CAIRO_STATUS_SUCCESS) {
            throw std::runtime_error(std::string("cairo: ") +
                                     cairo_status_to_string(cairo_status(cairo_)));
        }
        y_ = kMargin;
    }
    ~Document() {
        if (cairo_) cairo_destroy(cairo_);
        if (surface_) cairo_surface_destroy(surface_);
    }
    Document(const Document&) = delete;
    Document& operator=(const Document&) = delete;

    cairo_t* cairo() { return cairo_; }
    double y() const { return y_; }
    void advance(double points) { y_ += points; }
    double space_left() const { return kPageHeight - kMargin - 20 - y_; }

    void font(double size, bool bold = false) {
        cairo_select_font_face(cairo_, kFont, CAIRO_FONT_SLANT_NORMAL,
                               bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cairo_, size);
    }
    void text(double x, double y, const std::string& value) {
        cairo_move_to(cairo_, x, y);
        cairo_show_text(cairo_, value.c_str());
    }
    void text_right(double right, double y, const std::string& value) {
        cairo_text_extents_t extents;
        cairo_text_extents(cairo_, value.c_str(), &extents);
        text(right - extents.x_advance, y, value);
    }
    void color(double red, double green, double blue) {
        cairo_set_source_rgb(cairo_, red, green, blue);
    }
    void rule(double y) {
        color(0.75, 0.75, 0.75);
        cairo_set_line_width(cairo_, 0.5);
        cairo_move_to(cairo_, kMargin, y);
        cairo_line_to(cairo_, kPageWidth - kMargin, y);
        cairo_stroke(cairo_);
        color(0, 0, 0);
    }
    /// Starts a new page when fewer than `points` remain on this one.
    bool ensure_space(double points) {
        if (space_left() >= points) return false;
        new_page();
        return true;
    }
    void new_page() {
        finish_page();
        cairo_show_page(cairo_);
        ++page_;
        y_ = kMargin;
    }
    std::string finish() {
        finish_page();
        cairo_destroy(cairo_);
        cairo_ = nullptr;
        cairo_surface_finish(surface_);
        const cairo_status_t status = cairo_surface_status(surface_);
        cairo_surface_destroy(surface_);
        surface_ = nullptr;
        if (status != CAIRO_STATUS_SUCCESS) {
            throw std::runtime_error(std::string("cairo: ") + cairo_status_to_string(status));
        }
        return std::move(bytes_);
    }

private:
    void finish_page() {
        font(8);
        color(0.4, 0.4, 0.4);
        text(kMargin, kPageHeight - kMargin + 10, footer_);
        text_right(kPageWidth - kMargin, kPageHeight - kMargin + 10, std::to_string(page_));
        color(0, 0, 0);
    }

    std::string bytes_;
    std::string footer_;
    cairo_surface_t* surface_ = nullptr;
    cairo_t* cairo_ = nullptr;
    double y_ = 0;
    int page_ = 1;
};

void heading(Document& document, const std::string& title, const std::string& subtitle) {
    document.font(16, true);
    document.text(kMargin, document.y() + 16, title);
    document.font(11);
    document.text(kMargin, document.y() + 34, subtitle);
    document.advance(44);
    document.rule(document.y());
    document.advance(10);
}

void section_title(Document& document, const std::string& title) {
    document.ensure_space(3 * kRowHeight);
    document.font(12, true);
    document.text(kMargin, document.y() + 12, title);
    document.advance(20);
    document.font(10);
}

void sales_section(Document& document, const std::vector<CurrencySales>& sales,
                   const std::string& language, const char* empty_text) {
    const Labels& words = labels_for(language);
    section_title(document, words.sales);
    if (sales.empty()) {
        document.text(kMargin, document.y() + 10, empty_text);
        document.advance(kRowHeight + 6);
        return;
    }
    for (size_t index = 0; index < sales.size(); ++index) {
        const CurrencySales& entry = sales[index];
        if (index == 1) {
            document.font(10, true);
            document.text(kMargin, document.y() + 10, words.other_currencies);
            document.advance(kRowHeight);
        }
        document.ensure_space(kRowHeight * (2 + static_cast<double>(entry.by_method.size())));
        document.font(10);
        for (const auto& [method, cents] : entry.by_method) {
            document.text(kMargin + 10, document.y() + 10, method_name(method, language));
            document.text_right(kMargin + 300, document.y() + 10,
                                format_money(cents, entry.currency));
            document.advance(kRowHeight);
        }
        document.font(10, true);
        document.text(kMargin + 10, document.y() + 10,
                      std::string(words.total) + " (" + std::to_string(entry.payments) + " " +
                          words.payments + ")");
        document.text_right(kMargin + 300, document.y() + 10,
                            format_money(entry.total_cents, entry.currency));
        document.advance(kRowHeight + 6);
    }
    document.font(10);
}

// Horizontal bars, one per status: how the day went at a glance.
void status_chart(Document& document, const std::map<std::string, int64_t>& by_status,
                  const std::string& language) {
    const Labels& words = labels_for(language);
    const double height = 20 + 16 * static_cast<double>(kStatusOrder.size());
    document.ensure_space(height + 10);
    document.font(11, true);
    document.text(kMargin, document.y() + 11, words.by_status_chart);
    document.advance(18);
    int64_t largest = 1;
    for (const auto& [status, count] : by_status) largest = std::max(largest, count);
    cairo_t* cairo = document.cairo();
    document.font(9);
    for (const auto& status : kStatusOrder) {
        const auto found = by_status.find(status);
        const int64_t count = found == by_status.end() ? 0 : found->second;
        const double width = 300.0 * static_cast<double>(count) / static_cast<double>(largest);
        document.color(0, 0, 0);
        document.text(kMargin, document.y() + 10, status_name(status, language));
        document.color(0.16, 0.44, 0.75);
        cairo_rectangle(cairo, kMargin + 90, document.y() + 2, std::max(width, 1.0), 10);
        cairo_fill(cairo);
        document.color(0, 0, 0);
        document.text(kMargin + 96 + width, document.y() + 10, std::to_string(count));
        document.advance(16);
    }
    document.advance(8);
}

void appointment_table_header(Document& document, const Labels& words, bool with_doctor) {
    document.font(10, true);
    document.text(kMargin, document.y() + 10, words.time);
    document.text(kMargin + 50, document.y() + 10, words.patient);
    if (with_doctor) document.text(kMargin + 250, document.y() + 10, words.doctor);
    document.text(kMargin + 410, document.y() + 10, words.status);
    document.advance(kRowHeight);
    document.rule(document.y());
    document.advance(2);
    document.font(10);
}

}  // namespace

std::string render_daily_pdf(const DailyReport& report) {
    const Labels& words = labels_for(report.language);
    const std::string who = report.doctor_id.empty() ? words.clinic_wide : report.doctor_name;
    Document document(report.clinic + " · " + words.daily_title + " " + report.date);
    heading(document, std::string(words.daily_title) + " · " + report.date,
            report.clinic + " · " + who);

    if (report.sections.appointments) {
        section_title(document, std::string(words.appointments) + ": " +
                                    std::to_string(report.appointment_count()));
        for (const auto& status : kStatusOrder) {
            const auto found = report.appointments_by_status.find(status);
            if (found == report.appointments_by_status.end()) continue;
            document.text(kMargin + 10, document.y() + 10, status_name(status, report.language));
            document.text_right(kMargin + 200, document.y() + 10, std::to_string(found->second));
            document.advance(kRowHeight);
        }
        document.advance(6);
    }
    if (report.sections.sales)
        sales_section(document, report.sales, report.language, words.no_sales);
    if (report.sections.charts && report.sections.appointments && !report.appointments.empty()) {
        status_chart(document, report.appointments_by_status, report.language);
    }
    if (report.sections.appointments) {
        section_title(document, words.appointments);
        if (report.appointments.empty()) {
            document.text(kMargin, document.y() + 10, words.no_appointments);
            document.advance(kRowHeight);
        } else {
            const bool with_doctor = report.doctor_id.empty();
            appointment_table_header(document, words, with_doctor);
            for (const auto& line : report.appointments) {
                if (document.ensure_space(kRowHeight)) {
                    appointment_table_header(document, words, with_doctor);
                }
                const double baseline = document.y() + 10;
                document.text(kMargin, baseline, line.local_time);
                document.text(kMargin + 50, baseline,
                              shortened(line.patient, with_doctor ? 32 : 55));
                if (with_doctor) document.text(kMargin + 250, baseline, shortened(line.doctor, 26));
                document.text(kMargin + 410, baseline, status_name(line.status, report.language));
                document.advance(kRowHeight);
            }
        }
    }
    return document.finish();
}

namespace {

std::string signed_change(int64_t now, int64_t before) {
    const int64_t change = now - before;
    return (change > 0 ? "+" : "") + std::to_string(change);
}

// Grouped bars per weekday: the previous week in grey, the reported week in blue, with each
// value written above its bar and the weekday under each group.
void week_bar_chart(Document& document, const std::string& title,
                    const std::vector<int64_t>& current, const std::vector<int64_t>& previous,
                    const std::string& current_label, const std::string& previous_label,
                    const std::string& language, bool money, const std::string& currency) {
    constexpr double kChartHeight = 150;
    document.ensure_space(kChartHeight + 70);
    const Labels& words = labels_for(language);
    cairo_t* cairo = document.cairo();
    document.font(11, true);
    document.text(kMargin, document.y() + 11, title);
    document.advance(20);
    // Legend.
    document.font(8);
    document.color(0.65, 0.65, 0.65);
    cairo_rectangle(cairo, kMargin, document.y(), 8, 8);
    cairo_fill(cairo);
    document.color(0, 0, 0);
    document.text(kMargin + 12, document.y() + 8, previous_label);
    document.color(0.16, 0.44, 0.75);
    cairo_rectangle(cairo, kMargin + 100, document.y(), 8, 8);
    cairo_fill(cairo);
    document.color(0, 0, 0);
    document.text(kMargin + 112, document.y() + 8, current_label);
    document.advance(22);

    int64_t largest = 1;
    for (const auto value : current) largest = std::max(largest, value);
    for (const auto value : previous) largest = std::max(largest, value);
    const double base = document.y() + kChartHeight;
    const double group_width = (kPageWidth - 2 * kMargin) / 7.0;
    const double bar_width = group_width * 0.32;
    document.rule(base);
    auto value_text = [&](int64_t value) {
        // Whole units keep the labels short: "$1,234" rather than "$1,234.00 MXN".
        if (!money) return std::to_string(value);
        const std::string full = format_money(value / 100 * 100, currency);
        return full.substr(0, full.size() - 4 - currency.size());
    };
    for (size_t day = 0; day < 7; ++day) {
        const double left = kMargin + group_width * static_cast<double>(day) + group_width * 0.14;
        const int64_t values[2] = {day < previous.size() ? previous[day] : 0,
                                   day < current.size() ? current[day] : 0};
        for (int series = 0; series < 2; ++series) {
            const double height = (kChartHeight - 14) * static_cast<double>(values[series]) /
                                  static_cast<double>(largest);
            const double x = left + bar_width * series;
            if (series == 0) {
                document.color(0.65, 0.65, 0.65);
            } else {
                document.color(0.16, 0.44, 0.75);
            }
            cairo_rectangle(cairo, x, base - height, bar_width - 2, height);
            cairo_fill(cairo);
            document.color(0, 0, 0);
            document.font(6.5);
            document.text(x, base - height - 3, value_text(values[series]));
        }
        document.font(8);
        document.text(left + bar_width * 0.6, base + 11, words.weekdays[day]);
    }
    document.advance(kChartHeight + 26);
}

}  // namespace

std::string render_weekly_pdf(const WeeklyReport& report) {
    const Labels& words = labels_for(report.language);
    const WeekFigures& now = report.current;
    const WeekFigures& before = report.previous;
    Document document(report.clinic + " · " + words.weekly_title + " " + now.week);
    heading(document, std::string(words.weekly_title) + " · " + now.week,
            report.clinic + " · " + now.week + " (" + now.from + ") vs " + before.week + " (" +
                before.from + ")");

    // The figures side by side.
    const double column_now = kMargin + 330, column_before = kMargin + 420,
                 column_change = kPageWidth - kMargin;
    document.font(10, true);
    document.text(kMargin, document.y() + 10, words.metric);
    document.text_right(column_now, document.y() + 10, now.week);
    document.text_right(column_before, document.y() + 10, before.week);
    document.text_right(column_change, document.y() + 10, words.change);
    document.advance(kRowHeight);
    document.rule(document.y());
    document.advance(2);
    document.font(10);
    auto row = [&](const std::string& name, const std::string& value_now,
                   const std::string& value_before, const std::string& change) {
        document.text(kMargin, document.y() + 10, name);
        document.text_right(column_now, document.y() + 10, value_now);
        document.text_right(column_before, document.y() + 10, value_before);
        document.text_right(column_change, document.y() + 10, change);
        document.advance(kRowHeight);
    };
    auto count_row = [&](const std::string& name, int64_t value_now, int64_t value_before) {
        row(name, std::to_string(value_now), std::to_string(value_before),
            signed_change(value_now, value_before));
    };
    if (report.sections.appointments) {
        count_row(words.appointments, now.appointments(), before.appointments());
        for (const auto& status : kStatusOrder) {
            count_row("  " + status_name(status, report.language), now.status_count(status),
                      before.status_count(status));
        }
        row(words.completion_rate, format_rate(now.completion_rate()),
            format_rate(before.completion_rate()), "");
        row(words.no_show_rate, format_rate(now.no_show_rate()), format_rate(before.no_show_rate()),
            "");
        count_row(words.new_patients, now.new_patients, before.new_patients);
    }
    if (report.sections.sales) {
        count_row(words.first_payments, now.first_payments, before.first_payments);
        // The main currency first, then any other either week had.
        std::vector<std::string> currencies = {report.currency};
        for (const auto* week : {&now, &before}) {
            for (const auto& entry : week->sales) {
                if (std::find(currencies.begin(), currencies.end(), entry.currency) ==
                    currencies.end()) {
                    currencies.push_back(entry.currency);
                }
            }
        }
        for (const auto& currency : currencies) {
            const int64_t cents_now = now.sales_cents(currency);
            const int64_t cents_before = before.sales_cents(currency);
            const int64_t change = cents_now - cents_before;
            row(std::string(words.sales) + " " + currency, format_money(cents_now, currency),
                format_money(cents_before, currency),
                (change > 0 ? "+" : "") + format_money(change, currency));
        }
    }
    document.advance(14);

    if (report.sections.charts) {
        if (report.sections.appointments) {
            week_bar_chart(document, words.per_day_chart, now.appointments_per_day,
                           before.appointments_per_day, now.week, before.week, report.language,
                           false, report.currency);
        }
        if (report.sections.sales) {
            week_bar_chart(document,
                           std::string(words.sales_per_day_chart) + " (" + report.currency + ")",
                           now.sales_per_day_cents, before.sales_per_day_cents, now.week,
                           before.week, report.language, true, report.currency);
        }
    }
    return document.finish();
}

}  // namespace reportes
