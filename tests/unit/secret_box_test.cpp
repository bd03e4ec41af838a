#include "auth/secret_box.h"
#include "webhooks/webhooks.h"

#include <gtest/gtest.h>

namespace {
using miconsul::auth::SecretBox;

TEST(SecretBox, SealsAndOpensAndDetectsTamperingAndWrongKeys) {
    const SecretBox box(SecretBox::generate_key_hex());
    const std::string sealed = box.seal("whsec_very-secret");
    EXPECT_EQ(sealed.find("very-secret"), std::string::npos);
    EXPECT_NE(box.seal("whsec_very-secret"), sealed) << "a fresh nonce every time";
    EXPECT_EQ(box.open(sealed), std::optional<std::string>("whsec_very-secret"));
    std::string tampered = sealed;
    tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(box.open(tampered));
    EXPECT_FALSE(SecretBox(SecretBox::generate_key_hex()).open(sealed));
    EXPECT_FALSE(box.open("not base64!"));
    EXPECT_FALSE(box.open(""));
    EXPECT_THROW(SecretBox("short"), std::invalid_argument);
    EXPECT_THROW(SecretBox(std::string(64, 'z')), std::invalid_argument);
}

TEST(WebhookSignature, HasTimestampAndVersionedDigestThatDependsOnEveryInput) {
    const std::string header = miconsul::webhooks::signature_header("s3cret", 1700000000, "{}");
    EXPECT_EQ(header.rfind("t=1700000000,v1=", 0), 0u) << header;
    EXPECT_EQ(header.size(), std::string("t=1700000000,v1=").size() + 64);
    EXPECT_EQ(header, miconsul::webhooks::signature_header("s3cret", 1700000000, "{}"));
    EXPECT_NE(header, miconsul::webhooks::signature_header("s3cret", 1700000001, "{}"));
    EXPECT_NE(header, miconsul::webhooks::signature_header("s3cret", 1700000000, "{ }"));
    EXPECT_NE(header, miconsul::webhooks::signature_header("other", 1700000000, "{}"));
}

TEST(WebhookUrls, OnlyAbsoluteHttpUrls) {
    EXPECT_TRUE(miconsul::webhooks::is_acceptable_url("https://n8n.example.com/webhook/abc"));
    EXPECT_TRUE(miconsul::webhooks::is_acceptable_url("http://127.0.0.1:5678/webhook"));
    EXPECT_FALSE(miconsul::webhooks::is_acceptable_url("ftp://x/y"));
    EXPECT_FALSE(miconsul::webhooks::is_acceptable_url("/relative"));
    EXPECT_FALSE(miconsul::webhooks::is_acceptable_url("https://"));
    EXPECT_FALSE(miconsul::webhooks::is_acceptable_url("https://a b/"));
    EXPECT_FALSE(miconsul::webhooks::is_acceptable_url("https://x/" + std::string(3000, 'a')));
}
}  // namespace
