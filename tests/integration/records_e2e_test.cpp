// End-to-end: a clinic's records over HTTP against the real binary, on SQLite and PostgreSQL.
#include "support/host_process.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;

const std::vector<std::string> kAdmin = {kAdminHeader};

class RecordsTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        std::string database_url;
        if (GetParam() == "postgresql") {
            MICONSUL_REQUIRE_POSTGRES();
            database_url = miconsul::testing::create_postgres_database(
                *miconsul::testing::postgres_admin_url());
        }
        std::filesystem::create_directories(scratch_.path() / "plugins");
        std::filesystem::create_symlink(
            miconsul::testing::test_plugin_dir() / "test_records_probe.so",
            scratch_.path() / "plugins" / "test_records_probe.so");
        host_ = std::make_unique<HostProcess>(
            HostOptions{scratch_.path(), scratch_.path() / "plugins", database_url, {}});
        for (const auto* id : {"sol", "luna"}) {
            const auto created = host_->http().send(
                "POST", "/api/v1/tenants",
                json{{"id", id}, {"name", id}, {"timezone", "America/Mexico_City"}}.dump(), kAdmin);
            ASSERT_EQ(created.status, 201) << created.body;
        }
    }

    HttpResult post(const std::string& path, const json& body, const std::string& tenant = "sol") {
        return host_->http().send("POST", "/t/" + tenant + "/records/" + path, body.dump(), kAdmin);
    }
    HttpResult patch(const std::string& path, const json& body) {
        return host_->http().send("PATCH", "/t/sol/records/" + path, body.dump(), kAdmin);
    }
    HttpResult get(const std::string& path, const std::string& tenant = "sol") {
        return host_->http().get("/t/" + tenant + "/records/" + path, kAdmin);
    }
    // Creates and returns the id; fails the test on anything but 201.
    std::string created(const std::string& path, const json& body) {
        const auto result = post(path, body);
        EXPECT_EQ(result.status, 201) << path << ": " << result.body;
        return json::parse(result.body, nullptr, false).value("id", "");
    }
    std::string patient(const json& fields = json::object()) {
        json body = {{"first_name", "Ana"}, {"last_name", "López"}};
        body.update(fields);
        return created("patients", body);
    }
    std::string doctor(const std::string& name = "Dra. Ruiz") {
        return created("doctors", {{"name", name}});
    }
    // The types of the tenant's events, oldest first.
    std::vector<std::string> event_types(const std::string& tenant = "sol") {
        const auto events = json::parse(
            host_->http().get("/api/v1/tenants/" + tenant + "/events?limit=200", kAdmin).body);
        std::vector<std::string> types;
        for (const auto& event : events["items"]) types.insert(types.begin(), event["type"]);
        return types;
    }
    static std::set<std::string> failing_fields(const HttpResult& result) {
        std::set<std::string> fields;
        for (const auto& error :
             json::parse(result.body, nullptr, false).value("errors", json::array())) {
            fields.insert(error.value("field", ""));
        }
        return fields;
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<HostProcess> host_;
};

TEST_P(RecordsTest, PatientsAreCreatedReadChangedAndListed) {
    const auto first = post("patients", {{"first_name", "Ana"},
                                         {"last_name", "López"},
                                         {"birth_date", "1992-02-29"},
                                         {"phone", "+525512345678"},
                                         {"email", "ana@example.com"},
                                         {"language", "es"},
                                         {"consent", {{"email", true}, {"whatsapp", false}}},
                                         {"external_id", "php-17"}});
    ASSERT_EQ(first.status, 201) << first.body;
    const json ana = json::parse(first.body);
    EXPECT_EQ(ana["consent"], json({{"email", true}, {"whatsapp", false}}));
    EXPECT_EQ(ana["birth_date"], "1992-02-29");
    const std::string id = ana["id"];
    EXPECT_EQ(json::parse(get("patients/" + id).body), ana);

    const auto changed = patch("patients/" + id, {{"phone", "+525598765432"}, {"email", nullptr}});
    ASSERT_EQ(changed.status, 200) << changed.body;
    EXPECT_EQ(json::parse(changed.body)["phone"], "+525598765432");
    EXPECT_TRUE(json::parse(changed.body)["email"].is_null());
    EXPECT_EQ(json::parse(changed.body)["first_name"], "Ana") << "fields not sent are kept";

    patient({{"first_name", "Beto"}});
    patient({{"first_name", "Carla"}});
    const auto by_external = json::parse(get("patients?external_id=php-17").body);
    ASSERT_EQ(by_external["items"].size(), 1u);
    EXPECT_EQ(by_external["items"][0]["id"], id);
    const auto page_one = json::parse(get("patients?limit=2").body);
    ASSERT_EQ(page_one["items"].size(), 2u);
    ASSERT_TRUE(page_one["next_cursor"].is_string());
    const auto page_two = json::parse(
        get("patients?limit=2&cursor=" + page_one["next_cursor"].get<std::string>()).body);
    ASSERT_EQ(page_two["items"].size(), 1u);
    EXPECT_TRUE(page_two["next_cursor"].is_null());
    // Ids sort by creation time to the millisecond only: check the pages cover all, once.
    std::set<std::string> names;
    for (const auto& page : {page_one, page_two}) {
        for (const auto& item : page["items"]) names.insert(item["first_name"]);
    }
    EXPECT_EQ(names, (std::set<std::string>{"Ana", "Beto", "Carla"}));

    const auto types = event_types();
    EXPECT_EQ(std::count(types.begin(), types.end(), "patient.created"), 3);
    EXPECT_EQ(std::count(types.begin(), types.end(), "patient.updated"), 1);
}

TEST_P(RecordsTest, BadPatientInputIsRefusedFieldByFieldAndNothingIsStored) {
    const auto bad = post("patients", {{"first_name", ""},
                                       {"birth_date", "1990-02-29"},
                                       {"phone", "55 1234 5678"},
                                       {"email", "ana-at-example"},
                                       {"language", "spanish"},
                                       {"consent", {{"sms", true}}},
                                       {"favourite_colour", "blue"}});
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(failing_fields(bad),
              (std::set<std::string>{"/first_name", "/birth_date", "/phone", "/email", "/language",
                                     "/consent", "/favourite_colour"}));
    EXPECT_EQ(post("patients", {{"first_name", "Ana"}, {"birth_date", "2999-01-01"}}).status, 400)
        << "a birth date in the future";
    const auto malformed =
        host_->http().send("POST", "/t/sol/records/patients", "{\"first_name\":", kAdmin);
    EXPECT_EQ(malformed.status, 400);
    EXPECT_EQ(host_->http().send("POST", "/t/sol/records/patients", "[1, 2]", kAdmin).status, 400);
    EXPECT_TRUE(json::parse(get("patients").body)["items"].empty());

    const std::string id = patient({{"external_id", "php-1"}});
    EXPECT_EQ(post("patients", {{"first_name", "Otra"}, {"external_id", "php-1"}}).status, 409);
    EXPECT_EQ(patch("patients/" + id, {{"birth_date", "31-12-1990"}}).status, 400);
    EXPECT_EQ(patch("patients/no-such-patient", {{"first_name", "X"}}).status, 404);
    EXPECT_EQ(get("patients/no-such-patient").status, 404);
    EXPECT_EQ(get("patients/no-such-patient/history").status, 404);
    EXPECT_EQ(json::parse(get("patients/" + id).body)["first_name"], "Ana");
}

TEST_P(RecordsTest, ADoctorIsNeverBookedTwiceAtOnce) {
    const std::string ana = patient(), beto = patient({{"first_name", "Beto"}});
    const std::string ruiz = doctor(), soto = doctor("Dr. Soto");
    // 10:00–10:30 in Mexico City is 16:00–16:30 UTC.
    const std::string first = created("appointments", {{"patient_id", ana},
                                                       {"doctor_id", ruiz},
                                                       {"start", "2026-12-01T10:00:00-06:00"},
                                                       {"duration_minutes", 30}});
    const json stored = json::parse(get("appointments?date=2026-12-01").body)["items"][0];
    EXPECT_EQ(stored["start"], "2026-12-01T16:00:00Z");
    EXPECT_EQ(stored["end"], "2026-12-01T16:30:00Z");
    EXPECT_EQ(stored["status"], "scheduled");

    const auto clash =
        post("appointments",
             {{"patient_id", beto}, {"doctor_id", ruiz}, {"start", "2026-12-01T16:15:00Z"}});
    EXPECT_EQ(clash.status, 409) << clash.body;
    EXPECT_NE(clash.body.find(first), std::string::npos) << "names the appointment in the way";
    created("appointments", {{"patient_id", beto},
                             {"doctor_id", soto},
                             {"start", "2026-12-01T10:15:00-06:00"}});  // another doctor: free
    const std::string next = created(
        "appointments",
        {{"patient_id", beto}, {"doctor_id", ruiz}, {"start", "2026-12-01T10:30:00-06:00"}});
    EXPECT_EQ(patch("appointments/" + next, {{"start", "2026-12-01T10:20:00-06:00"}}).status, 409)
        << "rescheduling into another appointment";
    EXPECT_EQ(patch("appointments/" + first, {{"status", "cancelled"}}).status, 200);
    EXPECT_EQ(patch("appointments/" + next, {{"start", "2026-12-01T10:00:00-06:00"}}).status, 200)
        << "a cancelled appointment frees its time";
    EXPECT_EQ(patch("appointments/" + first, {{"status", "scheduled"}}).status, 409)
        << "reviving it would double-book";

    const auto unknown = post(
        "appointments",
        {{"patient_id", "nobody"}, {"doctor_id", ruiz}, {"start", "2026-12-02T10:00:00-06:00"}});
    EXPECT_EQ(unknown.status, 400);
    EXPECT_EQ(failing_fields(unknown), std::set<std::string>{"/patient_id"});
    const auto bad = post("appointments", {{"patient_id", ana},
                                           {"doctor_id", ruiz},
                                           {"start", "2026-12-02 10:00"},
                                           {"duration_minutes", 0},
                                           {"status", "maybe"}});
    EXPECT_EQ(failing_fields(bad),
              (std::set<std::string>{"/start", "/duration_minutes", "/status"}));
    EXPECT_EQ(patch("appointments/" + next, {{"doctor_id", soto}}).status, 400);
    EXPECT_EQ(patch("appointments/none", {{"status", "confirmed"}}).status, 404);

    const auto types = event_types();
    EXPECT_EQ(std::count(types.begin(), types.end(), "appointment.created"), 3);
    EXPECT_EQ(std::count(types.begin(), types.end(), "appointment.cancelled"), 1);
    EXPECT_EQ(std::count(types.begin(), types.end(), "appointment.updated"), 1);
}

TEST_P(RecordsTest, TheAppointmentsOfADayAreThoseOfTheClinicsLocalDay) {
    const std::string ana = patient(), ruiz = doctor();
    for (const auto* start :
         {"2026-12-01T23:30:00-06:00", "2026-12-01T00:00:00-06:00", "2026-11-30T23:30:00-06:00",
          "2026-12-02T00:00:00-06:00", "2026-12-01T12:00:00-06:00"}) {
        created("appointments", {{"patient_id", ana}, {"doctor_id", ruiz}, {"start", start}});
    }
    const auto day = json::parse(get("appointments?date=2026-12-01").body)["items"];
    ASSERT_EQ(day.size(), 3u);
    EXPECT_EQ(day[0]["start"], "2026-12-01T06:00:00Z");
    EXPECT_EQ(day[1]["start"], "2026-12-01T18:00:00Z");
    EXPECT_EQ(day[2]["start"], "2026-12-02T05:30:00Z");
    const auto first_page = json::parse(get("appointments?date=2026-12-01&limit=2").body);
    ASSERT_EQ(first_page["items"].size(), 2u);
    const auto rest = json::parse(get("appointments?date=2026-12-01&limit=2&cursor=" +
                                      first_page["next_cursor"].get<std::string>())
                                      .body);
    ASSERT_EQ(rest["items"].size(), 1u);
    EXPECT_EQ(rest["items"][0]["start"], "2026-12-02T05:30:00Z");
    EXPECT_EQ(
        json::parse(get("appointments?date=2026-12-01&status=cancelled").body)["items"].size(), 0u);
    EXPECT_EQ(get("appointments?date=2026-13-01").status, 400);
    EXPECT_EQ(get("appointments").status, 400);
}

TEST_P(RecordsTest, SalesHistoryAndBirthdays) {
    const std::string ana = patient({{"birth_date", "1992-02-29"}});
    const std::string beto = patient({{"first_name", "Beto"}, {"birth_date", "1980-02-28"}});
    const std::string ruiz = doctor();
    created("payments", {{"patient_id", ana},
                         {"doctor_id", ruiz},
                         {"amount_cents", 50000},
                         {"method", "card"},
                         {"paid_at", "2026-12-01T09:00:00-06:00"}});
    created("payments", {{"patient_id", beto},
                         {"amount_cents", 20000},
                         {"method", "cash"},
                         {"paid_at", "2026-12-01T23:59:00-06:00"}});
    created("payments", {{"patient_id", ana},
                         {"amount_cents", 15000},
                         {"method", "cash"},
                         {"paid_at", "2026-12-01T12:00:00-06:00"}});
    created("payments", {{"patient_id", ana},
                         {"amount_cents", 99900},
                         {"method", "card"},
                         {"paid_at", "2026-12-02T00:00:00-06:00"}});  // the next local day
    const auto sales = json::parse(get("sales?date=2026-12-01").body);
    EXPECT_EQ(sales["currency"], "MXN");
    EXPECT_EQ(sales["total_cents"], 85000);
    EXPECT_EQ(sales["payments"], 3);
    EXPECT_EQ(sales["by_method"], json({{"card", 50000}, {"cash", 35000}}));
    ASSERT_EQ(sales["by_doctor"].size(), 2u);
    for (const auto& doctor_total : sales["by_doctor"]) {
        EXPECT_EQ(doctor_total["total_cents"], doctor_total["doctor_id"].is_null() ? 35000 : 50000);
    }
    EXPECT_EQ(json::parse(get("sales?date=2026-12-03").body)["total_cents"], 0);
    EXPECT_EQ(get("sales?date=yesterday").status, 400);
    const auto bad = post(
        "payments",
        {{"patient_id", ana}, {"amount_cents", -5}, {"currency", "pesos"}, {"method", "barter"}});
    EXPECT_EQ(failing_fields(bad),
              (std::set<std::string>{"/amount_cents", "/currency", "/method"}));
    EXPECT_EQ(failing_fields(post(
                  "payments", {{"patient_id", "nobody"}, {"amount_cents", 5}, {"method", "cash"}})),
              std::set<std::string>{"/patient_id"});

    created("appointments",
            {{"patient_id", ana}, {"doctor_id", ruiz}, {"start", "2026-12-01T10:00:00-06:00"}});
    const auto history = json::parse(get("patients/" + ana + "/history").body);
    EXPECT_EQ(history["patient"]["id"], ana);
    EXPECT_EQ(history["appointments"].size(), 1u);
    ASSERT_EQ(history["payments"].size(), 3u);
    EXPECT_EQ(history["payments"][0]["amount_cents"], 50000) << "oldest first";
    EXPECT_EQ(history["payments_total_cents"], 164900);

    // 2027 has no 29 February: Ana celebrates on the 28th with Beto; in 2028 on the 29th.
    const auto common_year = json::parse(get("birthdays?date=2027-02-28").body)["items"];
    EXPECT_EQ(common_year.size(), 2u);
    const auto leap_year = json::parse(get("birthdays?date=2028-02-28").body)["items"];
    ASSERT_EQ(leap_year.size(), 1u);
    EXPECT_EQ(leap_year[0]["id"], beto);
    EXPECT_EQ(leap_year[0]["turns"], 48);
    EXPECT_EQ(json::parse(get("birthdays?date=2028-02-29").body)["items"][0]["id"], ana);
    EXPECT_EQ(get("birthdays?date=2027-02-29").status, 400);

    std::map<long long, bool> first_for_patient;  // amount → flag, for Ana's payments
    const auto events = json::parse(
        host_->http().get("/api/v1/tenants/sol/events?type=payment.received", kAdmin).body);
    for (const auto& event : events["items"]) {
        if (event["data"]["patient_id"] == ana) {
            first_for_patient[event["data"]["amount_cents"].get<long long>()] =
                event["data"]["first_for_patient"].get<bool>();
        }
    }
    EXPECT_EQ(first_for_patient,
              (std::map<long long, bool>{{50000, true}, {15000, false}, {99900, false}}));
}

TEST_P(RecordsTest, EachTenantSeesOnlyItsOwnRecords) {
    const std::string ana = patient({{"external_id", "php-1"}});
    const std::string ruiz = doctor();
    EXPECT_EQ(get("patients/" + ana, "luna").status, 404);
    EXPECT_EQ(get("patients/" + ana + "/history", "luna").status, 404);
    EXPECT_TRUE(json::parse(get("patients", "luna").body)["items"].empty());
    EXPECT_TRUE(json::parse(get("patients?external_id=php-1", "luna").body)["items"].empty());
    EXPECT_EQ(
        post("appointments",
             {{"patient_id", ana}, {"doctor_id", ruiz}, {"start", "2026-12-01T10:00:00-06:00"}},
             "luna")
            .status,
        400)
        << "another tenant's patient and doctor do not exist here";
    EXPECT_EQ(
        post("payments", {{"patient_id", ana}, {"amount_cents", 100}, {"method", "cash"}}, "luna")
            .status,
        400);
    // The same external id is free in another clinic.
    EXPECT_EQ(post("patients", {{"first_name", "Ana"}, {"external_id", "php-1"}}, "luna").status,
              201);
    EXPECT_EQ(get("patients", "nowhere").status, 404);
    EXPECT_EQ(host_->http().get("/t/sol/records/patients").status, 401);
    EXPECT_EQ(host_->http()
                  .get("/t/sol/records/patients", {"Authorization: Bearer wrong-token-000000000"})
                  .status,
              401);
    ASSERT_EQ(
        host_->http()
            .send("PATCH", "/api/v1/tenants/sol", json{{"status", "suspended"}}.dump(), kAdmin)
            .status,
        200);
    EXPECT_EQ(get("patients/" + ana).status, 404) << "a suspended clinic's records are closed";
}

TEST_P(RecordsTest, BulkImportUpsertsByExternalIdAndTheSameLinesTwiceChangeNothing) {
    const std::string lines =
        R"({"kind": "patient", "external_id": "p1", "first_name": "Ana", "phone": "+525512345678"}
{"kind": "patient", "external_id": "p2", "first_name": "Beto", "birth_date": "1980-05-04"}
{"kind": "doctor", "external_id": "d1", "name": "Dra. Ruiz"}
{"kind": "appointment", "external_id": "a1", "patient_external_id": "p1", "doctor_external_id": "d1", "start": "2026-12-01T10:00:00-06:00"}
{"kind": "payment", "external_id": "pay1", "patient_external_id": "p1", "amount_cents": 50000, "method": "card", "paid_at": "2026-12-01T11:00:00-06:00"}
this is not json
{"kind": "patient", "first_name": "Sin id"}
{"kind": "patient", "external_id": "p3", "first_name": "Carla", "phone": "12345"}
{"kind": "appointment", "external_id": "a2", "patient_external_id": "p2", "doctor_external_id": "d1", "start": "2026-12-01T10:15:00-06:00"}
{"kind": "payment", "external_id": "pay2", "patient_external_id": "nobody", "amount_cents": 100, "method": "cash"}
{"kind": "invoice", "external_id": "i1"}
)";
    const auto import = [&](const std::string& body) {
        const auto result =
            host_->http().send("POST", "/t/sol/records/import", body,
                               {kAdminHeader, "Content-Type: application/x-ndjson"});
        EXPECT_EQ(result.status, 200) << result.body;
        return json::parse(result.body, nullptr, false);
    };
    const json first = import(lines);
    EXPECT_EQ(first["lines"], 11);
    EXPECT_EQ(first["created"], 5);
    EXPECT_EQ(first["updated"], 0);
    std::map<long long, std::string> rejected;
    for (const auto& entry : first["rejected"]) {
        rejected[entry["line"].get<long long>()] = entry["reason"];
    }
    EXPECT_EQ(rejected.size(), 6u) << first.dump();
    EXPECT_EQ(rejected[6], "not a JSON object");
    EXPECT_NE(rejected[7].find("external_id is required"), std::string::npos);
    EXPECT_EQ(rejected[8], "the patient is not valid");
    EXPECT_NE(rejected[9].find("the doctor has appointment"), std::string::npos);
    EXPECT_EQ(rejected[10], "refers to records that do not exist");
    EXPECT_NE(rejected[11].find("kind must be"), std::string::npos);
    const auto events_after_first = event_types().size();

    const json again = import(lines);
    EXPECT_EQ(again["created"], 0);
    EXPECT_EQ(again["updated"], 0);
    EXPECT_EQ(again["unchanged"], 5);
    EXPECT_EQ(event_types().size(), events_after_first) << "nothing changed, nothing published";
    const auto patients = json::parse(get("patients").body)["items"];
    EXPECT_EQ(patients.size(), 2u);

    const json changed = import(
        R"({"kind": "patient", "external_id": "p1", "first_name": "Ana María", "phone": "+525512345678"}
{"kind": "appointment", "external_id": "a1", "patient_external_id": "p1", "doctor_external_id": "d1", "start": "2026-12-01T10:00:00-06:00", "status": "cancelled"}
{"kind": "payment", "external_id": "pay1", "patient_external_id": "p1", "amount_cents": 99, "method": "card", "paid_at": "2026-12-01T11:00:00-06:00"}
)");
    EXPECT_EQ(changed["updated"], 2);
    ASSERT_EQ(changed["rejected"].size(), 1u);
    EXPECT_NE(changed["rejected"][0]["reason"].get<std::string>().find("cannot change"),
              std::string::npos);
    const auto ana = json::parse(get("patients?external_id=p1").body)["items"][0];
    EXPECT_EQ(ana["first_name"], "Ana María");
    const auto types = event_types();
    // Published together: same time, so in no particular order.
    EXPECT_EQ((std::multiset<std::string>(types.end() - 2, types.end())),
              (std::multiset<std::string>{"patient.updated", "appointment.cancelled"}));
    const json by_host_ids = import(
        R"({"kind": "appointment", "external_id": "a9", "patient_id": "nobody", "doctor_external_id": "d1", "start": "2026-12-05T10:00:00-06:00"}
{"kind": "payment", "external_id": "pay9", "patient_id": "nobody", "amount_cents": 100, "method": "cash"}
)");
    EXPECT_EQ(by_host_ids["created"], 0);
    ASSERT_EQ(by_host_ids["rejected"].size(), 2u) << by_host_ids.dump();
    EXPECT_EQ(by_host_ids["rejected"][0]["errors"][0]["field"], "/patient_id");
    EXPECT_EQ(host_->http().send("POST", "/t/sol/records/import", "\n  \n", kAdmin).status, 400);
    EXPECT_TRUE(json::parse(get("patients", "luna").body)["items"].empty());
}

TEST_P(RecordsTest, PluginsReadTheRecordsOfTheirTenantThroughTheSdk) {
    ASSERT_EQ(host_->http()
                  .send("PUT", "/api/v1/tenants/sol/plugins/records-probe",
                        json{{"enabled", true}}.dump(), kAdmin)
                  .status,
              200);
    const std::string ana = patient({{"birth_date", "1992-02-29"}});
    const std::string ruiz = doctor();
    created("appointments",
            {{"patient_id", ana}, {"doctor_id", ruiz}, {"start", "2026-12-01T23:30:00-06:00"}});
    created("payments", {{"patient_id", ana},
                         {"amount_cents", 30000},
                         {"method", "cash"},
                         {"paid_at", "2026-12-01T09:00:00-06:00"}});
    created("payments", {{"patient_id", ana},
                         {"amount_cents", 10000},
                         {"method", "card"},
                         {"paid_at", "2026-12-03T09:00:00-06:00"}});
    auto probe = [&](const std::string& path) {
        const auto result = host_->http().get("/t/sol/records-probe/" + path, kAdmin);
        return std::make_pair(result.status, json::parse(result.body, nullptr, false));
    };

    auto [status, birthdays] = probe("birthdays?date=2027-02-28");
    ASSERT_EQ(status, 200) << birthdays;
    ASSERT_EQ(birthdays.size(), 1u);
    EXPECT_EQ(birthdays[0]["id"], ana);
    // The tenant's local day, as over HTTP: 23:30 in Mexico City is the next day in UTC.
    EXPECT_EQ(probe("appointments?date=2026-12-01&status=scheduled").second.size(), 1u);
    EXPECT_EQ(probe("appointments?date=2026-12-02&status=scheduled").second.size(), 0u);
    const auto patient_view = probe("patient?id=" + ana).second;
    EXPECT_EQ(patient_view["patient"]["id"], ana);
    EXPECT_EQ(patient_view["history"]["payments"].size(), 2u);
    EXPECT_EQ(patient_view["first_payment"]["amount_cents"], 30000);
    EXPECT_TRUE(probe("patient?id=nobody").second["patient"].is_null());
    const auto week = probe("summary?from=2026-11-30&to=2026-12-07").second;
    EXPECT_EQ(week["appointments_by_status"], json({{"scheduled", 1}}));
    EXPECT_EQ(week["first_payments"], 1);
    EXPECT_EQ(week["sales"]["MXN"]["total_cents"], 40000);
    const auto only_the_third = probe("summary?from=2026-12-03&to=2026-12-04").second;
    EXPECT_EQ(only_the_third["first_payments"], 0) << "Ana's first payment was on the 1st";
    EXPECT_EQ(probe("query?q=" +
                    std::string("%7B%22query%22%3A%22sales%22%2C%22date%22%3A%222026-12-01%22%7D"))
                  .second["total_cents"],
              30000);

    EXPECT_EQ(probe("birthdays?date=someday").first, 400);
    EXPECT_EQ(probe("summary?from=2026-12-07&to=2026-12-01").first, 400);
    EXPECT_EQ(probe("query?q=%7B%22query%22%3A%22everything%22%7D").first, 400);
    // Another clinic's plugin sees only that clinic's records.
    ASSERT_EQ(host_->http()
                  .send("PUT", "/api/v1/tenants/luna/plugins/records-probe",
                        json{{"enabled", true}}.dump(), kAdmin)
                  .status,
              200);
    const auto elsewhere = host_->http().get("/t/luna/records-probe/patient?id=" + ana, kAdmin);
    EXPECT_TRUE(json::parse(elsewhere.body)["patient"].is_null()) << elsewhere.body;
}

TEST_P(RecordsTest, PluginsReadTheClinicsWallClockAndChangeAppointmentsThroughTheSdk) {
    for (const auto* tenant : {"sol", "luna"}) {
        ASSERT_EQ(
            host_->http()
                .send("PUT", std::string("/api/v1/tenants/") + tenant + "/plugins/records-probe",
                      json{{"enabled", true}}.dump(), kAdmin)
                .status,
            200);
    }
    // 2026-12-02T05:30:00Z is still 1 December, 23:30, in Mexico City (UTC-6).
    const auto local =
        host_->http().get("/t/sol/records-probe/local-time?ms=1796189400000", kAdmin);
    ASSERT_EQ(local.status, 200) << local.body;
    EXPECT_EQ(json::parse(local.body), json({{"date", "2026-12-01"},
                                             {"time", "23:30:00"},
                                             {"hour", 23},
                                             {"weekday", 2},
                                             {"iso_week", "2026-W49"},
                                             {"offset", -360}}));
    EXPECT_EQ(host_->http().get("/t/sol/records-probe/local-time?ms=-1", kAdmin).status, 400);
    // Headers Pistache parses into typed objects reach the plugin as they were sent.
    const auto accept = host_->http().get("/t/sol/records-probe/accept",
                                          {kAdminHeader, "Accept: application/json"});
    EXPECT_EQ(json::parse(accept.body)["accept"], "application/json") << accept.body;

    const std::string ana = patient();
    const std::string ruiz = doctor();
    const std::string booked =
        created("appointments",
                {{"patient_id", ana}, {"doctor_id", ruiz}, {"start", "2026-12-03T10:00:00-06:00"}});
    auto stored_status = [&] {
        const auto view = host_->http().get("/t/sol/records-probe/patient?id=" + ana, kAdmin);
        return json::parse(view.body)["history"]["appointments"].at(0)["status"];
    };
    auto change = [&](const std::string& tenant, const json& body) {
        return host_->http().send("POST", "/t/" + tenant + "/records-probe/change", body.dump(),
                                  kAdmin);
    };
    const auto confirmed = change(
        "sol", {{"kind", "appointment"}, {"id", booked}, {"changes", {{"status", "confirmed"}}}});
    ASSERT_EQ(confirmed.status, 200) << confirmed.body;
    EXPECT_EQ(json::parse(confirmed.body)["status"], "confirmed");
    EXPECT_EQ(stored_status(), "confirmed");
    // A change guarded by the status it expects: refused, atomically, once that is stale.
    EXPECT_EQ(change("sol", {{"kind", "appointment"},
                             {"id", booked},
                             {"changes", {{"status", "cancelled"}}},
                             {"only_from_status", {"scheduled"}}})
                  .status,
              409);
    EXPECT_EQ(stored_status(), "confirmed");

    EXPECT_EQ(
        change("sol", {{"kind", "appointment"}, {"id", booked}, {"changes", {{"status", "maybe"}}}})
            .status,
        400);
    EXPECT_EQ(
        change("sol", {{"kind", "payment"}, {"id", booked}, {"changes", json::object()}}).status,
        400)
        << "payments never change";
    EXPECT_EQ(
        change("luna",
               {{"kind", "appointment"}, {"id", booked}, {"changes", {{"status", "cancelled"}}}})
            .status,
        404)
        << "another clinic's plugin cannot reach sol's appointment";
    EXPECT_EQ(stored_status(), "confirmed");
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
}  // namespace
