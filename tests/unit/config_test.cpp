#include "config/config.h"

#include "auth/token_hash.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

namespace {
using miconsul::config::load_config;

miconsul::config::EnvironmentLookup fake_environment(std::map<std::string, std::string> values) {
    return [values](const std::string& name) -> std::optional<std::string> {
        auto found = values.find(name);
        if (found == values.end()) return std::nullopt;
        return found->second;
    };
}

std::filesystem::path write_file(const std::filesystem::path& dir, const std::string& text) {
    const auto path = dir / "miconsul.json";
    std::ofstream(path) << text;
    return path;
}

TEST(Config, DefaultsWithoutFileOrEnvironment) {
    auto loaded = load_config(std::nullopt, fake_environment({}));
    EXPECT_TRUE(loaded.problems.empty());
    EXPECT_EQ(loaded.config.listen_port, 8080);
    EXPECT_EQ(loaded.config.database_url, "sqlite://");
    EXPECT_EQ(loaded.config.max_request_bytes, 1024u * 1024u);
}

TEST(Config, FileWithCommentsThenEnvironmentWins) {
    miconsul::testing::ScratchDirectory dir;
    const auto file = write_file(dir.path(), R"({
        // comments are allowed
        "listen": "127.0.0.1:9000",
        "threads": 4,
        "log_level": "debug"
    })");
    auto loaded = load_config(file, fake_environment({{"MICONSUL_LISTEN", "0.0.0.0:9100"},
                                                      {"MICONSUL_REDIS_URL", "redis://r:6380"}}));
    ASSERT_TRUE(loaded.problems.empty()) << loaded.problems.front();
    EXPECT_EQ(loaded.config.listen_host, "0.0.0.0");
    EXPECT_EQ(loaded.config.listen_port, 9100);
    EXPECT_EQ(loaded.config.threads, 4);
    EXPECT_EQ(loaded.config.log_level, "debug");
    EXPECT_EQ(loaded.config.redis_url, "redis://r:6380");
}

TEST(Config, ReportsEveryProblemAtOnce) {
    miconsul::testing::ScratchDirectory dir;
    const auto file = write_file(dir.path(), R"({"threads": 0, "lisen": "x", "log_format": "xml"})");
    auto loaded = load_config(file, fake_environment({{"MICONSUL_DATABASE_URL", "mysql://x"},
                                                      {"MICONSUL_LISTEN", "nohost"}}));
    EXPECT_EQ(loaded.problems.size(), 5u);
}

TEST(Config, MissingOrMalformedFileIsAProblem) {
    miconsul::testing::ScratchDirectory dir;
    EXPECT_EQ(load_config(dir.path() / "absent.json", fake_environment({})).problems.size(), 1u);
    const auto file = write_file(dir.path(), "{ not json");
    EXPECT_EQ(load_config(file, fake_environment({})).problems.size(), 1u);
}

TEST(Config, AdminTokenIsKeptOnlyAsItsHash) {
    auto loaded = load_config(std::nullopt,
                              fake_environment({{"MICONSUL_ADMIN_TOKEN", "a-long-enough-token"}}));
    ASSERT_TRUE(loaded.problems.empty());
    EXPECT_EQ(loaded.config.admin_token_sha256, miconsul::auth::sha256_hex("a-long-enough-token"));
    EXPECT_EQ(load_config(std::nullopt, fake_environment({{"MICONSUL_ADMIN_TOKEN", "short"}}))
                  .problems.size(),
              1u);
}
}  // namespace
