#include "auth/password_hash.h"

#include "auth/secret_box.h"
#include "auth/token_hash.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

namespace miconsul::auth {

namespace {
constexpr int kLog2Cost = 15;
constexpr int kBlockSize = 8;
constexpr int kParallelism = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
// OpenSSL refuses scrypt above its default 32 MiB memory cap at N = 2^15, r = 8; allow 64.
constexpr uint64_t kMaxMemory = 64ull << 20;

std::optional<std::string> scrypt(std::string_view password, std::string_view salt, int log2_cost,
                                  int block_size, int parallelism) {
    if (log2_cost < 10 || log2_cost > 20 || block_size < 1 || block_size > 32 || parallelism < 1 ||
        parallelism > 4) {
        return std::nullopt;
    }
    std::string derived(kHashBytes, '\0');
    if (EVP_PBE_scrypt(password.data(), password.size(),
                       reinterpret_cast<const unsigned char*>(salt.data()), salt.size(),
                       uint64_t{1} << log2_cost, static_cast<uint64_t>(block_size),
                       static_cast<uint64_t>(parallelism), kMaxMemory,
                       reinterpret_cast<unsigned char*>(derived.data()), derived.size()) != 1) {
        return std::nullopt;
    }
    return derived;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (size_t at = text.find(separator); at != std::string_view::npos;
         at = text.find(separator, start)) {
        parts.push_back(text.substr(start, at - start));
        start = at + 1;
    }
    parts.push_back(text.substr(start));
    return parts;
}

std::optional<int> small_number(std::string_view text) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}
}  // namespace

std::string hash_password(std::string_view password) {
    std::string salt(kSaltBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) !=
        1) {
        throw std::runtime_error("no random bytes for a password salt");
    }
    const auto derived = scrypt(password, salt, kLog2Cost, kBlockSize, kParallelism);
    if (!derived) throw std::runtime_error("scrypt failed");
    return "scrypt$" + std::to_string(kLog2Cost) + "$" + std::to_string(kBlockSize) + "$" +
           std::to_string(kParallelism) + "$" + base64_encode(salt) + "$" + base64_encode(*derived);
}

bool verify_password(std::string_view password, std::string_view stored) {
    const auto parts = split(stored, '$');
    if (parts.size() != 6 || parts[0] != "scrypt") return false;
    const auto log2_cost = small_number(parts[1]);
    const auto block_size = small_number(parts[2]);
    const auto parallelism = small_number(parts[3]);
    const auto salt = base64_decode(parts[4]);
    const auto expected = base64_decode(parts[5]);
    if (!log2_cost || !block_size || !parallelism || !salt || !expected) return false;
    const auto derived = scrypt(password, *salt, *log2_cost, *block_size, *parallelism);
    return derived && constant_time_equal(*derived, *expected);
}

const std::string& decoy_password_hash() {
    // Immutable once made; a function-local static is initialised once, thread-safely.
    static const std::string decoy = hash_password("no user has this password");
    return decoy;
}

}  // namespace miconsul::auth
