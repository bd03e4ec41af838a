#include "scheduler/cron.h"

#include <date/date.h>
#include <date/tz.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
using miconsul::scheduler::CronExpression;
using miconsul::scheduler::Instant;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const date::time_zone* zone(const char* name) {
    return date::locate_zone(name);
}
const date::time_zone* utc_zone() {
    return zone("UTC");
}

Instant utc(int year, unsigned month, unsigned day, int hour = 0, int minute = 0, int second = 0) {
    return Instant{date::sys_days{date::year{year} / month / day}} + hours{hour} + minutes{minute} +
           seconds{second};
}

// The UTC instant at which a local wall-clock time in `tz` occurs (first occurrence if repeated;
// only used for unambiguous times in these tests).
Instant local(const date::time_zone* tz, int year, unsigned month, unsigned day, int hour = 0,
              int minute = 0) {
    const date::local_seconds wall_clock{date::local_days{date::year{year} / month / day} +
                                         hours{hour} + minutes{minute}};
    return tz->to_sys(wall_clock, date::choose::earliest);
}

std::string iso(Instant instant) {
    return date::format("%FT%TZ", instant);
}
std::string iso(std::optional<Instant> instant) {
    return instant ? iso(*instant) : "nullopt";
}

// "2026-03-08 03:30:00 EDT": how the instant reads on the wall clock in `tz`.
std::string wall_clock(Instant instant, const date::time_zone* tz) {
    return date::format("%F %T %Z", date::zoned_seconds{tz, instant});
}

CronExpression parse_or_throw(std::string_view text) {
    auto parsed = CronExpression::parse(text);
    if (auto* reason = std::get_if<std::string>(&parsed)) {
        throw std::runtime_error("parse(\"" + std::string(text) + "\") failed: " + *reason);
    }
    return std::get<CronExpression>(parsed);
}

// The reason parse gives for `text`, or "<parsed>" if it was accepted.
std::string parse_error(std::string_view text) {
    auto parsed = CronExpression::parse(text);
    if (auto* reason = std::get_if<std::string>(&parsed)) return *reason;
    return "<parsed>";
}

std::string next(std::string_view text, Instant after, const date::time_zone* tz = utc_zone()) {
    return iso(parse_or_throw(text).next_after(after, tz));
}

// The first `count` runs strictly after `after`, as ISO UTC text.
std::vector<std::string> runs(std::string_view text, Instant after, int count,
                              const date::time_zone* tz = utc_zone()) {
    const CronExpression expression = parse_or_throw(text);
    std::vector<std::string> result;
    for (int i = 0; i < count; ++i) {
        const std::optional<Instant> run = expression.next_after(after, tz);
        if (!run) break;
        result.push_back(iso(*run));
        after = *run;
    }
    return result;
}

using Strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Parsing: accepted forms
// ---------------------------------------------------------------------------------------------

TEST(CronParse, AcceptsFiveAndSixFields) {
    const CronExpression five = parse_or_throw("* * * * *");
    EXPECT_FALSE(five.has_seconds());
    const CronExpression six = parse_or_throw("0 * * * * *");
    EXPECT_TRUE(six.has_seconds());
}

TEST(CronParse, NormalisesWhitespace) {
    EXPECT_EQ(parse_or_throw("  0   9 *\t* 1-5 \n").text(), "0 9 * * 1-5");
    EXPECT_EQ(parse_or_throw("*/5 * * * * *").text(), "*/5 * * * * *");
}

TEST(CronParse, AcceptsNamesListsRangesAndSteps) {
    for (const char* text :
         {"0 0 * jan-MAR mon-fri", "0 0 * JAN,jul,Dec SUN,sat", "0 0 * * FRI-SUN", "1-10/3 * * * *",
          "5/20 * * * *", "0,15,30,45 0-6,18-23/2 * * *", "*/7 * 1-31/10 * 0-7", "59 59 23 31 12 7",
          "0 0 1 1 0"}) {
        EXPECT_EQ(parse_error(text), "<parsed>") << text;
    }
}

TEST(CronParse, AcceptsMacrosCaseInsensitively) {
    for (const char* text :
         {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}) {
        const CronExpression expression = parse_or_throw(text);
        EXPECT_EQ(expression.text(), text);
        EXPECT_FALSE(expression.has_seconds());
    }
    EXPECT_EQ(parse_or_throw("  @DAILY ").text(), "@daily");
}

TEST(CronParse, AcceptsUpTo200Characters) {
    std::string text = "0 0 * * *";
    text.resize(200, ' ');
    EXPECT_EQ(parse_error(text), "<parsed>");
    text.push_back(' ');
    EXPECT_EQ(parse_error(text), "expression is 201 characters long; at most 200 are allowed");
}

TEST(CronParse, CopiesShareNothingMutable) {
    const CronExpression original = parse_or_throw("0 8 * * *");
    const CronExpression copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
    EXPECT_EQ(copy.text(), original.text());
    EXPECT_EQ(iso(copy.next_after(utc(2026, 1, 1), utc_zone())),
              iso(original.next_after(utc(2026, 1, 1), utc_zone())));
}

// ---------------------------------------------------------------------------------------------
// Parsing: every reason for refusal
// ---------------------------------------------------------------------------------------------

TEST(CronParseErrors, EmptyAndWrongFieldCount) {
    EXPECT_EQ(parse_error(""), "expression is empty");
    EXPECT_EQ(parse_error(" \t "), "expression is empty");
    EXPECT_EQ(parse_error("* * * *"),
              "expected 5 fields (minute hour day-of-month month day-of-week), 6 with a leading "
              "second, or a macro such as @daily; got 4 in '* * * *'");
    EXPECT_NE(parse_error("* * * * * * *").find("got 7"), std::string::npos);
}

TEST(CronParseErrors, EmptyListItem) {
    EXPECT_EQ(parse_error("1,,2 * * * *"), "minute: empty item in list '1,,2'");
    EXPECT_EQ(parse_error("0 0 * * MON,"), "day-of-week: empty item in list 'MON,'");
}

TEST(CronParseErrors, NotANumber) {
    EXPECT_EQ(parse_error("x * * * *"), "minute: 'x' is not a number");
    EXPECT_EQ(parse_error("5x * * * *"), "minute: '5x' is not a number");
    EXPECT_EQ(parse_error("0 MON * * *"), "hour: 'MON' is not a number");
    EXPECT_EQ(parse_error("+5 * * * *"), "minute: '+5' is not a number");
    EXPECT_EQ(parse_error("-5 * * * *"), "minute: missing number in '-5'");
    EXPECT_EQ(parse_error("0 1- * * *"), "hour: missing number in '1-'");
}

TEST(CronParseErrors, OutOfRangeForEveryField) {
    EXPECT_EQ(parse_error("60 * * * * *"), "second: 60 is out of range 0-59");
    EXPECT_EQ(parse_error("60 * * * *"), "minute: 60 is out of range 0-59");
    EXPECT_EQ(parse_error("0 24 * * *"), "hour: 24 is out of range 0-23");
    EXPECT_EQ(parse_error("0 0 0 * *"), "day-of-month: 0 is out of range 1-31");
    EXPECT_EQ(parse_error("0 0 32 * *"), "day-of-month: 32 is out of range 1-31");
    EXPECT_EQ(parse_error("0 0 * 0 *"), "month: 0 is out of range 1-12");
    EXPECT_EQ(parse_error("0 0 * 13 *"), "month: 13 is out of range 1-12");
    EXPECT_EQ(parse_error("0 0 * * 8"), "day-of-week: 8 is out of range 0-7");
    EXPECT_EQ(parse_error("0 1-24 * * *"), "hour: 24 is out of range 0-23");
    EXPECT_EQ(parse_error("99999999999 * * * *"), "minute: 99999999999 is out of range 0-59");
}

TEST(CronParseErrors, ReversedRange) {
    EXPECT_EQ(parse_error("0 0 5-2 * *"), "day-of-month: range 5-2 is reversed");
    EXPECT_EQ(parse_error("0 0 * DEC-JAN *"), "month: range DEC-JAN is reversed");
    EXPECT_EQ(parse_error("0 0 * * 6-0"), "day-of-week: range 6-0 is reversed");
}

TEST(CronParseErrors, BadStep) {
    EXPECT_EQ(parse_error("*/0 * * * *"), "minute: step 0 in '*/0' must be at least 1");
    EXPECT_EQ(parse_error("0 1-5/0 * * *"), "hour: step 0 in '1-5/0' must be at least 1");
    EXPECT_EQ(parse_error("*/x * * * *"), "minute: step 'x' in '*/x' is not a number");
    EXPECT_EQ(parse_error("1/2/3 * * * *"), "minute: step '2/3' in '1/2/3' is not a number");
    EXPECT_EQ(parse_error("*/ * * * *"), "minute: missing step in '*/'");
}

TEST(CronParseErrors, UnknownName) {
    EXPECT_EQ(parse_error("0 0 * FOO *"), "month: unknown name 'FOO'");
    EXPECT_EQ(parse_error("0 0 * * MONDAY"), "day-of-week: unknown name 'MONDAY'");
    EXPECT_EQ(parse_error("0 0 * JAN-xyz *"), "month: unknown name 'xyz'");
}

TEST(CronParseErrors, UnknownMacro) {
    EXPECT_EQ(parse_error("@reboot"),
              "unknown macro '@reboot' (expected @yearly, @annually, @monthly, @weekly, @daily, "
              "@midnight or @hourly)");
    EXPECT_EQ(parse_error("@daily 5"), "macro '@daily' must stand alone");
}

// ---------------------------------------------------------------------------------------------
// next_after in UTC
// ---------------------------------------------------------------------------------------------

TEST(CronNextUtc, EveryMinuteIsStrictlyAfter) {
    EXPECT_EQ(next("* * * * *", utc(2026, 1, 1)), "2026-01-01T00:01:00Z");
    EXPECT_EQ(next("* * * * *", utc(2026, 1, 1, 0, 0, 30)), "2026-01-01T00:01:00Z");
    EXPECT_EQ(next("* * * * *", utc(2026, 12, 31, 23, 59, 59)), "2027-01-01T00:00:00Z");
}

TEST(CronNextUtc, EveryFifteenMinutes) {
    EXPECT_EQ(runs("*/15 * * * *", utc(2026, 5, 10, 23, 7), 4),
              (Strings{"2026-05-10T23:15:00Z", "2026-05-10T23:30:00Z", "2026-05-10T23:45:00Z",
                       "2026-05-11T00:00:00Z"}));
}

TEST(CronNextUtc, WeekdaysNineToFive) {
    // 2026-01-02 is a Friday.
    EXPECT_EQ(next("0 9-17 * * MON-FRI", utc(2026, 1, 2, 9)), "2026-01-02T10:00:00Z");
    EXPECT_EQ(next("0 9-17 * * MON-FRI", utc(2026, 1, 2, 17)), "2026-01-05T09:00:00Z");
    EXPECT_EQ(next("0 9-17 * * 1-5", utc(2026, 1, 3, 12)), "2026-01-05T09:00:00Z");
}

TEST(CronNextUtc, LastSecondOfTheYear) {
    EXPECT_EQ(next("59 59 23 31 12 *", utc(2026, 6, 1)), "2026-12-31T23:59:59Z");
    EXPECT_EQ(next("59 59 23 31 12 *", utc(2026, 12, 31, 23, 59, 59)), "2027-12-31T23:59:59Z");
}

TEST(CronNextUtc, LeapDay) {
    EXPECT_EQ(next("0 0 29 2 *", utc(2026, 1, 1)), "2028-02-29T00:00:00Z");
    EXPECT_EQ(next("0 0 29 FEB *", utc(2028, 2, 29)), "2032-02-29T00:00:00Z");
}

TEST(CronNextUtc, SecondsField) {
    EXPECT_EQ(runs("*/20 * * * * *", utc(2026, 1, 1, 0, 0, 5), 4),
              (Strings{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z",
                       "2026-01-01T00:01:20Z"}));
    EXPECT_EQ(next("30 0 12 * * *", utc(2026, 1, 1, 12, 0, 30)), "2026-01-02T12:00:30Z");
}

TEST(CronNextUtc, StepsRangesAndLists) {
    EXPECT_EQ(runs("1-10/3 * * * *", utc(2026, 1, 1), 5),
              (Strings{"2026-01-01T00:01:00Z", "2026-01-01T00:04:00Z", "2026-01-01T00:07:00Z",
                       "2026-01-01T00:10:00Z", "2026-01-01T01:01:00Z"}));
    // "a/n" means a-max/n.
    EXPECT_EQ(runs("5/20 * * * *", utc(2026, 1, 1), 4),
              (Strings{"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z",
                       "2026-01-01T01:05:00Z"}));
    EXPECT_EQ(runs("0 8,12,18 * * *", utc(2026, 1, 1, 9), 3),
              (Strings{"2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T08:00:00Z"}));
    EXPECT_EQ(next("0 0 1 FEB,aug *", utc(2026, 3, 1)), "2026-08-01T00:00:00Z");
    EXPECT_EQ(next("0 0 * jul-aug *", utc(2026, 3, 1)), "2026-07-01T00:00:00Z");
}

TEST(CronNextUtc, SundayIsZeroOrSeven) {
    // 2026-01-01 is a Thursday; the next Sunday is the 4th.
    EXPECT_EQ(next("0 0 * * 0", utc(2026, 1, 1)), "2026-01-04T00:00:00Z");
    EXPECT_EQ(next("0 0 * * 7", utc(2026, 1, 1)), "2026-01-04T00:00:00Z");
    EXPECT_EQ(next("0 0 * * sun", utc(2026, 1, 1)), "2026-01-04T00:00:00Z");
    EXPECT_EQ(runs("0 0 * * FRI-SUN", utc(2026, 1, 1), 4),
              (Strings{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
                       "2026-01-09T00:00:00Z"}));
}

TEST(CronNextUtc, Macros) {
    const Instant thursday = utc(2026, 1, 1, 10, 30);
    EXPECT_EQ(next("@hourly", thursday), "2026-01-01T11:00:00Z");
    EXPECT_EQ(next("@daily", thursday), "2026-01-02T00:00:00Z");
    EXPECT_EQ(next("@midnight", thursday), "2026-01-02T00:00:00Z");
    EXPECT_EQ(next("@weekly", thursday), "2026-01-04T00:00:00Z");
    EXPECT_EQ(next("@monthly", thursday), "2026-02-01T00:00:00Z");
    EXPECT_EQ(next("@yearly", thursday), "2027-01-01T00:00:00Z");
    EXPECT_EQ(next("@annually", thursday), "2027-01-01T00:00:00Z");
}

TEST(CronNextUtc, ImpossibleExpressionsReturnNullopt) {
    EXPECT_EQ(next("0 0 30 2 *", utc(2026, 1, 1)), "nullopt");
    EXPECT_EQ(next("0 0 31 4,6,9,11 *", utc(2026, 1, 1)), "nullopt");
    // The next 29 February after 2097 is in 2104 (2100 is not a leap year): beyond 5 years.
    EXPECT_EQ(next("0 0 29 2 *", utc(2097, 3, 1)), "nullopt");
    EXPECT_EQ(next("0 0 29 2 *", utc(2095, 3, 1)), "2096-02-29T00:00:00Z");
}

TEST(CronNextUtc, NullZoneAndOutOfRangeInstants) {
    const CronExpression every_minute = parse_or_throw("* * * * *");
    EXPECT_EQ(every_minute.next_after(utc(2026, 1, 1), nullptr), std::nullopt);
    EXPECT_EQ(every_minute.next_after(Instant::max(), utc_zone()), std::nullopt);
    EXPECT_EQ(every_minute.next_after(Instant::min(), utc_zone()), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// The day-of-month / day-of-week rule
// ---------------------------------------------------------------------------------------------

TEST(CronDayRule, BothRestrictedMeansEither) {
    // The 1st of the month OR any Monday. 2026-01-26 is a Monday; 2026-02-01 is a Sunday.
    EXPECT_EQ(runs("0 0 1 * MON", utc(2026, 1, 20), 3),
              (Strings{"2026-01-26T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z"}));
}

TEST(CronDayRule, OneStarredMeansOnlyTheOther) {
    EXPECT_EQ(runs("0 0 * * MON", utc(2026, 1, 20), 2),
              (Strings{"2026-01-26T00:00:00Z", "2026-02-02T00:00:00Z"}));
    EXPECT_EQ(runs("0 0 1 * *", utc(2026, 1, 20), 2),
              (Strings{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}));
}

TEST(CronDayRule, StarWithStepCountsAsStarred) {
    // Like cronie: "*/2" starts with '*', so both fields must match: Mondays on odd days.
    // Mondays in January 2026: 5, 12, 19, 26.
    EXPECT_EQ(runs("0 0 */2 * MON", utc(2026, 1, 1), 3),
              (Strings{"2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z", "2026-02-09T00:00:00Z"}));
    // Without the '*', "1-31/2" is restricted and the rule is OR: every odd day and every Monday.
    EXPECT_EQ(runs("0 0 1-31/2 * MON", utc(2026, 1, 1), 4),
              (Strings{"2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z",
                       "2026-01-09T00:00:00Z"}));
}

// ---------------------------------------------------------------------------------------------
// Daylight saving time
// ---------------------------------------------------------------------------------------------

TEST(CronDst, NewYorkSpringForwardFixedTimeIsShiftedOnce) {
    const auto* new_york = zone("America/New_York");
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z); 02:30 does not exist.
    const Strings expected = {"2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z",
                              "2026-03-09T06:30:00Z"};
    EXPECT_EQ(runs("30 2 * * *", utc(2026, 3, 7), 3, new_york), expected);
    EXPECT_EQ(wall_clock(utc(2026, 3, 8, 7, 30), new_york), "2026-03-08 03:30:00 EDT");
    // Every nonexistent time keeps its distance from the start of the gap.
    EXPECT_EQ(runs("*/15 2 * * *", utc(2026, 3, 8), 5, new_york),
              (Strings{"2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z", "2026-03-08T07:30:00Z",
                       "2026-03-08T07:45:00Z", "2026-03-09T06:00:00Z"}));
    // A shifted run that coincides with a real one is a single run.
    EXPECT_EQ(runs("30 2,3 * * *", utc(2026, 3, 8), 3, new_york),
              (Strings{"2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z", "2026-03-09T07:30:00Z"}));
}

TEST(CronDst, NewYorkFallBackFixedTimeRunsAtFirstOccurrence) {
    const auto* new_york = zone("America/New_York");
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00Z); 01:30 happens twice.
    EXPECT_EQ(runs("30 1 * * *", utc(2026, 11, 1), 2, new_york),
              (Strings{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}));
    EXPECT_EQ(wall_clock(utc(2026, 11, 1, 5, 30), new_york), "2026-11-01 01:30:00 EDT");
    // Asked from inside the repeated hour (after the first 01:30), the second one is not a run.
    EXPECT_EQ(next("30 1 * * *", utc(2026, 11, 1, 6, 15), new_york), "2026-11-02T06:30:00Z");
    // 02:30 is not ambiguous: it happens once, in EST.
    EXPECT_EQ(next("30 2 * * *", utc(2026, 11, 1), new_york), "2026-11-01T07:30:00Z");
}

TEST(CronDst, NewYorkHourlyFollowsElapsedTime) {
    const auto* new_york = zone("America/New_York");
    // Spring forward: no 02:00; 01:00 EST and 03:00 EDT are one real hour apart.
    EXPECT_EQ(runs("0 * * * *", utc(2026, 3, 8, 5, 30), 3, new_york),
              (Strings{"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}));
    EXPECT_EQ(wall_clock(utc(2026, 3, 8, 7), new_york), "2026-03-08 03:00:00 EDT");
    // Fall back: 01:00 EDT and 01:00 EST both run.
    EXPECT_EQ(runs("0 * * * *", utc(2026, 11, 1, 4, 30), 3, new_york),
              (Strings{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}));
    EXPECT_EQ(wall_clock(utc(2026, 11, 1, 5), new_york), "2026-11-01 01:00:00 EDT");
    EXPECT_EQ(wall_clock(utc(2026, 11, 1, 6), new_york), "2026-11-01 01:00:00 EST");
    // Every half hour in the repeated hour: four runs between 01:00 EDT and 01:30 EST.
    EXPECT_EQ(runs("*/30 * * * *", utc(2026, 11, 1, 4, 45), 5, new_york),
              (Strings{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z",
                       "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z"}));
    // "0-23" covers every hour just like '*'.
    EXPECT_EQ(runs("0 0-23 * * *", utc(2026, 11, 1, 4, 30), 2, new_york),
              (Strings{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z"}));
}

TEST(CronDst, MadridSpringForward) {
    const auto* madrid = zone("Europe/Madrid");
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
    EXPECT_EQ(runs("30 2 * * *", utc(2026, 3, 28), 3, madrid),
              (Strings{"2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"}));
    EXPECT_EQ(wall_clock(utc(2026, 3, 29, 1, 30), madrid), "2026-03-29 03:30:00 CEST");
    EXPECT_EQ(runs("0 * * * *", utc(2026, 3, 28, 23, 30), 3, madrid),
              (Strings{"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}));
    EXPECT_EQ(wall_clock(utc(2026, 3, 29, 1), madrid), "2026-03-29 03:00:00 CEST");
}

TEST(CronDst, MadridFallBack) {
    const auto* madrid = zone("Europe/Madrid");
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00Z); 02:00-02:59 happens twice.
    EXPECT_EQ(runs("30 2 * * *", utc(2026, 10, 24, 12), 2, madrid),
              (Strings{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}));
    EXPECT_EQ(wall_clock(utc(2026, 10, 25, 0, 30), madrid), "2026-10-25 02:30:00 CEST");
    // 01:30 is not ambiguous in Madrid.
    EXPECT_EQ(next("30 1 * * *", utc(2026, 10, 24, 12), madrid), "2026-10-24T23:30:00Z");
    EXPECT_EQ(runs("0 * * * *", utc(2026, 10, 24, 23, 30), 3, madrid),
              (Strings{"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}));
    EXPECT_EQ(wall_clock(utc(2026, 10, 25, 0), madrid), "2026-10-25 02:00:00 CEST");
    EXPECT_EQ(wall_clock(utc(2026, 10, 25, 1), madrid), "2026-10-25 02:00:00 CET");
    // "*/2" skips hours, so it is fixed-time: 02:00 runs once, in CEST.
    EXPECT_EQ(runs("0 */2 * * *", utc(2026, 10, 24, 23, 30), 2, madrid),
              (Strings{"2026-10-25T00:00:00Z", "2026-10-25T03:00:00Z"}));
}

// A whole year of a daily 08:00 job: one run a day, always at 08:00 on the local wall clock.
void expect_daily_eight_am_for_a_year(const char* zone_name, const char* summer_abbreviation) {
    SCOPED_TRACE(zone_name);
    const auto* tz = zone(zone_name);
    const CronExpression daily = parse_or_throw("0 8 * * *");
    const Instant year_end = local(tz, 2027, 1, 1);
    Instant after = local(tz, 2026, 1, 1);
    int count = 0;
    std::string summer_sample;
    date::local_days expected_day = date::local_days{date::year{2026} / 1 / 1};
    while (true) {
        const std::optional<Instant> run = daily.next_after(after, tz);
        ASSERT_TRUE(run.has_value());
        if (*run >= year_end) break;
        const date::local_seconds wall = date::zoned_seconds{tz, *run}.get_local_time();
        const date::local_days day = date::floor<date::days>(wall);
        EXPECT_EQ(day, expected_day) << iso(*run);
        EXPECT_EQ(wall - day, hours{8}) << iso(*run);
        if (day == date::local_days{date::year{2026} / 7 / 1}) summer_sample = wall_clock(*run, tz);
        expected_day += date::days{1};
        after = *run;
        ++count;
    }
    EXPECT_EQ(count, 365);
    EXPECT_EQ(summer_sample, std::string("2026-07-01 08:00:00 ") + summer_abbreviation);
}

TEST(CronDst, DailyJobAcrossAYearInMexicoCity) {
    // Mexico abolished DST in 2022: CST all year.
    expect_daily_eight_am_for_a_year("America/Mexico_City", "CST");
    EXPECT_EQ(next("0 8 * * *", utc(2026, 7, 1), zone("America/Mexico_City")),
              "2026-07-01T14:00:00Z");
}

TEST(CronDst, DailyJobAcrossAYearInMadrid) {
    expect_daily_eight_am_for_a_year("Europe/Madrid", "CEST");
}

TEST(CronDst, YearOfRunsInNewYork) {
    const auto* new_york = zone("America/New_York");
    const Instant year_start = local(new_york, 2026, 1, 1);
    const Instant year_end = local(new_york, 2027, 1, 1);
    const auto count_runs = [&](const char* text) {
        const CronExpression expression = parse_or_throw(text);
        int count = 0;
        for (auto run = expression.next_after(year_start, new_york); run && *run < year_end;
             run = expression.next_after(*run, new_york)) {
            ++count;
        }
        return count;
    };
    // Hourly follows real time: the local year (EST to EST) lasts exactly 8760 real hours, and
    // the year-start instant itself is excluded.
    EXPECT_EQ(count_runs("0 * * * *"), 8759);
    // A fixed-time job runs once a day, including on both transition days.
    EXPECT_EQ(count_runs("30 2 * * *"), 365);
    EXPECT_EQ(count_runs("30 1 * * *"), 365);
}

// ---------------------------------------------------------------------------------------------
// Settings named in a cron ("0 {reminder_hour} * * *", ABI 1.3)
// ---------------------------------------------------------------------------------------------

TEST(CronSettings, EachNamedSettingTakesTheTenantsInteger) {
    using miconsul::scheduler::substitute_settings;
    const nlohmann::json settings = {{"reminder_hour", 7}, {"minute", 30}};
    const auto result = substitute_settings("{minute} {reminder_hour} * * *", settings);
    EXPECT_EQ(result.problem, "");
    EXPECT_EQ(result.text, "30 7 * * *");
    EXPECT_EQ(substitute_settings("0 8 * * *", settings).text, "0 8 * * *");
    // What JSON Schema calls an integer, written as 9.0 by some clients.
    EXPECT_EQ(substitute_settings("0 {hour} * * *", nlohmann::json{{"hour", 9.0}}).text,
              "0 9 * * *");
}

TEST(CronSettings, AMissingTextualOrUnclosedSettingIsAProblemNamingIt) {
    using miconsul::scheduler::substitute_settings;
    const nlohmann::json settings = {{"hour", "7"}, {"fraction", 7.5}};
    EXPECT_NE(substitute_settings("0 {absent} * * *", settings).problem.find("'absent'"),
              std::string::npos);
    EXPECT_NE(substitute_settings("0 {hour} * * *", settings).problem.find("'hour'"),
              std::string::npos);
    EXPECT_NE(substitute_settings("0 {fraction} * * *", settings).problem.find("'fraction'"),
              std::string::npos);
    EXPECT_NE(substitute_settings("0 {hour * * *", settings).problem.find("never closed"),
              std::string::npos);
    EXPECT_NE(substitute_settings("0 {hour} * * *", nlohmann::json::array()).problem, "");
}

// ---------------------------------------------------------------------------------------------
// Efficiency
// ---------------------------------------------------------------------------------------------

TEST(CronPerformance, FruitlessSearchIsFast) {
    const auto* new_york = zone("America/New_York");
    const CronExpression impossible = parse_or_throw("0 0 30 2 *");
    const CronExpression every_second_in_february_30 = parse_or_throw("* * * 30 2 *");
    impossible.next_after(utc(2026, 1, 1), new_york);  // loads the zone outside the timing
    // The best of a few attempts, so that a busy machine does not make the test flaky.
    auto best = std::chrono::steady_clock::duration::max();
    for (int attempt = 0; attempt < 5; ++attempt) {
        const auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(impossible.next_after(utc(2026, 1, 1), new_york), std::nullopt);
        EXPECT_EQ(every_second_in_february_30.next_after(utc(2026, 1, 1), new_york), std::nullopt);
        best = std::min(best, std::chrono::steady_clock::now() - start);
    }
    EXPECT_LT(best, std::chrono::milliseconds{10});
}

}  // namespace
