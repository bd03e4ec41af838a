// Reads the clinic's records through the SDK, as the clinic plugins do: each route answers
// what the matching Context helper returned, or the host's refusal as a 400.
#include <miconsul/plugin.hpp>

namespace {
miconsul::Response answer(const std::function<miconsul::Json()>& read) {
    try {
        return miconsul::Response::json(read());
    } catch (const miconsul::HostError& refusal) {
        return miconsul::Response::problem(400, refusal.what());
    }
}

std::string param(const miconsul::Request& request, std::string_view name) {
    return std::string(request.query(name).value_or(""));
}
}  // namespace

class RecordsProbe final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        return {"records-probe",      "1.0.0", "tenant", "reads records through the SDK",
                {{"type", "object"}}, {},      {}};
    }
    void register_with(miconsul::Registrar& registrar) override {
        using miconsul::Context;
        using miconsul::Request;
        registrar.route("GET", "/query", [](Context& context, const Request& request) {
            return answer(
                [&] { return context.records(miconsul::Json::parse(param(request, "q"))); });
        });
        registrar.route("GET", "/birthdays", [](Context& context, const Request& request) {
            return answer([&] { return context.birthdays_on(param(request, "date")); });
        });
        registrar.route("GET", "/appointments", [](Context& context, const Request& request) {
            return answer([&] {
                return context.appointments_on(param(request, "date"),
                                               {{"status", param(request, "status")}});
            });
        });
        registrar.route("GET", "/patient", [](Context& context, const Request& request) {
            return answer([&] {
                const std::string id = param(request, "id");
                return miconsul::Json{{"patient", context.patient(id)},
                                      {"history", context.patient_history(id)},
                                      {"first_payment", context.first_payment(id)}};
            });
        });
        registrar.route("GET", "/local-time", [](Context& context, const Request& request) {
            return answer([&] {
                const auto local = context.local_time(std::stoll(param(request, "ms")));
                return miconsul::Json{
                    {"date", local.date},         {"time", local.time},
                    {"hour", local.hour},         {"weekday", local.weekday},
                    {"iso_week", local.iso_week}, {"offset", local.utc_offset_minutes}};
            });
        });
        registrar.route("GET", "/accept", [](Context&, const Request& request) {
            return miconsul::Response::json({{"accept", request.header("accept")}});
        });
        registrar.route("POST", "/change", [](Context& context, const Request& request) {
            try {
                const auto body = request.json();
                return miconsul::Response::json(context.change_record(
                    body.value("kind", ""), body.value("id", ""),
                    body.value("changes", miconsul::Json()),
                    body.value("only_from_status", std::vector<std::string>{})));
            } catch (const miconsul::HostError& refusal) {
                const int status = refusal.status() == MC_ERR_NOT_FOUND  ? 404
                                   : refusal.status() == MC_ERR_CONFLICT ? 409
                                                                         : 400;
                return miconsul::Response::problem(status, refusal.what());
            }
        });
        registrar.route("GET", "/summary", [](Context& context, const Request& request) {
            return answer([&] {
                return context.records_summary(param(request, "from"), param(request, "to"));
            });
        });
    }
};
MICONSUL_PLUGIN(RecordsProbe)
