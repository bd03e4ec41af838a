// Builds a plugin descriptor by hand, bypassing the SDK's C++ layer, so a test plugin can
// claim any ABI version or manifest — what a stale or hostile library could do.
#pragma once

#include <miconsul/plugin_abi.h>

#ifndef RAW_ABI_MAJOR
#define RAW_ABI_MAJOR MC_ABI_MAJOR
#endif
#ifndef RAW_ABI_MINOR
#define RAW_ABI_MINOR MC_ABI_MINOR
#endif

namespace {
mc_status register_nothing(const mc_host_api*, mc_registrar*) { return MC_OK; }
}  // namespace

extern "C" MC_EXPORT const mc_plugin* miconsul_plugin_entry(void) {
    static const mc_plugin descriptor{sizeof(mc_plugin), RAW_ABI_MAJOR, RAW_ABI_MINOR,
                                      RAW_MANIFEST, &register_nothing};
    return &descriptor;
}
