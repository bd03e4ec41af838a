#include "records/records.h"

// The Debian libdate-tz is built against the system zoneinfo (see scheduler/cron.cpp).
#if !defined(USE_OS_TZDB) || USE_OS_TZDB != 1
#error "records.cpp must be compiled with -DUSE_OS_TZDB=1 to match libdate-tz"
#endif

#include "http/message.h"
#include "ids/ids.h"
#include "storage/json_statement.h"
#include "storage/migrations.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <map>
#include <regex>
#include <tuple>

namespace miconsul::records {

bool is_e164(const std::string& phone) {
    static const std::regex pattern(R"(^\+[1-9][0-9]{7,14}$)");
    return std::regex_match(phone, pattern);
}

bool is_email(const std::string& email) {
    static const std::regex pattern(R"(^[^@\s]+@[^@\s]+\.[^@\s]+$)");
    return email.size() <= 254 && std::regex_match(email, pattern);
}

namespace {
using clock::TimePoint;

constexpr size_t kMaxName = 200;
constexpr size_t kMaxNotes = 4000;
constexpr size_t kMaxExternalId = 128;
constexpr long long kMaxAmountCents = 1'000'000'000'000LL;  // ten billion in major units
constexpr int kMaxDurationMinutes = 24 * 60;

const std::set<std::string> kAppointmentStatuses = {"scheduled", "confirmed", "cancelled",
                                                    "completed", "no-show"};
const std::set<std::string> kPaymentMethods = {"cash", "card", "transfer", "check", "other"};

// Field checks: each returns the message for a bad value, or "" when it is good.
std::string text_problem(const Json& value, size_t max, bool required) {
    if (!value.is_string()) return "must be a string";
    const auto& text = value.get_ref<const std::string&>();
    if (required && text.find_first_not_of(" \t") == std::string::npos) return "must not be empty";
    if (text.size() > max) return "must be at most " + std::to_string(max) + " characters";
    return "";
}

std::optional<date::year_month_day> parse_date(const std::string& text) {
    static const std::regex pattern(R"(^([0-9]{4})-([0-9]{2})-([0-9]{2})$)");
    std::smatch match;
    if (!std::regex_match(text, match, pattern)) return std::nullopt;
    const date::year_month_day day{date::year{std::stoi(match[1])},
                                   date::month{static_cast<unsigned>(std::stoi(match[2]))},
                                   date::day{static_cast<unsigned>(std::stoi(match[3]))}};
    if (!day.ok()) return std::nullopt;
    return day;
}

Json nullable(const Json& row, const char* column) {
    return row.contains(column) ? row.at(column) : Json(nullptr);
}

// Each kind: the API's fields and how each is checked. `changes` is a whole record when
// `creating`, else a partial one; `row` receives the columns to write.
struct FieldErrors {
    Json list = Json::array();
    void add(const std::string& field, const std::string& message) {
        list.push_back({{"field", "/" + field}, {"message", message}});
    }
    bool empty() const { return list.empty(); }
};

void check_unknown(const Json& input, std::initializer_list<const char*> allowed,
                   FieldErrors& errors) {
    for (const auto& [name, value] : input.items()) {
        if (std::none_of(allowed.begin(), allowed.end(),
                         [&](const char* field) { return name == field; })) {
            errors.add(name, "unknown field");
        }
    }
}

// An optional text column that may be cleared with null; `check` vets a present value.
void optional_text(const Json& input, const char* field, size_t max, Json& row, FieldErrors& errors,
                   const std::function<std::string(const std::string&)>& check = nullptr) {
    if (!input.contains(field)) return;
    const Json& value = input.at(field);
    if (value.is_null()) {
        row[field] = nullptr;
        return;
    }
    std::string problem = text_problem(value, max, true);
    if (problem.empty() && check) problem = check(value.get<std::string>());
    if (!problem.empty()) {
        errors.add(field, problem);
        return;
    }
    row[field] = value;
}

void required_text(const Json& input, const char* field, size_t max, bool creating, Json& row,
                   FieldErrors& errors) {
    if (!input.contains(field)) {
        if (creating) errors.add(field, "is required");
        return;
    }
    const std::string problem = text_problem(input.at(field), max, true);
    if (!problem.empty()) {
        errors.add(field, problem);
        return;
    }
    row[field] = input.at(field);
}

std::string phone_problem(const std::string& phone) {
    return is_e164(phone) ? "" : "must be in E.164 form, such as +525512345678";
}

std::string email_problem(const std::string& email) {
    return is_email(email) ? "" : "must be an email address";
}

Json patient_row(const Json& input, bool creating, const std::string& today, FieldErrors& errors) {
    check_unknown(input,
                  {"first_name", "last_name", "birth_date", "phone", "email", "language", "consent",
                   "external_id"},
                  errors);
    Json row = Json::object();
    required_text(input, "first_name", kMaxName, creating, row, errors);
    if (input.contains("last_name") || creating) {
        const Json value = input.value("last_name", Json(""));
        const std::string problem = text_problem(value, kMaxName, false);
        if (problem.empty()) {
            row["last_name"] = value;
        } else {
            errors.add("last_name", problem);
        }
    }
    optional_text(input, "birth_date", 10, row, errors, [&](const std::string& text) {
        if (!parse_date(text)) return std::string("must be a date, YYYY-MM-DD");
        if (text > today) return std::string("must not be in the future");
        return std::string();
    });
    if (row.contains("birth_date")) {
        row["birth_month_day"] = row["birth_date"].is_null()
                                     ? Json(nullptr)
                                     : Json(row["birth_date"].get<std::string>().substr(5));
    }
    optional_text(input, "phone", 16, row, errors, phone_problem);
    optional_text(input, "email", 254, row, errors, email_problem);
    optional_text(input, "external_id", kMaxExternalId, row, errors);
    if (input.contains("language")) {
        static const std::regex language(R"(^[a-z]{2}$)");
        const Json& value = input.at("language");
        if (value.is_string() && std::regex_match(value.get<std::string>(), language)) {
            row["language"] = value;
        } else {
            errors.add("language", "must be a two-letter language code, such as es or en");
        }
    } else if (creating) {
        row["language"] = "es";
    }
    if (input.contains("consent")) {
        const Json& consent = input.at("consent");
        bool good = consent.is_object();
        if (good) {
            for (const auto& [channel, value] : consent.items()) {
                if ((channel != "email" && channel != "whatsapp") || !value.is_boolean()) {
                    good = false;
                }
            }
        }
        if (good) {
            if (consent.contains("email"))
                row["consent_email"] = consent["email"].get<bool>() ? 1 : 0;
            if (consent.contains("whatsapp")) {
                row["consent_whatsapp"] = consent["whatsapp"].get<bool>() ? 1 : 0;
            }
        } else {
            errors.add("consent",
                       R"(must be an object such as {"email": true, "whatsapp": false})");
        }
    }
    if (creating) {
        if (!row.contains("consent_email")) row["consent_email"] = 0;
        if (!row.contains("consent_whatsapp")) row["consent_whatsapp"] = 0;
    }
    return row;
}

Json doctor_row(const Json& input, bool creating, FieldErrors& errors) {
    check_unknown(input, {"name", "email", "phone", "external_id"}, errors);
    Json row = Json::object();
    required_text(input, "name", kMaxName, creating, row, errors);
    optional_text(input, "phone", 16, row, errors, phone_problem);
    optional_text(input, "email", 254, row, errors, email_problem);
    optional_text(input, "external_id", kMaxExternalId, row, errors);
    return row;
}

Json patient_json(const Json& row) {
    return {{"id", row.at("id")},
            {"first_name", row.at("first_name")},
            {"last_name", row.at("last_name")},
            {"birth_date", nullable(row, "birth_date")},
            {"phone", nullable(row, "phone")},
            {"email", nullable(row, "email")},
            {"language", row.at("language")},
            {"consent",
             {{"email", row.at("consent_email").get<long long>() != 0},
              {"whatsapp", row.at("consent_whatsapp").get<long long>() != 0}}},
            {"external_id", nullable(row, "external_id")},
            {"created_at", row.at("created_at")},
            {"updated_at", row.at("updated_at")}};
}

Json doctor_json(const Json& row) {
    return {{"id", row.at("id")},
            {"name", row.at("name")},
            {"email", nullable(row, "email")},
            {"phone", nullable(row, "phone")},
            {"external_id", nullable(row, "external_id")},
            {"created_at", row.at("created_at")},
            {"updated_at", row.at("updated_at")}};
}

Json appointment_json(const Json& row) {
    return {{"id", row.at("id")},
            {"patient_id", row.at("patient_id")},
            {"doctor_id", row.at("doctor_id")},
            {"start", row.at("start_at")},
            {"end", row.at("end_at")},
            {"duration_minutes", row.at("duration_minutes")},
            {"status", row.at("status")},
            {"notes", nullable(row, "notes")},
            {"external_id", nullable(row, "external_id")},
            {"created_at", row.at("created_at")},
            {"updated_at", row.at("updated_at")}};
}

Json payment_json(const Json& row) {
    return {{"id", row.at("id")},
            {"patient_id", row.at("patient_id")},
            {"doctor_id", nullable(row, "doctor_id")},
            {"amount_cents", row.at("amount_cents")},
            {"currency", row.at("currency")},
            {"method", row.at("method")},
            {"paid_at", row.at("paid_at")},
            {"external_id", nullable(row, "external_id")},
            {"created_at", row.at("created_at")}};
}

// One row of `table` by id, as the JSON of its columns; null if none.
Json row_by_id(soci::session& session, const std::string& table, const std::string& id) {
    const Json rows = storage::run_json_statement(
        session, "SELECT * FROM " + table + " WHERE id = :id", {{"id", id}});
    return rows.empty() ? Json(nullptr) : rows.front();
}

// Stores an event of a change in the tenant's database, in the change's transaction: the
// records' outbox (Records::forward publishes it).
void stage(soci::session& session, const std::string& type, const Json& data) {
    storage::run_json_statement(
        session,
        "INSERT INTO record_events (id, type, data, created_at) VALUES"
        " (:id, :type, :data, :created_at)",
        {{"id", ids::time_ordered_uuid(std::chrono::system_clock::now())},
         {"type", type},
         {"data", data.dump(-1, ' ', false, Json::error_handler_t::replace)},
         {"created_at", clock::now_text()}});
}

// INSERT of the row's columns.
void insert_row(soci::session& session, const std::string& table, const Json& row) {
    std::string columns, placeholders;
    for (const auto& [name, value] : row.items()) {
        columns += (columns.empty() ? "" : ", ") + name;
        placeholders += (placeholders.empty() ? ":" : ", :") + name;
    }
    storage::run_json_statement(
        session, "INSERT INTO " + table + " (" + columns + ") VALUES (" + placeholders + ")", row);
}

// UPDATE of the row's columns (their names come from the validators, never from input).
void update_row(soci::session& session, const std::string& table, const std::string& id,
                const Json& row) {
    std::string assignments;
    Json params = row;
    for (const auto& [name, value] : row.items()) {
        assignments += (assignments.empty() ? "" : ", ") + name + " = :" + name;
    }
    params["row_id"] = id;
    storage::run_json_statement(
        session, "UPDATE " + table + " SET " + assignments + " WHERE id = :row_id", params);
}

// A 409 when another record of the kind (`table` is its plural) has the row's external id.
std::optional<Refusal> external_id_taken(soci::session& session, const std::string& kind,
                                         const Json& row, const std::string& self);

// Whether another record of `table` has this external id.
std::optional<std::string> external_id_owner(soci::session& session, const std::string& table,
                                             const Json& row, const std::string& self) {
    if (!row.contains("external_id") || row["external_id"].is_null()) return std::nullopt;
    const Json rows = storage::run_json_statement(
        session, "SELECT id FROM " + table + " WHERE external_id = :external_id AND id <> :self",
        {{"external_id", row["external_id"]}, {"self", self}});
    if (rows.empty()) return std::nullopt;
    return rows.front().at("id").get<std::string>();
}

std::optional<Refusal> external_id_taken(soci::session& session, const std::string& kind,
                                         const Json& row, const std::string& self) {
    if (auto owner = external_id_owner(session, kind + "s", row, self)) {
        return Refusal{409, kind + " " + *owner + " already has this external_id"};
    }
    return std::nullopt;
}

// Appends " AND <name> = :<name>" for each of `names` present in `filters`.
void append_filters(const Json& filters, std::initializer_list<const char*> names, std::string& sql,
                    Json& params) {
    for (const char* field : names) {
        if (filters.contains(field)) {
            sql += std::string(" AND ") + field + " = :" + field;
            params[field] = filters[field];
        }
    }
}

// A page read with LIMIT limit + 1: drops the extra item and makes the cursor of the last kept.
Page trimmed_page(Json items, size_t limit,
                  const std::function<std::string(const Json&)>& cursor_of) {
    Page page;
    page.items = std::move(items);
    if (page.items.size() > limit) {
        page.items.erase(page.items.end() - 1);
        page.next_cursor = cursor_of(page.items.back());
    }
    return page;
}

Refusal invalid(const std::string& detail, FieldErrors& errors) {
    return Refusal{400, detail, std::move(errors.list)};
}

std::string utc_text(TimePoint instant) {
    return clock::rfc3339_utc(instant);
}

// PostgreSQL: serialise bookings of one doctor across instances for the length of the
// transaction; SQLite has one writer at a time already.
void lock_doctor_calendar(soci::session& session, storage::Backend backend,
                          const std::string& doctor_id) {
    if (backend != storage::Backend::postgresql) return;
    storage::run_json_statement(session, "SELECT pg_advisory_xact_lock(hashtext(:key))",
                                {{"key", "appointments:" + doctor_id}});
}

// The appointment of the doctor that overlaps [start, end), other than `self`; null if none.
Json overlapping(soci::session& session, const std::string& doctor_id, const std::string& start,
                 const std::string& end, const std::string& self) {
    const Json rows = storage::run_json_statement(
        session,
        "SELECT id, start_at, end_at FROM appointments WHERE doctor_id = :doctor AND"
        " status <> 'cancelled' AND start_at < :end AND end_at > :start AND id <> :self"
        " ORDER BY start_at LIMIT 1",
        {{"doctor", doctor_id}, {"start", start}, {"end", end}, {"self", self}});
    return rows.empty() ? Json(nullptr) : rows.front();
}

// The 409 for a booking that overlaps `clash` (what overlapping() found).
Refusal clash_refusal(const Json& clash) {
    return Refusal{409, "the doctor has appointment " + clash["id"].get<std::string>() + " from " +
                            clash["start_at"].get<std::string>() + " to " +
                            clash["end_at"].get<std::string>()};
}

// The row's patient_id (and doctor_id, when it has one) that name no record here.
FieldErrors unknown_references(soci::session& session, const Json& row) {
    FieldErrors unknown;
    if (row_by_id(session, "patients", row["patient_id"]).is_null()) {
        unknown.add("patient_id", "no such patient");
    }
    if (row.contains("doctor_id") && !row["doctor_id"].is_null() &&
        row_by_id(session, "doctors", row["doctor_id"]).is_null()) {
        unknown.add("doctor_id", "no such doctor");
    }
    return unknown;
}

// Whether the patient has no payment yet (read in the transaction that records one).
bool is_first_payment(soci::session& session, const Json& patient_id) {
    return storage::run_json_statement(
               session, "SELECT id FROM payments WHERE patient_id = :patient LIMIT 1",
               {{"patient", patient_id}})
        .empty();
}
}  // namespace

const std::vector<storage::Migration>& core_tenant_migrations() {
    static const std::vector<storage::Migration> migrations = {
        {1, "clinic records",
         R"sql(
CREATE TABLE patients (
  id TEXT PRIMARY KEY,
  first_name TEXT NOT NULL,
  last_name TEXT NOT NULL,
  birth_date TEXT,
  birth_month_day TEXT,
  phone TEXT,
  email TEXT,
  language TEXT NOT NULL,
  consent_email INTEGER NOT NULL,
  consent_whatsapp INTEGER NOT NULL,
  external_id TEXT UNIQUE,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX patients_by_birthday ON patients (birth_month_day);
CREATE INDEX patients_by_phone ON patients (phone);
CREATE INDEX patients_by_email ON patients (email);
CREATE TABLE doctors (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT,
  phone TEXT,
  external_id TEXT UNIQUE,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE appointments (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients(id),
  doctor_id TEXT NOT NULL REFERENCES doctors(id),
  start_at TEXT NOT NULL,
  end_at TEXT NOT NULL,
  duration_minutes INTEGER NOT NULL,
  status TEXT NOT NULL,
  notes TEXT,
  external_id TEXT UNIQUE,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX appointments_by_start ON appointments (start_at);
CREATE INDEX appointments_by_doctor ON appointments (doctor_id, start_at);
CREATE INDEX appointments_by_patient ON appointments (patient_id, start_at);
CREATE TABLE payments (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients(id),
  doctor_id TEXT REFERENCES doctors(id),
  amount_cents BIGINT NOT NULL,
  currency TEXT NOT NULL,
  method TEXT NOT NULL,
  paid_at TEXT NOT NULL,
  external_id TEXT UNIQUE,
  created_at TEXT NOT NULL
);
CREATE INDEX payments_by_time ON payments (paid_at);
CREATE INDEX payments_by_patient ON payments (patient_id, paid_at);
)sql"},
        // The records' outbox: each change's event, stored in the change's transaction and
        // deleted once the bus (in the platform database) has it.
        {2, "events of record changes, until published",
         R"sql(
CREATE TABLE record_events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL
);
)sql"},
        {3, "consent changes, with what caused each",
         R"sql(
CREATE TABLE consent_changes (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients(id),
  channel TEXT NOT NULL,
  granted INTEGER NOT NULL,
  source TEXT NOT NULL,
  changed_at TEXT NOT NULL
);
CREATE INDEX consent_changes_by_patient ON consent_changes (patient_id, changed_at);
)sql"},
    };
    return migrations;
}

std::optional<DayWindow> local_day(const std::string& date_text, const std::string& timezone) {
    const auto day = parse_date(date_text);
    if (!day) return std::nullopt;
    const date::time_zone* zone = nullptr;
    try {
        zone = date::locate_zone(timezone);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    // Midnight can be skipped by a daylight-saving change (it is in some zones): the day then
    // starts at the first instant after the gap, which `choose::latest` gives.
    auto start_of = [&](date::local_days local) {
        return date::make_zoned(zone, local, date::choose::latest).get_sys_time();
    };
    const date::local_days local{*day};
    return DayWindow{
        date_text, utc_text(std::chrono::time_point_cast<TimePoint::duration>(start_of(local))),
        utc_text(
            std::chrono::time_point_cast<TimePoint::duration>(start_of(local + date::days{1})))};
}

Records::Records(storage::Database& database, bus::Bus& bus, const clock::Clock& clock,
                 logging::Log log)
    : database_(database), bus_(bus), clock_(clock), log_(std::move(log)) {}

void Records::ensure_migrated(const std::string& tenant) {
    {
        std::lock_guard lock(migrated_mutex_);
        if (migrated_.count(tenant) != 0) return;
    }
    database_.with_tenant(tenant, [&](soci::session& session) {
        storage::apply_migrations(session, database_.backend(), "core", core_tenant_migrations());
    });
    std::lock_guard lock(migrated_mutex_);
    migrated_.insert(tenant);
}

void Records::with_tenant(const std::string& tenant,
                          const std::function<void(soci::session&)>& work) {
    ensure_migrated(tenant);
    database_.with_tenant(tenant, work);
}

void Records::forward(const std::string& tenant) {
    // Events staged by committed changes, oldest first, published with the ids they were
    // staged with: after a crash between publishing and deleting them here, publishing again
    // is a no-op for the bus (Bus::Draft::id). A failure leaves them staged for the next
    // change of the tenant, or for the sweep (start_forwarding).
    try {
        for (;;) {
            Json staged;
            with_tenant(tenant, [&](soci::session& session) {
                staged = storage::run_json_statement(
                    session, "SELECT id, type, data FROM record_events ORDER BY id LIMIT 500",
                    nullptr);
            });
            if (staged.empty()) break;
            std::vector<bus::Bus::Draft> drafts;
            Json ids = Json::array();
            std::string placeholders;
            for (const auto& row : staged) {
                drafts.push_back({tenant, "core", row["type"].get<std::string>(),
                                  Json::parse(row["data"].get<std::string>()),
                                  row["id"].get<std::string>()});
                ids.push_back(row["id"]);
            }
            bus_.publish_many(drafts);
            with_tenant(tenant, [&](soci::session& session) {
                std::string sql = "DELETE FROM record_events WHERE id IN (";
                for (size_t i = 0; i < ids.size(); ++i) {
                    sql += (i == 0 ? "" : ", ") + storage::positional_placeholder(session, i + 1);
                }
                storage::run_positional_statement(session, sql + ")", ids);
            });
            if (staged.size() < 500) break;
        }
    } catch (const std::exception& failure) {
        log_.error(
            "events of record changes not published yet; they stay staged and are"
            " tried again",
            {{"tenant", tenant}, {"reason", failure.what()}});
        std::lock_guard lock(forward_mutex_);
        unforwarded_.insert(tenant);
    }
}

void Records::start_forwarding(std::function<std::vector<std::string>()> tenant_ids,
                               std::chrono::milliseconds every) {
    forwarder_ = std::thread([this, tenant_ids = std::move(tenant_ids), every] {
        // First every tenant once (a crash may have left events staged anywhere), then only
        // those whose forwarding failed since.
        std::vector<std::string> due = tenant_ids();
        for (;;) {
            for (const auto& tenant : due) {
                if (stopping_) return;
                try {
                    forward(tenant);
                } catch (const std::exception&) {
                    // A tenant whose database fails now is tried again next time.
                }
            }
            std::unique_lock lock(forward_mutex_);
            forward_wake_.wait_for(lock, every, [this] { return stopping_.load(); });
            if (stopping_) return;
            due.assign(unforwarded_.begin(), unforwarded_.end());
            unforwarded_.clear();
        }
    });
}

void Records::stop() {
    {
        std::lock_guard lock(forward_mutex_);
        stopping_ = true;
    }
    forward_wake_.notify_all();
    if (forwarder_.joinable()) forwarder_.join();
}

Records::~Records() {
    stop();
}

Outcome<Json> Records::create_patient(const std::string& tenant, const Json& input) {
    FieldErrors errors;
    const std::string now = utc_text(clock_.now());
    Json row = patient_row(input, true, now.substr(0, 10), errors);
    if (!errors.empty()) return invalid("the patient is not valid", errors);
    row["id"] = ids::time_ordered_uuid(clock_.now());
    row["created_at"] = now;
    row["updated_at"] = now;
    std::optional<Refusal> refusal;
    Json stored;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        if ((refusal = external_id_taken(session, "patient", row, ""))) return;
        insert_row(session, "patients", row);
        stored = row_by_id(session, "patients", row["id"]);
        stage(session, "patient.created", patient_json(stored));
        transaction.commit();
    });
    if (refusal) return *refusal;
    forward(tenant);
    return patient_json(stored);
}

Outcome<Json> Records::update_patient(const std::string& tenant, const std::string& id,
                                      const Json& changes) {
    FieldErrors errors;
    const std::string now = utc_text(clock_.now());
    Json row = patient_row(changes, false, now.substr(0, 10), errors);
    if (!errors.empty()) return invalid("the changes are not valid", errors);
    std::optional<Refusal> refusal;
    Json before, after;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        before = row_by_id(session, "patients", id);
        if (before.is_null()) {
            refusal = Refusal{404, "no such patient"};
            return;
        }
        if ((refusal = external_id_taken(session, "patient", row, id))) return;
        if (!row.empty()) {
            row["updated_at"] = now;
            update_row(session, "patients", id, row);
        }
        after = row_by_id(session, "patients", id);
        if (!row.empty()) {
            Json changed = Json::array();
            for (const auto& [field, value] : changes.items()) changed.push_back(field);
            stage(session, "patient.updated",
                  {{"patient", patient_json(after)},
                   {"previous", patient_json(before)},
                   {"changed", changed}});
        }
        transaction.commit();
    });
    if (refusal) return *refusal;
    forward(tenant);
    return patient_json(after);
}

std::optional<Json> Records::patient(const std::string& tenant, const std::string& id) {
    Json row;
    with_tenant(tenant, [&](soci::session& session) { row = row_by_id(session, "patients", id); });
    if (row.is_null()) return std::nullopt;
    return patient_json(row);
}

Page Records::patients(const std::string& tenant, const Json& filters, const std::string& cursor,
                       size_t limit) {
    std::string sql = "SELECT * FROM patients WHERE id > :cursor";
    Json params = {{"cursor", cursor}, {"limit", static_cast<long long>(limit + 1)}};
    append_filters(filters, {"external_id", "email", "phone"}, sql, params);
    sql += " ORDER BY id LIMIT :limit";
    Json items = Json::array();
    with_tenant(tenant, [&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(session, sql, params)) {
            items.push_back(patient_json(row));
        }
    });
    return trimmed_page(std::move(items), limit,
                        [](const Json& last) { return last["id"].get<std::string>(); });
}

std::optional<Json> Records::history(const std::string& tenant, const std::string& patient_id) {
    Json patient_row_json, appointments = Json::array(), payments = Json::array();
    with_tenant(tenant, [&](soci::session& session) {
        patient_row_json = row_by_id(session, "patients", patient_id);
        if (patient_row_json.is_null()) return;
        for (const auto& row : storage::run_json_statement(
                 session,
                 "SELECT * FROM appointments WHERE patient_id = :patient ORDER BY start_at, id",
                 {{"patient", patient_id}})) {
            appointments.push_back(appointment_json(row));
        }
        for (const auto& row : storage::run_json_statement(
                 session, "SELECT * FROM payments WHERE patient_id = :patient ORDER BY paid_at, id",
                 {{"patient", patient_id}})) {
            payments.push_back(payment_json(row));
        }
    });
    if (patient_row_json.is_null()) return std::nullopt;
    Json consent_changes = Json::array();
    with_tenant(tenant, [&](soci::session& session) {
        for (auto row : storage::run_json_statement(
                 session,
                 "SELECT channel, granted, source, changed_at FROM consent_changes"
                 " WHERE patient_id = :patient ORDER BY changed_at, id",
                 {{"patient", patient_id}})) {
            row["granted"] = row["granted"].get<long long>() != 0;
            consent_changes.push_back(row);
        }
    });
    long long paid = 0;
    for (const auto& payment : payments) paid += payment["amount_cents"].get<long long>();
    return Json{{"patient", patient_json(patient_row_json)},
                {"appointments", appointments},
                {"payments", payments},
                {"payments_total_cents", paid},
                {"consent_changes", consent_changes}};
}

std::vector<std::string> Records::record_consent(const std::string& tenant,
                                                 const std::string& phone,
                                                 const std::string& channel, bool granted,
                                                 const std::string& source) {
    if (channel != "email" && channel != "whatsapp") {
        throw std::invalid_argument("consent channel must be email or whatsapp");
    }
    const std::string column = "consent_" + channel;  // one of two fixed names, never input
    const std::string now = utc_text(clock_.now());
    std::vector<std::string> changed;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        const Json patients = storage::run_json_statement(
            session, "SELECT * FROM patients WHERE phone = :phone ORDER BY id", {{"phone", phone}});
        for (const auto& before : patients) {
            const std::string id = before["id"];
            storage::run_json_statement(
                session,
                "UPDATE patients SET " + column + " = :granted, updated_at = :now WHERE id = :id",
                {{"granted", granted ? 1 : 0}, {"now", now}, {"id", id}});
            storage::run_json_statement(
                session,
                "INSERT INTO consent_changes (id, patient_id, channel, granted, source, changed_at)"
                " VALUES (:id, :patient, :channel, :granted, :source, :now)",
                {{"id", ids::time_ordered_uuid(clock_.now())},
                 {"patient", id},
                 {"channel", channel},
                 {"granted", granted ? 1 : 0},
                 {"source", source},
                 {"now", now}});
            stage(session, "patient.updated",
                  {{"patient", patient_json(row_by_id(session, "patients", id))},
                   {"previous", patient_json(before)},
                   {"changed", Json::array({"consent"})},
                   {"consent_change",
                    {{"channel", channel}, {"granted", granted}, {"source", source}}}});
            changed.push_back(id);
        }
        transaction.commit();
    });
    if (!changed.empty()) forward(tenant);
    return changed;
}

Outcome<Json> Records::birthdays(const std::string& tenant, const std::string& date_text) {
    const auto day = parse_date(date_text);
    if (!day) {
        FieldErrors errors;
        errors.add("date", "must be a date, YYYY-MM-DD");
        return invalid("the date is not valid", errors);
    }
    const std::string month_day = date_text.substr(5);
    // Born on 29 February: celebrated on 28 February when the year has no 29th.
    const std::string leap_day =
        month_day == "02-28" && !day->year().is_leap() ? "02-29" : month_day;
    Json items = Json::array();
    with_tenant(tenant, [&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(
                 session,
                 "SELECT * FROM patients WHERE birth_month_day IN (:month_day, :leap_day)"
                 " ORDER BY last_name, first_name, id",
                 {{"month_day", month_day}, {"leap_day", leap_day}})) {
            Json patient = patient_json(row);
            const int born = std::stoi(patient["birth_date"].get<std::string>().substr(0, 4));
            patient["turns"] = static_cast<int>(day->year()) - born;
            items.push_back(std::move(patient));
        }
    });
    return Json{{"date", date_text}, {"items", items}};
}

std::optional<Json> Records::doctor(const std::string& tenant, const std::string& id) {
    Json row;
    with_tenant(tenant, [&](soci::session& session) { row = row_by_id(session, "doctors", id); });
    if (row.is_null()) return std::nullopt;
    return doctor_json(row);
}

std::optional<Json> Records::appointment(const std::string& tenant, const std::string& id) {
    Json row;
    with_tenant(tenant,
                [&](soci::session& session) { row = row_by_id(session, "appointments", id); });
    if (row.is_null()) return std::nullopt;
    return appointment_json(row);
}

Outcome<Json> Records::create_doctor(const std::string& tenant, const Json& input) {
    FieldErrors errors;
    Json row = doctor_row(input, true, errors);
    if (!errors.empty()) return invalid("the doctor is not valid", errors);
    const std::string now = utc_text(clock_.now());
    row["id"] = ids::time_ordered_uuid(clock_.now());
    row["created_at"] = now;
    row["updated_at"] = now;
    std::optional<Refusal> refusal;
    Json stored;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        if ((refusal = external_id_taken(session, "doctor", row, ""))) return;
        insert_row(session, "doctors", row);
        stored = row_by_id(session, "doctors", row["id"]);
        transaction.commit();
    });
    if (refusal) return *refusal;
    return doctor_json(stored);
}

Outcome<Json> Records::update_doctor(const std::string& tenant, const std::string& id,
                                     const Json& changes) {
    FieldErrors errors;
    Json row = doctor_row(changes, false, errors);
    if (!errors.empty()) return invalid("the changes are not valid", errors);
    std::optional<Refusal> refusal;
    Json after;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        if (row_by_id(session, "doctors", id).is_null()) {
            refusal = Refusal{404, "no such doctor"};
            return;
        }
        if ((refusal = external_id_taken(session, "doctor", row, id))) return;
        if (!row.empty()) {
            row["updated_at"] = utc_text(clock_.now());
            update_row(session, "doctors", id, row);
        }
        after = row_by_id(session, "doctors", id);
        transaction.commit();
    });
    if (refusal) return *refusal;
    return doctor_json(after);
}

Page Records::doctors(const std::string& tenant, const std::string& cursor, size_t limit) {
    Json items = Json::array();
    with_tenant(tenant, [&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(
                 session, "SELECT * FROM doctors WHERE id > :cursor ORDER BY id LIMIT :limit",
                 {{"cursor", cursor}, {"limit", static_cast<long long>(limit + 1)}})) {
            items.push_back(doctor_json(row));
        }
    });
    return trimmed_page(std::move(items), limit,
                        [](const Json& last) { return last["id"].get<std::string>(); });
}

namespace {
// Validates an appointment's fields into `row` (start_at, end_at, duration_minutes, …).
// `current` is the stored appointment when changing one (its start and duration complete a
// partial reschedule).
Json appointment_row(const Json& input, const Json& current, FieldErrors& errors) {
    const bool creating = current.is_null();
    check_unknown(
        input,
        {"patient_id", "doctor_id", "start", "duration_minutes", "status", "notes", "external_id"},
        errors);
    Json row = Json::object();
    if (creating) {
        required_text(input, "patient_id", 64, true, row, errors);
        required_text(input, "doctor_id", 64, true, row, errors);
    } else {
        for (const char* field : {"patient_id", "doctor_id"}) {
            if (input.contains(field)) {
                errors.add(field, "cannot be changed: cancel and book again");
            }
        }
    }
    std::optional<TimePoint> start;
    if (input.contains("start")) {
        if (input["start"].is_string())
            start = clock::parse_rfc3339(input["start"].get<std::string>());
        if (!start) errors.add("start", "must be an RFC 3339 instant with its offset");
    } else if (creating) {
        errors.add("start", "is required");
    } else {
        start = clock::parse_rfc3339(current["start_at"].get<std::string>());
    }
    int duration = creating ? 30 : static_cast<int>(current["duration_minutes"].get<long long>());
    if (input.contains("duration_minutes")) {
        const Json& value = input["duration_minutes"];
        if (value.is_number_integer() && value.get<long long>() >= 5 &&
            value.get<long long>() <= kMaxDurationMinutes) {
            duration = value.get<int>();
        } else {
            errors.add("duration_minutes", "must be a whole number of minutes, 5 to 1440");
        }
    }
    if (start && (creating || input.contains("start") || input.contains("duration_minutes"))) {
        row["start_at"] = utc_text(*start);
        row["end_at"] = utc_text(*start + std::chrono::minutes(duration));
        row["duration_minutes"] = duration;
    }
    if (input.contains("status")) {
        const Json& value = input["status"];
        if (value.is_string() && kAppointmentStatuses.count(value.get<std::string>()) != 0) {
            row["status"] = value;
        } else {
            errors.add("status", "must be scheduled, confirmed, cancelled, completed or no-show");
        }
    } else if (creating) {
        row["status"] = "scheduled";
    }
    optional_text(input, "notes", kMaxNotes, row, errors);
    optional_text(input, "external_id", kMaxExternalId, row, errors);
    return row;
}
}  // namespace

Outcome<Json> Records::create_appointment(const std::string& tenant, const Json& input) {
    FieldErrors errors;
    Json row = appointment_row(input, nullptr, errors);
    if (!errors.empty()) return invalid("the appointment is not valid", errors);
    const std::string now = utc_text(clock_.now());
    row["id"] = ids::time_ordered_uuid(clock_.now());
    row["created_at"] = now;
    row["updated_at"] = now;
    std::optional<Refusal> refusal;
    Json stored;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        FieldErrors references = unknown_references(session, row);
        if (!references.empty()) {
            refusal = invalid("the appointment refers to records that do not exist", references);
            return;
        }
        if ((refusal = external_id_taken(session, "appointment", row, ""))) return;
        const std::string doctor = row["doctor_id"];
        lock_doctor_calendar(session, database_.backend(), doctor);
        if (row["status"] != "cancelled") {
            const Json clash = overlapping(session, doctor, row["start_at"], row["end_at"], "");
            if (!clash.is_null()) {
                refusal = clash_refusal(clash);
                return;
            }
        }
        insert_row(session, "appointments", row);
        stored = row_by_id(session, "appointments", row["id"]);
        stage(session, "appointment.created", appointment_json(stored));
        transaction.commit();
    });
    if (refusal) return *refusal;
    forward(tenant);
    return appointment_json(stored);
}

Outcome<Json> Records::update_appointment(const std::string& tenant, const std::string& id,
                                          const Json& changes,
                                          const std::vector<std::string>& only_from) {
    std::optional<Refusal> refusal;
    Json before, after, row;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        if (!only_from.empty() && database_.backend() == storage::Backend::postgresql) {
            // Hold the row until commit: its status is the precondition. (SQLite has one
            // writer at a time, and refuses a transaction whose read went stale.)
            storage::run_json_statement(
                session, "SELECT id FROM appointments WHERE id = :id FOR UPDATE", {{"id", id}});
        }
        before = row_by_id(session, "appointments", id);
        if (before.is_null()) {
            refusal = Refusal{404, "no such appointment"};
            return;
        }
        if (!only_from.empty() && std::find(only_from.begin(), only_from.end(),
                                            before.value("status", "")) == only_from.end()) {
            refusal = Refusal{409, "the appointment is " + before.value("status", std::string()) +
                                       " and cannot change from that"};
            return;
        }
        FieldErrors errors;
        row = appointment_row(changes, before, errors);
        if (!errors.empty()) {
            refusal = invalid("the changes are not valid", errors);
            return;
        }
        if ((refusal = external_id_taken(session, "appointment", row, id))) return;
        const std::string status = row.value("status", before["status"].get<std::string>());
        const bool moves = row.contains("start_at");
        const bool revives = before["status"] == "cancelled" && status != "cancelled";
        if (status != "cancelled" && (moves || revives)) {
            const std::string doctor = before["doctor_id"];
            lock_doctor_calendar(session, database_.backend(), doctor);
            const Json clash =
                overlapping(session, doctor, row.value("start_at", before["start_at"]),
                            row.value("end_at", before["end_at"]), id);
            if (!clash.is_null()) {
                refusal = clash_refusal(clash);
                return;
            }
        }
        if (!row.empty()) {
            row["updated_at"] = utc_text(clock_.now());
            update_row(session, "appointments", id, row);
        }
        after = row_by_id(session, "appointments", id);
        if (!row.empty()) {
            const bool cancelled =
                after["status"] == "cancelled" && before["status"] != "cancelled";
            stage(
                session, cancelled ? "appointment.cancelled" : "appointment.updated",
                {{"appointment", appointment_json(after)}, {"previous", appointment_json(before)}});
        }
        transaction.commit();
    });
    if (refusal) return *refusal;
    forward(tenant);
    return appointment_json(after);
}

Page Records::appointments(const std::string& tenant, const DayWindow& day, const Json& filters,
                           const std::string& cursor, size_t limit) {
    // The cursor is "<start>|<id>" of the last item: appointments are ordered by start, then id.
    std::string sql =
        "SELECT * FROM appointments WHERE start_at >= :from AND start_at < :to AND"
        " (start_at > :cursor_start OR (start_at = :cursor_start AND id > :cursor_id))";
    const auto bar = cursor.find('|');
    Json params = {{"from", day.from_utc},
                   {"to", day.to_utc},
                   {"cursor_start", bar == std::string::npos ? "" : cursor.substr(0, bar)},
                   {"cursor_id", bar == std::string::npos ? "" : cursor.substr(bar + 1)},
                   {"limit", static_cast<long long>(limit + 1)}};
    append_filters(filters, {"doctor_id", "status", "patient_id"}, sql, params);
    sql += " ORDER BY start_at, id LIMIT :limit";
    Json items = Json::array();
    with_tenant(tenant, [&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(session, sql, params)) {
            items.push_back(appointment_json(row));
        }
    });
    return trimmed_page(std::move(items), limit, [](const Json& last) {
        return last["start"].get<std::string>() + "|" + last["id"].get<std::string>();
    });
}

namespace {
// Validates a payment's fields into a row; `now` is its time when paid_at is not given.
Json payment_row(const Json& input, TimePoint now, FieldErrors& errors) {
    check_unknown(
        input,
        {"patient_id", "doctor_id", "amount_cents", "currency", "method", "paid_at", "external_id"},
        errors);
    Json row = Json::object();
    required_text(input, "patient_id", 64, true, row, errors);
    optional_text(input, "doctor_id", 64, row, errors);
    const Json amount = input.value("amount_cents", Json(nullptr));
    if (amount.is_number_integer() && amount.get<long long>() > 0 &&
        amount.get<long long>() <= kMaxAmountCents) {
        row["amount_cents"] = amount;
    } else {
        errors.add("amount_cents", "must be a positive whole number of cents");
    }
    static const std::regex currency(R"(^[A-Z]{3}$)");
    const Json currency_value = input.value("currency", Json("MXN"));
    if (currency_value.is_string() &&
        std::regex_match(currency_value.get<std::string>(), currency)) {
        row["currency"] = currency_value;
    } else {
        errors.add("currency", "must be an ISO 4217 code, such as MXN");
    }
    const Json method = input.value("method", Json(nullptr));
    if (method.is_string() && kPaymentMethods.count(method.get<std::string>()) != 0) {
        row["method"] = method;
    } else {
        errors.add("method", "must be cash, card, transfer, check or other");
    }
    std::optional<TimePoint> paid_at = now;
    if (input.contains("paid_at")) {
        paid_at = input["paid_at"].is_string()
                      ? clock::parse_rfc3339(input["paid_at"].get<std::string>())
                      : std::nullopt;
        if (!paid_at) errors.add("paid_at", "must be an RFC 3339 instant with its offset");
    }
    if (paid_at) row["paid_at"] = utc_text(*paid_at);
    optional_text(input, "external_id", kMaxExternalId, row, errors);
    return row;
}
}  // namespace

Outcome<Json> Records::create_payment(const std::string& tenant, const Json& input) {
    FieldErrors errors;
    Json row = payment_row(input, clock_.now(), errors);
    if (!errors.empty()) return invalid("the payment is not valid", errors);
    row["id"] = ids::time_ordered_uuid(clock_.now());
    row["created_at"] = utc_text(clock_.now());
    std::optional<Refusal> refusal;
    Json stored;
    bool first = false;
    with_tenant(tenant, [&](soci::session& session) {
        soci::transaction transaction(session);
        FieldErrors references = unknown_references(session, row);
        if (!references.empty()) {
            refusal = invalid("the payment refers to records that do not exist", references);
            return;
        }
        if ((refusal = external_id_taken(session, "payment", row, ""))) return;
        first = is_first_payment(session, row["patient_id"]);
        insert_row(session, "payments", row);
        stored = row_by_id(session, "payments", row["id"]);
        Json event = payment_json(stored);
        // What a welcome-on-first-payment automation needs, decided in the same transaction.
        event["first_for_patient"] = first;
        stage(session, "payment.received", event);
        transaction.commit();
    });
    if (refusal) return *refusal;
    forward(tenant);
    return payment_json(stored);
}

Json Records::sales(const std::string& tenant, const DayWindow& day) {
    Json rows;
    with_tenant(tenant, [&](soci::session& session) {
        rows = storage::run_json_statement(
            session,
            "SELECT p.currency AS currency, p.method AS method, p.doctor_id AS doctor_id,"
            " d.name AS doctor_name, CAST(SUM(p.amount_cents) AS BIGINT) AS total_cents,"
            " COUNT(*) AS payments FROM payments p LEFT JOIN doctors d ON d.id = p.doctor_id"
            " WHERE p.paid_at >= :from AND p.paid_at < :to"
            " GROUP BY p.currency, p.method, p.doctor_id, d.name",
            {{"from", day.from_utc}, {"to", day.to_utc}});
    });
    // Per currency: amounts in different currencies are never added together.
    std::map<std::string, Json> by_currency;
    for (const auto& row : rows) {
        const std::string currency = row["currency"];
        Json& totals = by_currency[currency];
        if (totals.is_null()) {
            totals = {{"total_cents", 0},
                      {"payments", 0},
                      {"by_method", Json::object()},
                      {"by_doctor", Json::object()}};
        }
        const long long cents = row["total_cents"].get<long long>();
        const long long count = row["payments"].get<long long>();
        totals["total_cents"] = totals["total_cents"].get<long long>() + cents;
        totals["payments"] = totals["payments"].get<long long>() + count;
        const std::string method = row["method"];
        totals["by_method"][method] = totals["by_method"].value(method, 0LL) + cents;
        const std::string doctor =
            row["doctor_id"].is_null() ? "" : row["doctor_id"].get<std::string>();
        Json& per_doctor = totals["by_doctor"][doctor.empty() ? "unassigned" : doctor];
        if (per_doctor.is_null()) {
            per_doctor = {{"doctor_id", doctor.empty() ? Json(nullptr) : Json(doctor)},
                          {"name", row["doctor_name"]},
                          {"total_cents", 0},
                          {"payments", 0},
                          {"by_method", Json::object()}};
        }
        per_doctor["by_method"][method] = per_doctor["by_method"].value(method, 0LL) + cents;
        per_doctor["total_cents"] = per_doctor["total_cents"].get<long long>() + cents;
        per_doctor["payments"] = per_doctor["payments"].get<long long>() + count;
    }
    Json currencies = Json::object();
    std::string main_currency;
    long long main_count = -1;
    for (auto& [currency, totals] : by_currency) {
        Json doctors = Json::array();
        for (auto& [key, value] : totals["by_doctor"].items()) doctors.push_back(value);
        totals["by_doctor"] = doctors;
        if (totals["payments"].get<long long>() > main_count) {
            main_count = totals["payments"].get<long long>();
            main_currency = currency;
        }
        currencies[currency] = totals;
    }
    Json answer = {{"date", day.date},
                   {"from", day.from_utc},
                   {"to", day.to_utc},
                   {"currency", main_currency.empty() ? Json(nullptr) : Json(main_currency)},
                   {"total_cents", 0},
                   {"payments", 0},
                   {"by_method", Json::object()},
                   {"by_doctor", Json::array()},
                   {"by_currency", currencies}};
    if (!main_currency.empty()) {
        // The day's figures in its most used currency; all of them are under by_currency.
        for (const char* field : {"total_cents", "payments", "by_method", "by_doctor"}) {
            answer[field] = currencies[main_currency][field];
        }
    }
    return answer;
}

std::optional<Json> Records::first_payment(const std::string& tenant,
                                           const std::string& patient_id) {
    Json rows;
    with_tenant(tenant, [&](soci::session& session) {
        rows = storage::run_json_statement(
            session,
            "SELECT * FROM payments WHERE patient_id = :patient ORDER BY paid_at, id LIMIT 1",
            {{"patient", patient_id}});
    });
    if (rows.empty()) return std::nullopt;
    return payment_json(rows.front());
}

Json Records::summary(const std::string& tenant, const DayWindow& from, const DayWindow& to) {
    const Json window = {{"from", from.from_utc}, {"to", to.from_utc}};
    Json by_status = Json::object(), sales = Json::object();
    long long new_patients = 0, first_payments = 0;
    with_tenant(tenant, [&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(
                 session,
                 "SELECT status, COUNT(*) AS appointments FROM appointments WHERE start_at >= :from"
                 " AND start_at < :to GROUP BY status",
                 window)) {
            by_status[row["status"].get<std::string>()] = row["appointments"];
        }
        new_patients = storage::run_json_statement(
                           session,
                           "SELECT COUNT(*) AS patients FROM patients WHERE created_at >= :from"
                           " AND created_at < :to",
                           window)[0]["patients"]
                           .get<long long>();
        // A first payment: the earliest of its patient, made within the span.
        first_payments = storage::run_json_statement(
                             session,
                             "SELECT COUNT(*) AS payments FROM payments p WHERE p.paid_at >= :from"
                             " AND p.paid_at < :to AND NOT EXISTS (SELECT 1 FROM payments e"
                             " WHERE e.patient_id = p.patient_id AND (e.paid_at < p.paid_at OR"
                             " (e.paid_at = p.paid_at AND e.id < p.id)))",
                             window)[0]["payments"]
                             .get<long long>();
        for (const auto& row : storage::run_json_statement(
                 session,
                 "SELECT currency, CAST(SUM(amount_cents) AS BIGINT) AS total_cents, COUNT(*) AS"
                 " payments FROM payments WHERE paid_at >= :from AND paid_at < :to"
                 " GROUP BY currency",
                 window)) {
            sales[row["currency"].get<std::string>()] = {{"total_cents", row["total_cents"]},
                                                         {"payments", row["payments"]}};
        }
    });
    return {{"from", from.date},
            {"to", to.date},
            {"appointments_by_status", by_status},
            {"new_patients", new_patients},
            {"first_payments", first_payments},
            {"sales", sales}};
}

Outcome<Json> Records::query(const std::string& tenant, const std::string& timezone,
                             const Json& query) {
    auto refuse = [](const std::string& detail) { return Refusal{400, detail}; };
    if (!query.is_object() || !query.contains("query") || !query["query"].is_string()) {
        return refuse("a records query is an object with \"query\"");
    }
    const std::string kind = query["query"];
    auto text = [&](const char* field) -> std::optional<std::string> {
        if (!query.contains(field) || !query[field].is_string()) return std::nullopt;
        return query[field].get<std::string>();
    };
    auto day = [&](const char* field) -> std::optional<DayWindow> {
        auto date = text(field);
        return date ? local_day(*date, timezone) : std::nullopt;
    };
    auto or_null = [](const std::optional<Json>& value) { return value ? *value : Json(nullptr); };
    if (kind == "patient" || kind == "doctor" || kind == "appointment") {
        auto id = text("id");
        if (!id) return refuse("\"id\" is required");
        if (kind == "appointment") return or_null(appointment(tenant, *id));
        return kind == "patient" ? or_null(patient(tenant, *id)) : or_null(doctor(tenant, *id));
    }
    if (kind == "history" || kind == "first_payment") {
        auto id = text("patient_id");
        if (!id) return refuse("\"patient_id\" is required");
        return kind == "history" ? or_null(history(tenant, *id))
                                 : or_null(first_payment(tenant, *id));
    }
    if (kind == "doctors" || kind == "appointments") {
        // Every page: a plugin wants the whole day (or staff), which is small.
        std::optional<DayWindow> window;
        if (kind == "appointments" && !(window = day("date"))) {
            return refuse("\"date\" must be a date, YYYY-MM-DD");
        }
        Json filters = Json::object();
        for (const char* field : {"doctor_id", "status", "patient_id"}) {
            if (auto value = text(field)) filters[field] = *value;
        }
        Json items = Json::array();
        std::string cursor;
        do {
            Page page = kind == "doctors" ? doctors(tenant, cursor, 200)
                                          : appointments(tenant, *window, filters, cursor, 200);
            for (auto& item : page.items) items.push_back(std::move(item));
            cursor = page.next_cursor;
        } while (!cursor.empty());
        if (kind == "appointments" && query.value("with_patients", false) == true) {
            // A day's list for people (a doctor's report) names each patient: one read for
            // the whole day rather than a patient query per line.
            Json names;
            with_tenant(tenant, [&](soci::session& session) {
                names = storage::run_json_statement(
                    session,
                    "SELECT id, first_name, last_name FROM patients WHERE id IN"
                    " (SELECT patient_id FROM appointments WHERE start_at >= :from"
                    " AND start_at < :to)",
                    {{"from", window->from_utc}, {"to", window->to_utc}});
            });
            std::map<std::string, Json> by_id;
            for (const auto& row : names) {
                by_id[row["id"].get<std::string>()] = {{"first_name", row["first_name"]},
                                                       {"last_name", row["last_name"]}};
            }
            for (auto& item : items) {
                const auto found = by_id.find(item.value("patient_id", ""));
                item["patient"] = found == by_id.end() ? Json(nullptr) : found->second;
            }
        }
        return items;
    }
    if (kind == "birthdays") {
        auto date = text("date");
        if (!date) return refuse("\"date\" must be a date, YYYY-MM-DD");
        auto found = birthdays(tenant, *date);
        if (auto* refusal = std::get_if<Refusal>(&found)) return *refusal;
        return std::get<Json>(found)["items"];
    }
    if (kind == "sales") {
        auto window = day("date");
        if (!window) return refuse("\"date\" must be a date, YYYY-MM-DD");
        return sales(tenant, *window);
    }
    if (kind == "summary") {
        auto from = day("from"), to = day("to");
        if (!from || !to || to->date <= from->date) {
            return refuse("\"from\" and \"to\" must be dates, YYYY-MM-DD, from before to");
        }
        return summary(tenant, *from, *to);
    }
    return refuse("unknown records query '" + kind +
                  "': patient, doctor, doctors, history, appointments, birthdays, sales,"
                  " first_payment or summary");
}

namespace {
// The columns of `row` whose values differ from the stored record's.
Json changed_columns(const Json& row, const Json& stored) {
    Json changes = Json::object();
    for (const auto& [column, value] : row.items()) {
        if (!stored.contains(column) || stored.at(column) != value) changes[column] = value;
    }
    return changes;
}
}  // namespace

Json Records::import_lines(const std::string& tenant, std::string_view text) {
    const TimePoint now = clock_.now();
    const std::string now_text = utc_text(now);
    const std::string today = now_text.substr(0, 10);
    long long lines = 0, created = 0, updated = 0, unchanged = 0;
    Json rejected = Json::array();
    with_tenant(tenant, [&](soci::session& session) {
        // One transaction for the request: a second import of the same lines finds them all.
        soci::transaction transaction(session);
        long long line_number = 0;
        auto reject = [&](const Json& external_id, const std::string& reason,
                          const Json& errors = Json::array()) {
            Json entry = {{"line", line_number}, {"external_id", external_id}, {"reason", reason}};
            if (!errors.empty()) entry["errors"] = errors;
            rejected.push_back(std::move(entry));
        };
        auto stored_by_external_id = [&](const std::string& table, const Json& external_id) {
            const Json rows = storage::run_json_statement(
                session, "SELECT * FROM " + table + " WHERE external_id = :external_id",
                {{"external_id", external_id}});
            return rows.empty() ? Json(nullptr) : rows.front();
        };
        auto event = [&](const std::string& type, const Json& data) { stage(session, type, data); };
        size_t position = 0;
        while (position < text.size()) {
            size_t end = text.find('\n', position);
            if (end == std::string_view::npos) end = text.size();
            std::string_view line = text.substr(position, end - position);
            position = end + 1;
            ++line_number;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
            ++lines;
            // Nesting is bounded before parsing, as for every request body (kMaxJsonDepth).
            if (http::json_nesting_exceeds(line)) {
                reject(nullptr,
                       "nests deeper than " + std::to_string(http::kMaxJsonDepth) + " levels");
                continue;
            }
            Json input = Json::parse(line, nullptr, false);
            if (input.is_discarded() || !input.is_object()) {
                reject(nullptr, "not a JSON object");
                continue;
            }
            const Json external_id = input.value("external_id", Json(nullptr));
            if (!external_id.is_string() || external_id.get<std::string>().empty() ||
                external_id.get<std::string>().size() > kMaxExternalId) {
                reject(nullptr,
                       "external_id is required (at most 128 characters): it is what"
                       " makes a second import update rather than duplicate");
                continue;
            }
            const std::string kind = input.value("kind", "");
            input.erase("kind");
            // References by the legacy system's ids, resolved here.
            FieldErrors references;
            for (const auto& [field, table, id_field] :
                 {std::tuple{"patient_external_id", "patients", "patient_id"},
                  std::tuple{"doctor_external_id", "doctors", "doctor_id"}}) {
                if (!input.contains(field)) continue;
                const Json found = input[field].is_string()
                                       ? stored_by_external_id(table, input[field])
                                       : Json(nullptr);
                if (found.is_null()) {
                    references.add(field, "no such record");
                } else {
                    input[id_field] = found["id"];
                }
                input.erase(field);
            }
            if (!references.empty()) {
                reject(external_id, "refers to records that do not exist", references.list);
                continue;
            }
            FieldErrors errors;
            if (kind == "patient" || kind == "doctor") {
                const std::string table = kind + "s";
                const Json stored = stored_by_external_id(table, external_id);
                Json row = kind == "patient" ? patient_row(input, stored.is_null(), today, errors)
                                             : doctor_row(input, stored.is_null(), errors);
                if (!errors.empty()) {
                    reject(external_id, "the " + kind + " is not valid", errors.list);
                    continue;
                }
                if (stored.is_null()) {
                    row["id"] = ids::time_ordered_uuid(now);
                    row["created_at"] = now_text;
                    row["updated_at"] = now_text;
                    insert_row(session, table, row);
                    ++created;
                    if (kind == "patient") event("patient.created", patient_json(row));
                    continue;
                }
                Json changes = changed_columns(row, stored);
                if (changes.empty()) {
                    ++unchanged;
                    continue;
                }
                Json changed = Json::array();
                for (const auto& [column, value] : changes.items()) changed.push_back(column);
                changes["updated_at"] = now_text;
                update_row(session, table, stored["id"], changes);
                ++updated;
                if (kind == "patient") {
                    Json after = stored;
                    after.update(changes);
                    event("patient.updated", {{"patient", patient_json(after)},
                                              {"previous", patient_json(stored)},
                                              {"changed", changed}});
                }
            } else if (kind == "appointment") {
                const Json stored = stored_by_external_id("appointments", external_id);
                if (!stored.is_null()) {
                    // Lines repeat the patient and doctor: only a different one is a change
                    // (and refused: cancel and book again).
                    for (const char* field : {"patient_id", "doctor_id"}) {
                        if (input.contains(field) && input[field] == stored[field]) {
                            input.erase(field);
                        }
                    }
                }
                Json row = appointment_row(input, stored, errors);
                if (!errors.empty()) {
                    reject(external_id, "the appointment is not valid", errors.list);
                    continue;
                }
                const Json changes = stored.is_null() ? row : changed_columns(row, stored);
                if (changes.empty()) {
                    ++unchanged;
                    continue;
                }
                const Json merged = stored.is_null() ? row : [&] {
                    Json all = stored;
                    all.update(changes);
                    return all;
                }();
                if (stored.is_null()) {
                    // Given by the host's ids rather than the legacy system's, they may not
                    // exist: a rejected line, not a failed request.
                    FieldErrors unknown = unknown_references(session, row);
                    if (!unknown.empty()) {
                        reject(external_id, "refers to records that do not exist", unknown.list);
                        continue;
                    }
                }
                const std::string doctor = merged["doctor_id"];
                if (merged["status"] != "cancelled") {
                    lock_doctor_calendar(session, database_.backend(), doctor);
                    const Json clash =
                        overlapping(session, doctor, merged["start_at"], merged["end_at"],
                                    stored.is_null() ? "" : stored["id"].get<std::string>());
                    if (!clash.is_null()) {
                        reject(external_id, clash_refusal(clash).detail);
                        continue;
                    }
                }
                if (stored.is_null()) {
                    row["id"] = ids::time_ordered_uuid(now);
                    row["created_at"] = now_text;
                    row["updated_at"] = now_text;
                    insert_row(session, "appointments", row);
                    ++created;
                    event("appointment.created", appointment_json(row));
                    continue;
                }
                Json update = changes;
                update["updated_at"] = now_text;
                update_row(session, "appointments", stored["id"], update);
                ++updated;
                Json after = merged;
                after["updated_at"] = now_text;
                const bool cancelled =
                    after["status"] == "cancelled" && stored["status"] != "cancelled";
                event(cancelled ? "appointment.cancelled" : "appointment.updated",
                      {{"appointment", appointment_json(after)},
                       {"previous", appointment_json(stored)}});
            } else if (kind == "payment") {
                const Json stored = stored_by_external_id("payments", external_id);
                Json row = payment_row(input, now, errors);
                if (!errors.empty()) {
                    reject(external_id, "the payment is not valid", errors.list);
                    continue;
                }
                if (!stored.is_null()) {
                    // When it was paid is the legacy system's to say: a line without paid_at
                    // takes the stored one rather than today.
                    if (!input.contains("paid_at")) row["paid_at"] = stored["paid_at"];
                    if (changed_columns(row, stored).empty()) {
                        ++unchanged;
                    } else {
                        reject(external_id,
                               "a recorded payment cannot change; record a"
                               " correction as a new payment");
                    }
                    continue;
                }
                if (FieldErrors unknown = unknown_references(session, row); !unknown.empty()) {
                    reject(external_id, "refers to records that do not exist", unknown.list);
                    continue;
                }
                const bool first = is_first_payment(session, row["patient_id"]);
                row["id"] = ids::time_ordered_uuid(now);
                row["created_at"] = now_text;
                insert_row(session, "payments", row);
                ++created;
                Json data = payment_json(row);
                data["first_for_patient"] = first;
                event("payment.received", std::move(data));
            } else {
                reject(external_id, "kind must be patient, doctor, appointment or payment");
            }
        }
        transaction.commit();
    });
    forward(tenant);
    return {{"lines", lines},
            {"created", created},
            {"updated", updated},
            {"unchanged", unchanged},
            {"rejected", rejected}};
}

}  // namespace miconsul::records
