// Hashing and comparing bearer tokens: tokens are only ever kept as SHA-256 digests, and
// compared in constant time so response timing reveals nothing about a stored digest.
#pragma once

#include <string>
#include <string_view>

namespace miconsul::auth {

/// Lower-case hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

/// Lower-case hex HMAC-SHA256 of `text` under `key`: signatures of webhooks, in and out.
std::string hmac_sha256_hex(std::string_view key, std::string_view text);

/// Whether two strings are equal, in time independent of where they differ (signatures).
bool constant_time_equal(std::string_view a, std::string_view b);

/// True for 64 lower-case hex digits.
bool is_sha256_hex(std::string_view text);

/// Whether `presented_token` hashes to `expected_sha256_hex`, in time independent of where
/// they differ. False when `expected_sha256_hex` is empty (no token configured).
bool token_matches(std::string_view presented_token, std::string_view expected_sha256_hex);

/// The token of an "Authorization: Bearer <token>" header value, or empty.
std::string_view bearer_token(std::string_view authorization_header);

}  // namespace miconsul::auth
