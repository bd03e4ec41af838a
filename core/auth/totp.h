// Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, 30-second steps, six
// digits — what Google Authenticator, Authy, 1Password and the like all read from an
// otpauth:// URI (shown as a QR code at enrolment).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace miconsul::auth {

inline constexpr int64_t kTotpStepSeconds = 30;

/// 20 random bytes (the RFC's recommended length for SHA-1). Throws when no randomness.
std::string new_totp_secret();

/// RFC 4648 base32 without padding (what otpauth URIs carry), and back; nullopt if malformed.
std::string base32_encode(std::string_view bytes);
std::optional<std::string> base32_decode(std::string_view text);

/// The six-digit code of `secret` for time step `step` (Unix seconds / 30).
std::string totp_code(std::string_view secret, int64_t step);

/// The step `code` is valid for at `unix_seconds`, looking `window` steps either side (clock
/// skew between a phone and the server), or nullopt. Only steps after `last_used_step` count:
/// a code seen once is never accepted again. Compared in constant time.
std::optional<int64_t> match_totp(std::string_view secret, std::string_view code,
                                  int64_t unix_seconds, int window, int64_t last_used_step);

/// otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
std::string otpauth_uri(std::string_view issuer, std::string_view account, std::string_view secret);

}  // namespace miconsul::auth
