// Runs the real miconsul-host binary on a free port for end-to-end tests, and stops it.
#pragma once

#include "support/http_client.h"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>

namespace miconsul::testing {

/// The admin token every test host is started with.
inline constexpr const char* kAdminToken = "test-admin-token-0123456789";
inline const std::string kAdminHeader = std::string("Authorization: Bearer ") + kAdminToken;

struct HostOptions {
    std::filesystem::path data_dir;
    std::filesystem::path plugin_dir;
    std::string database_url;  // empty: SQLite under data_dir
    std::map<std::string, std::string> environment;  // extra MICONSUL_* variables
};

class HostProcess {
public:
    /// Starts the binary and waits until /readyz answers 200 (throws after 15 s, with its log).
    explicit HostProcess(HostOptions options);
    /// Sends SIGTERM and waits for the process (SIGKILL after 10 s).
    ~HostProcess();
    HostProcess(const HostProcess&) = delete;
    HostProcess& operator=(const HostProcess&) = delete;

    const HttpClient& http() const { return client_; }
    int port() const { return port_; }
    std::string log() const;  // everything it wrote to stderr so far
    /// Whether the log contains `text` within `timeout` (the host writes its log asynchronously).
    bool log_contains(const std::string& text,
                      std::chrono::milliseconds timeout = std::chrono::seconds(3)) const;
    /// Sends SIGTERM and returns the exit status (for shutdown tests).
    int terminate();
    /// SIGKILL: the process dies at once, mid-work (crash tests).
    void kill_hard();
    bool running() const;

private:
    HostOptions options_;
    int port_ = 0;
    pid_t pid_ = -1;
    std::filesystem::path log_file_;
    HttpClient client_;
};

/// Where the build put the host binary, the shipped plugins and the test plugins.
std::filesystem::path host_binary();
std::filesystem::path shipped_plugin_dir();
std::filesystem::path test_plugin_dir();

}  // namespace miconsul::testing
