// Outbound HTTP for the host (libcurl): one request with a deadline. Webhooks POST with it;
// the command line's `apply` and `export` talk to a running host's API with it.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace miconsul::outbound {

struct PostResult {
    long status = 0;    // HTTP status; 0 when no answer came
    std::string error;  // transport error when status is 0
    std::chrono::milliseconds latency{0};
};

struct ExchangeResult : PostResult {
    std::string body;  // the answer's body
};

/// Sends `method` to `url` with `body` (none when empty) and `headers` ("Name: value"),
/// giving up after `timeout`, and keeps the answer's body. Never throws. Redirects are not
/// followed.
ExchangeResult exchange(const std::string& method, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers, std::chrono::milliseconds timeout);

/// POSTs `body` to `url` with `headers` ("Name: value"), giving up after `timeout`; the
/// answer's body is read and dropped. Never throws. Redirects are not followed (a webhook URL
/// must answer itself).
PostResult post(const std::string& url, const std::string& body,
                const std::vector<std::string>& headers, std::chrono::milliseconds timeout);

}  // namespace miconsul::outbound
