// A clinic's records over HTTP, under /t/{tenant}/records/: what n8n and the clinic's legacy
// system read and write. Platform admin credential for now (tenant tokens come with the
// access-control issue); a tenant that does not exist or is suspended answers 404.
#pragma once

#include "api/api_support.h"
#include "records/records.h"
#include "routing/router.h"
#include "tenants/tenant_store.h"

#include <vector>

namespace miconsul::api {

struct RecordsDependencies {
    records::Records& records;
    tenants::TenantStore& tenants;
    const auth::Access& access;
};

std::vector<routing::RouteDefinition> records_routes(const RecordsDependencies& deps);

}  // namespace miconsul::api
