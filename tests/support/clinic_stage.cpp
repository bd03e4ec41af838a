#include "support/clinic_stage.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace miconsul::testing {

using nlohmann::json;

ClinicStage::ClinicStage(const std::string& backend, const std::vector<std::string>& plugins,
                         const std::map<std::string, std::string>& environment) {
    const auto plugin_dir = scratch_.path() / "plugins";
    std::filesystem::create_directories(plugin_dir);
    for (const auto& plugin : plugins) {
        std::filesystem::create_symlink(shipped_plugin_dir() / (plugin + ".so"),
                                        plugin_dir / (plugin + ".so"));
    }
    std::map<std::string, std::string> variables = {
        {"MICONSUL_SMTP_URL", smtp_.url()},
        {"MICONSUL_SMTP_FROM", "Clínica Sol <avisos@miconsul.mx>"},
        {"MICONSUL_SMTP_STARTTLS", "false"},
        {"MICONSUL_YCLOUD_URL", ycloud_.url("")},
        {"MICONSUL_SECRET_KEY", std::string(64, 'a')}};
    for (const auto& [name, value] : environment) variables[name] = value;
    const std::string database_url =
        backend == "postgresql" ? create_postgres_database(*postgres_admin_url()) : "";
    host_ = std::make_unique<HostProcess>(
        HostOptions{scratch_.path(), plugin_dir, database_url, variables});
    for (const auto& [id, name] : {std::pair{"sol", "Clínica Sol"}, {"luna", "Clínica Luna"}}) {
        const auto tenant = send("POST", "/api/v1/tenants",
                                 {{"id", id}, {"name", name}, {"timezone", "America/Mexico_City"}});
        if (tenant.status != 201)
            throw std::runtime_error("tenant " + std::string(id) + ": " + tenant.body);
        const auto messaging = send(
            "PUT", std::string("/api/v1/tenants/") + id + "/messaging",
            {{"whatsapp", {{"from", "+525500000000"}, {"api_key", std::string("key-") + id}}}});
        if (messaging.status != 200) throw std::runtime_error("messaging: " + messaging.body);
    }
}

HttpResult ClinicStage::send(const std::string& method, const std::string& path,
                             const json& body) const {
    return host_->http().send(method, path, body.dump(), {kAdminHeader});
}

std::string ClinicStage::create(const std::string& tenant, const std::string& kind,
                                const json& body) const {
    const auto created = send("POST", "/t/" + tenant + "/records/" + kind, body);
    EXPECT_EQ(created.status, 201) << kind << ": " << created.body;
    return json::parse(created.body, nullptr, false).value("id", "");
}

HttpResult ClinicStage::run(const std::string& tenant, const std::string& plugin,
                            const std::string& schedule, const std::string& as_of) const {
    return send(
        "POST",
        "/api/v1/tenants/" + tenant + "/plugins/" + plugin + "/schedules/" + schedule + "/run",
        {{"as_of", as_of}, {"wait", true}});
}

std::string ClinicStage::api_token(const std::string& tenant) const {
    const auto token =
        send("POST", "/api/v1/tenants/" + tenant + "/tokens", {{"kind", "api"}, {"label", "n8n"}});
    if (token.status != 201) throw std::runtime_error("token: " + token.body);
    return json::parse(token.body)["token"].get<std::string>();
}

json ClinicStage::messages(const std::string& tenant) const {
    const auto answer =
        host_->http().get("/api/v1/tenants/" + tenant + "/messages?limit=200", {kAdminHeader});
    EXPECT_EQ(answer.status, 200) << answer.body;
    return json::parse(answer.body, nullptr, false).value("items", json::array());
}

}  // namespace miconsul::testing
