// Configuration as code: `miconsul-host apply -f <file> [--dry-run]` and `miconsul-host export
// <tenant>`. Both talk to a running host's API (PUT and GET /api/v1/tenants/{id}/configuration)
// rather than to its database, so a change from a file is checked, stored as revisions,
// audited, published and seen by every instance exactly like one made in the panel.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

namespace miconsul::cli {

/// Where the host's API is and the platform admin token to call it with.
struct ApiTarget {
    std::string base_url;  // e.g. http://127.0.0.1:8080
    std::string token;
};

/// Makes the tenant that `file` names (its "tenant"."id") match it; with `dry_run`, only says
/// what would change. Prints the changes to `out`, problems to `err`. Returns the process exit
/// code: 0 done (or nothing to do), 1 refused or failed.
int apply_tenant_file(const ApiTarget& target, const std::filesystem::path& file, bool dry_run,
                      std::ostream& out, std::ostream& err);

/// Writes `tenant_id`'s configuration as the JSON file `apply` takes, to `out`. Returns the
/// exit code (0, or 1 with the problem on `err`).
int export_tenant(const ApiTarget& target, const std::string& tenant_id, std::ostream& out,
                  std::ostream& err);

/// One line per change of a configuration answer, e.g.
/// `~ plugin hello: settings /greeting "Hola" -> "Hi"`, or "no changes".
std::string describe_changes(const nlohmann::json& answer);

}  // namespace miconsul::cli
