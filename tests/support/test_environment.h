// What the tests need from their surroundings: scratch directories, free ports, and the
// PostgreSQL and Redis servers scripts/test.sh starts (their URLs come in the environment).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace miconsul::testing {

/// A fresh directory under the system temp dir, removed when the object goes.
class ScratchDirectory {
public:
    ScratchDirectory();
    ~ScratchDirectory();
    ScratchDirectory(const ScratchDirectory&) = delete;
    ScratchDirectory& operator=(const ScratchDirectory&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

/// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

/// MICONSUL_TEST_POSTGRES_URL: a superuser URL of a throwaway server, or nullopt.
std::optional<std::string> postgres_admin_url();

/// MICONSUL_TEST_REDIS_URL, or nullopt.
std::optional<std::string> redis_url();

/// Creates a new empty database on the test server and returns its URL.
std::string create_postgres_database(const std::string& admin_url);

/// Whether the suite must not skip tests for a missing server (set by scripts/test.sh and CI).
bool servers_required();

}  // namespace miconsul::testing

/// Skips the test when PostgreSQL is not available, unless servers are required (then fails).
#define MICONSUL_REQUIRE_POSTGRES()                                                        \
    do {                                                                                   \
        if (!::miconsul::testing::postgres_admin_url()) {                                  \
            if (::miconsul::testing::servers_required())                                   \
                FAIL() << "MICONSUL_TEST_POSTGRES_URL is not set";                         \
            GTEST_SKIP() << "no PostgreSQL: run through scripts/test.sh";                  \
        }                                                                                  \
    } while (0)
