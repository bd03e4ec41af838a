// What the host knows about every plugin file it tried: the loaded plugins with what they
// registered, and the refused ones with their reasons.
#pragma once

#include "plugins/manifest.h"
#include "scheduler/cron.h"

#include <miconsul/plugin_abi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace miconsul::plugins {

struct RouteInfo {
    std::string method;
    std::string path;          // as the plugin registered it, relative to its mount
    std::string full_pattern;  // as the router knows it: /t/{tenant}/<name>/… or /p/<name>/…
    mc_route_access access = MC_ACCESS_TENANT;
    mc_route_fn handler = nullptr;
    void* user_data = nullptr;
};

struct ScheduleInfo {
    std::string name;
    std::string cron;        // as registered: it may name settings ("0 {reminder_hour} * * *")
    nlohmann::json options;  // as the plugin sent them
    // With the settings' defaults; a tenant's own is made from its settings when planned.
    std::shared_ptr<const scheduler::CronExpression> expression;
    std::string misfire = "skip";    // after downtime: "skip" the missed instants, or "run_once"
    int misfire_grace_seconds = 60;  // an instant this late still runs normally
    int timeout_seconds = 300;
    int max_attempts = 3;
    mc_schedule_fn handler = nullptr;
    void* user_data = nullptr;
};

struct EventHandlerInfo {
    std::string name;
    std::string event_type;
    mc_event_fn handler = nullptr;
    void* user_data = nullptr;
};

/// A plugin that passed every check. Immutable once built; its library is never unloaded.
struct LoadedPlugin {
    Manifest manifest;
    std::string file;
    const mc_plugin* descriptor = nullptr;
    std::vector<RouteInfo> routes;
    std::vector<ScheduleInfo> schedules;
    std::vector<EventHandlerInfo> event_handlers;
};

struct PluginRecord {
    std::string name;           // the manifest's name when loaded; the file name when refused
    std::string manifest_name;  // when refused after its manifest was read, the name it claimed
    std::string file;
    bool loaded = false;
    std::string reason;                          // why it was refused
    std::shared_ptr<const LoadedPlugin> plugin;  // set when loaded
};

/// Thread-safe.
class PluginRegistry {
public:
    void add(PluginRecord record);
    std::shared_ptr<const LoadedPlugin> find_loaded(std::string_view name) const;
    std::vector<PluginRecord> records() const;
    void mark_loading_finished();
    bool loading_finished() const;

private:
    mutable std::mutex mutex_;
    std::vector<PluginRecord> records_;
    bool loading_finished_ = false;
};

}  // namespace miconsul::plugins
