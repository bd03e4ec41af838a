// A plugin whose manifest() throws: refused, with the exception's text as the reason.
#include <miconsul/plugin.hpp>

class ManifestThrows final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        throw std::runtime_error("settings file missing at build time");
    }
    void register_with(miconsul::Registrar&) override {}
};
MICONSUL_PLUGIN(ManifestThrows)
