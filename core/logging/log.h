// Structured log lines over spdlog: a message plus named fields, as plain text or JSON lines.
#pragma once

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <initializer_list>
#include <memory>
#include <string_view>
#include <utility>

namespace miconsul::logging {

using LogFields = std::initializer_list<std::pair<std::string_view, nlohmann::json>>;

enum class LogFormat { plain, json };

/// Cheap to copy; thread-safe (spdlog loggers are).
class Log {
public:
    /// A logger to stderr at `level` ("debug", "info", "warn", "error").
    static Log to_stderr(std::string_view level, LogFormat format);
    /// A logger that discards everything (tests).
    static Log null();

    void debug(std::string_view message, LogFields fields = {}) const;
    void info(std::string_view message, LogFields fields = {}) const;
    void warn(std::string_view message, LogFields fields = {}) const;
    void error(std::string_view message, LogFields fields = {}) const;
    void write(spdlog::level::level_enum level, std::string_view message, LogFields fields) const;
    /// Whether a line at `level` would be written: lets hot paths skip building the fields.
    bool enabled(spdlog::level::level_enum level) const { return logger_->should_log(level); }

private:
    Log(std::shared_ptr<spdlog::logger> logger, LogFormat format,
        std::shared_ptr<void> keep_alive = nullptr);
    std::shared_ptr<spdlog::logger> logger_;
    LogFormat format_;
    std::shared_ptr<void> keep_alive_;  // what the logger needs to outlive it (its thread pool)
};

/// True for the level names the config accepts.
bool is_valid_level(std::string_view level);

}  // namespace miconsul::logging
