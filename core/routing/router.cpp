#include "routing/router.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace miconsul::routing {

namespace {
constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

bool is_parameter(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool is_valid_parameter_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    });
}
}  // namespace

std::optional<std::string> pattern_problem(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/') return "pattern must start with /";
    for (std::string_view segment : split_path(pattern)) {
        if (is_parameter(segment)) {
            std::string_view name = segment.substr(1, segment.size() - 2);
            if (!is_valid_parameter_name(name)) {
                return "bad parameter name '" + std::string(name) + "'";
            }
        } else if (segment.find_first_of("{}") != std::string_view::npos) {
            return "malformed segment '" + std::string(segment) + "'";
        }
    }
    return std::nullopt;
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> segments;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        if (end > start) segments.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return segments;
}

// A trie of path segments. A literal child wins over the parameter child; the lookup backtracks
// to the parameter child when the literal branch does not lead to a route.
struct Router::Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> literal_children;
    std::unique_ptr<Node> parameter_child;
    std::string parameter_name;  // of parameter_child
    std::map<std::string, std::shared_ptr<const RouteDefinition>, std::less<>> by_method;
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

std::optional<std::string> Router::check_insertable(const Node& root,
                                                    const RouteDefinition& route) const {
    if (std::find(std::begin(kMethods), std::end(kMethods), route.method) == std::end(kMethods)) {
        return "route " + route.method + " " + route.pattern + ": unsupported method";
    }
    if (auto problem = pattern_problem(route.pattern)) {
        return "route " + route.method + " " + route.pattern + ": " + *problem;
    }
    const Node* node = &root;
    for (std::string_view segment : split_path(route.pattern)) {
        if (is_parameter(segment)) {
            std::string_view name = segment.substr(1, segment.size() - 2);
            if (!node->parameter_child) return std::nullopt;
            if (node->parameter_name != name) {
                return "route " + route.method + " " + route.pattern +
                       " collides with an existing route that names this parameter '" +
                       node->parameter_name + "'";
            }
            node = node->parameter_child.get();
        } else {
            auto child = node->literal_children.find(segment);
            if (child == node->literal_children.end()) return std::nullopt;
            node = child->second.get();
        }
    }
    auto existing = node->by_method.find(route.method);
    if (existing != node->by_method.end()) {
        return "route " + route.method + " " + route.pattern + " collides with " +
               existing->second->method + " " + existing->second->pattern + " of " +
               existing->second->owner;
    }
    return std::nullopt;
}

namespace {
void insert_route(Router::Node& root, const std::shared_ptr<const RouteDefinition>& route);
}  // namespace

std::optional<std::string> Router::find_conflict_locked(
    const std::vector<RouteDefinition>& routes) const {
    // A scratch trie of the existing routes plus the batch so far: a batch that collides with
    // itself is refused as well.
    Node scratch;
    for (const auto& existing : all_routes_) insert_route(scratch, existing);
    for (const auto& route : routes) {
        if (auto problem = check_insertable(scratch, route)) return problem;
        insert_route(scratch, std::make_shared<const RouteDefinition>(route));
    }
    return std::nullopt;
}

std::optional<std::string> Router::find_conflict(const std::vector<RouteDefinition>& routes) const {
    std::shared_lock lock(mutex_);
    return find_conflict_locked(routes);
}

std::optional<std::string> Router::add_all(std::vector<RouteDefinition> routes) {
    std::unique_lock lock(mutex_);
    if (auto problem = find_conflict_locked(routes)) return problem;
    for (auto& route : routes) {
        auto shared = std::make_shared<const RouteDefinition>(std::move(route));
        insert_route(*root_, shared);
        all_routes_.push_back(std::move(shared));
    }
    return std::nullopt;
}

namespace {
void insert_route(Router::Node& root, const std::shared_ptr<const RouteDefinition>& route) {
    Router::Node* node = &root;
    for (std::string_view segment : split_path(route->pattern)) {
        if (is_parameter(segment)) {
            if (!node->parameter_child) {
                node->parameter_child = std::make_unique<Router::Node>();
                node->parameter_name = std::string(segment.substr(1, segment.size() - 2));
            }
            node = node->parameter_child.get();
        } else {
            auto& child = node->literal_children[std::string(segment)];
            if (!child) child = std::make_unique<Router::Node>();
            node = child.get();
        }
    }
    node->by_method[route->method] = route;
}
}  // namespace

namespace {
struct Walker {
    std::string_view method;
    const std::vector<std::string_view>& segments;
    RouteMatch& match;
    std::vector<std::string>& allowed;  // methods of the first node whose path matched

    template <class NodeT>
    bool walk(const NodeT& node, size_t index) {
        if (index == segments.size()) {
            if (node.by_method.empty()) return false;
            auto found = node.by_method.find(method);
            if (found == node.by_method.end() && method == "HEAD") found = node.by_method.find("GET");
            if (found != node.by_method.end()) {
                match.outcome = RouteMatch::Outcome::found;
                match.route = found->second;
                return true;
            }
            if (allowed.empty()) {
                for (const auto& [route_method, unused] : node.by_method) {
                    allowed.push_back(route_method);
                    if (route_method == "GET") allowed.emplace_back("HEAD");
                }
            }
            return false;
        }
        auto literal = node.literal_children.find(segments[index]);
        if (literal != node.literal_children.end() && walk(*literal->second, index + 1)) {
            return true;
        }
        if (node.parameter_child) {
            match.params.emplace_back(node.parameter_name, std::string(segments[index]));
            if (walk(*node.parameter_child, index + 1)) return true;
            match.params.pop_back();
        }
        return false;
    }
};
}  // namespace

RouteMatch Router::find(std::string_view method, std::string_view path) const {
    const auto segments = split_path(path);
    RouteMatch match;
    std::vector<std::string> allowed;
    std::shared_lock lock(mutex_);
    Walker walker{method, segments, match, allowed};
    if (walker.walk(*root_, 0)) return match;
    match.params.clear();
    if (!allowed.empty()) {
        std::sort(allowed.begin(), allowed.end());
        match.outcome = RouteMatch::Outcome::method_not_allowed;
        match.allowed_methods = std::move(allowed);
    }
    return match;
}

std::vector<std::shared_ptr<const RouteDefinition>> Router::routes() const {
    std::shared_lock lock(mutex_);
    return all_routes_;
}

}  // namespace miconsul::routing
