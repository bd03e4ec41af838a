// fidelizacion — the plugin's pure logic: discount codes, amounts and dates as a Mexican clinic
// writes them, and a code's status. No host types here, so that a plain test executable can
// compile it (the plugin itself is a MODULE library and cannot be linked into a test).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fidelizacion {

/// Symbols of a code: digits and capitals without 0/O and 1/I, which patients (and staff typing
/// a code read over the phone) confuse. 32 symbols, so 5 random bits pick one without bias.
inline constexpr std::string_view kCodeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
inline constexpr std::string_view kBirthdayCodePrefix = "CUMPLE-";
inline constexpr size_t kCodeSymbols = 6;  // 32^6 ≈ 10^9: collisions in a clinic are rare

/// A new code such as "CUMPLE-7K3M9Q". `random_word` returns uniformly random unsigned 32-bit
/// words (std::random_device in the plugin: the OS's CSPRNG, so codes cannot be predicted from
/// earlier ones).
template <class RandomWord>
std::string make_code(std::string_view prefix, RandomWord&& random_word) {
    std::string code(prefix);
    for (size_t i = 0; i < kCodeSymbols; ++i) {
        code += kCodeAlphabet[static_cast<uint32_t>(random_word()) & 31u];
    }
    return code;
}

/// The code as stored (upper case, surrounding spaces dropped) when `text` has the shape of one
/// of ours; nullopt otherwise, so that a lookup of garbage never reaches the database.
inline std::optional<std::string> normalize_code(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (text.size() != kBirthdayCodePrefix.size() + kCodeSymbols) return std::nullopt;
    std::string code;
    for (char symbol : text) {
        code += (symbol >= 'a' && symbol <= 'z') ? static_cast<char>(symbol - 'a' + 'A') : symbol;
    }
    if (code.compare(0, kBirthdayCodePrefix.size(), kBirthdayCodePrefix) != 0) return std::nullopt;
    for (size_t i = kBirthdayCodePrefix.size(); i < code.size(); ++i) {
        if (kCodeAlphabet.find(code[i]) == std::string_view::npos) return std::nullopt;
    }
    return code;
}

/// "$1,234.50" for MXN (how Mexican clinics and receipts write pesos); "1,234.50 USD" for any
/// other currency, so that a dollar amount is never mistaken for pesos.
inline std::string format_amount(int64_t cents, std::string_view currency) {
    const bool negative = cents < 0;
    const uint64_t magnitude =
        negative ? static_cast<uint64_t>(-(cents + 1)) + 1 : static_cast<uint64_t>(cents);
    const std::string units = std::to_string(magnitude / 100);
    std::string grouped;
    for (size_t i = 0; i < units.size(); ++i) {
        if (i > 0 && (units.size() - i) % 3 == 0) grouped += ',';
        grouped += units[i];
    }
    const unsigned fraction = static_cast<unsigned>(magnitude % 100);
    grouped += '.';
    grouped += static_cast<char>('0' + fraction / 10);
    grouped += static_cast<char>('0' + fraction % 10);
    const std::string sign = negative ? "-" : "";
    if (currency == "MXN" || currency.empty()) return sign + "$" + grouped;
    return sign + grouped + " " + std::string(currency);
}

/// A "YYYY-MM-DD" date written out for a patient: "30 de diciembre de 2026" in Spanish,
/// "December 30, 2026" in English (day and month spelt out: 05/12 means May to one reader and
/// December to another). Other languages get the Spanish form, the clinic's. Invalid input is
/// returned unchanged.
inline std::string format_long_date(std::string_view date, std::string_view language) {
    static constexpr std::array<std::string_view, 12> kSpanishMonths = {
        "enero", "febrero", "marzo",      "abril",   "mayo",      "junio",
        "julio", "agosto",  "septiembre", "octubre", "noviembre", "diciembre"};
    static constexpr std::array<std::string_view, 12> kEnglishMonths = {
        "January", "February", "March",     "April",   "May",      "June",
        "July",    "August",   "September", "October", "November", "December"};
    if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::string(date);
    int month = 0, day = 0;
    for (size_t i : {5u, 6u}) {
        if (date[i] < '0' || date[i] > '9') return std::string(date);
        month = month * 10 + (date[i] - '0');
    }
    for (size_t i : {8u, 9u}) {
        if (date[i] < '0' || date[i] > '9') return std::string(date);
        day = day * 10 + (date[i] - '0');
    }
    if (month < 1 || month > 12 || day < 1 || day > 31) return std::string(date);
    const std::string year(date.substr(0, 4));
    const std::size_t month_index = static_cast<std::size_t>(month - 1);
    if (language.substr(0, 2) == "en") {
        return std::string(kEnglishMonths[month_index]) + " " + std::to_string(day) + ", " + year;
    }
    return std::to_string(day) + " de " + std::string(kSpanishMonths[month_index]) + " de " + year;
}

/// A code's status on the clinic's local date `today` ("YYYY-MM-DD"): redeemed wins over
/// expired (the clinic wants to know it was used), and a code is good through its last day.
inline std::string_view code_status(bool redeemed, std::string_view valid_until,
                                    std::string_view today) {
    if (redeemed) return "redeemed";
    return today > valid_until ? "expired" : "valid";  // ISO dates order as text
}

}  // namespace fidelizacion
