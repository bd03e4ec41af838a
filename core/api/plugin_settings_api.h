// A tenant's plugins under /api/v1/tenants/{id}/: enabling them with their settings, every
// change as a numbered revision (history, diff, rollback), and the tenant's whole
// configuration as one document — what `miconsul-host apply` and `export` exchange, so a
// tenant's setup can live in Git.
#pragma once

#include "api/management_api.h"

#include <vector>

namespace miconsul::api {

/// The routes, each behind its guard. `deps` must outlive them.
std::vector<routing::RouteDefinition> plugin_settings_routes(const ManagementDependencies& deps);

}  // namespace miconsul::api
