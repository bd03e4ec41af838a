// A tenant's webhook subscriptions: create (the secret is shown once), list, delete,
// reactivate. Platform admin only for now (tenant tokens come with the access-control issue).
#pragma once

#include "api/api_support.h"
#include "routing/router.h"
#include "tenants/tenant_store.h"
#include "webhooks/webhooks.h"

#include <vector>

namespace miconsul::api {

struct WebhooksDependencies {
    webhooks::Webhooks* webhooks;  // null when no secret_key is configured: the API says so
    tenants::TenantStore& tenants;
    const auth::Access& access;
};

std::vector<routing::RouteDefinition> webhooks_routes(const WebhooksDependencies& deps);

}  // namespace miconsul::api
