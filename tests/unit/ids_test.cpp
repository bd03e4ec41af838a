#include "ids/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace {
using namespace std::chrono;
using miconsul::ids::time_ordered_uuid;

const system_clock::time_point kInstant = sys_days{2026y / November / 28} + hours(8);

TEST(TimeOrderedUuid, IsAVersion7UuidCarryingTheMillisecondsOfItsInstant) {
    const std::string id = time_ordered_uuid(kInstant + milliseconds(123));
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[14], '7');                                          // version
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // RFC variant
    const auto milliseconds_since_epoch =
        duration_cast<milliseconds>((kInstant + milliseconds(123)).time_since_epoch()).count();
    const std::string hex = id.substr(0, 8) + id.substr(9, 4);
    EXPECT_EQ(std::stoll(hex, nullptr, 16), milliseconds_since_epoch);
}

TEST(TimeOrderedUuid, LaterInstantsSortAfterAndOneMillisecondStillGivesDistinctIds) {
    EXPECT_LT(time_ordered_uuid(kInstant), time_ordered_uuid(kInstant + milliseconds(1)));
    EXPECT_LT(time_ordered_uuid(kInstant + milliseconds(999)),
              time_ordered_uuid(kInstant + hours(24 * 400)));
    std::set<std::string> same_millisecond;
    for (int i = 0; i < 1000; ++i) same_millisecond.insert(time_ordered_uuid(kInstant));
    EXPECT_EQ(same_millisecond.size(), 1000u);
}
}  // namespace
