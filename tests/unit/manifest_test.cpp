#include "plugins/manifest.h"

#include <miconsul/plugin_abi.h>

#include <gtest/gtest.h>

namespace {
using miconsul::plugins::abi_incompatibility;
using miconsul::plugins::parse_manifest;

TEST(Abi, SameMajorAndOlderOrEqualMinorIsAccepted) {
    EXPECT_FALSE(abi_incompatibility(MC_ABI_MAJOR, MC_ABI_MINOR));
    EXPECT_FALSE(abi_incompatibility(MC_ABI_MAJOR, 0));
}

TEST(Abi, OtherMajorOrNewerMinorIsRefusedWithReason) {
    auto major = abi_incompatibility(MC_ABI_MAJOR + 1, 0);
    ASSERT_TRUE(major);
    EXPECT_NE(major->find("major"), std::string::npos) << *major;
    auto minor = abi_incompatibility(MC_ABI_MAJOR, MC_ABI_MINOR + 1);
    ASSERT_TRUE(minor);
    EXPECT_NE(minor->find("newer"), std::string::npos) << *minor;
}

TEST(Manifest, ParsesAValidManifestAndFillsDefaults) {
    auto result = parse_manifest(R"j({"name":"citas","version":"1.2.3-beta.1","scope":"tenant",
        "description":"appointments",
        "settings_schema":{"type":"object","properties":{"reminder_hour":
            {"type":"integer","minimum":0,"maximum":23,"default":18}}},
        "migrations":[{"version":2,"description":"b","sql":"CREATE TABLE b (x TEXT)"},
                      {"version":1,"description":"a","sql":"CREATE TABLE a (x TEXT)"}],
        "events_emitted":["appointment.reminded"]})j");
    ASSERT_TRUE(result.manifest) << result.problems.front();
    EXPECT_EQ(result.manifest->name, "citas");
    EXPECT_EQ(result.manifest->default_settings, nlohmann::json({{"reminder_hour", 18}}));
    EXPECT_EQ(result.manifest->migrations.size(), 2u);
    EXPECT_EQ(result.manifest->events_emitted.size(), 1u);
}

TEST(Manifest, ListsEveryProblem) {
    auto result = parse_manifest(R"({"name":"Bad Name","version":"1.0","scope":"galaxy",
        "migrations":[{"version":0,"sql":"x"},{"version":1,"sql":""}]})");
    EXPECT_FALSE(result.manifest);
    // name, version, scope, description, migration 0 version, migration 1 sql
    EXPECT_EQ(result.problems.size(), 6u);
}

TEST(Manifest, RefusesNonObjectsReservedNamesAndBadSchemas) {
    EXPECT_FALSE(parse_manifest("[]").manifest);
    EXPECT_FALSE(parse_manifest("{not json").manifest);
    auto reserved = parse_manifest(
        R"({"name":"events","version":"1.0.0","scope":"tenant","description":""})");
    ASSERT_FALSE(reserved.manifest);
    EXPECT_NE(reserved.problems.front().find("reserved"), std::string::npos);
    auto bad_schema = parse_manifest(R"({"name":"x","version":"1.0.0","scope":"tenant",
        "description":"","settings_schema":{"type":"array"}})");
    EXPECT_FALSE(bad_schema.manifest);
    auto duplicate_versions = parse_manifest(R"({"name":"x","version":"1.0.0","scope":"tenant",
        "description":"","migrations":[{"version":1,"sql":"SELECT 1"},
        {"version":1,"sql":"SELECT 2"}]})");
    EXPECT_FALSE(duplicate_versions.manifest);
}
}  // namespace
