#include "support/host_process.h"

#include "support/test_environment.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace miconsul::testing {

std::filesystem::path host_binary() { return MICONSUL_TEST_HOST_BINARY; }
std::filesystem::path shipped_plugin_dir() { return MICONSUL_TEST_SHIPPED_PLUGIN_DIR; }
std::filesystem::path test_plugin_dir() { return MICONSUL_TEST_BROKEN_PLUGIN_DIR; }

namespace {
bool wait_for_exit(pid_t pid, std::chrono::milliseconds limit, int& status) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}
}  // namespace

HostProcess::HostProcess(HostOptions options)
    : options_(std::move(options)), port_(free_port()),
      log_file_(options_.data_dir / "host.log"),
      client_("http://127.0.0.1:" + std::to_string(port_)) {
    std::map<std::string, std::string> environment = {
        {"MICONSUL_LISTEN", "127.0.0.1:" + std::to_string(port_)},
        {"MICONSUL_DATA_DIR", options_.data_dir.string()},
        {"MICONSUL_PLUGIN_DIR", options_.plugin_dir.string()},
        {"MICONSUL_ADMIN_TOKEN", kAdminToken},
        {"MICONSUL_LOG_LEVEL", "info"},
        {"MICONSUL_THREADS", "2"},
    };
    if (!options_.database_url.empty()) environment["MICONSUL_DATABASE_URL"] = options_.database_url;
    for (const auto& [name, value] : options_.environment) environment[name] = value;

    std::vector<std::string> entries;
    for (const auto& [name, value] : environment) entries.push_back(name + "=" + value);
    if (const char* path = std::getenv("PATH")) entries.push_back(std::string("PATH=") + path);
    std::vector<char*> envp;
    for (auto& entry : entries) envp.push_back(entry.data());
    envp.push_back(nullptr);
    const std::string binary = host_binary().string();

    pid_ = fork();
    if (pid_ == 0) {
        FILE* log = std::fopen(log_file_.c_str(), "w");
        if (log != nullptr) {
            dup2(fileno(log), STDERR_FILENO);
            dup2(fileno(log), STDOUT_FILENO);
        }
        char* argv[] = {const_cast<char*>(binary.c_str()), nullptr};
        execve(binary.c_str(), argv, envp.data());
        _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("host exited during start:\n" + log());
        }
        try {
            if (client_.get("/readyz").status == 200) return;
        } catch (const std::exception&) {
            // not listening yet
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::string output = log();
    terminate();
    throw std::runtime_error("host not ready after 15 s:\n" + output);
}

HostProcess::~HostProcess() {
    if (pid_ > 0) terminate();
}

int HostProcess::terminate() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    if (!wait_for_exit(pid_, std::chrono::seconds(10), status)) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return status;
}

void HostProcess::kill_hard() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

bool HostProcess::running() const {
    return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0;
}

bool HostProcess::log_contains(const std::string& text, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        if (log().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

std::string HostProcess::log() const {
    std::ifstream stream(log_file_);
    std::stringstream text;
    text << stream.rdbuf();
    return text.str();
}

}  // namespace miconsul::testing
