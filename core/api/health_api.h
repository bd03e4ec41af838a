// /healthz (the process answers) and /readyz (it can do its work: database reachable, plugins
// loaded, Redis reachable when configured, not draining for shutdown). Open to all: load
// balancers and orchestrators call them without credentials.
#pragma once

#include "plugins/registry.h"
#include "redis/redis_probe.h"
#include "routing/router.h"
#include "storage/database.h"

#include <atomic>
#include <functional>
#include <optional>
#include <vector>

namespace miconsul::api {

struct HealthDependencies {
    storage::Database& database;
    plugins::PluginRegistry& registry;
    std::optional<redis::RedisAddress> redis;  // nullopt when not configured
    const std::atomic<bool>& draining;
    /// How rate limits are kept now ("shared (redis)", "local", "local (redis unreachable: …)").
    std::function<std::string()> rate_limit_mode;
};

std::vector<routing::RouteDefinition> health_routes(const HealthDependencies& deps);

}  // namespace miconsul::api
