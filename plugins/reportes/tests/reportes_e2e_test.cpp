// End-to-end: the reportes plugin in the real host, on SQLite and PostgreSQL — the day's and
// week's figures over HTTP (JSON and PDF), the daily and weekly emails with their PDFs at a real
// SMTP server, runs redone without sending twice, a tenant without the plugin, bad input, and a
// tenant whose run fails beside one whose run succeeds.
#include "support/clinic_stage.h"
#include "support/host_process.h"
#include "support/smtp_receiver.h"
#include "support/test_environment.h"

#include "shell_output.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

namespace {

using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;
using reportes::testing::shell_output;
using namespace std::chrono_literals;

const std::vector<std::string> kAdmin = {kAdminHeader};

// What pdftotext reads in a PDF, and how many clearly coloured pixels (chart bars: the text is
// black) its first page has when rendered at 36 dpi.
struct PdfReading {
    std::string text;
    size_t coloured_pixels = 0;
};
PdfReading read_pdf(const std::string& bytes, const std::filesystem::path& directory) {
    static int counter = 0;
    const auto path = directory / ("read-" + std::to_string(counter++) + ".pdf");
    std::ofstream(path, std::ios::binary) << bytes;
    PdfReading reading;
    reading.text = shell_output("pdftotext -layout '" + path.string() + "' -");
    const std::string ppm = shell_output("pdftoppm -r 36 -f 1 -l 1 '" + path.string() + "'");
    size_t offset = 0;
    for (int lines = 0; lines < 3 && offset < ppm.size(); ++offset) {
        if (ppm[offset] == '\n') ++lines;
    }
    for (size_t i = offset; i + 2 < ppm.size(); i += 3) {
        if (static_cast<unsigned char>(ppm[i + 2]) - static_cast<unsigned char>(ppm[i]) > 60) {
            ++reading.coloured_pixels;
        }
    }
    return reading;
}

std::string decode_base64(const std::string& text) {
    std::string out;
    uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        int value = -1;
        if (c >= 'A' && c <= 'Z') value = c - 'A';
        if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
        if (c >= '0' && c <= '9') value = c - '0' + 52;
        if (c == '+') value = 62;
        if (c == '/') value = 63;
        if (value < 0) continue;  // line breaks, padding
        buffer = (buffer << 6) | static_cast<uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

// The PDF attached to a raw email: the base64 body of its application/pdf part.
std::string attached_pdf(const std::string& eml) {
    const size_t part = eml.find("application/pdf");
    if (part == std::string::npos) return "";
    size_t body = eml.find("\r\n\r\n", part);
    size_t separator = 4;
    if (body == std::string::npos) {
        body = eml.find("\n\n", part);
        separator = 2;
    }
    if (body == std::string::npos) return "";
    const size_t end = eml.find("--", body + separator);
    return decode_base64(eml.substr(body + separator, end - body - separator));
}

bool contains(const std::string& text, const std::string& piece) {
    return text.find(piece) != std::string::npos;
}

class ReportesTest : public miconsul::testing::ClinicStageTest {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        set_the_stage(std::vector<std::string>{"reportes"},
                      std::map<std::string, std::string>{
                          {"MICONSUL_MESSAGE_RETRY_BASE_MS", "500"},
                          {"MICONSUL_SMTP_FROM", "MiConsul <avisos@miconsul.mx>"}});
        ASSERT_EQ(send("PUT", "/api/v1/tenants/sol/plugins/reportes", {{"enabled", true}}).status,
                  200);
        const auto token = send("POST", "/api/v1/tenants/sol/tokens", {{"label", "n8n"}});
        ASSERT_EQ(token.status, 201) << token.body;
        sol_token_ = "Authorization: Bearer " + token.json()["token"].get<std::string>();
    }

    HttpResult get_report(const std::string& path_and_query) {
        return host_->http().get("/t/sol/reportes/" + path_and_query, {sol_token_});
    }
    json run(const std::string& tenant, const std::string& schedule, const std::string& as_of) {
        const auto answer =
            send("POST",
                 "/api/v1/tenants/" + tenant + "/plugins/reportes/schedules/" + schedule + "/run",
                 {{"as_of", as_of}, {"wait", true}});
        EXPECT_EQ(answer.status, 200) << answer.body;
        return json::parse(answer.body, nullptr, false);
    }
    size_t outbox_size(const std::string& tenant) {
        const auto answer =
            host_->http().get("/api/v1/tenants/" + tenant + "/messages?limit=200", kAdmin);
        return json::parse(answer.body)["items"].size();
    }

    // Sol's 1 December 2026 (Mexico City, UTC-6) and a little around it:
    // Dra. Ruiz: 5 appointments (2 completed, 1 no-show, 1 scheduled, 1 cancelled at 23:30,
    //   which is 2 December in UTC), payments $1,000.00 card + $234.50 cash = $1,234.50 MXN.
    // Dr. Gómez: 2 appointments (confirmed, completed), $500.00 MXN transfer and $20.00 USD card.
    // Dr. Vacío: has an email but nothing that day. Dr. Sin Correo: one appointment, no email.
    // Outside the day: an appointment on 30 Nov, one on 24 Nov (previous week), a payment at
    // 00:30 on 2 Dec ($100.00) and one on 24 Nov ($300.00, Luis's first).
    void seed_sol() {
        ruiz_ = create("sol", "doctors", {{"name", "Dra. Ruiz"}, {"email", "ruiz@sol.mx"}});
        gomez_ = create("sol", "doctors", {{"name", "Dr. Gómez"}, {"email", "gomez@sol.mx"}});
        create("sol", "doctors", {{"name", "Dr. Vacío"}, {"email", "vacio@sol.mx"}});
        const std::string no_email = create("sol", "doctors", {{"name", "Dr. Sin Correo"}});
        const std::string ana =
            create("sol", "patients", {{"first_name", "Ana"}, {"last_name", "López"}});
        const std::string luis =
            create("sol", "patients", {{"first_name", "Luis"}, {"last_name", "Pérez"}});
        const std::string eva =
            create("sol", "patients", {{"first_name", "Eva"}, {"last_name", "Núñez"}});
        auto appointment = [&](const std::string& doctor, const std::string& patient,
                               const std::string& start, const std::string& status) {
            create("sol", "appointments",
                   {{"doctor_id", doctor},
                    {"patient_id", patient},
                    {"start", start},
                    {"status", status}});
        };
        appointment(ruiz_, ana, "2026-12-01T09:00:00-06:00", "completed");
        appointment(ruiz_, luis, "2026-12-01T10:00:00-06:00", "completed");
        appointment(ruiz_, eva, "2026-12-01T11:00:00-06:00", "no-show");
        appointment(ruiz_, ana, "2026-12-01T12:00:00-06:00", "scheduled");
        appointment(ruiz_, luis, "2026-12-01T23:30:00-06:00", "cancelled");
        appointment(gomez_, eva, "2026-12-01T09:00:00-06:00", "confirmed");
        appointment(gomez_, ana, "2026-12-01T10:00:00-06:00", "completed");
        appointment(no_email, luis, "2026-12-01T09:00:00-06:00", "completed");
        appointment(ruiz_, ana, "2026-11-30T09:00:00-06:00", "completed");
        appointment(gomez_, luis, "2026-11-24T09:00:00-06:00", "completed");
        auto payment = [&](const std::string& doctor, const std::string& patient, int cents,
                           const std::string& method, const std::string& at,
                           const std::string& currency = "MXN") {
            create("sol", "payments",
                   {{"doctor_id", doctor},
                    {"patient_id", patient},
                    {"amount_cents", cents},
                    {"method", method},
                    {"paid_at", at},
                    {"currency", currency}});
        };
        payment(gomez_, luis, 30000, "cash", "2026-11-24T09:40:00-06:00");
        payment(ruiz_, ana, 100000, "card", "2026-12-01T09:40:00-06:00");
        payment(ruiz_, luis, 23450, "cash", "2026-12-01T10:40:00-06:00");
        payment(gomez_, ana, 50000, "transfer", "2026-12-01T10:40:00-06:00");
        payment(gomez_, eva, 2000, "card", "2026-12-01T09:40:00-06:00", "USD");
        payment(ruiz_, ana, 10000, "cash", "2026-12-02T00:30:00-06:00");
    }

    miconsul::testing::ScratchDirectory scratch_;  // where PDFs are read back
    std::string sol_token_;
    std::string ruiz_, gomez_;
};

TEST_P(ReportesTest, TheDailyReportOverHttpHasTheDaysFiguresAsJsonAndPdf) {
    seed_sol();
    const auto clinic = get_report("daily?date=2026-12-01&format=json");
    ASSERT_EQ(clinic.status, 200) << clinic.body;
    const json day = clinic.json();
    EXPECT_TRUE(day["doctor"].is_null());
    EXPECT_EQ(day["appointments"]["total"], 8) << "the 23:30 one counts, 30 Nov's does not";
    EXPECT_EQ(day["appointments"]["by_status"]["completed"], 4);
    EXPECT_EQ(day["appointments"]["by_status"]["cancelled"], 1);
    EXPECT_EQ(day["appointments"]["items"][0]["time"], "09:00") << "local time";
    EXPECT_EQ(day["appointments"]["items"].back()["time"], "23:30");
    EXPECT_EQ(day["sales"]["currency"], "MXN");
    EXPECT_EQ(day["sales"]["total_cents"], 173450) << "00:30 on 2 Dec is not 1 Dec's";
    EXPECT_EQ(day["sales"]["total"], "$1,734.50 MXN");
    ASSERT_EQ(day["sales"]["other_currencies"].size(), 1u);
    EXPECT_EQ(day["sales"]["other_currencies"][0]["total"], "$20.00 USD");

    const json ruiz = get_report("daily?date=2026-12-01&format=json&doctor_id=" + ruiz_).json();
    EXPECT_EQ(ruiz["doctor"]["name"], "Dra. Ruiz");
    EXPECT_EQ(ruiz["appointments"]["total"], 5);
    EXPECT_EQ(ruiz["appointments"]["by_status"]["no-show"], 1);
    EXPECT_EQ(ruiz["appointments"]["items"][0]["patient"], "Ana López");
    EXPECT_EQ(ruiz["sales"]["total"], "$1,234.50 MXN");
    EXPECT_EQ(ruiz["sales"]["by_method"]["card"], 100000);
    EXPECT_EQ(ruiz["sales"]["by_method"]["cash"], 23450);
    EXPECT_TRUE(ruiz["sales"]["other_currencies"].empty()) << "the USD was Dr. Gómez's";

    const auto pdf = get_report("daily?date=2026-12-01&format=pdf&doctor_id=" + ruiz_);
    ASSERT_EQ(pdf.status, 200) << pdf.body;
    EXPECT_EQ(pdf.header("content-type"), "application/pdf");
    EXPECT_EQ(pdf.header("content-disposition"), "inline; filename=reporte-2026-12-01.pdf");
    ASSERT_EQ(pdf.body.rfind("%PDF", 0), 0u);
    const std::string text = read_pdf(pdf.body, scratch_.path()).text;
    for (const char* expected :
         {"Dra. Ruiz", "Citas: 5", "Completada", "No asistió", "$1,234.50 MXN", "$1,000.00 MXN",
          "$234.50 MXN", "Eva Núñez", "23:30"}) {
        EXPECT_TRUE(contains(text, expected)) << expected << " in\n" << text;
    }
    EXPECT_FALSE(contains(text, "Dr. Gómez"));

    const json future = get_report("daily?date=2030-01-01&format=json").json();
    EXPECT_EQ(future["appointments"]["total"], 0) << "a future day is fine, and empty";
    EXPECT_EQ(future["sales"]["total"], "$0.00 MXN");
}

TEST_P(ReportesTest, TheDailyRunEmailsEachDoctorWithADayOnceWithThePdf) {
    seed_sol();
    const json first = run("sol", "daily", "2026-12-01T20:00:00-06:00");
    EXPECT_EQ(first["status"], "succeeded") << first.dump();
    ASSERT_TRUE(smtp_->wait_for(2, 20)) << smtp_->log();
    std::map<std::string, size_t> by_recipient;
    const auto received = smtp_->messages();
    for (size_t i = 0; i < received.size(); ++i) by_recipient[received[i]["rcpt_tos"][0]] = i;
    ASSERT_TRUE(by_recipient.count("ruiz@sol.mx"));
    ASSERT_TRUE(by_recipient.count("gomez@sol.mx"));
    const json& message = received[by_recipient["ruiz@sol.mx"]];
    EXPECT_EQ(message["subject"], "Reporte diario 2026-12-01 · Clínica Sol");
    EXPECT_TRUE(contains(message["text"], "5 citas, ventas $1,234.50 MXN")) << message["text"];
    ASSERT_EQ(message["attachments"].size(), 1u);
    EXPECT_EQ(message["attachments"][0]["filename"], "reporte-2026-12-01.pdf");
    EXPECT_EQ(message["attachments"][0]["content_type"], "application/pdf");
    const std::string pdf = attached_pdf(smtp_->eml(by_recipient["ruiz@sol.mx"]));
    ASSERT_EQ(pdf.rfind("%PDF", 0), 0u);
    const std::string text = read_pdf(pdf, scratch_.path()).text;
    for (const char* expected :
         {"Dra. Ruiz", "2026-12-01", "Citas: 5", "$1,234.50 MXN", "Ana López"}) {
        EXPECT_TRUE(contains(text, expected)) << expected << " in\n" << text;
    }
    const std::string gomez_text =
        read_pdf(attached_pdf(smtp_->eml(by_recipient["gomez@sol.mx"])), scratch_.path()).text;
    EXPECT_TRUE(contains(gomez_text, "$500.00 MXN")) << gomez_text;
    EXPECT_TRUE(contains(gomez_text, "$20.00 USD")) << gomez_text;

    // Redone (a retry, a manual rerun): nothing new is queued or sent.
    EXPECT_EQ(run("sol", "daily", "2026-12-01T20:00:00-06:00")["status"], "succeeded");
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(smtp_->messages().size(), 2u) << "Dr. Vacío (empty day) and Dr. Sin Correo get none";
    EXPECT_EQ(outbox_size("sol"), 2u);
}

TEST_P(ReportesTest, SettingsTurnTheDailyReportOffOrSendItOnEmptyDaysToo) {
    seed_sol();
    ASSERT_EQ(send("PUT", "/api/v1/tenants/sol/plugins/reportes",
                   {{"enabled", true}, {"settings", {{"daily_enabled", false}}}})
                  .status,
              200);
    EXPECT_EQ(run("sol", "daily", "2026-12-01T20:00:00-06:00")["status"], "succeeded");
    EXPECT_EQ(outbox_size("sol"), 0u) << "daily_enabled false sends nothing";

    ASSERT_EQ(send("PUT", "/api/v1/tenants/sol/plugins/reportes",
                   {{"enabled", true}, {"settings", {{"skip_empty", false}}}})
                  .status,
              200);
    EXPECT_EQ(run("sol", "daily", "2026-12-01T20:00:00-06:00")["status"], "succeeded");
    ASSERT_TRUE(smtp_->wait_for(3, 20)) << smtp_->log();
    std::set<std::string> recipients;
    for (const auto& message : smtp_->messages()) recipients.insert(message["rcpt_tos"][0]);
    EXPECT_EQ(recipients, (std::set<std::string>{"ruiz@sol.mx", "gomez@sol.mx", "vacio@sol.mx"}))
        << "Dr. Vacío gets his empty day; Dr. Sin Correo has no address";
}

TEST_P(ReportesTest, TheWeeklyRunSendsBothWeeksWithChartsToTheRecipientsOnce) {
    seed_sol();
    // Without recipients the run succeeds and sends nothing.
    EXPECT_EQ(run("sol", "weekly", "2026-12-07T08:00:00-06:00")["status"], "succeeded");
    EXPECT_EQ(outbox_size("sol"), 0u);
    ASSERT_EQ(
        send("PUT", "/api/v1/tenants/sol/plugins/reportes",
             {{"enabled", true}, {"settings", {{"recipients", {"admin@sol.mx", "dueno@sol.mx"}}}}})
            .status,
        200);
    const auto week = get_report("weekly?week=2026-W49&format=json");
    ASSERT_EQ(week.status, 200) << week.body;
    const json figures = week.json();
    EXPECT_EQ(figures["week"]["appointments"], 9);
    EXPECT_EQ(figures["week"]["appointments_per_day"], json({1, 8, 0, 0, 0, 0, 0}));
    EXPECT_NEAR(figures["week"]["completion_rate"].get<double>(), 5.0 / 6.0, 0.001);
    EXPECT_NEAR(figures["week"]["no_show_rate"].get<double>(), 1.0 / 6.0, 0.001);
    EXPECT_EQ(figures["week"]["sales"]["MXN"]["total"], "$1,834.50 MXN");
    EXPECT_EQ(figures["week"]["first_payments"], 2) << "Ana's and Eva's; Luis paid first on 24 Nov";
    EXPECT_EQ(figures["week"]["new_patients"], 3);
    EXPECT_EQ(figures["previous_week"]["week"], "2026-W48");
    EXPECT_EQ(figures["previous_week"]["appointments"], 1);
    EXPECT_EQ(figures["previous_week"]["first_payments"], 1);
    EXPECT_EQ(figures["previous_week"]["sales"]["MXN"]["total"], "$300.00 MXN");
    EXPECT_EQ(figures["previous_week"]["sales_per_day_cents"], json({0, 30000, 0, 0, 0, 0, 0}));

    const json first = run("sol", "weekly", "2026-12-07T08:00:00-06:00");
    EXPECT_EQ(first["status"], "succeeded") << first.dump();
    ASSERT_TRUE(smtp_->wait_for(2, 20)) << smtp_->log();
    const auto received = smtp_->messages();
    EXPECT_EQ(received[0]["subject"], "Reporte semanal 2026-W49 · Clínica Sol");
    EXPECT_EQ(received[0]["attachments"][0]["filename"], "reporte-2026-W49.pdf");
    const PdfReading reading = read_pdf(attached_pdf(smtp_->eml(0)), scratch_.path());
    for (const char* expected :
         {"2026-W49", "2026-W48", "$1,834.50 MXN", "$300.00 MXN", "+$1,534.50 MXN", "83.3 %",
          "16.7 %", "100.0 %", "Citas por día", "Ventas por día (MXN)"}) {
        EXPECT_TRUE(contains(reading.text, expected)) << expected << " in\n" << reading.text;
    }
    EXPECT_GT(reading.coloured_pixels, 100u) << "the charts' bars are drawn";

    // The templates' samples render in both languages (what the panel previews).
    for (const char* language : {"es", "en"}) {
        for (const char* name : {"daily_report", "weekly_report"}) {
            const auto preview =
                send("POST", "/t/sol/messages/preview",
                     {{"plugin", "reportes"}, {"template", name}, {"language", language}});
            EXPECT_EQ(preview.status, 200) << name << " " << language << " " << preview.body;
        }
    }
    EXPECT_EQ(run("sol", "weekly", "2026-12-07T08:00:00-06:00")["status"], "succeeded");
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(smtp_->messages().size(), 2u) << "one per recipient and week, however often it runs";
    EXPECT_EQ(outbox_size("sol"), 2u);
}

TEST_P(ReportesTest, OtherTenantsWrongTokensAndBadInputAreRefused) {
    const auto luna = host_->http().get("/t/luna/reportes/daily?format=json", kAdmin);
    EXPECT_EQ(luna.status, 404) << "not enabled for luna";
    EXPECT_EQ(host_->http().get("/t/luna/reportes/weekly?format=json", {sol_token_}).status, 404)
        << "sol's token on luna";
    EXPECT_EQ(host_->http().get("/t/sol/reportes/daily?format=json").status, 401);
    EXPECT_EQ(host_->http()
                  .get("/t/sol/reportes/daily?format=json", {"Authorization: Bearer nope"})
                  .status,
              401);

    const auto bad_date = get_report("daily?date=2026-02-30&format=json");
    EXPECT_EQ(bad_date.status, 400);
    EXPECT_TRUE(contains(bad_date.body, "date")) << bad_date.body;
    const auto bad_format = get_report("daily?date=2026-12-01&format=xlsx");
    EXPECT_EQ(bad_format.status, 400);
    EXPECT_TRUE(contains(bad_format.body, "format")) << bad_format.body;
    const auto bad_week = get_report("weekly?week=2026-W60&format=pdf");
    EXPECT_EQ(bad_week.status, 400);
    EXPECT_TRUE(contains(bad_week.body, "week")) << bad_week.body;
    EXPECT_EQ(get_report("weekly?week=2026W49&format=json").status, 400);
    EXPECT_EQ(get_report("daily?date=2026-12-01&format=json&doctor_id=unknown").status, 404);
    // Real dates at the ends of what four digits write, and bytes that are not UTF-8: each a
    // clear 4xx, never a 500.
    EXPECT_EQ(get_report("weekly?week=9999-W52&format=json").status, 400);
    EXPECT_EQ(get_report("weekly?week=0000-W01&format=json").status, 400);
    EXPECT_EQ(get_report("daily?date=9999-12-31&format=json").status, 400);
    EXPECT_EQ(get_report("daily?date=2026-12-01&format=json&doctor_id=%FF").status, 404);
    const auto future_week = get_report("weekly?week=2031-W02&format=pdf");
    EXPECT_EQ(future_week.status, 200) << "a future week is empty, not an error";
    EXPECT_EQ(future_week.body.rfind("%PDF", 0), 0u);

    const auto refused = send("PUT", "/api/v1/tenants/sol/plugins/reportes",
                              {{"enabled", true},
                               {"settings",
                                {{"daily_hour", 24},
                                 {"recipients", {"not-an-address"}},
                                 {"sections", {{"charts", "yes"}}},
                                 {"colour", "red"}}}});
    EXPECT_EQ(refused.status, 400) << refused.body;
    std::set<std::string> fields;
    const json refusal = json::parse(refused.body);
    for (const auto& error : refusal["errors"]) fields.insert(error["field"].get<std::string>());
    EXPECT_EQ(fields, (std::set<std::string>{"/settings/daily_hour", "/settings/recipients/0",
                                             "/settings/sections/charts", "/settings/colour"}))
        << refused.body;
    const auto malformed =
        host_->http().send("PUT", "/api/v1/tenants/sol/plugins/reportes", "{not json", kAdmin);
    EXPECT_EQ(malformed.status, 400);
    const json settings =
        json::parse(host_->http().get("/api/v1/tenants/sol/plugins/reportes", kAdmin).body);
    EXPECT_EQ(settings["settings"]["daily_hour"], 20) << "nothing changed: " << settings.dump();
    EXPECT_EQ(settings["settings"]["weekly_hour"], 8);
}

TEST_P(ReportesTest, ARunThatFailsForOneTenantLeavesAnotherTenantsRunAlone) {
    seed_sol();
    // Luna's clinic broke its template (a variable the report does not have).
    ASSERT_EQ(
        send("PUT", "/api/v1/tenants/luna/plugins/reportes",
             {{"enabled", true},
              {"settings",
               {{"templates", {{"daily_report", {{"es", {{"subject", "{{nope}} {{date}}"}}}}}}}}}})
            .status,
        200);
    const std::string doctor =
        create("luna", "doctors", {{"name", "Dr. Luna"}, {"email", "dr@luna.mx"}});
    const std::string patient = create("luna", "patients", {{"first_name", "Leo"}});
    create(
        "luna", "appointments",
        {{"doctor_id", doctor}, {"patient_id", patient}, {"start", "2026-12-01T09:00:00-06:00"}});

    const json failed = run("luna", "daily", "2026-12-01T20:00:00-06:00");
    EXPECT_NE(failed["status"], "succeeded") << failed.dump();
    EXPECT_TRUE(contains(failed["error"].dump(), "nope")) << failed.dump();
    const json succeeded = run("sol", "daily", "2026-12-01T20:00:00-06:00");
    EXPECT_EQ(succeeded["status"], "succeeded") << succeeded.dump();
    ASSERT_TRUE(smtp_->wait_for(2, 20));
    std::this_thread::sleep_for(500ms);
    for (const auto& message : smtp_->messages()) {
        EXPECT_NE(message["rcpt_tos"][0], "dr@luna.mx");
    }
    EXPECT_EQ(outbox_size("luna"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReportesTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
