// Admin passwords, kept only as a slow, salted hash: scrypt (OpenSSL's EVP_PBE_scrypt, RFC
// 7914), whose memory cost makes guessing on GPUs expensive. The stored text names the
// parameters, so they can be raised later while older hashes keep verifying.
#pragma once

#include <string>
#include <string_view>

namespace miconsul::auth {

/// "scrypt$<log2 N>$<r>$<p>$<salt base64>$<hash base64>" for `password`, with a fresh 16-byte
/// salt. N = 2^15, r = 8, p = 1: 32 MiB and some tens of milliseconds per hash. Throws
/// std::runtime_error when OpenSSL fails.
std::string hash_password(std::string_view password);

/// Whether `password` hashes to `stored` (made by hash_password), compared in constant time.
/// False for anything malformed, never throws.
bool verify_password(std::string_view password, std::string_view stored);

/// A hash of a password nobody has: verified against when the user does not exist, so that a
/// sign-in takes as long for an unknown email as for a wrong password.
const std::string& decoy_password_hash();

}  // namespace miconsul::auth
