// End-to-end: the citas plugin in the real host, on SQLite and PostgreSQL, with a real SMTP
// server and a local stand-in for YCloud — the booking confirmation (email with ICS, WhatsApp,
// the doctor's notice), the reminders run for a chosen instant, the signed link, and everything
// that must be refused.
#include "support/clinic_stage.h"
#include "support/host_process.h"
#include "support/http_receiver.h"
#include "support/smtp_receiver.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <regex>
#include <set>
#include <thread>

namespace {
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;
using namespace std::chrono_literals;

const std::vector<std::string> kAdmin = {kAdminHeader};

/// The Mexico City date `days` from now (the zone has kept UTC-6 all year since 2022).
std::string mexico_date(int days) {
    const std::time_t local =
        std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) - 6 * 3600 +
        static_cast<std::time_t>(days) * 86400;
    std::tm parts{};
    gmtime_r(&local, &parts);
    char text[16];
    std::strftime(text, sizeof text, "%Y-%m-%d", &parts);
    return text;
}

std::string base64_decode(std::string text) {
    text.erase(std::remove_if(text.begin(), text.end(), [](char c) { return std::isspace(c); }),
               text.end());
    std::string bytes(text.size(), '\0');
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                       reinterpret_cast<const unsigned char*>(text.data()),
                                       static_cast<int>(text.size()));
    if (length < 0) return "";
    bytes.resize(static_cast<size_t>(length));
    while (!text.empty() && text.back() == '=') {
        text.pop_back();
        bytes.pop_back();
    }
    return bytes;
}

/// The decoded body of the MIME part named `filename` in a raw message.
std::string attachment_of(const std::string& eml, const std::string& filename) {
    const size_t named = eml.find("filename=\"" + filename + "\"");
    if (named == std::string::npos) return "";
    size_t body = eml.find("\r\n\r\n", named);
    if (body == std::string::npos) return "";
    body += 4;
    const size_t end = eml.find("\r\n--", body);
    return base64_decode(eml.substr(body, end - body));
}

/// A member of a JSON body, by value: a range-for over a member of a temporary would dangle.
json member(const std::string& body, const char* key) {
    const json parsed = json::parse(body, nullptr, false);
    return parsed.is_object() && parsed.contains(key) ? parsed[key] : json::array();
}

/// The patient's link path (with its query) in a rendered message.
std::string link_in(const std::string& text) {
    static const std::regex link(R"(/t/[a-z0-9-]+/citas/a/[0-9a-f-]+\?e=[0-9]+&s=[0-9a-f]+)");
    std::smatch match;
    return std::regex_search(text, match, link) ? match.str() : "";
}

class CitasTest : public miconsul::testing::ClinicStageTest {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        set_the_stage(
            std::vector<std::string>{"citas"},
            std::map<std::string, std::string>{{"MICONSUL_MESSAGE_RETRY_BASE_MS", "500"}});
        const auto enabled = send("PUT", "/api/v1/tenants/sol/plugins/citas", {{"enabled", true}});
        ASSERT_EQ(enabled.status, 200) << enabled.body;
    }

    std::string patient(const std::string& tenant, const std::string& name,
                        const json& extra = json::object()) {
        const int counter = ++patients_created_;
        json body = {{"first_name", name},
                     {"last_name", "López"},
                     {"email", name + std::to_string(counter) + "@example.com"},
                     {"phone", "+5255123400" + std::to_string(10 + counter % 90)},
                     {"consent", {{"email", true}, {"whatsapp", true}}}};
        body.update(extra);
        return create(tenant, "patients", body);
    }
    std::string doctor(const std::string& tenant, const json& extra = json::object()) {
        json body = {{"name", "Dra. Ruiz"}};
        body.update(extra);
        return create(tenant, "doctors", body);
    }
    std::string appointment(const std::string& tenant, const std::string& patient_id,
                            const std::string& doctor_id, const std::string& start,
                            const std::string& status = "scheduled") {
        const std::string id = create(tenant, "appointments",
                                      {{"patient_id", patient_id},
                                       {"doctor_id", doctor_id},
                                       {"start", start},
                                       {"status", status}});
        patient_of_[id] = patient_id;
        return id;
    }
    /// An appointment of sol as the records API answers it (the patient's history holds it).
    json appointment_record(const std::string& id) {
        const auto history =
            host_->http().get("/t/sol/records/patients/" + patient_of_[id] + "/history", kAdmin);
        EXPECT_EQ(history.status, 200) << history.body;
        for (const auto& item : member(history.body, "appointments")) {
            if (item["id"] == id) return item;
        }
        return json();
    }
    json messages(const std::string& tenant = "sol") {
        const auto answer = host_->http().get(
            "/api/v1/tenants/" + tenant + "/messages?limit=200&source=citas", kAdmin);
        EXPECT_EQ(answer.status, 200) << answer.body;
        return json::parse(answer.body)["items"];
    }
    /// The tenant's citas messages whose idempotency key starts with `prefix`.
    json messages_keyed(const std::string& prefix, const std::string& tenant = "sol") {
        json kept = json::array();
        for (const auto& message : messages(tenant)) {
            if (message["idempotency_key"].get<std::string>().rfind(prefix, 0) == 0) {
                kept.push_back(message);
            }
        }
        return kept;
    }
    bool wait_for_messages(const std::string& prefix, size_t count, int seconds = 10) {
        for (int i = 0; i < seconds * 20; ++i) {
            if (messages_keyed(prefix).size() >= count) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }
    /// Waits until every delivery of the tenant's events to citas was handled.
    void wait_for_deliveries(const std::string& tenant = "sol") {
        for (int i = 0; i < 200; ++i) {
            const auto answer =
                host_->http().get("/api/v1/tenants/" + tenant + "/deliveries?limit=200", kAdmin);
            bool pending = false;
            for (const auto& delivery : member(answer.body, "items")) {
                const std::string status = delivery.value("status", "");
                if (status == "pending" || status == "delivering") pending = true;
            }
            if (!pending) return;
            std::this_thread::sleep_for(50ms);
        }
        ADD_FAILURE() << "deliveries still pending";
    }
    json events(const std::string& type, const std::string& tenant = "sol") {
        const auto answer = host_->http().get(
            "/api/v1/tenants/" + tenant + "/events?limit=200&type=" + type, kAdmin);
        EXPECT_EQ(answer.status, 200) << answer.body;
        return json::parse(answer.body)["items"];
    }
    json message_detail(const std::string& id) {
        return json::parse(host_->http().get("/api/v1/tenants/sol/messages/" + id, kAdmin).body);
    }
    HttpResult run_reminders(const std::string& tenant, const std::string& as_of) {
        return send("POST", "/api/v1/tenants/" + tenant + "/plugins/citas/schedules/reminders/run",
                    {{"as_of", as_of}, {"wait", true}});
    }
    std::string appointment_status(const std::string& id) {
        return appointment_record(id).value("status", "");
    }
    /// The link of the WhatsApp confirmation of an appointment.
    std::string confirmation_link(const std::string& appointment_id) {
        EXPECT_TRUE(wait_for_messages("confirmation-whatsapp-" + appointment_id, 1));
        const auto found = messages_keyed("confirmation-whatsapp-" + appointment_id);
        if (found.empty()) return "";
        return link_in(message_detail(found[0]["id"]).dump());
    }

    int patients_created_ = 0;                       // makes each patient's email and phone its own
    std::map<std::string, std::string> patient_of_;  // appointment id → patient id
};

TEST_P(CitasTest, ABookingConfirmsByEmailWithIcsAndWhatsappAndTellsTheDoctorOnce) {
    const std::string day = mexico_date(10);
    const std::string ana = patient("sol", "Ana");
    const std::string ruiz = doctor("sol", {{"email", "ruiz@clinicasol.mx"}});
    const std::string id = appointment("sol", ana, ruiz, day + "T10:00:00-06:00");

    ASSERT_TRUE(smtp_->wait_for(2)) << host_->log();
    ASSERT_TRUE(ycloud_->wait_for(1));
    const auto received = smtp_->messages();
    ASSERT_EQ(received.size(), 2u);
    size_t patient_index = received[0]["rcpt_tos"][0] == "ruiz@clinicasol.mx" ? 1 : 0;
    const json& to_patient = received[patient_index];
    const json& to_doctor = received[1 - patient_index];
    EXPECT_NE(to_patient["subject"].get<std::string>().find("Su cita en Clínica Sol"),
              std::string::npos)
        << to_patient;
    EXPECT_NE(to_patient["text"].get<std::string>().find(", 10:00"), std::string::npos);
    ASSERT_EQ(to_patient["attachments"].size(), 1u);
    EXPECT_EQ(to_patient["attachments"][0]["filename"], "cita.ics");
    EXPECT_EQ(to_patient["attachments"][0]["content_type"], "text/calendar");
    const std::string ics = attachment_of(smtp_->eml(patient_index), "cita.ics");
    EXPECT_EQ(ics.rfind("BEGIN:VCALENDAR\r\n", 0), 0u) << ics;
    EXPECT_NE(ics.find("\r\nUID:" + id + "@miconsul\r\n"), std::string::npos) << ics;
    std::string compact_day = day;
    compact_day.erase(std::remove(compact_day.begin(), compact_day.end(), '-'), compact_day.end());
    EXPECT_NE(ics.find("\r\nDTSTART:" + compact_day + "T160000Z\r\n"), std::string::npos) << ics;
    EXPECT_NE(ics.find("\r\nDTEND:" + compact_day + "T163000Z\r\n"), std::string::npos) << ics;
    EXPECT_NE(ics.find("END:VCALENDAR\r\n"), std::string::npos);

    EXPECT_EQ(to_doctor["subject"].get<std::string>().rfind("Nueva cita: Ana López", 0), 0u)
        << to_doctor;
    const json whatsapp = json::parse(ycloud_->received()[0].body);
    const std::string whatsapp_text = whatsapp["text"]["body"];
    EXPECT_NE(whatsapp_text.find("Hola Ana"), std::string::npos) << whatsapp_text;
    EXPECT_FALSE(link_in(whatsapp_text).empty()) << whatsapp_text;
    ASSERT_EQ(events("citas.confirmation_sent").size(), 1u);

    // The same event again (a redelivery, or the legacy system publishing it twice).
    const json booked = appointment_record(id);
    ASSERT_EQ(booked["status"], "scheduled");
    ASSERT_EQ(
        send("POST", "/t/sol/events", {{"type", "appointment.created"}, {"data", booked}}).status,
        202);
    wait_for_deliveries();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(messages().size(), 3u) << "email, WhatsApp, doctor: each once";
    EXPECT_EQ(smtp_->messages().size(), 2u);
    EXPECT_EQ(ycloud_->received().size(), 1u);
    EXPECT_EQ(events("citas.confirmation_sent").size(), 1u);
}

TEST_P(CitasTest, AMovedAppointmentIsAnnouncedOnceWithTheCalendarEntryReplaced) {
    const std::string day = mexico_date(10);
    const std::string ana = patient("sol", "Ana");
    const std::string ruiz = doctor("sol", {{"email", "ruiz@clinicasol.mx"}});
    const std::string id = appointment("sol", ana, ruiz, day + "T10:00:00-06:00");
    ASSERT_TRUE(smtp_->wait_for(2)) << "the booking's confirmation and notice";

    // Notes change nothing a patient needs to hear; a new start does, once.
    ASSERT_EQ(
        send("PATCH", "/t/sol/records/appointments/" + id, {{"notes", "traer rayos X"}}).status,
        200);
    ASSERT_EQ(
        send("PATCH", "/t/sol/records/appointments/" + id, {{"start", day + "T12:00:00-06:00"}})
            .status,
        200);
    ASSERT_TRUE(smtp_->wait_for(4)) << host_->log();
    wait_for_deliveries();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(messages_keyed("rescheduled-").size(), 2u) << "email and WhatsApp";
    EXPECT_EQ(messages_keyed("doctor-moved-" + id).size(), 1u);
    EXPECT_EQ(smtp_->messages().size(), 4u);
    size_t moved_index = 0;
    for (size_t i = 0; i < smtp_->messages().size(); ++i) {
        const std::string subject = smtp_->messages()[i]["subject"];
        if (subject.find("cambió") != std::string::npos) moved_index = i;
    }
    const std::string ics = attachment_of(smtp_->eml(moved_index), "cita.ics");
    EXPECT_NE(ics.find("\r\nUID:" + id + "@miconsul\r\n"), std::string::npos)
        << "the same calendar entry: " << ics;
    std::string compact_day = day;
    compact_day.erase(std::remove(compact_day.begin(), compact_day.end(), '-'), compact_day.end());
    EXPECT_NE(ics.find("\r\nDTSTART:" + compact_day + "T180000Z\r\n"), std::string::npos) << ics;
    EXPECT_EQ(ics.find("\r\nSEQUENCE:0\r\n"), std::string::npos) << "a later version: " << ics;

    // The same move delivered again sends nothing more.
    const json moved = appointment_record(id);
    json previous = moved;
    previous["start"] = day + "T16:00:00Z";
    ASSERT_EQ(send("POST", "/t/sol/events",
                   {{"type", "appointment.updated"},
                    {"data", {{"appointment", moved}, {"previous", previous}}}})
                  .status,
              202);
    wait_for_deliveries();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(messages_keyed("rescheduled-").size(), 2u);
    EXPECT_EQ(smtp_->messages().size(), 4u);
}

TEST_P(CitasTest, PastImportedCancelledOrUnconsentedAppointmentsMessageNobody) {
    const std::string day = mexico_date(10);
    const std::string lines =
        json({{"kind", "patient"},
              {"external_id", "P-1"},
              {"first_name", "Eva"},
              {"email", "eva@example.com"},
              {"consent", {{"email", true}}}})
            .dump() +
        "\n" + json({{"kind", "doctor"}, {"external_id", "D-1"}, {"name", "Dr. Paz"}}).dump() +
        "\n" +
        json({{"kind", "appointment"},
              {"external_id", "C-1"},
              {"patient_external_id", "P-1"},
              {"doctor_external_id", "D-1"},
              {"start", "2024-03-01T10:00:00-06:00"},
              {"status", "completed"}})
            .dump() +
        "\n" +
        json({{"kind", "appointment"},
              {"external_id", "C-2"},
              {"patient_external_id", "P-1"},
              {"doctor_external_id", "D-1"},
              {"start", "2025-06-01T10:00:00-06:00"}})
            .dump() +
        "\n" +
        json({{"kind", "appointment"},
              {"external_id", "C-3"},
              {"patient_external_id", "P-1"},
              {"doctor_external_id", "D-1"},
              {"start", day + "T10:00:00-06:00"},
              {"status", "cancelled"}})
            .dump() +
        "\n";
    const auto imported = host_->http().send("POST", "/t/sol/records/import", lines,
                                             {kAdminHeader, "Content-Type: application/x-ndjson"});
    ASSERT_EQ(imported.status, 200) << imported.body;
    EXPECT_EQ(json::parse(imported.body)["created"], 5);
    // A future appointment of a patient without consent or address gets nothing either.
    const std::string mute =
        patient("sol", "Leo", {{"consent", {{"email", false}, {"whatsapp", false}}}});
    appointment("sol", mute, doctor("sol"), day + "T12:00:00-06:00");
    ASSERT_EQ(events("appointment.created").size(), 4u);
    wait_for_deliveries();
    EXPECT_TRUE(messages().empty()) << messages().dump();
    EXPECT_TRUE(events("citas.confirmation_sent").empty());
}

TEST_P(CitasTest, RemindersGoToTomorrowsOpenAppointmentsOnceAndAgainWhenRescheduled) {
    const std::string today = mexico_date(0);
    const std::string tomorrow = mexico_date(1);
    const std::string ruiz = doctor("sol");
    const std::string paz = doctor("sol", {{"name", "Dr. Paz"}});
    const std::string ana = patient("sol", "Ana");
    const std::string john = patient("sol", "John", {{"language", "en"}});
    const std::string eva = patient("sol", "Eva");
    const std::string scheduled = appointment("sol", ana, ruiz, tomorrow + "T10:00:00-06:00");
    const std::string confirmed =
        appointment("sol", john, paz, tomorrow + "T12:00:00-06:00", "confirmed");
    const std::string cancelled =
        appointment("sol", eva, ruiz, tomorrow + "T11:00:00-06:00", "cancelled");
    appointment("sol", eva, paz, mexico_date(2) + "T10:00:00-06:00");  // another day
    appointment("sol", eva, ruiz, today + "T23:30:00-06:00");          // today, late

    const auto run = run_reminders("sol", today + "T18:00:00-06:00");
    ASSERT_EQ(run.status, 200) << run.body;
    EXPECT_EQ(json::parse(run.body)["status"], "succeeded") << run.body;
    const json reminders = messages_keyed("reminder-");
    ASSERT_EQ(reminders.size(), 4u) << reminders.dump();
    std::set<std::string> keys;
    for (const auto& message : reminders) keys.insert(message["idempotency_key"]);
    for (const std::string channel : {"email", "whatsapp"}) {
        EXPECT_EQ(
            keys.count("reminder-" + channel + "-" + scheduled + "-" + tomorrow + "T16:00:00Z"), 1u)
            << reminders.dump();
        EXPECT_EQ(
            keys.count("reminder-" + channel + "-" + confirmed + "-" + tomorrow + "T18:00:00Z"), 1u)
            << reminders.dump();
    }
    for (const auto& message : reminders) {
        const std::string key = message["idempotency_key"];
        EXPECT_EQ(key.find(cancelled), std::string::npos) << "a cancelled one is not reminded";
        if (key == "reminder-whatsapp-" + scheduled + "-" + tomorrow + "T16:00:00Z") {
            const std::string detail = message_detail(message["id"]).dump();
            EXPECT_NE(detail.find(" de "), std::string::npos) << detail;
            EXPECT_NE(detail.find(", 10:00"), std::string::npos) << detail;
            EXPECT_FALSE(link_in(detail).empty()) << detail;
        }
        if (key.find(confirmed) != std::string::npos) {
            EXPECT_EQ(message["language"], "en");
            EXPECT_NE(message_detail(message["id"]).dump().find(", 12:00"), std::string::npos);
        }
    }
    EXPECT_EQ(events("citas.reminder_sent").size(), 2u);

    // The same instant again (a retry, a second click): nothing new.
    const auto again = run_reminders("sol", today + "T18:00:00-06:00");
    EXPECT_EQ(json::parse(again.body)["status"], "succeeded") << again.body;
    EXPECT_EQ(messages_keyed("reminder-").size(), 4u);
    EXPECT_EQ(events("citas.reminder_sent").size(), 2u);

    // Rescheduled to the afternoon: reminded again, for the new time.
    ASSERT_EQ(send("PATCH", "/t/sol/records/appointments/" + scheduled,
                   {{"start", tomorrow + "T16:00:00-06:00"}})
                  .status,
              200);
    run_reminders("sol", today + "T18:00:00-06:00");
    EXPECT_EQ(messages_keyed("reminder-").size(), 6u);
    EXPECT_EQ(messages_keyed("reminder-email-" + scheduled + "-" + tomorrow + "T22:00:00Z").size(),
              1u);
}

TEST_P(CitasTest, ALeadTimeOfDaysRemindsEveryAppointmentInsideItOnce) {
    const std::string today = mexico_date(0);
    const std::string ruiz = doctor("sol");
    const std::string ana = patient("sol", "Ana");
    const std::string eva = patient("sol", "Eva");
    ASSERT_EQ(send("PUT", "/api/v1/tenants/sol/plugins/citas",
                   {{"enabled", true}, {"settings", {{"lead_days", 3}}}})
                  .status,
              200);
    // One in three days, and one booked for tomorrow: inside the lead time, so reminded now
    // rather than never (the run three days before tomorrow has passed).
    const std::string in_three_days =
        appointment("sol", ana, ruiz, mexico_date(3) + "T10:00:00-06:00");
    const std::string tomorrow = appointment("sol", eva, ruiz, mexico_date(1) + "T10:00:00-06:00");
    appointment("sol", eva, ruiz, mexico_date(4) + "T10:00:00-06:00");  // beyond it

    ASSERT_EQ(json::parse(run_reminders("sol", today + "T18:00:00-06:00").body)["status"],
              "succeeded");
    EXPECT_EQ(messages_keyed("reminder-email-" + in_three_days).size(), 1u);
    EXPECT_EQ(messages_keyed("reminder-email-" + tomorrow).size(), 1u);
    EXPECT_EQ(messages_keyed("reminder-").size(), 4u) << "two appointments, two channels";
    // The next evening both are still inside the lead time: neither is reminded twice.
    run_reminders("sol", mexico_date(1) + "T18:00:00-06:00");
    EXPECT_EQ(messages_keyed("reminder-email-" + in_three_days).size(), 1u);
    EXPECT_EQ(messages_keyed("reminder-").size(), 6u) << "only the one four days out joins";
}

TEST_P(CitasTest, TheReminderHourSettingMovesTheTenantsSchedule) {
    // The scheduler picks an enablement up on its next tick: poll until it shows the cron.
    auto schedule = [&](const std::string& cron) {
        json found;
        for (int i = 0; i < 100; ++i) {
            const auto answer =
                host_->http().get("/api/v1/tenants/sol/plugins/citas/schedules", kAdmin);
            EXPECT_EQ(answer.status, 200) << answer.body;
            for (const auto& item : member(answer.body, "items")) {
                if (item["name"] == "reminders") found = item;
            }
            if (found.value("effective_cron", json()) == cron) break;
            std::this_thread::sleep_for(50ms);
        }
        return found;
    };
    const json before_change = schedule("0 18 * * *");
    EXPECT_EQ(before_change["cron"], "0 {reminder_hour} * * *");
    ASSERT_EQ(before_change["effective_cron"], "0 18 * * *") << before_change;
    const std::string before = before_change["next_run_at"].get<std::string>();
    EXPECT_EQ(before.substr(10), "T00:00:00Z") << "18:00 in Mexico City";

    const auto changed = send("PUT", "/api/v1/tenants/sol/plugins/citas",
                              {{"enabled", true}, {"settings", {{"reminder_hour", 7}}}});
    ASSERT_EQ(changed.status, 200) << changed.body;
    EXPECT_EQ(json::parse(changed.body)["settings"]["lead_days"], 1) << "defaults filled in";
    const json after_change = schedule("0 7 * * *");
    ASSERT_EQ(after_change["effective_cron"], "0 7 * * *") << after_change;
    EXPECT_EQ(after_change["next_run_at"].get<std::string>().substr(10), "T13:00:00Z");
}

TEST_P(CitasTest, TheLinkShowsOnGetAndChangesOnlyOnASignedPost) {
    const std::string ana = patient("sol", "Ana");
    const std::string id =
        appointment("sol", ana, doctor("sol"), mexico_date(10) + "T10:00:00-06:00");
    const std::string link = confirmation_link(id);
    ASSERT_FALSE(link.empty());

    const auto page = host_->http().get(link);
    EXPECT_EQ(page.status, 200) << page.body;
    EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("Confirmar mi cita"), std::string::npos) << page.body;
    EXPECT_NE(page.body.find("method=\"post\""), std::string::npos);
    EXPECT_NE(page.body.find("Dra. Ruiz"), std::string::npos);
    EXPECT_EQ(appointment_status(id), "scheduled") << "a GET (a mail scanner) changes nothing";

    const std::string path = link.substr(0, link.find('?'));
    const std::string query = link.substr(link.find('?'));
    const std::string expiry = query.substr(3, query.find('&') - 3);
    const std::string signature = query.substr(query.find("&s=") + 3);
    std::string tampered = signature;
    tampered[0] = tampered[0] == 'a' ? 'b' : 'a';
    const std::vector<std::string> as_json = {"Accept: application/json"};
    EXPECT_EQ(host_->http()
                  .send("POST", path + "/confirm?e=" + expiry + "&s=" + tampered, "", as_json)
                  .status,
              403);
    EXPECT_EQ(host_->http().send("POST", path + "/confirm?e=" + expiry, "", as_json).status, 403);
    EXPECT_EQ(host_->http()
                  .send("POST",
                        path + "/confirm?e=" + std::to_string(std::stoll(expiry) + 86400) +
                            "&s=" + signature,
                        "", as_json)
                  .status,
              403)
        << "the signature covers the expiry";
    EXPECT_EQ(host_->http().get(path + "?e=" + expiry + "&s=" + tampered).status, 403);
    EXPECT_EQ(appointment_status(id), "scheduled");

    const auto confirmed =
        host_->http().send("POST", path + "/confirm" + query + "&format=json", "", as_json);
    ASSERT_EQ(confirmed.status, 200) << confirmed.body;
    ASSERT_EQ(confirmed.header("content-type"), "application/json") << confirmed.body;
    EXPECT_EQ(json::parse(confirmed.body)["status"], "confirmed");
    EXPECT_EQ(appointment_status(id), "confirmed");
    auto updates_of = [&] {
        size_t count = 0;
        for (const auto& event : events("appointment.updated")) {
            if (event["data"]["appointment"]["id"] == id) ++count;
        }
        return count;
    };
    EXPECT_EQ(updates_of(), 1u);
    EXPECT_EQ(events("citas.confirmed_by_patient").size(), 1u);
    // A second click: the same answer, no second change.
    const auto twice = host_->http().send("POST", path + "/confirm" + query);
    EXPECT_EQ(twice.status, 200);
    EXPECT_NE(twice.body.find("Cita confirmada"), std::string::npos) << twice.body;
    EXPECT_EQ(updates_of(), 1u);

    const auto cancelled = host_->http().send("POST", path + "/cancel" + query);
    ASSERT_EQ(cancelled.status, 200) << cancelled.body;
    EXPECT_NE(cancelled.body.find("Cita cancelada"), std::string::npos) << cancelled.body;
    EXPECT_EQ(appointment_status(id), "cancelled");
    EXPECT_EQ(events("appointment.cancelled").size(), 1u);
    EXPECT_EQ(events("citas.cancelled_by_patient").size(), 1u);
    EXPECT_EQ(host_->http().send("POST", path + "/confirm" + query, "", as_json).status, 409)
        << "a cancelled appointment cannot be confirmed";

    // Another clinic with citas enabled: its key is not sol's.
    ASSERT_EQ(send("POST", "/api/v1/tenants",
                   {{"id", "mar"}, {"name", "Mar"}, {"timezone", "America/Mexico_City"}})
                  .status,
              201);
    ASSERT_EQ(send("PUT", "/api/v1/tenants/mar/plugins/citas", {{"enabled", true}}).status, 200);
    std::string elsewhere = link;
    elsewhere.replace(0, std::string("/t/sol").size(), "/t/mar");
    EXPECT_EQ(host_->http().get(elsewhere).status, 403);
    EXPECT_EQ(host_->http()
                  .send("POST", elsewhere.substr(0, elsewhere.find('?')) + "/cancel" + query)
                  .status,
              403);
    std::string at_luna = link;
    at_luna.replace(0, std::string("/t/sol").size(), "/t/luna");
    EXPECT_EQ(host_->http().get(at_luna).status, 404) << "citas is not enabled at luna";
}

TEST_P(CitasTest, ALinkExpiresWhenTheAppointmentStarts) {
    const auto start = std::chrono::system_clock::now() + 4s;
    const std::time_t start_seconds = std::chrono::system_clock::to_time_t(start) + 1;
    std::tm parts{};
    gmtime_r(&start_seconds, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    const std::string id = appointment("sol", patient("sol", "Ana"), doctor("sol"), text);
    const std::string link = confirmation_link(id);
    ASSERT_FALSE(link.empty()) << "booked a few seconds ahead, still confirmed";
    EXPECT_EQ(host_->http().get(link).status, 200);
    std::this_thread::sleep_until(std::chrono::system_clock::from_time_t(start_seconds) + 200ms);
    EXPECT_EQ(host_->http().get(link).status, 410);
    const std::string path = link.substr(0, link.find('?'));
    EXPECT_EQ(host_->http().send("POST", path + "/confirm" + link.substr(link.find('?'))).status,
              410);
    EXPECT_EQ(appointment_status(id), "scheduled");
}

TEST_P(CitasTest, ATenantWithoutThePluginGetsNoRoutesRunsOrMessages) {
    const std::string ana = patient("luna", "Ana");
    const std::string id = appointment("luna", ana, doctor("luna", {{"email", "dr@luna.mx"}}),
                                       mexico_date(1) + "T10:00:00-06:00");
    EXPECT_EQ(host_->http().get("/t/luna/citas/a/" + id + "?e=1&s=00").status, 404);
    EXPECT_EQ(host_->http().send("POST", "/t/luna/citas/a/" + id + "/confirm?e=1&s=00").status,
              404);
    EXPECT_EQ(run_reminders("luna", mexico_date(0) + "T18:00:00-06:00").status, 404);
    wait_for_deliveries("luna");
    // sol books too, so that once sol's confirmation is queued luna's would have been as well.
    appointment("sol", patient("sol", "Eva"), doctor("sol"), mexico_date(1) + "T10:00:00-06:00");
    ASSERT_TRUE(wait_for_messages("confirmation-", 2));
    EXPECT_TRUE(messages("luna").empty()) << messages("luna").dump();
}

TEST_P(CitasTest, BadSettingsAreRefusedFieldByFieldAndChangeNothing) {
    const auto refused = send("PUT", "/api/v1/tenants/sol/plugins/citas",
                              {{"enabled", true},
                               {"settings",
                                {{"reminder_hour", 24},
                                 {"lead_days", 0},
                                 {"channels", json::array({"sms"})},
                                 {"notify_doctor", "yes"},
                                 {"public_base_url", "ftp://clinicasol.mx"},
                                 {"colour", "red"}}}});
    ASSERT_EQ(refused.status, 400) << refused.body;
    std::set<std::string> fields;
    for (const auto& error : member(refused.body, "errors")) {
        fields.insert(error["field"].get<std::string>());
    }
    for (const char* field :
         {"/settings/reminder_hour", "/settings/lead_days", "/settings/channels/0",
          "/settings/notify_doctor", "/settings/public_base_url", "/settings/colour"}) {
        EXPECT_EQ(fields.count(field), 1u) << field << " in " << refused.body;
    }
    const auto stored =
        json::parse(host_->http().get("/api/v1/tenants/sol/plugins/citas", kAdmin).body);
    EXPECT_EQ(stored["settings"]["reminder_hour"], 18);

    EXPECT_EQ(host_->http()
                  .send("PUT", "/api/v1/tenants/sol/plugins/citas", "{\"enabled\": tru", kAdmin)
                  .status,
              400)
        << "malformed JSON";
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/tenants/sol/plugins/citas/schedules/reminders/run",
                        "{\"as_of\": ", kAdmin)
                  .status,
              400);
    EXPECT_EQ(send("POST", "/api/v1/tenants/sol/plugins/citas/schedules/reminders/run",
                   {{"as_of", "tomorrow"}})
                  .status,
              400);
    // Management routes need a credential, and another clinic's token reaches nothing here.
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/tenants/sol/plugins/citas/schedules/reminders/run", "{}")
                  .status,
              401);
    const auto token = send("POST", "/api/v1/tenants/luna/tokens", {{"kind", "admin"}});
    ASSERT_EQ(token.status, 201) << token.body;
    const std::string luna_token = json::parse(token.body)["token"];
    const auto foreign =
        host_->http().send("POST", "/api/v1/tenants/sol/plugins/citas/schedules/reminders/run",
                           "{}", {"Authorization: Bearer " + luna_token});
    EXPECT_TRUE(foreign.status == 403 || foreign.status == 404) << foreign.status;
    EXPECT_EQ(host_->http()
                  .send("POST", "/api/v1/tenants/sol/plugins/citas/schedules/reminders/run", "{}",
                        {"Authorization: Bearer wrong-token"})
                  .status,
              401);
    EXPECT_TRUE(messages_keyed("reminder-").empty());
}

TEST_P(CitasTest, OnePatientsFailureNeitherStopsTheOthersNorTouchesAnotherTenantsRun) {
    ASSERT_EQ(send("POST", "/api/v1/tenants",
                   {{"id", "mar"}, {"name", "Mar"}, {"timezone", "America/Mexico_City"}})
                  .status,
              201);
    // mar's English reminder asks for a variable nobody gives: that patient's reminder fails.
    json settings = {{"channels", json::array({"email"})}};
    settings["templates"]["reminder"]["en"]["subject"] = "Hi {{nickname}}";
    const auto enabled = send("PUT", "/api/v1/tenants/mar/plugins/citas",
                              {{"enabled", true}, {"settings", settings}});
    ASSERT_EQ(enabled.status, 200) << enabled.body;
    const std::string tomorrow = mexico_date(1);
    const std::string mar_doctor = doctor("mar");
    appointment("mar", patient("mar", "John", {{"language", "en"}}), mar_doctor,
                tomorrow + "T09:00:00-06:00");
    const std::string maria = patient("mar", "María");
    const std::string maria_appointment =
        appointment("mar", maria, mar_doctor, tomorrow + "T10:00:00-06:00");
    appointment("sol", patient("sol", "Ana"), doctor("sol"), tomorrow + "T10:00:00-06:00");

    const std::string as_of = mexico_date(0) + "T18:00:00-06:00";
    const auto failing = run_reminders("mar", as_of);
    ASSERT_EQ(failing.status, 200) << failing.body;
    const json failed_run = json::parse(failing.body);
    EXPECT_NE(failed_run["status"], "succeeded") << failing.body;
    EXPECT_NE(failed_run.value("error", json()).dump().find("reminder"), std::string::npos)
        << failing.body;
    const json mar_reminders = messages("mar");
    size_t maria_reminded = 0;
    for (const auto& message : mar_reminders) {
        const std::string key = message["idempotency_key"];
        if (key.rfind("reminder-email-" + maria_appointment, 0) == 0) ++maria_reminded;
    }
    EXPECT_EQ(maria_reminded, 1u) << "María is reminded although John's failed";

    const auto fine = run_reminders("sol", as_of);
    EXPECT_EQ(json::parse(fine.body)["status"], "succeeded") << fine.body;
    EXPECT_EQ(messages_keyed("reminder-").size(), 2u);
}

TEST_P(CitasTest, EveryTemplatePreviewsWithItsSampleInSpanishAndEnglish) {
    for (const char* name :
         {"confirmation", "reminder", "doctor_notice", "rescheduled", "doctor_rescheduled"}) {
        for (const char* language : {"es", "en"}) {
            const auto preview =
                send("POST", "/t/sol/messages/preview",
                     {{"plugin", "citas"}, {"template", name}, {"language", language}});
            ASSERT_EQ(preview.status, 200) << name << " " << language << ": " << preview.body;
            const json rendered = json::parse(preview.body);
            EXPECT_EQ(rendered["language"], language);
            const std::string subject = rendered["email"]["subject"];
            EXPECT_NE(subject.find(std::string(name).rfind("doctor_", 0) == 0 ? "Ana López"
                                                                              : "Clínica Sol"),
                      std::string::npos)
                << subject;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, CitasTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
