// A well-behaved platform plugin, to prove /p/{plugin}/… routes and platform migrations.
#include <miconsul/plugin.hpp>

#include <chrono>
#include <thread>

class PlatformProbe final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest{
            "probe", "0.1.0", "platform", "platform route probe", {{"type", "object"}}, {}, {}};
        manifest.migrations = {{1, "probe table", "CREATE TABLE probe_marks (mark TEXT)"}};
        manifest.events_emitted = {"probe.marked"};
        return manifest;
    }
    void register_with(miconsul::Registrar& registrar) override {
        registrar.route("GET", "/status", [](miconsul::Context& context, const miconsul::Request&) {
            const auto rows = context.sql("SELECT COUNT(*) AS marks FROM probe_marks");
            return miconsul::Response::json(
                {{"tenant", context.tenant()}, {"marks", rows.at(0).at("marks")}});
        });
        // Holds the request for ?ms= milliseconds: proves shutdown lets requests finish.
        registrar.route(
            "GET", "/sleep",
            [](miconsul::Context& context, const miconsul::Request& request) {
                const int ms = std::stoi(std::string(request.query("ms").value_or("100")));
                // Tells a test the request is in flight, so it signals neither too early nor late.
                context.info("probe sleep started");
                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
                return miconsul::Response::json({{"slept_ms", ms}});
            },
            MC_ACCESS_PUBLIC);
        // Publishes an event type the manifest does not declare: the host must refuse it.
        registrar.route("POST", "/publish-undeclared",
                        [](miconsul::Context& context, const miconsul::Request&) {
                            context.publish("probe.undeclared", {});
                            return miconsul::Response::json({});
                        });
        registrar.route("POST", "/publish",
                        [](miconsul::Context& context, const miconsul::Request&) {
                            return miconsul::Response::json(
                                {{"id", context.publish("probe.marked", {{"n", 1}})}}, 201);
                        });
        registrar.route(
            "GET", "/crash",
            [](miconsul::Context& context, const miconsul::Request&) -> miconsul::Response {
                context.sql("SELECT * FROM no_such_table");
                return miconsul::Response::json({});
            });
    }
};
MICONSUL_PLUGIN(PlatformProbe)
