// reportes — draws the daily and weekly reports as PDF with cairo. Takes the plain structs of
// report_model.h only, so it can be unit-tested and benchmarked without a host.
#pragma once

#include "report_model.h"

#include <string>

namespace reportes {

/// The PDF bytes of a day's report: header, appointments by status, sales by method and
/// currency, an optional chart of the statuses, and the table of appointments over as many A4
/// pages as it needs. Throws std::runtime_error if cairo fails.
std::string render_daily_pdf(const DailyReport& report);

/// The PDF bytes of a week's report against the previous week: the figures side by side and,
/// when sections.charts is set, bar charts of appointments and sales per day for both weeks.
std::string render_weekly_pdf(const WeeklyReport& report);

}  // namespace reportes
