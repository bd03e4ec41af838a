// Loads plugin libraries: each file is checked step by step (a library, its entry symbol, its
// ABI, its manifest, its registration, its routes) and either installed whole or refused with
// the reason. A refused plugin never stops the host.
#pragma once

#include "logging/log.h"
#include "plugins/registry.h"
#include "routing/router.h"
#include "storage/database.h"

#include <filesystem>
#include <functional>
#include <memory>

namespace miconsul::plugins {

/// Turns a plugin's route into the router's handler (tenant gate, access check, the call).
using RouteBinder =
    std::function<routing::RouteHandler(std::shared_ptr<const LoadedPlugin>, const RouteInfo&)>;

struct LoaderDependencies {
    PluginRegistry& registry;
    routing::Router& router;
    storage::Database& database;
    RouteBinder bind_route;
    logging::Log log;
};

/// Tries every regular file ending in ".so" in `directory`, in name order, then marks loading
/// finished. A missing directory is logged and leaves the registry empty.
void load_plugin_directory(const std::filesystem::path& directory, LoaderDependencies& deps);

/// Tries one file; records and logs the outcome in the registry and returns it.
PluginRecord load_plugin_file(const std::filesystem::path& file, LoaderDependencies& deps);

}  // namespace miconsul::plugins
