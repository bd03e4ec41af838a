// Path-template routing for every HTTP route of the host: core routes and plugin routes.
//
// Why our own: Pistache 0.0.5's Rest::Router races in lookup, and plugin routes are added while
// the host serves. Lookups take a shared lock; additions an exclusive one.
#pragma once

#include "http/message.h"

#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace miconsul::routing {

using PathParams = std::vector<std::pair<std::string, std::string>>;
using RouteHandler = std::function<http::HttpResponse(const http::HttpRequest&, const PathParams&)>;

struct RouteDefinition {
    std::string method;   // GET, POST, PUT, PATCH, DELETE
    std::string pattern;  // "/api/v1/tenants/{id}": literal segments and {name} parameters
    std::string owner;    // who registered it, for conflict messages: "core", "plugin hello"
    RouteHandler handler;
    /// Who may call it, as the handler enforces it: "public", "signature" (checks a
    /// signature of its own), "tenant" (any token of the route's tenant), "tenant_admin",
    /// "platform_admin", "token_owner" (whoever may manage the token in the path), "session"
    /// (the panel's own session routes, which read the session cookie). Listed by
    /// GET /api/v1/routes; the credential-matrix test walks every route by it.
    std::string access{};
};

struct RouteMatch {
    enum class Outcome { found, path_not_found, method_not_allowed };
    Outcome outcome = Outcome::path_not_found;
    std::shared_ptr<const RouteDefinition> route;  // set when found
    PathParams params;                             // set when found
    std::vector<std::string> allowed_methods;      // set when method_not_allowed, sorted
};

class Router {
public:
    Router();
    ~Router();
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    /// Adds all routes or none. Returns the reason when one is malformed or collides with a
    /// route already present or earlier in `routes` (same method and same path shape).
    /// Thread-safe.
    std::optional<std::string> add_all(std::vector<RouteDefinition> routes);

    /// What add_all would refuse `routes` for, without adding them.
    std::optional<std::string> find_conflict(const std::vector<RouteDefinition>& routes) const;

    /// Finds the route for a method and a decoded path. HEAD matches GET routes.
    /// Thread-safe; the returned route stays valid after later additions.
    RouteMatch find(std::string_view method, std::string_view path) const;

    /// Every route, in registration order (for listings and tests).
    std::vector<std::shared_ptr<const RouteDefinition>> routes() const;

    struct Node;  // the trie; defined in router.cpp

private:
    std::optional<std::string> check_insertable(const Node& root, const RouteDefinition&) const;
    std::optional<std::string> find_conflict_locked(const std::vector<RouteDefinition>&) const;

    mutable std::shared_mutex mutex_;
    std::unique_ptr<Node> root_;
    std::vector<std::shared_ptr<const RouteDefinition>> all_routes_;
};

/// Why `pattern` is not a valid route pattern (must start with '/'; segments are literals
/// without braces or {name} with name of letters, digits and '_'), or nullopt.
std::optional<std::string> pattern_problem(std::string_view pattern);

/// Splits "/a/b/" into {"a", "b"}; empty segments are dropped.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace miconsul::routing
