// The records' outbox in process, on real SQLite and PostgreSQL: a change's event is stored with
// the change and reaches the bus once, even when the bus's database fails or the host dies
// between the two.
#include "records/records.h"
#include "bus/bus.h"
#include "clock/clock.h"
#include "plugins/host_services.h"
#include "storage/json_statement.h"
#include "support/test_database.h"
#include "support/test_environment.h"
#include "tenants/tenant_store.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace {
using miconsul::records::Records;
using nlohmann::json;

class RecordsOutboxTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "postgresql") MICONSUL_REQUIRE_POSTGRES();
        database_ = miconsul::testing::open_test_database(GetParam(), scratch_);
        tenants_ = std::make_unique<miconsul::tenants::TenantStore>(*database_);
        tenants_->load();
        miconsul::tenants::Tenant tenant;
        tenant.id = "sol";
        tenant.name = "Sol";
        ASSERT_TRUE(tenants_->create(tenant));
        services_ = std::make_unique<miconsul::plugins::HostServices>(
            miconsul::plugins::HostServices{*database_, miconsul::logging::Log::null()});
        miconsul::bus::BusOptions options;
        options.workers = 0;
        bus_ =
            std::make_unique<miconsul::bus::Bus>(*database_, *tenants_, registry_, *services_,
                                                 clock_, miconsul::logging::Log::null(), options);
        records_ =
            std::make_unique<Records>(*database_, *bus_, clock_, miconsul::logging::Log::null());
    }

    size_t published(const std::string& type) { return bus_->events("sol", type, 200).size(); }
    size_t staged() {
        size_t count = 0;
        database_->with_tenant("sol", [&](soci::session& session) {
            count = miconsul::storage::run_json_statement(session, "SELECT id FROM record_events",
                                                          nullptr)
                        .size();
        });
        return count;
    }
    void rename_platform_table(const std::string& from, const std::string& to) {
        database_->with_platform(
            [&](soci::session& session) { session << "ALTER TABLE " + from + " RENAME TO " + to; });
    }

    miconsul::testing::ScratchDirectory scratch_;
    std::unique_ptr<miconsul::storage::Database> database_;
    std::unique_ptr<miconsul::tenants::TenantStore> tenants_;
    miconsul::plugins::PluginRegistry registry_;
    std::unique_ptr<miconsul::plugins::HostServices> services_;
    miconsul::clock::SystemClock clock_;
    std::unique_ptr<miconsul::bus::Bus> bus_;
    std::unique_ptr<Records> records_;
};

TEST_P(RecordsOutboxTest, AnEventTheBusCannotTakeStaysStagedAndGoesOutLaterOnce) {
    ASSERT_TRUE(
        std::holds_alternative<json>(records_->create_patient("sol", {{"first_name", "Ana"}})));
    EXPECT_EQ(published("patient.created"), 1u);
    EXPECT_EQ(staged(), 0u) << "published events are not kept twice";

    rename_platform_table("events", "events_away");  // the bus's database fails
    const auto created = records_->create_patient("sol", {{"first_name", "Beto"}});
    ASSERT_TRUE(std::holds_alternative<json>(created)) << "the change itself stands";
    EXPECT_EQ(staged(), 1u);
    rename_platform_table("events_away", "events");
    EXPECT_EQ(published("patient.created"), 1u);

    // The next change of the tenant sends what was left, oldest first, with its own.
    ASSERT_TRUE(
        std::holds_alternative<json>(records_->create_patient("sol", {{"first_name", "Carla"}})));
    EXPECT_EQ(published("patient.created"), 3u);
    EXPECT_EQ(staged(), 0u);
    std::set<std::string> names;
    for (const auto& event : bus_->events("sol", "patient.created", 10)) {
        names.insert(event.data["first_name"].get<std::string>());
    }
    EXPECT_EQ(names, (std::set<std::string>{"Ana", "Beto", "Carla"}));
}

TEST_P(RecordsOutboxTest, AnEventPublishedJustBeforeACrashIsNotPublishedAgain) {
    ASSERT_TRUE(
        std::holds_alternative<json>(records_->create_patient("sol", {{"first_name", "Ana"}})));
    const auto event = bus_->events("sol", "patient.created", 10).at(0);
    // The host died after the bus stored the event and before the stage was cleared.
    database_->with_tenant("sol", [&](soci::session& session) {
        miconsul::storage::run_json_statement(
            session,
            "INSERT INTO record_events (id, type, data, created_at) VALUES (:id, :type, :data,"
            " :created_at)",
            {{"id", event.id},
             {"type", event.type},
             {"data", event.data.dump()},
             {"created_at", event.time}});
    });
    records_->forward("sol");
    EXPECT_EQ(published("patient.created"), 1u);
    EXPECT_EQ(staged(), 0u);
}

TEST_P(RecordsOutboxTest, TheForwarderSendsWhatAStoppedHostLeftStaged) {
    rename_platform_table("events", "events_away");
    ASSERT_TRUE(
        std::holds_alternative<json>(records_->create_patient("sol", {{"first_name", "Ana"}})));
    rename_platform_table("events_away", "events");
    ASSERT_EQ(staged(), 1u);
    // A new host: its forwarder looks at every tenant once at start.
    Records restarted(*database_, *bus_, clock_, miconsul::logging::Log::null());
    restarted.start_forwarding([] { return std::vector<std::string>{"sol"}; },
                               std::chrono::milliseconds(50));
    for (int i = 0; i < 200 && published("patient.created") == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    restarted.stop();
    EXPECT_EQ(published("patient.created"), 1u);
    EXPECT_EQ(staged(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordsOutboxTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
}  // namespace
