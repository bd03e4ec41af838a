#include "clock/clock.h"

#include <date/date.h>

#include <cctype>
#include <cstdio>
#include <sstream>

namespace miconsul::clock {

std::string rfc3339_utc(TimePoint instant) {
    // The calendar from date's civil conversion, the digits by snprintf: date::format goes
    // through an ostringstream, and the scheduler writes several of these per run.
    const auto seconds = std::chrono::floor<std::chrono::seconds>(instant);
    const auto day = std::chrono::floor<date::days>(seconds);
    const date::year_month_day calendar{day};
    const date::hh_mm_ss<std::chrono::seconds> time{seconds - day};
    char text[32];
    const int length = std::snprintf(
        text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(calendar.year()),
        static_cast<unsigned>(calendar.month()), static_cast<unsigned>(calendar.day()),
        static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
        static_cast<int>(time.seconds().count()));
    return std::string(text, static_cast<size_t>(length));
}

std::string now_text() {
    return rfc3339_utc(std::chrono::system_clock::now());
}

int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<TimePoint> parse_rfc3339(std::string_view text) {
    if (text.size() < 20 || text.size() > 40) return std::nullopt;
    std::string whole(text);
    // Fractions of a second are accepted and dropped. (Parsing them through date::parse trips
    // a false -Wmaybe-uninitialized in GCC 12's <chrono> at -O2.)
    if (whole.size() > 19 && whole[19] == '.') {
        size_t end = 20;
        while (end < whole.size() && std::isdigit(static_cast<unsigned char>(whole[end]))) ++end;
        whole.erase(19, end - 19);
    }
    std::istringstream stream(whole);
    date::sys_seconds instant;
    // date's %Ez does not read "Z": UTC is matched as a literal.
    if (whole.back() == 'Z' || whole.back() == 'z') {
        whole.back() = 'Z';
        stream.str(whole);
        stream >> date::parse("%FT%TZ", instant);
    } else {
        stream >> date::parse("%FT%T%Ez", instant);
    }
    if (stream.fail()) return std::nullopt;
    stream.peek();
    if (!stream.eof()) return std::nullopt;
    return TimePoint(instant);
}

}  // namespace miconsul::clock
