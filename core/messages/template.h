// Mustache-style templates for messages, strict: a variable the data does not have is an
// error naming it, never a silent blank in a patient's message.
//
// The subset: {{name}} (HTML-escaped when asked), {{{name}}} and {{& name}} (raw), dotted names
// (patient.first_name), {{.}}, sections {{#name}}…{{/name}} (skipped for false, null, "" and
// empty lists or when absent — sections are how a template says "optional"; repeated for each
// item of a list; entered for an object), inverted sections {{^name}}…{{/name}}, comments
// {{! …}}. No partials, lambdas or delimiter changes.
//
// Why not kainjow/Mustache (Debian's libkainjow-mustache-dev): it renders a missing variable as
// nothing and offers no way to notice, which is the one behaviour this must not have.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace miconsul::messages {

/// A template that cannot be rendered with the data given; what() says where and why.
class TemplateError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Renders `text` with `data` (a JSON object). Numbers render as JSON writes them, booleans as
/// true/false. Throws TemplateError for a missing variable, a variable naming an object or a
/// list, an unclosed tag, or sections that do not nest.
std::string render_template(std::string_view text, const nlohmann::json& data, bool escape_html);

/// Every error the template's syntax has, without data: for checking templates when they are
/// saved. Empty when it parses.
std::string template_syntax_error(std::string_view text);

}  // namespace miconsul::messages
