#include "ids/ids.h"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace miconsul::ids {

namespace {
constexpr char kHex[] = "0123456789abcdef";

template <size_t N>
std::array<unsigned char, N> random_bytes() {
    std::array<unsigned char, N> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1) {
        throw std::runtime_error("the system's random generator failed");
    }
    return bytes;
}

std::string uuid_text(const std::array<unsigned char, 16>& bytes) {
    std::string text;
    text.reserve(36);
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
        text.push_back(kHex[bytes[i] >> 4]);
        text.push_back(kHex[bytes[i] & 0xF]);
    }
    return text;
}
}  // namespace

std::string random_uuid() {
    auto bytes = random_bytes<16>();
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC variant
    return uuid_text(bytes);
}

std::string time_ordered_uuid(std::chrono::system_clock::time_point at) {
    auto bytes = random_bytes<16>();
    const auto milliseconds = static_cast<unsigned long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
    for (int i = 0; i < 6; ++i) {  // 48 bits, big-endian
        bytes[static_cast<size_t>(i)] = static_cast<unsigned char>(milliseconds >> (8 * (5 - i)));
    }
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x70);  // version 7
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC variant
    return uuid_text(bytes);
}

std::string random_request_id() {
    const auto bytes = random_bytes<8>();
    std::string text;
    for (unsigned char byte : bytes) {
        text.push_back(kHex[byte >> 4]);
        text.push_back(kHex[byte & 0xF]);
    }
    return text;
}

}  // namespace miconsul::ids
