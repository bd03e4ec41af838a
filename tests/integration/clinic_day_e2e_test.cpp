// End-to-end: a clinic's automations as shipped — fidelizacion, citas and reportes loaded by the
// real binary, on SQLite and PostgreSQL, sending to a real SMTP server and a local stand-in for
// YCloud. One clinic (sol) enables the three plugins and gets the welcome, birthday,
// confirmation, doctor's notice, reminder, daily and weekly messages, each once, from schedules
// run as of chosen local instants; another (luna) holds the same records without the plugins and
// gets nothing. Each plugin's own tests (plugins/<name>/tests/) go into the details.
#include "support/clinic_stage.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

namespace {
using miconsul::testing::ClinicStage;
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;
using namespace std::chrono_literals;

const std::vector<std::string> kAdmin = {kAdminHeader};
constexpr const char* kAdminsAddress = "direccion@clinicasol.mx";

// The past week whose figures the reports hold: Wednesday 25 November 2026, and the Monday
// after it when the weekly report is due. Mexico City has been UTC-6 all year since 2022.
constexpr const char* kReportDay = "2026-11-25";
// A day far enough ahead that its appointments are still to come when the test runs.
constexpr const char* kComingDay = "2031-12-03";

class ClinicDayTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        stage_ = std::make_unique<ClinicStage>(
            GetParam(), std::vector<std::string>{"fidelizacion", "citas", "reportes"});
        ASSERT_EQ(
            send("PUT", "/api/v1/tenants/sol/plugins/fidelizacion", {{"enabled", true}}).status,
            200);
        ASSERT_EQ(send("PUT", "/api/v1/tenants/sol/plugins/citas", {{"enabled", true}}).status,
                  200);
        const auto reportes =
            send("PUT", "/api/v1/tenants/sol/plugins/reportes",
                 {{"enabled", true}, {"settings", {{"recipients", {kAdminsAddress}}}}});
        ASSERT_EQ(reportes.status, 200) << reportes.body;
    }

    HttpResult send(const std::string& method, const std::string& path, const json& body) {
        return stage_->send(method, path, body);
    }
    std::string created(const std::string& tenant, const std::string& kind, const json& body) {
        return stage_->create(tenant, kind, body);
    }
    // The same clinic day in a tenant: Dra. Ruiz, Ana (consents, born on the coming day's date)
    // and Beto (no consent, no email); a completed and a missed appointment and Ana's first
    // payment on the report day; Ana's appointment on the day after the coming day.
    void seed(const std::string& tenant) {
        const std::string ruiz =
            created(tenant, "doctors", {{"name", "Dra. Ruiz"}, {"email", "ruiz@clinicasol.mx"}});
        const std::string ana = created(tenant, "patients",
                                        {{"first_name", "Ana"},
                                         {"last_name", "López"},
                                         {"birth_date", "1990-12-03"},
                                         {"email", "ana@example.com"},
                                         {"phone", "+525511111111"},
                                         {"consent", {{"email", true}, {"whatsapp", true}}}});
        const std::string beto =
            created(tenant, "patients", {{"first_name", "Beto"}, {"birth_date", "1985-12-03"}});
        created(tenant, "appointments",
                {{"patient_id", ana},
                 {"doctor_id", ruiz},
                 {"start", std::string(kReportDay) + "T10:00:00-06:00"},
                 {"status", "completed"}});
        created(tenant, "appointments",
                {{"patient_id", beto},
                 {"doctor_id", ruiz},
                 {"start", std::string(kReportDay) + "T11:00:00-06:00"},
                 {"status", "no-show"}});
        created(tenant, "payments",
                {{"patient_id", ana},
                 {"doctor_id", ruiz},
                 {"amount_cents", 85000},
                 {"method", "card"},
                 {"paid_at", std::string(kReportDay) + "T10:45:00-06:00"}});
        created(tenant, "appointments",
                {{"patient_id", ana}, {"doctor_id", ruiz}, {"start", "2031-12-04T10:00:00-06:00"}});
    }
    // Each schedule once, as of the local instant it is due at by default.
    void run_the_days_schedules(const std::string& tenant) {
        for (const auto& [plugin, schedule, as_of] :
             std::vector<std::tuple<std::string, std::string, std::string>>{
                 {"fidelizacion", "birthdays", std::string(kComingDay) + "T08:00:00-06:00"},
                 {"citas", "reminders", std::string(kComingDay) + "T18:00:00-06:00"},
                 {"reportes", "daily", std::string(kReportDay) + "T20:00:00-06:00"},
                 {"reportes", "weekly", "2026-11-30T08:00:00-06:00"}}) {
            const auto result = stage_->run(tenant, plugin, schedule, as_of);
            if (tenant == "luna") {
                EXPECT_EQ(result.status, 404) << plugin << " is not enabled for luna";
                continue;
            }
            ASSERT_EQ(result.status, 200) << plugin << "/" << schedule << ": " << result.body;
            EXPECT_EQ(json::parse(result.body)["status"], "succeeded")
                << plugin << "/" << schedule << ": " << result.body;
        }
    }
    json messages(const std::string& tenant) { return stage_->messages(tenant); }
    // "source/template/channel" → how many of the tenant's messages.
    std::map<std::string, int> tally(const std::string& tenant) {
        std::map<std::string, int> counts;
        for (const auto& message : messages(tenant)) {
            counts[message.value("source", "") + "/" + message.value("template", "") + "/" +
                   message.value("channel", "")]++;
        }
        return counts;
    }
    bool wait_until_sent(size_t count, int seconds = 30) {
        for (int i = 0; i < seconds * 10; ++i) {
            size_t sent = 0;
            for (const auto& message : messages("sol")) sent += message["status"] == "sent";
            if (sent >= count) return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    std::unique_ptr<ClinicStage> stage_;
};

TEST_P(ClinicDayTest, EachAutomationSendsOnceAtItsLocalTimeAndOnlyWhereEnabled) {
    // The schedules fire at the defaults' local hours: 08:00, 18:00, 20:00, Monday 08:00.
    const std::map<std::string, std::string> expected_crons = {
        {"fidelizacion/birthdays", "0 8 * * *"},
        {"citas/reminders", "0 18 * * *"},
        {"reportes/daily", "0 20 * * *"},
        {"reportes/weekly", "0 8 * * 1"}};
    for (const auto& [plugin_schedule, cron] : expected_crons) {
        const std::string plugin = plugin_schedule.substr(0, plugin_schedule.find('/'));
        const std::string schedule = plugin_schedule.substr(plugin.size() + 1);
        const auto listed = stage_->host().http().get(
            "/api/v1/tenants/sol/plugins/" + plugin + "/schedules", kAdmin);
        ASSERT_EQ(listed.status, 200) << listed.body;
        bool found = false;
        const json schedules = json::parse(listed.body);
        for (const auto& item : schedules["items"]) {
            if (item["name"] != schedule) continue;
            found = true;
            EXPECT_EQ(item["effective_cron"], cron) << plugin_schedule;
            // UTC-6: a run at local hour h is due at h+6 UTC.
            const int local_hour = std::stoi(cron.substr(2, cron.find(' ', 2) - 2));
            const std::string due = item["next_run_at"];
            EXPECT_EQ(std::stoi(due.substr(11, 2)), (local_hour + 6) % 24)
                << plugin_schedule << " next at " << due;
        }
        EXPECT_TRUE(found) << plugin_schedule << ": " << listed.body;
    }

    seed("sol");
    seed("luna");
    run_the_days_schedules("sol");
    run_the_days_schedules("luna");

    const std::map<std::string, int> expected = {
        {"fidelizacion/welcome/email", 1},  {"fidelizacion/welcome/whatsapp", 1},
        {"fidelizacion/birthday/email", 1}, {"fidelizacion/birthday/whatsapp", 1},
        {"citas/confirmation/email", 1},    {"citas/confirmation/whatsapp", 1},
        {"citas/doctor_notice/email", 1},   {"citas/reminder/email", 1},
        {"citas/reminder/whatsapp", 1},     {"reportes/daily_report/email", 1},
        {"reportes/weekly_report/email", 1}};
    ASSERT_TRUE(wait_until_sent(11)) << json(tally("sol")).dump();
    EXPECT_EQ(tally("sol"), expected);

    // Everything again: the events as the legacy system would resend them, and each schedule
    // fired once more. Nothing is sent twice.
    run_the_days_schedules("sol");
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(tally("sol"), expected);
    EXPECT_TRUE(messages("luna").empty()) << messages("luna").dump();
    EXPECT_EQ(
        stage_->host()
            .http()
            .get(std::string("/t/luna/reportes/daily?date=") + kReportDay + "&format=json", kAdmin)
            .status,
        404);

    // What arrived: seven emails and four WhatsApp messages, none for Beto or luna.
    ASSERT_TRUE(stage_->smtp().wait_for(7, 15));
    ASSERT_TRUE(stage_->ycloud().wait_for(4, 15));
    std::this_thread::sleep_for(500ms);
    std::map<std::string, std::vector<json>> by_recipient;
    for (const auto& message : stage_->smtp().messages()) {
        by_recipient[message["rcpt_tos"][0]].push_back(message);
    }
    EXPECT_EQ(by_recipient["ana@example.com"].size(), 4u)
        << "welcome, birthday, confirmation, reminder";
    EXPECT_EQ(by_recipient["ruiz@clinicasol.mx"].size(), 2u) << "notice and daily report";
    EXPECT_EQ(by_recipient[kAdminsAddress].size(), 1u) << "weekly report";
    EXPECT_EQ(stage_->smtp().messages().size(), 7u);
    EXPECT_EQ(stage_->ycloud().received().size(), 4u);
    auto attachment_types = [](const std::vector<json>& received) {
        std::multiset<std::string> types;
        for (const auto& message : received) {
            for (const auto& attachment : message["attachments"]) {
                const std::string type = attachment.value("content_type", "");
                types.insert(type.substr(0, type.find(';')));
            }
        }
        return types;
    };
    const auto ana_types = attachment_types(by_recipient["ana@example.com"]);
    EXPECT_EQ(ana_types.count("text/calendar"), 1u) << "the confirmation's ICS";
    EXPECT_EQ(attachment_types(by_recipient["ruiz@clinicasol.mx"]).count("application/pdf"), 1u);
    EXPECT_EQ(attachment_types(by_recipient[kAdminsAddress]).count("application/pdf"), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ClinicDayTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
