// The request-body half of api_support.h: parsing a JSON body, refusing unknown fields, the page
// size. Kept apart from the guards so the fuzz target (tests/fuzz/fuzz_request.cpp) can compile
// it without the token store and the database they call into.
#include "api/api_support.h"

#include <algorithm>
#include <charconv>

namespace miconsul::api {

using http::HttpResponse;

std::variant<Json, HttpResponse> parse_json_object(const http::HttpRequest& request) {
    // The body decides, not Content-Type: curl's -d and some n8n nodes label JSON as a form.
    if (http::json_nesting_exceeds(request.body)) {
        return HttpResponse::problem(400, "request body nests deeper than " +
                                              std::to_string(http::kMaxJsonDepth) + " levels");
    }
    Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return HttpResponse::problem(400, "request body is not valid JSON");
    if (!body.is_object()) return HttpResponse::problem(400, "request body must be a JSON object");
    return body;
}

Json unknown_fields(const Json& body, std::initializer_list<std::string_view> allowed) {
    Json errors = Json::array();
    for (const auto& [field, value] : body.items()) {
        if (std::find(allowed.begin(), allowed.end(), field) == allowed.end()) {
            errors.push_back({{"field", "/" + field}, {"message", "unknown field"}});
        }
    }
    return errors;
}

HttpResponse invalid_fields(std::string_view detail, const Json& errors) {
    return HttpResponse::problem(400, detail, {{"errors", errors}});
}

std::variant<size_t, HttpResponse> page_limit(const http::HttpRequest& request) {
    const std::string_view text = request.query_value("limit");
    if (text.empty()) return size_t{50};
    size_t limit = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (error != std::errc() || end != text.data() + text.size() || limit < 1 || limit > 200) {
        return HttpResponse::problem(400, "limit must be an integer from 1 to 200");
    }
    return limit;
}

}  // namespace miconsul::api
