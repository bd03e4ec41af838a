// The pieces of hardening that need no server: the fixed header list, CORS decisions, and the
// configuration keys that drive them. The end-to-end side is hardening_e2e_test.cpp.
#include "api/api_support.h"
#include "config/config.h"
#include "http/cors.h"
#include "http/security_headers.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {
using miconsul::http::Cors;
using miconsul::http::HttpRequest;
using miconsul::http::HttpResponse;

std::string header(const miconsul::http::Fields& fields, const std::string& name) {
    for (const auto& [key, value] : fields) {
        if (key == name) return value;
    }
    return "";
}

miconsul::config::LoadedConfig load(std::map<std::string, std::string> values) {
    return miconsul::config::load_config(
        std::nullopt, [values](const std::string& name) -> std::optional<std::string> {
            auto found = values.find(name);
            if (found == values.end()) return std::nullopt;
            return found->second;
        });
}

TEST(SecurityHeaders, FixedSetAndHstsOnlyWhenAsked) {
    const auto plain = miconsul::http::security_headers({});
    EXPECT_EQ(header(plain, "X-Frame-Options"), "DENY");
    EXPECT_EQ(header(plain, "Cache-Control"), "no-store");
    EXPECT_EQ(header(plain, "Strict-Transport-Security"), "");
    const auto strict = miconsul::http::security_headers({86400});
    EXPECT_EQ(header(strict, "Strict-Transport-Security"), "max-age=86400");
}

TEST(Cors, OriginsMustBeExact) {
    for (const char* good : {"https://panel.example.com", "http://localhost:5173",
                             "https://127.0.0.1", "https://a-b.example:8443"}) {
        EXPECT_EQ(miconsul::http::origin_problem(good), std::nullopt) << good;
    }
    for (const char* bad :
         {"*", "null", "https://*.example.com", "https://panel.example.com/", "panel.example.com",
          "https://Panel.example.com", "ftp://panel.example.com", "https://",
          "https://a:", "https://a:0080", "https://a:123456", "https://a/path", "https://user@a"}) {
        EXPECT_NE(miconsul::http::origin_problem(bad), std::nullopt) << bad;
    }
}

TEST(Cors, DisabledAddsNothing) {
    Cors cors;
    HttpRequest request;
    request.headers = {{"origin", "https://panel.example.com"}};
    HttpResponse response;
    cors.add_headers(request, response);
    EXPECT_TRUE(response.headers.empty());
    EXPECT_FALSE(cors.enabled());
}

TEST(Cors, ReflectsOnlyAnAllowedOrigin) {
    Cors cors({"https://panel.example.com"});
    HttpRequest request;
    request.headers = {{"origin", "https://panel.example.com"}};
    HttpResponse allowed;
    cors.add_headers(request, allowed);
    EXPECT_EQ(header(allowed.headers, "Access-Control-Allow-Origin"), "https://panel.example.com");
    EXPECT_EQ(header(allowed.headers, "Vary"), "Origin");

    request.headers = {{"origin", "https://panel.example.com.evil.example"}};
    HttpResponse other;
    cors.add_headers(request, other);
    EXPECT_EQ(header(other.headers, "Access-Control-Allow-Origin"), "");
    EXPECT_EQ(header(other.headers, "Vary"), "Origin");
}

TEST(Cors, PreflightIsOptionsWithOriginAndRequestMethod) {
    HttpRequest request;
    request.method = "OPTIONS";
    request.headers = {{"origin", "https://panel.example.com"}};
    EXPECT_FALSE(Cors::is_preflight(request));
    request.headers.emplace_back("access-control-request-method", "POST");
    EXPECT_TRUE(Cors::is_preflight(request));
    request.method = "GET";
    EXPECT_FALSE(Cors::is_preflight(request));

    const auto answer = Cors({"https://panel.example.com"}).preflight({"GET", "HEAD", "POST"});
    EXPECT_EQ(answer.status, 204);
    EXPECT_EQ(header(answer.headers, "Access-Control-Allow-Methods"), "GET, HEAD, POST");
    EXPECT_EQ(header(answer.headers, "Access-Control-Max-Age"), "600");
}

TEST(Config, CorsOriginsFromAListOrJsonAndRefusedWhenNotExact) {
    auto listed = load({{"MICONSUL_CORS_ORIGINS", " https://a.example , http://localhost:5173,"}});
    ASSERT_TRUE(listed.problems.empty()) << listed.problems.front();
    EXPECT_EQ(listed.config.cors_origins,
              (std::vector<std::string>{"https://a.example", "http://localhost:5173"}));
    auto from_json = load({{"MICONSUL_CORS_ORIGINS", R"(["https://a.example"])"}});
    ASSERT_TRUE(from_json.problems.empty());
    EXPECT_EQ(from_json.config.cors_origins, std::vector<std::string>{"https://a.example"});
    EXPECT_TRUE(load({{"MICONSUL_CORS_ORIGINS", ""}}).config.cors_origins.empty());
    EXPECT_TRUE(load({}).config.cors_origins.empty());
    EXPECT_EQ(load({{"MICONSUL_CORS_ORIGINS", "*"}}).problems.size(), 1u);
    EXPECT_EQ(load({{"MICONSUL_CORS_ORIGINS", R"(["https://a.example", 3])"}}).problems.size(), 1u);
    EXPECT_EQ(load({{"MICONSUL_CORS_ORIGINS", "[not json"}}).problems.size(), 1u);
}

TEST(Config, HstsMaxAgeIsBounded) {
    EXPECT_EQ(load({}).config.hsts_max_age, 0);
    EXPECT_EQ(load({{"MICONSUL_HSTS_MAX_AGE", "31536000"}}).config.hsts_max_age, 31536000);
    EXPECT_EQ(load({{"MICONSUL_HSTS_MAX_AGE", "-1"}}).problems.size(), 1u);
}

TEST(JsonNesting, CountsBracketsOutsideStringsOnly) {
    using miconsul::http::json_nesting_exceeds;
    EXPECT_FALSE(json_nesting_exceeds(R"({"a": [1, {"b": []}]})", 4));
    EXPECT_TRUE(json_nesting_exceeds(R"({"a": [1, {"b": []}]})", 3));
    EXPECT_FALSE(json_nesting_exceeds(R"({"a": "[[[[{{{{"})", 1));
    EXPECT_FALSE(json_nesting_exceeds(R"({"a": "\"[[[["})", 1)) << "an escaped quote ends nothing";
    EXPECT_FALSE(json_nesting_exceeds(R"([] [] [] [])", 1)) << "closed arrays free their level";
    EXPECT_FALSE(json_nesting_exceeds("]]]]{", 1));
    EXPECT_FALSE(json_nesting_exceeds(""));
}

// Found with tests/fuzz/fuzz_settings (a hand-made input): settings nested 300,000 deep (a 600 KB
// body, under the 1 MiB limit) parsed fine, then overflowed the stack in the recursive copy
// apply_defaults makes — any tenant admin could have crashed the host with one PUT. Bodies are now
// refused before parsing.
TEST(JsonNesting, DeepBodiesAreRefusedBeforeParsing) {
    const size_t deep = 300000;
    HttpRequest request;
    request.body = R"({"enabled": true, "settings": {"greeting": )" + std::string(deep, '[') +
                   std::string(deep, ']') + "}}";
    const auto refused = miconsul::api::parse_json_object(request);
    ASSERT_TRUE(std::holds_alternative<HttpResponse>(refused));
    const auto& answer = std::get<HttpResponse>(refused);
    EXPECT_EQ(answer.status, 400);
    EXPECT_NE(answer.body.find("nests deeper than 64 levels"), std::string::npos) << answer.body;

    // Real bodies nest a few levels; the limit itself is accepted.
    request.body = R"({"x": )" + std::string(62, '[') + "1" + std::string(62, ']') + "}";
    EXPECT_TRUE(
        std::holds_alternative<miconsul::api::Json>(miconsul::api::parse_json_object(request)));
    request.body = R"({"x": )" + std::string(64, '[') + "1" + std::string(64, ']') + "}";
    EXPECT_TRUE(std::holds_alternative<HttpResponse>(miconsul::api::parse_json_object(request)));
}

}  // namespace
