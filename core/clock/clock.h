// Time for the host: one place that reads the wall clock, and RFC 3339 text for storage and
// the API (UTC, second precision, sortable as text).
#pragma once

#include <chrono>
#include <string>

namespace miconsul::clock {

using TimePoint = std::chrono::system_clock::time_point;

/// "2026-11-28T00:42:14Z".
std::string rfc3339_utc(TimePoint instant);

/// rfc3339_utc of the current time.
std::string now_text();

/// Unix milliseconds of the current time.
int64_t now_unix_ms();

}  // namespace miconsul::clock
