// The headers every answer of the host carries, whoever produced it (a core route, a plugin,
// the dispatcher's 404/405/500 or the server's own 413). See docs/security.md#hardening.
#pragma once

#include "http/message.h"

namespace miconsul::http {

struct SecurityHeaderOptions {
    /// Strict-Transport-Security max-age in seconds; 0: not sent. TLS ends at the proxy in
    /// front of the host, so whether browsers must insist on HTTPS is the deployment's call.
    int hsts_max_age = 0;
};

/// The header list, built once at start: X-Content-Type-Options, X-Frame-Options,
/// Referrer-Policy, Content-Security-Policy, Cache-Control: no-store, and HSTS when configured.
Fields security_headers(const SecurityHeaderOptions& options);

}  // namespace miconsul::http
