#pragma once

// Validation of plugin settings against the JSON Schema (draft 7 subset) that each plugin
// declares in its manifest. The host uses this in three steps:
//   1. check_settings_schema() when a plugin is loaded — a plugin with a broken schema is refused,
//      so mistakes surface at install time instead of when a tenant saves settings;
//   2. apply_defaults() on the tenant's stored settings;
//   3. validate() on the result, reporting every problem at once so an admin UI can mark all
//      offending fields in a single round trip.
//
// Only the keywords listed at check_schema() are understood. Anything else (e.g. $ref,
// patternProperties, allOf) is rejected by check_schema() rather than silently ignored, because an
// ignored constraint would let invalid settings through.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace miconsul::settings {

/// One failure: `path` is the JSON Pointer of the failing instance location ("" = root, e.g.
/// "/greeting" or "/items/2"), `message` a short English reason naming the keyword (e.g. "must be
/// at most 10 characters (maxLength)").
struct ValidationError {
    std::string path;
    std::string message;
};

/// Checks that `schema` is a well-formed schema using only the supported keywords. Returns one
/// human-readable problem per defect (empty = acceptable); each problem starts with the schema
/// location as a URI fragment ("#" = root, e.g. "#/properties/greeting: ...").
///
/// Supported keywords: type (string or non-empty array of distinct: object, array, string,
/// integer, number, boolean, null), properties, required, additionalProperties (bool or schema),
/// enum (non-empty array), const, minimum, maximum, exclusiveMinimum, exclusiveMaximum (draft-7
/// numeric form), minLength, maxLength, pattern (must compile as an ECMAScript regex), items
/// (schema or array of schemas), minItems, maxItems, default, plus the annotation keywords title,
/// description, examples, $schema, $id, $comment and format (format is never enforced). Boolean
/// schemas true/false are allowed. Unknown keywords, wrongly typed keyword values and a `default`
/// that does not validate against its own subschema are defects.
std::vector<std::string> check_schema(const nlohmann::json& schema);

/// check_schema() plus: the top level must declare "type": "object", since plugin settings are
/// always stored as a JSON object.
std::vector<std::string> check_settings_schema(const nlohmann::json& schema);

/// Validates `instance` against `schema` and returns every failure, not just the first (empty =
/// valid). `schema` is assumed to pass check_schema(); keywords whose values have the wrong type
/// are skipped instead of throwing, and a pattern that does not compile is reported as a failure.
/// Strings longer than 1024 bytes fail `pattern` without being matched, because std::regex
/// recurses per character and could otherwise overflow the stack on tenant input.
std::vector<ValidationError> validate(const nlohmann::json& schema, const nlohmann::json& instance);

/// Returns a copy of `instance` where every property that the schema's `properties` declare with a
/// `default` and that is missing is filled in, recursively for nested objects. Present values are
/// never overwritten, but present nested objects (and object-valued defaults that get inserted)
/// receive their own missing defaults. A missing nested object property without its own `default`
/// is created as {} when that yields at least one default (and its `type`, if declared, allows an
/// object). A non-object instance is returned unchanged. Array items are not touched.
nlohmann::json apply_defaults(const nlohmann::json& schema, const nlohmann::json& instance);

}  // namespace miconsul::settings
