// Turns a request to send a message — from a plugin through the SDK, or from n8n over HTTP —
// into the rendered message the outbox stores: recipient and language filled in from the
// patient, template chosen (the tenant's override, else the plugin's default) and rendered,
// attachments decoded and checked. Everything wrong with the request is found here, before
// anything is stored.
#pragma once

#include "records/records.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace miconsul::messages {

using Json = nlohmann::json;

/// A message ready for the outbox.
struct Draft {
    std::string tenant_id;
    std::string source;  // the plugin's name, or "api"
    std::string idempotency_key;
    std::string channel;  // "email" or "whatsapp"
    std::string to;
    std::string patient_id;  // "" when the recipient is not a patient (a doctor, an admin)
    std::string template_name, language;
    /// {"subject", "text", "html", "attachments": [{"filename", "content_type",
    /// "content_base64"}], "whatsapp_template": {"name", "language", "parameters": [...]}}
    Json content;
};

/// Where templates come from for one request.
struct TemplateSources {
    Json defaults = Json::object();      // the plugin manifest's "templates"
    Json overrides = Json::object();     // the tenant's plugin settings' "templates"
    std::string tenant_language = "es";  // from the tenant's locale ("es-MX" → "es")
    // The tenant's name: a template's {{clinic}} unless the data brings its own.
    std::string clinic;
};

/// Limits of one message.
inline constexpr size_t kMaxAttachmentBytes = 10 * 1024 * 1024;  // all attachments together
inline constexpr size_t kMaxIdempotencyKey = 200;

/// Builds the draft for `request` (docs/messages.md, "Queueing a message"), or refuses it:
/// 400 with the failing fields, 404 for an unknown patient, 422 for a template that cannot
/// be rendered (a missing variable names it).
records::Outcome<Draft> compose(const Json& request, const std::string& tenant_id,
                                const std::string& source, const TemplateSources& templates,
                                records::Records& records);

/// Renders one template of `templates` in `language` with `data` (for previews); same
/// refusals as compose.
records::Outcome<Json> render_named(const std::string& name, const std::string& language,
                                    const Json& data, const TemplateSources& templates);

/// Problems of a "templates" object (a manifest's or a tenant's): names, languages, fields,
/// and each template's syntax. Empty when it is acceptable.
std::vector<std::string> check_templates(const Json& templates);

}  // namespace miconsul::messages
