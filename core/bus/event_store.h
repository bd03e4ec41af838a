// Events as the platform database records them: the durable log that delivery (handlers,
// webhooks) reads from. Shaped like CloudEvents: id, type, tenant, source, time, data.
#pragma once

#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <string>

namespace miconsul::bus {

/// Stores one event and returns its new id (a UUID). Throws on storage failure.
/// `tenant_id` is "" for platform events; `source` is "core" or a plugin's name.
std::string store_event(storage::Database& database, const std::string& tenant_id,
                        const std::string& source, const std::string& type,
                        const nlohmann::json& data);

}  // namespace miconsul::bus
