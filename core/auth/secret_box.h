// Encrypting the few secrets the host must be able to read back (webhook signing secrets),
// with AES-256-GCM under a key that never sits in the database. Tokens and passwords are
// never stored this way: they are only hashed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace miconsul::auth {

/// Standard base64 with padding (RFC 4648 §4).
std::string base64_encode(std::string_view bytes);
/// The bytes of standard padded base64; nullopt when malformed or empty.
std::optional<std::string> base64_decode(std::string_view text);

class SecretBox {
public:
    /// `key_hex`: 64 hex digits (32 bytes). Throws std::invalid_argument otherwise.
    explicit SecretBox(std::string_view key_hex);

    /// Base64 of nonce ‖ ciphertext ‖ tag; a fresh random nonce each time.
    std::string seal(std::string_view plaintext) const;

    /// The plaintext, or nullopt if `sealed` was not made with this key or was altered.
    std::optional<std::string> open(std::string_view sealed) const;

    /// 64 random hex digits, for a new key.
    static std::string generate_key_hex();

private:
    std::string key_;  // 32 raw bytes
};

}  // namespace miconsul::auth
