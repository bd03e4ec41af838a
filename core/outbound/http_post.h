// Outbound HTTP for the host (libcurl): one POST with a deadline. Used for webhooks.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace miconsul::outbound {

struct PostResult {
    long status = 0;        // HTTP status; 0 when no answer came
    std::string error;      // transport error when status is 0
    std::chrono::milliseconds latency{0};
};

/// POSTs `body` to `url` with `headers` ("Name: value"), giving up after `timeout`.
/// Never throws. Redirects are not followed (a webhook URL must answer itself).
PostResult post(const std::string& url, const std::string& body,
                const std::vector<std::string>& headers, std::chrono::milliseconds timeout);

}  // namespace miconsul::outbound
