// citas — the plugin's pure logic, free of host types so that a unit test compiles it too:
// the signed link (HMAC-SHA256), the ICS calendar file (RFC 5545), HTML escaping and the
// wording of an appointment's local date and time in Spanish and English.
#pragma once

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace citas {

// ---------------------------------------------------------------- signing

inline std::string to_hex(const unsigned char* bytes, size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(size * 2);
    for (size_t i = 0; i < size; ++i) {
        hex += kDigits[bytes[i] >> 4];
        hex += kDigits[bytes[i] & 0x0F];
    }
    return hex;
}

/// 32 random bytes as 64 hex digits: a tenant's link-signing key.
inline std::string random_secret_hex() {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw std::runtime_error("the system could not produce random bytes for the link key");
    }
    return to_hex(bytes.data(), bytes.size());
}

inline std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
             &length) == nullptr) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return to_hex(digest, length);
}

/// The signature of a patient's link: it binds the tenant, the appointment and the expiry, so a
/// link cannot be moved to another clinic, another appointment or a later deadline.
inline std::string link_signature(std::string_view secret, std::string_view tenant,
                                  std::string_view appointment_id, int64_t expiry_seconds) {
    std::string message;
    message.append(tenant).append("|").append(appointment_id).append("|");
    message.append(std::to_string(expiry_seconds));
    return hmac_sha256_hex(secret, message);
}

/// Compares a signature in constant time, so that its timing reveals no matching prefix.
inline bool signature_matches(std::string_view expected, std::string_view given) {
    if (expected.size() != given.size() || expected.empty()) return false;
    return CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

/// The `e` of a link: Unix seconds, 1 to 12 digits; nullopt otherwise.
inline std::optional<int64_t> parse_expiry(std::string_view text) {
    if (text.empty() || text.size() > 12) return std::nullopt;
    int64_t value = 0;
    for (char digit : text) {
        if (digit < '0' || digit > '9') return std::nullopt;
        value = value * 10 + (digit - '0');
    }
    return value;
}

// ---------------------------------------------------------------- text

inline std::string html_escape(std::string_view text) {
    std::string escaped;
    escaped.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                escaped += "&amp;";
                break;
            case '<':
                escaped += "&lt;";
                break;
            case '>':
                escaped += "&gt;";
                break;
            case '"':
                escaped += "&quot;";
                break;
            case '\'':
                escaped += "&#39;";
                break;
            default:
                escaped += c;
        }
    }
    return escaped;
}

/// "martes 1 de diciembre, 10:00" (es) or "Tuesday, December 1, 10:00" (en) from the tenant's
/// local date ("2026-12-01"), time ("10:00:00") and ISO weekday (Monday 1 … Sunday 7).
inline std::string describe_when(std::string_view language, std::string_view date,
                                 std::string_view time, int iso_weekday) {
    static constexpr const char* kDiasEs[] = {"lunes",   "martes", "miércoles", "jueves",
                                              "viernes", "sábado", "domingo"};
    static constexpr const char* kMesesEs[] = {"enero",      "febrero", "marzo",     "abril",
                                               "mayo",       "junio",   "julio",     "agosto",
                                               "septiembre", "octubre", "noviembre", "diciembre"};
    static constexpr const char* kDaysEn[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                              "Friday", "Saturday", "Sunday"};
    static constexpr const char* kMonthsEn[] = {"January",   "February", "March",    "April",
                                                "May",       "June",     "July",     "August",
                                                "September", "October",  "November", "December"};
    if (date.size() != 10 || time.size() < 5 || iso_weekday < 1 || iso_weekday > 7) {
        return std::string(date) + " " + std::string(time.substr(0, 5));
    }
    const int month = (date[5] - '0') * 10 + (date[6] - '0');
    const int day = (date[8] - '0') * 10 + (date[9] - '0');
    if (month < 1 || month > 12) return std::string(date);
    const std::string clock(time.substr(0, 5));
    if (language.substr(0, 2) == "en") {
        return std::string(kDaysEn[iso_weekday - 1]) + ", " + kMonthsEn[month - 1] + " " +
               std::to_string(day) + ", " + clock;
    }
    return std::string(kDiasEs[iso_weekday - 1]) + " " + std::to_string(day) + " de " +
           kMesesEs[month - 1] + ", " + clock;
}

// ---------------------------------------------------------------- ICS (RFC 5545)

/// "20261201T160000Z" for Unix milliseconds.
inline std::string ics_utc(int64_t unix_ms) {
    using namespace std::chrono;
    const sys_seconds instant = floor<seconds>(sys_time<milliseconds>(milliseconds(unix_ms)));
    const sys_days day_point = floor<days>(instant);
    const year_month_day date(day_point);
    const hh_mm_ss<seconds> clock_time(instant - day_point);
    char text[32];
    std::snprintf(text, sizeof text, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  static_cast<int>(clock_time.hours().count()),
                  static_cast<int>(clock_time.minutes().count()),
                  static_cast<int>(clock_time.seconds().count()));
    return text;
}

/// TEXT value escaping (RFC 5545 §3.3.11): backslash, semicolon, comma and line breaks.
inline std::string ics_escape(std::string_view text) {
    std::string escaped;
    escaped.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\\' || c == ';' || c == ',') {
            escaped += '\\';
            escaped += c;
        } else if (c == '\r') {
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
            escaped += "\\n";
        } else if (c == '\n') {
            escaped += "\\n";
        } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
            // other control characters are not allowed in TEXT
        } else {
            escaped += c;
        }
    }
    return escaped;
}

/// One content line, folded so that no physical line exceeds 75 octets (continuations start
/// with a space, which counts), never inside a UTF-8 sequence; ends with CRLF.
inline std::string ics_fold(std::string_view line) {
    std::string folded;
    size_t octets_on_line = 0;
    for (size_t i = 0; i < line.size();) {
        const unsigned char lead = static_cast<unsigned char>(line[i]);
        size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : 4;
        if (i + length > line.size()) length = line.size() - i;
        if (octets_on_line + length > 75) {
            folded += "\r\n ";
            octets_on_line = 1;
        }
        folded.append(line.substr(i, length));
        octets_on_line += length;
        i += length;
    }
    folded += "\r\n";
    return folded;
}

struct CalendarEvent {
    std::string uid;  // "<appointment id>@miconsul"
    int64_t stamp_ms = 0;
    int64_t start_ms = 0;
    int64_t end_ms = 0;
    std::string summary;
    std::string description;
    std::string location;  // empty: no LOCATION line
    std::string url;       // empty: no URL line
    // Grows with each version of the same UID, so that a calendar replaces the entry it has
    // (a moved appointment) instead of ignoring the file as old news.
    int64_t sequence = 0;
};

/// A VCALENDAR with one VEVENT, METHOD:PUBLISH (an entry for the patient's calendar; the
/// answer goes through the signed link, not an iTIP reply nobody reads).
inline std::string build_ics(const CalendarEvent& event) {
    std::string ics;
    ics += ics_fold("BEGIN:VCALENDAR");
    ics += ics_fold("VERSION:2.0");
    ics += ics_fold("PRODID:-//MiConsul//citas//ES");
    ics += ics_fold("CALSCALE:GREGORIAN");
    ics += ics_fold("METHOD:PUBLISH");
    ics += ics_fold("BEGIN:VEVENT");
    ics += ics_fold("UID:" + event.uid);
    ics += ics_fold("DTSTAMP:" + ics_utc(event.stamp_ms));
    ics += ics_fold("DTSTART:" + ics_utc(event.start_ms));
    ics += ics_fold("DTEND:" + ics_utc(event.end_ms));
    ics += ics_fold("SUMMARY:" + ics_escape(event.summary));
    if (!event.description.empty()) {
        ics += ics_fold("DESCRIPTION:" + ics_escape(event.description));
    }
    if (!event.location.empty()) ics += ics_fold("LOCATION:" + ics_escape(event.location));
    if (!event.url.empty()) ics += ics_fold("URL:" + event.url);
    ics += ics_fold("STATUS:CONFIRMED");
    ics += ics_fold("SEQUENCE:" + std::to_string(event.sequence));
    ics += ics_fold("END:VEVENT");
    ics += ics_fold("END:VCALENDAR");
    return ics;
}

}  // namespace citas
