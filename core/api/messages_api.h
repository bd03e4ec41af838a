// Messages over HTTP. Management (platform admin): a tenant's messages, usage and messaging
// settings under /api/v1/tenants/{tenant}/. For the tenant: queue a message (n8n) and preview
// a template under /t/{tenant}/messages; YCloud's status and reply webhooks at
// /t/{tenant}/messages/whatsapp/webhook, authenticated by YCloud's signature, not a token.
#pragma once

#include "api/api_support.h"
#include "messages/messaging_settings.h"
#include "messages/outbox.h"
#include "plugins/registry.h"
#include "records/records.h"
#include "tenants/tenant_store.h"

#include <vector>

namespace miconsul::api {

struct MessagesDependencies {
    messages::Outbox& outbox;
    messages::MessagingSettings& settings;
    records::Records& records;
    tenants::TenantStore& tenants;
    const plugins::PluginRegistry& registry;
    bus::Bus& bus;
    const clock::Clock& clock;
    logging::Log log;
    const auth::Access& access;
    audit::AuditLog& audit;  // changes are recorded here
};

std::vector<routing::RouteDefinition> messages_routes(const MessagesDependencies& deps);

/// Whether `signature_header` ("t=<unix seconds>,s=<hex HMAC-SHA256 of "<t>.<body>">", as
/// YCloud signs) is right for `body` under `secret` and no more than five minutes from `now`.
bool ycloud_signature_valid(std::string_view signature_header, std::string_view body,
                            const std::string& secret, clock::TimePoint now);

}  // namespace miconsul::api
