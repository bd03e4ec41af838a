// The runs API: a tenant's scheduled runs, running a schedule now (optionally as of a chosen
// instant), retrying a failed run, and pausing or resuming a schedule. Platform admin only.
#pragma once

#include "api/api_support.h"
#include "plugins/registry.h"
#include "routing/router.h"
#include "scheduler/scheduler.h"
#include "tenants/tenant_store.h"

#include <vector>

namespace miconsul::api {

struct RunsDependencies {
    scheduler::Scheduler& scheduler;
    tenants::TenantStore& tenants;
    const plugins::PluginRegistry& registry;
    const auth::Access& access;
};

/// The routes, each behind the admin guard. `deps` must outlive them.
std::vector<routing::RouteDefinition> runs_routes(const RunsDependencies& deps);

}  // namespace miconsul::api
