// A settings schema with a misspelled type: must be refused before any tenant can use it.
#define RAW_MANIFEST                                                                   \
    R"({"name":"bad-schema","version":"1.0.0","scope":"tenant","description":"x",)"   \
    R"("settings_schema":{"type":"object","properties":{"hour":{"type":"integr"}}}})"
#include "raw_descriptor.h"
