#include "plugins/registry.h"

namespace miconsul::plugins {

void PluginRegistry::add(PluginRecord record) {
    std::lock_guard lock(mutex_);
    records_.push_back(std::move(record));
}

std::shared_ptr<const LoadedPlugin> PluginRegistry::find_loaded(std::string_view name) const {
    std::lock_guard lock(mutex_);
    for (const auto& record : records_) {
        if (record.loaded && record.name == name) return record.plugin;
    }
    return nullptr;
}

std::vector<PluginRecord> PluginRegistry::records() const {
    std::lock_guard lock(mutex_);
    return records_;
}

void PluginRegistry::mark_loading_finished() {
    std::lock_guard lock(mutex_);
    loading_finished_ = true;
}

bool PluginRegistry::loading_finished() const {
    std::lock_guard lock(mutex_);
    return loading_finished_;
}

}  // namespace miconsul::plugins
