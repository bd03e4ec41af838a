#include "settings/schema_validator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#ifndef MICONSUL_JSON_SCHEMA_SUITE_DIR
#define MICONSUL_JSON_SCHEMA_SUITE_DIR "/usr/share/json-schema-test-suite/tests/draft7"
#endif

namespace miconsul::settings {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Official JSON-Schema-Test-Suite (draft 7)
// ---------------------------------------------------------------------------------------------

// A suite group that check_schema is expected to reject, and a word its problems must mention so
// the group is skipped for the stated reason and not because of some regression.
struct ExpectedSkip {
    std::string group;
    std::string reason;
};

struct SuiteFile {
    std::string name;  // Relative to the draft7 directory.
    std::vector<ExpectedSkip> expected_skips;
};

// Lets gtest print the parameter in failure messages instead of a byte dump.
void PrintTo(const SuiteFile& file, std::ostream* out) { *out << file.name; }

const std::vector<SuiteFile>& suite_files() {
    static const std::vector<SuiteFile> kFiles = {
        {"type.json", {}},
        {"properties.json",
         {{"properties, patternProperties, additionalProperties interaction",
           "patternProperties"}}},
        {"required.json", {}},
        {"additionalProperties.json",
         {{"additionalProperties being false does not allow other properties", "patternProperties"},
          {"non-ASCII pattern with additionalProperties", "patternProperties"}}},
        {"enum.json", {}},
        {"const.json", {}},
        {"minimum.json", {}},
        {"maximum.json", {}},
        {"minLength.json", {}},
        {"maxLength.json", {}},
        {"pattern.json", {}},
        {"items.json", {}},
        // The host is stricter than the spec here: a default that violates its own schema is a
        // plugin bug, so check_schema refuses both groups (the suite checks that validation
        // ignores such defaults; ValidateTreatsDefaultAsAnnotation covers that).
        {"default.json",
         {{"invalid type for default", "default"},
          {"invalid string value for default", "default"}}},
        {"exclusiveMinimum.json", {}},
        {"exclusiveMaximum.json", {}},
        {"minItems.json", {}},
        {"maxItems.json", {}},
        // Optional suite files exercising the numeric semantics (big values, 1.0 is an integer).
        {"optional/bignum.json", {}},
        {"optional/zeroTerminatedFloats.json", {}},
    };
    return kFiles;
}

json load_suite_file(const std::string& name) {
    std::ifstream stream(std::string(MICONSUL_JSON_SCHEMA_SUITE_DIR) + "/" + name);
    if (!stream) {
        return json();
    }
    return json::parse(stream, nullptr, /*allow_exceptions=*/false);
}

std::string describe_errors(const std::vector<ValidationError>& errors) {
    std::string text;
    for (const ValidationError& error : errors) {
        text += "\n  '" + error.path + "': " + error.message;
    }
    return text;
}

bool mentions(const std::vector<std::string>& problems, const std::string& word) {
    return std::any_of(problems.begin(), problems.end(), [&word](const std::string& problem) {
        return problem.find(word) != std::string::npos;
    });
}

class OfficialSuiteTest : public ::testing::TestWithParam<SuiteFile> {};

TEST_P(OfficialSuiteTest, SupportedGroupsMatchExpectedValidity) {
    const SuiteFile& file = GetParam();
    const json groups = load_suite_file(file.name);
    ASSERT_TRUE(groups.is_array())
        << "cannot read " << MICONSUL_JSON_SCHEMA_SUITE_DIR << "/" << file.name;

    std::vector<std::string> skipped_groups;
    int groups_run = 0;
    int cases_run = 0;
    int cases_skipped = 0;
    for (const json& group : groups) {
        const std::string group_name = group.at("description").get<std::string>();
        const json& schema = group.at("schema");
        const std::vector<std::string> problems = check_schema(schema);
        if (!problems.empty()) {
            skipped_groups.push_back(group_name);
            cases_skipped += static_cast<int>(group.at("tests").size());
            const auto expected = std::find_if(
                file.expected_skips.begin(), file.expected_skips.end(),
                [&group_name](const ExpectedSkip& skip) { return skip.group == group_name; });
            if (expected != file.expected_skips.end()) {
                EXPECT_TRUE(mentions(problems, expected->reason))
                    << file.name << " / " << group_name << ": expected to be rejected for "
                    << expected->reason << ", problems were:\n  "
                    << ::testing::PrintToString(problems);
            }
            continue;
        }
        ++groups_run;
        for (const json& test_case : group.at("tests")) {
            ++cases_run;
            const std::vector<ValidationError> errors = validate(schema, test_case.at("data"));
            EXPECT_EQ(errors.empty(), test_case.at("valid").get<bool>())
                << file.name << " / " << group_name << " / "
                << test_case.at("description").get<std::string>() << describe_errors(errors);
        }
    }

    std::vector<std::string> expected_skipped_groups;
    for (const ExpectedSkip& skip : file.expected_skips) {
        expected_skipped_groups.push_back(skip.group);
    }
    EXPECT_EQ(skipped_groups, expected_skipped_groups) << file.name;
    EXPECT_FALSE(groups.empty()) << file.name << " has no groups";

    RecordProperty("groups_run", groups_run);
    RecordProperty("cases_run", cases_run);
    RecordProperty("groups_skipped", static_cast<int>(skipped_groups.size()));
    RecordProperty("cases_skipped", cases_skipped);
    std::cout << "[ suite    ] " << file.name << ": " << groups_run << " groups / " << cases_run
              << " cases run, " << skipped_groups.size() << " groups / " << cases_skipped
              << " cases skipped\n";
}

std::string suite_test_name(const ::testing::TestParamInfo<SuiteFile>& info) {
    std::string name = info.param.name.substr(0, info.param.name.rfind(".json"));
    std::replace_if(
        name.begin(), name.end(), [](unsigned char c) { return !std::isalnum(c); }, '_');
    return name;
}

INSTANTIATE_TEST_SUITE_P(Draft7, OfficialSuiteTest, ::testing::ValuesIn(suite_files()),
                         suite_test_name);

// ---------------------------------------------------------------------------------------------
// check_schema / check_settings_schema
// ---------------------------------------------------------------------------------------------

json greeting_settings_schema() {
    return json::parse(R"({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Greeter settings",
        "type": "object",
        "properties": {
            "greeting": {"type": "string", "minLength": 1, "maxLength": 10, "default": "Hola"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
            "mode": {"enum": ["fast", "safe"], "default": "safe", "description": "How to run"},
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"},
                     "maxItems": 5, "examples": [["a"]]},
            "limits": {
                "type": "object",
                "properties": {
                    "rate": {"type": "number", "exclusiveMinimum": 0, "default": 1.5},
                    "burst": {"type": "integer", "default": 10}
                },
                "additionalProperties": false
            },
            "enabled": true
        },
        "required": ["greeting"]
    })");
}

TEST(CheckSchemaTest, AcceptsRealisticSettingsSchema) {
    EXPECT_EQ(check_schema(greeting_settings_schema()), std::vector<std::string>{});
    EXPECT_EQ(check_settings_schema(greeting_settings_schema()), std::vector<std::string>{});
}

TEST(CheckSchemaTest, AcceptsBooleanSchemasAndRejectsOtherScalars) {
    EXPECT_TRUE(check_schema(true).empty());
    EXPECT_TRUE(check_schema(false).empty());
    EXPECT_TRUE(check_schema(json::parse(R"({"items": [true, false]})")).empty());
    EXPECT_EQ(check_schema(5).size(), 1U);
    EXPECT_EQ(check_schema(json::parse(R"({"properties": {"a": "string"}})")).size(), 1U);
}

TEST(CheckSchemaTest, RejectsUnknownKeywordNamingIt) {
    const auto problems =
        check_schema(json::parse(R"({"type": "object", "properties": {"a": {"$ref": "#"}}})"));
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_NE(problems[0].find("#/properties/a"), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("\"$ref\""), std::string::npos) << problems[0];
}

TEST(CheckSchemaTest, RejectsNegativeOrFractionalMinLength) {
    const auto negative = check_schema(json::parse(R"({"minLength": -1})"));
    ASSERT_EQ(negative.size(), 1U);
    EXPECT_NE(negative[0].find("minLength must be a non-negative integer"), std::string::npos)
        << negative[0];
    EXPECT_EQ(check_schema(json::parse(R"({"maxItems": 1.5})")).size(), 1U);
    // Draft 7 accepts integral floats where an integer is expected.
    EXPECT_TRUE(check_schema(json::parse(R"({"maxLength": 2.0})")).empty());
}

TEST(CheckSchemaTest, RejectsInvalidRegex) {
    const auto problems = check_schema(json::parse(R"({"pattern": "([a-z"})"));
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_NE(problems[0].find("pattern"), std::string::npos) << problems[0];
    EXPECT_EQ(check_schema(json::parse(R"({"pattern": 7})")).size(), 1U);
}

TEST(CheckSchemaTest, RejectsDefaultThatViolatesItsOwnSchema) {
    const auto problems = check_schema(json::parse(R"({
        "type": "object",
        "properties": {"port": {"type": "integer", "maximum": 65535, "default": 70000}}
    })"));
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_NE(problems[0].find("#/properties/port"), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("default"), std::string::npos) << problems[0];
    EXPECT_NE(problems[0].find("(maximum)"), std::string::npos) << problems[0];
}

TEST(CheckSchemaTest, ReportsOneProblemPerDefect) {
    const auto problems = check_schema(json::parse(R"({
        "type": "strnig",
        "required": "name",
        "enum": [],
        "minimum": "0",
        "items": 3,
        "title": 1,
        "examples": {},
        "additionalProperties": {"format": 2}
    })"));
    EXPECT_EQ(problems.size(), 8U) << ::testing::PrintToString(problems);
    EXPECT_TRUE(mentions(problems, "#/additionalProperties: format must be a string"))
        << ::testing::PrintToString(problems);
}

TEST(CheckSchemaTest, RejectsDuplicateTypeAndRequiredEntries) {
    EXPECT_EQ(check_schema(json::parse(R"({"type": ["string", "string"]})")).size(), 1U);
    EXPECT_EQ(check_schema(json::parse(R"({"required": ["a", "a"]})")).size(), 1U);
    EXPECT_TRUE(check_schema(json::parse(R"({"required": []})")).empty());
}

TEST(CheckSettingsSchemaTest, RequiresObjectAtTopLevel) {
    EXPECT_EQ(check_settings_schema(json::parse(R"({"type": "string"})")).size(), 1U);
    EXPECT_EQ(check_settings_schema(json::parse(R"({"properties": {}})")).size(), 1U);
    EXPECT_EQ(check_settings_schema(true).size(), 1U);
    EXPECT_TRUE(check_settings_schema(json::parse(R"({"type": "object"})")).empty());
    // Problems of the schema itself are still reported.
    EXPECT_EQ(check_settings_schema(json::parse(R"({"type": "object", "minLength": -2})")).size(),
              1U);
}

// ---------------------------------------------------------------------------------------------
// validate
// ---------------------------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> paths_and_messages(
    const std::vector<ValidationError>& errors) {
    std::vector<std::pair<std::string, std::string>> result;
    for (const ValidationError& error : errors) {
        result.emplace_back(error.path, error.message);
    }
    std::sort(result.begin(), result.end());
    return result;
}

TEST(ValidateTest, WrongTypeForSettingReportsItsPath) {
    const json schema = json::parse(
        R"({"type": "object", "properties": {"greeting": {"type": "string", "default": "Hola"}}})");
    const auto errors = validate(schema, json::parse(R"({"greeting": 5})"));
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0].path, "/greeting");
    EXPECT_EQ(errors[0].message, "must be string, got integer (type)");
}

TEST(ValidateTest, ReportsEveryFailureWithJsonPointerPaths) {
    const json instance = json::parse(R"({
        "greeting": "Hello there, world",
        "port": 0,
        "mode": "turbo",
        "tags": ["ok", "Not-Ok", 3],
        "limits": {"rate": 0, "burst": 2.5, "extra": 1},
        "enabled": "anything"
    })");
    const auto errors = paths_and_messages(validate(greeting_settings_schema(), instance));
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"/greeting", "must be at most 10 characters (maxLength)"},
        {"/limits/burst", "must be integer, got number (type)"},
        {"/limits/extra", "is not an allowed property (additionalProperties)"},
        {"/limits/rate", "must be > 0 (exclusiveMinimum)"},
        {"/mode", "must be one of [\"fast\",\"safe\"] (enum)"},
        {"/port", "must be >= 1 (minimum)"},
        {"/tags/1", "must match pattern \"^[a-z]+$\" (pattern)"},
        {"/tags/2", "must be string, got integer (type)"},
    };
    EXPECT_EQ(errors, expected);
}

TEST(ValidateTest, ReportsMissingRequiredAtTheObjectPath) {
    const auto errors = validate(greeting_settings_schema(), json::object());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0].path, "");
    EXPECT_EQ(errors[0].message, "is missing required property \"greeting\" (required)");
}

TEST(ValidateTest, EscapesPointerTokens) {
    const json schema = json::parse(R"({"additionalProperties": {"type": "integer"}})");
    const auto errors =
        paths_and_messages(validate(schema, json::parse(R"({"a/b": "x", "m~n": []})")));
    ASSERT_EQ(errors.size(), 2U);
    EXPECT_EQ(errors[0].first, "/a~1b");
    EXPECT_EQ(errors[1].first, "/m~0n");
}

TEST(ValidateTest, IntegerMeansZeroFractionalPart) {
    const json schema = json::parse(R"({"type": "integer"})");
    EXPECT_TRUE(validate(schema, json::parse("1.0")).empty());
    EXPECT_TRUE(validate(schema, json::parse("-3e2")).empty());
    EXPECT_FALSE(validate(schema, json::parse("1.5")).empty());
    EXPECT_TRUE(validate(schema, json::parse("18446744073709551615")).empty());
}

TEST(ValidateTest, EnumAndConstUseMathematicalNumberEquality) {
    EXPECT_TRUE(validate(json::parse(R"({"enum": [1, "a"]})"), json::parse("1.0")).empty());
    EXPECT_TRUE(validate(json::parse(R"({"const": {"a": [1.0, {"b": 2}]}})"),
                         json::parse(R"({"a": [1, {"b": 2.0}]})"))
                    .empty());
    EXPECT_FALSE(validate(json::parse(R"({"const": [1]})"), json::parse("[true]")).empty());
    EXPECT_FALSE(validate(json::parse(R"({"const": false})"), json::parse("0")).empty());
    // Exact across representations: unsigned max vs -1, and 2^53 + 1 vs the double 2^53.
    EXPECT_FALSE(
        validate(json::parse(R"({"const": 18446744073709551615})"), json::parse("-1")).empty());
    EXPECT_FALSE(
        validate(json::parse(R"({"const": 9007199254740992.0})"), json::parse("9007199254740993"))
            .empty());
}

TEST(ValidateTest, NumericBoundsCompareExactlyForBigValues) {
    const json at_most_2_pow_53 = json::parse(R"({"maximum": 9007199254740992.0})");
    EXPECT_TRUE(validate(at_most_2_pow_53, json::parse("9007199254740992")).empty());
    EXPECT_FALSE(validate(at_most_2_pow_53, json::parse("9007199254740993")).empty());

    const json below_uint64_max = json::parse(R"({"exclusiveMaximum": 18446744073709551615})");
    EXPECT_TRUE(validate(below_uint64_max, json::parse("18446744073709551614")).empty());
    EXPECT_FALSE(validate(below_uint64_max, json::parse("18446744073709551615")).empty());
    EXPECT_FALSE(validate(below_uint64_max, json::parse("1e30")).empty());

    const json at_least_minus_one = json::parse(R"({"minimum": -1})");
    EXPECT_TRUE(validate(at_least_minus_one, json::parse("18446744073709551615")).empty());
    EXPECT_TRUE(validate(at_least_minus_one, json::parse("-1.0")).empty());
    EXPECT_FALSE(validate(at_least_minus_one, json::parse("-1.0000001")).empty());
    EXPECT_FALSE(validate(at_least_minus_one, json::parse("-9223372036854775808")).empty());
}

TEST(ValidateTest, LengthCountsCodePoints) {
    const json schema = json::parse(R"({"minLength": 2, "maxLength": 5})");
    EXPECT_TRUE(validate(schema, json("h\xC3\xA9llo")).empty());       // "héllo", 6 bytes
    EXPECT_FALSE(validate(schema, json("\xF0\x9F\x92\xA9")).empty());  // one emoji
    EXPECT_TRUE(validate(schema, json("\xF0\x9F\x92\xA9\xF0\x9F\x92\xA9")).empty());
    const auto errors = validate(json::parse(R"({"minLength": 1})"), json(""));
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0].message, "must be at least 1 character (minLength)");
}

TEST(ValidateTest, KeywordsIgnoreInstancesOfOtherTypes) {
    const json schema = json::parse(R"({
        "minLength": 3, "pattern": "^x$", "minimum": 5, "minItems": 2, "items": false,
        "required": ["a"], "properties": {"a": false}, "additionalProperties": false
    })");
    EXPECT_TRUE(validate(schema, json(true)).empty());
    EXPECT_TRUE(validate(schema, json(nullptr)).empty());
    EXPECT_EQ(validate(schema, json(1)).size(), 1U);           // minimum only
    EXPECT_EQ(validate(schema, json("ab")).size(), 2U);        // minLength and pattern
    EXPECT_EQ(validate(schema, json::array({1})).size(), 2U);  // minItems and items: false
}

TEST(ValidateTest, TreatsDefaultAsAnnotation) {
    // Mirrors the suite's default.json, whose schemas check_schema deliberately refuses.
    const json wrong_type =
        json::parse(R"({"properties": {"foo": {"type": "integer", "default": []}}})");
    EXPECT_TRUE(validate(wrong_type, json::object()).empty());
    EXPECT_TRUE(validate(wrong_type, json::parse(R"({"foo": 13})")).empty());
    const json too_short = json::parse(
        R"({"properties": {"bar": {"type": "string", "minLength": 4, "default": "bad"}}})");
    EXPECT_TRUE(validate(too_short, json::object()).empty());
    EXPECT_TRUE(validate(too_short, json::parse(R"({"bar": "good"})")).empty());
    EXPECT_FALSE(validate(too_short, json::parse(R"({"bar": "bad"})")).empty());
}

TEST(ValidateTest, UncompilablePatternFailsClosed) {
    const auto errors = validate(json::parse(R"({"pattern": "("})"), json("anything"));
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_NE(errors[0].message.find("(pattern)"), std::string::npos);
}

// Found by tests/fuzz/fuzz_settings: libstdc++'s regex compiler overflows a long on a
// backreference or repetition count of 19+ digits (undefined behaviour). Such patterns are
// refused before std::regex sees them; ordinary numbers still compile.
TEST(CheckSchemaTest, RejectsPatternNumbersTooLargeToCompileSafely) {
    for (const char* pattern : {R"(\5555555555555555555555)", "a{99999999999999999999}",
                                "a{1,12345678901}", R"(^\\\1234567890)"}) {
        const auto problems = check_schema(json{{"pattern", pattern}});
        ASSERT_EQ(problems.size(), 1U) << pattern;
        EXPECT_NE(problems[0].find("more than 9 digits"), std::string::npos) << problems[0];
        EXPECT_EQ(validate(json{{"pattern", pattern}}, json("5")).size(), 1U) << pattern;
    }
    // Digits elsewhere, and after an escaped backslash, are literals.
    for (const char* pattern :
         {"^[0-9]{10}$", "^0123456789012345$", R"(^(a)\1{2,5}$)", R"(\\12345678901)"}) {
        EXPECT_TRUE(check_schema(json{{"pattern", pattern}}).empty()) << pattern;
    }
}

TEST(ValidateTest, OverlongStringFailsPatternInsteadOfOverflowingTheStack) {
    const json schema = json::parse(R"({"pattern": "^(a|b)*$"})");
    EXPECT_TRUE(validate(schema, json(std::string(1024, 'a'))).empty());
    const auto errors = validate(schema, json(std::string(200000, 'a')));
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_NE(errors[0].message.find("too long"), std::string::npos) << errors[0].message;
}

// ---------------------------------------------------------------------------------------------
// apply_defaults
// ---------------------------------------------------------------------------------------------

TEST(ApplyDefaultsTest, FillsMissingDefaultsRecursively) {
    const json filled = apply_defaults(greeting_settings_schema(), json::object());
    const json expected = json::parse(R"({
        "greeting": "Hola", "port": 8080, "mode": "safe",
        "limits": {"rate": 1.5, "burst": 10}
    })");
    EXPECT_EQ(filled, expected);
    EXPECT_TRUE(validate(greeting_settings_schema(), filled).empty());
}

TEST(ApplyDefaultsTest, NeverOverwritesPresentValues) {
    const json instance = json::parse(R"({
        "greeting": "", "port": null, "mode": "fast", "limits": {"burst": 0}, "custom": 1
    })");
    const json expected = json::parse(R"({
        "greeting": "", "port": null, "mode": "fast", "limits": {"burst": 0, "rate": 1.5},
        "custom": 1
    })");
    EXPECT_EQ(apply_defaults(greeting_settings_schema(), instance), expected);
}

TEST(ApplyDefaultsTest, LeavesPresentNonObjectNestedValueAlone) {
    const json instance = json::parse(R"({"greeting": "hi", "limits": "none"})");
    const json filled = apply_defaults(greeting_settings_schema(), instance);
    EXPECT_EQ(filled.at("limits"), "none");
}

TEST(ApplyDefaultsTest, CreatesNestedObjectsOnlyWhenTheyGainDefaults) {
    const json schema = json::parse(R"({
        "type": "object",
        "properties": {
            "no_defaults": {"type": "object", "properties": {"a": {"type": "string"}}},
            "not_an_object": {"type": "string", "properties": {"a": {"default": 1}}},
            "deep": {"properties": {"inner": {"properties": {"leaf": {"default": true}}}}},
            "own_default": {"type": "object", "default": {"x": 1},
                            "properties": {"x": {"default": 2}, "y": {"default": 3}}}
        }
    })");
    const json expected = json::parse(R"({
        "deep": {"inner": {"leaf": true}},
        "own_default": {"x": 1, "y": 3}
    })");
    EXPECT_EQ(apply_defaults(schema, json::object()), expected);
}

TEST(ApplyDefaultsTest, ReturnsNonObjectInstanceUnchanged) {
    const json schema = greeting_settings_schema();
    EXPECT_EQ(apply_defaults(schema, json::array({1, 2})), json::array({1, 2}));
    EXPECT_EQ(apply_defaults(schema, json("text")), json("text"));
    EXPECT_EQ(apply_defaults(schema, json(nullptr)), json(nullptr));
    EXPECT_EQ(apply_defaults(true, json::object()), json::object());
}

}  // namespace
}  // namespace miconsul::settings
