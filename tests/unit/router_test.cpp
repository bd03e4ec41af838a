#include "routing/router.h"

#include <gtest/gtest.h>

#include <thread>

namespace {
using miconsul::http::HttpRequest;
using miconsul::http::HttpResponse;
using miconsul::routing::PathParams;
using miconsul::routing::RouteDefinition;
using miconsul::routing::Router;
using Outcome = miconsul::routing::RouteMatch::Outcome;

RouteDefinition route(std::string method, std::string pattern, int tag) {
    return {std::move(method), std::move(pattern), "test",
            [tag](const HttpRequest&, const PathParams&) {
                return HttpResponse{tag, {}, {}};
            }};
}

int call(const Router& router, const std::string& method, const std::string& path) {
    auto match = router.find(method, path);
    if (match.outcome != Outcome::found) return -1;
    return match.route->handler(HttpRequest{}, match.params).status;
}

TEST(Router, MatchesLiteralsAndParameters) {
    Router router;
    ASSERT_FALSE(router.add_all({route("GET", "/api/v1/tenants", 1),
                                 route("GET", "/api/v1/tenants/{id}", 2),
                                 route("GET", "/t/{tenant}/hello/greet", 3)}));
    EXPECT_EQ(call(router, "GET", "/api/v1/tenants"), 1);
    EXPECT_EQ(call(router, "GET", "/api/v1/tenants/"), 1);  // a trailing slash is the same path
    auto match = router.find("GET", "/api/v1/tenants/acme");
    ASSERT_EQ(match.outcome, Outcome::found);
    ASSERT_EQ(match.params.size(), 1u);
    EXPECT_EQ(match.params[0], (std::pair<std::string, std::string>{"id", "acme"}));
    match = router.find("GET", "/t/acme/hello/greet");
    ASSERT_EQ(match.outcome, Outcome::found);
    EXPECT_EQ(match.params[0].second, "acme");
}

TEST(Router, LiteralWinsOverParameterAndBacktracks) {
    Router router;
    ASSERT_FALSE(router.add_all({route("GET", "/a/special/x", 1), route("GET", "/a/{p}/y", 2)}));
    EXPECT_EQ(call(router, "GET", "/a/special/x"), 1);
    // "special" matches the literal branch, which has no /y: the lookup must backtrack.
    EXPECT_EQ(call(router, "GET", "/a/special/y"), 2);
    EXPECT_EQ(call(router, "GET", "/a/other/y"), 2);
}

TEST(Router, UnknownPathIsNotFound) {
    Router router;
    ASSERT_FALSE(router.add_all({route("GET", "/a/b", 1)}));
    EXPECT_EQ(router.find("GET", "/a").outcome, Outcome::path_not_found);
    EXPECT_EQ(router.find("GET", "/a/b/c").outcome, Outcome::path_not_found);
    EXPECT_EQ(router.find("GET", "").outcome, Outcome::path_not_found);
}

TEST(Router, WrongMethodListsAllowedMethods) {
    Router router;
    ASSERT_FALSE(router.add_all({route("GET", "/x/{id}", 1), route("PUT", "/x/{id}", 2)}));
    auto match = router.find("DELETE", "/x/1");
    EXPECT_EQ(match.outcome, Outcome::method_not_allowed);
    EXPECT_EQ(match.allowed_methods, (std::vector<std::string>{"GET", "HEAD", "PUT"}));
}

TEST(Router, HeadFallsBackToGet) {
    Router router;
    ASSERT_FALSE(router.add_all({route("GET", "/x", 7)}));
    EXPECT_EQ(call(router, "HEAD", "/x"), 7);
}

TEST(Router, RefusesSameShapeAndNamesTheOwner) {
    Router router;
    ASSERT_FALSE(router.add_all({route("GET", "/items/{id}", 1)}));
    auto problem = router.add_all({route("GET", "/items/{id}", 2)});
    ASSERT_TRUE(problem);
    EXPECT_NE(problem->find("collides"), std::string::npos) << *problem;
    problem = router.add_all({route("POST", "/items/{key}", 2)});
    ASSERT_TRUE(problem) << "a differently named parameter at the same place is ambiguous";
    EXPECT_FALSE(router.add_all({route("POST", "/items/{id}", 3)}));
}

TEST(Router, BatchIsAllOrNothing) {
    Router router;
    auto problem = router.add_all({route("GET", "/one", 1), route("GET", "/one", 2)});
    ASSERT_TRUE(problem);
    EXPECT_EQ(router.find("GET", "/one").outcome, Outcome::path_not_found);
    EXPECT_TRUE(router.routes().empty());
}

TEST(Router, RefusesMalformedPatterns) {
    Router router;
    EXPECT_TRUE(router.add_all({route("GET", "no-slash", 1)}));
    EXPECT_TRUE(router.add_all({route("BREW", "/coffee", 1)}));
    EXPECT_TRUE(router.add_all({route("GET", "/a/{bad-name}", 1)}));
    EXPECT_TRUE(router.add_all({route("GET", "/a/b{c}", 1)}));
    EXPECT_TRUE(router.routes().empty());
}

TEST(Router, FindConflictDoesNotAdd) {
    Router router;
    EXPECT_FALSE(router.find_conflict({route("GET", "/a", 1)}));
    EXPECT_EQ(router.find("GET", "/a").outcome, Outcome::path_not_found);
}

TEST(Router, LookupsRunWhileRoutesAreAdded) {
    Router router;
    ASSERT_FALSE(router.add_all({route("GET", "/stable", 1)}));
    std::atomic<bool> stop{false};
    std::atomic<int> misses{0};
    std::thread reader([&] {
        while (!stop) {
            if (call(router, "GET", "/stable") != 1) ++misses;
        }
    });
    for (int i = 0; i < 500; ++i) {
        ASSERT_FALSE(router.add_all({route("GET", "/dynamic/" + std::to_string(i), i)}));
    }
    stop = true;
    reader.join();
    EXPECT_EQ(misses, 0);
    EXPECT_EQ(call(router, "GET", "/dynamic/499"), 499);
}
}  // namespace
