// A schedule whose cron expression cannot be parsed: refused at load with the reason.
#include <miconsul/plugin.hpp>

class BadCron final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"bad-cron", "1.0.0", "tenant", "bad cron", {{"type", "object"}}, {}, {}};
    }
    void register_with(miconsul::Registrar& registrar) override {
        registrar.schedule("nightly", "0 25 * * *", [](miconsul::Context&) {});
    }
};
MICONSUL_PLUGIN(BadCron)
