// A plugin's manifest: parsed from the JSON text its descriptor carries, and checked in full
// before the plugin may register anything.
#pragma once

#include "storage/migrations.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace miconsul::plugins {

enum class Scope { tenant, platform };

struct Manifest {
    std::string name;
    std::string version;
    Scope scope = Scope::tenant;
    std::string description;
    nlohmann::json settings_schema;
    nlohmann::json default_settings;  // the schema's defaults applied to {}
    std::vector<storage::Migration> migrations;
    std::vector<std::string> events_emitted;
    nlohmann::json templates = nlohmann::json::object();  // message templates (docs/messages.md)
};

struct ManifestResult {
    std::optional<Manifest> manifest;   // set when valid
    std::vector<std::string> problems;  // every problem, when invalid
};

/// Parses and checks a manifest: name ([a-z][a-z0-9_-]{0,39}, not reserved by the core),
/// semver version, scope, description, settings schema (see settings::check_settings_schema),
/// migrations (positive, distinct versions with SQL), events_emitted (strings), templates
/// (messages::check_templates).
ManifestResult parse_manifest(const std::string& manifest_json);

/// Why a plugin built against ABI `major.minor` cannot run on this host, or nullopt if it can:
/// the major must be equal and the minor not newer than the host's.
std::optional<std::string> abi_incompatibility(uint32_t major, uint32_t minor);

std::string_view scope_name(Scope scope);

}  // namespace miconsul::plugins
