#include "logging/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>

namespace miconsul::logging {

namespace {
constexpr auto kDump = nlohmann::json::error_handler_t::replace;

std::string plain_value(const nlohmann::json& value) {
    if (value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        // Quote only when needed, so the common case stays readable and greppable.
        if (!text.empty() && text.find_first_of(" \"=\t\n") == std::string::npos) return text;
    }
    return value.dump(-1, ' ', false, kDump);
}
}  // namespace

Log::Log(std::shared_ptr<spdlog::logger> logger, LogFormat format,
         std::shared_ptr<void> keep_alive)
    : logger_(std::move(logger)), format_(format), keep_alive_(std::move(keep_alive)) {}

Log Log::to_stderr(std::string_view level, LogFormat format) {
    // Asynchronous: the stderr sink writes and flushes under a lock on every line, which would
    // serialise request threads behind a system call. One background thread writes instead; a
    // full queue blocks (a log line is never dropped). Queued lines are written at exit.
    auto pool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
    auto logger = std::make_shared<spdlog::async_logger>(
        "miconsul", std::make_shared<spdlog::sinks::stderr_sink_mt>(), pool,
        spdlog::async_overflow_policy::block);
    logger->set_level(spdlog::level::from_str(std::string(level)));
    // JSON lines carry their own time and level fields; plain lines get spdlog's.
    logger->set_pattern(format == LogFormat::json ? "%v" : "%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    return Log(std::move(logger), format, std::move(pool));
}

Log Log::null() {
    return Log(std::make_shared<spdlog::logger>("null",
                                                std::make_shared<spdlog::sinks::null_sink_mt>()),
               LogFormat::plain);
}

void Log::write(spdlog::level::level_enum level, std::string_view message,
                LogFields fields) const {
    if (!logger_->should_log(level)) return;
    if (format_ == LogFormat::json) {
        nlohmann::json line = {
            {"time", std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()},
            {"level", spdlog::level::to_string_view(level).data()},
            {"msg", message}};
        for (const auto& [key, value] : fields) line[std::string(key)] = value;
        logger_->log(level, "{}", line.dump(-1, ' ', false, kDump));
        return;
    }
    std::string text(message);
    for (const auto& [key, value] : fields) {
        text.append(" ").append(key).append("=").append(plain_value(value));
    }
    logger_->log(level, "{}", text);
}

void Log::debug(std::string_view message, LogFields fields) const {
    write(spdlog::level::debug, message, fields);
}
void Log::info(std::string_view message, LogFields fields) const {
    write(spdlog::level::info, message, fields);
}
void Log::warn(std::string_view message, LogFields fields) const {
    write(spdlog::level::warn, message, fields);
}
void Log::error(std::string_view message, LogFields fields) const {
    write(spdlog::level::err, message, fields);
}

bool is_valid_level(std::string_view level) {
    return level == "debug" || level == "info" || level == "warn" || level == "error";
}

}  // namespace miconsul::logging
