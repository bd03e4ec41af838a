#include "auth/totp.h"

#include "auth/token_hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <stdexcept>

namespace miconsul::auth {

namespace {
constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string uri_component(std::string_view text) {
    std::string encoded;
    for (const unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            encoded += static_cast<char>(c);
        } else {
            char escape[4];
            std::snprintf(escape, sizeof escape, "%%%02X", c);
            encoded += escape;
        }
    }
    return encoded;
}
}  // namespace

std::string new_totp_secret() {
    std::string secret(20, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                   static_cast<int>(secret.size())) != 1) {
        throw std::runtime_error("no random bytes for a TOTP secret");
    }
    return secret;
}

std::string base32_encode(std::string_view bytes) {
    std::string text;
    uint32_t buffer = 0;
    int bits = 0;
    for (const unsigned char byte : bytes) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 5) {
            text += kBase32Alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) text += kBase32Alphabet[(buffer << (5 - bits)) & 31];
    return text;
}

std::optional<std::string> base32_decode(std::string_view text) {
    std::string bytes;
    uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        if (c == '=') break;
        const auto value = kBase32Alphabet.find(static_cast<char>(std::toupper(c)));
        if (value == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 5) | static_cast<uint32_t>(value);
        bits += 5;
        if (bits >= 8) {
            bytes += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
            bits -= 8;
        }
    }
    return bytes;
}

std::string totp_code(std::string_view secret, int64_t step) {
    std::array<unsigned char, 8> counter{};
    for (int i = 7; i >= 0; --i) {
        counter[static_cast<size_t>(i)] = static_cast<unsigned char>(step & 0xFF);
        step >>= 8;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), counter.data(), counter.size(),
         digest, &length);
    // RFC 4226 §5.3: dynamic truncation.
    const int offset = digest[length - 1] & 0x0F;
    const uint32_t binary = (static_cast<uint32_t>(digest[offset] & 0x7F) << 24) |
                            (static_cast<uint32_t>(digest[offset + 1]) << 16) |
                            (static_cast<uint32_t>(digest[offset + 2]) << 8) |
                            static_cast<uint32_t>(digest[offset + 3]);
    char code[8];
    std::snprintf(code, sizeof code, "%06u", binary % 1000000);
    return code;
}

std::optional<int64_t> match_totp(std::string_view secret, std::string_view code,
                                  int64_t unix_seconds, int window, int64_t last_used_step) {
    if (code.size() != 6) return std::nullopt;
    const int64_t now_step = unix_seconds / kTotpStepSeconds;
    std::optional<int64_t> matched;
    // Every step in the window is computed and compared, match or not: the time taken says
    // nothing about which one matched.
    for (int64_t step = now_step - window; step <= now_step + window; ++step) {
        const bool equal = constant_time_equal(totp_code(secret, step), code);
        if (equal && step > last_used_step && !matched) matched = step;
    }
    return matched;
}

std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::string_view secret) {
    return "otpauth://totp/" + uri_component(issuer) + ":" + uri_component(account) +
           "?secret=" + base32_encode(secret) + "&issuer=" + uri_component(issuer) +
           "&algorithm=SHA1&digits=6&period=30";
}

}  // namespace miconsul::auth
