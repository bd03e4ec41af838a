// Passwords (scrypt) and TOTP codes (RFC 6238), checked against the RFC's own test vectors.
#include "auth/password_hash.h"
#include "auth/totp.h"

#include <gtest/gtest.h>

namespace {
using namespace miconsul::auth;

TEST(PasswordHash, VerifiesOnlyTheSamePasswordAndSaltsEachHash) {
    const std::string stored = hash_password("correct horse battery staple");
    EXPECT_EQ(stored.rfind("scrypt$15$8$1$", 0), 0u) << stored;
    EXPECT_TRUE(verify_password("correct horse battery staple", stored));
    EXPECT_FALSE(verify_password("correct horse battery stapler", stored));
    EXPECT_FALSE(verify_password("", stored));
    EXPECT_NE(hash_password("correct horse battery staple"), stored) << "a fresh salt each time";
}

TEST(PasswordHash, RefusesMalformedOrTamperedHashesWithoutThrowing) {
    const std::string stored = hash_password("secreto-largo-123");
    std::string tampered = stored;
    tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_password("secreto-largo-123", tampered));
    for (const char* bad :
         {"", "scrypt", "scrypt$15$8$1$$", "bcrypt$2b$10$abc", "scrypt$40$8$1$AAAA$AAAA",
          "scrypt$x$8$1$AAAA$AAAA", "scrypt$15$8$1$!!!$AAAA"}) {
        EXPECT_FALSE(verify_password("secreto-largo-123", bad)) << bad;
    }
    EXPECT_FALSE(verify_password("anything", decoy_password_hash()));
}

// RFC 6238 appendix B, SHA-1, secret "12345678901234567890": the last six of its 8 digits.
TEST(Totp, MatchesTheRfcTestVectors) {
    const std::string secret = "12345678901234567890";
    EXPECT_EQ(totp_code(secret, 59 / 30), "287082");
    EXPECT_EQ(totp_code(secret, 1111111109 / 30), "081804");
    EXPECT_EQ(totp_code(secret, 1111111111 / 30), "050471");
    EXPECT_EQ(totp_code(secret, 1234567890 / 30), "005924");
    EXPECT_EQ(totp_code(secret, 2000000000 / 30), "279037");
    EXPECT_EQ(totp_code(secret, 20000000000 / 30), "353130");
}

TEST(Totp, AcceptsASmallWindowOfSkewAndNeverTheSameStepTwice) {
    const std::string secret = new_totp_secret();
    EXPECT_EQ(secret.size(), 20u);
    const int64_t now = 1'800'000'000;
    const int64_t step = now / 30;
    EXPECT_EQ(match_totp(secret, totp_code(secret, step), now, 1, 0), step);
    EXPECT_EQ(match_totp(secret, totp_code(secret, step - 1), now, 1, 0), step - 1);
    EXPECT_EQ(match_totp(secret, totp_code(secret, step + 1), now, 1, 0), step + 1);
    EXPECT_EQ(match_totp(secret, totp_code(secret, step - 2), now, 1, 0), std::nullopt);
    EXPECT_EQ(match_totp(secret, totp_code(secret, step), now, 1, step), std::nullopt)
        << "a code already used";
    EXPECT_EQ(match_totp(secret, totp_code(secret, step - 1), now, 1, step), std::nullopt)
        << "nor an older one";
    EXPECT_EQ(match_totp(secret, "12345", now, 1, 0), std::nullopt);
    EXPECT_EQ(match_totp(secret, "abcdef", now, 1, 0), std::nullopt);
}

TEST(Totp, Base32AndTheOtpauthUriRoundTrip) {
    EXPECT_EQ(base32_encode("12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    EXPECT_EQ(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "12345678901234567890");
    EXPECT_EQ(base32_decode("gezdgnbv"), "12345");
    EXPECT_EQ(base32_decode("GE1!"), std::nullopt);
    EXPECT_EQ(otpauth_uri("MiConsul", "ana@clinica.mx", "12345678901234567890"),
              "otpauth://totp/MiConsul:ana%40clinica.mx?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
              "&issuer=MiConsul&algorithm=SHA1&digits=6&period=30");
}
}  // namespace
