// A clinic's records — patients, doctors, appointments, payments — in the tenant's own
// database (an SQLite file, or a PostgreSQL schema, per tenant), with the core's tenant
// migrations applied on first use. Input is validated here, once, for the HTTP API, the bulk
// import and the SDK alike; records go in and out as JSON objects in the API's field names.
// Every change stores its event in the same transaction, and the event is handed to the bus
// after the commit (forward): the records' outbox. See docs/records.md.
#pragma once

#include "bus/bus.h"
#include "clock/clock.h"
#include "logging/log.h"
#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace miconsul::records {

using Json = nlohmann::json;

/// "+525512345678": a plus, a country code and 8 to 15 digits in all (ITU-T E.164).
bool is_e164(const std::string& phone);
/// An address a patient could have: something@domain.tld, no spaces, at most 254 characters.
bool is_email(const std::string& email);

/// The tenant-database migrations of the core (owner "core").
const std::vector<storage::Migration>& core_tenant_migrations();

/// A refused write: which HTTP status fits, and why. `errors` lists failing fields as
/// {"field": "/phone", "message": "…"} when the input itself is wrong.
struct Refusal {
    int status = 400;  // 400 bad input, 404 unknown record, 409 conflict
    std::string detail;
    Json errors = Json::array();
};

template <class T>
using Outcome = std::variant<T, Refusal>;

/// A page of a list: items and the cursor of the next page ("" when this is the last).
struct Page {
    Json items = Json::array();
    std::string next_cursor;
};

/// A local calendar day of the clinic, as the UTC window it covers.
struct DayWindow {
    std::string date;              // YYYY-MM-DD
    std::string from_utc, to_utc;  // [from, to) as RFC 3339 UTC
};

/// The UTC bounds of a local calendar day in an IANA zone; nullopt for a malformed date or
/// unknown zone. A day is 23 or 25 hours long across a daylight-saving change.
std::optional<DayWindow> local_day(const std::string& date, const std::string& timezone);

class Records {
public:
    Records(storage::Database& database, bus::Bus& bus, const clock::Clock& clock,
            logging::Log log);
    ~Records();
    Records(const Records&) = delete;
    Records& operator=(const Records&) = delete;

    /// Starts the thread that publishes events left staged (see forward): every tenant's once,
    /// then, every `every`, those of tenants whose publishing failed.
    void start_forwarding(std::function<std::vector<std::string>()> tenant_ids,
                          std::chrono::milliseconds every);
    void stop();

    /// Publishes the tenant's staged events — each change stores its event in the tenant's
    /// database in its own transaction (the records' outbox), and this hands them to the bus
    /// and deletes them. Never throws: on failure they stay staged and are tried again.
    void forward(const std::string& tenant);

    Outcome<Json> create_patient(const std::string& tenant, const Json& input);
    Outcome<Json> update_patient(const std::string& tenant, const std::string& id,
                                 const Json& changes);
    std::optional<Json> patient(const std::string& tenant, const std::string& id);
    /// Filters: external_id, email, phone (exact).
    Page patients(const std::string& tenant, const Json& filters, const std::string& cursor,
                  size_t limit);
    /// The patient with every appointment, payment and consent change, oldest first; nullopt if
    /// unknown.
    std::optional<Json> history(const std::string& tenant, const std::string& patient_id);
    /// A patient's own word on a channel — a WhatsApp reply of STOP/BAJA or START/ALTA: every
    /// patient with that phone number gets the consent set, the change recorded with its
    /// `source` (shown in the history) and patient.updated published. The ids changed.
    std::vector<std::string> record_consent(const std::string& tenant, const std::string& phone,
                                            const std::string& channel, bool granted,
                                            const std::string& source);
    /// Patients born on `date`'s month and day; on 28 February of a common year, those born
    /// on 29 February too.
    Outcome<Json> birthdays(const std::string& tenant, const std::string& date);

    std::optional<Json> doctor(const std::string& tenant, const std::string& id);
    /// An appointment by id (with `end`), or nullopt.
    std::optional<Json> appointment(const std::string& tenant, const std::string& id);
    Outcome<Json> create_doctor(const std::string& tenant, const Json& input);
    Outcome<Json> update_doctor(const std::string& tenant, const std::string& id,
                                const Json& changes);
    Page doctors(const std::string& tenant, const std::string& cursor, size_t limit);

    /// Refuses (409) a time that overlaps another appointment of the doctor that is not
    /// cancelled.
    Outcome<Json> create_appointment(const std::string& tenant, const Json& input);
    /// Reschedule (start, duration_minutes), change status (cancel, confirm, …) or notes.
    /// `only_from`, when given, lists the statuses the appointment may be changed from: any
    /// other is a 409, decided in the change's own transaction (with the row locked on
    /// PostgreSQL), so that a patient's late "confirm" cannot revive what staff just cancelled.
    Outcome<Json> update_appointment(const std::string& tenant, const std::string& id,
                                     const Json& changes,
                                     const std::vector<std::string>& only_from = {});
    /// Appointments starting within the local day, by start time; filters doctor_id, status.
    Page appointments(const std::string& tenant, const DayWindow& day, const Json& filters,
                      const std::string& cursor, size_t limit);

    Outcome<Json> create_payment(const std::string& tenant, const Json& input);

    /// Bulk upsert from JSON lines, keyed by the legacy system's external_id: one record per
    /// line, {"kind": "patient"|"doctor"|"appointment"|"payment", "external_id", …fields},
    /// referring to others by patient_external_id / doctor_external_id. The same lines sent
    /// again change nothing. Each rejected line is reported with its number and reason; the
    /// others are stored in one transaction, and their events published after it.
    Json import_lines(const std::string& tenant, std::string_view lines);
    Json sales(const std::string& tenant, const DayWindow& day);
    /// The patient's first payment (by paid_at), or nullopt.
    std::optional<Json> first_payment(const std::string& tenant, const std::string& patient_id);
    /// Figures of a span of local days [from, to): appointments per status, patients created,
    /// first payments, sales per currency — what a weekly report compares.
    Json summary(const std::string& tenant, const DayWindow& from, const DayWindow& to);

    /// Answers a plugin's query through the SDK (docs/sdk.md, "Records"): {"query": "patient",
    /// "id"}, "doctor", "appointment", "doctors", "history", "appointments" ({"date", "doctor_id"?,
    /// "status"?}), "birthdays", "sales", "first_payment" ({"patient_id"}), "summary" ({"from",
    /// "to"}). Dates are local days in `timezone`. A bad query is a Refusal (400).
    Outcome<Json> query(const std::string& tenant, const std::string& timezone, const Json& query);

private:
    void ensure_migrated(const std::string& tenant);
    void with_tenant(const std::string& tenant, const std::function<void(soci::session&)>& work);

    storage::Database& database_;
    bus::Bus& bus_;
    const clock::Clock& clock_;
    logging::Log log_;
    std::mutex migrated_mutex_;
    std::set<std::string> migrated_;  // tenants whose migrations this process has applied
    std::mutex forward_mutex_;
    std::condition_variable forward_wake_;
    std::set<std::string> unforwarded_;  // tenants whose staged events could not be published
    std::atomic<bool> stopping_{false};
    std::thread forwarder_;
};

}  // namespace miconsul::records
