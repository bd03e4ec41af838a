// How long the PDF of a busy day takes: the clinic-wide daily report of 1,000 appointments (a
// table over about 20 pages) and a weekly report with its charts. Goal: under 200 ms for the
// 1,000 appointments. Run: build/plugins/reportes/reportes_pdf_bench
//   --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
#include "report_pdf.h"

#include <benchmark/benchmark.h>

namespace {

reportes::DailyReport busy_day(int appointments) {
    static const char* const kStatuses[] = {"scheduled", "confirmed", "completed", "no-show",
                                            "cancelled"};
    reportes::DailyReport report;
    report.clinic = "Clínica Sol";
    report.date = "2026-12-01";
    for (int i = 0; i < appointments; ++i) {
        const std::string status = kStatuses[i % 5];
        char time[8];
        std::snprintf(time, sizeof time, "%02d:%02d", 8 + (i / 100) % 12, i % 60);
        report.appointments.push_back({time, "Paciente Número " + std::to_string(i) + " Pérez",
                                       "Dra. Núñez " + std::to_string(i % 10), status});
        ++report.appointments_by_status[status];
    }
    report.sales = {{"MXN", 123456789, 800, {{"card", 100000000}, {"cash", 23456789}}},
                    {"USD", 500000, 10, {{"card", 500000}}}};
    return report;
}

void DailyPdf(benchmark::State& state) {
    const reportes::DailyReport report = busy_day(static_cast<int>(state.range(0)));
    size_t bytes = 0;
    for (auto _ : state) {
        const std::string pdf = reportes::render_daily_pdf(report);
        bytes = pdf.size();
        benchmark::DoNotOptimize(pdf.data());
    }
    state.counters["pdf_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(DailyPdf)->Arg(10)->Arg(1000)->Unit(benchmark::kMillisecond);

void WeeklyPdf(benchmark::State& state) {
    reportes::WeeklyReport report;
    report.clinic = "Clínica Sol";
    report.current = {"2026-W49",
                      "2026-11-30",
                      "2026-12-07",
                      {{"completed", 80}, {"no-show", 6}},
                      12,
                      9,
                      {{"MXN", 5230000, 90, {}}},
                      {20, 18, 15, 17, 16, 4, 0},
                      {900000, 800000, 700000, 1000000, 1200000, 630000, 0}};
    report.previous = report.current;
    report.previous.week = "2026-W48";
    for (auto _ : state) {
        const std::string pdf = reportes::render_weekly_pdf(report);
        benchmark::DoNotOptimize(pdf.data());
    }
}
BENCHMARK(WeeklyPdf)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
