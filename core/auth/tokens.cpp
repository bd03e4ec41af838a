#include "auth/tokens.h"

#include "auth/secret_box.h"
#include "auth/token_hash.h"
#include "ids/ids.h"
#include "storage/json_statement.h"
#include "tenants/change_listener.h"

#include <algorithm>
#include <regex>

namespace miconsul::auth {

namespace {
using Json = nlohmann::json;

constexpr auto kRecordUseEvery = std::chrono::minutes(1);
// Verified tokens kept at most: tokens seen within kTrustVerifiedFor, far fewer in practice.
// A bound all the same, so that no pattern of calls can grow it without limit.
constexpr size_t kMaxVerified = 10000;
constexpr const char* kColumns =
    "id, kind, tenant_id, label, prefix, created_at, expires_at, last_used_at, revoked_at,"
    " replaced_by";

std::optional<TokenKind> kind_from_name(const std::string& name) {
    if (name == "platform") return TokenKind::platform_admin;
    if (name == "admin") return TokenKind::tenant_admin;
    if (name == "api") return TokenKind::tenant_api;
    return std::nullopt;
}

std::optional<std::string> optional_text(const Json& value) {
    return value.is_string() ? std::optional<std::string>(value.get<std::string>()) : std::nullopt;
}

TokenRecord from_row(const Json& row) {
    TokenRecord record;
    record.id = row["id"];
    record.kind = kind_from_name(row["kind"]).value_or(TokenKind::tenant_api);
    record.tenant_id = row["tenant_id"];
    record.label = row["label"];
    record.prefix = row["prefix"];
    record.created_at = row["created_at"];
    record.expires_at = row["expires_at"];
    record.last_used_at = optional_text(row["last_used_at"]);
    record.revoked_at = optional_text(row["revoked_at"]);
    record.replaced_by = optional_text(row["replaced_by"]);
    return record;
}

/// "mc_<12 hex>_<64 hex>": the prefix finds the row, the whole token is what is hashed.
std::optional<std::string> prefix_of(std::string_view token) {
    static const std::regex shape(R"(^mc_([0-9a-f]{12})_[0-9a-f]{64}$)");
    std::match_results<std::string_view::const_iterator> match;
    if (!std::regex_match(token.begin(), token.end(), match, shape)) return std::nullopt;
    return match[1].str();
}
}  // namespace

std::string_view token_kind_name(TokenKind kind) {
    switch (kind) {
        case TokenKind::platform_admin:
            return "platform";
        case TokenKind::tenant_admin:
            return "admin";
        case TokenKind::tenant_api:
            return "api";
    }
    return "api";
}

Json TokenRecord::to_json() const {
    return {{"id", id},
            {"kind", token_kind_name(kind)},
            {"tenant_id", tenant_id.empty() ? Json() : Json(tenant_id)},
            {"label", label},
            {"prefix", "mc_" + prefix},
            {"created_at", created_at},
            {"expires_at", expires_at},
            {"last_used_at", last_used_at ? Json(*last_used_at) : Json()},
            {"revoked_at", revoked_at ? Json(*revoked_at) : Json()},
            {"replaced_by", replaced_by ? Json(*replaced_by) : Json()}};
}

TokenStore::TokenStore(storage::Database& database, const clock::Clock& clock, logging::Log log)
    : database_(database), clock_(clock), log_(std::move(log)) {}

IssuedToken TokenStore::issue(TokenKind kind, const std::string& tenant_id,
                              const std::string& label, std::chrono::seconds lifetime) {
    const auto now = clock_.now();
    IssuedToken issued;
    TokenRecord& record = issued.record;
    record.id = ids::random_uuid();
    record.kind = kind;
    record.tenant_id = kind == TokenKind::platform_admin ? "" : tenant_id;
    record.label = label;
    // 48 bits of prefix: a collision is possible in principle, and refused by the unique key.
    const std::string random = SecretBox::generate_key_hex();  // 64 hex digits, 256 bits
    record.prefix = SecretBox::generate_key_hex().substr(0, 12);
    record.created_at = clock::rfc3339_utc(now);
    record.expires_at = clock::rfc3339_utc(now + lifetime);
    issued.token = "mc_" + record.prefix + "_" + random;
    database_.with_platform([&](soci::session& session) {
        storage::run_json_statement(
            session,
            "INSERT INTO api_tokens (id, prefix, token_sha256, kind, tenant_id, label, created_at,"
            " expires_at) VALUES (:id, :prefix, :hash, :kind, :tenant, :label, :created,"
            " :expires)",
            Json{{"id", record.id},
                 {"prefix", record.prefix},
                 {"hash", sha256_hex(issued.token)},
                 {"kind", token_kind_name(kind)},
                 {"tenant", record.tenant_id},
                 {"label", label},
                 {"created", record.created_at},
                 {"expires", record.expires_at}});
    });
    return issued;
}

std::optional<IssuedToken> TokenStore::rotate(const std::string& id, std::chrono::seconds overlap,
                                              std::chrono::seconds lifetime) {
    const auto old = find(id);
    const std::string now = clock::rfc3339_utc(clock_.now());
    if (!old || old->revoked_at || old->expires_at <= now) return std::nullopt;
    IssuedToken issued = issue(old->kind, old->tenant_id, old->label, lifetime);
    const std::string overlap_end = clock::rfc3339_utc(clock_.now() + overlap);
    database_.with_platform([&](soci::session& session) {
        storage::run_json_statement(
            session,
            "UPDATE api_tokens SET replaced_by = :new_id,"
            " expires_at = CASE WHEN expires_at < :overlap_end THEN expires_at ELSE :overlap_end "
            "END"
            " WHERE id = :id",
            Json{{"new_id", issued.record.id}, {"overlap_end", overlap_end}, {"id", id}});
        announce_forgotten(session, id);
    });
    forget(id);  // its expiry may be sooner now
    return issued;
}

bool TokenStore::revoke(const std::string& id) {
    bool revoked = false;
    database_.with_platform([&](soci::session& session) {
        const Json result = storage::run_json_statement(
            session,
            "UPDATE api_tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
            Json{{"now", clock::rfc3339_utc(clock_.now())}, {"id", id}});
        revoked = result.value("affected_rows", 0) == 1;
        announce_forgotten(session, id);
    });
    forget(id);
    return revoked;
}

std::optional<TokenRecord> TokenStore::find(const std::string& id) {
    std::optional<TokenRecord> found;
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(
            session, std::string("SELECT ") + kColumns + " FROM api_tokens WHERE id = :id",
            Json{{"id", id}});
        if (!rows.empty()) found = from_row(rows[0]);
    });
    return found;
}

std::vector<TokenRecord> TokenStore::list(const std::string& tenant_id) {
    std::vector<TokenRecord> tokens;
    database_.with_platform([&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(
                 session,
                 std::string("SELECT ") + kColumns +
                     " FROM api_tokens WHERE tenant_id = :tenant ORDER BY created_at DESC, id",
                 Json{{"tenant", tenant_id}})) {
            tokens.push_back(from_row(row));
        }
    });
    return tokens;
}

std::optional<TokenRecord> TokenStore::authenticate(std::string_view presented) {
    const auto token = authenticate(presented, sha256_hex(presented));
    return token ? std::optional<TokenRecord>(*token) : std::nullopt;
}

std::shared_ptr<const TokenRecord> TokenStore::authenticate(std::string_view presented,
                                                            const std::string& presented_sha256) {
    // Looked up by the hash of the whole token: only the exact token that was verified
    // matches. The map's comparison is not constant-time, but it compares digests, and
    // learning digests of valid tokens does not help to forge one.
    const auto now = clock_.now();
    if (auto trusted = verified(presented_sha256, now)) return trusted;
    std::uint64_t generation = 0;
    {
        std::lock_guard lock(verified_mutex_);
        generation = forgotten_generation_;
    }
    auto found = look_up(presented, presented_sha256);
    if (!found) return nullptr;
    auto token = std::make_shared<const TokenRecord>(std::move(*found));
    remember(presented_sha256, token, now, generation);
    // Only when read: the calls while it is trusted are within kTrustVerifiedFor of this one,
    // and the hot path then takes no lock but the verified tokens'.
    record_use(*token);
    return token;
}

std::optional<TokenRecord> TokenStore::look_up(std::string_view presented,
                                               const std::string& hash) {
    const auto prefix = prefix_of(presented);
    if (!prefix) return std::nullopt;
    Json row;
    database_.with_platform([&](soci::session& session) {
        const Json rows =
            storage::run_json_statement(session,
                                        std::string("SELECT ") + kColumns +
                                            ", token_sha256 FROM api_tokens WHERE prefix = :prefix",
                                        Json{{"prefix", *prefix}});
        if (!rows.empty()) row = rows[0];
    });
    if (row.is_null()) return std::nullopt;
    if (!constant_time_equal(hash, row["token_sha256"].get<std::string>())) return std::nullopt;
    TokenRecord token = from_row(row);
    if (token.revoked_at || token.expires_at <= clock::rfc3339_utc(clock_.now())) {
        return std::nullopt;
    }
    return token;
}

std::shared_ptr<const TokenRecord> TokenStore::verified(const std::string& hash,
                                                        clock::TimePoint now) {
    std::lock_guard lock(verified_mutex_);
    const auto found = verified_.find(hash);
    if (found == verified_.end()) return nullptr;
    // A clock set back is no reason to trust a verification longer.
    if (found->second.checked_at <= now && now < found->second.trusted_until) {
        return found->second.record;
    }
    verified_.erase(found);
    return nullptr;
}

void TokenStore::remember(const std::string& hash, std::shared_ptr<const TokenRecord> token,
                          clock::TimePoint now, std::uint64_t generation) {
    const auto expires = clock::parse_rfc3339(token->expires_at);
    if (!expires) return;  // not trusted without its database row then
    std::lock_guard lock(verified_mutex_);
    // Revoked or rotated here while this look-up read the database: the row it read may be
    // from before that.
    if (generation != forgotten_generation_) return;
    if (verified_.size() >= kMaxVerified) {
        std::erase_if(verified_, [now](const auto& entry) {
            return !(entry.second.checked_at <= now && now < entry.second.trusted_until);
        });
        if (verified_.size() >= kMaxVerified) verified_.clear();
    }
    verified_[hash] = Verified{std::move(token), now, std::min(now + kTrustVerifiedFor, *expires)};
}

void TokenStore::forget(const std::string& id) {
    std::lock_guard lock(verified_mutex_);
    // A scan: revocations and rotations are rare, and the map holds the few tokens in use.
    std::erase_if(verified_,
                  [&id](const auto& entry) { return id.empty() || entry.second.record->id == id; });
    ++forgotten_generation_;
}

void TokenStore::announce_forgotten(soci::session& session, const std::string& id) const {
    tenants::announce_change(session, database_.backend(), std::string(kChangedTokenPrefix) + id);
}

void TokenStore::record_use(const TokenRecord& token) {
    const auto now = clock_.now();
    {
        std::lock_guard lock(used_mutex_);
        auto& last = last_recorded_use_[token.id];
        if (last != clock::TimePoint{} && now - last < kRecordUseEvery) return;
        last = now;
    }
    try {
        database_.with_platform([&](soci::session& session) {
            storage::run_json_statement(session,
                                        "UPDATE api_tokens SET last_used_at = :now WHERE id = :id",
                                        Json{{"now", clock::rfc3339_utc(now)}, {"id", token.id}});
        });
    } catch (const std::exception& error) {
        // Losing a last-used time is better than refusing a valid call.
        log_.warn("a token's last use could not be recorded",
                  {{"token", token.id}, {"error", error.what()}});
    }
}

}  // namespace miconsul::auth
