// The message templates: Mustache's behaviour where a clinic's message needs it, and an error —
// never a blank — where a variable is missing.
#include "messages/template.h"

#include <gtest/gtest.h>

namespace {
using miconsul::messages::render_template;
using miconsul::messages::template_syntax_error;
using miconsul::messages::TemplateError;
using nlohmann::json;

std::string render(const std::string& text, const json& data, bool escape = false) {
    return render_template(text, data, escape);
}

std::string error_of(const std::string& text, const json& data) {
    try {
        render_template(text, data, false);
    } catch (const TemplateError& error) {
        return error.what();
    }
    return "";
}

TEST(TemplateTest, VariablesDottedNamesAndNumbers) {
    EXPECT_EQ(render("Hola {{patient.first_name}}, {{percent}}% el {{ day }}",
                     {{"patient", {{"first_name", "Ana"}}}, {"percent", 15}, {"day", "lunes"}}),
              "Hola Ana, 15% el lunes");
}

TEST(TemplateTest, HtmlIsEscapedOnlyWhereAskedAndNeverInTripleBraces) {
    const json data = {{"name", "<b>Ana & \"Luis\"</b>"}};
    EXPECT_EQ(render("{{name}}", data, true), "&lt;b&gt;Ana &amp; &quot;Luis&quot;&lt;/b&gt;");
    EXPECT_EQ(render("{{{name}}}|{{& name}}", data, true),
              "<b>Ana & \"Luis\"</b>|<b>Ana & \"Luis\"</b>");
    EXPECT_EQ(render("{{name}}", data, false), "<b>Ana & \"Luis\"</b>") << "plain text is not HTML";
}

TEST(TemplateTest, AMissingVariableIsAnErrorNamingItAndItsLine) {
    const std::string error =
        error_of("Hola {{first_name}},\nsu código es {{code}}", {{"first_name", "Ana"}});
    EXPECT_NE(error.find("missing variable 'code'"), std::string::npos) << error;
    EXPECT_NE(error.find("line 2"), std::string::npos) << error;
    EXPECT_NE(error_of("{{name}}", {{"name", nullptr}}), "") << "null is missing too";
    EXPECT_NE(error_of("{{patient}}", {{"patient", {{"a", 1}}}}), "") << "an object is not text";
}

TEST(TemplateTest, SectionsAreOptionalPartsAndRepeatOverLists) {
    const std::string text =
        "{{#discount}}Descuento: {{percent}}%{{/discount}}{{^discount}}Sin descuento{{/discount}}";
    EXPECT_EQ(render(text, {{"discount", {{"percent", 10}}}}), "Descuento: 10%");
    EXPECT_EQ(render(text, json::object()), "Sin descuento") << "an absent section is false";
    EXPECT_EQ(render(text, {{"discount", false}}), "Sin descuento");
    EXPECT_EQ(
        render("{{#items}}[{{name}}]{{/items}}", {{"items", {{{"name", "a"}}, {{"name", "b"}}}}}),
        "[a][b]");
    EXPECT_EQ(render("{{#names}}{{.}},{{/names}}", {{"names", {"x", "y"}}}), "x,y,");
    EXPECT_EQ(render("{{#items}}x{{/items}}", {{"items", json::array()}}), "");
    EXPECT_EQ(render("{{#a}}{{clinic}}{{/a}}", {{"a", {{"b", 1}}}, {"clinic", "Sol"}}), "Sol")
        << "names not in the section resolve outside it";
}

TEST(TemplateTest, StandaloneSectionLinesLeaveNoBlankLines) {
    EXPECT_EQ(render("Hola\n{{#vip}}\nVIP\n{{/vip}}\nAdiós\n", {{"vip", true}}),
              "Hola\nVIP\nAdiós\n");
    EXPECT_EQ(render("Hola\n{{#vip}}\nVIP\n{{/vip}}\nAdiós\n", {{"vip", false}}), "Hola\nAdiós\n");
    EXPECT_EQ(render("a {{! a comment }}b", json::object()), "a b");
}

TEST(TemplateTest, BrokenSyntaxIsReportedWithoutData) {
    EXPECT_EQ(template_syntax_error("Hola {{name}}"), "");
    EXPECT_NE(template_syntax_error("Hola {{name"), "");
    EXPECT_NE(template_syntax_error("{{#a}}x"), "");
    EXPECT_NE(template_syntax_error("{{#a}}x{{/b}}"), "");
    EXPECT_NE(template_syntax_error("x{{/a}}"), "");
    EXPECT_NE(template_syntax_error("{{> partial}}"), "");
    EXPECT_NE(template_syntax_error("{{}}"), "");
    EXPECT_THROW(render("{{#a}}x", {{"a", true}}), TemplateError);
}

}  // namespace
