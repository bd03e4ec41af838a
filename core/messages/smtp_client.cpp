// SmtpClient: one email, one SMTP transaction through libcurl's MIME builder.
#include "messages/channels.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

namespace miconsul::messages {

namespace {

using Outcome = SendResult::Outcome;

SendResult failure(Outcome outcome, std::string error) {
    SendResult result;
    result.outcome = outcome;
    result.error = std::move(error);
    return result;
}

bool has_control_characters(std::string_view text) {
    for (const unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) return true;
    }
    return false;
}

bool is_plain_ascii(std::string_view text) {
    for (const unsigned char c : text) {
        if (c < 0x20 || c >= 0x7f) return false;
    }
    return true;
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

/// For error texts, which end up in logs: a line break shows as "\\n", not as a new line.
std::string printable(std::string_view text) {
    constexpr size_t kLongest = 200;
    std::string out;
    for (const unsigned char c : text.substr(0, kLongest)) {
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c == 0x7f) {
            char escape[8];
            std::snprintf(escape, sizeof escape, "\\x%02x", c);
            out += escape;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (text.size() > kLongest) out += "...";
    return out;
}

std::string base64(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned value = static_cast<unsigned char>(bytes[i]) << 16 |
                               static_cast<unsigned char>(bytes[i + 1]) << 8 |
                               static_cast<unsigned char>(bytes[i + 2]);
        out += kAlphabet[value >> 18 & 63];
        out += kAlphabet[value >> 12 & 63];
        out += kAlphabet[value >> 6 & 63];
        out += kAlphabet[value & 63];
    }
    if (i < bytes.size()) {
        const bool two = i + 1 < bytes.size();
        const unsigned value = static_cast<unsigned char>(bytes[i]) << 16 |
                               (two ? static_cast<unsigned char>(bytes[i + 1]) << 8 : 0u);
        out += kAlphabet[value >> 18 & 63];
        out += kAlphabet[value >> 12 & 63];
        out += two ? kAlphabet[value >> 6 & 63] : '=';
        out += '=';
    }
    return out;
}

/// RFC 2047 encoded-words, folded onto continuation lines: each word stays within the 75
/// characters the RFC allows and never splits a UTF-8 character between two words.
std::string encoded_words(std::string_view utf8) {
    constexpr size_t kMaxBytesPerWord = 45;  // 60 base64 characters + "=?UTF-8?B?" + "?="
    std::string out;
    while (!utf8.empty()) {
        size_t length = std::min(kMaxBytesPerWord, utf8.size());
        while (length < utf8.size() && length > 0 &&
               (static_cast<unsigned char>(utf8[length]) & 0xC0) == 0x80) {
            --length;
        }
        if (length == 0) length = std::min(kMaxBytesPerWord, utf8.size());  // not UTF-8 at all
        if (!out.empty()) out += "\r\n ";
        out += "=?UTF-8?B?" + base64(utf8.substr(0, length)) + "?=";
        utf8.remove_prefix(length);
    }
    return out;
}

/// A header value as it may travel: as it is when plain and short, encoded-words otherwise.
std::string header_text(std::string_view text) {
    constexpr size_t kLongestPlainValue = 900;  // well under the 998-character line limit
    if (is_plain_ascii(text) && text.size() <= kLongestPlainValue) return std::string(text);
    return encoded_words(text);
}

struct Mailbox {
    std::string display_name;  // may be empty
    std::string address;       // "citas@sol.mx"
};

/// "Clínica Sol <citas@sol.mx>", "\"Sol, Clínica\" <citas@sol.mx>" or "citas@sol.mx".
std::optional<Mailbox> parse_mailbox(std::string_view text) {
    if (has_control_characters(text)) return std::nullopt;  // CR/LF: header injection
    text = trim(text);
    Mailbox mailbox;
    std::string_view address = text;
    if (!text.empty() && text.back() == '>') {
        const auto open = text.rfind('<');
        if (open == std::string_view::npos) return std::nullopt;
        address = text.substr(open + 1, text.size() - open - 2);
        std::string_view name = trim(text.substr(0, open));
        if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
            name = name.substr(1, name.size() - 2);
        }
        mailbox.display_name = std::string(name);
    }
    address = trim(address);
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return std::nullopt;
    if (address.find_first_of(" <>()[],;:\\\"") != std::string_view::npos) return std::nullopt;
    mailbox.address = std::string(address);
    return mailbox;
}

std::string header_mailbox(const Mailbox& mailbox) {
    if (mailbox.display_name.empty()) return mailbox.address;
    if (!is_plain_ascii(mailbox.display_name)) {
        return encoded_words(mailbox.display_name) + " <" + mailbox.address + ">";
    }
    std::string quoted = "\"";
    for (const char c : mailbox.display_name) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return quoted + "\" <" + mailbox.address + ">";
}

/// RFC 5322 date in UTC; built by hand because strftime's names follow the process locale.
std::string rfc5322_now() {
    static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                         "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[64];
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[utc.tm_wday],
                  utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                  utc.tm_sec);
    return text;
}

/// Only for callers that give none; the outbox gives one, so that a resend keeps its identity.
std::string generated_message_id() {
    std::random_device random;
    char text[64];
    std::snprintf(text, sizeof text, "<%08x%08x%08x@miconsul>", random(), random(), random());
    return text;
}

/// MIME text is CRLF-delimited (RFC 2049); a bare LF would reach quoted-printable as "=0A".
std::string with_crlf_line_breaks(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
        out += text[i];
    }
    return out;
}

/// `filename="cita.ics"` when ASCII, RFC 2231 `filename*=UTF-8''receta-m%C3%A9dica.pdf`
/// otherwise: header parameters cannot carry raw UTF-8 (nor RFC 2047 words, strictly).
std::string filename_parameter(std::string_view parameter, std::string_view filename) {
    std::string out(parameter);
    if (is_plain_ascii(filename)) {
        out += "=\"";
        for (const char c : filename) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        return out + '"';
    }
    out += "*=UTF-8''";
    for (const unsigned char c : filename) {
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            char escape[4];
            std::snprintf(escape, sizeof escape, "%%%02X", c);
            out += escape;
        }
    }
    return out;
}

/// Everything wrong with an email that no retry can fix, or nothing.
std::optional<std::string> invalid_email(const Email& email) {
    if (email.to.empty()) return "no recipient";
    if (!parse_mailbox(email.to)) return "invalid recipient address: " + printable(email.to);
    if (!parse_mailbox(email.from)) return "invalid sender address: " + printable(email.from);
    if (has_control_characters(email.subject)) return "the subject contains a line break";
    if (has_control_characters(email.message_id)) return "the Message-ID contains a line break";
    for (const auto& attachment : email.attachments) {
        if (has_control_characters(attachment.filename)) {
            return "an attachment's filename contains a line break";
        }
        // Percent-encoded three times over, it must still fit a 998-character header line.
        if (attachment.filename.size() > 255) return "an attachment's filename is too long";
        if (has_control_characters(attachment.content_type) ||
            (!attachment.content_type.empty() &&
             attachment.content_type.find('/') == std::string::npos)) {
            return "invalid attachment content type: " + printable(attachment.content_type);
        }
    }
    return std::nullopt;
}

bool is_loopback(std::string_view host) {
    return host == "localhost" || host == "[::1]" || host == "::1" || host.starts_with("127.");
}

std::string url_host(const std::string& url) {
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> parsed(curl_url(), &curl_url_cleanup);
    char* host = nullptr;
    if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
        curl_url_get(parsed.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        return {};
    }
    std::string result = host;
    curl_free(host);
    return result;
}

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct MimeDeleter {
    void operator()(curl_mime* mime) const { curl_mime_free(mime); }
};
using Mime = std::unique_ptr<curl_mime, MimeDeleter>;

void append(Slist& list, const std::string& line) {
    curl_slist* grown = curl_slist_append(list.get(), line.c_str());
    if (grown == nullptr) throw std::bad_alloc();
    list.release();
    list.reset(grown);
}

void check(CURLcode code) {
    if (code != CURLE_OK) throw std::runtime_error(curl_easy_strerror(code));
}

void add_text_part(curl_mime* mime, const std::string& text, const char* content_type) {
    curl_mimepart* part = curl_mime_addpart(mime);
    if (part == nullptr) throw std::bad_alloc();
    const std::string canonical = with_crlf_line_breaks(text);
    check(curl_mime_data(part, canonical.data(), canonical.size()));
    check(curl_mime_type(part, content_type));
    check(curl_mime_encoder(part, "quoted-printable"));
}

/// multipart/mixed: the body (text, html, or both as multipart/alternative), then attachments.
Mime build_body(CURL* curl, const Email& email) {
    Mime mixed(curl_mime_init(curl));
    if (!mixed) throw std::bad_alloc();
    const bool with_text = !email.text.empty() || email.html.empty();
    const bool with_html = !email.html.empty();
    if (with_text && with_html) {
        Mime alternative(curl_mime_init(curl));
        if (!alternative) throw std::bad_alloc();
        add_text_part(alternative.get(), email.text, "text/plain; charset=utf-8");
        add_text_part(alternative.get(), email.html, "text/html; charset=utf-8");
        curl_mimepart* part = curl_mime_addpart(mixed.get());
        if (part == nullptr) throw std::bad_alloc();
        check(curl_mime_subparts(part, alternative.get()));
        alternative.release();  // the part owns it now
        check(curl_mime_type(part, "multipart/alternative"));
    } else if (with_html) {
        add_text_part(mixed.get(), email.html, "text/html; charset=utf-8");
    } else {
        add_text_part(mixed.get(), email.text, "text/plain; charset=utf-8");
    }
    for (const auto& attachment : email.attachments) {
        curl_mimepart* part = curl_mime_addpart(mixed.get());
        if (part == nullptr) throw std::bad_alloc();
        check(curl_mime_data(part, attachment.content.data(), attachment.content.size()));
        std::string content_type =
            attachment.content_type.empty() ? "application/octet-stream" : attachment.content_type;
        std::string disposition = "Content-Disposition: attachment";
        if (!attachment.filename.empty()) {
            // The name in Content-Type too: older mail clients look only there.
            content_type += "; " + filename_parameter("name", attachment.filename);
            disposition += "; " + filename_parameter("filename", attachment.filename);
        }
        check(curl_mime_type(part, content_type.c_str()));
        check(curl_mime_encoder(part, "base64"));
        Slist headers;
        append(headers, disposition);
        check(curl_mime_headers(part, headers.get(), 1));
        headers.release();  // the part owns it now
    }
    return mixed;
}

/// The server's last refusal (4xx or 5xx) as libcurl saw it: its text ("550 5.1.1 Mailbox
/// unavailable") says why, which CURLINFO_RESPONSE_CODE leaves out. Later lines, such as the
/// "221 Bye" to the QUIT after a failure, do not replace it.
struct ServerReplies {
    std::string last_refusal;
};

int record_reply(CURL*, curl_infotype type, char* data, size_t size, void* context) {
    // Only what the server said: our own lines include the AUTH exchange.
    if (type != CURLINFO_HEADER_IN || context == nullptr || size == 0) return 0;
    if (data[0] != '4' && data[0] != '5') return 0;
    std::string_view line(data, size);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    static_cast<ServerReplies*>(context)->last_refusal.assign(line.substr(0, 300));
    return 0;
}

bool is_transport_failure(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_GOT_NOTHING:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_USE_SSL_FAILED:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
            return true;
        default:
            return false;
    }
}

SendResult classify(CURLcode code, long reply_code, const char* error_buffer,
                    const ServerReplies& replies) {
    std::string error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    if (code == CURLE_LOGIN_DENIED) {
        error = "authentication failed (check the SMTP username and password): " + error;
    }
    if (!replies.last_refusal.empty()) {
        error += ": server said \"" + printable(replies.last_refusal) + '"';
    }
    if (reply_code > 0) error += " (SMTP " + std::to_string(reply_code) + ")";
    // A refused TLS handshake or a lost connection says nothing about the message itself.
    if (is_transport_failure(code)) return failure(Outcome::retry, std::move(error));
    if (reply_code >= 500 && reply_code < 600) return failure(Outcome::rejected, std::move(error));
    if (reply_code >= 400 && reply_code < 500) return failure(Outcome::retry, std::move(error));
    // Denied without a 4xx (no mechanism in common, say): a retry would be denied the same way.
    if (code == CURLE_LOGIN_DENIED) return failure(Outcome::rejected, std::move(error));
    return failure(Outcome::retry, std::move(error));
}

/// libcurl 7.88 keeps a connection whose final reply never came (a timeout after DATA) and
/// would read that late "250" as the next message's answer; the server, still connected,
/// would also keep the first message that we report as failed. Shutting the socket makes the
/// server drop the message and libcurl discard the connection (without a QUIT to wait for).
void drop_connection(CURL* curl) {
    curl_socket_t socket = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK &&
        socket != CURL_SOCKET_BAD) {
        ::shutdown(socket, SHUT_RDWR);
    }
}

}  // namespace

SmtpClient::SmtpClient() : handle_(curl_easy_init()) {}

SmtpClient::~SmtpClient() {
    if (handle_ == nullptr) return;
    // A send that threw may have left it pointing at freed buffers, which QUIT could use.
    curl_easy_reset(static_cast<CURL*>(handle_));
    curl_easy_cleanup(static_cast<CURL*>(handle_));
}

SendResult SmtpClient::send(const SmtpSettings& settings, const Email& email) {
    try {
        if (auto problem = invalid_email(email)) return failure(Outcome::rejected, *problem);
        CURL* curl = static_cast<CURL*>(handle_);
        if (curl == nullptr) return failure(Outcome::retry, "cannot create an SMTP client");
        // Options from the previous message must not leak into this one; the connection stays.
        curl_easy_reset(curl);

        const Mailbox from = *parse_mailbox(email.from);
        const Mailbox to = *parse_mailbox(email.to);
        std::string message_id = email.message_id;
        if (message_id.empty()) message_id = generated_message_id();
        if (message_id.front() != '<') message_id = "<" + message_id + ">";  // RFC 5322 msg-id

        Slist headers;
        append(headers, "Date: " + rfc5322_now());
        append(headers, "From: " + header_mailbox(from));
        append(headers, "To: " + header_mailbox(to));
        append(headers, "Subject: " + header_text(email.subject));
        append(headers, "Message-ID: " + message_id);
        append(headers, "MIME-Version: 1.0");
        Slist recipients;
        append(recipients, "<" + to.address + ">");
        const Mime body = build_body(curl, email);

        const std::string mail_from = "<" + from.address + ">";
        const bool credentials = !settings.username.empty();
        const bool require_tls =
            settings.starttls || (credentials && !is_loopback(url_host(settings.url)));
        const long timeout_ms =
            settings.timeout.count() > 0 ? static_cast<long>(settings.timeout.count()) : 30000L;
        char error_buffer[CURL_ERROR_SIZE] = "";
        ServerReplies replies;

        check(curl_easy_setopt(curl, CURLOPT_URL, settings.url.c_str()));
        check(curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps"));
        check(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L));  // worker threads: no SIGALRM
        check(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms));
        // Also bounds the QUIT that curl_easy_cleanup sends, which CURLOPT_TIMEOUT_MS does not.
        check(curl_easy_setopt(curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, (timeout_ms + 999) / 1000));
        check(curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer));
        check(curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L));  // feeds record_reply, prints nothing
        check(curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, &record_reply));
        check(curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &replies));
        if (require_tls) check(curl_easy_setopt(curl, CURLOPT_USE_SSL, CURLUSESSL_ALL));
        if (!settings.ca_file.empty()) {
            check(curl_easy_setopt(curl, CURLOPT_CAINFO, settings.ca_file.c_str()));
        }
        if (credentials) {
            check(curl_easy_setopt(curl, CURLOPT_USERNAME, settings.username.c_str()));
            check(curl_easy_setopt(curl, CURLOPT_PASSWORD, settings.password.c_str()));
            check(curl_easy_setopt(curl, CURLOPT_SASL_IR, 1L));  // one round trip fewer
        }
        check(curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str()));
        check(curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients.get()));
        check(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get()));
        check(curl_easy_setopt(curl, CURLOPT_MIMEPOST, body.get()));

        const CURLcode code = curl_easy_perform(curl);
        long reply_code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply_code);
        if (code != CURLE_OK) drop_connection(curl);
        // The handle points at buffers freed on return; the connection stays in its cache.
        curl_easy_reset(curl);
        if (code == CURLE_OK) {
            SendResult result;
            result.outcome = Outcome::sent;
            result.provider_id = message_id;
            return result;
        }
        return classify(code, reply_code, error_buffer, replies);
    } catch (const std::exception& error) {
        return failure(Outcome::retry, std::string("cannot send the email: ") + error.what());
    } catch (...) {
        return failure(Outcome::retry, "cannot send the email: unknown error");
    }
}

}  // namespace miconsul::messages
