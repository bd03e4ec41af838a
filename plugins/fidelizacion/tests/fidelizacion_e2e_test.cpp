// End-to-end: the fidelizacion plugin in the real host, on SQLite and PostgreSQL, with a real
// SMTP server and the local stand-in for YCloud — welcomes on a first payment (once, whatever
// the legacy system or the bus repeats), birthday greetings on the clinic's local date with one
// code per patient and year, code lookup and redeem, settings refused field by field, a tenant
// without the plugin, and one tenant's failing run beside another's.
#include "support/clinic_stage.h"
#include "support/host_process.h"
#include "support/http_receiver.h"
#include "support/smtp_receiver.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <thread>

namespace {
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;
using namespace std::chrono_literals;

const std::vector<std::string> kAdmin = {kAdminHeader};
// 08:00 in Mexico City (UTC-6 all year since 2022) on 1 December 2026.
constexpr const char* kBirthdayMorning = "2026-12-01T08:00:00-06:00";

class FidelizacionTest : public miconsul::testing::ClinicStageTest {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        set_the_stage(std::vector<std::string>{"fidelizacion"},
                      std::map<std::string, std::string>{{"MICONSUL_EVENT_RETRY_BASE_MS", "200"}});
        for (const auto* id : {"sol", "luna"}) tokens_[id] = stage_->api_token(id);
        enable("sol");
    }

    /// A call as the clinic's system (n8n) makes it: with the tenant's API token.
    HttpResult call(const std::string& tenant, const std::string& method, const std::string& path,
                    const std::string& body = "", const std::string& token_of = "") {
        const std::string token = tokens_[token_of.empty() ? tenant : token_of];
        return host_->http().send(method, "/t/" + tenant + "/fidelizacion" + path, body,
                                  {"Authorization: Bearer " + token});
    }
    void enable(const std::string& tenant, const json& settings = json::object()) {
        const auto enabled = send("PUT", "/api/v1/tenants/" + tenant + "/plugins/fidelizacion",
                                  {{"enabled", true}, {"settings", settings}});
        ASSERT_EQ(enabled.status, 200) << enabled.body;
    }
    std::string patient(const std::string& tenant, const json& fields) {
        json body = {{"first_name", "Ana"}, {"last_name", "López"}};
        body.update(fields);
        const auto created = send("POST", "/t/" + tenant + "/records/patients", body);
        EXPECT_EQ(created.status, 201) << created.body;
        return json::parse(created.body, nullptr, false).value("id", "");
    }
    /// A patient with an address and consent on both channels.
    std::string reachable_patient(const std::string& tenant, const std::string& name,
                                  const std::string& phone, const json& extra = json::object()) {
        json fields = {{"first_name", name},
                       {"email", name + "@example.com"},
                       {"phone", phone},
                       {"consent", {{"email", true}, {"whatsapp", true}}}};
        fields.update(extra);
        return patient(tenant, fields);
    }
    void pay(const std::string& tenant, const std::string& patient_id, int amount_cents) {
        const auto paid =
            send("POST", "/t/" + tenant + "/records/payments",
                 {{"patient_id", patient_id}, {"amount_cents", amount_cents}, {"method", "card"}});
        ASSERT_EQ(paid.status, 201) << paid.body;
    }
    json import(const std::string& lines) {
        const auto result =
            host_->http().send("POST", "/t/sol/records/import", lines,
                               {kAdminHeader, "Content-Type: application/x-ndjson"});
        EXPECT_EQ(result.status, 200) << result.body;
        return json::parse(result.body, nullptr, false);
    }
    json outbox(const std::string& tenant) {
        const auto answer =
            host_->http().get("/api/v1/tenants/" + tenant + "/messages?limit=200", kAdmin);
        EXPECT_EQ(answer.status, 200) << answer.body;
        return json::parse(answer.body)["items"];
    }
    /// Waits until no event delivery of the tenant is pending or in progress: every handler
    /// has answered the events published so far.
    void wait_for_handlers(const std::string& tenant) {
        for (int i = 0; i < 100; ++i) {
            bool busy = false;
            for (const auto* status : {"pending", "delivering"}) {
                const auto answer = host_->http().get(
                    "/api/v1/tenants/" + tenant + "/deliveries?status=" + status, kAdmin);
                busy = busy || json::parse(answer.body)["items"].size() > 0;
            }
            if (!busy) return;
            std::this_thread::sleep_for(100ms);
        }
        ADD_FAILURE() << "event deliveries still pending after 10 s";
    }
    json run_birthdays(const std::string& tenant, const std::string& as_of) {
        const auto run = send(
            "POST", "/api/v1/tenants/" + tenant + "/plugins/fidelizacion/schedules/birthdays/run",
            {{"as_of", as_of}, {"wait", true}});
        EXPECT_EQ(run.status, 200) << run.body;
        return json::parse(run.body, nullptr, false);
    }
    json loyalty_of(const std::string& patient_id) {
        const auto answer = call("sol", "GET", "/patients/" + patient_id);
        EXPECT_EQ(answer.status, 200) << answer.body;
        return json::parse(answer.body, nullptr, false);
    }
    std::multiset<std::string> email_recipients() {
        std::multiset<std::string> recipients;
        for (const auto& message : smtp_->messages()) {
            recipients.insert(message["rcpt_tos"][0].get<std::string>());
        }
        return recipients;
    }
    std::multiset<std::string> whatsapp_recipients() {
        std::multiset<std::string> recipients;
        for (const auto& request : ycloud_->received()) {
            recipients.insert(json::parse(request.body)["to"].get<std::string>());
        }
        return recipients;
    }

    std::map<std::string, std::string> tokens_;
};

TEST_P(FidelizacionTest, AFirstPaymentBringsOneWelcomePerConsentedChannelAndNeverASecond) {
    const std::string ana = reachable_patient("sol", "ana", "+525511110001");
    // Beto gave consent for email only: no WhatsApp for him, though he has a phone.
    const std::string beto = patient("sol", {{"first_name", "Beto"},
                                             {"email", "beto@example.com"},
                                             {"phone", "+525511110002"},
                                             {"consent", {{"email", true}}}});
    pay("sol", ana, 123450);
    pay("sol", beto, 50000);
    ASSERT_TRUE(smtp_->wait_for(2, 15));
    ASSERT_TRUE(ycloud_->wait_for(1, 15));
    pay("sol", ana, 99900);  // a second payment: no second welcome
    // The legacy system sends Carla's payment twice in one file and again the next day: the
    // same external_id is "unchanged"; a copy under another external_id is a second payment.
    const std::string carla_lines =
        R"({"kind": "patient", "external_id": "P-9", "first_name": "Carla", "email": "carla@example.com", "language": "en", "consent": {"email": true}}
{"kind": "payment", "external_id": "F-1", "patient_external_id": "P-9", "amount_cents": 150000, "method": "cash"}
)";
    EXPECT_EQ(import(carla_lines)["created"], 2);
    EXPECT_EQ(import(carla_lines)["unchanged"], 2);
    EXPECT_EQ(
        import(
            R"({"kind": "payment", "external_id": "F-1-bis", "patient_external_id": "P-9", "amount_cents": 150000, "method": "cash"})")
            ["created"],
        1);
    wait_for_handlers("sol");
    ASSERT_TRUE(smtp_->wait_for(3, 15));
    std::this_thread::sleep_for(1500ms);  // a second welcome would reach the receivers by now

    EXPECT_EQ(email_recipients(), (std::multiset<std::string>{"ana@example.com", "beto@example.com",
                                                              "carla@example.com"}));
    EXPECT_EQ(whatsapp_recipients(), (std::multiset<std::string>{"+525511110001"}));
    std::map<std::string, json> by_recipient;
    for (const auto& message : smtp_->messages()) by_recipient[message["rcpt_tos"][0]] = message;
    EXPECT_EQ(by_recipient["ana@example.com"]["subject"],
              "¡Le damos la bienvenida a Clínica Sol, ana!");
    EXPECT_NE(by_recipient["ana@example.com"]["text"].get<std::string>().find("$1,234.50"),
              std::string::npos)
        << by_recipient["ana@example.com"]["text"];
    EXPECT_EQ(by_recipient["carla@example.com"]["subject"], "Welcome to Clínica Sol, Carla!");
    const std::string whatsapp_text =
        json::parse(ycloud_->received()[0].body)["text"]["body"].get<std::string>();
    EXPECT_NE(whatsapp_text.find("Hola ana"), std::string::npos) << whatsapp_text;

    const json ana_loyalty = loyalty_of(ana);
    ASSERT_EQ(ana_loyalty["entries"].size(), 1u);
    EXPECT_EQ(ana_loyalty["entries"][0]["kind"], "welcome");
    EXPECT_EQ(ana_loyalty["entries"][0]["channels"], json::array({"email", "whatsapp"}));
    EXPECT_EQ(loyalty_of(beto)["entries"][0]["channels"], json::array({"email"}));
    const auto events =
        json::parse(host_->http()
                        .get("/api/v1/tenants/sol/events?type=fidelizacion.welcome_sent", kAdmin)
                        .body)["items"];
    EXPECT_EQ(events.size(), 3u) << "one welcome_sent per welcomed patient";
    EXPECT_EQ(call("sol", "GET", "/patients/no-such-patient").status, 404);
}

TEST_P(FidelizacionTest, BirthdaysOnTheClinicsLocalDateGetOneCodeAYearHoweverOftenTheRunFires) {
    const std::string ana =
        reachable_patient("sol", "ana", "+525511110001", {{"birth_date", "1990-12-01"}});
    const std::string john = reachable_patient("sol", "john", "+525511110003",
                                               {{"birth_date", "1985-12-01"}, {"language", "en"}});
    // Born on 1 December but without any consent; and one born the next day.
    const std::string quiet = patient(
        "sol",
        {{"first_name", "Quieta"}, {"email", "q@example.com"}, {"birth_date", "2000-12-01"}});
    reachable_patient("sol", "dora", "+525511110004", {{"birth_date", "1990-12-02"}});

    const json run = run_birthdays("sol", kBirthdayMorning);
    EXPECT_EQ(run["status"], "succeeded") << run.dump();
    EXPECT_EQ(run["scheduled_at"], "2026-12-01T14:00:00Z");
    ASSERT_TRUE(smtp_->wait_for(2, 15));
    ASSERT_TRUE(ycloud_->wait_for(2, 15));

    const json ana_codes = loyalty_of(ana)["codes"];
    ASSERT_EQ(ana_codes.size(), 1u);
    const std::string code = ana_codes[0]["code"];
    EXPECT_TRUE(std::regex_match(code, std::regex("CUMPLE-[2-9A-HJ-NP-Z]{6}"))) << code;
    EXPECT_EQ(ana_codes[0]["percent"], 15);
    EXPECT_EQ(ana_codes[0]["issued_on"], "2026-12-01");
    EXPECT_EQ(ana_codes[0]["valid_until"], "2026-12-30");
    EXPECT_EQ(ana_codes[0]["status"], "valid");
    EXPECT_NE(loyalty_of(john)["codes"][0]["code"], code) << "codes are personal";
    EXPECT_EQ(loyalty_of(quiet)["codes"].size(), 1u) << "a code, though no message can reach her";

    // At 23:30 local it is already 2 December in UTC, but still the 1st in the clinic: the same
    // day's run again changes nothing. Then the retried 08:00 run: nothing either.
    EXPECT_EQ(run_birthdays("sol", "2026-12-02T05:30:00Z")["status"], "succeeded");
    EXPECT_EQ(run_birthdays("sol", kBirthdayMorning)["status"], "succeeded");
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(email_recipients(),
              (std::multiset<std::string>{"ana@example.com", "john@example.com"}));
    EXPECT_EQ(whatsapp_recipients(),
              (std::multiset<std::string>{"+525511110001", "+525511110003"}));
    EXPECT_EQ(loyalty_of(ana)["codes"], ana_codes) << "the same code";
    EXPECT_EQ(outbox("sol").size(), 4u);
    std::map<std::string, json> by_recipient;
    for (const auto& message : smtp_->messages()) by_recipient[message["rcpt_tos"][0]] = message;
    const std::string spanish = by_recipient["ana@example.com"]["text"];
    EXPECT_EQ(by_recipient["ana@example.com"]["subject"], "¡Feliz cumpleaños, ana!");
    EXPECT_NE(spanish.find(code), std::string::npos) << spanish;
    EXPECT_NE(spanish.find("15% de descuento"), std::string::npos) << spanish;
    EXPECT_NE(spanish.find("30 de diciembre de 2026"), std::string::npos) << spanish;
    EXPECT_NE(by_recipient["john@example.com"]["text"].get<std::string>().find("December 30, 2026"),
              std::string::npos);
    const auto issued =
        json::parse(host_->http()
                        .get("/api/v1/tenants/sol/events?type=fidelizacion.code_issued", kAdmin)
                        .body)["items"];
    EXPECT_EQ(issued.size(), 3u) << "one code_issued per code, not per run";

    // The next day's run greets Dora only.
    EXPECT_EQ(run_birthdays("sol", "2026-12-02T08:00:00-06:00")["status"], "succeeded");
    ASSERT_TRUE(smtp_->wait_for(3, 15));
    EXPECT_EQ(email_recipients().count("dora@example.com"), 1u);
}

TEST_P(FidelizacionTest, CodesAreLookedUpAndRedeemedOnceByTheClinicsSystem) {
    const std::string ana =
        reachable_patient("sol", "ana", "+525511110001", {{"birth_date", "1990-12-01"}});
    // Last year's code, valid until 2025-12-30, has expired by now (the host's clock: 2026).
    ASSERT_EQ(run_birthdays("sol", "2025-12-01T08:00:00-06:00")["status"], "succeeded");
    ASSERT_EQ(run_birthdays("sol", kBirthdayMorning)["status"], "succeeded");
    const json codes = loyalty_of(ana)["codes"];
    ASSERT_EQ(codes.size(), 2u);
    const std::string current = codes[0]["code"];
    const std::string expired = codes[1]["code"];
    ASSERT_EQ(codes[1]["valid_until"], "2025-12-30");

    const auto looked_up = call("sol", "GET", "/codes/" + current);
    ASSERT_EQ(looked_up.status, 200) << looked_up.body;
    EXPECT_EQ(json::parse(looked_up.body)["patient_id"], ana);
    EXPECT_EQ(json::parse(looked_up.body)["status"], "valid");
    EXPECT_EQ(json::parse(looked_up.body)["percent"], 15);
    // Staff type codes as they read them: lower case and spaces are fine.
    std::string typed = current;
    for (auto& symbol : typed) symbol = static_cast<char>(std::tolower(symbol));
    EXPECT_EQ(call("sol", "GET", "/codes/" + typed).status, 200);

    const auto expired_lookup = call("sol", "GET", "/codes/" + expired);
    EXPECT_EQ(json::parse(expired_lookup.body)["status"], "expired");
    EXPECT_EQ(call("sol", "POST", "/codes/" + expired + "/redeem").status, 410);
    EXPECT_EQ(call("sol", "GET", "/codes/CUMPLE-2222ZZ").status, 404);
    EXPECT_EQ(call("sol", "GET", "/codes/nonsense").status, 404);
    // Bytes that are not UTF-8, and a character cut in half by the length limit: still 404.
    EXPECT_EQ(call("sol", "GET", "/codes/%FF%FE").status, 404);
    EXPECT_EQ(call("sol", "GET", "/codes/" + std::string(39, 'A') + "%C3%B1").status, 404);
    EXPECT_EQ(call("sol", "GET", "/patients/%FF").status, 404);
    EXPECT_EQ(call("sol", "POST", "/codes/CUMPLE-2222ZZ/redeem").status, 404);

    // Bad input and access.
    EXPECT_EQ(call("sol", "POST", "/codes/" + current + "/redeem", "{not json").status, 400);
    EXPECT_EQ(call("sol", "POST", "/codes/" + current + "/redeem", R"({"reference": 7})").status,
              400);
    EXPECT_EQ(call("sol", "POST", "/codes/" + current + "/redeem", R"({"ticket": "1"})").status,
              400);
    EXPECT_EQ(host_->http().get("/t/sol/fidelizacion/codes/" + current).status, 401);
    EXPECT_EQ(
        host_->http()
            .get("/t/sol/fidelizacion/codes/" + current, {"Authorization: Bearer not-a-real-token"})
            .status,
        401);
    EXPECT_EQ(call("sol", "GET", "/codes/" + current, "", "luna").status, 404)
        << "another clinic's token sees nothing";
    EXPECT_EQ(json::parse(call("sol", "GET", "/codes/" + current).body)["status"], "valid")
        << "refused redeems changed nothing";

    // Two cashiers redeem at once: exactly one wins.
    std::vector<long> statuses(2);
    std::vector<std::thread> cashiers;
    for (size_t i = 0; i < 2; ++i) {
        cashiers.emplace_back([&, i] {
            statuses[i] = call("sol", "POST", "/codes/" + current + "/redeem",
                               R"({"reference": "ticket )" + std::to_string(i) + "\"}")
                              .status;
        });
    }
    for (auto& cashier : cashiers) cashier.join();
    std::sort(statuses.begin(), statuses.end());
    EXPECT_EQ(statuses, (std::vector<long>{200, 409}));

    const auto again = call("sol", "POST", "/codes/" + current + "/redeem");
    ASSERT_EQ(again.status, 409) << again.body;
    const json conflict = json::parse(again.body);
    EXPECT_TRUE(conflict["redeemed_at"].is_string());
    EXPECT_NE(conflict["detail"].get<std::string>().find("already redeemed at"), std::string::npos);
    const json redeemed = json::parse(call("sol", "GET", "/codes/" + current).body);
    EXPECT_EQ(redeemed["status"], "redeemed");
    EXPECT_TRUE(redeemed["reference"] == "ticket 0" || redeemed["reference"] == "ticket 1");
    const auto events =
        json::parse(host_->http()
                        .get("/api/v1/tenants/sol/events?type=fidelizacion.code_redeemed", kAdmin)
                        .body)["items"];
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["data"]["code"], current);
}

TEST_P(FidelizacionTest, SettingsAreValidatedFieldByFieldAndTheBirthdayHourMovesTheSchedule) {
    const auto refused = send("PUT", "/api/v1/tenants/sol/plugins/fidelizacion",
                              {{"enabled", true},
                               {"settings",
                                {{"birthday_hour", 24},
                                 {"discount_percent", 0},
                                 {"channels", json::array({"sms"})},
                                 {"colour", "red"}}}});
    ASSERT_EQ(refused.status, 400) << refused.body;
    std::set<std::string> fields;
    const json problem = json::parse(refused.body);
    for (const auto& error : problem["errors"]) fields.insert(error["field"].get<std::string>());
    for (const auto* field :
         {"/settings/birthday_hour", "/settings/discount_percent", "/settings/colour"}) {
        EXPECT_EQ(fields.count(field), 1u) << field << " in " << refused.body;
    }
    EXPECT_TRUE(std::any_of(fields.begin(), fields.end(), [](const std::string& field) {
        return field.rfind("/settings/channels", 0) == 0;
    })) << refused.body;

    enable("sol", {{"birthday_hour", 10}});
    const auto listed =
        host_->http().get("/api/v1/tenants/sol/plugins/fidelizacion/schedules", kAdmin);
    ASSERT_EQ(listed.status, 200) << listed.body;
    const json schedule = json::parse(listed.body)["items"][0];
    EXPECT_EQ(schedule["name"], "birthdays");
    EXPECT_EQ(schedule["effective_cron"], "0 10 * * *");
    // 10:00 in Mexico City is 16:00 UTC.
    EXPECT_NE(schedule["next_run_at"].get<std::string>().find("T16:00:00Z"), std::string::npos)
        << schedule.dump();

    const json stored = json::parse(
        host_->http().get("/api/v1/tenants/sol/plugins/fidelizacion", kAdmin).body)["settings"];
    EXPECT_EQ(stored["discount_percent"], 15) << "defaults filled in: " << stored.dump();
    EXPECT_EQ(stored["channels"], json::array({"email", "whatsapp"}));
}

TEST_P(FidelizacionTest, ATenantWithoutThePluginGetsNothingAndAFailingRunStaysInItsTenant) {
    // Luna has not enabled the plugin: no routes, no run, no welcome, no greeting.
    const std::string luna_patient =
        reachable_patient("luna", "luz", "+525511119999", {{"birth_date", "1990-12-01"}});
    EXPECT_EQ(call("luna", "GET", "/patients/" + luna_patient).status, 404);
    EXPECT_EQ(call("luna", "GET", "/codes/CUMPLE-2222ZZ").status, 404);
    EXPECT_EQ(send("POST", "/api/v1/tenants/luna/plugins/fidelizacion/schedules/birthdays/run",
                   {{"as_of", kBirthdayMorning}})
                  .status,
              404);
    pay("luna", luna_patient, 10000);

    // Sol's English template is broken by an override: John's greeting fails, Ana's still goes,
    // and the run says it failed (to be retried).
    enable("sol", {{"templates", {{"birthday", {{"en", {{"subject", "Hi {{nickname}}"}}}}}}}});
    const std::string ana =
        reachable_patient("sol", "ana", "+525511110001", {{"birth_date", "1990-12-01"}});
    reachable_patient("sol", "john", "+525511110003",
                      {{"birth_date", "1985-12-01"}, {"language", "en"}});
    const json failed = run_birthdays("sol", kBirthdayMorning);
    EXPECT_NE(failed["status"], "succeeded") << failed.dump();
    EXPECT_NE(failed["error"].get<std::string>().find("1 of 2"), std::string::npos)
        << failed.dump();

    // Luna enables it now, with email only: its run succeeds, untouched by Sol's failure.
    enable("luna", {{"channels", json::array({"email"})}});
    EXPECT_EQ(run_birthdays("luna", kBirthdayMorning)["status"], "succeeded");
    wait_for_handlers("luna");
    ASSERT_TRUE(smtp_->wait_for(2, 15));
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(email_recipients(),
              (std::multiset<std::string>{"ana@example.com", "luz@example.com"}))
        << "no welcome for Luna's payment made while the plugin was off";
    EXPECT_EQ(whatsapp_recipients(), (std::multiset<std::string>{"+525511110001"}))
        << "Luna allows email only";
    EXPECT_EQ(loyalty_of(ana)["codes"].size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, FidelizacionTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
