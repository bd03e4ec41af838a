#include "bus/event_store.h"

#include "clock/clock.h"
#include "ids/ids.h"

namespace miconsul::bus {

std::string store_event(storage::Database& database, const std::string& tenant_id,
                        const std::string& source, const std::string& type,
                        const nlohmann::json& data) {
    const std::string id = ids::random_uuid();
    const std::string time = clock::now_text();
    const std::string data_text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    database.with_platform([&](soci::session& session) {
        session << "INSERT INTO events (id, type, tenant_id, source, time, data)"
                   " VALUES (:id, :type, :tenant, :source, :time, :data)",
            soci::use(id, "id"), soci::use(type, "type"), soci::use(tenant_id, "tenant"),
            soci::use(source, "source"), soci::use(time, "time"), soci::use(data_text, "data");
    });
    return id;
}

}  // namespace miconsul::bus
