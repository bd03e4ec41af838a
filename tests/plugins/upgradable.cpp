// One plugin in two versions (UPGRADABLE_VERSION 1 or 2), to prove that an upgrade migrates
// tenants that already enabled it and stores the defaults of settings the new version added.
#include <miconsul/plugin.hpp>

class Upgradable final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest{"upgradable", UPGRADABLE_VERSION == 1 ? "1.0.0" : "2.0.0",
                                    "tenant", "grows between versions", {}, {}, {}};
        manifest.settings_schema = {
            {"type", "object"},
            {"properties", {{"color", {{"type", "string"}, {"default", "blue"}}}}}};
        manifest.migrations = {{1, "notes", "CREATE TABLE upgradable_notes (body TEXT)"}};
        if (UPGRADABLE_VERSION >= 2) {
            manifest.settings_schema["properties"]["size"] = {{"type", "integer"}, {"default", 3}};
            manifest.migrations.push_back(
                {2, "tags", "CREATE TABLE upgradable_tags (tag TEXT); /* v2 */"});
        }
        return manifest;
    }
    void register_with(miconsul::Registrar& registrar) override {
        registrar.route("GET", "/state", [](miconsul::Context& context, const miconsul::Request&) {
            miconsul::Json tables = miconsul::Json::array();
            tables.push_back(context.sql("SELECT COUNT(*) AS n FROM upgradable_notes").at(0).at("n"));
            if (UPGRADABLE_VERSION >= 2) {
                tables.push_back(context.sql("SELECT COUNT(*) AS n FROM upgradable_tags").at(0).at("n"));
            }
            return miconsul::Response::json({{"settings", context.settings()}, {"tables", tables}});
        });
    }
};
MICONSUL_PLUGIN(Upgradable)
