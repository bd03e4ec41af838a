// hello — the example plugin. It uses every SDK feature: a public route that reads its
// settings, routes that use its own table (created by its own migration) and publish an event,
// a schedule and an event handler. Copy this folder to start a plugin of your own.
#include <miconsul/plugin.hpp>

namespace {

using miconsul::HttpError;
using miconsul::Json;
using miconsul::Response;

constexpr size_t kMaxNameLength = 100;

std::string required_name(std::string_view name) {
    if (name.empty()) throw HttpError(400, "name is required");
    if (name.size() > kMaxNameLength) throw HttpError(400, "name is longer than 100 characters");
    return std::string(name);
}

class HelloPlugin final : public miconsul::Plugin {
public:
    miconsul::Manifest manifest() const override {
        miconsul::Manifest manifest;
        manifest.name = "hello";
        manifest.version = "1.0.0";
        manifest.scope = "tenant";
        manifest.description = "Greets people; the model plugin to copy.";
        manifest.settings_schema = {
            {"type", "object"},
            {"additionalProperties", false},
            {"properties",
             {{"greeting",
               {{"type", "string"}, {"minLength", 1}, {"maxLength", 80}, {"default", "Hola"}}},
              {"punctuation", {{"enum", Json::array({"", "!", "."})}, {"default", ""}}}}}};
        manifest.migrations = {{1, "greetings table",
                                "CREATE TABLE hello_greetings ("
                                " name TEXT PRIMARY KEY,"
                                " times INTEGER NOT NULL,"
                                " last_greeted_at TEXT NOT NULL)"}};
        manifest.events_emitted = {"hello.greeted"};
        return manifest;
    }

    void register_with(miconsul::Registrar& registrar) override {
        // GET /t/{tenant}/hello/greet?name=Ana → {"message": "Hola, Ana"}
        registrar.route(
            "GET", "/greet",
            [](miconsul::Context& context, const miconsul::Request& request) {
                const std::string name = required_name(request.query("name").value_or(""));
                const Json& settings = context.settings();
                return Response::json({{"message", settings.value("greeting", "Hola") + ", " +
                                                       name + settings.value("punctuation", "")}});
            },
            MC_ACCESS_PUBLIC);

        // POST /t/{tenant}/hello/greetings {"name": "Ana"} → counts it, publishes hello.greeted
        registrar.route(
            "POST", "/greetings", [](miconsul::Context& context, const miconsul::Request& request) {
                const Json body = request.json();
                if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
                    throw HttpError(400, "body must be {\"name\": \"…\"}");
                }
                const std::string name = required_name(body["name"].get<std::string>());
                const Json now = context.now_ms();
                context.sql(
                    "INSERT INTO hello_greetings (name, times, last_greeted_at)"
                    " VALUES (:name, 1, :at) ON CONFLICT (name) DO UPDATE"
                    " SET times = hello_greetings.times + 1,"
                    " last_greeted_at = excluded.last_greeted_at",
                    {{"name", name}, {"at", std::to_string(now.get<int64_t>())}});
                const Json row = context.sql(
                    "SELECT name, times FROM hello_greetings WHERE name = :name", {{"name", name}});
                const std::string event_id = context.publish("hello.greeted", {{"name", name}});
                return Response::json({{"greeting", row.at(0)}, {"event_id", event_id}}, 201);
            });

        // GET /t/{tenant}/hello/greetings → everyone greeted, most greeted first
        registrar.route(
            "GET", "/greetings", [](miconsul::Context& context, const miconsul::Request&) {
                return Response::json(
                    {{"items",
                      context.sql("SELECT name, times, last_greeted_at FROM hello_greetings"
                                  " ORDER BY times DESC, name")}});
            });

        // DELETE /t/{tenant}/hello/greetings → forgets everyone greeted. Only the clinic's
        // admins (a tenant admin token), not the API tokens n8n holds.
        registrar.route(
            "DELETE", "/greetings",
            [](miconsul::Context& context, const miconsul::Request&) {
                const Json result = context.sql("DELETE FROM hello_greetings");
                return Response::json({{"forgotten", result.value("affected_rows", 0)}});
            },
            MC_ACCESS_TENANT_ADMIN);

        // Every day at 09:00 tenant time: log how many people were greeted.
        registrar.schedule("daily-summary", "0 9 * * *", [](miconsul::Context& context) {
            const Json rows = context.sql("SELECT COUNT(*) AS people FROM hello_greetings");
            context.info("people greeted so far: " + rows.at(0).at("people").dump());
        });

        // Every greeting of this tenant: a log line. Delivered at least once: a real handler
        // would use event.id to do its work only once.
        registrar.on_event("log-greeting", "hello.greeted",
                           [](miconsul::Context& context, const miconsul::Event& event) {
                               context.info("greeted " + event.data.value("name", "?"));
                           });
    }
};

}  // namespace

MICONSUL_PLUGIN(HelloPlugin)
