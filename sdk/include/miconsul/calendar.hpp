// MiConsul SDK — calendar arithmetic on the clinic's local days, header-only.
//
// The host speaks of days as "YYYY-MM-DD" in the tenant's zone (records queries, reports) and of
// instants as RFC 3339 UTC ("2026-12-01T16:00:00Z"). Which local day an instant falls on is the
// host's to say (Context::local_time, which knows the zone's rules); what follows is the
// zone-free arithmetic a plugin does on top: the next day, the days of an ISO week, instants
// read back from the host's text.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace miconsul::calendar {

namespace detail {
inline bool digits(std::string_view text, size_t from, size_t count, int& value) {
    if (text.size() < from + count) return false;
    value = 0;
    for (size_t i = from; i < from + count; ++i) {
        if (text[i] < '0' || text[i] > '9') return false;
        value = value * 10 + (text[i] - '0');
    }
    return true;
}
}  // namespace detail

/// "YYYY-MM-DD" read as a real calendar date, or nullopt (2026-02-30 is not one).
inline std::optional<std::chrono::year_month_day> parse_date(std::string_view text) {
    int year = 0, month = 0, day = 0;
    if (text.size() != 10 || text[4] != '-' || text[7] != '-' ||
        !detail::digits(text, 0, 4, year) || !detail::digits(text, 5, 2, month) ||
        !detail::digits(text, 8, 2, day)) {
        return std::nullopt;
    }
    const std::chrono::year_month_day date{std::chrono::year(year),
                                           std::chrono::month(static_cast<unsigned>(month)),
                                           std::chrono::day(static_cast<unsigned>(day))};
    if (!date.ok()) return std::nullopt;
    return date;
}

/// "YYYY-MM-DD".
inline std::string format_date(std::chrono::year_month_day date) {
    char text[32];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
    return text;
}

/// The date `days` after (or before, when negative) a valid "YYYY-MM-DD"; nullopt if invalid
/// or when the result leaves the years 0000-9999 that "YYYY-MM-DD" can write.
inline std::optional<std::string> add_days(std::string_view date, int days) {
    const auto parsed = parse_date(date);
    if (!parsed) return std::nullopt;
    const std::chrono::year_month_day result(std::chrono::sys_days(*parsed) +
                                             std::chrono::days(days));
    if (result.year() < std::chrono::year(0) || result.year() > std::chrono::year(9999)) {
        return std::nullopt;
    }
    return format_date(result);
}

/// ISO weekday of a date: Monday 1 … Sunday 7.
inline unsigned iso_weekday(std::chrono::year_month_day date) {
    return std::chrono::weekday(std::chrono::sys_days(date)).iso_encoding();
}

/// The Monday of an ISO week "YYYY-Www" (2026-W49 → 2026-11-30), or nullopt when the text is
/// not one or the year has no such week (only some years have a W53).
inline std::optional<std::string> iso_week_monday(std::string_view week) {
    int year = 0, number = 0;
    if (week.size() != 8 || week[4] != '-' || week[5] != 'W' || !detail::digits(week, 0, 4, year) ||
        !detail::digits(week, 6, 2, number) || number < 1 || number > 53) {
        return std::nullopt;
    }
    using namespace std::chrono;
    // Week 1 is the week holding 4 January.
    const sys_days january_4 = year_month_day{std::chrono::year(year), January, day(4)};
    const sys_days week_1_monday = january_4 - days(weekday(january_4).iso_encoding() - 1);
    const sys_days monday = week_1_monday + weeks(number - 1);
    const sys_days next_year_week_1 =
        sys_days(year_month_day{std::chrono::year(year + 1), January, day(4)}) -
        days(weekday(sys_days(year_month_day{std::chrono::year(year + 1), January, day(4)}))
                 .iso_encoding() -
             1);
    if (monday >= next_year_week_1) return std::nullopt;
    return format_date(monday);
}

/// The ISO week "YYYY-Www" a valid date belongs to; nullopt if the date is invalid.
inline std::optional<std::string> iso_week_of(std::string_view date) {
    const auto parsed = parse_date(date);
    if (!parsed) return std::nullopt;
    using namespace std::chrono;
    const sys_days day_point(*parsed);
    // The week's Thursday decides its year.
    const sys_days thursday = day_point + days(4 - static_cast<int>(iso_weekday(*parsed)));
    const year_month_day thursday_date(thursday);
    const sys_days january_1 = year_month_day{thursday_date.year(), January, day(1)};
    const int number = static_cast<int>((thursday - january_1).count() / 7 + 1);
    char text[32];
    std::snprintf(text, sizeof text, "%04d-W%02d", static_cast<int>(thursday_date.year()), number);
    return std::string(text);
}

/// Unix milliseconds of an RFC 3339 UTC instant as the host writes them
/// ("2026-12-01T16:00:00Z", fractions allowed), or nullopt.
inline std::optional<int64_t> parse_utc_ms(std::string_view text) {
    int hour = 0, minute = 0, second = 0;
    if (text.size() < 20 || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
        text.back() != 'Z' || !detail::digits(text, 11, 2, hour) ||
        !detail::digits(text, 14, 2, minute) || !detail::digits(text, 17, 2, second) || hour > 23 ||
        minute > 59 || second > 60) {
        return std::nullopt;
    }
    const auto date = parse_date(text.substr(0, 10));
    if (!date) return std::nullopt;
    int64_t milliseconds = 0;
    if (text.size() > 20) {  // ".123Z"
        if (text[19] != '.') return std::nullopt;
        const std::string_view fraction = text.substr(20, text.size() - 21);
        int scale = 100;
        for (char digit : fraction) {
            if (digit < '0' || digit > '9') return std::nullopt;
            milliseconds += (digit - '0') * scale;
            scale /= 10;
        }
    }
    const auto seconds = std::chrono::sys_days(*date).time_since_epoch() +
                         std::chrono::hours(hour) + std::chrono::minutes(minute) +
                         std::chrono::seconds(second);
    return std::chrono::duration_cast<std::chrono::milliseconds>(seconds).count() + milliseconds;
}

/// "2026-12-01T16:00:00Z" for Unix milliseconds (second precision).
inline std::string format_utc(int64_t unix_ms) {
    using namespace std::chrono;
    const sys_seconds instant = floor<seconds>(sys_time<milliseconds>(milliseconds(unix_ms)));
    const sys_days day_point = floor<days>(instant);
    const hh_mm_ss<seconds> clock_time(instant - day_point);
    char text[64];
    std::snprintf(text, sizeof text, "%sT%02d:%02d:%02dZ",
                  format_date(year_month_day(day_point)).c_str(),
                  static_cast<int>(clock_time.hours().count()),
                  static_cast<int>(clock_time.minutes().count()),
                  static_cast<int>(clock_time.seconds().count()));
    return text;
}

}  // namespace miconsul::calendar
