// A plugin whose registration throws: refused with the exception's text.
#include <miconsul/plugin.hpp>

class ThrowsOnRegister final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"throws", "1.0.0", "tenant", "throws while registering", {{"type", "object"}},
                {}, {}};
    }
    void register_with(miconsul::Registrar&) override {
        throw std::runtime_error("cannot reach the payment gateway");
    }
};
MICONSUL_PLUGIN(ThrowsOnRegister)
