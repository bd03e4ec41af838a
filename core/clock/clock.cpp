#include "clock/clock.h"

#include <date/date.h>

#include <cctype>
#include <sstream>

namespace miconsul::clock {

std::string rfc3339_utc(TimePoint instant) {
    return date::format("%FT%TZ", std::chrono::floor<std::chrono::seconds>(instant));
}

std::string now_text() { return rfc3339_utc(std::chrono::system_clock::now()); }

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
