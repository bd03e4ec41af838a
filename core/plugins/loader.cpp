#include "plugins/loader.h"

#include "plugins/host_services.h"
#include "storage/migrations.h"

#include <dlfcn.h>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>

namespace miconsul::plugins {

namespace {

// RTLD_NODELETE: a library stays mapped even after its handle is released, so nothing a
// plugin left behind (handler pointers, static objects) can dangle. Libraries are never
// unloaded; upgrades are restarts.
constexpr auto kLoadMode =
    static_cast<boost::dll::load_mode::type>(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

// The smallest descriptor the host can read: everything up to register_plugin.
constexpr size_t kDescriptorMinimumSize =
    offsetof(mc_plugin, register_plugin) + sizeof(mc_plugin::register_plugin);

struct Refusal {
    std::string name;  // the manifest's name once known
    std::string reason;
};

std::optional<Refusal> install(const std::filesystem::path& file, LoaderDependencies& deps,
                               std::shared_ptr<LoadedPlugin>& installed) {
    const std::string file_name = file.filename().string();
    boost::dll::shared_library library;
    try {
        library.load(boost::dll::fs::path(file.string()), kLoadMode);
    } catch (const std::exception& failure) {
        return Refusal{file_name, std::string("not a loadable shared library: ") + failure.what()};
    }
    if (!library.has(MC_PLUGIN_ENTRY_SYMBOL)) {
        return Refusal{file_name, std::string("missing entry symbol '") + MC_PLUGIN_ENTRY_SYMBOL +
                                      "' (export it with MICONSUL_PLUGIN)"};
    }
    const mc_plugin* descriptor = nullptr;
    try {
        descriptor = library.get<const mc_plugin*()>(MC_PLUGIN_ENTRY_SYMBOL)();
    } catch (...) {
        return Refusal{file_name, "the entry point threw an exception"};
    }
    if (descriptor == nullptr || descriptor->struct_size < kDescriptorMinimumSize ||
        descriptor->manifest_json == nullptr || descriptor->register_plugin == nullptr) {
        return Refusal{file_name, "the entry point returned an incomplete plugin descriptor"};
    }
    if (auto problem = abi_incompatibility(descriptor->abi_major, descriptor->abi_minor)) {
        return Refusal{file_name, *problem};
    }
    ManifestResult parsed = parse_manifest(descriptor->manifest_json);
    if (!parsed.manifest) {
        std::string reason = "invalid manifest: ";
        for (size_t i = 0; i < parsed.problems.size(); ++i) {
            reason += (i == 0 ? "" : "; ") + parsed.problems[i];
        }
        return Refusal{file_name, reason};
    }
    Manifest& manifest = *parsed.manifest;
    if (auto existing = deps.registry.find_loaded(manifest.name)) {
        return Refusal{manifest.name, "a plugin named '" + manifest.name +
                                          "' is already loaded from " + existing->file};
    }

    mc_registrar registrar;
    registrar.manifest = &manifest;
    mc_status status = MC_ERR_INTERNAL;
    try {
        status = descriptor->register_plugin(&host_api(), &registrar);
    } catch (...) {
        // Only a plugin that bypasses the SDK can let an exception reach here.
        registrar.error = "an exception escaped register_plugin";
    }
    if (status != MC_OK) {
        return Refusal{manifest.name, "registration failed: " +
                                          (registrar.error.empty() ? std::string("no reason given")
                                                                   : registrar.error)};
    }

    auto plugin = std::make_shared<LoadedPlugin>();
    plugin->manifest = std::move(manifest);
    plugin->file = file.string();
    plugin->descriptor = descriptor;
    plugin->routes = std::move(registrar.routes);
    plugin->schedules = std::move(registrar.schedules);
    plugin->event_handlers = std::move(registrar.event_handlers);

    std::vector<routing::RouteDefinition> definitions;
    for (const auto& route : plugin->routes) {
        definitions.push_back({route.method, route.full_pattern, "plugin " + plugin->manifest.name,
                               deps.bind_route(plugin, route),
                               route.access == MC_ACCESS_PUBLIC            ? "public"
                               : route.access == MC_ACCESS_TENANT_ADMIN    ? "tenant_admin"
                               : plugin->manifest.scope == Scope::platform ? "platform_admin"
                                                                           : "tenant"});
    }
    const std::string& name = plugin->manifest.name;
    if (auto collision = deps.router.find_conflict(definitions)) {
        return Refusal{name, "route collision: " + *collision};
    }
    // Platform plugins own tables in the platform database; tenant plugins get theirs when
    // enabled for a tenant. Migrated only once every other check has passed.
    if (plugin->manifest.scope == Scope::platform && !plugin->manifest.migrations.empty()) {
        try {
            deps.database.with_platform([&](soci::session& session) {
                storage::apply_migrations(session, deps.database.backend(), name,
                                          plugin->manifest.migrations);
            });
        } catch (const std::exception& failure) {
            return Refusal{name, failure.what()};
        }
    }
    if (auto collision = deps.router.add_all(std::move(definitions))) {
        return Refusal{name, "route collision: " + *collision};
    }
    installed = std::move(plugin);
    return std::nullopt;
}

}  // namespace

PluginRecord load_plugin_file(const std::filesystem::path& file, LoaderDependencies& deps) {
    std::shared_ptr<LoadedPlugin> installed;
    PluginRecord record;
    record.file = file.string();
    if (auto refusal = install(file, deps, installed)) {
        // A refused plugin is listed under its file name (its manifest may be what is wrong);
        // the manifest's name, when it was read, is kept beside it.
        record.name = file.filename().string();
        record.manifest_name = refusal->name == record.name ? "" : refusal->name;
        record.reason = refusal->reason;
        deps.log.error(
            "plugin refused",
            {{"file", record.file}, {"plugin", refusal->name}, {"reason", record.reason}});
    } else {
        record.name = installed->manifest.name;
        record.loaded = true;
        record.plugin = installed;
        deps.log.info("plugin loaded", {{"file", record.file},
                                        {"plugin", record.name},
                                        {"version", installed->manifest.version},
                                        {"scope", scope_name(installed->manifest.scope)},
                                        {"routes", installed->routes.size()},
                                        {"schedules", installed->schedules.size()},
                                        {"event_handlers", installed->event_handlers.size()}});
    }
    deps.registry.add(record);
    return record;
}

void load_plugin_directory(const std::filesystem::path& directory, LoaderDependencies& deps) {
    std::vector<std::filesystem::path> files;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
        if (entry.path().extension() == ".so" && entry.is_regular_file()) {
            files.push_back(entry.path());
        }
    }
    if (error) {
        deps.log.warn("plugin directory unreadable",
                      {{"dir", directory.string()}, {"reason", error.message()}});
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) load_plugin_file(file, deps);
    deps.registry.mark_loading_finished();
}

}  // namespace miconsul::plugins
