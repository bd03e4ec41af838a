// Two routes of the same method and shape: GET /items/{id} and GET /items/{key} could never
// be told apart, so the plugin is refused whole (neither route is installed).
#include <miconsul/plugin.hpp>

class RouteCollision final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"collider", "1.0.0", "tenant", "collides", {{"type", "object"}}, {}, {}};
    }
    void register_with(miconsul::Registrar& registrar) override {
        auto answer = [](miconsul::Context&, const miconsul::Request&) {
            return miconsul::Response::json({{"ok", true}});
        };
        registrar.route("GET", "/items/{id}", answer);
        registrar.route("GET", "/items/{key}", answer);
    }
};
MICONSUL_PLUGIN(RouteCollision)
