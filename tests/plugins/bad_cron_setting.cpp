// A schedule whose cron names a setting the schema does not give as an integer with a default:
// refused at load with the reason, since no tenant could be planned from it.
#include <miconsul/plugin.hpp>

class BadCronSetting final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"bad-cron-setting",
                "1.0.0",
                "tenant",
                "cron names a text setting",
                {{"type", "object"},
                 {"properties", {{"hour", {{"type", "string"}, {"default", "8"}}}}}},
                {},
                {}};
    }
    void register_with(miconsul::Registrar& registrar) override {
        registrar.schedule("nightly", "0 {hour} * * *", [](miconsul::Context&) {});
    }
};
MICONSUL_PLUGIN(BadCronSetting)
