#include "auth/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>
#include <vector>

namespace miconsul::auth {

namespace {
constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string encoded(4 * ((bytes.size() + 2) / 3), '\0');
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                       reinterpret_cast<const unsigned char*>(bytes.data()),
                                       static_cast<int>(bytes.size()));
    encoded.resize(static_cast<size_t>(length));
    return encoded;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::string decoded(3 * text.size() / 4, '\0');
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                       reinterpret_cast<const unsigned char*>(text.data()),
                                       static_cast<int>(text.size()));
    if (length < 0) return std::nullopt;
    // EVP_DecodeBlock counts the padding as zero bytes: drop one per '='.
    size_t padding = 0;
    while (padding < 2 && text[text.size() - 1 - padding] == '=') ++padding;
    decoded.resize(static_cast<size_t>(length) - padding);
    return decoded;
}

SecretBox::SecretBox(std::string_view key_hex) {
    if (key_hex.size() != 64) throw std::invalid_argument("secret key must be 64 hex digits");
    for (size_t i = 0; i < key_hex.size(); i += 2) {
        const int high = hex_digit(key_hex[i]), low = hex_digit(key_hex[i + 1]);
        if (high < 0 || low < 0) throw std::invalid_argument("secret key must be 64 hex digits");
        key_.push_back(static_cast<char>(high * 16 + low));
    }
}

std::string SecretBox::seal(std::string_view plaintext) const {
    std::string nonce(kNonceBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) != 1) {
        throw std::runtime_error("the system's random generator failed");
    }
    CipherContext context(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    std::string ciphertext(plaintext.size(), '\0');
    std::string tag(kTagBytes, '\0');
    int length = 0;
    if (EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr,
                           reinterpret_cast<const unsigned char*>(key_.data()),
                           reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
        EVP_EncryptUpdate(context.get(), reinterpret_cast<unsigned char*>(ciphertext.data()),
                          &length, reinterpret_cast<const unsigned char*>(plaintext.data()),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(context.get(), nullptr, &length) != 1 ||
        EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data()) != 1) {
        throw std::runtime_error("encryption failed");
    }
    return base64_encode(nonce + ciphertext + tag);
}

std::optional<std::string> SecretBox::open(std::string_view sealed) const {
    const auto bytes = base64_decode(sealed);
    if (!bytes || bytes->size() < kNonceBytes + kTagBytes) return std::nullopt;
    const std::string nonce = bytes->substr(0, kNonceBytes);
    std::string tag = bytes->substr(bytes->size() - kTagBytes);
    const std::string ciphertext =
        bytes->substr(kNonceBytes, bytes->size() - kNonceBytes - kTagBytes);
    CipherContext context(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
    std::string plaintext(ciphertext.size(), '\0');
    int length = 0;
    if (EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr,
                           reinterpret_cast<const unsigned char*>(key_.data()),
                           reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
        EVP_DecryptUpdate(context.get(), reinterpret_cast<unsigned char*>(plaintext.data()),
                          &length, reinterpret_cast<const unsigned char*>(ciphertext.data()),
                          static_cast<int>(ciphertext.size())) != 1 ||
        EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
        EVP_DecryptFinal_ex(context.get(), nullptr, &length) != 1) {
        return std::nullopt;  // wrong key, or tampered with
    }
    return plaintext;
}

std::string SecretBox::generate_key_hex() {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        throw std::runtime_error("the system's random generator failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char byte : bytes) {
        hex.push_back(kHex[byte >> 4]);
        hex.push_back(kHex[byte & 0xF]);
    }
    return hex;
}

}  // namespace miconsul::auth
