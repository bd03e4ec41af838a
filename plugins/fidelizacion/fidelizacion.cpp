// fidelizacion — Loyalty: a welcome on a patient's first payment, birthday greetings with a
// discount code.
#include <miconsul/plugin.hpp>

namespace {

class FidelizacionPlugin final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "fidelizacion";
        manifest.version = "0.1.0";
        manifest.scope = "tenant";
        manifest.description =
            "Loyalty: a welcome on a patient's first payment, birthday greetings with a discount "
            "code.";
        return manifest;
    }

    void register_with(miconsul::Registrar&) override {}
};

}  // namespace

MICONSUL_PLUGIN(FidelizacionPlugin)
