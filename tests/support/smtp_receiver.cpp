#include "support/smtp_receiver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace miconsul::testing {

namespace {

// Debian's interpreter, which has python3-aiosmtpd; the python3 on PATH may be another one.
constexpr const char* kPython = "/usr/bin/python3";

std::filesystem::path script_path() {
    // Set by CMake: __FILE__ would be relative to the build directory under ccache's base_dir.
    return MICONSUL_TEST_SMTP_RECEIVER_SCRIPT;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream input(path, std::ios::binary);
    std::ostringstream text;
    text << input.rdbuf();
    return text.str();
}

/// Starts `arguments` (argv[0] a path) with stdin, stdout and stderr as given (-1: inherit).
pid_t spawn(const std::vector<std::string>& arguments, int input, int output,
            const std::filesystem::path& error_file) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (input >= 0) posix_spawn_file_actions_adddup2(&actions, input, STDIN_FILENO);
    if (output >= 0) posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, error_file.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int failed = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (failed != 0) throw std::runtime_error("cannot start " + arguments[0]);
    return pid;
}

void generate_certificate(const std::filesystem::path& directory) {
    const auto log = directory / "openssl.log";
    const pid_t pid =
        spawn({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
               (directory / "key.pem").string(), "-out", (directory / "cert.pem").string()},
              -1, -1, log);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("openssl cannot make a test certificate:\n" + read_file(log));
    }
}

/// Sequence numbers of the recorded messages, ascending. A message counts once its .json
/// exists: the script renames it into place after writing the .eml.
std::vector<long> recorded_sequences(const std::filesystem::path& directory) {
    std::vector<long> sequences;
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(directory, ignored)) {
        if (entry.path().extension() != ".json") continue;
        sequences.push_back(std::stol(entry.path().stem().string()));
    }
    std::sort(sequences.begin(), sequences.end());
    return sequences;
}

bool poll_until(const std::function<bool()>& done, int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

}  // namespace

SmtpReceiver::SmtpReceiver(SmtpReceiverOptions options)
    : mail_dir_(scratch_.path() / "mail"),
      hold_file_(scratch_.path() / "hold"),
      log_file_(scratch_.path() / "receiver.log") {
    std::filesystem::create_directories(mail_dir_);
    std::vector<std::string> arguments = {kPython,
                                          "-I",
                                          script_path().string(),
                                          "--port",
                                          "0",
                                          "--dir",
                                          mail_dir_.string(),
                                          "--hold-file",
                                          hold_file_.string(),
                                          "--host",
                                          options.listen_address};
    if (options.tls) {
        generate_certificate(scratch_.path());
        certificate_ = scratch_.path() / "cert.pem";
        arguments.insert(arguments.end(), {"--tls-cert", certificate_.string(), "--tls-key",
                                           (scratch_.path() / "key.pem").string()});
    }
    if (!options.username.empty()) {
        arguments.insert(arguments.end(), {"--auth", options.username + ":" + options.password});
    }
    if (!options.reject_recipient.empty()) {
        arguments.insert(arguments.end(), {"--reject-rcpt", options.reject_recipient});
    }
    if (!options.defer_recipient.empty()) {
        arguments.insert(arguments.end(), {"--defer-rcpt", options.defer_recipient});
    }

    int input[2], output[2];
    if (pipe2(input, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    if (pipe2(output, O_CLOEXEC) != 0) {
        ::close(input[0]);
        ::close(input[1]);
        throw std::runtime_error("pipe");
    }
    try {
        pid_ = spawn(arguments, input[0], output[1], log_file_);
    } catch (...) {
        for (const int descriptor : {input[0], input[1], output[0], output[1]}) ::close(descriptor);
        throw;
    }
    ::close(input[0]);
    ::close(output[1]);
    stdin_ = input[1];
    stdout_ = output[0];

    std::string first_line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (first_line.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd readable{stdout_, POLLIN, 0};
        char buffer[256];
        ssize_t got = 0;
        if (left.count() <= 0 || poll(&readable, 1, static_cast<int>(left.count())) <= 0 ||
            (got = ::read(stdout_, buffer, sizeof buffer)) <= 0) {
            stop();
            throw std::runtime_error("the SMTP receiver did not start:\n" + log());
        }
        first_line.append(buffer, static_cast<size_t>(got));
    }
    if (first_line.rfind("PORT ", 0) != 0) {
        stop();
        throw std::runtime_error("the SMTP receiver said " + first_line + log());
    }
    port_ = std::stoi(first_line.substr(5));
}

SmtpReceiver::~SmtpReceiver() {
    stop();
}

std::string SmtpReceiver::url() const {
    return "smtp://127.0.0.1:" + std::to_string(port_);
}

std::vector<nlohmann::json> SmtpReceiver::messages() const {
    std::vector<nlohmann::json> summaries;
    for (const long sequence : recorded_sequences(mail_dir_)) {
        summaries.push_back(
            nlohmann::json::parse(read_file(mail_dir_ / (std::to_string(sequence) + ".json"))));
    }
    return summaries;
}

bool SmtpReceiver::wait_for(size_t count, int seconds) const {
    return poll_until([&] { return recorded_sequences(mail_dir_).size() >= count; }, seconds);
}

size_t SmtpReceiver::held() const {
    std::error_code ignored;
    const auto entries = std::filesystem::directory_iterator(mail_dir_ / "held", ignored);
    return static_cast<size_t>(std::distance(begin(entries), end(entries)));
}

bool SmtpReceiver::wait_for_held(size_t count, int seconds) const {
    return poll_until([&] { return held() >= count; }, seconds);
}

std::string SmtpReceiver::eml(size_t index) const {
    const auto sequences = recorded_sequences(mail_dir_);
    if (index >= sequences.size()) throw std::out_of_range("no such message");
    return read_file(mail_dir_ / (std::to_string(sequences[index]) + ".eml"));
}

void SmtpReceiver::hold() {
    std::ofstream(hold_file_).put('\n');
}

void SmtpReceiver::release() {
    std::error_code ignored;
    std::filesystem::remove(hold_file_, ignored);
}

void SmtpReceiver::stop() {
    if (stdin_ >= 0) ::close(stdin_);
    if (stdout_ >= 0) ::close(stdout_);
    stdin_ = stdout_ = -1;
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
}

std::string SmtpReceiver::log() const {
    return read_file(log_file_);
}

}  // namespace miconsul::testing
