#include "http/message.h"

namespace miconsul::http {

namespace {
std::string_view find_field(const Fields& fields, std::string_view name) {
    for (const auto& [key, value] : fields) {
        if (key == name) return value;
    }
    return {};
}
}  // namespace

std::string_view HttpRequest::header(std::string_view lower_case_name) const {
    return find_field(headers, lower_case_name);
}

std::string_view HttpRequest::query_value(std::string_view name) const {
    return find_field(query, name);
}

HttpResponse HttpResponse::json(const nlohmann::json& value, int status) {
    // replace: a stored string that is not UTF-8 must not turn a success into an exception.
    return HttpResponse{status,
                        {{"Content-Type", "application/json"}},
                        value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

HttpResponse HttpResponse::problem(int status, std::string_view detail,
                                   const nlohmann::json& extra) {
    nlohmann::json body = {{"type", "about:blank"},
                           {"title", reason_phrase(status)},
                           {"status", status},
                           {"detail", detail}};
    body.update(extra);
    return HttpResponse{status,
                        {{"Content-Type", "application/problem+json"}},
                        body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

HttpResponse HttpResponse::no_content() { return HttpResponse{204, {}, {}}; }

HttpResponse HttpResponse::unauthorized(std::string_view detail) {
    HttpResponse response = problem(401, detail);
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"miconsul\"");
    return response;
}

bool json_nesting_exceeds(std::string_view text, size_t max_depth) {
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;  // the escaped character, a quote included
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

}  // namespace miconsul::http
