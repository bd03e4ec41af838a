// The audit log in process, on real SQLite and PostgreSQL: what is written can be found by
// tenant, actor, kind and time, page by page, and is deleted once past its retention.
#include "audit/audit_log.h"

#include "support/test_database.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

namespace {
using miconsul::audit::AuditLog;
using miconsul::audit::Entry;
using nlohmann::json;
using namespace std::chrono_literals;

class AuditTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        database_ = miconsul::testing::open_test_database(GetParam(), scratch_);
        audit_ = std::make_unique<AuditLog>(*database_, clock_, miconsul::logging::Log::null(),
                                            24h * 90);
    }
    static Entry entry(const std::string& actor, const std::string& tenant,
                       const std::string& action) {
        Entry made;
        made.actor = actor;
        made.tenant_id = tenant;
        made.action = action;
        made.status = 200;
        made.request_id = "r1";
        return made;
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<miconsul::storage::Database> database_;
    miconsul::clock::ManualClock clock_{*miconsul::clock::parse_rfc3339("2026-11-28T12:00:00Z")};
    std::unique_ptr<AuditLog> audit_;
};

TEST_P(AuditTest, EntriesAreFoundByTenantActorKindAndTimeAndPaged) {
    audit_->record_call(entry("token:a", "sol", "GET /t/{tenant}/records/patients"));
    clock_.advance(1h);
    audit_->record_change([] {
        Entry change = entry("admin", "sol", "plugin.enablement");
        change.detail = {{"before", {{"enabled", false}}}, {"after", {{"enabled", true}}}};
        return change;
    }());
    clock_.advance(1h);
    audit_->record_call(entry("token:b", "luna", "GET /t/{tenant}/records/patients"));

    EXPECT_EQ(audit_->list(json::object(), "", 50).items.size(), 3u);
    const auto sol = audit_->list({{"tenant_id", "sol"}}, "", 50).items;
    ASSERT_EQ(sol.size(), 2u);
    EXPECT_EQ(sol[0]["action"], "plugin.enablement") << "newest first";
    EXPECT_EQ(sol[0]["detail"]["after"]["enabled"], true);
    EXPECT_EQ(sol[0]["kind"], "change");
    EXPECT_EQ(sol[1]["kind"], "call");
    EXPECT_EQ(sol[1]["time"], "2026-11-28T12:00:00Z");
    EXPECT_EQ(audit_->list({{"actor", "token:b"}}, "", 50).items.size(), 1u);
    EXPECT_EQ(audit_->list({{"kind", "change"}}, "", 50).items.size(), 1u);
    EXPECT_EQ(
        audit_->list({{"from", "2026-11-28T12:30:00Z"}, {"to", "2026-11-28T13:30:00Z"}}, "", 50)
            .items.size(),
        1u);
    const auto first = audit_->list(json::object(), "", 2);
    ASSERT_EQ(first.items.size(), 2u);
    ASSERT_FALSE(first.next_cursor.empty());
    EXPECT_EQ(audit_->list(json::object(), first.next_cursor, 2).items.size(), 1u);
}

TEST_P(AuditTest, EntriesPastTheRetentionArePruned) {
    audit_->record_call(entry("admin", "sol", "GET /api/v1/tenants"));
    clock_.advance(24h * 60);
    audit_->record_call(entry("admin", "sol", "GET /api/v1/tenants"));
    clock_.advance(24h * 31);
    EXPECT_EQ(audit_->prune(), 1u) << "the one older than 90 days";
    EXPECT_EQ(audit_->list(json::object(), "", 50).items.size(), 1u);
    EXPECT_EQ(audit_->prune(), 0u);
}

TEST_P(AuditTest, CallsQueuedWhileRunningAreWrittenAtTheLatestWhenItStops) {
    audit_->start();
    for (int i = 0; i < 500; ++i) audit_->record_call(entry("token:a", "sol", "GET /x"));
    audit_->stop();
    EXPECT_EQ(audit_->list({{"actor", "token:a"}}, "", 200).items.size(), 200u);
    size_t total = 0;
    std::string cursor;
    do {
        const auto page = audit_->list(json::object(), cursor, 200);
        total += page.items.size();
        cursor = page.next_cursor;
    } while (!cursor.empty());
    EXPECT_EQ(total, 500u) << "none lost";
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
