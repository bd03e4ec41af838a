// Parsing and evaluation of cron expressions. See cron.h for the accepted syntax and the exact
// day-of-month/day-of-week and daylight-saving rules.
//
// Evaluation strategy: a time zone is a sequence of periods (date::sys_info) during which the UTC
// offset is constant, so within one period local time is UTC plus a constant and the first local
// match is also the earliest UTC instant. next_after walks those periods in UTC order from
// `after`, and within each one searches local wall-clock time field by field (whole months, then
// days, then hours, minutes and seconds via bit scans), never minute by minute. The DST rules
// only touch the edges of a period: the repeated local hour right after a fall-back, and the
// nonexistent local hour right before a spring-forward period.
#include "scheduler/cron.h"

#include <nlohmann/json.hpp>

// The Debian libdate-tz is built against the system zoneinfo; compiling <date/tz.h> with another
// setting gives date::time_zone a different layout from the library's (an ODR violation that
// crashes at run time), so refuse to build instead.
#if !defined(USE_OS_TZDB) || USE_OS_TZDB != 1
#error "cron.cpp must be compiled with -DUSE_OS_TZDB=1 to match libdate-tz"
#endif

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstddef>
#include <vector>

namespace miconsul::scheduler {
namespace {

using internal::CronFields;
using std::chrono::seconds;

constexpr std::size_t kMaxExpressionLength = 200;

// "Within 5 years" of the start of a search; std::chrono::years is 365.2425 days.
constexpr auto kSearchHorizon = std::chrono::years{5};

// Transitions never move a zone's offset by more than about a day (Pacific/Apia skipped
// 2011-12-30 entirely), so a period that began earlier than this before the search start cannot
// have a gap or repeated hour that reaches the search.
constexpr auto kLongestOffsetChange = date::days{2};

constexpr std::uint32_t kEveryHour = (1u << 24) - 1;

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

// How one field is spelled: its name for error messages, its range, and the three-letter names
// it accepts (names[i] stands for first_name_value + i).
struct FieldSpec {
    std::string_view name;
    int min;
    int max;
    const std::string_view* names = nullptr;
    std::size_t name_count = 0;
    int first_name_value = 0;
    // Day-of-week only: the name whose value is 0 (SUN) means `max` (7) at the end of a range.
    bool zero_name_ends_range_as_max = false;
};

constexpr FieldSpec kSecondSpec{"second", 0, 59};
constexpr FieldSpec kMinuteSpec{"minute", 0, 59};
constexpr FieldSpec kHourSpec{"hour", 0, 23};
constexpr FieldSpec kDayOfMonthSpec{"day-of-month", 1, 31};
constexpr FieldSpec kMonthSpec{.name = "month",
                               .min = 1,
                               .max = 12,
                               .names = kMonthNames.data(),
                               .name_count = kMonthNames.size(),
                               .first_name_value = 1};
constexpr FieldSpec kDayOfWeekSpec{.name = "day-of-week",
                                   .min = 0,
                                   .max = 7,
                                   .names = kDayNames.data(),
                                   .name_count = kDayNames.size(),
                                   .first_name_value = 0,
                                   .zero_name_ends_range_as_max = true};

struct Macro {
    std::string_view name;
    std::string_view expansion;
};

constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

std::string quoted(std::string_view text) {
    return "'" + std::string(text) + "'";
}

std::string to_lower(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
}

bool is_space(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

std::vector<std::string_view> split_on_whitespace(std::string_view text) {
    std::vector<std::string_view> tokens;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && is_space(text[i])) ++i;
        const std::size_t start = i;
        while (i < text.size() && !is_space(text[i])) ++i;
        if (i > start) tokens.push_back(text.substr(start, i - start));
    }
    return tokens;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find(separator, start);
        if (end == std::string_view::npos) {
            parts.push_back(text.substr(start));
            return parts;
        }
        parts.push_back(text.substr(start, end - start));
        start = end + 1;
    }
}

// Parses a decimal number made only of digits. A number too large for int saturates to INT_MAX
// so that callers report it as out of range rather than as "not a number".
std::optional<int> parse_digits(std::string_view text) {
    if (text.empty()) return std::nullopt;
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (end != text.data() + text.size()) return std::nullopt;  // also catches "+5" and "-5"
    if (error == std::errc::result_out_of_range) return INT_MAX;
    if (error != std::errc()) return std::nullopt;
    return value;
}

// One value of a field: a number within range or, where the field has them, a name.
// `element` is the list item the value came from, quoted in messages for context.
std::variant<int, std::string> parse_value(const FieldSpec& spec, std::string_view value,
                                           std::string_view element) {
    const std::string field(spec.name);
    if (value.empty()) return field + ": missing number in " + quoted(element);
    if (std::isalpha(static_cast<unsigned char>(value.front())) != 0) {
        if (spec.names == nullptr) return field + ": " + quoted(value) + " is not a number";
        std::string upper(value);
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        for (std::size_t i = 0; i < spec.name_count; ++i) {
            if (spec.names[i] == upper) return spec.first_name_value + static_cast<int>(i);
        }
        return field + ": unknown name " + quoted(value);
    }
    const std::optional<int> number = parse_digits(value);
    if (!number) return field + ": " + quoted(value) + " is not a number";
    if (*number < spec.min || *number > spec.max) {
        return field + ": " + std::string(value) + " is out of range " + std::to_string(spec.min) +
               "-" + std::to_string(spec.max);
    }
    return *number;
}

// One list item: '*', n, a-b, each optionally followed by /step. Returns its bit set.
std::variant<std::uint64_t, std::string> parse_element(const FieldSpec& spec,
                                                       std::string_view element) {
    const std::string field(spec.name);
    const std::size_t slash = element.find('/');
    const std::string_view base = element.substr(0, slash);
    const bool has_step = slash != std::string_view::npos;

    int first = spec.min;
    int last = spec.max;
    if (base != "*") {
        const std::size_t dash = base.find('-');
        auto start = parse_value(spec, base.substr(0, dash), element);
        if (auto* reason = std::get_if<std::string>(&start)) return std::move(*reason);
        first = std::get<int>(start);
        if (dash != std::string_view::npos) {
            const std::string_view end_text = base.substr(dash + 1);
            auto end = parse_value(spec, end_text, element);
            if (auto* reason = std::get_if<std::string>(&end)) return std::move(*reason);
            last = std::get<int>(end);
            // "FRI-SUN" is how people write "Friday to Sunday"; SUN is 0 as a single value but
            // only 7 makes sense as the end of such a range.
            if (spec.zero_name_ends_range_as_max && last == 0 && first > 0 &&
                std::isalpha(static_cast<unsigned char>(end_text.front())) != 0) {
                last = spec.max;
            }
            if (first > last) return field + ": range " + std::string(base) + " is reversed";
        } else if (!has_step) {
            last = first;
        }  // "a/n" keeps last = max: it means a-max/n.
    }

    int step = 1;
    if (has_step) {
        const std::string_view step_text = element.substr(slash + 1);
        if (step_text.empty()) return field + ": missing step in " + quoted(element);
        const std::optional<int> parsed = parse_digits(step_text);
        if (!parsed) {
            return field + ": step " + quoted(step_text) + " in " + quoted(element) +
                   " is not a number";
        }
        if (*parsed == 0) return field + ": step 0 in " + quoted(element) + " must be at least 1";
        step = *parsed;
    }

    std::uint64_t bits = 0;
    for (int value = first; value <= last; value += step) {
        bits |= std::uint64_t{1} << value;
        if (last - value < step) break;  // avoids int overflow for huge steps
    }
    return bits;
}

// A whole field: a comma-separated list of elements. Returns its bit set.
std::variant<std::uint64_t, std::string> parse_field(const FieldSpec& spec, std::string_view text) {
    std::uint64_t bits = 0;
    for (std::string_view element : split(text, ',')) {
        if (element.empty()) {
            return std::string(spec.name) + ": empty item in list " + quoted(text);
        }
        auto parsed = parse_element(spec, element);
        if (auto* reason = std::get_if<std::string>(&parsed)) return std::move(*reason);
        bits |= std::get<std::uint64_t>(parsed);
    }
    return bits;
}

// Parses 5 or 6 already-split fields into bit sets.
std::variant<CronFields, std::string> parse_fields(const std::vector<std::string_view>& tokens) {
    const bool has_seconds = tokens.size() == 6;
    const std::array<const FieldSpec*, 6> specs = {&kSecondSpec,     &kMinuteSpec, &kHourSpec,
                                                   &kDayOfMonthSpec, &kMonthSpec,  &kDayOfWeekSpec};
    std::array<std::uint64_t, 6> bits = {1, 0, 0, 0, 0, 0};  // second 0 unless given
    for (std::size_t i = has_seconds ? 0 : 1, token = 0; i < specs.size(); ++i, ++token) {
        auto parsed = parse_field(*specs[i], tokens[token]);
        if (auto* reason = std::get_if<std::string>(&parsed)) return std::move(*reason);
        bits[i] = std::get<std::uint64_t>(parsed);
    }
    const std::string_view day_of_month_text = tokens[tokens.size() - 3];
    const std::string_view day_of_week_text = tokens[tokens.size() - 1];

    CronFields fields;
    fields.seconds = bits[0];
    fields.minutes = bits[1];
    fields.hours = static_cast<std::uint32_t>(bits[2]);
    fields.days_of_month = static_cast<std::uint32_t>(bits[3]);
    fields.months = static_cast<std::uint16_t>(bits[4]);
    // Day-of-week 7 is Sunday, the same day as 0.
    fields.days_of_week = static_cast<std::uint8_t>((bits[5] | (bits[5] >> 7)) & 0x7F);
    fields.day_of_month_starred = day_of_month_text.front() == '*';
    fields.day_of_week_starred = day_of_week_text.front() == '*';
    return fields;
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

// The lowest set bit of `bits` at position `from` or above, if any.
std::optional<int> first_bit_from(std::uint64_t bits, int from) {
    if (from >= 64) return std::nullopt;
    const std::uint64_t remaining = bits >> from;
    if (remaining == 0) return std::nullopt;
    return from + std::countr_zero(remaining);
}

bool day_matches(const CronFields& fields, date::local_days day) {
    const date::year_month_day date{day};
    const bool day_of_month_matches =
        ((fields.days_of_month >> static_cast<unsigned>(date.day())) & 1u) != 0;
    const bool day_of_week_matches =
        ((fields.days_of_week >> date::weekday{day}.c_encoding()) & 1u) != 0;
    // Vixie cron: a starred day field does not widen the match, it just stops restricting it.
    if (fields.day_of_month_starred || fields.day_of_week_starred) {
        return day_of_month_matches && day_of_week_matches;
    }
    return day_of_month_matches || day_of_week_matches;
}

// The earliest matching time of day at or after `start` (in [0, 24h)), if any that day.
std::optional<seconds> first_time_of_day_from(const CronFields& fields, seconds start) {
    const int start_hour = static_cast<int>(start.count() / 3600);
    const int start_minute = static_cast<int>(start.count() / 60 % 60);
    const int start_second = static_cast<int>(start.count() % 60);
    for (auto hour = first_bit_from(fields.hours, start_hour); hour;
         hour = first_bit_from(fields.hours, *hour + 1)) {
        const bool in_start_hour = *hour == start_hour;
        for (auto minute = first_bit_from(fields.minutes, in_start_hour ? start_minute : 0); minute;
             minute = first_bit_from(fields.minutes, *minute + 1)) {
            const bool in_start_minute = in_start_hour && *minute == start_minute;
            const auto second = first_bit_from(fields.seconds, in_start_minute ? start_second : 0);
            if (second) return seconds{*hour * 3600 + *minute * 60 + *second};
        }
    }
    return std::nullopt;
}

// The earliest local wall-clock time in [from, until) matching every field, if any.
std::optional<date::local_seconds> first_local_match(const CronFields& fields,
                                                     date::local_seconds from,
                                                     date::local_seconds until) {
    date::local_days day = date::floor<date::days>(from);
    seconds start_of_search_in_day = from - day;
    while (day < until) {
        const date::year_month_day date{day};
        const unsigned month = static_cast<unsigned>(date.month());
        if (((fields.months >> month) & 1u) == 0) {
            // Jump straight to the first day of the next month that can match.
            date::year year = date.year();
            std::optional<int> next_month =
                first_bit_from(fields.months, static_cast<int>(month) + 1);
            if (!next_month) {
                year += date::years{1};
                next_month = first_bit_from(fields.months, 1);
            }
            day = date::local_days{year / date::month(static_cast<unsigned>(*next_month)) / 1};
            start_of_search_in_day = seconds{0};
            continue;
        }
        if (day_matches(fields, day)) {
            if (auto time = first_time_of_day_from(fields, start_of_search_in_day)) {
                const date::local_seconds candidate = day + *time;
                if (candidate < until) return candidate;
                return std::nullopt;
            }
        }
        day += date::days{1};
        start_of_search_in_day = seconds{0};
    }
    return std::nullopt;
}

date::local_seconds to_local(Instant instant, seconds offset) {
    return date::local_seconds{instant.time_since_epoch() + offset};
}

Instant to_instant(date::local_seconds local, seconds offset) {
    return Instant{local.time_since_epoch() - offset};
}

}  // namespace

std::variant<CronExpression, std::string> CronExpression::parse(std::string_view text) {
    if (text.size() > kMaxExpressionLength) {
        return "expression is " + std::to_string(text.size()) + " characters long; at most " +
               std::to_string(kMaxExpressionLength) + " are allowed";
    }
    const std::vector<std::string_view> tokens = split_on_whitespace(text);
    if (tokens.empty()) return std::string("expression is empty");

    if (tokens.front().front() == '@') {
        const std::string macro = to_lower(tokens.front());
        if (tokens.size() > 1) return "macro " + quoted(tokens.front()) + " must stand alone";
        for (const Macro& known : kMacros) {
            if (known.name != macro) continue;
            auto fields = parse_fields(split_on_whitespace(known.expansion));
            // The expansions are constants above; failing to parse one is a bug here.
            if (auto* reason = std::get_if<std::string>(&fields)) return std::move(*reason);
            return CronExpression(std::get<CronFields>(fields), macro, false);
        }
        return "unknown macro " + quoted(tokens.front()) +
               " (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)";
    }

    if (tokens.size() != 5 && tokens.size() != 6) {
        return "expected 5 fields (minute hour day-of-month month day-of-week), 6 with a leading "
               "second, or a macro such as @daily; got " +
               std::to_string(tokens.size()) + " in " + quoted(text);
    }
    auto fields = parse_fields(tokens);
    if (auto* reason = std::get_if<std::string>(&fields)) return std::move(*reason);

    std::string normalised;
    for (std::string_view token : tokens) {
        if (!normalised.empty()) normalised += ' ';
        normalised += token;
    }
    return CronExpression(std::get<CronFields>(fields), std::move(normalised), tokens.size() == 6);
}

std::optional<Instant> CronExpression::next_after(Instant after,
                                                  const date::time_zone* zone) const {
    // Keeps every date computation far from the limits of date::year and of the 64-bit seconds.
    constexpr Instant kEarliest{date::sys_days{date::year{1} / 1 / 1}};
    constexpr Instant kLatest{date::sys_days{date::year{9000} / 1 / 1}};
    if (zone == nullptr || after < kEarliest || after >= kLatest) return std::nullopt;

    const Instant search_start = after + seconds{1};
    const Instant search_end = after + kSearchHorizon + seconds{1};  // exclusive
    const bool follows_elapsed_time = fields_.hours == kEveryHour;

    std::optional<Instant> earliest;
    date::sys_info period = zone->get_info(search_start);
    while (true) {
        // Every run found in this or a later period is at or after its start.
        if (earliest && period.begin >= *earliest) break;
        const Instant from = std::max<Instant>(period.begin, search_start);
        const Instant until = std::min<Instant>(period.end, search_end);
        if (from >= until) break;
        const seconds offset = period.offset;
        const seconds previous_offset =
            period.begin > search_start - kLongestOffsetChange
                ? seconds{zone->get_info(period.begin - seconds{1}).offset}
                : offset;

        // Ordinary runs: local times that exist in this period.
        date::local_seconds ordinary_from = to_local(from, offset);
        if (!follows_elapsed_time && previous_offset > offset) {
            // After a fall-back the local hour repeats; a fixed-time run already happened in the
            // previous period, so skip the local times that period already covered.
            ordinary_from = std::max(ordinary_from, to_local(period.begin, previous_offset));
        }
        if (auto local = first_local_match(fields_, ordinary_from, to_local(until, offset))) {
            const Instant run = to_instant(*local, offset);
            if (!earliest || run < *earliest) earliest = run;
        }

        // Spring forward: the local times [begin + previous_offset, begin + offset) never
        // happen. A fixed-time run there is shifted: read with the previous offset, it lands just
        // after the transition, at the same distance from it as the wall-clock time from the
        // start of the gap.
        if (!follows_elapsed_time && offset > previous_offset) {
            const date::local_seconds gap_from = to_local(from, previous_offset);
            const date::local_seconds gap_until =
                std::min(to_local(period.begin, offset), to_local(until, previous_offset));
            if (auto local = first_local_match(fields_, gap_from, gap_until)) {
                const Instant run = to_instant(*local, previous_offset);
                if (!earliest || run < *earliest) earliest = run;
            }
        }

        if (period.end >= search_end) break;
        period = zone->get_info(period.end);
    }
    return earliest;
}

CronWithSettings substitute_settings(std::string_view cron, const nlohmann::json& settings) {
    CronWithSettings result;
    size_t position = 0;
    while (position < cron.size()) {
        const size_t open = cron.find('{', position);
        if (open == std::string_view::npos) {
            result.text.append(cron.substr(position));
            break;
        }
        result.text.append(cron.substr(position, open - position));
        const size_t close = cron.find('}', open);
        if (close == std::string_view::npos) {
            result.problem = "'{' at character " + std::to_string(open + 1) + " is never closed";
            return result;
        }
        const std::string name(cron.substr(open + 1, close - open - 1));
        const auto value = settings.is_object() ? settings.find(name) : settings.end();
        // JSON Schema's "integer" admits 9.0, and a client may well send it: read it as 9.
        const bool integral = value != settings.end() &&
                              (value->is_number_integer() ||
                               (value->is_number_float() && std::abs(value->get<double>()) < 1e9 &&
                                value->get<double>() == std::trunc(value->get<double>())));
        if (!integral) {
            result.problem = "setting '" + name + "' is not an integer";
            return result;
        }
        result.text +=
            std::to_string(value->is_number_integer() ? value->get<int64_t>()
                                                      : static_cast<int64_t>(value->get<double>()));
        position = close + 1;
    }
    return result;
}

}  // namespace miconsul::scheduler
