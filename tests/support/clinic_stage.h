// The stage of the clinic plugins' end-to-end tests: the real host loading some shipped
// plugins, a real SMTP server, a local stand-in for YCloud, and two clinics in Mexico City —
// "sol" (Clínica Sol) and "luna" (Clínica Luna) — with WhatsApp configured. Each test then
// enables what it needs, seeds records and runs schedules over HTTP.
#pragma once

#include "support/host_process.h"
#include "support/http_receiver.h"
#include "support/smtp_receiver.h"
#include "support/test_environment.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace miconsul::testing {

class ClinicStage {
public:
    /// Starts everything on `backend` ("sqlite", or "postgresql": a fresh database; callers
    /// skip first with MICONSUL_REQUIRE_POSTGRES()). `plugins` are shipped plugins' names;
    /// `environment` adds or overrides MICONSUL_* variables. Throws when a step fails.
    ClinicStage(const std::string& backend, const std::vector<std::string>& plugins,
                const std::map<std::string, std::string>& environment = {});

    HostProcess& host() { return *host_; }
    SmtpReceiver& smtp() { return smtp_; }
    HttpReceiver& ycloud() { return ycloud_; }

    /// A request as the platform admin, with a JSON body.
    HttpResult send(const std::string& method, const std::string& path,
                    const nlohmann::json& body) const;
    /// Creates a record (`kind`: patients, doctors, appointments, payments); its id, or ""
    /// after a test failure naming the answer.
    std::string create(const std::string& tenant, const std::string& kind,
                       const nlohmann::json& body) const;
    /// Runs a plugin's schedule as of an instant, waiting for it; the answer.
    HttpResult run(const std::string& tenant, const std::string& plugin,
                   const std::string& schedule, const std::string& as_of) const;
    /// A new API token of the tenant (what n8n holds).
    std::string api_token(const std::string& tenant) const;
    /// The tenant's messages, newest first (at most 200).
    nlohmann::json messages(const std::string& tenant) const;

private:
    ScratchDirectory scratch_;
    SmtpReceiver smtp_;
    HttpReceiver ycloud_;
    std::unique_ptr<HostProcess> host_;
};

/// The fixture of a plugin's end-to-end tests, on the backend its parameter names. Call
/// set_the_stage() from SetUp after the PostgreSQL skip, which must stay in SetUp itself
/// (MICONSUL_REQUIRE_POSTGRES returns from the function it is written in).
class ClinicStageTest : public ::testing::TestWithParam<std::string> {
protected:
    void set_the_stage(const std::vector<std::string>& plugins,
                       const std::map<std::string, std::string>& environment = {}) {
        stage_ = std::make_unique<ClinicStage>(GetParam(), plugins, environment);
        host_ = &stage_->host();
        smtp_ = &stage_->smtp();
        ycloud_ = &stage_->ycloud();
    }
    HttpResult send(const std::string& method, const std::string& path,
                    const nlohmann::json& body) const {
        return stage_->send(method, path, body);
    }
    std::string create(const std::string& tenant, const std::string& kind,
                       const nlohmann::json& body) const {
        return stage_->create(tenant, kind, body);
    }

    std::unique_ptr<ClinicStage> stage_;
    HostProcess* host_ = nullptr;  // the stage's, as the tests reach them
    SmtpReceiver* smtp_ = nullptr;
    HttpReceiver* ycloud_ = nullptr;
};

}  // namespace miconsul::testing
