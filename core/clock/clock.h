// Time for the host: one place that reads the wall clock, and RFC 3339 text for storage and
// the API (UTC, second precision, sortable as text).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace miconsul::clock {

using TimePoint = std::chrono::system_clock::time_point;

/// "2026-11-28T00:42:14Z".
std::string rfc3339_utc(TimePoint instant);

/// rfc3339_utc of the current time.
std::string now_text();

/// Unix milliseconds of the current time.
int64_t now_unix_ms();

/// Parses RFC 3339 ("2026-11-28T08:00:00Z", "2026-11-28T02:00:00-06:00", fractions allowed
/// and dropped); nullopt when malformed.
std::optional<TimePoint> parse_rfc3339(std::string_view text);

/// Where the scheduler reads the time, so tests can move it.
class Clock {
public:
    virtual ~Clock() = default;
    virtual TimePoint now() const = 0;
};

/// The system's wall clock.
class SystemClock final : public Clock {
public:
    TimePoint now() const override { return std::chrono::system_clock::now(); }
};

/// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
public:
    explicit ManualClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
    TimePoint now() const override { return TimePoint(TimePoint::duration(now_.load())); }
    void set(TimePoint instant) { now_ = instant.time_since_epoch().count(); }
    void advance(std::chrono::milliseconds by) {
        now_ += std::chrono::duration_cast<TimePoint::duration>(by).count();
    }

private:
    std::atomic<TimePoint::rep> now_;
};

}  // namespace miconsul::clock
