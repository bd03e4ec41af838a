#include "messages/channels.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

namespace miconsul::messages {

namespace {

size_t collect(char* data, size_t size, size_t count, void* target) {
    static_cast<std::string*>(target)->append(data, size * count);
    return size * count;
}

/// YCloud's own error text from an error answer, else the answer's start.
std::string provider_error(long status, const std::string& body) {
    const auto answer = nlohmann::json::parse(body, nullptr, false);
    std::string detail = body.substr(0, 300);
    if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
        const auto& error = answer["error"];
        detail = error.value("code", "") + ": " + error.value("message", "");
    }
    return "YCloud answered " + std::to_string(status) + " (" + detail + ")";
}

}  // namespace

YCloudClient::YCloudClient() : handle_(curl_easy_init()) {}

YCloudClient::~YCloudClient() {
    if (handle_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(handle_));
}

SendResult YCloudClient::send(const YCloudSettings& settings, const WhatsAppMessage& message) {
    SendResult result;
    auto* curl = static_cast<CURL*>(handle_);
    if (curl == nullptr) {
        result.error = "cannot create an HTTP client";
        return result;
    }
    try {
        nlohmann::json body = {{"from", message.from}, {"to", message.to}};
        if (!message.external_id.empty()) body["externalId"] = message.external_id;
        if (!message.template_name.empty()) {
            body["type"] = "template";
            body["template"] = {{"name", message.template_name},
                                {"language", {{"code", message.template_language}}}};
            if (!message.template_components_json.empty()) {
                body["template"]["components"] =
                    nlohmann::json::parse(message.template_components_json);
            }
        } else {
            body["type"] = "text";
            body["text"] = {{"body", message.text}};
        }
        const std::string payload = body.dump();
        const std::string url = settings.base_url + "/v2/whatsapp/messages";
        const std::string key_header = "X-API-Key: " + settings.api_key;
        curl_slist* headers = nullptr;
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Accept: application/json");
        headers = curl_slist_append(headers, "Expect:");
        headers = curl_slist_append(headers, key_header.c_str());
        std::string answer;
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(payload.size()));
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "MiConsul-Host/0.1 (messages)");
        const CURLcode code = curl_easy_perform(curl);
        curl_slist_free_all(headers);
        if (code != CURLE_OK) {
            result.outcome = SendResult::Outcome::retry;
            result.error = std::string("YCloud could not be reached: ") + curl_easy_strerror(code);
            return result;
        }
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            result.outcome = SendResult::Outcome::sent;
            const auto accepted = nlohmann::json::parse(answer, nullptr, false);
            if (accepted.is_object() && accepted.contains("id") && accepted["id"].is_string()) {
                result.provider_id = accepted["id"];
            }
            return result;
        }
        // Too many requests and the provider's own failures pass; any other refusal of the
        // request (bad number, bad key, unknown template) will not.
        result.outcome = status == 429 || status >= 500 ? SendResult::Outcome::retry
                                                        : SendResult::Outcome::rejected;
        result.error = provider_error(status, answer);
        return result;
    } catch (const std::exception& error) {
        result.outcome = SendResult::Outcome::retry;
        result.error = error.what();
        return result;
    }
}

}  // namespace miconsul::messages
