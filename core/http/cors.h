// Cross-origin requests from browsers: none unless origins are configured (`cors_origins`).
// n8n, the legacy PHP system and curl do not need CORS; only a panel served from another
// origin does, and only its exact origin is let in. See docs/security.md#cors.
#pragma once

#include "http/message.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace miconsul::http {

class Cors {
public:
    /// `origins`: exact origins ("https://panel.example.com") whose pages may call the host;
    /// empty: no CORS header is ever sent.
    explicit Cors(std::vector<std::string> origins = {});

    bool enabled() const { return !origins_.empty(); }

    /// An OPTIONS request with Origin and Access-Control-Request-Method.
    static bool is_preflight(const HttpRequest& request);

    /// Whether `origin` is one of the configured origins, byte for byte.
    bool allows(std::string_view origin) const;

    /// The 204 answer to an allowed origin's preflight for a path whose methods are `methods`
    /// (add_headers adds the origin).
    HttpResponse preflight(const std::vector<std::string>& methods) const;

    /// Adds `Vary: Origin` and, when the request's Origin is allowed, the origin itself in
    /// Access-Control-Allow-Origin with the response headers a page may read. No-op when
    /// disabled.
    void add_headers(const HttpRequest& request, HttpResponse& response) const;

private:
    std::vector<std::string> origins_;
};

/// Why `origin` cannot be configured as an allowed origin (it must be scheme://host[:port] in
/// lower case, http or https, with no path and no wildcard), or nullopt.
std::optional<std::string> origin_problem(std::string_view origin);

}  // namespace miconsul::http
