// One SQL statement whose parameters and results are JSON: what the SDK's sql service runs.
#pragma once

#include <soci/soci.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace miconsul::storage {

/// Binds `params` (null; an array, bound in order; or an object, bound to :name placeholders)
/// and runs `statement`. Returns the rows as an array of objects when the statement has result
/// columns, else {"affected_rows": N}. Strings, integers, floats and null bind as themselves,
/// booleans as 1/0, arrays and objects as their JSON text.
/// Throws std::invalid_argument for unusable params and soci::soci_error for SQL errors.
nlohmann::json run_json_statement(soci::session& session, const std::string& statement,
                                  const nlohmann::json& params);

/// The same for statements the host builds with many values (multi-row INSERTs and UPDATEs):
/// positional placeholders, written with positional_placeholder(), bound from a JSON array in
/// order. Named placeholders cost SQLite a scan per name, which thousands of them make slow.
nlohmann::json run_positional_statement(soci::session& session, const std::string& statement,
                                        const nlohmann::json& values);

/// The text of the `position`-th (from 1) positional placeholder for the session's backend:
/// "?" for SQLite, "$n" for PostgreSQL.
std::string positional_placeholder(const soci::session& session, size_t position);

/// Appends "(p, p, …), (p, …)" to `sql` for `rows` (each a JSON array of one row's values) and
/// the values to `values` in the same order: the VALUES list of a multi-row statement for
/// run_positional_statement. Placeholders are numbered on from what `values` already holds.
void append_values_rows(const soci::session& session, const std::vector<nlohmann::json>& rows,
                        std::string& sql, nlohmann::json& values);

/// A nullable text column of a row: nullopt for NULL.
std::optional<std::string> optional_text_column(const soci::row& row, std::size_t index);

/// An integer column of a dynamically typed row, whatever integer type the backend reports
/// (SQLite and PostgreSQL describe INTEGER and COUNT(*) differently).
long long integer_column(const soci::row& row, std::size_t index);

}  // namespace miconsul::storage
