// API tokens: platform admin, tenant admin, and tenant API tokens (what n8n and the clinic's
// legacy system use). A token is shown once, when issued; the platform database keeps only its
// SHA-256 and a short public prefix to find it by. Tokens expire, rotate with an overlap during
// which the old one still works, and are revoked at once. See docs/security.md.
#pragma once

#include "clock/clock.h"
#include "logging/log.h"
#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace miconsul::auth {

enum class TokenKind { platform_admin, tenant_admin, tenant_api };

std::string_view token_kind_name(TokenKind kind);  // "platform", "admin", "api"

struct TokenRecord {
    std::string id;
    TokenKind kind = TokenKind::tenant_api;
    std::string tenant_id;  // "" for platform tokens
    std::string label;
    std::string prefix;  // the public part of the token: "mc_<prefix>_…"
    std::string created_at, expires_at;
    std::optional<std::string> last_used_at, revoked_at, replaced_by;
    nlohmann::json to_json() const;  // never the token or its hash
};

struct IssuedToken {
    TokenRecord record;
    std::string token;  // the secret: shown once, then only its hash exists
};

class TokenStore {
public:
    TokenStore(storage::Database& database, const clock::Clock& clock, logging::Log log);

    /// A new token of `kind` for `tenant_id` ("" for platform tokens), valid for `lifetime`.
    IssuedToken issue(TokenKind kind, const std::string& tenant_id, const std::string& label,
                      std::chrono::seconds lifetime);

    /// A new token like `id` (kind, tenant, label, lifetime), while `id` keeps working for
    /// `overlap` more (never longer than it had). nullopt when `id` is unknown, revoked or
    /// expired.
    std::optional<IssuedToken> rotate(const std::string& id, std::chrono::seconds overlap,
                                      std::chrono::seconds lifetime);

    /// Revokes at once; false when unknown or revoked already.
    bool revoke(const std::string& id);

    std::optional<TokenRecord> find(const std::string& id);
    /// A tenant's tokens ("" for platform tokens), newest first, revoked and expired included.
    std::vector<TokenRecord> list(const std::string& tenant_id);

    /// The live token `presented` is, or nullopt (malformed, unknown, wrong secret, expired,
    /// revoked). The secret is compared by hash in constant time. Records its use, at most
    /// once a minute per token (to within kTrustVerifiedFor: a use while the token is trusted
    /// counts as the use that read it).
    ///
    /// A token found valid is trusted for kTrustVerifiedFor without asking the database again
    /// (never past its expiry), so that a client's stream of calls costs one database read
    /// per token per interval instead of one per call. Revoking or rotating a token through
    /// this store forgets it at once; another instance's revocation or rotation is seen here
    /// within kTrustVerifiedFor. See docs/security.md, "Tokens".
    std::optional<TokenRecord> authenticate(std::string_view presented);
    /// The same, for a caller that has hashed `presented` already (sha256_hex): Access, which
    /// compares the hash with the configured admin token's first. Shares the record instead
    /// of copying it (null: not a live token): the request path reads only three fields.
    std::shared_ptr<const TokenRecord> authenticate(std::string_view presented,
                                                    const std::string& presented_sha256);

    static constexpr std::chrono::seconds kTrustVerifiedFor{2};

    /// Stops trusting token `id` without asking the database ("": every token): after it was
    /// revoked or rotated here, or — on PostgreSQL, through the change listener — on another
    /// instance, which announces it with kChangedTokenPrefix + id on the tenant change
    /// channel. Thread-safe.
    void forget(const std::string& id);

    /// What a token's announcement starts with; tenant ids never hold ':'.
    static constexpr std::string_view kChangedTokenPrefix = "token:";

private:
    struct Verified {
        std::shared_ptr<const TokenRecord> record;  // copied outside the lock
        clock::TimePoint checked_at;                // when the database said it was valid
        clock::TimePoint trusted_until;             // checked_at + kTrustVerifiedFor, or its expiry
    };

    std::optional<TokenRecord> look_up(std::string_view presented, const std::string& hash);
    std::shared_ptr<const TokenRecord> verified(const std::string& hash, clock::TimePoint now);
    void remember(const std::string& hash, std::shared_ptr<const TokenRecord> token,
                  clock::TimePoint now, std::uint64_t generation);
    /// Tells the other instances (PostgreSQL: NOTIFY on the change channel) to forget `id`.
    void announce_forgotten(soci::session& session, const std::string& id) const;
    void record_use(const TokenRecord& token);

    storage::Database& database_;
    const clock::Clock& clock_;
    logging::Log log_;
    std::mutex used_mutex_;
    std::map<std::string, clock::TimePoint> last_recorded_use_;  // per token id

    std::mutex verified_mutex_;
    std::unordered_map<std::string, Verified> verified_;  // by the token's SHA-256 (hex)
    // Bumped by forget(): a look-up that read the database before a revocation must not put
    // the token back after forget() has run.
    std::uint64_t forgotten_generation_ = 0;
};

}  // namespace miconsul::auth
