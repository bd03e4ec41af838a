// The host side of the plugin ABI: the definitions of the opaque handles a plugin receives and
// the table of host functions (mc_host_api) that serve them.
#pragma once

#include "http/message.h"
#include "logging/log.h"
#include "plugins/registry.h"
#include "storage/database.h"

#include <miconsul/plugin_abi.h>

#include <string>
#include <vector>

namespace miconsul::bus {
class Bus;
}
namespace miconsul::records {
class Records;
}
namespace miconsul::messages {
class Outbox;
}
namespace miconsul::tenants {
class TenantStore;
}

namespace miconsul::plugins {

/// What host functions reach through a call's context.
struct HostServices {
    storage::Database& database;
    logging::Log log;
    bus::Bus* bus = nullptr;              // set once the bus exists; events are refused before that
    records::Records* records = nullptr;  // set once the records exist
    messages::Outbox* outbox = nullptr;   // set once the outbox exists
    tenants::TenantStore* tenants = nullptr;  // for a tenant's locale and plugin settings
};

/// The table handed to every plugin. A constant: every function finds its state through the
/// handle it is given.
const mc_host_api& host_api();

}  // namespace miconsul::plugins

/// One call in progress (request, run or event). Lives on the host's stack for the call.
struct mc_context {
    const miconsul::plugins::LoadedPlugin* plugin = nullptr;
    std::string tenant_id;  // empty for platform-scope calls
    std::string timezone;   // the tenant's IANA zone ("UTC" for platform calls)
    std::string request_id;
    miconsul::plugins::HostServices* services = nullptr;
    std::string last_error;
    std::string last_logged_error;  // the plugin's last error-level log line: a run's error
};

/// The response a route handler builds. Status 0 means the handler set none.
struct mc_response {
    int status = 0;
    miconsul::http::Fields headers;
    std::string body;
};

/// Collects what a plugin registers; the loader installs it only if all of it is acceptable.
struct mc_registrar {
    const miconsul::plugins::Manifest* manifest = nullptr;
    std::vector<miconsul::plugins::RouteInfo> routes;
    std::vector<miconsul::plugins::ScheduleInfo> schedules;
    std::vector<miconsul::plugins::EventHandlerInfo> event_handlers;
    std::string error;
};
