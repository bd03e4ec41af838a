#include "http/security_headers.h"

#include <string>

namespace miconsul::http {

Fields security_headers(const SecurityHeaderOptions& options) {
    // The host answers JSON to programs, never pages: nothing it sends may be sniffed into
    // HTML, framed, given a referrer, load anything, or be cached (answers carry tokens,
    // secrets shown once, and patients' data).
    Fields headers = {
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
        {"Cache-Control", "no-store"},
    };
    if (options.hsts_max_age > 0) {
        headers.emplace_back("Strict-Transport-Security",
                             "max-age=" + std::to_string(options.hsts_max_age));
    }
    return headers;
}

}  // namespace miconsul::http
