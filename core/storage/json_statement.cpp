#include "storage/json_statement.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cctype>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

namespace miconsul::storage {

// Why not SOCI's dynamic rows here: SOCI's SQLite backend runs a statement once to describe
// its columns (an INSERT with parameters would insert a row of NULLs), and it reports every
// computed column (COUNT(*), MAX(…)) as text. The native APIs of the same connections give
// each value its real type and run each statement exactly once.

namespace {
using Json = nlohmann::json;

// A placeholder found in SQL text: ":name" outside quotes and comments, not a "::" cast.
struct Placeholder {
    size_t start;
    size_t length;  // including the ':'
    std::string name;
};

std::vector<Placeholder> find_placeholders(const std::string& sql) {
    std::vector<Placeholder> found;
    char quote = 0;
    for (size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (quote != 0) {
            if (c == quote) quote = 0;
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
            while (i < sql.size() && sql[i] != '\n') ++i;
        } else if (c == ':' && i + 1 < sql.size() && sql[i + 1] == ':') {
            ++i;  // a PostgreSQL cast
        } else if (c == ':' && i + 1 < sql.size() &&
                   (std::isalpha(static_cast<unsigned char>(sql[i + 1])) || sql[i + 1] == '_')) {
            size_t end = i + 1;
            while (end < sql.size() &&
                   (std::isalnum(static_cast<unsigned char>(sql[end])) || sql[end] == '_')) {
                ++end;
            }
            found.push_back({i, end - i, sql.substr(i + 1, end - i - 1)});
            i = end - 1;
        }
    }
    return found;
}

// The JSON value for each distinct placeholder, in order of first appearance: from an object
// by name, from an array by position.
std::vector<const Json*> values_for(const std::vector<std::string>& names, const Json& params) {
    std::vector<const Json*> values;
    static const Json kNull = nullptr;
    for (size_t i = 0; i < names.size(); ++i) {
        if (params.is_object()) {
            auto found = params.find(names[i]);
            if (found == params.end()) {
                throw std::invalid_argument("no value for placeholder :" + names[i]);
            }
            values.push_back(&*found);
        } else if (params.is_array()) {
            if (i >= params.size()) {
                throw std::invalid_argument("placeholder :" + names[i] +
                                            " has no value in the parameter array");
            }
            values.push_back(&params[i]);
        } else {
            throw std::invalid_argument("placeholder :" + names[i] + " has no value");
        }
    }
    if (params.is_array() && params.size() > names.size()) {
        throw std::invalid_argument("more parameters than placeholders");
    }
    return values;
}

// Distinct placeholder names in order of first appearance, and each name's position in that
// order. Hashed: a multi-row INSERT built by the host binds thousands of placeholders.
struct PlaceholderNames {
    std::vector<std::string> names;
    std::unordered_map<std::string, size_t> position;
};

PlaceholderNames distinct_names(const std::vector<Placeholder>& placeholders) {
    PlaceholderNames distinct;
    for (const auto& placeholder : placeholders) {
        if (distinct.position.emplace(placeholder.name, distinct.names.size()).second) {
            distinct.names.push_back(placeholder.name);
        }
    }
    return distinct;
}

// ---- SQLite ----
namespace sq = ::sqlite_api;
// SQLITE_TRANSIENT names a type inside SOCI's wrapper namespace, so spell it out: SQLite copies.
const auto kSqliteCopies = reinterpret_cast<sq::sqlite3_destructor_type>(static_cast<intptr_t>(-1));

Json sqlite_value(sq::sqlite3_stmt* statement, int column) {
    switch (sq::sqlite3_column_type(statement, column)) {
        case SQLITE_INTEGER:
            return static_cast<long long>(sq::sqlite3_column_int64(statement, column));
        case SQLITE_FLOAT:
            return sq::sqlite3_column_double(statement, column);
        case SQLITE_NULL:
            return nullptr;
        default: {
            const auto* text = sq::sqlite3_column_text(statement, column);
            const int size = sq::sqlite3_column_bytes(statement, column);
            return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
        }
    }
}

void sqlite_bind(sq::sqlite3_stmt* statement, int index, const Json& value) {
    switch (value.type()) {
        case Json::value_t::null:
            sq::sqlite3_bind_null(statement, index);
            break;
        case Json::value_t::boolean:
            sq::sqlite3_bind_int64(statement, index, value.get<bool>() ? 1 : 0);
            break;
        case Json::value_t::number_integer:
            sq::sqlite3_bind_int64(statement, index, value.get<long long>());
            break;
        case Json::value_t::number_unsigned: {
            const auto number = value.get<unsigned long long>();
            if (number > static_cast<unsigned long long>(INT64_MAX)) {
                throw std::invalid_argument("integer parameter out of range");
            }
            sq::sqlite3_bind_int64(statement, index, static_cast<long long>(number));
            break;
        }
        case Json::value_t::number_float:
            sq::sqlite3_bind_double(statement, index, value.get<double>());
            break;
        default: {
            const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
            sq::sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()),
                                  kSqliteCopies);
        }
    }
}

using SqliteStatement = std::unique_ptr<sq::sqlite3_stmt, decltype(&sq::sqlite3_finalize)>;

SqliteStatement prepare_sqlite(sq::sqlite3* connection, const std::string& sql) {
    sq::sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    if (sq::sqlite3_prepare_v2(connection, sql.c_str(), static_cast<int>(sql.size()), &raw,
                               &tail) != SQLITE_OK) {
        throw soci::soci_error(sq::sqlite3_errmsg(connection));
    }
    SqliteStatement statement(raw, &sq::sqlite3_finalize);
    if (!statement) throw std::invalid_argument("empty SQL statement");
    for (; tail != nullptr && *tail != '\0'; ++tail) {
        if (!std::isspace(static_cast<unsigned char>(*tail)) && *tail != ';') {
            throw std::invalid_argument("one SQL statement per call");
        }
    }
    return statement;
}

Json step_sqlite(sq::sqlite3* connection, sq::sqlite3_stmt* statement) {
    const int columns = sq::sqlite3_column_count(statement);
    // sqlite3_changes() keeps the last INSERT/UPDATE/DELETE's count across other statements
    // (DDL, say); the difference of the running total is this statement's own.
    const auto changes_before = sq::sqlite3_total_changes(connection);
    Json rows = Json::array();
    for (;;) {
        const int step = sq::sqlite3_step(statement);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) throw soci::soci_error(sq::sqlite3_errmsg(connection));
        Json row = Json::object();
        for (int column = 0; column < columns; ++column) {
            row[sq::sqlite3_column_name(statement, column)] = sqlite_value(statement, column);
        }
        rows.push_back(std::move(row));
    }
    if (columns == 0) {
        return Json{{"affected_rows", sq::sqlite3_total_changes(connection) - changes_before}};
    }
    return rows;
}

Json run_sqlite(sq::sqlite3* connection, const std::string& sql, const Json& params) {
    auto statement = prepare_sqlite(connection, sql);
    std::vector<std::string> names;
    const int parameter_count = sq::sqlite3_bind_parameter_count(statement.get());
    for (int i = 1; i <= parameter_count; ++i) {
        const char* name = sq::sqlite3_bind_parameter_name(statement.get(), i);
        if (name == nullptr || name[0] != ':') {
            throw std::invalid_argument("use :name placeholders");
        }
        names.emplace_back(name + 1);
    }
    const auto values = values_for(names, params);
    for (size_t i = 0; i < values.size(); ++i) {
        sqlite_bind(statement.get(), static_cast<int>(i + 1), *values[i]);
    }
    return step_sqlite(connection, statement.get());
}

Json run_sqlite_positional(sq::sqlite3* connection, const std::string& sql, const Json& values) {
    auto statement = prepare_sqlite(connection, sql);
    if (sq::sqlite3_bind_parameter_count(statement.get()) != static_cast<int>(values.size())) {
        throw std::invalid_argument("as many values as placeholders are needed");
    }
    for (size_t i = 0; i < values.size(); ++i) {
        sqlite_bind(statement.get(), static_cast<int>(i + 1), values[i]);
    }
    return step_sqlite(connection, statement.get());
}

// ---- PostgreSQL ----
constexpr Oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kJson = 114, kFloat4 = 700,
              kFloat8 = 701, kNumeric = 1700, kJsonb = 3802;

Json postgres_value(const PGresult* result, int row, int column) {
    if (PQgetisnull(result, row, column)) return nullptr;
    const std::string text(PQgetvalue(result, row, column),
                           static_cast<size_t>(PQgetlength(result, row, column)));
    switch (PQftype(result, column)) {
        case kBool:
            return text == "t";
        case kInt2:
        case kInt4:
        case kInt8:
            return std::stoll(text);
        case kFloat4:
        case kFloat8:
        case kNumeric:
            return std::stod(text);
        case kJson:
        case kJsonb:
            return Json::parse(text, nullptr, false);
        default:
            return text;
    }
}

std::optional<std::string> postgres_text(const Json& value) {
    switch (value.type()) {
        case Json::value_t::null:
            return std::nullopt;
        case Json::value_t::boolean:
            return value.get<bool>() ? "1" : "0";
        case Json::value_t::string:
            return value.get<std::string>();
        default:
            return value.dump();
    }
}

Json exec_postgres(PGconn* connection, const std::string& sql,
                   const std::vector<const Json*>& values) {
    std::vector<std::optional<std::string>> texts;
    for (const Json* value : values) texts.push_back(postgres_text(*value));
    std::vector<const char*> pointers;
    for (const auto& text : texts) pointers.push_back(text ? text->c_str() : nullptr);
    std::unique_ptr<PGresult, decltype(&PQclear)> result(
        PQexecParams(connection, sql.c_str(), static_cast<int>(pointers.size()), nullptr,
                     pointers.data(), nullptr, nullptr, 0),
        &PQclear);
    const auto status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK) {
        const char* affected = PQcmdTuples(result.get());
        return Json{{"affected_rows", affected[0] == '\0' ? 0LL : std::stoll(affected)}};
    }
    if (status != PGRES_TUPLES_OK) throw soci::soci_error(PQresultErrorMessage(result.get()));
    Json rows = Json::array();
    const int columns = PQnfields(result.get());
    for (int row = 0; row < PQntuples(result.get()); ++row) {
        Json object = Json::object();
        for (int column = 0; column < columns; ++column) {
            object[PQfname(result.get(), column)] = postgres_value(result.get(), row, column);
        }
        rows.push_back(std::move(object));
    }
    return rows;
}

Json run_postgres(PGconn* connection, const std::string& sql, const Json& params) {
    const auto placeholders = find_placeholders(sql);
    const auto distinct = distinct_names(placeholders);
    const auto values = values_for(distinct.names, params);
    // :name → $n, the same n for every use of one name.
    std::string rewritten;
    size_t copied = 0;
    for (const auto& placeholder : placeholders) {
        rewritten.append(sql, copied, placeholder.start - copied);
        const auto position = distinct.position.at(placeholder.name);
        rewritten += "$" + std::to_string(position + 1);
        copied = placeholder.start + placeholder.length;
    }
    rewritten.append(sql, copied, std::string::npos);

    std::vector<const Json*> ordered(values.begin(), values.end());
    return exec_postgres(connection, rewritten, ordered);
}

Json run_postgres_positional(PGconn* connection, const std::string& sql, const Json& values) {
    std::vector<const Json*> ordered;
    for (const auto& value : values) ordered.push_back(&value);
    return exec_postgres(connection, sql, ordered);
}
}  // namespace

std::optional<std::string> optional_text_column(const soci::row& row, std::size_t index) {
    if (row.get_indicator(index) == soci::i_null) return std::nullopt;
    return row.get<std::string>(index);
}

long long integer_column(const soci::row& row, std::size_t index) {
    switch (row.get_properties(index).get_data_type()) {
        case soci::dt_integer:
            return row.get<int>(index);
        case soci::dt_long_long:
            return row.get<long long>(index);
        case soci::dt_unsigned_long_long:
            return static_cast<long long>(row.get<unsigned long long>(index));
        case soci::dt_double:
            return static_cast<long long>(row.get<double>(index));
        default:
            return std::stoll(row.get<std::string>(index));
    }
}

Json run_json_statement(soci::session& session, const std::string& statement, const Json& params) {
    if (!params.is_null() && !params.is_array() && !params.is_object()) {
        throw std::invalid_argument("parameters must be a JSON array, object or null");
    }
    // By name, not dynamic_cast: the backends' type information is not exported.
    const std::string backend = session.get_backend_name();
    if (backend == "sqlite3") {
        return run_sqlite(static_cast<soci::sqlite3_session_backend*>(session.get_backend())->conn_,
                          statement, params);
    }
    if (backend == "postgresql") {
        return run_postgres(
            static_cast<soci::postgresql_session_backend*>(session.get_backend())->conn_, statement,
            params);
    }
    throw std::logic_error("unsupported database backend");
}

std::string positional_placeholder(const soci::session& session, size_t position) {
    return session.get_backend_name() == "postgresql" ? "$" + std::to_string(position) : "?";
}

void append_values_rows(const soci::session& session, const std::vector<Json>& rows,
                        std::string& sql, Json& values) {
    for (size_t row = 0; row < rows.size(); ++row) {
        sql += row == 0 ? "(" : ", (";
        for (size_t column = 0; column < rows[row].size(); ++column) {
            // One value at a time: "?" placeholders bind in the order they appear.
            values.push_back(rows[row][column]);
            if (column > 0) sql += ", ";
            sql += positional_placeholder(session, values.size());
        }
        sql += ")";
    }
}

Json run_positional_statement(soci::session& session, const std::string& statement,
                              const Json& values) {
    if (!values.is_array()) throw std::invalid_argument("positional values must be an array");
    const std::string backend = session.get_backend_name();
    if (backend == "sqlite3") {
        return run_sqlite_positional(
            static_cast<soci::sqlite3_session_backend*>(session.get_backend())->conn_, statement,
            values);
    }
    if (backend == "postgresql") {
        return run_postgres_positional(
            static_cast<soci::postgresql_session_backend*>(session.get_backend())->conn_, statement,
            values);
    }
    throw std::logic_error("unsupported database backend");
}

}  // namespace miconsul::storage
