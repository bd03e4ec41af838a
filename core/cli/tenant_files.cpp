#include "cli/tenant_files.h"

#include "outbound/http_post.h"
#include "storage/database.h"

#include <fstream>
#include <ostream>
#include <sstream>

namespace miconsul::cli {

namespace {
using Json = nlohmann::json;

constexpr std::chrono::seconds kTimeout{30};

std::vector<std::string> headers(const ApiTarget& target) {
    return {"Authorization: Bearer " + target.token, "Content-Type: application/json",
            "Accept: application/json"};
}

std::string trimmed_base(const ApiTarget& target) {
    std::string base = target.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base;
}

// The host's problem answer as text: its detail, then each failing field.
std::string problem_text(const outbound::ExchangeResult& answer) {
    if (answer.status == 0) return "cannot reach the host: " + answer.error;
    const Json problem = Json::parse(answer.body, nullptr, false);
    if (problem.is_discarded() || !problem.is_object()) {
        return "the host answered " + std::to_string(answer.status);
    }
    std::string text = "the host answered " + std::to_string(answer.status) + ": " +
                       problem.value("detail", problem.value("title", ""));
    for (const auto& error : problem.value("errors", Json::array())) {
        text += "\n  " + error.value("field", "") + ": " + error.value("message", "");
    }
    return text;
}

// Operations and paths, never values: settings may hold credentials, and this output ends up
// in CI logs.
void describe_patch(const Json& patch, std::ostringstream& lines) {
    if (!patch.is_array()) return;
    for (const auto& operation : patch) {
        lines << "    " << operation.value("op", "") << " " << operation.value("path", "") << "\n";
    }
}
}  // namespace

std::string describe_changes(const Json& answer) {
    std::ostringstream lines;
    const Json changes = answer.value("changes", Json::array());
    if (changes.empty()) return "no changes\n";
    for (const auto& change : changes) {
        const std::string kind = change.value("kind", "");
        // value(), not []: on a const object a missing key is undefined behaviour.
        const Json after_state = change.value("after", Json::object());
        const Json enabled = change.value("enabled", Json::object());
        const Json patch = change.value("changes", Json::array());
        if (kind == "tenant.created") {
            lines << "+ tenant " << after_state.value("id", "") << " " << after_state.dump()
                  << "\n";
        } else if (kind == "tenant.updated") {
            lines << "~ tenant\n";
            describe_patch(patch, lines);
        } else if (kind == "plugin") {
            const bool before = enabled.value("before", false);
            const bool after = enabled.value("after", false);
            const char* mark = before == after ? "~" : after ? "+" : "-";
            lines << mark << " plugin " << change.value("plugin", "")
                  << (before == after ? ""
                      : after         ? " (enable)"
                                      : " (disable)");
            if (change.contains("revision")) lines << " -> revision " << change["revision"];
            lines << "\n";
            describe_patch(patch, lines);
        }
    }
    return lines.str();
}

int apply_tenant_file(const ApiTarget& target, const std::filesystem::path& file, bool dry_run,
                      std::ostream& out, std::ostream& err) {
    std::ifstream input(file);
    if (!input) {
        err << "cannot read " << file.string() << "\n";
        return 1;
    }
    std::stringstream text;
    text << input.rdbuf();
    const Json document = Json::parse(text.str(), nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        err << file.string() << " is not a JSON object\n";
        return 1;
    }
    const Json tenant = document.value("tenant", Json::object());
    if (!tenant.is_object() || !tenant.contains("id") || !tenant["id"].is_string() ||
        tenant["id"].get<std::string>().empty()) {
        err << file.string() << ": \"tenant\".\"id\" must name the tenant\n";
        return 1;
    }
    const std::string tenant_id = tenant["id"];
    // It goes into the URL: anything but a tenant id could aim the admin token elsewhere.
    if (!storage::is_valid_tenant_id(tenant_id)) {
        err << file.string() << ": \"" << tenant_id << "\" is not a tenant id\n";
        return 1;
    }
    // Tenant ids are lower-case letters, digits and '-': nothing in them needs escaping.
    const auto answer = outbound::exchange("PUT",
                                           trimmed_base(target) + "/api/v1/tenants/" + tenant_id +
                                               "/configuration" + (dry_run ? "?dry_run=true" : ""),
                                           document.dump(), headers(target), kTimeout);
    if (answer.status != 200) {
        err << problem_text(answer) << "\n";
        return 1;
    }
    const Json result = Json::parse(answer.body, nullptr, false);
    out << (dry_run ? "dry run, nothing stored: " : "") << "tenant " << tenant_id << "\n"
        << describe_changes(result.is_discarded() ? Json::object() : result);
    return 0;
}

int export_tenant(const ApiTarget& target, const std::string& tenant_id, std::ostream& out,
                  std::ostream& err) {
    if (!storage::is_valid_tenant_id(tenant_id)) {
        err << "\"" << tenant_id << "\" is not a tenant id\n";
        return 1;
    }
    const auto answer = outbound::exchange(
        "GET", trimmed_base(target) + "/api/v1/tenants/" + tenant_id + "/configuration", "",
        headers(target), kTimeout);
    if (answer.status != 200) {
        err << problem_text(answer) << "\n";
        return 1;
    }
    const Json configuration = Json::parse(answer.body, nullptr, false);
    if (configuration.is_discarded()) {
        err << "the host's answer is not JSON\n";
        return 1;
    }
    // Keys sorted, two-space indent: a file that diffs well in Git.
    out << configuration.dump(2) << "\n";
    return 0;
}

}  // namespace miconsul::cli
