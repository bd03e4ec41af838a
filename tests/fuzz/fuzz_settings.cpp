// libFuzzer target: settings validation (core/settings/schema_validator). Tenant admins send
// the settings; plugin authors write the schemas. Both are fuzzed:
//   - the input as settings against a fixed schema with every supported keyword;
//   - the input as "<schema>\0<settings>": a schema check_schema accepts is then used to
//     validate and fill defaults into the settings, as enabling a plugin does.
// Invariants: nothing throws or crashes, and filling defaults twice changes nothing more.
// Settings nested deeper than http::kMaxJsonDepth are skipped: the host refuses such a body
// before it is parsed (it found them: a deep value overflowed the stack in the copy
// apply_defaults makes).
#include "http/message.h"
#include "settings/schema_validator.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {
using nlohmann::json;

const json& fixed_schema() {
    static const json* schema = new json(json::parse(R"({
        "type": "object",
        "additionalProperties": false,
        "required": ["greeting"],
        "properties": {
            "greeting": {"type": "string", "minLength": 1, "maxLength": 80, "default": "Hola"},
            "punctuation": {"enum": ["", "!", "."], "default": ""},
            "phone": {"type": "string", "pattern": "^\\+[0-9]{8,15}$"},
            "hours": {"type": "integer", "minimum": 0, "maximum": 23, "default": 9},
            "ratio": {"type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 20},
                     "minItems": 0, "maxItems": 5},
            "pair": {"type": "array", "items": [{"type": "integer"}, {"type": "boolean"}]},
            "reminder": {"type": "object",
                         "properties": {"enabled": {"type": "boolean", "default": true},
                                        "days": {"type": "integer", "const": 1}},
                         "additionalProperties": {"type": "string"}}
        }
    })"));
    return *schema;
}

void validate_and_fill(const json& schema, const json& settings) {
    (void)miconsul::settings::validate(schema, settings);
    const json filled = miconsul::settings::apply_defaults(schema, settings);
    (void)miconsul::settings::validate(schema, filled);
    if (miconsul::settings::apply_defaults(schema, filled) != filled) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t separator = input.find('\0');
    if (separator == std::string_view::npos) {
        if (miconsul::http::json_nesting_exceeds(input)) return 0;
        const json settings = json::parse(input, nullptr, /*allow_exceptions=*/false);
        if (!settings.is_discarded()) validate_and_fill(fixed_schema(), settings);
        return 0;
    }
    const json schema = json::parse(input.substr(0, separator), nullptr, false);
    const std::string_view settings_text = input.substr(separator + 1);
    if (miconsul::http::json_nesting_exceeds(settings_text)) return 0;
    const json settings = json::parse(settings_text, nullptr, false);
    if (schema.is_discarded()) return 0;
    if (!miconsul::settings::check_schema(schema).empty()) return 0;
    (void)miconsul::settings::check_settings_schema(schema);
    if (!settings.is_discarded()) validate_and_fill(schema, settings);
    return 0;
}
