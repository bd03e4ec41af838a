// Admin users of the web panel: an email, a password kept as a scrypt hash, a role (platform
// admin, or admin of one tenant) and a TOTP second factor — required for platform admins, who
// must enrol one before their session reaches anything. Sign-in issues a session (a cookie
// the panel cannot read, kept here only as a hash) with its own CSRF token; repeated failures
// lock the account out with a growing wait. See docs/security.md.
#pragma once

#include "auth/secret_box.h"
#include "clock/clock.h"
#include "logging/log.h"
#include "storage/database.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace miconsul::auth {

/// The panel's session cookie.
inline constexpr std::string_view kSessionCookie = "mc_session";

struct AdminUser {
    std::string id;
    std::string email;      // lower-case
    std::string role;       // "platform_admin" or "tenant_admin"
    std::string tenant_id;  // "" for platform admins
    bool totp_enabled = false;
    std::string created_at;
    std::optional<std::string> last_sign_in_at;

    nlohmann::json to_json() const;  // never the password hash or the TOTP secret
};

struct AdminSession {
    std::string id;  // public: names the session in the audit log ("session:<id>")
    AdminUser user;
    /// A platform admin who has not enrolled TOTP yet: the session reaches only enrolment.
    bool mfa_pending = false;
    std::string csrf_sha256;
    std::string expires_at;
};

struct SignInOutcome {
    enum class Result {
        signed_in,
        refused,        // unknown email, wrong password, wrong or missing code: one answer
        code_required,  // the password was right; a TOTP or recovery code must come with it
        locked,         // too many failures: try again after `retry_after`
    };
    Result result = Result::refused;
    std::chrono::seconds retry_after{0};
    std::optional<AdminSession> session;
    std::string session_token;  // the cookie's value: shown once, kept only hashed
    std::string csrf_token;     // to send back in X-CSRF-Token: shown once, kept only hashed
};

struct TotpEnrolment {
    std::string secret_base32;  // for typing in by hand
    std::string otpauth_uri;    // for the QR code
};

class AdminUsers {
public:
    struct Settings {
        std::chrono::seconds session_lifetime = std::chrono::hours(12);
        int failures_before_lockout = 5;
        std::chrono::seconds first_lockout = std::chrono::minutes(1);  // doubles per failure
        std::chrono::seconds longest_lockout = std::chrono::hours(1);
        int totp_window = 1;  // steps of 30 s either side: a phone's clock may be off
    };

    /// `secret_box` seals TOTP secrets (they must be read back to check codes); without one,
    /// enrolment is refused and platform admins cannot sign in.
    AdminUsers(storage::Database& database, const clock::Clock& clock,
               std::optional<SecretBox> secret_box, Settings settings, logging::Log log);

    /// A new user, or the refusal's text (taken email, weak password, bad role or tenant).
    std::variant<AdminUser, std::string> create(const std::string& email,
                                                const std::string& password,
                                                const std::string& role,
                                                const std::string& tenant_id);
    std::vector<AdminUser> list() const;
    std::optional<AdminUser> find(const std::string& id) const;
    /// Deletes the user and ends their sessions; false when unknown.
    bool remove(const std::string& id);

    /// Checks the password, then (for a user with TOTP) `code`: a current TOTP code or one of
    /// the user's unused recovery codes. Every failure counts towards the email's lockout — an
    /// email no user has as well, so a lockout tells nothing about who exists — and a success
    /// resets it. Takes a scrypt's time in every case.
    SignInOutcome sign_in(const std::string& email, const std::string& password,
                          const std::string& code);

    /// How long a new session lives: the cookie's Max-Age.
    std::chrono::seconds session_lifetime() const { return settings_.session_lifetime; }

    /// The live session `token` (a cookie's value) belongs to, or nullopt.
    std::optional<AdminSession> session(std::string_view token) const;
    void end_session(const std::string& session_id);

    /// Starts (or restarts) TOTP enrolment for the session's user: a new secret, kept sealed
    /// until confirmed. nullopt without a secret key, or when the user has TOTP already.
    std::optional<TotpEnrolment> begin_totp(const AdminSession& session);
    /// Confirms enrolment with a code from the new secret: TOTP is on, the session is no longer
    /// pending, and ten one-time recovery codes are returned (shown once, kept hashed).
    /// nullopt when no enrolment is under way or the code is wrong.
    std::optional<std::vector<std::string>> confirm_totp(const AdminSession& session,
                                                         const std::string& code);

private:
    // Counts a failure for the email (by its hash) and returns how long sign-ins with it are
    // now locked for (0: not locked).
    std::chrono::seconds record_failure(const std::string& email_sha256);
    bool accept_code(const nlohmann::json& row, const std::string& code);
    int64_t unix_now() const;  // what TOTP steps count from

    storage::Database& database_;
    const clock::Clock& clock_;
    std::optional<SecretBox> secret_box_;
    Settings settings_;
    logging::Log log_;
};

}  // namespace miconsul::auth
