// The access rule: who may call a route of which need, for which tenant — and what a refusal
// says (401 no credential, 403 too little power over one's own tenant, 404 another tenant's).
#include "auth/access.h"

#include <gtest/gtest.h>

namespace {
using miconsul::auth::Caller;
using miconsul::auth::judge;
using miconsul::auth::Need;
using miconsul::auth::Verdict;

Caller caller(Caller::Kind kind, const std::string& tenant = "") {
    Caller result;
    result.kind = kind;
    result.tenant_id = tenant;
    return result;
}

TEST(AccessTest, WithoutAValidTokenOnlyPublicRoutesAnswer) {
    for (auto kind : {Caller::Kind::anonymous, Caller::Kind::unrecognised}) {
        EXPECT_EQ(judge(caller(kind), Need::nothing, "sol"), Verdict::allow);
        for (auto need : {Need::tenant_member, Need::tenant_admin, Need::platform_admin}) {
            EXPECT_EQ(judge(caller(kind), need, "sol"), Verdict::unauthenticated);
        }
    }
}

TEST(AccessTest, APlatformAdminReachesEveryTenant) {
    for (auto need : {Need::tenant_member, Need::tenant_admin, Need::platform_admin}) {
        EXPECT_EQ(judge(caller(Caller::Kind::platform_admin), need, "sol"), Verdict::allow);
        EXPECT_EQ(judge(caller(Caller::Kind::platform_admin), need, "luna"), Verdict::allow);
    }
}

TEST(AccessTest, ATenantTokenReachesOnlyItsTenantAndAnotherTenantDoesNotExistForIt) {
    const Caller admin = caller(Caller::Kind::tenant_admin, "sol");
    const Caller api = caller(Caller::Kind::tenant_api, "sol");
    EXPECT_EQ(judge(admin, Need::tenant_member, "sol"), Verdict::allow);
    EXPECT_EQ(judge(admin, Need::tenant_admin, "sol"), Verdict::allow);
    EXPECT_EQ(judge(api, Need::tenant_member, "sol"), Verdict::allow);
    EXPECT_EQ(judge(api, Need::tenant_admin, "sol"), Verdict::forbidden);
    for (const auto& token : {admin, api}) {
        EXPECT_EQ(judge(token, Need::tenant_member, "luna"), Verdict::hidden);
        EXPECT_EQ(judge(token, Need::tenant_admin, "luna"), Verdict::hidden);
        EXPECT_EQ(judge(token, Need::platform_admin, ""), Verdict::forbidden);
        EXPECT_EQ(judge(token, Need::tenant_member, ""), Verdict::hidden) << "not a platform route";
    }
}

}  // namespace
