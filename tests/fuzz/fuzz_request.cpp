// libFuzzer target: what an HTTP request's untrusted parts meet before a handler's own logic —
// the router's path matching, the JSON body parser every API route uses, the page limit, the
// problem answers that echo the path, and the CORS decisions. A second mode builds a route table
// from the input, as plugins' route declarations do, to fuzz add_all's checks.
//
// Input (request mode, first byte even): "<method>\n<path>[?<limit>]\n<origin>\n<body>".
// Input (table mode, first byte odd): lines of "<METHOD> <pattern>", then each is looked up.
#include "api/api_support.h"
#include "http/cors.h"
#include "http/message.h"
#include "routing/router.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {
using miconsul::http::HttpRequest;
using miconsul::http::HttpResponse;
using miconsul::routing::PathParams;
using miconsul::routing::RouteDefinition;
using miconsul::routing::Router;

// What a JSON API handler does first: parse the body as an object, refuse unknown members,
// read the page size.
HttpResponse json_handler(const HttpRequest& request, const PathParams& params) {
    auto parsed = miconsul::api::parse_json_object(request);
    if (auto* refusal = std::get_if<HttpResponse>(&parsed)) return std::move(*refusal);
    const auto& body = std::get<miconsul::api::Json>(parsed);
    const auto unknown = miconsul::api::unknown_fields(body, {"id", "name", "timezone"});
    if (!unknown.empty()) return miconsul::api::invalid_fields("unknown fields", unknown);
    auto limit = miconsul::api::page_limit(request);
    if (auto* refusal = std::get_if<HttpResponse>(&limit)) return std::move(*refusal);
    // Echoed like an answer would: parameters and body may hold any bytes.
    miconsul::api::Json echoed = {{"body", body}};
    for (const auto& [name, value] : params) echoed[name] = value;
    return HttpResponse::json(echoed);
}

// The shapes of the host's own routes: literals, parameters, a literal beside a parameter
// (backtracking), and deep plugin routes under /t/{tenant}/.
const Router& host_like_router() {
    static const Router* router = [] {
        auto* built = new Router();
        std::vector<RouteDefinition> routes;
        for (const char* pattern :
             {"/healthz", "/readyz", "/api/v1/tenants", "/api/v1/tenants/{id}",
              "/api/v1/tenants/{id}/plugins/{plugin}", "/api/v1/tenants/{id}/tokens",
              "/api/v1/tokens/{token}/rotate", "/t/{tenant}/records/patients",
              "/t/{tenant}/records/patients/{patient}", "/t/{tenant}/records/patients/import",
              "/t/{tenant}/hello/greet", "/t/{tenant}/messages/whatsapp/webhook"}) {
            for (const char* method : {"GET", "POST", "DELETE"}) {
                routes.push_back({method, pattern, "fuzz", json_handler, "public"});
            }
        }
        if (built->add_all(std::move(routes))) std::abort();
        return built;
    }();
    return *router;
}

std::string_view next_line(std::string_view& rest) {
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    return line;
}

void request_mode(std::string_view input) {
    HttpRequest request;
    request.method = std::string(next_line(input));
    std::string_view target = next_line(input);
    const size_t question = target.find('?');
    if (question != std::string_view::npos) {
        request.query.emplace_back("limit", std::string(target.substr(question + 1)));
        target = target.substr(0, question);
    }
    request.path = std::string(target);
    request.headers.emplace_back("origin", std::string(next_line(input)));
    request.headers.emplace_back("access-control-request-method", "POST");
    request.body = std::string(input);

    (void)miconsul::routing::pattern_problem(request.path);
    const auto match = host_like_router().find(request.method, request.path);
    HttpResponse response;
    switch (match.outcome) {
        case miconsul::routing::RouteMatch::Outcome::found:
            response = match.route->handler(request, match.params);
            break;
        case miconsul::routing::RouteMatch::Outcome::path_not_found:
            // As the dispatcher answers: the path, which may not be UTF-8, goes into JSON.
            response = HttpResponse::problem(404, "no route for " + request.path);
            break;
        case miconsul::routing::RouteMatch::Outcome::method_not_allowed:
            if (match.allowed_methods.empty()) std::abort();
            response = HttpResponse::problem(405, request.method + " is not allowed here");
            break;
    }
    const miconsul::http::Cors cors({"https://panel.example.com"});
    if (miconsul::http::Cors::is_preflight(request) && cors.allows(request.header("origin"))) {
        response = cors.preflight(match.allowed_methods);
    }
    cors.add_headers(request, response);
    if (response.status < 100 || response.status > 599) std::abort();
}

void table_mode(std::string_view input) {
    Router router;
    std::vector<RouteDefinition> routes;
    while (!input.empty()) {
        const std::string_view line = next_line(input);
        const size_t space = line.find(' ');
        if (space == std::string_view::npos) continue;
        routes.push_back({std::string(line.substr(0, space)), std::string(line.substr(space + 1)),
                          "fuzz", json_handler, "public"});
    }
    const auto conflict = router.find_conflict(routes);
    const auto refused = router.add_all(routes);
    if (conflict.has_value() != refused.has_value()) std::abort();
    for (const auto& route : routes) {
        const auto match = router.find(route.method, route.pattern);
        // A table that was accepted finds each route by its own pattern.
        if (!refused && match.outcome != miconsul::routing::RouteMatch::Outcome::found) {
            std::abort();
        }
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 0) {
        request_mode(input);
    } else {
        table_mode(input);
    }
    return 0;
}
