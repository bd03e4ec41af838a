// API tokens over HTTP: issue, list, rotate, revoke. A tenant's admins manage their tenant's
// tokens; platform admins manage every token and the platform's own. See docs/security.md.
#pragma once

#include "api/api_support.h"
#include "auth/access.h"
#include "auth/tokens.h"
#include "tenants/tenant_store.h"

#include <chrono>
#include <vector>

namespace miconsul::api {

struct TokensDependencies {
    auth::TokenStore& tokens;
    tenants::TenantStore& tenants;
    const auth::Access& access;
    audit::AuditLog& audit;                        // changes are recorded here
    std::chrono::hours default_lifetime{24 * 30};  // when the request names none
    std::chrono::hours rotation_overlap{24};       // how long a rotated token keeps working
};

std::vector<routing::RouteDefinition> tokens_routes(const TokensDependencies& deps);

}  // namespace miconsul::api
