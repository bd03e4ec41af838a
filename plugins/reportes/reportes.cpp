// reportes — Reports: the daily PDF for each doctor and the weekly PDF with trends and charts for
// the clinic's admins.
#include <miconsul/plugin.hpp>

namespace {

class ReportesPlugin final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "reportes";
        manifest.version = "0.1.0";
        manifest.scope = "tenant";
        manifest.description =
            "Reports: the daily PDF for each doctor and the weekly PDF with trends and charts for "
            "the clinic's admins.";
        return manifest;
    }

    void register_with(miconsul::Registrar&) override {}
};

}  // namespace

MICONSUL_PLUGIN(ReportesPlugin)
