// miconsul-host: reads its configuration, starts the host, and serves until SIGTERM or SIGINT.
#include "app/host.h"
#include "auth/tokens.h"
#include "cli/tenant_files.h"
#include "clock/clock.h"
#include "config/config.h"
#include "logging/log.h"
#include "storage/database.h"
#include "storage/migrations.h"

#include <miconsul/plugin_abi.h>

#include <curl/curl.h>

#include <malloc.h>

#include <charconv>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string_view>

namespace {

constexpr std::string_view kUsage = R"(miconsul-host — runs MiConsul's plugins for every clinic.

Usage:
  miconsul-host [--config FILE]          start the host
  miconsul-host --check-config [--config FILE]
                                         report every configuration problem; exit 1 if any
  miconsul-host admin create [--label TEXT] [--expires-in-days N] [--config FILE]
                                         issue a platform admin API token and print it once
  miconsul-host apply -f FILE [--dry-run] [--url URL]
                                         make a tenant's settings and enabled plugins match
                                         FILE (config/tenants/<tenant>.json); print the diff
  miconsul-host export TENANT [-o FILE] [--url URL]
                                         write a tenant's configuration as such a file
  miconsul-host --version                print the host and SDK ABI versions
  miconsul-host --help                   this text

FILE is JSON (comments allowed); without --config, MICONSUL_CONFIG names it, else built-in
defaults apply. Each key can be overridden by MICONSUL_<KEY>, e.g. MICONSUL_LISTEN=host:port,
MICONSUL_DATA_DIR, MICONSUL_DATABASE_URL, MICONSUL_REDIS_URL, MICONSUL_PLUGIN_DIR,
MICONSUL_LOG_LEVEL, and MICONSUL_ADMIN_TOKEN (the admin bearer token; hashed at once).
apply and export call the running host's API at URL (default: the configured listen
address) with the platform admin token in MICONSUL_TOKEN (or MICONSUL_ADMIN_TOKEN).
See docs/operations.md.
)";

struct Arguments {
    std::optional<std::string> config_file;
    bool check_config = false;
    bool help = false;
    bool version = false;
    bool admin_create = false;
    std::string label = "platform admin";
    std::optional<int> expires_in_days;
    bool apply = false;
    std::optional<std::string> file;  // apply -f
    bool dry_run = false;
    std::optional<std::string> export_tenant;
    std::optional<std::string> output;  // export -o
    std::optional<std::string> url;
    std::optional<std::string> error;
};

Arguments parse_arguments(int argc, char** argv) {
    Arguments arguments;
    for (int i = 1; i < argc; ++i) {
        const std::string_view argument = argv[i];
        if (argument == "--help" || argument == "-h") {
            arguments.help = true;
        } else if (argument == "--version") {
            arguments.version = true;
        } else if (argument == "--check-config") {
            arguments.check_config = true;
        } else if (argument == "--config" && i + 1 < argc) {
            arguments.config_file = argv[++i];
        } else if (argument.rfind("--config=", 0) == 0) {
            arguments.config_file = std::string(argument.substr(9));
        } else if (argument == "admin" && i + 1 < argc &&
                   std::string_view(argv[i + 1]) == "create") {
            arguments.admin_create = true;
            ++i;
        } else if (argument == "apply") {
            arguments.apply = true;
        } else if ((argument == "-f" || argument == "--file") && i + 1 < argc) {
            arguments.file = argv[++i];
        } else if (argument == "--dry-run") {
            arguments.dry_run = true;
        } else if (argument == "export" && i + 1 < argc) {
            arguments.export_tenant = argv[++i];
        } else if ((argument == "-o" || argument == "--output") && i + 1 < argc) {
            arguments.output = argv[++i];
        } else if (argument == "--url" && i + 1 < argc) {
            arguments.url = argv[++i];
        } else if (argument == "--label" && i + 1 < argc) {
            arguments.label = argv[++i];
        } else if (argument == "--expires-in-days" && i + 1 < argc) {
            const std::string_view days = argv[++i];
            int value = 0;
            const auto [end, error] =
                std::from_chars(days.data(), days.data() + days.size(), value);
            if (error != std::errc() || end != days.data() + days.size() || value < 1 ||
                value > 3650) {
                arguments.error = "--expires-in-days must be 1 to 3650";
            }
            arguments.expires_in_days = value;
        } else {
            arguments.error = "unknown or incomplete argument: " + std::string(argument);
        }
    }
    if (arguments.apply && !arguments.file) arguments.error = "apply needs -f FILE";
    return arguments;
}

/// The first platform admin, without a default password: a token printed once, to whoever
/// can run the binary with the host's configuration (and so reach its database).
int create_platform_admin(const miconsul::config::Config& config, const Arguments& arguments,
                          const miconsul::logging::Log& log) {
    try {
        auto database = miconsul::storage::Database::open(config.database_url, config.data_dir, 1);
        database->with_platform([&](soci::session& session) {
            miconsul::storage::apply_migrations(session, database->backend(), "core",
                                                miconsul::storage::core_platform_migrations());
        });
        miconsul::clock::SystemClock clock;
        miconsul::auth::TokenStore tokens(*database, clock, log);
        const auto issued = tokens.issue(
            miconsul::auth::TokenKind::platform_admin, "", arguments.label,
            std::chrono::hours(24 * arguments.expires_in_days.value_or(config.token_expiry_days)));
        std::cout << issued.token << "\n";
        std::cerr << "platform admin token " << issued.record.id << " (" << issued.record.label
                  << "), valid until " << issued.record.expires_at
                  << ". It is shown only now: keep it in your secret store.\n";
        return 0;
    } catch (const std::exception& failure) {
        std::cerr << "cannot create the token: " << failure.what() << "\n";
        return 1;
    }
}

/// apply and export: the running host's API, with a platform admin token from the environment.
int run_tenant_file_command(const miconsul::config::Config& config, const Arguments& arguments,
                            const miconsul::config::EnvironmentLookup& environment) {
    miconsul::cli::ApiTarget target;
    if (arguments.url) {
        target.base_url = *arguments.url;
    } else {
        // A host listening on every address is reached on loopback.
        const bool any = config.listen_host == "0.0.0.0" || config.listen_host == "::";
        target.base_url = "http://" + (any ? std::string("127.0.0.1") : config.listen_host) + ":" +
                          std::to_string(config.listen_port);
    }
    if (auto token = environment("MICONSUL_TOKEN")) {
        target.token = *token;
    } else if (auto admin = environment("MICONSUL_ADMIN_TOKEN")) {
        target.token = *admin;
    } else {
        std::cerr << "set MICONSUL_TOKEN to a platform admin token\n";
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (arguments.apply) {
        return miconsul::cli::apply_tenant_file(target, *arguments.file, arguments.dry_run,
                                                std::cout, std::cerr);
    }
    if (!arguments.output) {
        return miconsul::cli::export_tenant(target, *arguments.export_tenant, std::cout, std::cerr);
    }
    std::ofstream output(*arguments.output);
    const int code =
        miconsul::cli::export_tenant(target, *arguments.export_tenant, output, std::cerr);
    output.close();
    if (code == 0 && !output) {
        std::cerr << "cannot write " << *arguments.output << "\n";
        return 1;
    }
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    // glibc hands freed memory of a thread's arena back to the kernel as soon as 128 KiB lie
    // free at its top; a server whose threads build and free batches of that size then pays
    // a madvise and page faults per batch (a fifth of the CPU of the bus benchmark). Keep up
    // to 8 MiB per arena instead (docs/performance.md).
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    const Arguments arguments = parse_arguments(argc, argv);
    if (arguments.error) {
        std::cerr << *arguments.error << "\n\n" << kUsage;
        return 2;
    }
    if (arguments.help) {
        std::cout << kUsage;
        return 0;
    }
    if (arguments.version) {
        std::cout << "miconsul-host 0.1.0 (plugin ABI " << MC_ABI_MAJOR << "." << MC_ABI_MINOR
                  << ")\n";
        return 0;
    }

    const auto environment = miconsul::config::process_environment();
    std::optional<std::filesystem::path> config_file;
    if (arguments.config_file) {
        config_file = *arguments.config_file;
    } else if (auto from_environment = environment("MICONSUL_CONFIG")) {
        config_file = *from_environment;
    }
    const auto loaded = miconsul::config::load_config(config_file, environment);
    if (arguments.check_config) {
        for (const auto& problem : loaded.problems) std::cerr << "config: " << problem << "\n";
        if (loaded.problems.empty()) std::cout << "configuration OK\n";
        return loaded.problems.empty() ? 0 : 1;
    }
    if (!loaded.problems.empty()) {
        for (const auto& problem : loaded.problems) std::cerr << "config: " << problem << "\n";
        return 1;
    }
    const auto& config = loaded.config;
    auto log = miconsul::logging::Log::to_stderr(
        config.log_level, config.log_format == "json" ? miconsul::logging::LogFormat::json
                                                      : miconsul::logging::LogFormat::plain);
    if (arguments.admin_create) {
        return create_platform_admin(config, arguments, log);
    }
    if (arguments.apply || arguments.export_tenant) {
        return run_tenant_file_command(config, arguments, environment);
    }

    // libcurl's global state must be set up before any thread uses it.
    curl_global_init(CURL_GLOBAL_DEFAULT);
    // Block the stop signals before any thread starts, so every thread inherits the mask and
    // only sigwait below receives them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    // A client that disconnects mid-response must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);

    miconsul::app::Host host(config, log);
    try {
        host.start();
    } catch (const std::exception& failure) {
        log.error("cannot start", {{"reason", failure.what()}});
        return 1;
    }
    int received = 0;
    sigwait(&stop_signals, &received);
    log.info("signal received", {{"signal", strsignal(received)}});
    host.stop();
    return 0;
}
