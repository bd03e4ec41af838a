#include "messages/template.h"

#include <vector>

namespace miconsul::messages {

namespace {

using Json = nlohmann::json;

struct Node {
    enum class Kind { text, variable, raw_variable, section, inverted_section };
    Kind kind = Kind::text;
    std::string text;  // the text, or the variable's or section's name
    int line = 1;      // where the tag is, for errors
    std::vector<Node> children;
};

std::string trimmed(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return "";
    const auto last = text.find_last_not_of(" \t");
    return std::string(text.substr(first, last - first + 1));
}

int line_of(std::string_view text, size_t position) {
    int line = 1;
    for (size_t i = 0; i < position && i < text.size(); ++i) line += text[i] == '\n' ? 1 : 0;
    return line;
}

std::string located(int line, const std::string& message) {
    return "line " + std::to_string(line) + ": " + message;
}

/// A section, inverted section, closing or comment tag alone on its line takes the line with
/// it, as Mustache does, so that templates can put them on lines of their own.
bool standalone(std::string_view text, size_t tag_start, size_t tag_end, size_t& line_start,
                size_t& line_end) {
    line_start = tag_start;
    while (line_start > 0 && (text[line_start - 1] == ' ' || text[line_start - 1] == '\t')) {
        --line_start;
    }
    if (line_start > 0 && text[line_start - 1] != '\n') return false;
    line_end = tag_end;
    while (line_end < text.size() && (text[line_end] == ' ' || text[line_end] == '\t')) ++line_end;
    if (line_end == text.size()) return true;
    if (text[line_end] == '\r' && line_end + 1 < text.size() && text[line_end + 1] == '\n') {
        line_end += 2;
        return true;
    }
    if (text[line_end] == '\n') {
        ++line_end;
        return true;
    }
    return false;
}

std::vector<Node> parse(std::string_view text) {
    std::vector<Node> root;
    // The open sections, innermost last: where parsed nodes go.
    std::vector<std::vector<Node>*> open = {&root};
    std::vector<Node*> open_sections;
    size_t position = 0;
    auto add_text = [&](size_t from, size_t to) {
        if (to > from)
            open.back()->push_back(
                Node{Node::Kind::text, std::string(text.substr(from, to - from)), 0, {}});
    };
    while (position < text.size()) {
        const size_t tag_start = text.find("{{", position);
        if (tag_start == std::string_view::npos) {
            add_text(position, text.size());
            break;
        }
        const int line = line_of(text, tag_start);
        const bool triple = text.substr(tag_start, 3) == "{{{";
        const size_t content_start = tag_start + (triple ? 3 : 2);
        const size_t content_end = text.find(triple ? "}}}" : "}}", content_start);
        if (content_end == std::string_view::npos) {
            throw TemplateError(located(
                line,
                "a tag opened with " + std::string(triple ? "{{{" : "{{") + " is never closed"));
        }
        const size_t tag_end = content_end + (triple ? 3 : 2);
        std::string content(text.substr(content_start, content_end - content_start));
        char sigil = triple ? '{' : (content.empty() ? '\0' : content[0]);
        if (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!' || sigil == '&' ||
            sigil == '>' || sigil == '=') {
            content = content.substr(1);
        } else if (!triple) {
            sigil = '\0';
        }
        const std::string name = trimmed(content);
        if (sigil != '!' && name.empty()) throw TemplateError(located(line, "an empty tag"));
        if (sigil == '>' || sigil == '=') {
            throw TemplateError(located(line, "partials and delimiter changes are not supported"));
        }
        size_t line_start = 0, line_end = 0;
        const bool block_tag = sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!';
        if (block_tag && standalone(text, tag_start, tag_end, line_start, line_end)) {
            add_text(position, line_start);
            position = line_end;
        } else {
            add_text(position, tag_start);
            position = tag_end;
        }
        switch (sigil) {
            case '!':
                break;
            case '#':
            case '^': {
                open.back()->push_back(
                    Node{sigil == '#' ? Node::Kind::section : Node::Kind::inverted_section,
                         name,
                         line,
                         {}});
                Node* section = &open.back()->back();
                open_sections.push_back(section);
                open.push_back(&section->children);
                break;
            }
            case '/':
                if (open_sections.empty()) {
                    throw TemplateError(located(line, "{{/" + name + "}} closes no section"));
                }
                if (open_sections.back()->text != name) {
                    throw TemplateError(located(
                        line, "{{/" + name + "}} closes {{#" + open_sections.back()->text + "}}"));
                }
                open_sections.pop_back();
                open.pop_back();
                break;
            case '{':
            case '&':
                open.back()->push_back(Node{Node::Kind::raw_variable, name, line, {}});
                break;
            default:
                open.back()->push_back(Node{Node::Kind::variable, name, line, {}});
        }
    }
    if (!open_sections.empty()) {
        throw TemplateError(
            located(open_sections.back()->line,
                    "section {{#" + open_sections.back()->text + "}} is never closed"));
    }
    return root;
}

/// Looks `name` up through the context stack, innermost first; a dotted name resolves its
/// first part that way and the rest inside it. Null when absent.
const Json* lookup(const std::vector<const Json*>& stack, const std::string& name) {
    if (name == ".") return stack.back();
    const auto dot = name.find('.');
    const std::string head = name.substr(0, dot);
    for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
        const Json& scope = **it;
        if (!scope.is_object()) continue;
        const auto found = scope.find(head);
        if (found == scope.end()) continue;
        const Json* value = &*found;
        size_t start = dot;
        while (start != std::string::npos) {
            const auto next = name.find('.', start + 1);
            const std::string part = name.substr(
                start + 1, next == std::string::npos ? std::string::npos : next - start - 1);
            if (!value->is_object() || !value->contains(part)) return nullptr;
            value = &(*value)[part];
            start = next;
        }
        return value;
    }
    return nullptr;
}

bool truthy(const Json* value) {
    if (value == nullptr || value->is_null()) return false;
    if (value->is_boolean()) return value->get<bool>();
    if (value->is_array()) return !value->empty();
    if (value->is_string()) return !value->get_ref<const std::string&>().empty();
    return true;
}

void append_escaped(std::string& out, const std::string& value) {
    for (const char c : value) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
}

void render_nodes(const std::vector<Node>& nodes, std::vector<const Json*>& stack, bool escape_html,
                  std::string& out) {
    for (const Node& node : nodes) {
        switch (node.kind) {
            case Node::Kind::text:
                out += node.text;
                break;
            case Node::Kind::variable:
            case Node::Kind::raw_variable: {
                const Json* value = lookup(stack, node.text);
                if (value == nullptr || value->is_null()) {
                    throw TemplateError(located(node.line, "missing variable '" + node.text + "'"));
                }
                if (value->is_object() || value->is_array()) {
                    throw TemplateError(located(
                        node.line, "variable '" + node.text + "' is a list or object, not text"));
                }
                const std::string text =
                    value->is_string() ? value->get<std::string>() : value->dump();
                if (escape_html && node.kind == Node::Kind::variable) {
                    append_escaped(out, text);
                } else {
                    out += text;
                }
                break;
            }
            case Node::Kind::section: {
                const Json* value = lookup(stack, node.text);
                if (!truthy(value)) break;
                if (value->is_array()) {
                    for (const Json& item : *value) {
                        stack.push_back(&item);
                        render_nodes(node.children, stack, escape_html, out);
                        stack.pop_back();
                    }
                } else {
                    stack.push_back(value);
                    render_nodes(node.children, stack, escape_html, out);
                    stack.pop_back();
                }
                break;
            }
            case Node::Kind::inverted_section:
                if (!truthy(lookup(stack, node.text))) {
                    render_nodes(node.children, stack, escape_html, out);
                }
                break;
        }
    }
}

}  // namespace

std::string render_template(std::string_view text, const nlohmann::json& data, bool escape_html) {
    const std::vector<Node> nodes = parse(text);
    std::vector<const Json*> stack = {&data};
    std::string out;
    out.reserve(text.size() + text.size() / 2);
    render_nodes(nodes, stack, escape_html, out);
    return out;
}

std::string template_syntax_error(std::string_view text) {
    try {
        parse(text);
        return "";
    } catch (const TemplateError& error) {
        return error.what();
    }
}

}  // namespace miconsul::messages
