#include "plugins/manifest.h"

#include "messages/composer.h"
#include "settings/schema_validator.h"

#include <miconsul/plugin_abi.h>

#include <algorithm>
#include <regex>
#include <set>

namespace miconsul::plugins {

namespace {
using Json = nlohmann::json;

// Names the core mounts under /t/{tenant}/ itself, now or in planned modules: a plugin of that
// name would collide with core routes.
constexpr std::string_view kReservedNames[] = {"api",      "events", "records", "messages",
                                               "webhooks", "runs",   "admin",   "core"};

bool is_valid_name(const std::string& name) {
    static const std::regex pattern("^[a-z][a-z0-9_-]{0,39}$");
    return std::regex_match(name, pattern);
}

bool is_semver(const std::string& version) {
    // semver.org's grammar, without build metadata ambiguities relaxed.
    static const std::regex pattern(
        R"(^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$)");
    return std::regex_match(version, pattern);
}

void read_migrations(const Json& document, Manifest& manifest, std::vector<std::string>& problems) {
    if (!document.contains("migrations")) return;
    const Json& list = document["migrations"];
    if (!list.is_array()) {
        problems.emplace_back("migrations must be an array");
        return;
    }
    std::set<int> versions;
    for (size_t i = 0; i < list.size(); ++i) {
        const Json& item = list[i];
        const std::string where = "migrations[" + std::to_string(i) + "]";
        if (!item.is_object() || !item.contains("version") ||
            !item["version"].is_number_integer() || item["version"].get<long long>() < 1 ||
            item["version"].get<long long>() > 1000000) {
            problems.push_back(where + ".version must be a positive integer");
            continue;
        }
        const int version = item["version"].get<int>();
        if (!versions.insert(version).second) {
            problems.push_back(where + ": version " + std::to_string(version) + " appears twice");
        }
        if (!item.contains("sql") || !item["sql"].is_string() ||
            storage::split_statements(item["sql"].get<std::string>()).empty()) {
            problems.push_back(where + ".sql must be a non-empty string of SQL");
            continue;
        }
        manifest.migrations.push_back(
            {version, item.value("description", std::string()), item["sql"].get<std::string>()});
    }
}
}  // namespace

std::string_view scope_name(Scope scope) {
    return scope == Scope::tenant ? "tenant" : "platform";
}

std::optional<std::string> abi_incompatibility(uint32_t major, uint32_t minor) {
    if (major != MC_ABI_MAJOR) {
        return "built for SDK ABI " + std::to_string(major) + "." + std::to_string(minor) +
               ", host speaks ABI major " + std::to_string(MC_ABI_MAJOR);
    }
    if (minor > MC_ABI_MINOR) {
        return "built for SDK ABI " + std::to_string(major) + "." + std::to_string(minor) +
               ", newer than the host's " + std::to_string(MC_ABI_MAJOR) + "." +
               std::to_string(MC_ABI_MINOR) + ": upgrade the host";
    }
    return std::nullopt;
}

ManifestResult parse_manifest(const std::string& manifest_json) {
    ManifestResult result;
    auto& problems = result.problems;
    const Json document = Json::parse(manifest_json, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded() || !document.is_object()) {
        problems.emplace_back("manifest is not a JSON object");
        return result;
    }
    if (document.contains("manifest_error")) {
        // The SDK reports a manifest() that threw this way, rather than an empty manifest.
        problems.push_back("the plugin failed to describe itself: " +
                           document["manifest_error"].dump());
        return result;
    }
    Manifest manifest;
    auto text_field = [&](const char* key, std::string& target) {
        if (!document.contains(key) || !document[key].is_string()) {
            problems.push_back(std::string(key) + " must be a string");
            return false;
        }
        target = document[key].get<std::string>();
        return true;
    };
    if (text_field("name", manifest.name) && !is_valid_name(manifest.name)) {
        problems.push_back("name '" + manifest.name +
                           "' must match [a-z][a-z0-9_-]* and be at most 40 characters");
    }
    if (std::find(std::begin(kReservedNames), std::end(kReservedNames), manifest.name) !=
        std::end(kReservedNames)) {
        problems.push_back("name '" + manifest.name + "' is reserved by the core's routes");
    }
    if (text_field("version", manifest.version) && !is_semver(manifest.version)) {
        problems.push_back("version '" + manifest.version + "' is not semver (e.g. 1.2.0)");
    }
    std::string scope;
    if (text_field("scope", scope)) {
        if (scope == "tenant") {
            manifest.scope = Scope::tenant;
        } else if (scope == "platform") {
            manifest.scope = Scope::platform;
        } else {
            problems.push_back("scope must be \"tenant\" or \"platform\"");
        }
    }
    text_field("description", manifest.description);

    manifest.settings_schema = document.value("settings_schema", Json{{"type", "object"}});
    for (const auto& problem : settings::check_settings_schema(manifest.settings_schema)) {
        problems.push_back("settings_schema: " + problem);
    }
    if (problems.empty()) {
        manifest.default_settings =
            settings::apply_defaults(manifest.settings_schema, Json::object());
    }
    read_migrations(document, manifest, problems);
    if (document.contains("events_emitted")) {
        const Json& events = document["events_emitted"];
        if (!events.is_array() || !std::all_of(events.begin(), events.end(),
                                               [](const Json& e) { return e.is_string(); })) {
            problems.emplace_back("events_emitted must be an array of strings");
        } else {
            manifest.events_emitted = events.get<std::vector<std::string>>();
        }
    }
    if (document.contains("templates")) {
        // Checked at load, so a template that cannot parse refuses the plugin, not a message.
        for (const auto& problem : messages::check_templates(document["templates"])) {
            problems.push_back("templates: " + problem);
        }
        manifest.templates = document["templates"];
    }
    if (problems.empty()) result.manifest = std::move(manifest);
    return result;
}

}  // namespace miconsul::plugins
