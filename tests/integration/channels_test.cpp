// The SMTP channel against a real SMTP server (aiosmtpd): what arrives, and how each kind of
// failure is classified for the outbox (sent, retry later, or rejected for good).
#include "messages/channels.h"
#include "support/smtp_receiver.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

namespace {
using miconsul::messages::Attachment;
using miconsul::messages::Email;
using miconsul::messages::SendResult;
using miconsul::messages::SmtpClient;
using miconsul::messages::SmtpSettings;
using miconsul::testing::SmtpReceiver;
using miconsul::testing::SmtpReceiverOptions;
using Outcome = SendResult::Outcome;

std::string sha256_hex(const std::string& bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        char pair[3];
        std::snprintf(pair, sizeof pair, "%02x", digest[i]);
        hex += pair;
    }
    return hex;
}

Email reminder(const std::string& message_id, const std::string& to = "paciente@example.com") {
    Email email;
    email.from = "Clínica Sol <citas@sol.mx>";
    email.to = to;
    email.subject = "Recordatorio de su cita";
    email.text = "Le esperamos mañana a las 10:00.";
    email.message_id = message_id;
    return email;
}

SmtpSettings settings_for(const SmtpReceiver& receiver) {
    SmtpSettings settings;
    settings.url = receiver.url();
    settings.timeout = std::chrono::seconds(20);
    return settings;
}

const char* outcome_name(Outcome outcome) {
    switch (outcome) {
        case Outcome::sent:
            return "sent";
        case Outcome::retry:
            return "retry";
        case Outcome::rejected:
            return "rejected";
    }
    return "?";
}

/// An IPv4 address of this machine that is not loopback, to reach a receiver "remotely".
std::optional<std::string> non_loopback_address() {
    ifaddrs* interfaces = nullptr;
    if (getifaddrs(&interfaces) != 0) return std::nullopt;
    std::optional<std::string> found;
    for (ifaddrs* entry = interfaces; entry != nullptr && !found; entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
        const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
        if ((ntohl(address->sin_addr.s_addr) >> 24) == 127) continue;
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &address->sin_addr, text, sizeof text);
        found = text;
    }
    freeifaddrs(interfaces);
    return found;
}

#define EXPECT_OUTCOME(result, expected) \
    EXPECT_EQ(outcome_name((result).outcome), std::string(outcome_name(expected))) << (result).error

TEST(SmtpClientTest, DeliversAUtf8SubjectBothBodiesAndExactAttachments) {
    SmtpReceiver receiver;
    std::string pdf = "%PDF-1.4\n";
    for (int byte = 0; byte < 256; ++byte) pdf += static_cast<char>(byte);
    pdf += "\n%%EOF\n";
    const std::string ics =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Cita con la Dra. Núñez\r\n"
        "DTSTART:20250314T160000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    Email email;
    email.from = "Clínica Sol <citas@sol.mx>";
    email.to = "paciente@example.com";
    // Longer than one encoded-word holds, with a multi-byte character at the split.
    email.subject = "Confirmación de su cita con la Dra. Núñez — mañana a las 10:00 en Clínica Sol";
    // A line starting with "." must survive SMTP's end-of-data marker.
    email.text = "Hola María,\n.Su cita está confirmada.\n\nClínica Sol";
    email.html = "<p>Hola María,</p><p>Su cita está <b>confirmada</b>.</p>";
    email.attachments = {{"receta-médica.pdf", "application/pdf", pdf},
                         {"cita.ics", "text/calendar; method=REQUEST", ics}};
    email.message_id = "<0190a1b2-c3d4@miconsul>";

    SmtpClient client;
    const SendResult result = client.send(settings_for(receiver), email);

    EXPECT_OUTCOME(result, Outcome::sent);
    EXPECT_EQ(result.provider_id, email.message_id);
    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    const auto message = receiver.messages().at(0);
    EXPECT_EQ(message["mail_from"], "citas@sol.mx");
    EXPECT_EQ(message["rcpt_tos"], nlohmann::json::array({"paciente@example.com"}));
    EXPECT_EQ(message["message_id"], email.message_id);
    EXPECT_EQ(message["subject"], email.subject);
    EXPECT_EQ(message["text"], email.text);
    EXPECT_EQ(message["html"], email.html);
    ASSERT_EQ(message["attachments"].size(), 2u);
    EXPECT_EQ(message["attachments"][0]["filename"], "receta-médica.pdf");
    EXPECT_EQ(message["attachments"][0]["content_type"], "application/pdf");
    EXPECT_EQ(message["attachments"][0]["size"], pdf.size());
    EXPECT_EQ(message["attachments"][0]["sha256"], sha256_hex(pdf));
    EXPECT_EQ(message["attachments"][1]["filename"], "cita.ics");
    EXPECT_EQ(message["attachments"][1]["content_type"], "text/calendar");
    EXPECT_EQ(message["attachments"][1]["sha256"], sha256_hex(ics));

    const std::string raw = receiver.eml(0);
    EXPECT_NE(raw.find("From: =?UTF-8?B?"), std::string::npos) << raw;
    EXPECT_NE(raw.find("Subject: =?UTF-8?B?"), std::string::npos) << raw;
    EXPECT_NE(raw.find("Date: "), std::string::npos) << raw;
    EXPECT_NE(raw.find("multipart/alternative"), std::string::npos) << raw;
    EXPECT_NE(raw.find("quoted-printable"), std::string::npos) << raw;
}

TEST(SmtpClientTest, StartTlsWithTheRightPasswordSends) {
    SmtpReceiver receiver({.tls = true, .username = "clinica", .password = "s3creta"});
    SmtpSettings settings = settings_for(receiver);
    settings.starttls = true;
    settings.ca_file = receiver.ca_file().string();
    settings.username = "clinica";
    settings.password = "s3creta";

    SmtpClient client;
    const SendResult result = client.send(settings, reminder("<tls-1@miconsul>"));

    EXPECT_OUTCOME(result, Outcome::sent);
    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    EXPECT_EQ(receiver.messages().at(0)["message_id"], "<tls-1@miconsul>");
}

TEST(SmtpClientTest, AWrongPasswordIsRejectedAndNothingIsRecorded) {
    SmtpReceiver receiver({.tls = true, .username = "clinica", .password = "s3creta"});
    SmtpSettings settings = settings_for(receiver);
    settings.starttls = true;
    settings.ca_file = receiver.ca_file().string();
    settings.username = "clinica";
    settings.password = "equivocada";
    SmtpClient client;

    const SendResult refused = client.send(settings, reminder("<wrong@miconsul>"));
    settings.password = "s3creta";
    const SendResult sent = client.send(settings, reminder("<right@miconsul>"));

    EXPECT_OUTCOME(refused, Outcome::rejected);
    EXPECT_NE(refused.error.find("authentication"), std::string::npos) << refused.error;
    EXPECT_NE(refused.error.find("535"), std::string::npos) << refused.error;
    EXPECT_OUTCOME(sent, Outcome::sent);
    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto messages = receiver.messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0]["message_id"], "<right@miconsul>");
}

TEST(SmtpClientTest, WithoutStartTlsAServerThatRequiresItRefusesTheMessage) {
    SmtpReceiver receiver({.tls = true, .username = "clinica", .password = "s3creta"});
    SmtpSettings settings = settings_for(receiver);  // loopback: TLS is not forced
    settings.username = "clinica";
    settings.password = "s3creta";

    const SendResult result = SmtpClient().send(settings, reminder("<clear@miconsul>"));

    // The server never offers AUTH in clear, so the password is not sent; MAIL is refused.
    EXPECT_OUTCOME(result, Outcome::rejected);
    EXPECT_NE(result.error.find("530"), std::string::npos) << result.error;
    EXPECT_TRUE(receiver.messages().empty());
}

TEST(SmtpClientTest, CredentialsTravelInClearOnlyToLoopback) {
    const auto address = non_loopback_address();
    if (!address) GTEST_SKIP() << "no non-loopback IPv4 address on this machine";
    SmtpReceiver receiver(
        {.username = "clinica", .password = "s3creta", .listen_address = "0.0.0.0"});
    SmtpSettings settings = settings_for(receiver);
    settings.username = "clinica";
    settings.password = "s3creta";
    SmtpClient client;

    const SendResult on_loopback = client.send(settings, reminder("<loopback@miconsul>"));
    settings.url = "smtp://" + *address + ":" + std::to_string(receiver.port());
    const SendResult remote = client.send(settings, reminder("<remote@miconsul>"));

    EXPECT_OUTCOME(on_loopback, Outcome::sent);
    // The server offers no STARTTLS; the client must refuse to send the password without it.
    EXPECT_OUTCOME(remote, Outcome::retry);
    EXPECT_NE(remote.error.find("STARTTLS"), std::string::npos) << remote.error;
    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_EQ(receiver.messages().size(), 1u);
    EXPECT_EQ(receiver.messages()[0]["message_id"], "<loopback@miconsul>");
}

TEST(SmtpClientTest, ARecipientRefusedWith550IsRejectedAndTheNextMessageStillGoes) {
    SmtpReceiver receiver({.reject_recipient = "nadie@example.com"});
    SmtpClient client;

    const SendResult refused =
        client.send(settings_for(receiver), reminder("<refused@miconsul>", "nadie@example.com"));
    const SendResult sent = client.send(settings_for(receiver), reminder("<next@miconsul>"));

    EXPECT_OUTCOME(refused, Outcome::rejected);
    EXPECT_NE(refused.error.find("550"), std::string::npos) << refused.error;
    EXPECT_OUTCOME(sent, Outcome::sent);
    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    EXPECT_EQ(receiver.messages().size(), 1u);
}

TEST(SmtpClientTest, ARecipientDeferredWith451IsRetry) {
    SmtpReceiver receiver({.defer_recipient = "luego@example.com"});

    const SendResult result = SmtpClient().send(settings_for(receiver),
                                                reminder("<later@miconsul>", "luego@example.com"));

    EXPECT_OUTCOME(result, Outcome::retry);
    EXPECT_NE(result.error.find("451"), std::string::npos) << result.error;
}

TEST(SmtpClientTest, AClosedPortIsRetry) {
    SmtpReceiver receiver;
    const SmtpSettings settings = settings_for(receiver);
    receiver.stop();

    const SendResult result = SmtpClient().send(settings, reminder("<closed@miconsul>"));

    EXPECT_OUTCOME(result, Outcome::retry);
    EXPECT_FALSE(result.error.empty());
}

TEST(SmtpClientTest, AServerThatDoesNotAnswerIsRetryAndKeepsNothing) {
    SmtpReceiver receiver;
    SmtpSettings settings = settings_for(receiver);
    settings.timeout = std::chrono::seconds(1);
    SmtpClient client;

    receiver.hold();
    const SendResult timed_out = client.send(settings, reminder("<held@miconsul>"));
    receiver.release();
    const SendResult sent = client.send(settings, reminder("<after@miconsul>"));

    EXPECT_OUTCOME(timed_out, Outcome::retry);
    EXPECT_OUTCOME(sent, Outcome::sent);
    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto messages = receiver.messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0]["message_id"], "<after@miconsul>");
}

TEST(SmtpClientTest, ASenderKilledWhileItsMessageIsHeldLeavesNothingRecorded) {
    SmtpReceiver receiver;
    receiver.hold();
    const pid_t sender = fork();
    ASSERT_GE(sender, 0);
    if (sender == 0) {
        SmtpClient().send(settings_for(receiver), reminder("<killed@miconsul>"));
        _exit(0);
    }
    const bool in_flight = receiver.wait_for_held(1);
    kill(sender, SIGKILL);
    waitpid(sender, nullptr, 0);
    ASSERT_TRUE(in_flight) << receiver.log();

    // The server drops the held message as soon as it sees the connection close.
    for (int waited = 0; receiver.held() > 0 && waited < 500; ++waited) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(receiver.held(), 0u);
    receiver.release();
    EXPECT_OUTCOME(SmtpClient().send(settings_for(receiver), reminder("<after@miconsul>")),
                   Outcome::sent);
    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto messages = receiver.messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0]["message_id"], "<after@miconsul>");
}

TEST(SmtpClientTest, HeaderInjectionAndBadAddressesAreRejectedBeforeSending) {
    SmtpReceiver receiver;
    SmtpClient client;
    const auto settings = settings_for(receiver);
    Email injected_to = reminder("<bad-1@miconsul>", "paciente@example.com\r\nBcc: x@y.com");
    Email injected_subject = reminder("<bad-2@miconsul>");
    injected_subject.subject = "Hola\r\nBcc: x@y.com";
    Email injected_from = reminder("<bad-3@miconsul>");
    injected_from.from = "citas@sol.mx\nBcc: x@y.com";
    Email no_at = reminder("<bad-4@miconsul>", "paciente.example.com");
    Email no_recipient = reminder("<bad-5@miconsul>", "");

    for (const Email& email : {injected_to, injected_subject, injected_from, no_at, no_recipient}) {
        const SendResult result = client.send(settings, email);
        EXPECT_OUTCOME(result, Outcome::rejected) << " for " << email.message_id;
        EXPECT_FALSE(result.error.empty());
    }
    EXPECT_OUTCOME(client.send(settings, reminder("<good@miconsul>")), Outcome::sent);

    ASSERT_TRUE(receiver.wait_for(1)) << receiver.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto messages = receiver.messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0]["message_id"], "<good@miconsul>");
    EXPECT_EQ(receiver.eml(0).find("Bcc"), std::string::npos);
}

TEST(SmtpClientTest, TwoMessagesThroughOneClientShareOneConnection) {
    SmtpReceiver receiver;
    SmtpClient client;

    const SendResult first = client.send(settings_for(receiver), reminder("<first@miconsul>"));
    const SendResult second = client.send(settings_for(receiver), reminder("<second@miconsul>"));

    EXPECT_OUTCOME(first, Outcome::sent);
    EXPECT_OUTCOME(second, Outcome::sent);
    ASSERT_TRUE(receiver.wait_for(2)) << receiver.log();
    const auto messages = receiver.messages();
    EXPECT_EQ(messages[0]["message_id"], "<first@miconsul>");
    EXPECT_EQ(messages[1]["message_id"], "<second@miconsul>");
    EXPECT_EQ(messages[0]["peer"], messages[1]["peer"]) << "a new connection per message";
}

}  // namespace
