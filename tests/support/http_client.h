// A small blocking HTTP client over libcurl for end-to-end tests against the real binary.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace miconsul::testing {

struct HttpResult {
    long status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;

    nlohmann::json json() const;  // throws when the body is not JSON
    std::string header(const std::string& lower_case_name) const;
};

class HttpClient {
public:
    explicit HttpClient(std::string base_url);

    /// Sends one request; headers are "Name: value" lines. Throws on a transport failure.
    HttpResult send(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    const std::vector<std::string>& headers = {}) const;

    HttpResult get(const std::string& path, const std::vector<std::string>& headers = {}) const {
        return send("GET", path, "", headers);
    }

private:
    std::string base_url_;
};

}  // namespace miconsul::testing
