// The host assembled: storage, tenants, plugins, routes and the listener, in start order.
#pragma once

#include "config/config.h"
#include "logging/log.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace miconsul::app {

class Host {
public:
    Host(config::Config config, logging::Log log);
    ~Host();
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;

    /// Opens and migrates the platform database, loads tenants and plugins, and starts
    /// listening. Throws std::runtime_error with the reason when any of that is impossible
    /// (a refused plugin is not such a reason).
    void start();

    /// The port it listens on (after start).
    uint16_t port() const;

    /// Stops taking work: /readyz turns 503, requests in flight get up to the configured grace
    /// to finish, then the listener closes.
    void stop();

private:
    struct Parts;
    /// The key that encrypts webhook secrets: configured, or a key file when embedded.
    std::optional<std::string> secret_key() const;
    config::Config config_;
    logging::Log log_;
    std::atomic<bool> draining_{false};
    std::unique_ptr<Parts> parts_;
};

}  // namespace miconsul::app
