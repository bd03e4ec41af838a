// Counts what it is asked to do, in its own table, so multi-instance and crash tests can see
// whether each scheduled instant and each event was handled exactly once.
#include <miconsul/plugin.hpp>

#include <chrono>
#include <thread>

namespace {
void record(miconsul::Context& context, const std::string& kind, const std::string& key) {
    context.sql("INSERT INTO counter_hits (kind, hit_key) VALUES (:kind, :key)",
                {{"kind", kind}, {"key", key}});
}
}  // namespace

class Counter final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest{"counter", "1.0.0", "tenant", "counts", {{"type", "object"}},
                                    {}, {}};
        manifest.migrations = {{1, "hits", "CREATE TABLE counter_hits (kind TEXT, hit_key TEXT)"}};
        return manifest;
    }
    void register_with(miconsul::Registrar& registrar) override {
        registrar.schedule("every-second", "* * * * * *", [](miconsul::Context& context) {
            record(context, "tick", std::to_string(context.scheduled_at_ms()));
        });
        registrar.schedule("slow", "0 0 1 1 *", [](miconsul::Context& context) {
            context.info("slow run started");
            std::this_thread::sleep_for(std::chrono::seconds(3));
            record(context, "slow-run", std::to_string(context.scheduled_at_ms()));
        });
        registrar.on_event("count", "counter.bump", [](miconsul::Context& context,
                                                       const miconsul::Event& event) {
            record(context, "event", std::string(event.id));
        });
        registrar.on_event("slow", "counter.slow", [](miconsul::Context& context,
                                                      const miconsul::Event& event) {
            context.info("slow event started");
            std::this_thread::sleep_for(std::chrono::seconds(3));
            record(context, "slow-event", std::string(event.id));
        });
        registrar.route("GET", "/hits", [](miconsul::Context& context, const miconsul::Request&) {
            return miconsul::Response::json(context.sql(
                "SELECT kind, COUNT(*) AS hits, COUNT(DISTINCT hit_key) AS distinct_keys"
                " FROM counter_hits GROUP BY kind ORDER BY kind"));
        });
    }
};
MICONSUL_PLUGIN(Counter)
