// Cron expressions for plugin schedules, evaluated on a tenant's local wall clock (an IANA time
// zone) so that "every day at 08:00" means 08:00 in Mexico City or in Madrid, whatever the
// season. This module only answers "when does it fire next?"; claiming, leases, misfires and
// retries live elsewhere in the scheduler and work on the UTC instants returned here.
//
// Syntax accepted by CronExpression::parse:
//   [second] minute hour day-of-month month day-of-week      (5 fields, or 6 with seconds)
//   second 0-59, minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
//   day-of-week 0-7 or SUN-SAT (0 and 7 are both Sunday; as the end of a range, SUN means 7, so
//   FRI-SUN is Friday to Sunday). Names are three letters, case-insensitive.
//   Each field is a comma-separated list of: '*', n, a-b, */s, a-b/s, a/s (meaning a-max/s).
//   Macros (case-insensitive, standing alone): @yearly @annually @monthly @weekly @daily
//   @midnight @hourly. @reboot is not supported: the host has no notion of "at start-up" runs.
//
// Day rule (Vixie cron / cronie): a field is "starred" when its text starts with '*' -- this
// includes "*/2" and "*,5". If day-of-month or day-of-week is starred, a day must match both
// fields (a plain '*' matches every day, so only the other field matters); if neither is
// starred, a day matches when EITHER matches. So "0 0 1 * MON" runs on the 1st and on every
// Monday, while "0 0 */2 * MON" runs on Mondays that fall on an odd day of the month.
//
// Daylight saving (all matching is on local wall-clock fields; the rules follow cronie/Quartz):
//   An expression "follows elapsed time" when its hour field matches all 24 hours ('*', '*/1',
//   '0-23'); otherwise it is a "fixed-time" expression (a specific set of wall-clock hours,
//   including steps such as '*/2' that skip hours). Only the hour field decides: "* 2 * * *"
//   is fixed-time, so on a spring-forward day its 60 nonexistent minutes run shifted, at
//   03:00-03:59 EDT in New York, and on a fall-back day "* 1 * * *" runs only in 01:00-01:59 EDT.
//   * Spring forward (local times in the gap do not exist):
//       - fixed-time: a nonexistent local time fires once, at that wall-clock time read with the
//         offset in force before the transition, i.e. shifted forward by the size of the gap.
//         02:30 on 2026-03-08 in America/New_York fires at 07:30Z = 03:30 EDT; 02:30 on
//         2026-03-29 in Europe/Madrid fires at 01:30Z = 03:30 CEST. If the shifted instant
//         coincides with another run (e.g. "30 2,3 * * *") it is a single run.
//       - follows elapsed time: nonexistent times are simply skipped ("0 * * * *" has no 02:00
//         that day; it runs at 01:00 EST and then 03:00 EDT, one real hour apart).
//   * Fall back (local times in the repeated hour occur twice):
//       - fixed-time: fires once, at the first occurrence (01:30 EDT on 2026-11-01 in New York,
//         02:30 CEST on 2026-10-25 in Madrid).
//       - follows elapsed time: fires at both occurrences ("0 * * * *" runs at 01:00 EDT and
//         again at 01:00 EST, one real hour apart).
//   Note: date::choose::earliest/latest are NOT used for nonexistent times: date/tz maps every
//   nonexistent local time to the transition instant itself (03:00 EDT), which would collapse
//   02:00, 02:15, 02:30... onto one instant. The shift is computed from the zone's own offsets.
//
// Known limitation of the date/tz build in use (3.0.1 with USE_OS_TZDB): it ignores the POSIX
// rule at the end of TZif files, so zones stop observing DST after their last listed transition
// (2037 for America/New_York). Schedules more than ~11 years out will be an hour off in summer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json_fwd.hpp>

// Forward declared so that includers do not pull in <date/tz.h>, whose class layout depends on
// the USE_OS_TZDB macro; only code that calls date::locate_zone needs the full header (and must
// be built with -DUSE_OS_TZDB=1 like the library itself).
namespace date {
class time_zone;
}  // namespace date

namespace miconsul::scheduler {

/// A point in time in UTC, second precision.
using Instant = std::chrono::sys_seconds;

namespace internal {

/// The parsed fields as bit sets: bit n set means value n matches. Internal to cron.cpp; exposed
/// only so CronExpression can hold it by value.
struct CronFields {
    std::uint64_t seconds = 0;        // bits 0-59
    std::uint64_t minutes = 0;        // bits 0-59
    std::uint32_t hours = 0;          // bits 0-23
    std::uint32_t days_of_month = 0;  // bits 1-31
    std::uint16_t months = 0;         // bits 1-12
    std::uint8_t days_of_week = 0;    // bits 0-6, Sunday = 0 (7 is folded into 0)
    bool day_of_month_starred = false;
    bool day_of_week_starred = false;
};

}  // namespace internal

/// A parsed cron expression. Immutable, cheap to copy, thread-safe to share.
/// See the comment at the top of this file for the syntax, the day rule and the DST rules.
class CronExpression {
public:
    /// Parses 5 fields (minute hour day-of-month month day-of-week), 6 fields (a leading seconds
    /// field), or a macro (@yearly @annually @monthly @weekly @daily @midnight @hourly).
    /// Fields are separated by any whitespace; surrounding whitespace is ignored. Text longer than
    /// 200 characters is refused. On failure returns a human-readable reason that names the field
    /// and quotes the offending text, e.g. "hour: 24 is out of range 0-23".
    static std::variant<CronExpression, std::string> parse(std::string_view text);

    /// The first instant strictly after `after` at which the expression fires, with the fields
    /// matched against local wall-clock time in `zone` (from date::locate_zone) and the DST rules
    /// described at the top of this file. Returns nullopt when it does not fire within 5 years
    /// (5 x 365.2425 days) after `after` (e.g. "0 0 30 2 *"), when `zone` is null, or when
    /// `after` is outside the years 1-9000. Cost is proportional to the number of days scanned
    /// (months that cannot match are skipped whole), never to minutes or seconds: a fruitless
    /// 5-year search takes well under a millisecond. Thread-safe.
    std::optional<Instant> next_after(Instant after, const date::time_zone* zone) const;

    /// The text it was parsed from with whitespace normalised to single spaces between fields;
    /// macros are lower-cased ("@daily"). Parsing text() again gives an equal schedule.
    const std::string& text() const { return text_; }

    /// True for the 6-field form (with a seconds field); false for 5 fields and macros, which
    /// fire at second 0.
    bool has_seconds() const { return has_seconds_; }

private:
    CronExpression(internal::CronFields fields, std::string text, bool has_seconds)
        : fields_(fields), text_(std::move(text)), has_seconds_(has_seconds) {}

    internal::CronFields fields_;
    std::string text_;
    bool has_seconds_ = false;
};

/// The cron text of a schedule whose fields name plugin settings ("0 {reminder_hour} * * *",
/// since ABI 1.3) with each `{name}` replaced by the integer that key holds in `settings`, so
/// that each tenant's schedule fires when its own settings say. `problem` is empty on success,
/// else names the setting that is missing or not an integer, or the unclosed brace.
struct CronWithSettings {
    std::string text;
    std::string problem;
};
CronWithSettings substitute_settings(std::string_view cron, const nlohmann::json& settings);

/// Whether the cron text names any setting.
inline bool names_settings(std::string_view cron) {
    return cron.find('{') != std::string_view::npos;
}

}  // namespace miconsul::scheduler
