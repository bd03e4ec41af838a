// What the outbox hands to a channel, and what a channel answers. One client object per worker
// thread: each keeps its connection to the provider open between messages (libcurl reuses it).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace miconsul::messages {

/// How one delivery attempt ended.
struct SendResult {
    enum class Outcome {
        sent,      // the provider accepted the message
        retry,     // it may work later: connection refused, timeout, 4xx SMTP reply, 5xx HTTP
        rejected,  // it will never work as it is: 5xx SMTP reply, 4xx HTTP, bad recipient
    };
    Outcome outcome = Outcome::retry;
    std::string error;        // why, when not sent: the provider's reply or the transport error
    std::string provider_id;  // the provider's id for the message when it gives one
};

struct Attachment {
    std::string filename;      // as the recipient sees it: "cita.ics"
    std::string content_type;  // "text/calendar", "application/pdf"
    std::string content;       // the raw bytes (not base64)
};

struct Email {
    std::string from;  // "Clínica Sol <citas@sol.mx>" or a bare address
    std::string to;    // one address
    std::string subject;
    std::string text;  // plain-text part; may be empty when html is not
    std::string html;  // HTML part; may be empty
    std::vector<Attachment> attachments;
    /// "<id@miconsul>": the same for every attempt at one message, so that a receiving system
    /// can recognise a message sent again after a crash (RFC 5322 Message-ID).
    std::string message_id;
};

struct SmtpSettings {
    std::string url;  // "smtp://host:587" (STARTTLS when starttls) or "smtps://host:465"
    std::string username, password;  // empty: no AUTH
    /// Require STARTTLS on smtp:// (refuse to send in clear). Forced on when credentials are set
    /// and the host is not loopback.
    bool starttls = false;
    std::string ca_file;  // PEM bundle to verify the server with; empty: the system's
    std::chrono::milliseconds timeout{30000};
};

/// Sends email over SMTP with libcurl. Not thread-safe: one per worker thread.
class SmtpClient {
public:
    SmtpClient();
    ~SmtpClient();
    SmtpClient(const SmtpClient&) = delete;
    SmtpClient& operator=(const SmtpClient&) = delete;

    /// One attempt. Never throws.
    SendResult send(const SmtpSettings& settings, const Email& email);

private:
    void* handle_ = nullptr;  // CURL*, kept so the connection is reused
};

/// A WhatsApp message through the YCloud API.
struct WhatsAppMessage {
    std::string from;                      // the clinic's WhatsApp business number, E.164
    std::string to;                        // E.164
    std::string text;                      // a text message, when template_name is empty
    std::string template_name;             // an approved WhatsApp template instead of text
    std::string template_language;         // "es_MX"
    std::string template_components_json;  // YCloud "components" array, JSON; may be empty
    std::string external_id;  // the outbox message id: YCloud echoes it in status webhooks
};

struct YCloudSettings {
    std::string base_url = "https://api.ycloud.com";  // MICONSUL_YCLOUD_URL in tests
    std::string api_key;
    std::chrono::milliseconds timeout{30000};
};

/// Sends WhatsApp messages through YCloud with libcurl. Not thread-safe: one per worker thread.
class YCloudClient {
public:
    YCloudClient();
    ~YCloudClient();
    YCloudClient(const YCloudClient&) = delete;
    YCloudClient& operator=(const YCloudClient&) = delete;

    /// One attempt: POST {base_url}/v2/whatsapp/messages. Never throws.
    SendResult send(const YCloudSettings& settings, const WhatsAppMessage& message);

private:
    void* handle_ = nullptr;  // CURL*
};

}  // namespace miconsul::messages
