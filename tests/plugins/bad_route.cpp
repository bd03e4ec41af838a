// A route pattern the router cannot parse: refused at registration, with the pattern's fault.
#include <miconsul/plugin.hpp>

class BadRoute final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"bad-route", "1.0.0", "tenant", "bad pattern", {{"type", "object"}}, {}, {}};
    }
    void register_with(miconsul::Registrar& registrar) override {
        registrar.route("GET", "/items/{bad-name}",
                        [](miconsul::Context&, const miconsul::Request&) {
                            return miconsul::Response::json({});
                        });
    }
};
MICONSUL_PLUGIN(BadRoute)
