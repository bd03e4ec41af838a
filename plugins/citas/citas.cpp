// citas — Appointments: confirmation when booked, a reminder the day before, a signed link to
// confirm or cancel.
#include <miconsul/plugin.hpp>

namespace {

class CitasPlugin final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "citas";
        manifest.version = "0.1.0";
        manifest.scope = "tenant";
        manifest.description =
            "Appointments: confirmation when booked, a reminder the day before, a signed link to "
            "confirm or cancel.";
        return manifest;
    }

    void register_with(miconsul::Registrar&) override {}
};

}  // namespace

MICONSUL_PLUGIN(CitasPlugin)
