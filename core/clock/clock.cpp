#include "clock/clock.h"

#include <date/date.h>

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

}  // namespace miconsul::clock
