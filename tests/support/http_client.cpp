#include "support/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace miconsul::testing {

nlohmann::json HttpResult::json() const { return nlohmann::json::parse(body); }

std::string HttpResult::header(const std::string& lower_case_name) const {
    auto found = headers.find(lower_case_name);
    return found == headers.end() ? std::string() : found->second;
}

HttpClient::HttpClient(std::string base_url) : base_url_(std::move(base_url)) {}

namespace {
size_t collect_body(char* data, size_t size, size_t count, void* target) {
    static_cast<std::string*>(target)->append(data, size * count);
    return size * count;
}

size_t collect_header(char* data, size_t size, size_t count, void* target) {
    std::string line(data, size * count);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        value.erase(value.find_last_not_of("\r\n ") + 1);
        (*static_cast<std::map<std::string, std::string>*>(target))[name] = value;
    }
    return size * count;
}
}  // namespace

HttpResult HttpClient::send(const std::string& method, const std::string& path,
                            const std::string& body,
                            const std::vector<std::string>& headers) const {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    HttpResult result;
    const std::string url = base_url_ + path;
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "HEAD") curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_slist* header_list = nullptr;
    // Pistache never answers Expect: 100-continue, which curl sends for large bodies.
    header_list = curl_slist_append(header_list, "Expect:");
    for (const auto& header : headers) header_list = curl_slist_append(header_list, header.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, header_list);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &collect_body);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &result.body);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, &collect_header);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &result.headers);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 20000L);
    const CURLcode code = curl_easy_perform(curl.get());
    curl_slist_free_all(header_list);
    if (code != CURLE_OK) {
        throw std::runtime_error(method + " " + url + ": " + curl_easy_strerror(code));
    }
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &result.status);
    return result;
}

}  // namespace miconsul::testing
