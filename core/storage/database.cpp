#include "storage/database.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <libpq-fe.h>

#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace miconsul::storage {

bool is_valid_tenant_id(std::string_view tenant_id) {
    if (tenant_id.empty() || tenant_id.size() > 63 || tenant_id.front() == '-') return false;
    for (char c : tenant_id) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

bool Database::ping(std::string& error) {
    try {
        with_platform([](soci::session& session) {
            int one = 0;
            session << "SELECT 1", soci::into(one);
        });
        return true;
    } catch (const std::exception& failure) {
        error = failure.what();
        return false;
    }
}

namespace {

void require_tenant_id(const std::string& tenant_id) {
    if (!is_valid_tenant_id(tenant_id)) {
        throw std::invalid_argument("invalid tenant id '" + tenant_id + "'");
    }
}

// One SQLite file and the one session that uses it at a time.
struct SqliteFile {
    explicit SqliteFile(const std::filesystem::path& path)
        : session(soci::sqlite3, "db=" + path.string() + " timeout=5") {
        // WAL lets readers proceed while a writer commits; foreign keys are off by default.
        session << "PRAGMA journal_mode=WAL";
        session << "PRAGMA foreign_keys=ON";
        session << "PRAGMA synchronous=NORMAL";
    }
    std::mutex mutex;
    soci::session session;
};

class SqliteDatabase final : public Database {
public:
    explicit SqliteDatabase(std::filesystem::path directory)
        : directory_(std::move(directory)) {
        std::filesystem::create_directories(directory_ / "tenants");
        platform_ = std::make_unique<SqliteFile>(directory_ / "platform.sqlite");
    }

    Backend backend() const override { return Backend::sqlite; }

    void with_platform(const std::function<void(soci::session&)>& work) override {
        std::lock_guard lock(platform_->mutex);
        work(platform_->session);
    }

    void with_tenant(const std::string& tenant_id,
                     const std::function<void(soci::session&)>& work) override {
        require_tenant_id(tenant_id);
        SqliteFile* file = nullptr;
        {
            std::lock_guard lock(tenants_mutex_);
            auto& slot = tenants_[tenant_id];
            if (!slot) {
                slot = std::make_unique<SqliteFile>(directory_ / "tenants" /
                                                    (tenant_id + ".sqlite"));
            }
            file = slot.get();
        }
        std::lock_guard lock(file->mutex);
        work(file->session);
    }

private:
    std::filesystem::path directory_;
    std::unique_ptr<SqliteFile> platform_;
    std::mutex tenants_mutex_;
    std::map<std::string, std::unique_ptr<SqliteFile>> tenants_;  // files stay open once used
};

// libpq quotes the piece of a URL it cannot parse ("invalid percent-encoded token:
// \"s3cr%zzet\""), and that piece may be the password. The reason ends up in the log
// ("cannot start"), so every quoted piece taken from the URL is hidden; the kind of mistake
// stays.
std::string without_url_pieces(std::string reason, const std::string& url) {
    size_t open = reason.find('"');
    while (open != std::string::npos) {
        const size_t close = reason.find('"', open + 1);
        if (close == std::string::npos) break;
        const std::string quoted = reason.substr(open + 1, close - open - 1);
        size_t next = close + 1;
        if (!quoted.empty() && url.find(quoted) != std::string::npos) {
            constexpr std::string_view kHidden = "(hidden)";
            reason.replace(open + 1, quoted.size(), kHidden);
            next = open + kHidden.size() + 2;
        }
        open = reason.find('"', next);
    }
    return reason;
}

// SOCI mangles URIs ("postgresql://…"); libpq parses them. Hand SOCI the keyword form.
std::string postgres_keyword_form(const std::string& url) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
    if (options == nullptr) {
        std::string reason = error != nullptr ? error : "malformed PostgreSQL URL";
        PQfreemem(error);
        throw std::runtime_error(without_url_pieces(std::move(reason), url));
    }
    std::string keywords;
    for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
        if (option->val == nullptr) continue;
        std::string quoted;
        for (const char* c = option->val; *c != '\0'; ++c) {
            if (*c == '\'' || *c == '\\') quoted += '\\';
            quoted += *c;
        }
        keywords += std::string(keywords.empty() ? "" : " ") + option->keyword + "='" + quoted + "'";
    }
    PQconninfoFree(options);
    return keywords;
}

class PostgresDatabase final : public Database {
public:
    PostgresDatabase(const std::string& url, size_t pool_size)
        : pool_(pool_size), search_path_(pool_size) {
        const std::string connect_string = postgres_keyword_form(url);
        for (size_t i = 0; i < pool_size; ++i) {
            pool_.at(i).open(soci::postgresql, connect_string);
            search_path_[i] = "public";
        }
    }

    Backend backend() const override { return Backend::postgresql; }

    void with_platform(const std::function<void(soci::session&)>& work) override {
        with_schema("public", work);
    }

    void with_tenant(const std::string& tenant_id,
                     const std::function<void(soci::session&)>& work) override {
        require_tenant_id(tenant_id);
        with_schema("tenant_" + tenant_id, work);
    }

private:
    // Returns the leased session to the pool whatever happens in the work.
    struct Lease {
        soci::connection_pool& pool;
        size_t position;
        ~Lease() { pool.give_back(position); }
    };

    void with_schema(const std::string& schema,
                     const std::function<void(soci::session&)>& work) {
        Lease lease{pool_, pool_.lease()};
        soci::session& session = pool_.at(lease.position);
        // Each position is used by one thread at a time, so its entry needs no lock.
        std::string& current = search_path_[lease.position];
        if (current != schema) {
            if (schema != "public") ensure_schema(session, schema);
            // The identifier is quoted and built from a validated tenant id.
            session << "SET search_path TO \"" + schema + "\"";
            current = schema;
        }
        work(session);
    }

    void ensure_schema(soci::session& session, const std::string& schema) {
        {
            std::lock_guard lock(created_mutex_);
            if (created_schemas_.count(schema) != 0) return;
        }
        // CREATE SCHEMA IF NOT EXISTS is not safe against a concurrent creator (it can fail on
        // the catalog's unique index): serialise creators, across instances too.
        soci::transaction transaction(session);
        session << "SELECT pg_advisory_xact_lock(hashtext('miconsul.create_schema'))";
        session << "CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"";
        transaction.commit();
        std::lock_guard lock(created_mutex_);
        created_schemas_.insert(schema);
    }

    soci::connection_pool pool_;
    std::vector<std::string> search_path_;  // by pool position
    std::mutex created_mutex_;
    std::set<std::string> created_schemas_;
};

}  // namespace

std::unique_ptr<Database> Database::open(const std::string& url,
                                         const std::filesystem::path& data_dir,
                                         size_t pool_size) {
    try {
        if (url.rfind("sqlite://", 0) == 0) {
            const std::string directory = url.substr(std::string("sqlite://").size());
            return std::make_unique<SqliteDatabase>(directory.empty() ? data_dir
                                                                      : std::filesystem::path(directory));
        }
        if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
            return std::make_unique<PostgresDatabase>(url, pool_size);
        }
    } catch (const std::exception& failure) {
        throw std::runtime_error(std::string("cannot open database: ") + failure.what());
    }
    throw std::runtime_error("unsupported database URL (use sqlite:// or postgresql://)");
}

}  // namespace miconsul::storage
