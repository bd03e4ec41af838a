#include "messages/composer.h"

#include "auth/secret_box.h"
#include "messages/template.h"

#include <regex>
#include <set>

namespace miconsul::messages {

namespace {

const std::set<std::string> kRequestFields = {"channel",         "to",       "patient_id",
                                              "template",        "content",  "data",
                                              "idempotency_key", "language", "attachments"};
const std::set<std::string> kVariantFields = {"subject", "text", "html", "whatsapp",
                                              "whatsapp_template"};

bool is_template_name(const std::string& name) {
    static const std::regex pattern(R"(^[a-z0-9][a-z0-9_-]{0,63}$)");
    return std::regex_match(name, pattern);
}

bool is_language(const std::string& language) {
    static const std::regex pattern(R"(^[a-z]{2}(-[A-Z]{2})?$)");
    return std::regex_match(language, pattern);
}

records::Refusal bad_request(Json errors) {
    return records::Refusal{400, "the message request is not valid", std::move(errors)};
}

/// A member that is text, or "" (absent, null or another type).
std::string text_member(const Json& object, const char* name) {
    const auto found = object.find(name);
    return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

Json field_error(const std::string& field, const std::string& message) {
    return Json{{"field", field}, {"message", message}};
}

/// The tenant's override laid field by field over the plugin's default, for one language.
Json variant_for(const TemplateSources& templates, const std::string& name,
                 const std::string& language) {
    Json variant = Json::object();
    const auto layer = [&](const Json& source) {
        if (!source.is_object() || !source.contains(name) || !source[name].is_object()) return;
        const Json& languages = source[name];
        if (!languages.contains(language) || !languages[language].is_object()) return;
        for (const auto& [field, value] : languages[language].items()) variant[field] = value;
    };
    layer(templates.defaults);
    layer(templates.overrides);
    return variant;
}

bool known_template(const TemplateSources& templates, const std::string& name) {
    const auto has = [&](const Json& source) {
        return source.is_object() && source.contains(name) && source[name].is_object();
    };
    return has(templates.defaults) || has(templates.overrides);
}

/// The variant to use: the language asked for, its base language ("es-MX" → "es"), the
/// clinic's, then Spanish and English; empty when the template has none of them.
std::pair<std::string, Json> choose_variant(const TemplateSources& templates,
                                            const std::string& name, const std::string& language) {
    std::vector<std::string> candidates;
    if (!language.empty()) candidates.push_back(language);
    if (language.size() > 2) candidates.push_back(language.substr(0, 2));
    candidates.push_back(templates.tenant_language);
    candidates.push_back("es");
    candidates.push_back("en");
    for (const auto& candidate : candidates) {
        Json variant = variant_for(templates, name, candidate);
        if (!variant.empty()) return {candidate, std::move(variant)};
    }
    return {"", Json::object()};
}

/// Renders a variant for a channel into the stored content.
Json render_variant(const Json& variant, const std::string& channel, const Json& data) {
    Json content = Json::object();
    const auto text_of = [&](const char* field) -> std::string {
        return variant.contains(field) && variant[field].is_string()
                   ? variant[field].get<std::string>()
                   : std::string();
    };
    const auto render = [&](const char* field, bool escape) -> std::string {
        try {
            return render_template(text_of(field), data, escape);
        } catch (const TemplateError& error) {
            throw TemplateError(std::string(field) + ", " + error.what());
        }
    };
    if (channel == "email") {
        if (text_of("subject").empty()) throw TemplateError("subject: the template has none");
        if (text_of("text").empty() && text_of("html").empty()) {
            throw TemplateError("text, html: the template has neither");
        }
        content["subject"] = render("subject", false);
        if (!text_of("text").empty()) content["text"] = render("text", false);
        if (!text_of("html").empty()) content["html"] = render("html", true);
        return content;
    }
    if (variant.contains("whatsapp_template") && variant["whatsapp_template"].is_object()) {
        const Json& approved = variant["whatsapp_template"];
        Json parameters = Json::array();
        for (const auto& parameter : approved.value("parameters", Json::array())) {
            parameters.push_back(render_template(parameter.get<std::string>(), data, false));
        }
        content["whatsapp_template"] = {{"name", approved.value("name", "")},
                                        {"language", approved.value("language", "es_MX")},
                                        {"parameters", parameters}};
    }
    const char* body_field = text_of("whatsapp").empty() ? "text" : "whatsapp";
    if (text_of(body_field).empty() && !content.contains("whatsapp_template")) {
        throw TemplateError("whatsapp, text: the template has neither");
    }
    if (!text_of(body_field).empty()) content["text"] = render(body_field, false);
    return content;
}

void check_attachments(const Json& request, Json& content, Json& errors) {
    if (!request.contains("attachments")) return;
    const Json& attachments = request["attachments"];
    if (!attachments.is_array()) {
        errors.push_back(field_error("/attachments", "must be a list"));
        return;
    }
    if (text_member(request, "channel") != "email" && !attachments.empty()) {
        errors.push_back(field_error("/attachments", "only email messages carry attachments"));
        return;
    }
    size_t total = 0;
    Json kept = Json::array();
    for (size_t i = 0; i < attachments.size(); ++i) {
        const Json& attachment = attachments[i];
        const std::string at = "/attachments/" + std::to_string(i);
        if (!attachment.is_object() || !attachment.contains("filename") ||
            !attachment["filename"].is_string() || !attachment.contains("content_base64") ||
            !attachment["content_base64"].is_string()) {
            errors.push_back(field_error(at, "needs filename and content_base64 (strings)"));
            continue;
        }
        const std::string filename = attachment["filename"];
        if (filename.empty() || filename.size() > 200 ||
            filename.find_first_of("\r\n\"/\\") != std::string::npos) {
            errors.push_back(field_error(at + "/filename",
                                         "must be 1-200 characters without quotes, slashes or "
                                         "line breaks"));
            continue;
        }
        const std::string content_type = attachment.contains("content_type")
                                             ? text_member(attachment, "content_type")
                                             : "application/octet-stream";
        static const std::regex media_type(R"(^[a-z]+/[a-zA-Z0-9.+-]+(; *[a-z]+=[a-zA-Z0-9-]+)?$)");
        if (!std::regex_match(content_type, media_type)) {
            errors.push_back(
                field_error(at + "/content_type", "must be a media type such as application/pdf"));
            continue;
        }
        const auto bytes = auth::base64_decode(attachment["content_base64"].get<std::string>());
        if (!bytes) {
            errors.push_back(
                field_error(at + "/content_base64", "must be non-empty standard base64"));
            continue;
        }
        total += bytes->size();
        kept.push_back({{"filename", filename},
                        {"content_type", content_type},
                        {"content_base64", attachment["content_base64"]}});
    }
    if (total > kMaxAttachmentBytes) {
        errors.push_back(field_error(
            "/attachments",
            "must add up to at most " + std::to_string(kMaxAttachmentBytes) + " bytes"));
    }
    if (!kept.empty()) content["attachments"] = std::move(kept);
}

}  // namespace

records::Outcome<Json> render_named(const std::string& name, const std::string& language,
                                    const Json& data, const TemplateSources& templates) {
    if (!known_template(templates, name)) {
        return records::Refusal{404, "no template named '" + name + "'", Json::array()};
    }
    const auto [chosen, variant] = choose_variant(templates, name, language);
    if (variant.empty()) {
        return records::Refusal{404, "template '" + name + "' has no variant in " + language,
                                Json::array()};
    }
    Json filled = data;
    if (filled.is_object() && !filled.contains("clinic") && !templates.clinic.empty()) {
        filled["clinic"] = templates.clinic;
    }
    try {
        Json rendered = {{"language", chosen}};
        rendered["email"] = render_variant(variant, "email", filled);
        if (variant.contains("whatsapp") || variant.contains("whatsapp_template") ||
            variant.contains("text")) {
            rendered["whatsapp"] = render_variant(variant, "whatsapp", filled);
        }
        return rendered;
    } catch (const TemplateError& error) {
        return records::Refusal{422, std::string("template '") + name + "': " + error.what(),
                                Json::array()};
    }
}

namespace {
records::Outcome<Draft> compose_checked(const Json& request, const std::string& tenant_id,
                                        const std::string& source, const TemplateSources& templates,
                                        records::Records& records);
}  // namespace

records::Outcome<Draft> compose(const Json& request, const std::string& tenant_id,
                                const std::string& source, const TemplateSources& templates,
                                records::Records& records) {
    try {
        return compose_checked(request, tenant_id, source, templates, records);
    } catch (const Json::exception& error) {
        // A value of an unexpected type deep inside (an attachment, a template parameter).
        return bad_request(Json::array(
            {field_error("", std::string("has a value of the wrong type: ") + error.what())}));
    }
}

namespace {
records::Outcome<Draft> compose_checked(const Json& request, const std::string& tenant_id,
                                        const std::string& source, const TemplateSources& templates,
                                        records::Records& records) {
    if (!request.is_object())
        return bad_request(Json::array({field_error("", "must be a JSON object")}));
    Json errors = Json::array();
    for (const auto& [name, value] : request.items()) {
        if (!kRequestFields.count(name))
            errors.push_back(field_error("/" + name, "is not a known field"));
    }
    const auto text = [&](const char* field) -> std::string {
        if (!request.contains(field)) return "";
        if (!request[field].is_string()) {
            errors.push_back(field_error(std::string("/") + field, "must be a string"));
            return "";
        }
        return request[field].get<std::string>();
    };
    Draft draft;
    draft.tenant_id = tenant_id;
    draft.source = source;
    draft.channel = text("channel");
    if (draft.channel != "email" && draft.channel != "whatsapp") {
        errors.push_back(field_error("/channel", "must be email or whatsapp"));
    }
    draft.idempotency_key = text("idempotency_key");
    if (draft.idempotency_key.empty() || draft.idempotency_key.size() > kMaxIdempotencyKey) {
        errors.push_back(field_error("/idempotency_key",
                                     "is required: 1 to " + std::to_string(kMaxIdempotencyKey) +
                                         " characters that name this message once and for all"));
    }
    draft.to = text("to");
    draft.patient_id = text("patient_id");
    draft.language = text("language");
    if (!draft.language.empty() && !is_language(draft.language)) {
        errors.push_back(field_error("/language", "must be a language such as es or en-US"));
    }
    draft.template_name = text("template");
    const bool inline_content = request.contains("content");
    if (draft.template_name.empty() == !inline_content) {
        errors.push_back(field_error("/template", "give either template (a name) or content"));
    } else if (inline_content && !request["content"].is_object()) {
        errors.push_back(field_error("/content", "must be an object of subject, text, html"));
    } else if (!draft.template_name.empty() && !known_template(templates, draft.template_name)) {
        errors.push_back(
            field_error("/template", "no template named '" + draft.template_name + "'"));
    }
    Json data = request.value("data", Json::object());
    if (!data.is_object()) errors.push_back(field_error("/data", "must be an object"));
    if (data.is_object() && !data.contains("clinic") && !templates.clinic.empty()) {
        data["clinic"] = templates.clinic;
    }
    Json content = Json::object();
    check_attachments(request, content, errors);
    if (!errors.empty()) return bad_request(std::move(errors));

    if (!draft.patient_id.empty()) {
        const auto patient = records.patient(tenant_id, draft.patient_id);
        if (!patient) {
            return records::Refusal{404, "no patient " + draft.patient_id, Json::array()};
        }
        if (draft.to.empty()) {
            draft.to = text_member(*patient, draft.channel == "email" ? "email" : "phone");
            if (draft.to.empty()) {
                return bad_request(Json::array({field_error(
                    "/to", draft.channel == "email" ? "the patient has no email address"
                                                    : "the patient has no phone number")}));
            }
        }
        if (draft.language.empty()) draft.language = text_member(*patient, "language");
        if (!data.contains("patient")) data["patient"] = *patient;
    }
    if (draft.channel == "email" ? !records::is_email(draft.to) : !records::is_e164(draft.to)) {
        return bad_request(Json::array({field_error(
            "/to", draft.channel == "email" ? "must be an email address"
                                            : "must be a phone number in E.164 form")}));
    }
    try {
        Json variant;
        if (inline_content) {
            variant = request["content"];
            for (const auto& [field, value] : variant.items()) {
                if (!kVariantFields.count(field)) {
                    return bad_request(
                        Json::array({field_error("/content/" + field, "is not a known field")}));
                }
            }
            if (draft.language.empty()) draft.language = templates.tenant_language;
        } else {
            auto [chosen, found] = choose_variant(templates, draft.template_name, draft.language);
            if (found.empty()) {
                return records::Refusal{422,
                                        "template '" + draft.template_name +
                                            "' has no variant in " + draft.language + ", " +
                                            templates.tenant_language + ", es or en",
                                        Json::array()};
            }
            draft.language = chosen;
            variant = std::move(found);
        }
        Json rendered = render_variant(variant, draft.channel, data);
        rendered.update(content);
        draft.content = std::move(rendered);
    } catch (const TemplateError& error) {
        return records::Refusal{
            422,
            (draft.template_name.empty() ? std::string("content")
                                         : "template '" + draft.template_name + "'") +
                ": " + error.what(),
            Json::array()};
    }
    return draft;
}
}  // namespace

std::vector<std::string> check_templates(const Json& templates) {
    std::vector<std::string> problems;
    if (!templates.is_object()) return {"templates must be an object of template names"};
    for (const auto& [name, languages] : templates.items()) {
        if (!is_template_name(name)) {
            problems.push_back("template name '" + name + "' must match [a-z0-9][a-z0-9_-]{0,63}");
            continue;
        }
        if (!languages.is_object()) {
            problems.push_back("template '" + name + "' must be an object of languages");
            continue;
        }
        for (const auto& [language, variant] : languages.items()) {
            if (language == "sample") continue;  // sample data for previews
            const std::string where = "template '" + name + "' (" + language + ")";
            if (!is_language(language)) {
                problems.push_back(where + ": '" + language +
                                   "' is not a language such as es or en-US");
                continue;
            }
            if (!variant.is_object()) {
                problems.push_back(where + " must be an object");
                continue;
            }
            for (const auto& [field, value] : variant.items()) {
                if (!kVariantFields.count(field)) {
                    problems.push_back(where + ": unknown field '" + field + "'");
                } else if (field == "whatsapp_template") {
                    if (!value.is_object() || !value.value("name", Json()).is_string() ||
                        !value.value("parameters", Json::array()).is_array()) {
                        problems.push_back(
                            where + ": whatsapp_template needs a name and a list of parameters");
                    }
                } else if (!value.is_string()) {
                    problems.push_back(where + ": " + field + " must be a string");
                } else if (auto error = template_syntax_error(value.get<std::string>());
                           !error.empty()) {
                    problems.push_back(where + ", " + field + ", " + error);
                }
            }
        }
    }
    return problems;
}

}  // namespace miconsul::messages
