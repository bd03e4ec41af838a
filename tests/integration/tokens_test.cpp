// API tokens in process, on real SQLite and PostgreSQL, with a clock the test moves: only a
// hash at rest, expiry, rotation with an overlap, immediate revocation.
#include "auth/tokens.h"

#include "auth/access.h"
#include "clock/clock.h"
#include "storage/json_statement.h"
#include "support/test_database.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

namespace {
using miconsul::auth::TokenKind;
using miconsul::auth::TokenStore;
using namespace std::chrono_literals;

class TokensTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        database_ = miconsul::testing::open_test_database(GetParam(), scratch_);
        tokens_ = std::make_unique<TokenStore>(*database_, clock_, miconsul::logging::Log::null());
    }

    bool works(const std::string& token) { return tokens_->authenticate(token).has_value(); }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<miconsul::storage::Database> database_;
    miconsul::clock::ManualClock clock_{*miconsul::clock::parse_rfc3339("2026-11-28T12:00:00Z")};
    std::unique_ptr<TokenStore> tokens_;
};

TEST_P(TokensTest, OnlyAHashIsKeptAndOnlyTheExactTokenIsAccepted) {
    const auto issued = tokens_->issue(TokenKind::tenant_api, "sol", "n8n", 24h * 30);
    ASSERT_EQ(issued.token.rfind("mc_" + issued.record.prefix + "_", 0), 0u);
    const auto found = tokens_->authenticate(issued.token);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->id, issued.record.id);
    EXPECT_EQ(found->tenant_id, "sol");
    EXPECT_EQ(found->kind, TokenKind::tenant_api);

    std::string stored;
    database_->with_platform([&](soci::session& session) {
        stored = miconsul::storage::run_json_statement(session, "SELECT * FROM api_tokens", nullptr)
                     .dump();
    });
    EXPECT_EQ(stored.find(issued.token.substr(16)), std::string::npos)
        << "the secret is not at rest";

    std::string altered = issued.token;
    altered.back() = altered.back() == 'a' ? 'b' : 'a';
    EXPECT_FALSE(works(altered)) << "same prefix, another secret";
    EXPECT_FALSE(works("mc_" + issued.record.prefix));
    EXPECT_FALSE(works(""));
    EXPECT_FALSE(works("Bearer " + issued.token));
    EXPECT_FALSE(works("mc_000000000000_" + std::string(64, '0')));
}

TEST_P(TokensTest, ATokenExpiresAtItsTimeAndItsUseIsRecorded) {
    const auto issued = tokens_->issue(TokenKind::tenant_admin, "sol", "panel", 24h);
    EXPECT_TRUE(works(issued.token));
    EXPECT_EQ(tokens_->find(issued.record.id)->last_used_at, "2026-11-28T12:00:00Z");
    clock_.advance(30s);
    EXPECT_TRUE(works(issued.token));
    EXPECT_EQ(tokens_->find(issued.record.id)->last_used_at, "2026-11-28T12:00:00Z")
        << "recorded at most once a minute";
    clock_.advance(24h - 31s);
    EXPECT_TRUE(works(issued.token));
    clock_.advance(1s);
    EXPECT_FALSE(works(issued.token)) << "expired";
}

TEST_P(TokensTest, ARotatedTokenWorksDuringItsOverlapAndFailsAfterIt) {
    const auto old = tokens_->issue(TokenKind::tenant_api, "sol", "n8n", 24h * 30);
    const auto rotated = tokens_->rotate(old.record.id, 24h, 24h * 30);
    ASSERT_TRUE(rotated);
    EXPECT_NE(rotated->token, old.token);
    EXPECT_EQ(rotated->record.tenant_id, "sol");
    EXPECT_EQ(rotated->record.label, "n8n");
    EXPECT_EQ(tokens_->find(old.record.id)->replaced_by, rotated->record.id);
    clock_.advance(24h - 1s);
    EXPECT_TRUE(works(old.token)) << "inside the overlap";
    EXPECT_TRUE(works(rotated->token));
    clock_.advance(1s);
    EXPECT_FALSE(works(old.token)) << "the overlap is over";
    EXPECT_TRUE(works(rotated->token));
    EXPECT_FALSE(tokens_->rotate(old.record.id, 24h, 24h)) << "an expired token cannot be rotated";
}

TEST_P(TokensTest, RevocationIsImmediateAndFinal) {
    const auto issued = tokens_->issue(TokenKind::platform_admin, "ignored", "ops", 24h);
    EXPECT_EQ(issued.record.tenant_id, "") << "platform tokens belong to no tenant";
    EXPECT_TRUE(works(issued.token));
    EXPECT_TRUE(tokens_->revoke(issued.record.id));
    EXPECT_FALSE(works(issued.token));
    EXPECT_FALSE(tokens_->revoke(issued.record.id));
    EXPECT_FALSE(tokens_->rotate(issued.record.id, 24h, 24h));
    EXPECT_EQ(tokens_->list("").size(), 1u);
    EXPECT_TRUE(tokens_->find(issued.record.id)->revoked_at);
}

// What another instance, or an operator with SQL, does behind this store's back.
void run_sql(miconsul::storage::Database& database, const std::string& sql,
             const nlohmann::json& parameters) {
    database.with_platform([&](soci::session& session) {
        miconsul::storage::run_json_statement(session, sql, parameters);
    });
}

TEST_P(TokensTest, AVerifiedTokenIsTrustedForAMomentButRevokedHereFailsAtOnce) {
    const auto issued = tokens_->issue(TokenKind::tenant_api, "sol", "n8n", 24h);
    EXPECT_TRUE(works(issued.token));
    // Revoked in the database without this store: it still trusts its verification...
    run_sql(*database_, "UPDATE api_tokens SET revoked_at = '2026-11-28T12:00:00Z' WHERE id = :id",
            {{"id", issued.record.id}});
    EXPECT_TRUE(works(issued.token)) << "verified a moment ago: not read again";
    // ...until this store revokes it: then at once.
    run_sql(*database_, "UPDATE api_tokens SET revoked_at = NULL WHERE id = :id",
            {{"id", issued.record.id}});
    EXPECT_TRUE(tokens_->revoke(issued.record.id));
    EXPECT_FALSE(works(issued.token));
    EXPECT_FALSE(works(issued.token));
}

TEST_P(TokensTest, AnotherInstancesRevocationIsSeenWithinTheTrustInterval) {
    TokenStore other(*database_, clock_, miconsul::logging::Log::null());
    const auto issued = tokens_->issue(TokenKind::tenant_api, "sol", "n8n", 24h);
    const auto rotated = tokens_->issue(TokenKind::tenant_api, "sol", "legacy", 24h);
    EXPECT_TRUE(works(issued.token));
    EXPECT_TRUE(works(rotated.token));
    EXPECT_TRUE(other.revoke(issued.record.id));
    ASSERT_TRUE(other.rotate(rotated.record.id, 0s, 24h));
    EXPECT_FALSE(other.authenticate(issued.token)) << "at once where it was revoked";
    EXPECT_FALSE(other.authenticate(rotated.token)) << "at once where it was rotated";
    clock_.advance(TokenStore::kTrustVerifiedFor - 1ms);
    EXPECT_TRUE(works(issued.token)) << "the documented bound, not more";
    EXPECT_TRUE(works(rotated.token));
    clock_.advance(1ms);
    EXPECT_FALSE(works(issued.token));
    EXPECT_FALSE(works(rotated.token));
}

TEST_P(TokensTest, AVerifiedTokenIsNeverTrustedPastItsExpiry) {
    const auto issued = tokens_->issue(TokenKind::tenant_api, "sol", "n8n", 24h);
    clock_.advance(24h - 1s);
    EXPECT_TRUE(works(issued.token));
    // Gone from the database: from here on, only the store's memory can let it in.
    run_sql(*database_, "DELETE FROM api_tokens WHERE id = :id", {{"id", issued.record.id}});
    clock_.advance(500ms);
    EXPECT_TRUE(works(issued.token)) << "trusted: verified half a second ago";
    clock_.advance(500ms);
    EXPECT_FALSE(works(issued.token)) << "its expiry, sooner than the trust interval";
}

TEST_P(TokensTest, AClockSetBackEndsTheTrust) {
    const auto issued = tokens_->issue(TokenKind::tenant_api, "sol", "n8n", 24h);
    EXPECT_TRUE(works(issued.token));
    run_sql(*database_, "DELETE FROM api_tokens WHERE id = :id", {{"id", issued.record.id}});
    clock_.advance(-1h);
    EXPECT_FALSE(works(issued.token)) << "not trusted for the hour the clock went back";
}

INSTANTIATE_TEST_SUITE_P(Backends, TokensTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
