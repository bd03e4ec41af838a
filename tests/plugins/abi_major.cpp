// Built for a future SDK major: must be refused.
#define RAW_ABI_MAJOR (MC_ABI_MAJOR + 1)
#define RAW_MANIFEST \
    R"({"name":"abi-major","version":"1.0.0","scope":"tenant","description":"x"})"
#include "raw_descriptor.h"
