// Every way a plugin can be refused, each proven refused with its reason while the host keeps
// serving the plugins that are fine.
#include "support/host_process.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::kAdminHeader;
using nlohmann::json;

class PluginLoadingTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        scratch_ = new miconsul::testing::ScratchDirectory();
        const auto plugins = scratch_->path() / "plugins";
        std::filesystem::create_directories(plugins);
        std::filesystem::create_symlink(miconsul::testing::shipped_plugin_dir() / "hello.so",
                                        plugins / "hello.so");
        for (const auto& entry :
             std::filesystem::directory_iterator(miconsul::testing::test_plugin_dir())) {
            if (entry.path().extension() == ".so") {
                std::filesystem::create_symlink(entry.path(), plugins / entry.path().filename());
            }
        }
        // Not a plugin at all: ignored, not refused.
        std::ofstream(plugins / "README.txt") << "notes";
        host_ = new HostProcess(HostOptions{scratch_->path(), plugins, "", {}});
        listing_ = host_->http().get("/api/v1/plugins", {kAdminHeader}).json()["items"];
    }
    static void TearDownTestSuite() {
        delete host_;
        delete scratch_;
    }

    // The listing entry whose file name is `file`.
    static json entry(const std::string& file) {
        for (const auto& item : listing_) {
            if (std::filesystem::path(item["file"].get<std::string>()).filename() == file) {
                return item;
            }
        }
        return nullptr;
    }

    static void expect_refused(const std::string& file, const std::string& reason_part,
                               const std::string& manifest_name = "") {
        const json item = entry(file);
        ASSERT_TRUE(item.is_object()) << file << " is not listed";
        EXPECT_EQ(item["status"], "failed") << item.dump();
        EXPECT_NE(item.value("reason", "").find(reason_part), std::string::npos) << item.dump();
        EXPECT_EQ(item["name"], file) << "a refused plugin is listed by file name";
        if (!manifest_name.empty()) {
            EXPECT_EQ(item["manifest_name"], manifest_name);
        }
        // The log is written asynchronously: on a loaded machine the line may come after the
        // listing did.
        const std::string marker = "plugin refused file=" + item["file"].get<std::string>();
        ASSERT_TRUE(host_->log_contains(marker, std::chrono::seconds(10)))
            << "the refusal is logged";
        const std::string log = host_->log();
        const auto line_start = log.find(marker);
        const std::string line = log.substr(line_start, log.find('\n', line_start) - line_start);
        EXPECT_NE(line.find(reason_part), std::string::npos) << line;
    }

    static miconsul::testing::ScratchDirectory* scratch_;
    static HostProcess* host_;
    static json listing_;
};
miconsul::testing::ScratchDirectory* PluginLoadingTest::scratch_ = nullptr;
HostProcess* PluginLoadingTest::host_ = nullptr;
json PluginLoadingTest::listing_;

TEST_F(PluginLoadingTest, GoodPluginsLoadBesideBrokenOnes) {
    EXPECT_EQ(entry("hello.so")["status"], "loaded");
    EXPECT_EQ(entry("hello.so")["version"], "1.0.0");
    EXPECT_EQ(entry("hello.so")["scope"], "tenant");
    EXPECT_EQ(entry("hello.so")["schedules"][0]["name"], "daily-summary");
    EXPECT_EQ(entry("hello.so")["event_handlers"][0]["event_type"], "hello.greeted");
    EXPECT_EQ(entry("test_platform_probe.so")["status"], "loaded");
    EXPECT_TRUE(entry("README.txt").is_null());
    EXPECT_EQ(host_->http().get("/readyz").status, 200);
}

TEST_F(PluginLoadingTest, FileThatIsNotASharedLibrary) {
    expect_refused("not_a_library.so", "not a loadable shared library");
}

TEST_F(PluginLoadingTest, LibraryWithoutEntrySymbol) {
    expect_refused("test_no_entry.so", "missing entry symbol");
}

TEST_F(PluginLoadingTest, OtherAbiMajor) {
    expect_refused("test_abi_major.so", "major");
}

TEST_F(PluginLoadingTest, NewerAbiMinor) {
    expect_refused("test_abi_minor.so", "newer");
}

TEST_F(PluginLoadingTest, InvalidManifest) {
    expect_refused("test_bad_manifest.so", "invalid manifest");
    const std::string reason = entry("test_bad_manifest.so")["reason"];
    EXPECT_NE(reason.find("name"), std::string::npos);
    EXPECT_NE(reason.find("semver"), std::string::npos);
    EXPECT_NE(reason.find("scope"), std::string::npos);
}

TEST_F(PluginLoadingTest, InvalidSettingsSchema) {
    expect_refused("test_bad_schema.so", "settings_schema");
}

TEST_F(PluginLoadingTest, PluginThatThrowsWhileRegistering) {
    expect_refused("test_throws_on_register.so", "cannot reach the payment gateway", "throws");
}

TEST_F(PluginLoadingTest, ManifestThatThrows) {
    expect_refused("test_manifest_throws.so", "settings file missing at build time");
}

TEST_F(PluginLoadingTest, MalformedRoutePattern) {
    expect_refused("test_bad_route.so", "bad parameter name 'bad-name'", "bad-route");
    EXPECT_EQ(entry("test_bad_route.so")["reason"].get<std::string>().find("collision"),
              std::string::npos);
}

TEST_F(PluginLoadingTest, InvalidCronExpression) {
    expect_refused("test_bad_cron.so", "cron '0 25 * * *' is invalid: hour", "bad-cron");
}

TEST_F(PluginLoadingTest, CronNamingASettingThatIsNotAnIntegerWithADefault) {
    expect_refused("test_bad_cron_setting.so", "setting 'hour' is not an integer",
                   "bad-cron-setting");
}

TEST_F(PluginLoadingTest, SecondPluginWithTheSameName) {
    expect_refused("test_duplicate_name.so", "already loaded", "hello");
    // The first one keeps the name and its routes.
    auto& http = host_->http();
    http.send("POST", "/api/v1/tenants", R"({"id":"dup","name":"Dup","timezone":"UTC"})",
              {kAdminHeader});
    ASSERT_EQ(
        http.send("PUT", "/api/v1/tenants/dup/plugins/hello", R"({"enabled":true})", {kAdminHeader})
            .status,
        200);
    EXPECT_EQ(http.get("/t/dup/hello/greet?name=Ana").json()["message"], "Hola, Ana");
}

TEST_F(PluginLoadingTest, RouteCollision) {
    expect_refused("test_route_collision.so", "route collision", "collider");
    // Refused whole: none of its routes exist.
    EXPECT_EQ(host_->http().get("/t/dup/collider/items/1").status, 404);
    EXPECT_EQ(host_->http()
                  .get("/api/v1/plugins/test_route_collision.so", {kAdminHeader})
                  .json()["status"],
              "failed");
}

TEST_F(PluginLoadingTest, PlatformPluginRoutesAndMigrations) {
    auto status = host_->http().get("/p/probe/status", {kAdminHeader});
    ASSERT_EQ(status.status, 200) << status.body;
    EXPECT_EQ(status.json()["tenant"], "");
    EXPECT_EQ(status.json()["marks"], 0);
}
}  // namespace
