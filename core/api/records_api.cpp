#include "api/records_api.h"

namespace miconsul::api {

namespace {
using http::HttpRequest;
using http::HttpResponse;
using routing::PathParams;

class Handlers {
public:
    explicit Handlers(const RecordsDependencies& deps) : deps_(deps) {}

    // Every route: the credential, then the tenant, then the handler with the tenant's id and
    // time zone.
    template <class Work>
    HttpResponse for_tenant(const HttpRequest& request, const PathParams& params,
                            Work&& work) const {
        return for_active_tenant(deps_.access, deps_.tenants, request, params,
                                 [&](const tenants::TenantSnapshot& tenant) {
                                     return work(tenant.tenant.id, tenant.tenant.timezone);
                                 });
    }

    template <class Create>
    HttpResponse create(const HttpRequest& request, const PathParams& params,
                        Create&& create_record) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            auto parsed = parse_json_object(request);
            if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
            return outcome_response(create_record(tenant, std::get<Json>(parsed)), 201);
        });
    }

    template <class Update>
    HttpResponse update(const HttpRequest& request, const PathParams& params,
                        Update&& update_record) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            auto parsed = parse_json_object(request);
            if (auto* problem = std::get_if<HttpResponse>(&parsed)) return std::move(*problem);
            return outcome_response(
                update_record(tenant, path_param(params, "id"), std::get<Json>(parsed)));
        });
    }

    HttpResponse create_patient(const HttpRequest& request, const PathParams& params) const {
        return create(request, params, [&](const std::string& tenant, const Json& body) {
            return deps_.records.create_patient(tenant, body);
        });
    }

    HttpResponse update_patient(const HttpRequest& request, const PathParams& params) const {
        return update(request, params,
                      [&](const std::string& tenant, const std::string& id, const Json& body) {
                          return deps_.records.update_patient(tenant, id, body);
                      });
    }

    HttpResponse get_patient(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            auto patient = deps_.records.patient(tenant, path_param(params, "id"));
            return patient ? HttpResponse::json(*patient)
                           : HttpResponse::problem(404, "no such patient");
        });
    }

    HttpResponse list_patients(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            auto limit = page_limit(request);
            if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
            return page_response(deps_.records.patients(
                tenant, query_filters(request, {"external_id", "email", "phone"}),
                std::string(request.query_value("cursor")), std::get<size_t>(limit)));
        });
    }

    HttpResponse history(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            auto found = deps_.records.history(tenant, path_param(params, "id"));
            return found ? HttpResponse::json(*found)
                         : HttpResponse::problem(404, "no such patient");
        });
    }

    HttpResponse birthdays(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            return outcome_response(
                deps_.records.birthdays(tenant, std::string(request.query_value("date"))));
        });
    }

    HttpResponse create_doctor(const HttpRequest& request, const PathParams& params) const {
        return create(request, params, [&](const std::string& tenant, const Json& body) {
            return deps_.records.create_doctor(tenant, body);
        });
    }

    HttpResponse update_doctor(const HttpRequest& request, const PathParams& params) const {
        return update(request, params,
                      [&](const std::string& tenant, const std::string& id, const Json& body) {
                          return deps_.records.update_doctor(tenant, id, body);
                      });
    }

    HttpResponse list_doctors(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            auto limit = page_limit(request);
            if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
            return page_response(deps_.records.doctors(
                tenant, std::string(request.query_value("cursor")), std::get<size_t>(limit)));
        });
    }

    HttpResponse create_appointment(const HttpRequest& request, const PathParams& params) const {
        return create(request, params, [&](const std::string& tenant, const Json& body) {
            return deps_.records.create_appointment(tenant, body);
        });
    }

    HttpResponse update_appointment(const HttpRequest& request, const PathParams& params) const {
        return update(request, params,
                      [&](const std::string& tenant, const std::string& id, const Json& body) {
                          return deps_.records.update_appointment(tenant, id, body);
                      });
    }

    HttpResponse list_appointments(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(
            request, params, [&](const std::string& tenant, const std::string& timezone) {
                auto day = records::local_day(std::string(request.query_value("date")), timezone);
                if (!day) {
                    return invalid_fields(
                        "the date is not valid",
                        Json::array(
                            {{{"field", "/date"}, {"message", "must be a date, YYYY-MM-DD"}}}));
                }
                auto limit = page_limit(request);
                if (auto* problem = std::get_if<HttpResponse>(&limit)) return std::move(*problem);
                return page_response(deps_.records.appointments(
                    tenant, *day, query_filters(request, {"doctor_id", "status", "patient_id"}),
                    std::string(request.query_value("cursor")), std::get<size_t>(limit)));
            });
    }

    HttpResponse create_payment(const HttpRequest& request, const PathParams& params) const {
        return create(request, params, [&](const std::string& tenant, const Json& body) {
            return deps_.records.create_payment(tenant, body);
        });
    }

    HttpResponse sales(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(
            request, params, [&](const std::string& tenant, const std::string& timezone) {
                auto day = records::local_day(std::string(request.query_value("date")), timezone);
                if (!day) {
                    return invalid_fields(
                        "the date is not valid",
                        Json::array(
                            {{{"field", "/date"}, {"message", "must be a date, YYYY-MM-DD"}}}));
                }
                return HttpResponse::json(deps_.records.sales(tenant, *day));
            });
    }

    // POST import: JSON lines (application/x-ndjson), at most max_request_bytes per request.
    HttpResponse import_lines(const HttpRequest& request, const PathParams& params) const {
        return for_tenant(request, params, [&](const std::string& tenant, const std::string&) {
            if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) {
                return HttpResponse::problem(400, "the body must hold one JSON object per line");
            }
            return HttpResponse::json(deps_.records.import_lines(tenant, request.body));
        });
    }

private:
    const RecordsDependencies& deps_;
};
}  // namespace

std::vector<routing::RouteDefinition> records_routes(const RecordsDependencies& deps) {
    const auto handlers = std::make_shared<const Handlers>(deps);
    // Each handler checks the credential and the tenant itself (for_tenant).
    auto route = [&](const char* method, const std::string& path, auto member) {
        return routing::RouteDefinition{
            method, "/t/{tenant}/records/" + path, "core",
            [handlers, member](const HttpRequest& request, const PathParams& params) {
                return ((*handlers).*member)(request, params);
            },
            "tenant"};
    };
    return {
        route("POST", "patients", &Handlers::create_patient),
        route("GET", "patients", &Handlers::list_patients),
        route("GET", "patients/{id}", &Handlers::get_patient),
        route("PATCH", "patients/{id}", &Handlers::update_patient),
        route("GET", "patients/{id}/history", &Handlers::history),
        route("GET", "birthdays", &Handlers::birthdays),
        route("POST", "doctors", &Handlers::create_doctor),
        route("GET", "doctors", &Handlers::list_doctors),
        route("PATCH", "doctors/{id}", &Handlers::update_doctor),
        route("POST", "appointments", &Handlers::create_appointment),
        route("GET", "appointments", &Handlers::list_appointments),
        route("PATCH", "appointments/{id}", &Handlers::update_appointment),
        route("POST", "payments", &Handlers::create_payment),
        route("GET", "sales", &Handlers::sales),
        route("POST", "import", &Handlers::import_lines),
    };
}

}  // namespace miconsul::api
