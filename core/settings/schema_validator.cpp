#include "settings/schema_validator.h"

#include <algorithm>
#include <cmath>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace miconsul::settings {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Small JSON helpers
// ---------------------------------------------------------------------------------------------

// Looks a keyword up without const operator[] (undefined behaviour for a missing key) and without
// assuming the schema is an object (boolean schemas have no keywords).
const json* find_keyword(const json& schema, const std::string& keyword) {
    if (!schema.is_object()) {
        return nullptr;
    }
    const auto found = schema.find(keyword);
    return found == schema.end() ? nullptr : &*found;
}

std::string escape_pointer_token(std::string_view token) {
    std::string escaped;
    escaped.reserve(token.size());
    for (const char c : token) {
        if (c == '~') {
            escaped += "~0";
        } else if (c == '/') {
            escaped += "~1";
        } else {
            escaped += c;
        }
    }
    return escaped;
}

std::string child_pointer(const std::string& parent, std::string_view token) {
    return parent + "/" + escape_pointer_token(token);
}

std::string child_pointer(const std::string& parent, std::size_t index) {
    return parent + "/" + std::to_string(index);
}

// Renders a JSON value for a message. Invalid UTF-8 is replaced instead of throwing, because
// instances may come from anywhere, and long values are cut so one error cannot flood a UI.
std::string describe_value(const json& value) {
    constexpr std::size_t kMaxDescriptionLength = 80;
    std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.size() > kMaxDescriptionLength) {
        text.resize(kMaxDescriptionLength);
        text += "...";
    }
    return text;
}

std::string quoted(const std::string& text) { return describe_value(json(text)); }

std::string count_with_noun(std::uint64_t count, std::string_view singular) {
    return std::to_string(count) + " " + std::string(singular) + (count == 1 ? "" : "s");
}

// ---------------------------------------------------------------------------------------------
// Numbers: nlohmann keeps signed, unsigned and floating values apart; JSON Schema compares them
// as mathematical values, so every mixed pair is compared exactly (no lossy double conversion,
// which would e.g. treat 2^53 + 1 as equal to 2^53).
// ---------------------------------------------------------------------------------------------

std::partial_ordering compare_exact(std::integral auto lhs, std::integral auto rhs) {
    if (std::cmp_less(lhs, rhs)) {
        return std::partial_ordering::less;
    }
    return std::cmp_equal(lhs, rhs) ? std::partial_ordering::equivalent
                                    : std::partial_ordering::greater;
}

template <std::integral Integer>
std::partial_ordering compare_exact(Integer integer, double real) {
    if (std::isnan(real)) {
        return std::partial_ordering::unordered;
    }
    // Both bounds are powers of two, hence exactly representable as doubles.
    const double lowest = static_cast<double>(std::numeric_limits<Integer>::min());
    const double above_highest = std::ldexp(1.0, std::numeric_limits<Integer>::digits);
    if (real < lowest) {
        return std::partial_ordering::greater;
    }
    if (real >= above_highest) {
        return std::partial_ordering::less;
    }
    // Inside the range the integral part converts exactly and the fraction subtracts exactly.
    const double integral_part = std::trunc(real);
    const auto ordering = compare_exact(integer, static_cast<Integer>(integral_part));
    return ordering != 0 ? ordering : 0.0 <=> (real - integral_part);
}

template <std::integral Integer>
std::partial_ordering compare_exact(double real, Integer integer) {
    return 0 <=> compare_exact(integer, real);
}

std::partial_ordering compare_exact(double lhs, double rhs) { return lhs <=> rhs; }

template <typename Visitor>
auto visit_number(const json& number, Visitor&& visitor) {
    switch (number.type()) {
        case json::value_t::number_integer:
            return visitor(number.get<json::number_integer_t>());
        case json::value_t::number_unsigned:
            return visitor(number.get<json::number_unsigned_t>());
        default:
            return visitor(number.get<json::number_float_t>());
    }
}

// Precondition: both values are numbers.
std::partial_ordering compare_numbers(const json& lhs, const json& rhs) {
    return visit_number(lhs, [&rhs](auto left) {
        return visit_number(rhs, [left](auto right) { return compare_exact(left, right); });
    });
}

bool is_integer_valued(const json& value) {
    if (value.is_number_integer()) {
        return true;
    }
    if (!value.is_number_float()) {
        return false;
    }
    const double real = value.get<double>();
    return std::isfinite(real) && std::trunc(real) == real;
}

// Reads a draft-7 "non-negative integer" keyword value (1.0 counts, like integer instances do).
// Floats beyond uint64 saturate: no instance is that long anyway.
std::optional<std::uint64_t> read_count(const json& value) {
    if (value.is_number_unsigned()) {
        return value.get<std::uint64_t>();
    }
    if (value.is_number_integer()) {
        const auto signed_value = value.get<std::int64_t>();
        return signed_value < 0
                   ? std::nullopt
                   : std::optional<std::uint64_t>(static_cast<std::uint64_t>(signed_value));
    }
    if (!is_integer_valued(value) || value.get<double>() < 0) {
        return std::nullopt;
    }
    const double real = value.get<double>();
    if (real >= std::ldexp(1.0, std::numeric_limits<std::uint64_t>::digits)) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    return static_cast<std::uint64_t>(real);
}

// JSON Schema equality (enum, const): numbers compare mathematically (1 == 1.0), containers
// compare deeply with the same rule, object member order is irrelevant.
bool json_equal(const json& lhs, const json& rhs) {
    if (lhs.is_number() && rhs.is_number()) {
        return compare_numbers(lhs, rhs) == 0;
    }
    if (lhs.type() != rhs.type()) {
        return false;
    }
    if (lhs.is_array()) {
        return lhs.size() == rhs.size() &&
               std::equal(lhs.begin(), lhs.end(), rhs.begin(), json_equal);
    }
    if (lhs.is_object()) {
        if (lhs.size() != rhs.size()) {
            return false;
        }
        for (const auto& member : lhs.items()) {
            const auto other = rhs.find(member.key());
            if (other == rhs.end() || !json_equal(member.value(), *other)) {
                return false;
            }
        }
        return true;
    }
    return lhs == rhs;
}

// ---------------------------------------------------------------------------------------------
// Types and strings
// ---------------------------------------------------------------------------------------------

constexpr std::string_view kTypeNames[] = {"object", "array",   "string", "integer",
                                           "number", "boolean", "null"};

bool is_known_type_name(std::string_view name) {
    return std::find(std::begin(kTypeNames), std::end(kTypeNames), name) != std::end(kTypeNames);
}

bool matches_type(const json& instance, std::string_view type_name) {
    if (type_name == "object") return instance.is_object();
    if (type_name == "array") return instance.is_array();
    if (type_name == "string") return instance.is_string();
    if (type_name == "integer") return is_integer_valued(instance);
    if (type_name == "number") return instance.is_number();
    if (type_name == "boolean") return instance.is_boolean();
    if (type_name == "null") return instance.is_null();
    return false;
}

std::string_view type_name_of(const json& instance) {
    if (instance.is_number()) {
        return is_integer_valued(instance) ? "integer" : "number";
    }
    switch (instance.type()) {
        case json::value_t::object:
            return "object";
        case json::value_t::array:
            return "array";
        case json::value_t::string:
            return "string";
        case json::value_t::boolean:
            return "boolean";
        case json::value_t::null:
            return "null";
        default:
            return "binary";
    }
}

// Counts Unicode code points by counting every byte that is not a UTF-8 continuation byte
// (10xxxxxx). For valid UTF-8 — which nlohmann enforces when parsing — this equals decoding.
std::uint64_t count_code_points(const std::string& text) {
    return static_cast<std::uint64_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
    }));
}

bool type_allows_object(const json& schema) {
    const json* type = find_keyword(schema, "type");
    if (type == nullptr) {
        return true;
    }
    if (type->is_string()) {
        return type->get_ref<const std::string&>() == "object";
    }
    return type->is_array() && std::any_of(type->begin(), type->end(),
                                           [](const json& name) { return name == "object"; });
}

// ---------------------------------------------------------------------------------------------
// Regex cache: std::regex construction is expensive, and one schema often applies the same
// pattern to many instances (e.g. through "items"), so each pattern compiles once per run.
// ---------------------------------------------------------------------------------------------

class RegexCache {
  public:
    // Returns nullptr when the pattern is not a valid ECMAScript regex; `error` (optional) then
    // receives the reason.
    const std::regex* find_or_compile(const std::string& pattern, std::string* error = nullptr) {
        auto [entry, inserted] = compiled_.try_emplace(pattern);
        if (inserted) {
            entry->second = compile(pattern);
        }
        if (!entry->second.regex && error != nullptr) {
            *error = entry->second.error;
        }
        return entry->second.regex ? &*entry->second.regex : nullptr;
    }

  private:
    struct Compiled {
        std::optional<std::regex> regex;
        std::string error;
    };

    // libstdc++'s regex compiler reads the number of a backreference (\12) or a repetition
    // ({2,5}) into a long without checking for overflow, and then into an int: 19 digits are
    // undefined behaviour (found by tests/fuzz/fuzz_settings), 10 already a wrong count. No real
    // pattern needs more than 9 digits there, so such a pattern is refused before compiling.
    static bool has_oversized_number(std::string_view pattern) {
        auto digits_from = [&](size_t start) {
            size_t count = 0;
            while (start + count < pattern.size() && pattern[start + count] >= '0' &&
                   pattern[start + count] <= '9') {
                ++count;
            }
            return count;
        };
        constexpr size_t kMaxDigits = 9;
        for (size_t i = 0; i < pattern.size(); ++i) {
            if (pattern[i] == '\\') {
                if (digits_from(i + 1) > kMaxDigits) return true;
                ++i;  // the escaped character
            } else if (pattern[i] == '{') {
                const size_t low = digits_from(i + 1);
                if (low > kMaxDigits) return true;
                const size_t comma = i + 1 + low;
                if (comma < pattern.size() && pattern[comma] == ',' &&
                    digits_from(comma + 1) > kMaxDigits) {
                    return true;
                }
            }
        }
        return false;
    }

    static Compiled compile(const std::string& pattern) {
        if (has_oversized_number(pattern)) {
            return {std::nullopt, "a backreference or repetition count has more than 9 digits"};
        }
        try {
            return {std::regex(pattern, std::regex::ECMAScript), {}};
        } catch (const std::regex_error& failure) {
            return {std::nullopt, failure.what()};
        }
    }

    std::unordered_map<std::string, Compiled> compiled_;
};

// ---------------------------------------------------------------------------------------------
// Instance validation
// ---------------------------------------------------------------------------------------------

struct NumericBound {
    const char* keyword;
    const char* relation;  // Used in the message: "must be >= 3".
    bool (*is_satisfied)(std::partial_ordering instance_vs_bound);
};

constexpr NumericBound kNumericBounds[] = {
    {"minimum", ">=", [](std::partial_ordering order) { return order >= 0; }},
    {"maximum", "<=", [](std::partial_ordering order) { return order <= 0; }},
    {"exclusiveMinimum", ">", [](std::partial_ordering order) { return order > 0; }},
    {"exclusiveMaximum", "<", [](std::partial_ordering order) { return order < 0; }},
};

class InstanceValidator {
  public:
    // Below the measured overflow point (~1,300 characters for "^(a|b)*$") even on a 1 MiB
    // thread stack; see check_pattern().
    static constexpr std::size_t kMaxPatternSubjectBytes = 1024;

    explicit InstanceValidator(RegexCache& regexes) : regexes_(regexes) {}

    std::vector<ValidationError> run(const json& schema, const json& instance) {
        errors_.clear();
        validate_node(schema, instance, "");
        return std::move(errors_);
    }

  private:
    void fail(const std::string& path, std::string message) {
        errors_.push_back({path, std::move(message)});
    }

    void validate_node(const json& schema, const json& instance, const std::string& path) {
        if (schema.is_boolean()) {
            if (!schema.get<bool>()) {
                fail(path, "is not allowed here (false schema)");
            }
            return;
        }
        if (!schema.is_object()) {
            return;
        }
        check_type(schema, instance, path);
        check_enum(schema, instance, path);
        check_const(schema, instance, path);
        // The remaining keywords constrain only instances of their own type.
        if (instance.is_number()) {
            check_numeric_bounds(schema, instance, path);
        } else if (instance.is_string()) {
            check_string(schema, instance.get_ref<const std::string&>(), path);
        } else if (instance.is_array()) {
            check_array(schema, instance, path);
        } else if (instance.is_object()) {
            check_object(schema, instance, path);
        }
    }

    void check_type(const json& schema, const json& instance, const std::string& path) {
        const json* type = find_keyword(schema, "type");
        if (type == nullptr) {
            return;
        }
        std::vector<std::string> allowed;
        if (type->is_string()) {
            allowed.push_back(type->get<std::string>());
        } else if (type->is_array()) {
            for (const json& name : *type) {
                if (name.is_string()) allowed.push_back(name.get<std::string>());
            }
        } else {
            return;
        }
        if (std::any_of(allowed.begin(), allowed.end(),
                        [&](const std::string& name) { return matches_type(instance, name); })) {
            return;
        }
        std::string expected;
        for (const std::string& name : allowed) {
            expected += (expected.empty() ? "" : " or ") + name;
        }
        fail(path,
             "must be " + expected + ", got " + std::string(type_name_of(instance)) + " (type)");
    }

    void check_enum(const json& schema, const json& instance, const std::string& path) {
        const json* allowed = find_keyword(schema, "enum");
        if (allowed == nullptr || !allowed->is_array()) {
            return;
        }
        const bool listed = std::any_of(allowed->begin(), allowed->end(), [&](const json& value) {
            return json_equal(value, instance);
        });
        if (!listed) {
            fail(path, "must be one of " + describe_value(*allowed) + " (enum)");
        }
    }

    void check_const(const json& schema, const json& instance, const std::string& path) {
        const json* expected = find_keyword(schema, "const");
        if (expected != nullptr && !json_equal(*expected, instance)) {
            fail(path, "must be equal to " + describe_value(*expected) + " (const)");
        }
    }

    void check_numeric_bounds(const json& schema, const json& instance, const std::string& path) {
        for (const NumericBound& bound : kNumericBounds) {
            const json* limit = find_keyword(schema, bound.keyword);
            if (limit == nullptr || !limit->is_number()) {
                continue;
            }
            if (!bound.is_satisfied(compare_numbers(instance, *limit))) {
                fail(path, std::string("must be ") + bound.relation + " " + describe_value(*limit) +
                               " (" + bound.keyword + ")");
            }
        }
    }

    void check_string(const json& schema, const std::string& text, const std::string& path) {
        const std::uint64_t length = count_code_points(text);
        const json* min_length = find_keyword(schema, "minLength");
        if (const auto limit = min_length ? read_count(*min_length) : std::nullopt;
            limit && length < *limit) {
            fail(path, "must be at least " + count_with_noun(*limit, "character") + " (minLength)");
        }
        const json* max_length = find_keyword(schema, "maxLength");
        if (const auto limit = max_length ? read_count(*max_length) : std::nullopt;
            limit && length > *limit) {
            fail(path, "must be at most " + count_with_noun(*limit, "character") + " (maxLength)");
        }
        check_pattern(schema, text, path);
    }

    void check_pattern(const json& schema, const std::string& text, const std::string& path) {
        const json* pattern = find_keyword(schema, "pattern");
        if (pattern == nullptr || !pattern->is_string()) {
            return;
        }
        const auto& source = pattern->get_ref<const std::string&>();
        const std::regex* regex = regexes_.find_or_compile(source);
        // Fail closed: a schema that skipped check_schema must not let everything through.
        if (regex == nullptr) {
            fail(path, "cannot be checked: " + quoted(source) + " is not a valid regex (pattern)");
            return;
        }
        // libstdc++'s std::regex matcher recurses once per input character (~700 bytes of stack
        // per character for "^(a|b)*$"), so a long tenant-supplied string could overflow the
        // stack and crash the host. Such strings fail closed instead of being matched.
        if (text.size() > kMaxPatternSubjectBytes) {
            fail(path, "is too long to check against pattern " + quoted(source) + ": more than " +
                           std::to_string(kMaxPatternSubjectBytes) + " bytes (pattern)");
            return;
        }
        try {
            // Unanchored, as JSON Schema specifies: "a+" matches anywhere in the string.
            if (!std::regex_search(text, *regex)) {
                fail(path, "must match pattern " + quoted(source) + " (pattern)");
            }
        } catch (const std::regex_error&) {
            // libstdc++ gives up on pathological inputs (error_complexity / error_stack).
            fail(path, "is too complex to match against " + quoted(source) + " (pattern)");
        }
    }

    void check_array(const json& schema, const json& instance, const std::string& path) {
        check_items(schema, instance, path);
        const json* min_items = find_keyword(schema, "minItems");
        if (const auto limit = min_items ? read_count(*min_items) : std::nullopt;
            limit && instance.size() < *limit) {
            fail(path, "must have at least " + count_with_noun(*limit, "item") + " (minItems)");
        }
        const json* max_items = find_keyword(schema, "maxItems");
        if (const auto limit = max_items ? read_count(*max_items) : std::nullopt;
            limit && instance.size() > *limit) {
            fail(path, "must have at most " + count_with_noun(*limit, "item") + " (maxItems)");
        }
    }

    void check_items(const json& schema, const json& instance, const std::string& path) {
        const json* items = find_keyword(schema, "items");
        if (items == nullptr) {
            return;
        }
        // Tuple form: the i-th schema applies to the i-th item; extra items are unconstrained
        // (additionalItems is not supported).
        if (items->is_array()) {
            const std::size_t count = std::min(items->size(), instance.size());
            for (std::size_t index = 0; index < count; ++index) {
                validate_node((*items)[index], instance[index], child_pointer(path, index));
            }
            return;
        }
        for (std::size_t index = 0; index < instance.size(); ++index) {
            validate_node(*items, instance[index], child_pointer(path, index));
        }
    }

    void check_object(const json& schema, const json& instance, const std::string& path) {
        check_required(schema, instance, path);
        const json* properties = find_keyword(schema, "properties");
        if (properties != nullptr && !properties->is_object()) {
            properties = nullptr;
        }
        const json* additional = find_keyword(schema, "additionalProperties");
        for (const auto& member : instance.items()) {
            const std::string member_path = child_pointer(path, member.key());
            const json* declared = properties ? find_keyword(*properties, member.key()) : nullptr;
            if (declared != nullptr) {
                validate_node(*declared, member.value(), member_path);
            } else if (additional != nullptr && additional->is_boolean() &&
                       !additional->get<bool>()) {
                // Dedicated message: "false schema" would not tell the user why.
                fail(member_path, "is not an allowed property (additionalProperties)");
            } else if (additional != nullptr) {
                validate_node(*additional, member.value(), member_path);
            }
        }
    }

    void check_required(const json& schema, const json& instance, const std::string& path) {
        const json* required = find_keyword(schema, "required");
        if (required == nullptr || !required->is_array()) {
            return;
        }
        for (const json& name : *required) {
            if (name.is_string() && !instance.contains(name.get_ref<const std::string&>())) {
                fail(path, "is missing required property " + describe_value(name) + " (required)");
            }
        }
    }

    RegexCache& regexes_;
    std::vector<ValidationError> errors_;
};

// ---------------------------------------------------------------------------------------------
// Schema checking
// ---------------------------------------------------------------------------------------------

class SchemaChecker {
  public:
    std::vector<std::string> run(const json& schema) {
        problems_.clear();
        check_node(schema, "#");
        return std::move(problems_);
    }

  private:
    using KeywordCheck = void (SchemaChecker::*)(const std::string& keyword, const json& value,
                                                 const std::string& location);
    struct KeywordRule {
        std::string_view keyword;
        KeywordCheck check;
    };

    // A function-local table, because member pointers need the complete class.
    static const KeywordRule* find_rule(const std::string& keyword) {
        static constexpr KeywordRule kRules[] = {
            {"type", &SchemaChecker::check_type},
            {"properties", &SchemaChecker::check_properties},
            {"required", &SchemaChecker::check_required},
            {"additionalProperties", &SchemaChecker::check_subschema},
            {"enum", &SchemaChecker::check_enum},
            {"const", &SchemaChecker::accept_anything},
            {"minimum", &SchemaChecker::check_number},
            {"maximum", &SchemaChecker::check_number},
            {"exclusiveMinimum", &SchemaChecker::check_number},
            {"exclusiveMaximum", &SchemaChecker::check_number},
            {"minLength", &SchemaChecker::check_count},
            {"maxLength", &SchemaChecker::check_count},
            {"pattern", &SchemaChecker::check_pattern},
            {"items", &SchemaChecker::check_items},
            {"minItems", &SchemaChecker::check_count},
            {"maxItems", &SchemaChecker::check_count},
            // Checked against its own schema once the whole node is known to be sound.
            {"default", &SchemaChecker::accept_anything},
            {"title", &SchemaChecker::check_string},
            {"description", &SchemaChecker::check_string},
            {"examples", &SchemaChecker::check_array},
            {"$schema", &SchemaChecker::check_string},
            {"$id", &SchemaChecker::check_string},
            {"$comment", &SchemaChecker::check_string},
            {"format", &SchemaChecker::check_string},
        };
        const auto* rule = std::find_if(
            std::begin(kRules), std::end(kRules),
            [&keyword](const KeywordRule& candidate) { return candidate.keyword == keyword; });
        return rule == std::end(kRules) ? nullptr : rule;
    }

    void report(const std::string& location, const std::string& message) {
        problems_.push_back(location + ": " + message);
    }

    void check_node(const json& schema, const std::string& location) {
        if (schema.is_boolean()) {
            return;
        }
        if (!schema.is_object()) {
            report(location,
                   "a schema must be an object or a boolean, got " + describe_value(schema));
            return;
        }
        const std::size_t problems_before = problems_.size();
        for (const auto& member : schema.items()) {
            check_keyword(member.key(), member.value(), location);
        }
        // Validating a default against a broken schema would only produce confusing noise.
        if (problems_.size() == problems_before) {
            check_default(schema, location);
        }
    }

    void check_keyword(const std::string& keyword, const json& value, const std::string& location) {
        const KeywordRule* rule = find_rule(keyword);
        if (rule == nullptr) {
            report(location, "unknown or unsupported keyword " + quoted(keyword));
            return;
        }
        (this->*(rule->check))(keyword, value, location);
    }

    void check_default(const json& schema, const std::string& location) {
        const json* default_value = find_keyword(schema, "default");
        if (default_value == nullptr) {
            return;
        }
        for (const ValidationError& error :
             InstanceValidator(regexes_).run(schema, *default_value)) {
            const std::string where = error.path.empty() ? "" : " at " + error.path;
            report(location,
                   "default does not match its own schema" + where + ": " + error.message);
        }
    }

    void accept_anything(const std::string&, const json&, const std::string&) {}

    void check_type(const std::string& keyword, const json& value, const std::string& location) {
        if (value.is_string()) {
            check_type_name(value, location);
            return;
        }
        if (!value.is_array() || value.empty()) {
            report(location, keyword + " must be a type name or a non-empty array of type names");
            return;
        }
        std::set<std::string> seen;
        for (const json& name : value) {
            check_type_name(name, location);
            if (name.is_string() && !seen.insert(name.get<std::string>()).second) {
                report(location, keyword + " lists " + describe_value(name) + " more than once");
            }
        }
    }

    void check_type_name(const json& name, const std::string& location) {
        if (!name.is_string() || !is_known_type_name(name.get_ref<const std::string&>())) {
            report(location, "type " + describe_value(name) +
                                 " is not one of object, array, string, integer, number, "
                                 "boolean, null");
        }
    }

    void check_properties(const std::string& keyword, const json& value,
                          const std::string& location) {
        if (!value.is_object()) {
            report(location, keyword + " must be an object mapping names to schemas");
            return;
        }
        for (const auto& member : value.items()) {
            check_node(member.value(), child_pointer(location + "/" + keyword, member.key()));
        }
    }

    void check_required(const std::string& keyword, const json& value,
                        const std::string& location) {
        const bool all_strings =
            value.is_array() && std::all_of(value.begin(), value.end(),
                                            [](const json& name) { return name.is_string(); });
        if (!all_strings) {
            report(location, keyword + " must be an array of property names");
            return;
        }
        std::set<std::string> seen;
        for (const json& name : value) {
            if (!seen.insert(name.get<std::string>()).second) {
                report(location, keyword + " lists " + describe_value(name) + " more than once");
            }
        }
    }

    void check_subschema(const std::string& keyword, const json& value,
                         const std::string& location) {
        check_node(value, location + "/" + keyword);
    }

    // Draft 7 allows an empty enum, but for settings it can only be a mistake: nothing would
    // ever validate.
    void check_enum(const std::string& keyword, const json& value, const std::string& location) {
        if (!value.is_array() || value.empty()) {
            report(location, keyword + " must be a non-empty array");
        }
    }

    void check_number(const std::string& keyword, const json& value, const std::string& location) {
        const bool finite =
            value.is_number() && (!value.is_number_float() || std::isfinite(value.get<double>()));
        if (!finite) {
            report(location, keyword + " must be a number");
        }
    }

    void check_count(const std::string& keyword, const json& value, const std::string& location) {
        if (!read_count(value)) {
            report(location, keyword + " must be a non-negative integer");
        }
    }

    void check_pattern(const std::string& keyword, const json& value, const std::string& location) {
        if (!value.is_string()) {
            report(location, keyword + " must be a string");
            return;
        }
        std::string error;
        if (regexes_.find_or_compile(value.get<std::string>(), &error) == nullptr) {
            report(location, keyword + " " + describe_value(value) +
                                 " is not a valid ECMAScript regular expression: " + error);
        }
    }

    void check_items(const std::string& keyword, const json& value, const std::string& location) {
        if (!value.is_array()) {
            check_node(value, location + "/" + keyword);
            return;
        }
        for (std::size_t index = 0; index < value.size(); ++index) {
            check_node(value[index], child_pointer(location + "/" + keyword, index));
        }
    }

    void check_string(const std::string& keyword, const json& value, const std::string& location) {
        if (!value.is_string()) {
            report(location, keyword + " must be a string");
        }
    }

    void check_array(const std::string& keyword, const json& value, const std::string& location) {
        if (!value.is_array()) {
            report(location, keyword + " must be an array");
        }
    }

    // Shared with default validation, so each pattern compiles once per check.
    RegexCache regexes_;
    std::vector<std::string> problems_;
};

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

void fill_defaults(const json& schema, json& instance);

// What to insert for a property the instance lacks, or nothing.
std::optional<json> value_for_missing_property(const json& property_schema) {
    if (const json* declared = find_keyword(property_schema, "default")) {
        json value = *declared;
        // A declared object default may omit members that carry their own defaults.
        fill_defaults(property_schema, value);
        return value;
    }
    // Without its own default a nested object is only worth creating if it would carry
    // defaults, and only if the property may be an object at all.
    if (!type_allows_object(property_schema)) {
        return std::nullopt;
    }
    json created = json::object();
    fill_defaults(property_schema, created);
    return created.empty() ? std::nullopt : std::optional<json>(std::move(created));
}

void fill_defaults(const json& schema, json& instance) {
    const json* properties = find_keyword(schema, "properties");
    if (!instance.is_object() || properties == nullptr || !properties->is_object()) {
        return;
    }
    for (const auto& member : properties->items()) {
        const auto existing = instance.find(member.key());
        if (existing != instance.end()) {
            // Never overwrite, but do complete nested objects that are present.
            fill_defaults(member.value(), *existing);
        } else if (auto value = value_for_missing_property(member.value())) {
            instance[member.key()] = std::move(*value);
        }
    }
}

}  // namespace

std::vector<std::string> check_schema(const nlohmann::json& schema) {
    return SchemaChecker().run(schema);
}

std::vector<std::string> check_settings_schema(const nlohmann::json& schema) {
    std::vector<std::string> problems = check_schema(schema);
    const json* type = find_keyword(schema, "type");
    if (type == nullptr || *type != "object") {
        problems.push_back(
            "#: a settings schema must declare \"type\": \"object\" at the top level");
    }
    return problems;
}

std::vector<ValidationError> validate(const nlohmann::json& schema,
                                      const nlohmann::json& instance) {
    RegexCache regexes;
    return InstanceValidator(regexes).run(schema, instance);
}

nlohmann::json apply_defaults(const nlohmann::json& schema, const nlohmann::json& instance) {
    nlohmann::json result = instance;
    fill_defaults(schema, result);
    return result;
}

}  // namespace miconsul::settings
