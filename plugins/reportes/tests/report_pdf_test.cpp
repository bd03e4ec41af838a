// Unit tests of the PDF module: money formatting, rates, and PDFs whose text pdftotext can read
// and whose charts really draw (coloured pixels where the bars are).
#include "report_pdf.h"

#include "shell_output.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

namespace {

using reportes::testing::shell_output;

using reportes::AppointmentLine;
using reportes::DailyReport;
using reportes::WeeklyReport;

class TemporaryPdf {
public:
    explicit TemporaryPdf(const std::string& bytes) {
        path_ =
            std::filesystem::temp_directory_path() / ("reportes-test-" + std::to_string(getpid()) +
                                                      "-" + std::to_string(counter_++) + ".pdf");
        std::ofstream(path_, std::ios::binary) << bytes;
    }
    ~TemporaryPdf() { std::filesystem::remove(path_); }
    std::string text() const {
        return shell_output("pdftotext -layout '" + path_.string() + "' -");
    }
    int pages() const {
        const std::string info = shell_output("pdfinfo '" + path_.string() + "' | grep Pages");
        return info.empty() ? 0 : std::stoi(info.substr(info.find(':') + 1));
    }
    /// Pixels of a page (rendered at 36 dpi) that are clearly coloured — text is black and
    /// grey, so only chart bars make them.
    size_t coloured_pixels(int page) const {
        const std::string ppm = shell_output("pdftoppm -r 36 -f " + std::to_string(page) + " -l " +
                                             std::to_string(page) + " '" + path_.string() + "'");
        // P6\n<w> <h>\n255\n then RGB bytes.
        size_t offset = 0;
        for (int lines = 0; lines < 3 && offset < ppm.size(); ++offset) {
            if (ppm[offset] == '\n') ++lines;
        }
        size_t coloured = 0;
        for (size_t i = offset; i + 2 < ppm.size(); i += 3) {
            const int red = static_cast<unsigned char>(ppm[i]);
            const int blue = static_cast<unsigned char>(ppm[i + 2]);
            if (blue - red > 60) ++coloured;
        }
        return coloured;
    }

private:
    static inline int counter_ = 0;
    std::filesystem::path path_;
};

DailyReport sample_day() {
    DailyReport report;
    report.clinic = "Clínica Sol";
    report.date = "2026-12-01";
    report.doctor_id = "d1";
    report.doctor_name = "Dra. Ruiz";
    report.appointments_by_status = {{"completed", 2}, {"no-show", 1}};
    report.appointments = {{"09:00", "Ana López", "Dra. Ruiz", "completed"},
                           {"10:00", "Luis Pérez", "Dra. Ruiz", "completed"},
                           {"11:30", "Eva Núñez", "Dra. Ruiz", "no-show"}};
    report.sales = {{"MXN", 123450, 2, {{"card", 100000}, {"cash", 23450}}},
                    {"USD", 5000, 1, {{"card", 5000}}}};
    return report;
}

TEST(ReportFormat, MoneyIsWrittenAsAClinicInMexicoReadsIt) {
    EXPECT_EQ(reportes::format_money(123450, "MXN"), "$1,234.50 MXN");
    EXPECT_EQ(reportes::format_money(5, "MXN"), "$0.05 MXN");
    EXPECT_EQ(reportes::format_money(100000000, "MXN"), "$1,000,000.00 MXN");
    EXPECT_EQ(reportes::format_money(-2500, "USD"), "-$25.00 USD");
    EXPECT_EQ(reportes::format_money(99900, "EUR"), "999.00 EUR");
    EXPECT_EQ(reportes::format_money(0, "MXN"), "$0.00 MXN");
}

TEST(ReportFormat, RatesCountOnlyAppointmentsWithAnOutcome) {
    reportes::WeekFigures week;
    EXPECT_FALSE(week.completion_rate().has_value());
    EXPECT_EQ(reportes::format_rate(week.completion_rate()), "—");
    week.appointments_by_status = {
        {"completed", 3}, {"no-show", 1}, {"cancelled", 5}, {"scheduled", 2}};
    EXPECT_DOUBLE_EQ(*week.completion_rate(), 0.75);
    EXPECT_DOUBLE_EQ(*week.no_show_rate(), 0.25);
    EXPECT_EQ(reportes::format_rate(week.completion_rate()), "75.0 %");
    EXPECT_EQ(week.appointments(), 11);
}

TEST(ReportPdf, DailyPdfTextIsExtractableWithTheFigures) {
    const std::string pdf = reportes::render_daily_pdf(sample_day());
    ASSERT_EQ(pdf.rfind("%PDF", 0), 0u);
    const TemporaryPdf file(pdf);
    const std::string text = file.text();
    for (const char* expected :
         {"Reporte diario", "2026-12-01", "Dra. Ruiz", "Clínica Sol", "Ana López", "Eva Núñez",
          "No asistió", "Completada", "$1,234.50 MXN", "$1,000.00 MXN", "$234.50 MXN", "Tarjeta",
          "Efectivo", "Otras monedas", "$50.00 USD", "Citas: 3"}) {
        EXPECT_NE(text.find(expected), std::string::npos) << expected << " in\n" << text;
    }
}

TEST(ReportPdf, EnglishAndSectionsChangeWhatIsShown) {
    DailyReport report = sample_day();
    report.language = "en";
    report.sections.sales = false;
    const std::string text = TemporaryPdf(reportes::render_daily_pdf(report)).text();
    EXPECT_NE(text.find("Daily report"), std::string::npos) << text;
    EXPECT_NE(text.find("No-show"), std::string::npos) << text;
    EXPECT_EQ(text.find("$1,234.50"), std::string::npos) << "sales section is off";
}

TEST(ReportPdf, AThousandAppointmentsFlowOverPagesWithHeadersRepeated) {
    DailyReport report = sample_day();
    report.doctor_id.clear();  // clinic-wide: with the doctor column
    report.appointments.clear();
    for (int i = 0; i < 1000; ++i) {
        report.appointments.push_back({"10:00", "Paciente " + std::to_string(i), "Dr. Uno",
                                       i % 2 ? "completed" : "scheduled"});
    }
    report.appointments_by_status = {{"completed", 500}, {"scheduled", 500}};
    const auto started = std::chrono::steady_clock::now();
    const std::string pdf = reportes::render_daily_pdf(report);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    const TemporaryPdf file(pdf);
    EXPECT_GE(file.pages(), 18);
    const std::string text = file.text();
    EXPECT_NE(text.find("Paciente 0 "), std::string::npos);
    EXPECT_NE(text.find("Paciente 999"), std::string::npos);
    EXPECT_NE(text.find("Toda la clínica"), std::string::npos);
    // A generous bound for a loaded test machine; the benchmark measures it properly.
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 2000);
}

WeeklyReport sample_week() {
    WeeklyReport report;
    report.clinic = "Clínica Sol";
    report.current.week = "2026-W49";
    report.current.from = "2026-11-30";
    report.current.to = "2026-12-07";
    report.current.appointments_by_status = {{"completed", 6}, {"no-show", 2}};
    report.current.appointments_per_day = {3, 2, 1, 0, 2, 0, 0};
    report.current.sales = {{"MXN", 250000, 4, {}}};
    report.current.sales_per_day_cents = {100000, 150000, 0, 0, 0, 0, 0};
    report.current.new_patients = 5;
    report.current.first_payments = 3;
    report.previous.week = "2026-W48";
    report.previous.from = "2026-11-23";
    report.previous.to = "2026-11-30";
    report.previous.appointments_by_status = {{"completed", 1}};
    report.previous.appointments_per_day = {1, 0, 0, 0, 0, 0, 0};
    report.previous.sales = {{"MXN", 50000, 1, {}}};
    report.previous.sales_per_day_cents = {50000, 0, 0, 0, 0, 0, 0};
    return report;
}

TEST(ReportPdf, WeeklyPdfHoldsBothWeeksAndDrawsItsCharts) {
    const TemporaryPdf with_charts(reportes::render_weekly_pdf(sample_week()));
    const std::string text = with_charts.text();
    for (const char* expected :
         {"Reporte semanal", "2026-W49", "2026-W48", "$2,500.00 MXN", "$500.00 MXN",
          "+$2,000.00 MXN", "75.0 %", "25.0 %", "100.0 %", "Citas por día", "Ventas por día (MXN)",
          "Lun", "Dom", "Pacientes nuevos", "Primeros pagos"}) {
        EXPECT_NE(text.find(expected), std::string::npos) << expected << " in\n" << text;
    }
    EXPECT_GT(with_charts.coloured_pixels(1), 100u) << "the blue bars are drawn";

    WeeklyReport no_charts = sample_week();
    no_charts.sections.charts = false;
    const TemporaryPdf without(reportes::render_weekly_pdf(no_charts));
    EXPECT_EQ(without.coloured_pixels(1), 0u);
    EXPECT_EQ(without.text().find("Citas por día"), std::string::npos);
}

}  // namespace
