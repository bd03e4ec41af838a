// End-to-end: messages through the real binary, on SQLite and PostgreSQL, to a real SMTP
// server and a local stand-in for YCloud — a plugin's templated messages, a tenant's
// overrides and previews, WhatsApp replies that withdraw consent, bad input of every kind, and
// a host killed in the middle of a batch.
#include "support/host_process.h"
#include "support/http_receiver.h"
#include "support/smtp_receiver.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <set>
#include <thread>

namespace {
using miconsul::testing::HostOptions;
using miconsul::testing::HostProcess;
using miconsul::testing::HttpResult;
using miconsul::testing::kAdminHeader;
using nlohmann::json;
using namespace std::chrono_literals;

const std::vector<std::string> kAdmin = {kAdminHeader};
constexpr const char* kWebhookSecret = "whsec-sol-0123456789";

// How YCloud signs: hex HMAC-SHA256 of "<timestamp>.<body>".
std::string hmac_sha256_hex(const std::string& key, const std::string& text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest, &length);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        hex += "0123456789abcdef"[digest[i] >> 4];
        hex += "0123456789abcdef"[digest[i] & 0xF];
    }
    return hex;
}

class MessagesTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") {
            MICONSUL_REQUIRE_POSTGRES();
            database_url_ = miconsul::testing::create_postgres_database(
                *miconsul::testing::postgres_admin_url());
        }
        std::filesystem::create_directories(scratch_.path() / "plugins");
        std::filesystem::create_symlink(
            miconsul::testing::test_plugin_dir() / "test_messages_probe.so",
            scratch_.path() / "plugins" / "test_messages_probe.so");
        start_host();
        for (const auto* id : {"sol", "luna"}) {
            ASSERT_EQ(send("POST", "/api/v1/tenants",
                           {{"id", id}, {"name", id}, {"timezone", "America/Mexico_City"}})
                          .status,
                      201);
        }
        ASSERT_EQ(
            send("PUT", "/api/v1/tenants/sol/plugins/messages-probe", {{"enabled", true}}).status,
            200);
        const auto settings = send("PUT", "/api/v1/tenants/sol/messaging",
                                   {{"whatsapp",
                                     {{"from", "+525500000000"},
                                      {"api_key", "ycloud-key-sol"},
                                      {"webhook_secret", kWebhookSecret}}}});
        ASSERT_EQ(settings.status, 200) << settings.body;
    }

    void start_host() {
        host_ = std::make_unique<HostProcess>(
            HostOptions{scratch_.path(),
                        scratch_.path() / "plugins",
                        database_url_,
                        {{"MICONSUL_SMTP_URL", smtp_.url()},
                         {"MICONSUL_SMTP_FROM", "Clínica Sol <avisos@miconsul.mx>"},
                         {"MICONSUL_SMTP_STARTTLS", "false"},
                         {"MICONSUL_YCLOUD_URL", ycloud_.url("")},
                         {"MICONSUL_SECRET_KEY", std::string(64, 'a')},
                         {"MICONSUL_LEASE_MS", "2000"},
                         {"MICONSUL_MESSAGE_RETRY_BASE_MS", "500"}}});
    }

    HttpResult send(const std::string& method, const std::string& path, const json& body) {
        return host_->http().send(method, path, body.dump(), kAdmin);
    }
    std::string patient(const json& fields) {
        json body = {{"first_name", "Ana"}, {"last_name", "López"}};
        body.update(fields);
        const auto created = send("POST", "/t/sol/records/patients", body);
        EXPECT_EQ(created.status, 201) << created.body;
        return json::parse(created.body, nullptr, false).value("id", "");
    }
    json messages(const std::string& query = "") {
        const auto answer =
            host_->http().get("/api/v1/tenants/sol/messages?limit=200" + query, kAdmin);
        EXPECT_EQ(answer.status, 200) << answer.body;
        return json::parse(answer.body)["items"];
    }
    /// Waits until `count` of the tenant's messages have `status`.
    bool wait_for_status(const std::string& status, size_t count, int seconds = 15) {
        for (int i = 0; i < seconds * 10; ++i) {
            if (messages("&status=" + status).size() >= count) return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }
    HttpResult ycloud_webhook(const json& event, const std::string& secret = kWebhookSecret) {
        const std::string body = event.dump();
        const std::string timestamp =
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
        const std::string signature =
            "t=" + timestamp + ",s=" + hmac_sha256_hex(secret, timestamp + "." + body);
        return host_->http().send("POST", "/t/sol/messages/whatsapp/webhook", body,
                                  {"YCloud-Signature: " + signature});
    }
    static json reply(const std::string& from, const std::string& text) {
        return {{"id", "evt_1"},
                {"type", "whatsapp.inbound_message.received"},
                {"apiVersion", "v2"},
                {"whatsappInboundMessage",
                 {{"from", from},
                  {"to", "+525500000000"},
                  {"type", "text"},
                  {"text", {{"body", text}}}}}};
    }

    miconsul::testing::ScratchDirectory scratch_;
    miconsul::testing::SmtpReceiver smtp_;
    miconsul::testing::HttpReceiver ycloud_;
    std::string database_url_;
    std::unique_ptr<HostProcess> host_;
};

TEST_P(MessagesTest, APluginsTemplatedEmailArrivesOnceInThePatientsLanguage) {
    const std::string ana = patient({{"email", "ana@example.com"}, {"consent", {{"email", true}}}});
    const std::string john = patient({{"first_name", "John"},
                                      {"email", "john@example.com"},
                                      {"language", "en"},
                                      {"consent", {{"email", true}}}});
    const json request = {{"channel", "email"},
                          {"template", "welcome"},
                          {"patient_id", ana},
                          {"data", {{"clinic", "Clínica Sol"}}},
                          {"idempotency_key", "welcome-" + ana}};
    const auto queued = send("POST", "/t/sol/messages-probe/send", request);
    ASSERT_EQ(queued.status, 201) << queued.body;
    const json first = json::parse(queued.body);
    EXPECT_FALSE(first["duplicate"]);
    const auto again = send("POST", "/t/sol/messages-probe/send", request);
    ASSERT_EQ(again.status, 201) << again.body;
    EXPECT_TRUE(json::parse(again.body)["duplicate"]);
    EXPECT_EQ(json::parse(again.body)["id"], first["id"]);
    json english = request;
    english["patient_id"] = john;
    english["idempotency_key"] = "welcome-" + john;
    ASSERT_EQ(send("POST", "/t/sol/messages-probe/send", english).status, 201);

    ASSERT_TRUE(smtp_.wait_for(2));
    ASSERT_TRUE(wait_for_status("sent", 2));
    std::this_thread::sleep_for(500ms);
    const auto received = smtp_.messages();
    ASSERT_EQ(received.size(), 2u) << "the duplicate was not sent";
    std::map<std::string, json> by_recipient;
    for (const auto& message : received) by_recipient[message["rcpt_tos"][0]] = message;
    EXPECT_EQ(by_recipient["ana@example.com"]["subject"], "¡Bienvenida, Ana!");
    EXPECT_NE(by_recipient["ana@example.com"]["html"].get<std::string>().find("<b>Ana</b>"),
              std::string::npos);
    EXPECT_EQ(by_recipient["john@example.com"]["subject"], "Welcome, John!");

    const json listed = messages();
    ASSERT_EQ(listed.size(), 2u);
    for (const auto& message : listed) {
        for (const char* field : {"id", "channel", "to", "status", "idempotency_key", "created_at",
                                  "sent_at", "error"}) {
            EXPECT_TRUE(message.contains(field)) << field;
        }
        EXPECT_EQ(message["source"], "messages-probe");
    }
    EXPECT_TRUE(
        json::parse(host_->http().get("/api/v1/tenants/luna/messages", kAdmin).body)["items"]
            .empty())
        << "another tenant sees none of them";
    const std::string id = first["id"];
    EXPECT_EQ(host_->http().get("/api/v1/tenants/sol/messages/" + id, kAdmin).status, 200);
    EXPECT_EQ(host_->http().get("/api/v1/tenants/luna/messages/" + id, kAdmin).status, 404)
        << "nor one by its id";
    const auto usage = json::parse(
        host_->http()
            .get("/api/v1/tenants/sol/usage/messages?from=2000-01-01&to=2100-01-01", kAdmin)
            .body);
    ASSERT_EQ(usage["items"].size(), 1u);
    EXPECT_EQ(usage["items"][0]["sent"], 2);
}

TEST_P(MessagesTest, ATenantOverridesATemplateInItsSettingsAndPreviewsIt) {
    ASSERT_EQ(
        send("PUT", "/api/v1/tenants/sol/plugins/messages-probe",
             {{"enabled", true},
              {"settings",
               {{"templates",
                 {{"welcome",
                   {{"es", {{"subject", "Bienvenid@ {{patient.first_name}} a {{clinic}}"}}}}}}}}}})
            .status,
        200);
    const auto preview = send("POST", "/t/sol/messages/preview",
                              {{"plugin", "messages-probe"}, {"template", "welcome"}});
    ASSERT_EQ(preview.status, 200) << preview.body;
    const json rendered = json::parse(preview.body);
    EXPECT_EQ(rendered["email"]["subject"], "Bienvenid@ Ana a Clínica Sol")
        << "the tenant's subject, the plugin's sample";
    EXPECT_EQ(rendered["email"]["text"], "Hola Ana, gracias por su primer pago en Clínica Sol.")
        << "the plugin's text";
    EXPECT_EQ(rendered["whatsapp"]["text"], "Hola Ana, bienvenida a Clínica Sol.");
    const auto english =
        send("POST", "/t/sol/messages/preview",
             {{"plugin", "messages-probe"}, {"template", "welcome"}, {"language", "en"}});
    EXPECT_EQ(json::parse(english.body)["email"]["subject"], "Welcome, Ana!");

    const auto missing = send("POST", "/t/sol/messages/preview",
                              {{"plugin", "messages-probe"},
                               {"template", "welcome"},
                               {"data", {{"clinic", "Clínica Sol"}}}});
    EXPECT_EQ(missing.status, 422) << missing.body;
    EXPECT_NE(missing.body.find("missing variable 'patient"), std::string::npos) << missing.body;
    // The data need not name the clinic: the host fills {{clinic}} with the tenant's name.
    const auto without_clinic = send("POST", "/t/sol/messages/preview",
                                     {{"plugin", "messages-probe"},
                                      {"template", "welcome"},
                                      {"data", {{"patient", {{"first_name", "Ana"}}}}}});
    ASSERT_EQ(without_clinic.status, 200) << without_clinic.body;
    EXPECT_EQ(json::parse(without_clinic.body)["whatsapp"]["text"], "Hola Ana, bienvenida a sol.");
    EXPECT_EQ(send("POST", "/t/sol/messages/preview",
                   {{"plugin", "messages-probe"}, {"template", "nope"}})
                  .status,
              404);
    EXPECT_EQ(send("POST", "/t/luna/messages/preview",
                   {{"plugin", "messages-probe"}, {"template", "welcome"}})
                  .status,
              404)
        << "not enabled for luna";
}

TEST_P(MessagesTest, ABatchStoresEachGoodMessageOnceAndNamesEachRefusal) {
    const std::string ana = patient({{"email", "ana@example.com"}, {"consent", {{"email", true}}}});
    auto message = [&](const std::string& key, const std::string& patient_id) {
        return json{{"channel", "email"},
                    {"template", "welcome"},
                    {"patient_id", patient_id},
                    {"idempotency_key", key}};
    };
    const json batch = json::array({message("batch-1", ana), message("batch-2", "no-such-patient"),
                                    message("batch-1", ana),
                                    json{{"channel", "fax"}, {"idempotency_key", "batch-3"}}});
    const auto answer = send("POST", "/t/sol/messages-probe/send-many", batch);
    ASSERT_EQ(answer.status, 201) << answer.body;
    const json results = json::parse(answer.body);
    ASSERT_EQ(results.size(), 4u);
    EXPECT_FALSE(results[0]["duplicate"]);
    EXPECT_TRUE(results[1]["not_found"]) << results[1];
    EXPECT_TRUE(results[2]["duplicate"]) << "the same key twice in one batch is one message";
    EXPECT_EQ(results[2]["id"], results[0]["id"]);
    EXPECT_NE(results[3]["error"].get<std::string>().find("channel"), std::string::npos)
        << results[3];
    EXPECT_EQ(messages().size(), 1u);
    ASSERT_TRUE(smtp_.wait_for(1));
    EXPECT_EQ(send("POST", "/t/sol/messages-probe/send-many", json{{"not", "an array"}}).status,
              400);

    const auto published = send("POST", "/t/sol/messages-probe/publish-many",
                                json::array({{{"type", "probe.noted"}, {"data", {{"n", 1}}}},
                                             {{"type", "probe.noted"}, {"data", {{"n", 2}}}}}));
    ASSERT_EQ(published.status, 201) << published.body;
    EXPECT_EQ(json::parse(published.body).size(), 2u);
    const auto undeclared =
        send("POST", "/t/sol/messages-probe/publish-many",
             json::array({{{"type", "probe.noted"}, {"data", json::object()}},
                          {{"type", "probe.other"}, {"data", json::object()}}}));
    EXPECT_EQ(undeclared.status, 400);
    EXPECT_NE(undeclared.body.find("event 1"), std::string::npos) << undeclared.body;
    const auto events = host_->http().get("/api/v1/tenants/sol/events?type=probe.noted", kAdmin);
    EXPECT_EQ(json::parse(events.body)["items"].size(), 2u)
        << "a batch with one bad event stores none of it: " << events.body;
}

TEST_P(MessagesTest, BadRequestsGetClearErrorsAndTheHostKeepsServing) {
    const std::string ana = patient({{"email", "ana@example.com"}, {"consent", {{"email", true}}}});
    const auto missing_variable =
        send("POST", "/t/sol/messages-probe/send",
             {{"channel", "email"},
              {"content", {{"subject", "Hola {{nickname}}"}, {"text", "…"}}},
              {"patient_id", ana},
              {"idempotency_key", "k"}});
    EXPECT_EQ(missing_variable.status, 400);
    EXPECT_NE(missing_variable.body.find("missing variable 'nickname'"), std::string::npos)
        << missing_variable.body;
    const auto unknown_patient = send("POST", "/t/sol/messages-probe/send",
                                      {{"channel", "email"},
                                       {"template", "welcome"},
                                       {"patient_id", "nobody"},
                                       {"data", {{"clinic", "x"}}},
                                       {"idempotency_key", "k"}});
    EXPECT_EQ(unknown_patient.status, 404) << unknown_patient.body;
    const auto no_key = send(
        "POST", "/t/sol/messages",
        {{"channel", "email"}, {"to", "a@b.mx"}, {"content", {{"subject", "s"}, {"text", "t"}}}});
    EXPECT_EQ(no_key.status, 400);
    EXPECT_NE(no_key.body.find("/idempotency_key"), std::string::npos);
    const auto bad_phone = send("POST", "/t/sol/messages",
                                {{"channel", "whatsapp"},
                                 {"to", "5512345678"},
                                 {"idempotency_key", "k"},
                                 {"content", {{"text", "t"}}}});
    EXPECT_EQ(bad_phone.status, 400);
    EXPECT_NE(bad_phone.body.find("/to"), std::string::npos);
    const auto bad_attachment =
        send("POST", "/t/sol/messages",
             {{"channel", "email"},
              {"to", "a@b.mx"},
              {"idempotency_key", "k"},
              {"content", {{"subject", "s"}, {"text", "t"}}},
              {"attachments", {{{"filename", "a.pdf"}, {"content_base64", "@@@"}}}}});
    EXPECT_EQ(bad_attachment.status, 400);
    EXPECT_EQ(host_->http().send("POST", "/t/sol/messages", "{\"channel\": ", kAdmin).status, 400);
    EXPECT_EQ(host_->http()
                  .send("POST", "/t/sol/messages", std::string(2 * 1024 * 1024, 'x'), kAdmin)
                  .status,
              413);
    EXPECT_EQ(host_->http().send("POST", "/t/sol/messages", "{}", {}).status, 401);
    EXPECT_EQ(
        host_->http()
            .send("POST", "/t/sol/messages", "{}", {"Authorization: Bearer wrong-token-0123456789"})
            .status,
        401);
    EXPECT_EQ(send("POST", "/t/nadie/messages", json::object()).status, 404);
    EXPECT_EQ(send("POST", "/t/luna/messages-probe/send", json::object()).status, 404)
        << "not enabled there";
    EXPECT_EQ(host_->http().get("/api/v1/tenants/nadie/messages", kAdmin).status, 404);
    EXPECT_EQ(host_->http().get("/api/v1/tenants/sol/messages?status=lost", kAdmin).status, 400);
    EXPECT_EQ(host_->http().get("/api/v1/tenants/sol/messages", {}).status, 401);
    EXPECT_EQ(host_->http()
                  .get("/api/v1/tenants/sol/usage/messages?from=yesterday&to=2026-01-01", kAdmin)
                  .status,
              400);
    const auto bad_settings = send("PUT", "/api/v1/tenants/sol/messaging",
                                   {{"quiet_hours", {{"start", "25:00"}, {"end", "08:00"}}},
                                    {"whatsapp", {{"from", "55"}}},
                                    {"sms", true}});
    EXPECT_EQ(bad_settings.status, 400);
    for (const char* field : {"/quiet_hours/start", "/whatsapp/from", "/sms"}) {
        EXPECT_NE(bad_settings.body.find(field), std::string::npos)
            << field << " in " << bad_settings.body;
    }
    const auto view = json::parse(host_->http().get("/api/v1/tenants/sol/messaging", kAdmin).body);
    EXPECT_EQ(view["whatsapp"]["from"], "+525500000000") << "a refused change changes nothing";
    EXPECT_EQ(view["whatsapp"]["api_key_set"], true);
    EXPECT_EQ(view.dump().find("ycloud-key-sol"), std::string::npos)
        << "secrets are never answered";
    EXPECT_TRUE(messages().empty()) << "nothing refused was queued";
    EXPECT_EQ(host_->http().get("/healthz").status, 200);
}

TEST_P(MessagesTest, AStopReplyTurnsWhatsAppOffForThePatientAndAltaTurnsItBackOn) {
    const std::string ana =
        patient({{"phone", "+525511112222"}, {"consent", {{"whatsapp", true}}}});
    EXPECT_EQ(ycloud_webhook(reply("+525511112222", "STOP"), "not-the-secret").status, 401);
    EXPECT_EQ(host_->http()
                  .send("POST", "/t/sol/messages/whatsapp/webhook",
                        reply("+525511112222", "STOP").dump(), {})
                  .status,
              401);
    auto consent = [&] {
        return json::parse(host_->http()
                               .get("/t/sol/records/patients/" + ana, kAdmin)
                               .body)["consent"]["whatsapp"];
    };
    EXPECT_EQ(consent(), true) << "an unsigned reply changes nothing";

    const auto stopped = ycloud_webhook(reply("+525511112222", " Baja "));
    ASSERT_EQ(stopped.status, 200) << stopped.body;
    EXPECT_EQ(json::parse(stopped.body)["consent_changed_for"], json::array({ana}));
    EXPECT_EQ(consent(), false);
    const auto history =
        json::parse(host_->http().get("/t/sol/records/patients/" + ana + "/history", kAdmin).body);
    ASSERT_EQ(history["consent_changes"].size(), 1u);
    EXPECT_EQ(history["consent_changes"][0]["granted"], false);
    EXPECT_NE(history["consent_changes"][0]["source"].get<std::string>().find("Baja"),
              std::string::npos);

    const json whatsapp = {{"channel", "whatsapp"},
                           {"patient_id", ana},
                           {"idempotency_key", "after-stop"},
                           {"content", {{"text", "Su cita es mañana"}}}};
    ASSERT_EQ(send("POST", "/t/sol/messages", whatsapp).status, 201);
    ASSERT_TRUE(wait_for_status("suppressed", 1));
    EXPECT_TRUE(ycloud_.received().empty()) << "nothing reached YCloud";

    ASSERT_EQ(ycloud_webhook(reply("+525511112222", "ALTA")).status, 200);
    EXPECT_EQ(consent(), true);
    json next = whatsapp;
    next["idempotency_key"] = "after-alta";
    const auto queued = send("POST", "/t/sol/messages", next);
    ASSERT_EQ(queued.status, 201);
    ASSERT_TRUE(ycloud_.wait_for(1));
    ASSERT_TRUE(wait_for_status("sent", 1));
    const std::string id = json::parse(queued.body)["id"];
    EXPECT_EQ(json::parse(ycloud_.received()[0].body)["externalId"], id);

    const auto delivered =
        ycloud_webhook({{"type", "whatsapp.message.updated"},
                        {"whatsappMessage", {{"externalId", id}, {"status", "delivered"}}}});
    ASSERT_EQ(delivered.status, 200);
    EXPECT_EQ(json::parse(host_->http()
                              .get("/api/v1/tenants/sol/messages/" + id, kAdmin)
                              .body)["provider_status"],
              "delivered");
    EXPECT_EQ(ycloud_webhook(json::array({1})).status, 400);
    EXPECT_EQ(host_->http()
                  .send("POST", "/t/luna/messages/whatsapp/webhook",
                        reply("+525511112222", "STOP").dump(), {})
                  .status,
              401)
        << "a tenant without a webhook secret accepts no webhook";
}

TEST_P(MessagesTest, AHostKilledMidBatchDeliversEveryMessageExactlyOnceAfterRestart) {
    auto queue = [&](int from, int to) {
        for (int i = from; i < to; ++i) {
            const auto queued =
                send("POST", "/t/sol/messages",
                     {{"channel", "email"},
                      {"to", "paciente" + std::to_string(i) + "@example.com"},
                      {"idempotency_key", "batch-" + std::to_string(i)},
                      {"content",
                       {{"subject", "Recordatorio " + std::to_string(i)}, {"text", "Hola"}}}});
            ASSERT_EQ(queued.status, 201) << queued.body;
        }
    };
    queue(0, 10);
    ASSERT_TRUE(wait_for_status("sent", 10));
    smtp_.hold();  // the next deliveries stop inside DATA, unanswered
    queue(10, 30);
    // Every worker (4) is now inside a delivery the receiver has read but not answered.
    ASSERT_TRUE(smtp_.wait_for_held(4));
    EXPECT_EQ(smtp_.messages().size(), 10u);
    host_->kill_hard();
    smtp_.release();
    start_host();
    ASSERT_TRUE(smtp_.wait_for(30, 30)) << smtp_.messages().size() << " of 30";
    ASSERT_TRUE(wait_for_status("sent", 30));
    std::this_thread::sleep_for(1s);  // anything sent twice would arrive by now
    std::multiset<std::string> message_ids;
    std::set<std::string> recipients;
    for (const auto& message : smtp_.messages()) {
        message_ids.insert(message["message_id"].get<std::string>());
        recipients.insert(message["rcpt_tos"][0].get<std::string>());
    }
    EXPECT_EQ(message_ids.size(), 30u) << "each message once";
    EXPECT_EQ(std::set<std::string>(message_ids.begin(), message_ids.end()).size(), 30u);
    EXPECT_EQ(recipients.size(), 30u);
}

INSTANTIATE_TEST_SUITE_P(Backends, MessagesTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
