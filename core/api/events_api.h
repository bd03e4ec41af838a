// Events over HTTP: n8n and the legacy system publish to a tenant (POST /t/{tenant}/events);
// admins read a tenant's events and deliveries and redeliver dead-lettered ones.
#pragma once

#include "api/api_support.h"
#include "bus/bus.h"
#include "routing/router.h"
#include "tenants/tenant_store.h"

#include <vector>

namespace miconsul::api {

struct EventsDependencies {
    bus::Bus& bus;
    tenants::TenantStore& tenants;
    const auth::Access& access;
};

/// The routes. `deps` must outlive them.
std::vector<routing::RouteDefinition> events_routes(const EventsDependencies& deps);

}  // namespace miconsul::api
