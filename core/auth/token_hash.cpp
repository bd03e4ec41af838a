#include "auth/token_hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>

namespace miconsul::auth {

namespace {
std::string hex(const unsigned char* bytes, unsigned int length) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string text;
    text.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        text.push_back(kHex[bytes[i] >> 4]);
        text.push_back(kHex[bytes[i] & 0xF]);
    }
    return text;
}
}  // namespace

std::string sha256_hex(std::string_view text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
    return hex(digest.data(), length);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data(), &length);
    return hex(digest.data(), length);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool is_sha256_hex(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

bool token_matches(std::string_view presented_token, std::string_view expected_sha256_hex) {
    if (!is_sha256_hex(expected_sha256_hex) || presented_token.empty()) return false;
    const std::string presented = sha256_hex(presented_token);
    return CRYPTO_memcmp(presented.data(), expected_sha256_hex.data(), presented.size()) == 0;
}

std::string_view bearer_token(std::string_view authorization_header) {
    constexpr std::string_view kScheme = "Bearer ";
    if (authorization_header.size() <= kScheme.size()) return {};
    // The scheme is case-insensitive (RFC 9110 §11.1).
    for (size_t i = 0; i < kScheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(authorization_header[i])) !=
            std::tolower(static_cast<unsigned char>(kScheme[i]))) {
            return {};
        }
    }
    std::string_view token = authorization_header.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    return token;
}

}  // namespace miconsul::auth
