// The HTTP listener: Pistache's Http::Endpoint, with every Pistache type kept in server.cpp.
// It turns a Pistache request into an HttpRequest, hands it to one handler, and writes back the
// HttpResponse. It counts requests in flight so shutdown can let them finish.
#pragma once

#include "http/message.h"
#include "logging/log.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace miconsul::http {

struct ServerOptions {
    std::string host = "0.0.0.0";
    uint16_t port = 8080;  // 0 picks a free port; see Server::port()
    int threads = 2;
    size_t max_request_bytes = 1024 * 1024;  // body limit; past it 413
    std::chrono::milliseconds header_timeout{5000};
    std::chrono::milliseconds body_timeout{15000};
    /// Written on every response ahead of the handler's own headers: Pistache keeps the first
    /// header of a name, so a handler (a plugin) cannot replace them. See security_headers().
    Fields fixed_headers;
};

/// Answers one request. Must not throw (the server answers 500 if it does).
using RequestHandler = std::function<HttpResponse(HttpRequest&)>;

class Server {
public:
    Server(ServerOptions options, RequestHandler handler, logging::Log log);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds and starts serving on background threads. Throws when it cannot bind.
    void start();

    /// The bound port (useful when started with port 0).
    uint16_t port() const;

    /// Waits up to `grace` for requests in flight to finish, then stops. Call once.
    void stop(std::chrono::milliseconds grace);

    /// Requests being handled right now.
    int in_flight() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace miconsul::http
