// Storage against real SQLite files and a real PostgreSQL server (started by scripts/test.sh).
#include "storage/database.h"
#include "storage/json_statement.h"
#include "storage/migrations.h"
#include "support/test_database.h"
#include "support/test_environment.h"
#include "tenants/tenant_store.h"

#include <gtest/gtest.h>

#include <thread>

namespace {
using miconsul::storage::apply_migrations;
using miconsul::storage::Database;
using miconsul::storage::Migration;
using miconsul::storage::run_json_statement;
using miconsul::storage::split_statements;
using nlohmann::json;

TEST(SplitStatements, SplitsOutsideQuotesAndComments) {
    auto statements = split_statements(
        "CREATE TABLE a (x TEXT DEFAULT 'a;b'); -- a comment; with a semicolon\n"
        "INSERT INTO a VALUES ('it''s;'); ;  \n/* block; comment */");
    ASSERT_EQ(statements.size(), 2u);
    EXPECT_NE(statements[0].find("'a;b'"), std::string::npos);
    EXPECT_NE(statements[1].find("'it''s;'"), std::string::npos);
}

// The reason goes to the log ("cannot start"): libpq quotes the piece it cannot parse, which
// may be the password, so that piece must not reach it.
TEST(DatabaseOpen, MalformedPostgresUrlIsRefusedWithoutItsPassword) {
    for (const std::string password : {"s3cr%zzet", "sec%00ret"}) {
        try {
            Database::open("postgresql://clinic:" + password + "@127.0.0.1:1/db", "unused", 1);
            ADD_FAILURE() << "a malformed URL was accepted";
        } catch (const std::exception& failure) {
            const std::string reason = failure.what();
            EXPECT_EQ(reason.find(password), std::string::npos) << reason;
            EXPECT_NE(reason.find("percent-encoded"), std::string::npos) << reason;
        }
    }
}

class StorageTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        database_ = miconsul::testing::open_test_database(GetParam(), scratch_, false);
    }

    json run(const std::string& tenant, const std::string& sql, const json& params = nullptr) {
        json result;
        database_->with_tenant(tenant, [&](soci::session& session) {
            result = run_json_statement(session, sql, params);
        });
        return result;
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<Database> database_;
};

TEST_P(StorageTest, BindsNamedAndPositionalParametersAndReturnsRows) {
    run("acme", "CREATE TABLE people (name TEXT, age INTEGER, score REAL, note TEXT)");
    auto inserted = run("acme",
                        "INSERT INTO people (name, age, score, note) VALUES (:name, :age, :score,"
                        " :note)",
                        {{"name", "Ana"}, {"age", 31}, {"score", 9.5}, {"note", nullptr}});
    EXPECT_EQ(inserted, json({{"affected_rows", 1}}));
    run("acme", "INSERT INTO people (name, age, score, note) VALUES (:a, :b, :c, :d)",
        json::array({"Luis", 40, 7.25, "vip"}));
    auto rows = run("acme", "SELECT name, age, score, note FROM people ORDER BY name");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0]["name"], "Ana");
    EXPECT_EQ(rows[0]["age"], 31);
    EXPECT_DOUBLE_EQ(rows[0]["score"].get<double>(), 9.5);
    EXPECT_TRUE(rows[0]["note"].is_null());
    EXPECT_EQ(rows[1]["note"], "vip");
    EXPECT_EQ(run("acme", "SELECT name FROM people WHERE age > :min", {{"min", 100}}),
              json::array());
}

TEST_P(StorageTest, AffectedRowsAreThisStatementsOwn) {
    run("acme", "CREATE TABLE items (n INTEGER)");
    EXPECT_EQ(run("acme", "INSERT INTO items (n) VALUES (1), (2)")["affected_rows"], 2);
    EXPECT_EQ(run("acme", "CREATE TABLE other (n INTEGER)")["affected_rows"], 0);
    EXPECT_EQ(
        run("acme", "UPDATE items SET n = n + 1 WHERE n > :min", {{"min", 1}})["affected_rows"], 1);
    EXPECT_EQ(run("acme", "SELECT COUNT(*) AS c, MAX(n) AS m FROM items")[0],
              json({{"c", 2}, {"m", 3}}));
}

TEST_P(StorageTest, ParametersAreNeverSplicedIntoSql) {
    run("acme", "CREATE TABLE notes (body TEXT)");
    const std::string hostile = "x'); DROP TABLE notes; --";
    run("acme", "INSERT INTO notes (body) VALUES (:body)", {{"body", hostile}});
    auto rows = run("acme", "SELECT body FROM notes");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0]["body"], hostile);
}

TEST_P(StorageTest, BadParametersAndBadSqlThrow) {
    EXPECT_THROW(run("acme", "SELECT 1", "not-an-array"), std::invalid_argument);
    EXPECT_ANY_THROW(run("acme", "SELEC nonsense"));
}

TEST_P(StorageTest, TenantsAreIsolated) {
    run("alpha", "CREATE TABLE secrets (value TEXT)");
    run("alpha", "INSERT INTO secrets (value) VALUES ('alpha only')");
    run("beta", "CREATE TABLE secrets (value TEXT)");
    EXPECT_EQ(run("beta", "SELECT value FROM secrets"), json::array());
    EXPECT_EQ(run("alpha", "SELECT value FROM secrets").size(), 1u);
}

TEST_P(StorageTest, InvalidTenantIdsAreRefused) {
    for (const std::string& bad :
         std::vector<std::string>{"", "UPPER", "a/b", "../x", "a\"b", "-x", std::string(64, 'a')}) {
        EXPECT_THROW(database_->with_tenant(bad, [](soci::session&) {}), std::invalid_argument)
            << bad;
    }
}

TEST_P(StorageTest, MigrationsRunOnceEachInOrder) {
    const std::vector<Migration> migrations = {
        {2, "add column", "ALTER TABLE things ADD COLUMN color TEXT"},
        {1, "create", "CREATE TABLE things (name TEXT); INSERT INTO things (name) VALUES ('a')"},
    };
    database_->with_tenant("acme", [&](soci::session& session) {
        EXPECT_EQ(apply_migrations(session, database_->backend(), "things", migrations), 2);
        EXPECT_EQ(apply_migrations(session, database_->backend(), "things", migrations), 0);
    });
    EXPECT_EQ(run("acme", "SELECT name, color FROM things").size(), 1u);
}

TEST_P(StorageTest, FailedMigrationIsRolledBackAndNamed) {
    const std::vector<Migration> migrations = {
        {1, "good", "CREATE TABLE good (x TEXT)"},
        {2, "bad", "CREATE TABLE half (x TEXT); CREATE TABLE broken (x NOSUCHTYPE("},
    };
    database_->with_tenant("acme", [&](soci::session& session) {
        try {
            apply_migrations(session, database_->backend(), "demo", migrations);
            FAIL() << "the broken migration must throw";
        } catch (const std::runtime_error& failure) {
            EXPECT_NE(std::string(failure.what()).find("demo v2"), std::string::npos)
                << failure.what();
        }
    });
    // v1 stays applied; v2 left nothing behind, so a fixed v2 can run later.
    EXPECT_EQ(
        run("acme", "SELECT MAX(version) AS v FROM schema_migrations WHERE owner = 'demo'")[0]["v"],
        1);
    EXPECT_ANY_THROW(run("acme", "SELECT * FROM half"));
}

TEST_P(StorageTest, TenantStoreRoundTripsAndSnapshotsFollowWrites) {
    database_->with_platform([&](soci::session& session) {
        apply_migrations(session, database_->backend(), "core",
                         miconsul::storage::core_platform_migrations());
    });
    miconsul::tenants::TenantStore store(*database_);
    store.load();
    miconsul::tenants::Tenant tenant;
    tenant.id = "clinica-sol";
    tenant.name = "Clínica Sol";
    tenant.timezone = "America/Mexico_City";
    EXPECT_TRUE(store.create(tenant));
    EXPECT_FALSE(store.create(tenant));
    ASSERT_TRUE(store.find("clinica-sol"));
    EXPECT_EQ(store.find("clinica-sol")->tenant.name, "Clínica Sol");
    EXPECT_TRUE(store.find("clinica-sol")->enabled_settings.empty());

    store.set_enablement("clinica-sol", "hello", true, {{"greeting", "Hola"}});
    EXPECT_EQ(store.find("clinica-sol")->enabled_settings.at("hello"), R"({"greeting":"Hola"})");
    store.set_enablement("clinica-sol", "hello", false, {{"greeting", "Hola"}});
    EXPECT_EQ(store.find("clinica-sol")->enabled_settings.count("hello"), 0u);
    ASSERT_EQ(store.enablements("clinica-sol").size(), 1u);
    EXPECT_FALSE(store.enablements("clinica-sol")[0].enabled);

    // A second store over the same database sees the same state after load().
    miconsul::tenants::TenantStore reloaded(*database_);
    reloaded.load();
    ASSERT_TRUE(reloaded.find("clinica-sol"));
    EXPECT_EQ(reloaded.list("", 10).size(), 1u);
    EXPECT_EQ(reloaded.list("clinica-sol", 10).size(), 0u);
}

TEST_P(StorageTest, ConcurrentSettingsChangesGetConsecutiveRevisionsAndNoneIsLost) {
    database_->with_platform([&](soci::session& session) {
        apply_migrations(session, database_->backend(), "core",
                         miconsul::storage::core_platform_migrations());
    });
    // Two stores: two instances writing the same tenant's plugin row at once.
    miconsul::tenants::TenantStore first(*database_), second(*database_);
    first.load();
    miconsul::tenants::Tenant tenant;
    tenant.id = "sol";
    tenant.name = "Sol";
    ASSERT_TRUE(first.create(tenant));
    second.load();
    constexpr int kEach = 15;
    std::vector<std::thread> writers;
    for (auto* store : {&first, &second}) {
        writers.emplace_back([store, tag = store == &first ? "a" : "b"] {
            for (int i = 0; i < kEach; ++i) {
                store->set_enablement("sol", "hello", true,
                                      {{"greeting", std::string(tag) + std::to_string(i)}},
                                      {"token:" + std::string(tag), "change", std::nullopt});
            }
        });
    }
    for (auto& writer : writers) writer.join();
    const auto revisions = first.revisions("sol", "hello", 0, 100);
    ASSERT_EQ(revisions.size(), 2u * kEach);
    for (size_t i = 0; i < revisions.size(); ++i) {
        EXPECT_EQ(revisions[i].revision, static_cast<int>(revisions.size() - i)) << "newest first";
    }
    // The row holds the newest revision's settings, and says which revision it is at.
    const auto rows = first.enablements("sol");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].revision, 2 * kEach);
    EXPECT_EQ(rows[0].settings, revisions[0].settings);
    EXPECT_EQ(first.revision("sol", "hello", 1)->actor.substr(0, 6), "token:");
    EXPECT_FALSE(first.revision("sol", "hello", 2 * kEach + 1));
    EXPECT_TRUE(first.revisions("luna", "hello", 0, 10).empty());
}

TEST_P(StorageTest, ConcurrentTenantUseFromManyThreads) {
    run("acme", "CREATE TABLE counter (n INTEGER)");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                run(t % 2 == 0 ? "acme" : "other", "SELECT 1 AS one");
                if (t % 2 == 0) run("acme", "INSERT INTO counter (n) VALUES (:n)", {{"n", i}});
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(run("acme", "SELECT COUNT(*) AS c FROM counter")[0]["c"], 50);
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
}  // namespace
