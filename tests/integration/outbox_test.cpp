// The message outbox in process, on real SQLite and PostgreSQL, against a real SMTP server and
// a local stand-in for YCloud, with a clock the test moves: idempotency, consent, quiet hours,
// retries and metering.
#include "messages/outbox.h"

#include "auth/secret_box.h"
#include "bus/bus.h"
#include "clock/clock.h"
#include "plugins/host_services.h"
#include "records/records.h"
#include "support/http_receiver.h"
#include "support/smtp_receiver.h"
#include "support/test_database.h"
#include "support/test_environment.h"
#include "tenants/tenant_store.h"

#include <gtest/gtest.h>

namespace {
using miconsul::messages::Draft;
using miconsul::messages::Outbox;
using miconsul::messages::OutboxOptions;
using nlohmann::json;
using namespace std::chrono_literals;

// 12:00 in Mexico City (UTC-6 all year).
const auto kNoon = *miconsul::clock::parse_rfc3339("2026-11-28T18:00:00Z");

class OutboxTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        database_ = miconsul::testing::open_test_database(GetParam(), scratch_);
        tenants_ = std::make_unique<miconsul::tenants::TenantStore>(*database_);
        tenants_->load();
        for (const auto* id : {"sol", "luna"}) {
            miconsul::tenants::Tenant tenant;
            tenant.id = id;
            tenant.name = id;
            tenant.timezone = "America/Mexico_City";
            ASSERT_TRUE(tenants_->create(tenant));
        }
        services_ = std::make_unique<miconsul::plugins::HostServices>(
            miconsul::plugins::HostServices{*database_, miconsul::logging::Log::null()});
        miconsul::bus::BusOptions bus_options;
        bus_options.workers = 0;
        bus_ = std::make_unique<miconsul::bus::Bus>(*database_, *tenants_, registry_, *services_,
                                                    system_clock_, miconsul::logging::Log::null(),
                                                    bus_options);
        records_ = std::make_unique<miconsul::records::Records>(*database_, *bus_, system_clock_,
                                                                miconsul::logging::Log::null());
        settings_ = std::make_unique<miconsul::messages::MessagingSettings>(*database_, &box_);
        ASSERT_EQ(settings_->replace("sol", {{"whatsapp",
                                              {{"from", "+525500000000"},
                                               {"api_key", "ycloud-key-sol"},
                                               {"webhook_secret", "whsec"}}}}),
                  json::array());
        outbox_ = make_outbox();
    }

    std::unique_ptr<Outbox> make_outbox() {
        OutboxOptions options;
        options.workers = 0;
        options.retry_base = 60s;
        options.max_attempts = 3;
        options.timeout = 5s;
        options.platform_smtp.url = smtp_.url();
        options.platform_from = "Clínica Sol <avisos@miconsul.mx>";
        options.ycloud_url = ycloud_.url("");
        auto outbox = std::make_unique<Outbox>(*database_, *tenants_, *records_, *settings_, clock_,
                                               miconsul::logging::Log::null(), options);
        outbox->set_bus(bus_.get());
        return outbox;
    }

    std::string patient(bool email_consent, bool whatsapp_consent) {
        const auto created = records_->create_patient(
            "sol", {{"first_name", "Ana"},
                    {"last_name", "López"},
                    {"email", "ana@example.com"},
                    {"phone", "+525511112222"},
                    {"consent", {{"email", email_consent}, {"whatsapp", whatsapp_consent}}}});
        return std::get<json>(created)["id"];
    }

    Draft draft(const std::string& channel, const std::string& key, const std::string& to) {
        Draft message;
        message.tenant_id = "sol";
        message.source = "fidelizacion";
        message.idempotency_key = key;
        message.channel = channel;
        message.to = to;
        message.content =
            channel == "email"
                ? json{{"subject", "Bienvenida"}, {"text", "Hola"}, {"html", "<p>Hola</p>"}}
                : json{{"text", "Hola Ana"}};
        return message;
    }

    json message(const std::string& id) { return *outbox_->find("sol", id); }

    miconsul::testing::ScratchDirectory scratch_;
    miconsul::testing::SmtpReceiver smtp_;
    miconsul::testing::HttpReceiver ycloud_;
    std::unique_ptr<miconsul::storage::Database> database_;
    std::unique_ptr<miconsul::tenants::TenantStore> tenants_;
    miconsul::plugins::PluginRegistry registry_;
    std::unique_ptr<miconsul::plugins::HostServices> services_;
    miconsul::clock::SystemClock system_clock_;
    miconsul::clock::ManualClock clock_{kNoon};
    miconsul::auth::SecretBox box_{miconsul::auth::SecretBox::generate_key_hex()};
    std::unique_ptr<miconsul::bus::Bus> bus_;
    std::unique_ptr<miconsul::records::Records> records_;
    std::unique_ptr<miconsul::messages::MessagingSettings> settings_;
    std::unique_ptr<Outbox> outbox_;
};

TEST_P(OutboxTest, AnEmailWithAttachmentsArrivesIntactAndIsCountedForBilling) {
    Draft email = draft("email", "welcome-1", "ana@example.com");
    const std::string pdf("%PDF-1.4 \x00\x01\xff binary", 20);
    email.content["attachments"] =
        json::array({{{"filename", "bienvenida.pdf"},
                      {"content_type", "application/pdf"},
                      {"content_base64", miconsul::auth::base64_encode(pdf)}}});
    const auto queued = outbox_->queue(email);
    EXPECT_EQ(queued.status, "queued");
    EXPECT_EQ(message(queued.id)["status"], "queued") << "stored before delivery";

    EXPECT_EQ(outbox_->deliver_due(), 1u);
    ASSERT_TRUE(smtp_.wait_for(1));
    const auto received = smtp_.messages()[0];
    EXPECT_EQ(received["subject"], "Bienvenida");
    EXPECT_EQ(received["message_id"], "<" + queued.id + "@miconsul>");
    ASSERT_EQ(received["attachments"].size(), 1u);
    EXPECT_EQ(received["attachments"][0]["filename"], "bienvenida.pdf");
    EXPECT_EQ(received["attachments"][0]["size"], pdf.size());
    const json sent = message(queued.id);
    EXPECT_EQ(sent["status"], "sent");
    EXPECT_TRUE(sent["sent_at"].is_string());
    EXPECT_EQ(sent["content"]["attachments"][0]["size"], pdf.size());
    EXPECT_EQ(outbox_->usage("sol", "2026-11-28", "2026-11-28"),
              json::array({{{"day", "2026-11-28"},
                            {"channel", "email"},
                            {"sent", 1},
                            {"failed", 0},
                            {"suppressed", 0}}}));
    EXPECT_EQ(outbox_->usage("luna", "2026-11-28", "2026-11-28"), json::array()) << "per tenant";
    EXPECT_EQ(bus_->events("sol", "message.sent", 10).size(), 1u);
    EXPECT_FALSE(outbox_->find("luna", queued.id)) << "another tenant cannot see it";
}

TEST_P(OutboxTest, OneIdempotencyKeyIsOneMessageEvenQueuedByTwoInstances) {
    auto other_instance = make_outbox();
    const auto first = outbox_->queue(draft("email", "birthday-ana-2026", "ana@example.com"));
    const auto again =
        other_instance->queue(draft("email", "birthday-ana-2026", "ana@example.com"));
    EXPECT_FALSE(first.duplicate);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.id, first.id);
    Draft other_source = draft("email", "birthday-ana-2026", "ana@example.com");
    other_source.source = "citas";
    EXPECT_FALSE(outbox_->queue(other_source).duplicate) << "keys are each plugin's own";
    other_instance->deliver_due();
    outbox_->deliver_due();
    ASSERT_TRUE(smtp_.wait_for(2));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(smtp_.messages().size(), 2u);
    EXPECT_TRUE(outbox_->queue(draft("email", "birthday-ana-2026", "ana@example.com")).duplicate)
        << "a key already sent is still one message";
    EXPECT_EQ(outbox_->deliver_due(), 0u);
}

TEST_P(OutboxTest, ConsentIsCheckedWhenSendingAndItsAbsenceSuppressesWithTheReason) {
    const std::string id = patient(true, false);
    Draft whatsapp = draft("whatsapp", "w1", "+525511112222");
    whatsapp.patient_id = id;
    const auto queued = outbox_->queue(whatsapp);
    outbox_->deliver_due();
    const json suppressed = message(queued.id);
    EXPECT_EQ(suppressed["status"], "suppressed");
    EXPECT_NE(suppressed["error"].get<std::string>().find("consent"), std::string::npos);
    EXPECT_TRUE(ycloud_.received().empty());

    // Consent given later: the next message goes, to YCloud with the tenant's key and number.
    ASSERT_TRUE(std::holds_alternative<json>(
        records_->update_patient("sol", id, {{"consent", {{"whatsapp", true}}}})));
    whatsapp.idempotency_key = "w2";
    const auto second = outbox_->queue(whatsapp);
    outbox_->deliver_due();
    ASSERT_TRUE(ycloud_.wait_for(1));
    const auto request = ycloud_.received()[0];
    EXPECT_EQ(request.path, "/v2/whatsapp/messages");
    EXPECT_EQ(request.headers.at("x-api-key"), "ycloud-key-sol");
    const json body = json::parse(request.body);
    EXPECT_EQ(body["from"], "+525500000000");
    EXPECT_EQ(body["to"], "+525511112222");
    EXPECT_EQ(body["type"], "text");
    EXPECT_EQ(body["text"]["body"], "Hola Ana");
    EXPECT_EQ(body["externalId"], second.id);
    EXPECT_EQ(message(second.id)["status"], "sent");
    const json usage = outbox_->usage("sol", "2026-11-28", "2026-11-28");
    ASSERT_EQ(usage.size(), 1u);
    EXPECT_EQ(usage[0]["sent"], 1);
    EXPECT_EQ(usage[0]["suppressed"], 1);
}

TEST_P(OutboxTest, QuietHoursHoldAMessageUntilTheWindowOpensInTheTenantsZone) {
    // A replacement: what is left out is gone, except secrets, which are kept unless nulled.
    ASSERT_EQ(settings_->replace(
                  "sol", {{"whatsapp", {{"from", "+525500000000"}}},
                          {"quiet_hours",
                           {{"start", "21:00"}, {"end", "08:00"}, {"channels", {"whatsapp"}}}}}),
              json::array());
    clock_.set(*miconsul::clock::parse_rfc3339("2026-11-29T05:00:00Z"));  // 23:00 local
    const auto whatsapp = outbox_->queue(draft("whatsapp", "late", "+525511112222"));
    const auto email = outbox_->queue(draft("email", "late-email", "ana@example.com"));
    outbox_->deliver_due();
    EXPECT_EQ(message(email.id)["status"], "sent") << "email is not in the quiet channels";
    const json held = message(whatsapp.id);
    EXPECT_EQ(held["status"], "queued");
    EXPECT_EQ(held["next_attempt_at"], "2026-11-29T14:00:00Z") << "08:00 in Mexico City";
    EXPECT_EQ(held["attempts"], 0) << "waiting is not an attempt";

    clock_.set(*miconsul::clock::parse_rfc3339("2026-11-29T13:59:00Z"));
    EXPECT_EQ(outbox_->deliver_due(), 0u);
    EXPECT_TRUE(ycloud_.received().empty());
    clock_.set(*miconsul::clock::parse_rfc3339("2026-11-29T14:00:00Z"));
    EXPECT_EQ(outbox_->deliver_due(), 1u);
    EXPECT_TRUE(ycloud_.wait_for(1));
    EXPECT_EQ(message(whatsapp.id)["status"], "sent");
}

TEST_P(OutboxTest, AFailingProviderIsRetriedWithBackoffThenGivenUpAndARefusalFailsAtOnce) {
    smtp_.stop();  // nothing listens: every attempt fails in a way that may pass
    const auto queued = outbox_->queue(draft("email", "r1", "ana@example.com"));
    outbox_->deliver_due();
    json state = message(queued.id);
    EXPECT_EQ(state["status"], "queued");
    EXPECT_EQ(state["attempts"], 1);
    EXPECT_EQ(state["next_attempt_at"], "2026-11-28T18:01:00Z");
    EXPECT_FALSE(state["error"].is_null());
    clock_.advance(59s);
    EXPECT_EQ(outbox_->deliver_due(), 0u) << "not before its backoff";
    clock_.advance(1s);
    outbox_->deliver_due();
    EXPECT_EQ(message(queued.id)["next_attempt_at"], "2026-11-28T18:03:00Z") << "doubled";
    clock_.advance(2min);
    outbox_->deliver_due();
    state = message(queued.id);
    EXPECT_EQ(state["status"], "failed");
    EXPECT_NE(state["error"].get<std::string>().find("gave up after 3 attempts"),
              std::string::npos);

    ycloud_.answer_with(400);  // YCloud refuses the request: trying again cannot help
    const auto refused = outbox_->queue(draft("whatsapp", "r2", "+525511112222"));
    outbox_->deliver_due();
    EXPECT_EQ(message(refused.id)["status"], "failed");
    EXPECT_NE(message(refused.id)["error"].get<std::string>().find("400"), std::string::npos);
    const json usage = outbox_->usage("sol", "2026-11-28", "2026-11-28");
    size_t failed = 0;
    for (const auto& row : usage) failed += row["failed"].get<size_t>();
    EXPECT_EQ(failed, 2u);
}

TEST_P(OutboxTest, TheListFiltersByStatusAndPagesNewestFirst) {
    const std::string id = patient(true, false);
    // Ids order messages by the millisecond they were queued in.
    for (int i = 0; i < 3; ++i) {
        outbox_->queue(draft("email", "e" + std::to_string(i), "ana@example.com"));
        clock_.advance(1ms);
    }
    Draft suppressed = draft("whatsapp", "w", "+525511112222");
    suppressed.patient_id = id;
    outbox_->queue(suppressed);
    outbox_->deliver_due();
    EXPECT_EQ(outbox_->list("sol", {{"status", "sent"}}, "", 50).items.size(), 3u);
    const auto page = outbox_->list("sol", {{"status", "suppressed"}}, "", 50);
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_EQ(page.items[0]["idempotency_key"], "w");
    const auto first = outbox_->list("sol", json::object(), "", 2);
    ASSERT_EQ(first.items.size(), 2u);
    EXPECT_EQ(first.items[0]["idempotency_key"], "w") << "newest first";
    const auto second = outbox_->list("sol", json::object(), first.next_cursor, 2);
    EXPECT_EQ(second.items.size(), 2u);
    EXPECT_TRUE(second.next_cursor.empty());
    EXPECT_TRUE(outbox_->list("luna", json::object(), "", 50).items.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, OutboxTest, ::testing::Values("sqlite", "postgresql"));

}  // namespace
