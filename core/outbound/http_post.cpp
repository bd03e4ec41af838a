#include "outbound/http_post.h"

#include <curl/curl.h>

#include <memory>

namespace miconsul::outbound {

namespace {
size_t discard(char*, size_t size, size_t count, void*) {
    return size * count;
}

size_t keep(char* data, size_t size, size_t count, void* body) {
    static_cast<std::string*>(body)->append(data, size * count);
    return size * count;
}

ExchangeResult send(const std::string& method, const std::string& url, const std::string& body,
                    const std::vector<std::string>& headers, std::chrono::milliseconds timeout,
                    bool keep_body) {
    ExchangeResult result;
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl) {
        result.error = "cannot create an HTTP client";
        return result;
    }
    curl_slist* header_list = nullptr;
    // Pistache-style servers never answer Expect: 100-continue; send bodies straight away.
    header_list = curl_slist_append(header_list, "Expect:");
    for (const auto& header : headers) header_list = curl_slist_append(header_list, header.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    if (method == "POST" || !body.empty()) {
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(body.size()));
    }
    if (method != "POST" && method != "GET") {
        curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, header_list);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);
    if (keep_body) {
        curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &keep);
        curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &result.body);
    } else {
        curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &discard);
    }
    curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "MiConsul-Host/0.1");
    const auto started = std::chrono::steady_clock::now();
    const CURLcode code = curl_easy_perform(curl.get());
    result.latency = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    curl_slist_free_all(header_list);
    if (code != CURLE_OK) {
        result.error = curl_easy_strerror(code);
        return result;
    }
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &result.status);
    return result;
}
}  // namespace

ExchangeResult exchange(const std::string& method, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers,
                        std::chrono::milliseconds timeout) {
    return send(method, url, body, headers, timeout, true);
}

PostResult post(const std::string& url, const std::string& body,
                const std::vector<std::string>& headers, std::chrono::milliseconds timeout) {
    return send("POST", url, body, headers, timeout, false);
}

}  // namespace miconsul::outbound
