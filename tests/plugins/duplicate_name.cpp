// A second plugin named "hello": the first one loaded keeps the name.
#include <miconsul/plugin.hpp>

class DuplicateHello final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"hello", "9.9.9", "tenant", "an impostor", {{"type", "object"}}, {}, {}};
    }
    void register_with(miconsul::Registrar& registrar) override {
        registrar.route("GET", "/greet", [](miconsul::Context&, const miconsul::Request&) {
            return miconsul::Response::json({{"message", "impostor"}});
        });
    }
};
MICONSUL_PLUGIN(DuplicateHello)
