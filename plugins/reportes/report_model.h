// reportes — the figures of a report as plain structs, free of SDK and host types, so that the
// PDF module, its unit tests and its benchmark can use them without a running host.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace reportes {

/// Which parts a report shows (the tenant's `sections` setting).
struct Sections {
    bool appointments = true;
    bool sales = true;
    bool charts = true;
};

/// One currency's sales: amounts in different currencies are never added together.
struct CurrencySales {
    std::string currency;  // ISO 4217, e.g. "MXN"
    int64_t total_cents = 0;
    int64_t payments = 0;
    std::map<std::string, int64_t> by_method;  // method → cents
};

struct AppointmentLine {
    std::string local_time;  // "09:30", the clinic's wall clock
    std::string patient;     // "Ana López"
    std::string doctor;      // the doctor's name (shown in the clinic-wide report)
    std::string status;      // scheduled, confirmed, cancelled, completed, no-show
};

/// One local day, for one doctor (doctor_name set) or the whole clinic.
struct DailyReport {
    std::string clinic;
    std::string language = "es";  // "es" or "en"
    std::string date;             // "2026-12-01"
    std::string doctor_id;        // empty: the clinic-wide report
    std::string doctor_name;
    std::map<std::string, int64_t> appointments_by_status;
    std::vector<AppointmentLine> appointments;  // by start
    std::vector<CurrencySales> sales;           // the main currency first
    Sections sections;

    int64_t appointment_count() const {
        int64_t total = 0;
        for (const auto& [status, count] : appointments_by_status) total += count;
        return total;
    }
    bool empty() const { return appointments.empty() && sales.empty(); }
};

/// One ISO week's figures.
struct WeekFigures {
    std::string week;  // "2026-W49"
    std::string from;  // its Monday, "2026-11-30"
    std::string to;    // the Monday after (exclusive)
    std::map<std::string, int64_t> appointments_by_status;
    int64_t new_patients = 0;
    int64_t first_payments = 0;
    std::vector<CurrencySales> sales;           // totals per currency, main first
    std::vector<int64_t> appointments_per_day;  // 7 values, Monday first
    std::vector<int64_t> sales_per_day_cents;   // 7 values in the report's main currency

    int64_t appointments() const {
        int64_t total = 0;
        for (const auto& [status, count] : appointments_by_status) total += count;
        return total;
    }
    int64_t status_count(const std::string& status) const {
        const auto found = appointments_by_status.find(status);
        return found == appointments_by_status.end() ? 0 : found->second;
    }
    /// Completed over appointments whose outcome is known (completed + no-show); cancelled and
    /// still-pending ones (scheduled, confirmed) do not count. nullopt without any outcome.
    std::optional<double> completion_rate() const {
        const int64_t known = status_count("completed") + status_count("no-show");
        if (known == 0) return std::nullopt;
        return static_cast<double>(status_count("completed")) / static_cast<double>(known);
    }
    std::optional<double> no_show_rate() const {
        const int64_t known = status_count("completed") + status_count("no-show");
        if (known == 0) return std::nullopt;
        return static_cast<double>(status_count("no-show")) / static_cast<double>(known);
    }
    int64_t sales_cents(const std::string& currency) const {
        for (const auto& entry : sales) {
            if (entry.currency == currency) return entry.total_cents;
        }
        return 0;
    }
};

/// The previous ISO week against the one before it.
struct WeeklyReport {
    std::string clinic;
    std::string language = "es";
    std::string currency = "MXN";  // the currency of the sales chart and comparisons
    WeekFigures current;
    WeekFigures previous;
    Sections sections;
};

/// "$1,234.50 MXN" for 123450 cents of MXN; "-$5.00 MXN" for negatives. Every currency is
/// written with two decimals and its code, the symbol "$" for pesos and dollars.
std::string format_money(int64_t cents, const std::string& currency);

/// "87.5 %" (one decimal), or "—" when there is no rate.
std::string format_rate(const std::optional<double>& rate);

}  // namespace reportes
