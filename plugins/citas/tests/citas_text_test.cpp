// Unit tests of citas' pure logic: the link signature, the ICS file, the wording of dates.
#include "citas_text.hpp"

#include <gtest/gtest.h>
#include <miconsul/plugin.hpp>

#include <sstream>

namespace {

std::vector<std::string> physical_lines(const std::string& ics) {
    std::vector<std::string> lines;
    size_t from = 0;
    while (from < ics.size()) {
        const size_t end = ics.find("\r\n", from);
        EXPECT_NE(end, std::string::npos) << "every line ends with CRLF";
        if (end == std::string::npos) break;
        lines.push_back(ics.substr(from, end - from));
        from = end + 2;
    }
    return lines;
}

std::string unfold(const std::string& ics) {
    std::string text;
    for (const auto& line : physical_lines(ics)) {
        if (!line.empty() && line[0] == ' ') {
            text += line.substr(1);
        } else {
            if (!text.empty()) text += "\n";
            text += line;
        }
    }
    return text;
}

TEST(CitasSigning, TheSignatureIsHmacSha256OfTenantAppointmentAndExpiry) {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    EXPECT_EQ(citas::hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(citas::link_signature("k", "sol", "a1", 1796140800),
              citas::hmac_sha256_hex("k", "sol|a1|1796140800"));
    const std::string base = citas::link_signature("k", "sol", "a1", 100);
    EXPECT_NE(base, citas::link_signature("k", "luna", "a1", 100)) << "another tenant";
    EXPECT_NE(base, citas::link_signature("k", "sol", "a2", 100)) << "another appointment";
    EXPECT_NE(base, citas::link_signature("k", "sol", "a1", 101)) << "a later expiry";
    EXPECT_NE(base, citas::link_signature("k2", "sol", "a1", 100)) << "another key";
}

TEST(CitasSigning, ComparisonRefusesAnyDifferenceAndEmptiness) {
    const std::string signature = citas::link_signature("k", "sol", "a1", 100);
    EXPECT_TRUE(citas::signature_matches(signature, signature));
    std::string tampered = signature;
    tampered.back() = tampered.back() == '0' ? '1' : '0';
    EXPECT_FALSE(citas::signature_matches(signature, tampered));
    EXPECT_FALSE(citas::signature_matches(signature, signature.substr(0, 63)));
    EXPECT_FALSE(citas::signature_matches("", ""));
}

TEST(CitasSigning, SecretsAreRandom32Bytes) {
    const std::string first = citas::random_secret_hex();
    EXPECT_EQ(first.size(), 64u);
    EXPECT_NE(first, citas::random_secret_hex());
}

TEST(CitasSigning, ExpiryIsDigitsOnly) {
    EXPECT_EQ(citas::parse_expiry("1796140800"), 1796140800);
    EXPECT_FALSE(citas::parse_expiry(""));
    EXPECT_FALSE(citas::parse_expiry("-5"));
    EXPECT_FALSE(citas::parse_expiry("12a"));
    EXPECT_FALSE(citas::parse_expiry("1234567890123"));
}

TEST(CitasIcs, HoldsTheEventInUtcWithCrlfAndEscapedText) {
    citas::CalendarEvent event;
    event.uid = "0193-abc@miconsul";
    event.stamp_ms = 1796140800000;  // 2026-12-01T16:00:00Z
    event.start_ms = 1796227200000;  // 2026-12-02T16:00:00Z
    event.end_ms = 1796229000000;    // 16:30Z
    event.summary = "Cita con Dra. Ruiz; revisión, limpieza";
    event.description = "Línea 1\nLínea 2 \\ fin";
    event.location = "Av. Sol 1, CDMX";
    const std::string ics = citas::build_ics(event);
    const std::string text = unfold(ics);
    EXPECT_EQ(text.rfind("BEGIN:VCALENDAR\nVERSION:2.0\n", 0), 0u) << text;
    for (const char* line :
         {"\nUID:0193-abc@miconsul\n", "\nDTSTAMP:20261201T160000Z\n",
          "\nDTSTART:20261202T160000Z\n", "\nDTEND:20261202T163000Z\n",
          "\nSUMMARY:Cita con Dra. Ruiz\\; revisión\\, limpieza\n",
          "\nDESCRIPTION:Línea 1\\nLínea 2 \\\\ fin\n", "\nLOCATION:Av. Sol 1\\, CDMX\n",
          "\nBEGIN:VEVENT\n", "\nEND:VEVENT\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
    }
    EXPECT_EQ(text.substr(text.size() - 13), "END:VCALENDAR");
    EXPECT_EQ(ics.find('\n', 0), ics.find("\r\n") + 1) << "no bare LF";
}

TEST(CitasIcs, LongLinesFoldAt75OctetsWithoutSplittingUtf8) {
    std::string long_text;
    for (int i = 0; i < 60; ++i) long_text += "ñá";  // two-byte characters
    const std::string folded = citas::ics_fold("DESCRIPTION:" + long_text);
    const auto lines = physical_lines(folded);
    ASSERT_GT(lines.size(), 1u);
    for (size_t i = 0; i < lines.size(); ++i) {
        EXPECT_LE(lines[i].size(), 75u);
        if (i > 0) {
            EXPECT_EQ(lines[i][0], ' ');
        }
        // a continuation never starts in the middle of a character
        const unsigned char first = static_cast<unsigned char>(lines[i][i > 0 ? 1 : 0]);
        EXPECT_NE(first & 0xC0, 0x80) << "line " << i;
    }
    EXPECT_EQ(unfold(folded), "DESCRIPTION:" + long_text);
}

TEST(CitasText, WhenReadsInSpanishAndEnglish) {
    EXPECT_EQ(citas::describe_when("es", "2026-12-01", "10:00:00", 2),
              "martes 1 de diciembre, 10:00");
    EXPECT_EQ(citas::describe_when("es-MX", "2026-09-16", "08:30:00", 3),
              "miércoles 16 de septiembre, 08:30");
    EXPECT_EQ(citas::describe_when("en", "2026-12-01", "10:00:00", 2),
              "Tuesday, December 1, 10:00");
}

TEST(CitasText, HtmlAndBase64) {
    EXPECT_EQ(citas::html_escape("<a href=\"x\">O'Brien & co</a>"),
              "&lt;a href=&quot;x&quot;&gt;O&#39;Brien &amp; co&lt;/a&gt;");
    EXPECT_EQ(miconsul::base64_encode(""), "");
    EXPECT_EQ(miconsul::base64_encode("f"), "Zg==");
    EXPECT_EQ(miconsul::base64_encode("fo"), "Zm8=");
    EXPECT_EQ(miconsul::base64_encode("foobar"), "Zm9vYmFy");
}

}  // namespace
