// Records at a clinic's scale (docs/performance.md): N patients imported through
// Records::import_lines in requests of 5,000 JSON lines (what POST …/records/import takes under
// the default 1 MiB body limit), beside a baseline of the same rows written by bare multi-row
// INSERTs into another tenant — no validation, no upsert, no events; then the birthdays of a
// day, queried for 365 dates (median and p99 of their latencies).
//
//   records_bench [patients=100000] [database_url=sqlite://<temp dir>]
#include "bus/bus.h"
#include "clock/clock.h"
#include "ids/ids.h"
#include "logging/log.h"
#include "plugins/host_services.h"
#include "plugins/registry.h"
#include "records/records.h"
#include "storage/json_statement.h"
#include "storage/migrations.h"
#include "tenants/tenant_store.h"

#include <date/date.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {
using namespace std::chrono;
using nlohmann::json;

// A patient line; birth dates spread over every day of 1940–2019 (29 February included).
json patient_line(long i) {
    const int year = 1940 + static_cast<int>(i % 80);
    const int day_of_year = static_cast<int>((i * 7919) % 365);
    const auto birth = date::sys_days{date::year{year} / 1 / 1} + date::days{day_of_year};
    char phone[20];
    std::snprintf(phone, sizeof phone, "+5255%08ld", i % 100000000);
    return {{"kind", "patient"},
            {"external_id", "p" + std::to_string(i)},
            {"first_name", "Paciente " + std::to_string(i)},
            {"last_name", "Apellido"},
            {"birth_date", date::format("%F", birth)},
            {"phone", phone},
            {"email", "p" + std::to_string(i) + "@example.com"},
            {"consent", {{"email", true}, {"whatsapp", i % 3 != 0}}}};
}

double percentile(std::vector<double> values, double p) {
    std::sort(values.begin(), values.end());
    return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1))];
}
}  // namespace

int main(int argc, char** argv) {
    mallopt(M_TRIM_THRESHOLD, 8 << 20);  // as miconsul-host does (core/main.cpp)
    const long patients = argc > 1 ? std::atol(argv[1]) : 100000;
    const auto scratch = std::filesystem::temp_directory_path() /
                         ("miconsul-records-bench-" + std::to_string(getpid()));
    const std::string url =
        argc > 2 && argv[2][0] != '\0' ? argv[2] : "sqlite://" + scratch.string();
    auto database = miconsul::storage::Database::open(url, scratch, 8);
    database->with_platform([&](soci::session& session) {
        miconsul::storage::apply_migrations(session, database->backend(), "core",
                                            miconsul::storage::core_platform_migrations());
    });
    miconsul::tenants::TenantStore store(*database);
    store.load();
    const std::string tenant = "bench-" + std::to_string(getpid());
    const std::string raw_tenant = "raw-" + std::to_string(getpid());
    for (const auto& id : {tenant, raw_tenant}) {
        miconsul::tenants::Tenant record;
        record.id = id;
        record.name = id;
        store.create(record);
    }
    miconsul::plugins::PluginRegistry registry;
    miconsul::plugins::HostServices services{*database, miconsul::logging::Log::null()};
    miconsul::clock::SystemClock clock;
    miconsul::bus::Bus bus(*database, store, registry, services, clock,
                           miconsul::logging::Log::null(), miconsul::bus::BusOptions{});
    miconsul::records::Records records(*database, bus, clock, miconsul::logging::Log::null());
    records.patients(raw_tenant, json::object(), "", 1);  // migrates the baseline's tables

    // Baseline: the same rows, bare multi-row INSERTs, one transaction per 5,000.
    const auto raw_started = steady_clock::now();
    for (long first = 0; first < patients; first += 5000) {
        database->with_tenant(raw_tenant, [&](soci::session& session) {
            soci::transaction transaction(session);
            for (long chunk = first; chunk < std::min(patients, first + 5000); chunk += 500) {
                std::string sql =
                    "INSERT INTO patients (id, first_name, last_name, birth_date, birth_month_day,"
                    " phone, email, language, consent_email, consent_whatsapp, external_id,"
                    " created_at, updated_at) VALUES ";
                std::vector<json> rows;
                for (long i = chunk; i < std::min(patients, chunk + 500); ++i) {
                    const json line = patient_line(i);
                    const std::string birth = line["birth_date"];
                    rows.push_back(json::array(
                        {miconsul::ids::time_ordered_uuid(clock.now()), line["first_name"],
                         line["last_name"], birth, birth.substr(5), line["phone"], line["email"],
                         "es", 1, i % 3 != 0 ? 1 : 0, line["external_id"],
                         miconsul::clock::now_text(), miconsul::clock::now_text()}));
                }
                json values = json::array();
                miconsul::storage::append_values_rows(session, rows, sql, values);
                miconsul::storage::run_positional_statement(session, sql, values);
            }
            transaction.commit();
        });
    }
    const double raw_s = duration<double>(steady_clock::now() - raw_started).count();

    const auto import_started = steady_clock::now();
    long created = 0;
    for (long first = 0; first < patients; first += 5000) {
        std::string body;
        for (long i = first; i < std::min(patients, first + 5000); ++i) {
            body += patient_line(i).dump() + "\n";
        }
        created += records.import_lines(tenant, body)["created"].get<long>();
    }
    const double import_s = duration<double>(steady_clock::now() - import_started).count();
    if (created != patients) {
        std::fprintf(stderr, "only %ld of %ld created\n", created, patients);
        return 1;
    }

    std::vector<double> latencies_ms;
    size_t found = 0;
    for (int day = 0; day < 365; ++day) {
        const auto date = date::sys_days{date::year{2027} / 1 / 1} + date::days{day};
        const auto started = steady_clock::now();
        const auto answer = records.birthdays(tenant, date::format("%F", date));
        latencies_ms.push_back(duration<double, std::milli>(steady_clock::now() - started).count());
        found += std::get<json>(answer)["items"].size();
    }
    std::printf(
        "patients %ld import_s %.2f import_rows_per_s %.0f raw_insert_s %.2f raw_rows_per_s %.0f"
        " ratio %.1f%% birthdays_median_ms %.2f birthdays_p99_ms %.2f birthdays_per_day %.0f\n",
        patients, import_s, patients / import_s, raw_s, patients / raw_s, 100 * raw_s / import_s,
        percentile(latencies_ms, 0.5), percentile(latencies_ms, 0.99),
        static_cast<double>(found) / 365);
    std::error_code ignored;
    std::filesystem::remove_all(scratch, ignored);
    return 0;
}
