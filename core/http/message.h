// The host's own request and response types: what the router, the admin API and the plugin
// gateway see. Pistache types stop at core/http/server.cpp.
#pragma once

#include <nlohmann/json.hpp>

#include <any>
#include <cstddef>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace miconsul::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method;
    std::string path;  // percent-decoded path, without the query string
    Fields query;      // decoded, in request order
    Fields headers;    // names lower-cased
    std::string body;
    std::string request_id;
    std::string client_address;
    /// Who the caller is, once the access module has looked it up (an auth::Caller): the rate
    /// limiter, the route's guard and the audit log ask once per request, not three times.
    /// One request is handled by one thread.
    mutable std::any caller;

    /// First header of that lower-case name, or empty.
    std::string_view header(std::string_view lower_case_name) const;
    /// First query parameter of that name, or empty.
    std::string_view query_value(std::string_view name) const;
};

struct HttpResponse {
    int status = 200;
    Fields headers;
    std::string body;

    static HttpResponse json(const nlohmann::json& value, int status = 200);
    /// An RFC 9457 problem: {"type","title","status","detail"} plus `extra` members.
    static HttpResponse problem(int status, std::string_view detail,
                                const nlohmann::json& extra = nlohmann::json::object());
    static HttpResponse no_content();
    /// 401 with `WWW-Authenticate: Bearer`, as RFC 9110 requires.
    static HttpResponse unauthorized(std::string_view detail);
};

/// The standard reason phrase of a status ("Not Found"), or "Error" for unknown ones.
std::string_view reason_phrase(int status);

/// How deeply a request's JSON may nest: far beyond any real body, and far below where
/// nlohmann's recursive copy, comparison and dump of a value would exhaust a thread's stack
/// (a 600 KB body of brackets nests 300,000 deep).
inline constexpr size_t kMaxJsonDepth = 64;

/// Whether JSON `text` opens more than `max_depth` arrays or objects inside one another
/// (brackets inside strings do not count). Looks only at the brackets: call it before parsing.
bool json_nesting_exceeds(std::string_view text, size_t max_depth = kMaxJsonDepth);

}  // namespace miconsul::http
