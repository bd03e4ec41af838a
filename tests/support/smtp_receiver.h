// A real SMTP server for tests (tests/support/smtp_receiver.py, aiosmtpd): stands in for the
// clinic's mail provider. Records every accepted message; can require STARTTLS and AUTH, refuse
// a recipient, or hold its answer to DATA so that a test can crash the sender mid-delivery.
#pragma once

#include "support/test_environment.h"

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace miconsul::testing {

struct SmtpReceiverOptions {
    /// Offer STARTTLS with a fresh self-signed certificate for 127.0.0.1 and refuse mail
    /// without it; ca_file() is then the certificate to trust.
    bool tls = false;
    /// When set, AUTH (PLAIN or LOGIN) with exactly these is required before MAIL.
    std::string username{}, password{};
    std::string reject_recipient{};  // RCPT TO this address is answered 550
    std::string defer_recipient{};   // RCPT TO this address is answered 451
    /// Where to listen: "0.0.0.0" to be reached through a non-loopback address.
    std::string listen_address = "127.0.0.1";
};

class SmtpReceiver {
public:
    /// Starts the server and waits for its port (throws after 10 s, with its stderr).
    explicit SmtpReceiver(SmtpReceiverOptions options = {});
    /// Stops the server and removes every file it wrote.
    ~SmtpReceiver();
    SmtpReceiver(const SmtpReceiver&) = delete;
    SmtpReceiver& operator=(const SmtpReceiver&) = delete;

    int port() const { return port_; }
    std::string url() const;  // "smtp://127.0.0.1:<port>"
    const std::filesystem::path& ca_file() const { return certificate_; }  // empty without tls

    /// Accepted messages in the order they were accepted, as the script summarises them:
    /// {"mail_from", "rcpt_tos", "message_id", "subject" (decoded), "text", "html" (line breaks
    /// as "\n"; null when absent), "attachments": [{"filename", "content_type", "size",
    /// "sha256"}], "peer": [address, port] of the connection it came over, "received_at" (Unix
    /// seconds, fractional)}.
    std::vector<nlohmann::json> messages() const;
    /// Waits up to `seconds` for at least `count` accepted messages.
    bool wait_for(size_t count, int seconds = 10) const;
    /// The raw message `index` (0-based, as in messages()) as it arrived after DATA.
    std::string eml(size_t index) const;

    /// While held, the server reads each message but does not answer its final "." and does
    /// not record it; a message whose sender disconnects meanwhile is never recorded.
    void hold();
    void release();
    /// How many messages are waiting for release() now, and waiting for that many: a crash
    /// test kills the sender once its deliveries are in flight.
    size_t held() const;
    bool wait_for_held(size_t count, int seconds = 10) const;

    /// Stops the server now (its port is then closed); the destructor does it otherwise.
    void stop();
    /// What the script wrote to stderr so far.
    std::string log() const;

private:
    ScratchDirectory scratch_;
    std::filesystem::path mail_dir_, hold_file_, certificate_, log_file_;
    pid_t pid_ = -1;
    int stdin_ = -1;   // closing it makes the script exit, even if this process dies first
    int stdout_ = -1;  // the script's "PORT n" line
    int port_ = 0;
};

}  // namespace miconsul::testing
