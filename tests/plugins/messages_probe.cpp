// Queues messages through the SDK as the clinic plugins do, with templates of its own that a
// tenant may override in its settings. POST /send queues the body as it comes and answers the
// host's result, or its refusal as 400/404.
#include <miconsul/plugin.hpp>

class MessagesProbe final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "messages-probe";
        manifest.version = "1.0.0";
        manifest.scope = "tenant";
        manifest.description = "queues messages through the SDK";
        manifest.settings_schema = {
            {"type", "object"},
            {"properties",
             {{"templates", {{"type", "object"}, {"default", miconsul::Json::object()}}}}}};
        manifest.templates = {
            {"welcome",
             {{"es",
               {{"subject", "¡Bienvenida, {{patient.first_name}}!"},
                {"text", "Hola {{patient.first_name}}, gracias por su primer pago en {{clinic}}."},
                {"html", "<p>Hola <b>{{patient.first_name}}</b>, gracias, {{clinic}}.</p>"},
                {"whatsapp", "Hola {{patient.first_name}}, bienvenida a {{clinic}}."}}},
              {"en",
               {{"subject", "Welcome, {{patient.first_name}}!"},
                {"text", "Hello {{patient.first_name}}, thank you, {{clinic}}."}}},
              {"sample", {{"patient", {{"first_name", "Ana"}}}, {"clinic", "Clínica Sol"}}}}}};
        manifest.events_emitted = {"probe.noted"};
        return manifest;
    }
    void register_with(miconsul::Registrar& registrar) override {
        // The batch forms (ABI 1.3): the body goes as it comes, the host's answer comes back.
        registrar.route(
            "POST", "/send-many", [](miconsul::Context& context, const miconsul::Request& request) {
                try {
                    return miconsul::Response::json(context.queue_messages(request.json()), 201);
                } catch (const miconsul::HostError& refusal) {
                    return miconsul::Response::problem(400, refusal.what());
                }
            });
        registrar.route("POST", "/publish-many",
                        [](miconsul::Context& context, const miconsul::Request& request) {
                            try {
                                return miconsul::Response::json(
                                    context.publish_many(request.json()), 201);
                            } catch (const miconsul::HostError& refusal) {
                                return miconsul::Response::problem(400, refusal.what());
                            }
                        });
        registrar.route(
            "POST", "/send", [](miconsul::Context& context, const miconsul::Request& request) {
                try {
                    return miconsul::Response::json(context.queue_message(request.json()), 201);
                } catch (const miconsul::HostError& refusal) {
                    return miconsul::Response::problem(
                        refusal.status() == MC_ERR_NOT_FOUND ? 404 : 400, refusal.what());
                }
            });
    }
};
MICONSUL_PLUGIN(MessagesProbe)
