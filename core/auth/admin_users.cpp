#include "auth/admin_users.h"

#include "auth/password_hash.h"
#include "auth/token_hash.h"
#include "auth/totp.h"
#include "ids/ids.h"
#include "storage/json_statement.h"

#include <algorithm>
#include <cctype>

namespace miconsul::auth {

namespace {
using Json = nlohmann::json;

constexpr const char* kUserColumns =
    "id, email, role, tenant_id, password_hash, totp_secret, totp_pending, totp_last_step,"
    " created_at, last_sign_in_at";
constexpr int kRecoveryCodes = 10;
constexpr size_t kShortestPassword = 12;
constexpr size_t kLongestPassword = 256;  // scrypt takes any length; a bound keeps it cheap

std::optional<std::string> optional_text(const Json& row, const char* column) {
    if (!row.contains(column) || row[column].is_null()) return std::nullopt;
    return row[column].get<std::string>();
}

AdminUser user_of(const Json& row) {
    AdminUser user;
    user.id = row["id"];
    user.email = row["email"];
    user.role = row["role"];
    user.tenant_id = row["tenant_id"];
    user.totp_enabled = !row["totp_secret"].is_null();
    user.created_at = row["created_at"];
    user.last_sign_in_at = optional_text(row, "last_sign_in_at");
    return user;
}

std::string lower_case(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool is_plausible_email(const std::string& email) {
    const auto at = email.find('@');
    return email.size() >= 3 && email.size() <= 254 && at != std::string::npos && at > 0 &&
           at + 1 < email.size() && email.find('@', at + 1) == std::string::npos &&
           std::none_of(email.begin(), email.end(),
                        [](unsigned char c) { return std::isspace(c) || std::iscntrl(c); });
}

// "abcde-fghij": 50 bits from base32, easy to read out and type.
std::string new_recovery_code() {
    const std::string letters = lower_case(base32_encode(new_totp_secret())).substr(0, 10);
    return letters.substr(0, 5) + "-" + letters.substr(5);
}

// What a person may type for a recovery code: any case, with or without the dash or spaces.
std::string normalised_recovery_code(const std::string& code) {
    std::string kept;
    for (const unsigned char c : code) {
        if (std::isalnum(c)) kept += static_cast<char>(std::tolower(c));
    }
    return kept.size() == 10 ? kept.substr(0, 5) + "-" + kept.substr(5) : kept;
}

bool is_totp_code(const std::string& code) {
    return code.size() == 6 &&
           std::all_of(code.begin(), code.end(), [](unsigned char c) { return std::isdigit(c); });
}
}  // namespace

Json AdminUser::to_json() const {
    return {{"id", id},
            {"email", email},
            {"role", role},
            {"tenant_id", tenant_id.empty() ? Json(nullptr) : Json(tenant_id)},
            {"totp_enabled", totp_enabled},
            {"created_at", created_at},
            {"last_sign_in_at", last_sign_in_at ? Json(*last_sign_in_at) : Json(nullptr)}};
}

AdminUsers::AdminUsers(storage::Database& database, const clock::Clock& clock,
                       std::optional<SecretBox> secret_box, Settings settings, logging::Log log)
    : database_(database),
      clock_(clock),
      secret_box_(std::move(secret_box)),
      settings_(settings),
      log_(std::move(log)) {}

std::variant<AdminUser, std::string> AdminUsers::create(const std::string& email,
                                                        const std::string& password,
                                                        const std::string& role,
                                                        const std::string& tenant_id) {
    const std::string normalised = lower_case(email);
    if (!is_plausible_email(normalised)) return std::string("email is not an email address");
    if (password.size() < kShortestPassword || password.size() > kLongestPassword) {
        return "password must be " + std::to_string(kShortestPassword) + " to " +
               std::to_string(kLongestPassword) + " characters";
    }
    if (role != "platform_admin" && role != "tenant_admin") {
        return std::string("role must be platform_admin or tenant_admin");
    }
    if ((role == "tenant_admin") == tenant_id.empty()) {
        return std::string("a tenant_admin needs tenant_id; a platform_admin has none");
    }
    const std::string hash = hash_password(password);  // slow: outside the database lock
    std::optional<AdminUser> created;
    database_.with_platform([&](soci::session& session) {
        const Json user = {{"id", ids::random_uuid()},
                           {"email", normalised},
                           {"role", role},
                           {"tenant_id", tenant_id},
                           {"password_hash", hash},
                           {"created_at", clock::rfc3339_utc(clock_.now())}};
        // One statement: two creations of the same email at once get one user and one 409.
        const Json inserted = storage::run_json_statement(
            session,
            "INSERT INTO admin_users (id, email, role, tenant_id, password_hash, created_at)"
            " VALUES (:id, :email, :role, :tenant_id, :password_hash, :created_at)"
            " ON CONFLICT (email) DO NOTHING",
            user);
        if (inserted.value("affected_rows", 0) != 1) return;
        created = user_of(Json{{"id", user["id"]},
                               {"email", normalised},
                               {"role", role},
                               {"tenant_id", tenant_id},
                               {"totp_secret", nullptr},
                               {"created_at", user["created_at"]}});
    });
    if (!created) return "a user with email " + normalised + " exists";
    return *created;
}

std::vector<AdminUser> AdminUsers::list() const {
    std::vector<AdminUser> users;
    database_.with_platform([&](soci::session& session) {
        for (const auto& row : storage::run_json_statement(
                 session,
                 std::string("SELECT ") + kUserColumns + " FROM admin_users ORDER BY email",
                 nullptr)) {
            users.push_back(user_of(row));
        }
    });
    return users;
}

std::optional<AdminUser> AdminUsers::find(const std::string& id) const {
    std::optional<AdminUser> user;
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(
            session, std::string("SELECT ") + kUserColumns + " FROM admin_users WHERE id = :id",
            {{"id", id}});
        if (!rows.empty()) user = user_of(rows[0]);
    });
    return user;
}

bool AdminUsers::remove(const std::string& id) {
    bool removed = false;
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        storage::run_json_statement(session, "DELETE FROM admin_sessions WHERE user_id = :id",
                                    {{"id", id}});
        storage::run_json_statement(session, "DELETE FROM admin_recovery_codes WHERE user_id = :id",
                                    {{"id", id}});
        removed = storage::run_json_statement(session, "DELETE FROM admin_users WHERE id = :id",
                                              {{"id", id}})
                      .value("affected_rows", 0) == 1;
        transaction.commit();
    });
    return removed;
}

int64_t AdminUsers::unix_now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch())
        .count();
}

std::chrono::seconds AdminUsers::record_failure(const std::string& email_sha256) {
    int failures = 0;
    std::chrono::seconds lockout{0};
    const std::string now = clock::rfc3339_utc(clock_.now());
    database_.with_platform([&](soci::session& session) {
        soci::transaction transaction(session);
        // Counted in the statement, not read and written back: failures sent in parallel each
        // count.
        session << "INSERT INTO signin_failures (email_sha256, failed_attempts, last_failed_at)"
                   " VALUES (:email, 1, :now) ON CONFLICT (email_sha256) DO UPDATE"
                   " SET failed_attempts = signin_failures.failed_attempts + 1,"
                   " last_failed_at = excluded.last_failed_at RETURNING failed_attempts",
            soci::use(email_sha256, "email"), soci::use(now, "now"), soci::into(failures);
        // Guesses at emails nobody has would grow the table without end: a failure a day old
        // is forgotten (a lockout lasts an hour at most), swept as failures come.
        const std::string day_ago = clock::rfc3339_utc(clock_.now() - std::chrono::hours(24));
        session << "DELETE FROM signin_failures WHERE last_failed_at < :day_ago",
            soci::use(day_ago, "day_ago");
        if (failures >= settings_.failures_before_lockout) {
            // 1, 2, 4, … minutes for each failure past the limit, up to the longest.
            const int doublings = std::min(failures - settings_.failures_before_lockout, 20);
            lockout = std::min(settings_.first_lockout * (int64_t{1} << doublings),
                               settings_.longest_lockout);
            const std::string locked_until = clock::rfc3339_utc(clock_.now() + lockout);
            session << "UPDATE signin_failures SET locked_until = :until"
                       " WHERE email_sha256 = :email",
                soci::use(locked_until, "until"), soci::use(email_sha256, "email");
        }
        transaction.commit();
    });
    if (lockout.count() > 0) {
        log_.warn("sign-ins locked out after failures",
                  {{"email_sha256", email_sha256.substr(0, 12)},
                   {"failures", failures},
                   {"seconds", lockout.count()}});
    }
    return lockout;
}

bool AdminUsers::accept_code(const Json& row, const std::string& code) {
    const std::string user_id = row["id"];
    if (is_totp_code(code)) {
        if (!secret_box_ || row["totp_secret"].is_null()) return false;
        const auto secret = secret_box_->open(row["totp_secret"].get<std::string>());
        if (!secret) return false;
        const auto step = match_totp(*secret, code, unix_now(), settings_.totp_window,
                                     row["totp_last_step"].get<int64_t>());
        if (!step) return false;
        // Only one sign-in may use a step, even two at once on two instances.
        bool claimed = false;
        database_.with_platform([&](soci::session& session) {
            claimed = storage::run_json_statement(session,
                                                  "UPDATE admin_users SET totp_last_step = :step"
                                                  " WHERE id = :id AND totp_last_step < :step",
                                                  {{"step", *step}, {"id", user_id}})
                          .value("affected_rows", 0) == 1;
        });
        return claimed;
    }
    bool used = false;
    database_.with_platform([&](soci::session& session) {
        used = storage::run_json_statement(
                   session,
                   "UPDATE admin_recovery_codes SET used_at = :now WHERE user_id = :id"
                   " AND code_sha256 = :hash AND used_at IS NULL",
                   {{"now", clock::rfc3339_utc(clock_.now())},
                    {"id", user_id},
                    {"hash", sha256_hex(normalised_recovery_code(code))}})
                   .value("affected_rows", 0) == 1;
    });
    if (used) log_.warn("admin signed in with a recovery code", {{"user", user_id}});
    return used;
}

SignInOutcome AdminUsers::sign_in(const std::string& email, const std::string& password,
                                  const std::string& code) {
    SignInOutcome outcome;
    const std::string normalised = lower_case(email);
    const std::string email_sha256 = sha256_hex(normalised);
    Json row;
    std::optional<std::string> locked_until;
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(
            session,
            std::string("SELECT ") + kUserColumns + " FROM admin_users WHERE email = :email",
            {{"email", normalised}});
        if (!rows.empty()) row = rows[0];
        const Json failures = storage::run_json_statement(
            session, "SELECT locked_until FROM signin_failures WHERE email_sha256 = :email",
            {{"email", email_sha256}});
        if (!failures.empty()) locked_until = optional_text(failures[0], "locked_until");
    });
    const auto now = clock_.now();
    const bool known = !row.is_null() && password.size() <= kLongestPassword;
    // Every path runs one scrypt: how long an answer takes says nothing about the email.
    bool password_right = false;
    if (known) {
        password_right = verify_password(password, row["password_hash"].get<std::string>());
    } else {
        verify_password(password.substr(0, kLongestPassword), decoy_password_hash());
    }
    if (locked_until) {
        const auto until = clock::parse_rfc3339(*locked_until);
        if (until && *until > now) {
            outcome.result = SignInOutcome::Result::locked;
            outcome.retry_after = std::chrono::ceil<std::chrono::seconds>(*until - now);
            return outcome;
        }
    }
    auto fail = [&] {
        outcome.retry_after = record_failure(email_sha256);
        outcome.result = outcome.retry_after.count() > 0 ? SignInOutcome::Result::locked
                                                         : SignInOutcome::Result::refused;
        return outcome;
    };
    if (!password_right) return fail();
    const std::string user_id = row["id"];
    const bool has_totp = !row["totp_secret"].is_null();
    if (has_totp && code.empty()) {
        outcome.result = SignInOutcome::Result::code_required;
        return outcome;
    }
    if (has_totp && !accept_code(row, code)) return fail();

    AdminSession session;
    session.id = ids::random_uuid();
    session.user = user_of(row);
    session.mfa_pending = session.user.role == "platform_admin" && !has_totp;
    session.expires_at = clock::rfc3339_utc(now + settings_.session_lifetime);
    outcome.session_token = "mcs_" + SecretBox::generate_key_hex();
    outcome.csrf_token = SecretBox::generate_key_hex();
    session.csrf_sha256 = sha256_hex(outcome.csrf_token);
    const std::string now_text = clock::rfc3339_utc(now);
    database_.with_platform([&](soci::session& sql) {
        soci::transaction transaction(sql);
        storage::run_json_statement(sql,
                                    "UPDATE admin_users SET last_sign_in_at = :now WHERE id = :id",
                                    {{"now", now_text}, {"id", user_id}});
        storage::run_json_statement(sql, "DELETE FROM signin_failures WHERE email_sha256 = :email",
                                    {{"email", email_sha256}});
        // Expired sessions of this user go as a new one comes: the table stays small.
        storage::run_json_statement(
            sql, "DELETE FROM admin_sessions WHERE user_id = :id AND expires_at <= :now",
            {{"id", user_id}, {"now", now_text}});
        storage::run_json_statement(
            sql,
            "INSERT INTO admin_sessions (token_sha256, id, user_id, csrf_sha256, mfa_pending,"
            " created_at, expires_at) VALUES (:token, :id, :user, :csrf, :pending, :now,"
            " :expires)",
            {{"token", sha256_hex(outcome.session_token)},
             {"id", session.id},
             {"user", user_id},
             {"csrf", session.csrf_sha256},
             {"pending", session.mfa_pending},
             {"now", now_text},
             {"expires", session.expires_at}});
        transaction.commit();
    });
    session.user.last_sign_in_at = now_text;
    outcome.session = std::move(session);
    outcome.result = SignInOutcome::Result::signed_in;
    return outcome;
}

std::optional<AdminSession> AdminUsers::session(std::string_view token) const {
    if (token.size() != 68 || token.substr(0, 4) != "mcs_") return std::nullopt;
    Json row;
    // Looked up by the token's hash: the index compares hashes of a 256-bit secret, so its
    // timing tells nothing usable about the token.
    database_.with_platform([&](soci::session& session) {
        const Json rows = storage::run_json_statement(
            session,
            "SELECT s.id AS session_id, s.csrf_sha256, s.mfa_pending, s.expires_at, u.id, u.email,"
            " u.role, u.tenant_id, u.totp_secret, u.created_at, u.last_sign_in_at"
            " FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id"
            " WHERE s.token_sha256 = :hash",
            {{"hash", sha256_hex(token)}});
        if (!rows.empty()) row = rows[0];
    });
    if (row.is_null()) return std::nullopt;
    if (row["expires_at"].get<std::string>() <= clock::rfc3339_utc(clock_.now())) {
        return std::nullopt;
    }
    AdminSession session;
    session.id = row["session_id"];
    session.user = user_of(row);
    session.mfa_pending = row["mfa_pending"].get<int64_t>() != 0;
    session.csrf_sha256 = row["csrf_sha256"];
    session.expires_at = row["expires_at"];
    return session;
}

void AdminUsers::end_session(const std::string& session_id) {
    database_.with_platform([&](soci::session& session) {
        storage::run_json_statement(session, "DELETE FROM admin_sessions WHERE id = :id",
                                    {{"id", session_id}});
    });
}

std::optional<TotpEnrolment> AdminUsers::begin_totp(const AdminSession& session) {
    if (!secret_box_ || session.user.totp_enabled) return std::nullopt;
    const std::string secret = new_totp_secret();
    bool started = false;
    database_.with_platform([&](soci::session& sql) {
        started = storage::run_json_statement(
                      sql,
                      "UPDATE admin_users SET totp_pending = :sealed"
                      " WHERE id = :id AND totp_secret IS NULL",
                      {{"sealed", secret_box_->seal(secret)}, {"id", session.user.id}})
                      .value("affected_rows", 0) == 1;
    });
    if (!started) return std::nullopt;  // enrolled meanwhile, on another request
    return TotpEnrolment{base32_encode(secret),
                         otpauth_uri("MiConsul", session.user.email, secret)};
}

std::optional<std::vector<std::string>> AdminUsers::confirm_totp(const AdminSession& session,
                                                                 const std::string& code) {
    if (!secret_box_) return std::nullopt;
    Json row;
    database_.with_platform([&](soci::session& sql) {
        const Json rows = storage::run_json_statement(
            sql, "SELECT totp_pending, totp_secret FROM admin_users WHERE id = :id",
            {{"id", session.user.id}});
        if (!rows.empty()) row = rows[0];
    });
    if (row.is_null() || row["totp_pending"].is_null() || !row["totp_secret"].is_null()) {
        return std::nullopt;
    }
    const auto secret = secret_box_->open(row["totp_pending"].get<std::string>());
    if (!secret) return std::nullopt;
    const auto step = match_totp(*secret, code, unix_now(), settings_.totp_window, 0);
    if (!step) return std::nullopt;
    std::vector<std::string> codes;
    for (int i = 0; i < kRecoveryCodes; ++i) codes.push_back(new_recovery_code());
    bool confirmed = false;
    database_.with_platform([&](soci::session& sql) {
        soci::transaction transaction(sql);
        // Only the secret this code was checked against, and only once: a restarted enrolment
        // or a second confirmation in between changes nothing.
        confirmed =
            storage::run_json_statement(
                sql,
                "UPDATE admin_users SET totp_secret = totp_pending, totp_pending = NULL,"
                " totp_last_step = :step WHERE id = :id AND totp_secret IS NULL"
                " AND totp_pending = :pending",
                {{"step", *step}, {"id", session.user.id}, {"pending", row["totp_pending"]}})
                .value("affected_rows", 0) == 1;
        if (!confirmed) return;  // rolled back with the transaction
        storage::run_json_statement(sql, "DELETE FROM admin_recovery_codes WHERE user_id = :id",
                                    {{"id", session.user.id}});
        for (const auto& recovery : codes) {
            storage::run_json_statement(
                sql, "INSERT INTO admin_recovery_codes (user_id, code_sha256) VALUES (:id, :hash)",
                {{"id", session.user.id}, {"hash", sha256_hex(recovery)}});
        }
        storage::run_json_statement(sql, "UPDATE admin_sessions SET mfa_pending = 0 WHERE id = :id",
                                    {{"id", session.id}});
        transaction.commit();
    });
    if (!confirmed) return std::nullopt;
    log_.info("admin user enrolled TOTP", {{"user", session.user.id}});
    return codes;
}

}  // namespace miconsul::auth
