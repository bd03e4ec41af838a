// A manifest with a bad name, a non-semver version and an unknown scope.
#define RAW_MANIFEST \
    R"({"name":"Bad Name","version":"one","scope":"galaxy","description":"x"})"
#include "raw_descriptor.h"
