// A tenant plugin whose schedule always fails, to prove failed runs are recorded, visible and
// retryable over the runs API.
#include <miconsul/plugin.hpp>

class FailingSchedule final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"flaky", "1.0.0", "tenant", "fails on schedule", {{"type", "object"}}, {}, {}};
    }
    void register_with(miconsul::Registrar& registrar) override {
        miconsul::ScheduleOptions once;
        once.max_attempts = 1;
        registrar.schedule(
            "explode", "0 0 1 1 *",
            [](miconsul::Context&) { throw std::runtime_error("boom in schedule"); }, once);
    }
};
MICONSUL_PLUGIN(FailingSchedule)
