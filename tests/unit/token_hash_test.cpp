#include "auth/token_hash.h"

#include <gtest/gtest.h>

namespace {
using namespace miconsul::auth;

TEST(TokenHash, Sha256KnownAnswer) {
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenHash, MatchesOnlyTheRightToken) {
    const std::string stored = sha256_hex("correct horse battery");
    EXPECT_TRUE(token_matches("correct horse battery", stored));
    EXPECT_FALSE(token_matches("correct horse batterY", stored));
    EXPECT_FALSE(token_matches("", stored));
    EXPECT_FALSE(token_matches("anything", ""));  // nothing configured: nobody gets in
}

TEST(TokenHash, ParsesBearerHeader) {
    EXPECT_EQ(bearer_token("Bearer abc"), "abc");
    EXPECT_EQ(bearer_token("bearer   abc  "), "abc");
    EXPECT_EQ(bearer_token("Basic abc"), "");
    EXPECT_EQ(bearer_token("Bearer"), "");
    EXPECT_EQ(bearer_token(""), "");
}
}  // namespace
