// The panel's sign-in and its admin users over HTTP: POST/GET/DELETE /api/v1/session (password,
// then TOTP or a recovery code; an HttpOnly, Secure, SameSite=Strict cookie), TOTP enrolment
// under /api/v1/session/totp, and /api/v1/users for platform admins. See docs/security.md.
#pragma once

#include "api/api_support.h"
#include "auth/access.h"
#include "auth/admin_users.h"
#include "tenants/tenant_store.h"

#include <vector>

namespace miconsul::api {

struct SessionsDependencies {
    auth::AdminUsers& users;
    tenants::TenantStore& tenants;
    const auth::Access& access;
    audit::AuditLog& audit;  // sign-ins, refusals, lockouts, enrolments, users added and removed
};

std::vector<routing::RouteDefinition> sessions_routes(const SessionsDependencies& deps);

}  // namespace miconsul::api
