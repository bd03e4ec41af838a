// Unit tests of the plugin's pure logic (loyalty.hpp): codes, amounts, dates, a code's status.
#include "loyalty.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace {

TEST(LoyaltyCodes, UseOnlyTheUnambiguousAlphabetAfterThePrefix) {
    std::random_device random;
    std::set<std::string> seen;
    for (int i = 0; i < 2000; ++i) {
        const std::string code =
            fidelizacion::make_code(fidelizacion::kBirthdayCodePrefix, [&] { return random(); });
        ASSERT_EQ(code.size(), 13u);
        ASSERT_EQ(code.rfind("CUMPLE-", 0), 0u);
        for (size_t j = 7; j < code.size(); ++j) {
            ASSERT_EQ(std::string("0O1I").find(code[j]), std::string::npos) << code;
        }
        seen.insert(code);
    }
    EXPECT_GE(seen.size(), 1999u) << "2000 draws from 10^9 codes barely ever collide";
}

TEST(LoyaltyCodes, EverySymbolIsReachable) {
    uint32_t word = 0;
    const std::string code =
        fidelizacion::make_code("", [&] { return word++; });  // 0..5 → the first six symbols
    EXPECT_EQ(code, "234567");
    std::set<char> symbols;
    for (uint32_t i = 0; i < 64; ++i)
        symbols.insert(fidelizacion::make_code("", [&] { return i; })[0]);
    EXPECT_EQ(symbols.size(), 32u);
}

TEST(LoyaltyCodes, NormalizeAcceptsWhatStaffTypeAndRefusesTheRest) {
    EXPECT_EQ(fidelizacion::normalize_code(" cumple-7k3m9q "), "CUMPLE-7K3M9Q");
    EXPECT_EQ(fidelizacion::normalize_code("CUMPLE-7K3M9Q"), "CUMPLE-7K3M9Q");
    EXPECT_FALSE(fidelizacion::normalize_code("CUMPLE-7K3M9O"));  // O is not in the alphabet
    EXPECT_FALSE(fidelizacion::normalize_code("CUMPLE-7K3M9"));
    EXPECT_FALSE(fidelizacion::normalize_code("REGALO-7K3M9Q"));
    EXPECT_FALSE(fidelizacion::normalize_code("CUMPLE-7K3M9Q'; DROP TABLE x"));
    EXPECT_FALSE(fidelizacion::normalize_code(""));
}

TEST(LoyaltyAmounts, PesosAsMexicanReceiptsWriteThem) {
    EXPECT_EQ(fidelizacion::format_amount(123450, "MXN"), "$1,234.50");
    EXPECT_EQ(fidelizacion::format_amount(5, "MXN"), "$0.05");
    EXPECT_EQ(fidelizacion::format_amount(100000000, "MXN"), "$1,000,000.00");
    EXPECT_EQ(fidelizacion::format_amount(99900, ""), "$999.00");
    EXPECT_EQ(fidelizacion::format_amount(123450, "USD"), "1,234.50 USD");
    EXPECT_EQ(fidelizacion::format_amount(-2550, "MXN"), "-$25.50");
}

TEST(LoyaltyDates, SpeltOutInThePatientsLanguage) {
    EXPECT_EQ(fidelizacion::format_long_date("2026-12-30", "es"), "30 de diciembre de 2026");
    EXPECT_EQ(fidelizacion::format_long_date("2027-01-05", "es-MX"), "5 de enero de 2027");
    EXPECT_EQ(fidelizacion::format_long_date("2026-12-30", "en"), "December 30, 2026");
    EXPECT_EQ(fidelizacion::format_long_date("2026-12-30", "fr"), "30 de diciembre de 2026");
    EXPECT_EQ(fidelizacion::format_long_date("not a date", "es"), "not a date");
}

TEST(LoyaltyStatus, GoodThroughItsLastDayAndRedeemedWins) {
    EXPECT_EQ(fidelizacion::code_status(false, "2026-12-30", "2026-12-30"), "valid");
    EXPECT_EQ(fidelizacion::code_status(false, "2026-12-30", "2026-12-31"), "expired");
    EXPECT_EQ(fidelizacion::code_status(true, "2026-12-30", "2027-01-10"), "redeemed");
}

}  // namespace
