// Built for a newer minor than the host's: may call what the host lacks, so refused.
#define RAW_ABI_MINOR (MC_ABI_MINOR + 1)
#define RAW_MANIFEST \
    R"({"name":"abi-minor","version":"1.0.0","scope":"tenant","description":"x"})"
#include "raw_descriptor.h"
