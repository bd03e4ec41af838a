// RFC 3339 text: what every stored time is written as, and sorts by.
#include "clock/clock.h"

#include <gtest/gtest.h>

namespace {
using miconsul::clock::parse_rfc3339;
using miconsul::clock::rfc3339_utc;
using miconsul::clock::TimePoint;

TEST(Rfc3339, FormatsUtcWithSecondsAndDropsFractions) {
    EXPECT_EQ(rfc3339_utc(TimePoint{}), "1970-01-01T00:00:00Z");
    EXPECT_EQ(rfc3339_utc(parse_rfc3339("2026-03-08T07:05:09Z").value() +
                          std::chrono::milliseconds(999)),
              "2026-03-08T07:05:09Z");
    EXPECT_EQ(rfc3339_utc(parse_rfc3339("2024-02-29T23:59:59Z").value()), "2024-02-29T23:59:59Z");
    // Before 1970 the second is floored, not truncated towards zero.
    EXPECT_EQ(rfc3339_utc(TimePoint{} - std::chrono::milliseconds(1)), "1969-12-31T23:59:59Z");
}

TEST(Rfc3339, ParsesOffsetsAndRefusesGarbage) {
    EXPECT_EQ(rfc3339_utc(parse_rfc3339("2026-11-01T01:30:00-05:00").value()),
              "2026-11-01T06:30:00Z");
    EXPECT_EQ(rfc3339_utc(parse_rfc3339("2026-11-01T06:30:00.250Z").value()),
              "2026-11-01T06:30:00Z");
    EXPECT_FALSE(parse_rfc3339("2026-11-01 06:30"));
    EXPECT_FALSE(parse_rfc3339("yesterday at noon, more or less"));
    EXPECT_FALSE(parse_rfc3339("2026-13-01T06:30:00Z"));
}
}  // namespace
