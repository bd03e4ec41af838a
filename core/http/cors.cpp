#include "http/cors.h"

#include <algorithm>

namespace miconsul::http {

namespace {
// What the API's callers send: the bearer token, JSON, idempotent retries, a trace id, and
// the panel's CSRF token.
constexpr const char* kAllowedHeaders =
    "Authorization, Content-Type, Idempotency-Key, X-Request-Id, X-CSRF-Token";
// What a page may read beyond the CORS-safelisted response headers.
constexpr const char* kExposedHeaders =
    "X-Request-Id, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset";
// Ten minutes: a browser asks again soon after the configuration changes.
constexpr const char* kMaxAgeSeconds = "600";

bool is_host_character(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
}  // namespace

std::optional<std::string> origin_problem(std::string_view origin) {
    static const std::string kExpected =
        "must be an origin such as https://panel.example.com: http or https, a lower-case "
        "host, an optional port, no path and no wildcard";
    std::string_view rest;
    if (origin.rfind("https://", 0) == 0) {
        rest = origin.substr(8);
    } else if (origin.rfind("http://", 0) == 0) {
        rest = origin.substr(7);
    } else {
        return kExpected;
    }
    const size_t colon = rest.find(':');
    const std::string_view host = rest.substr(0, colon);
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_character)) {
        return kExpected;
    }
    if (colon != std::string_view::npos) {
        const std::string_view port = rest.substr(colon + 1);
        if (port.empty() || port.size() > 5 || port.front() == '0' ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return kExpected;
        }
    }
    return std::nullopt;
}

Cors::Cors(std::vector<std::string> origins) : origins_(std::move(origins)) {}

bool Cors::is_preflight(const HttpRequest& request) {
    return request.method == "OPTIONS" && !request.header("origin").empty() &&
           !request.header("access-control-request-method").empty();
}

bool Cors::allows(std::string_view origin) const {
    return std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

HttpResponse Cors::preflight(const std::vector<std::string>& methods) const {
    std::string allowed_methods;
    for (const auto& method : methods) {
        if (!allowed_methods.empty()) allowed_methods += ", ";
        allowed_methods += method;
    }
    HttpResponse response = HttpResponse::no_content();
    response.headers = {{"Access-Control-Allow-Methods", std::move(allowed_methods)},
                        {"Access-Control-Allow-Headers", kAllowedHeaders},
                        {"Access-Control-Max-Age", kMaxAgeSeconds}};
    return response;
}

void Cors::add_headers(const HttpRequest& request, HttpResponse& response) const {
    if (!enabled()) return;
    // Always, allowed or not: a cache must not hand one origin's answer to another.
    response.headers.emplace_back("Vary", "Origin");
    const std::string_view origin = request.header("origin");
    if (origin.empty() || !allows(origin)) return;
    // The exact origin, never "*", and no Access-Control-Allow-Credentials: callers
    // authenticate with a bearer token the page sends itself, not with cookies.
    response.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    response.headers.emplace_back("Access-Control-Expose-Headers", kExposedHeaders);
}

}  // namespace miconsul::http
