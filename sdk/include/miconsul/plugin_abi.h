/*
 * MiConsul Host plugin ABI — the binary contract between the host and a plugin library.
 *
 * Rules that keep this contract stable:
 *  - Only C types cross it: integers, NUL-terminated UTF-8 strings, byte ranges and JSON text.
 *    No C++ object and no exception ever crosses it.
 *  - Every struct starts with `struct_size`, set by whoever fills the struct to sizeof() of the
 *    definition it was compiled against. A reader that knows a newer, larger struct reads only
 *    the fields that fit inside `struct_size`; new fields are only ever appended.
 *  - MC_ABI_MAJOR changes when something is removed or changes meaning; the host refuses a
 *    plugin of another major. MC_ABI_MINOR grows when something is appended; the host refuses a
 *    plugin built against a newer minor than its own, because the plugin may call what the
 *    host does not have.
 *  - Functions report failure as an mc_status; the reason is text readable through
 *    mc_host_api.last_error for the same context.
 *
 * Ownership, everywhere unless a field says otherwise: pointers handed to a callee are owned by
 * the caller and valid only for the duration of that call. The callee copies what it keeps.
 */
#ifndef MICONSUL_PLUGIN_ABI_H
#define MICONSUL_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_ABI_MAJOR 1
#define MC_ABI_MINOR 3

/* Name of the one symbol a plugin library exports (see mc_plugin_entry_fn). */
#define MC_PLUGIN_ENTRY_SYMBOL "miconsul_plugin_entry"

#if defined(__GNUC__)
#define MC_EXPORT __attribute__((visibility("default")))
#else
#define MC_EXPORT
#endif

typedef enum mc_status {
    MC_OK = 0,
    MC_ERR_INVALID_ARGUMENT = 1, /* the caller passed something malformed */
    MC_ERR_NOT_FOUND = 2,        /* the thing asked for does not exist */
    MC_ERR_CONFLICT = 3,         /* it collides with something that exists */
    MC_ERR_UNAVAILABLE = 4,      /* a dependency (database, bus) cannot be reached now */
    MC_ERR_INTERNAL = 5          /* anything else; see last_error */
} mc_status;

typedef enum mc_log_level {
    MC_LOG_DEBUG = 0,
    MC_LOG_INFO = 1,
    MC_LOG_WARN = 2,
    MC_LOG_ERROR = 3
} mc_log_level;

/* Who may call a route. The host enforces it before the handler runs. */
typedef enum mc_route_access {
    MC_ACCESS_TENANT = 0, /* a credential for this tenant (or a platform admin) is required */
    MC_ACCESS_PUBLIC = 1, /* anyone; for links in messages, webhooks with their own signature */
    /* Since ABI 1.2: a tenant admin token of this tenant (or a platform admin), not the API
     * tokens n8n and the legacy system hold; for a plugin's settings pages and exports. */
    MC_ACCESS_TENANT_ADMIN = 2
} mc_route_access;

/* Opaque handles. The host owns them; a plugin only passes them back. */
typedef struct mc_context mc_context;     /* one call: a request, a scheduled run or an event */
typedef struct mc_registrar mc_registrar; /* valid only during register_plugin */
typedef struct mc_response mc_response;   /* valid only during a route handler */

/* Receives bytes produced by the host (query results). `data` is valid only during the call. */
typedef struct mc_sink {
    void* user_data;
    void (*write)(void* user_data, const char* data, size_t size);
} mc_sink;

typedef struct mc_key_value {
    const char* key;
    const char* value;
} mc_key_value;

/* What every call carries. Owned by the host, valid for the duration of the call. */
typedef struct mc_call {
    uint32_t struct_size;
    mc_context* context;         /* pass back to mc_host_api functions */
    const char* plugin;          /* this plugin's name */
    const char* tenant_id;       /* "" for a platform-scope call */
    const char* tenant_timezone; /* IANA name, e.g. "America/Mexico_City"; "UTC" if none */
    const char* tenant_locale;   /* BCP 47, e.g. "es-MX"; "" if none */
    const char* settings_json;   /* the tenant's effective settings (a JSON object) */
    const char* request_id;      /* correlates logs of one call */
    int64_t scheduled_at_ms;     /* Unix ms of the scheduled instant for runs; 0 otherwise */
    /* Since ABI 1.3 (read it only when struct_size covers it): */
    const char* tenant_name; /* the clinic's name, e.g. "Clínica Sol"; "" for platform calls */
} mc_call;

typedef struct mc_request {
    uint32_t struct_size;
    const char* method;        /* "GET", "POST", ... */
    const char* path;          /* full path, without the query string */
    const mc_key_value* path_params; /* values of {name} segments of the route pattern */
    size_t path_param_count;
    const mc_key_value* query; /* decoded query parameters, in request order */
    size_t query_count;
    const mc_key_value* headers; /* header names lower-cased */
    size_t header_count;
    const char* body; /* bytes, not NUL-terminated */
    size_t body_size;
} mc_request;

/* Returns MC_OK, or an error and sets the response itself (else the host answers 500). */
typedef mc_status (*mc_route_fn)(void* user_data, const mc_call* call, const mc_request* request,
                                  mc_response* response);

typedef struct mc_route_spec {
    uint32_t struct_size;
    const char* method; /* GET, POST, PUT, PATCH, DELETE */
    /* Relative to the plugin's mount: "/greet" answers /t/{tenant}/<plugin>/greet for a
     * tenant plugin and /p/<plugin>/greet for a platform plugin. Segments in braces are
     * parameters: "/patients/{id}". */
    const char* path;
    mc_route_access access;
    mc_route_fn handler;
    void* user_data; /* passed back to handler; owned by the plugin, must live forever */
} mc_route_spec;

typedef mc_status (*mc_schedule_fn)(void* user_data, const mc_call* call);

typedef struct mc_schedule_spec {
    uint32_t struct_size;
    const char* name; /* unique within the plugin: [a-z0-9_-]{1,64} */
    const char* cron; /* five fields (optional leading seconds field), in the tenant's zone */
    /* JSON object of options, or NULL for defaults: {"misfire": "skip"|"run_once",
     * "misfire_grace_s": 0-86400 (60), "timeout_s": 1-86400 (300), "max_attempts": 1-20 (3)}.
     * An invalid cron or option refuses the schedule with the reason. */
    const char* options_json;
    mc_schedule_fn handler;
    void* user_data;
} mc_schedule_spec;

typedef struct mc_event {
    uint32_t struct_size;
    const char* id;     /* unique; handlers use it to be idempotent */
    const char* type;   /* e.g. "payment.received" */
    const char* tenant; /* tenant id, "" for platform events */
    const char* source; /* "core" or the emitting plugin's name */
    const char* time;   /* RFC 3339 UTC */
    const char* data_json;
} mc_event;

typedef mc_status (*mc_event_fn)(void* user_data, const mc_call* call, const mc_event* event);

typedef struct mc_event_handler_spec {
    uint32_t struct_size;
    const char* name;       /* unique within the plugin: [a-z0-9_-]{1,64} */
    /* An exact type of dot-separated lower-case words ("payment.received"), or a prefix of
     * such words ending in ".*" ("payment.*"). */
    const char* event_type;
    mc_event_fn handler;
    void* user_data;
} mc_event_handler_spec;

/*
 * Services the host offers. One table, owned by the host, valid for the life of the process.
 * Every function is safe to call from any thread, with a context of the call in progress.
 */
typedef struct mc_host_api {
    uint32_t struct_size;
    uint32_t abi_major; /* the host's ABI, so a plugin can check for optional features */
    uint32_t abi_minor;

    /* --- Registration: only inside register_plugin, with the registrar it was given. --- */
    /* Each copies the spec's strings. Returns MC_ERR_INVALID_ARGUMENT for a malformed spec and
     * MC_ERR_CONFLICT for a schedule or handler name used twice; the reason is in
     * registrar_error. Routes that collide (same method and path shape) are refused when the
     * host installs them, after register_plugin returns, and refuse the whole plugin. */
    mc_status (*add_route)(mc_registrar* registrar, const mc_route_spec* spec);
    mc_status (*add_schedule)(mc_registrar* registrar, const mc_schedule_spec* spec);
    mc_status (*add_event_handler)(mc_registrar* registrar, const mc_event_handler_spec* spec);
    /* The reason of the last failed registration call, or of the plugin's own failure set
     * with registrar_fail. Owned by the host; valid until the next registrar call. */
    const char* (*registrar_error)(mc_registrar* registrar);
    /* Lets the plugin explain why it returns an error from register_plugin. Copies `reason`. */
    void (*registrar_fail)(mc_registrar* registrar, const char* reason);

    /* --- Responses: only inside a route handler. Each copies its arguments. --- */
    void (*response_set_status)(mc_response* response, int status);
    void (*response_add_header)(mc_response* response, const char* name, const char* value);
    void (*response_set_body)(mc_response* response, const char* data, size_t size);

    /* --- Services for any call. --- */
    void (*log)(mc_context* context, mc_log_level level, const char* message);
    /* Unix time in ms. Use this rather than the system clock: tests control it. */
    int64_t (*now_ms)(mc_context* context);
    /* Runs one SQL statement on the tenant's own database (the platform database for a
     * platform plugin). Parameters are bound, never spliced. Placeholders are :name; `params_json`
     * is NULL (no placeholders), a JSON object (bound by name), or a JSON array (bound to the
     * distinct names in the order each first appears). A statement with result columns writes
     * its rows to `result_out` as a JSON array of objects (column name → value: integer, number,
     * string or null); any other writes {"affected_rows": N}. Returns MC_ERR_INVALID_ARGUMENT
     * for unusable parameters or several statements, MC_ERR_INTERNAL for an SQL error. */
    mc_status (*sql)(mc_context* context, const char* statement, const char* params_json,
                     const mc_sink* result_out);
    /* Publishes an event {type, data} for the call's tenant, with this plugin as source.
     * `type` must be listed in the manifest's events_emitted; `data_json` must be a JSON
     * object. The event is stored before this returns. Writes its id to `id_out` (may be
     * NULL). */
    mc_status (*publish_event)(mc_context* context, const char* type, const char* data_json,
                               const mc_sink* id_out);
    /* The reason of the last failed call on this context. Owned by the host; valid until
     * the next call with the same context. Never NULL. */
    const char* (*last_error)(mc_context* context);

    /* --- Since ABI 1.1. Check abi_minor >= 1 before calling from a plugin that also runs on
     * older hosts. --- */
    /* Reads the clinic's records (patients, doctors, appointments, payments) of the call's
     * tenant: `query_json` is one query, such as {"query": "birthdays", "date": "2026-12-01"};
     * the answer (JSON) goes to `result_out`. Dates are local days in the tenant's time zone.
     * Queries and answers: docs/sdk.md, "Records". MC_ERR_INVALID_ARGUMENT for a malformed
     * query or a platform-scope call; MC_ERR_INTERNAL when the database fails. */
    mc_status (*records)(mc_context* context, const char* query_json, const mc_sink* result_out);

    /* --- Since ABI 1.2. --- */
    /* Queues an email or WhatsApp message for the call's tenant. `message_json` is an object:
     * {"channel": "email"|"whatsapp", "idempotency_key", "template" (a name from the
     * manifest's "templates", overridable by the tenant's settings) or "content" ({"subject",
     * "text", "html"}), "data" (the template's variables), "patient_id" and/or "to",
     * "language", "attachments": [{"filename", "content_type", "content_base64"}]}. The message
     * is stored before this returns; the same idempotency_key again answers the first message
     * and sends nothing more. Writes {"id", "status", "duplicate"} to `result_out` (may be
     * NULL). MC_ERR_INVALID_ARGUMENT for a bad request or a template that cannot be rendered
     * (the reason names the missing variable), MC_ERR_NOT_FOUND for an unknown patient,
     * MC_ERR_UNAVAILABLE when the outbox cannot store it now. See docs/messages.md. */
    mc_status (*queue_message)(mc_context* context, const char* message_json,
                               const mc_sink* result_out);

    /* --- Since ABI 1.3. Also since 1.3: a schedule's cron may name an integer setting in
     * place of a field's value, "0 {reminder_hour} * * *", and fires for each tenant when its
     * settings say (the schema must give that setting type integer and a default). --- */
    /* The tenant's wall clock at a Unix instant (ms), in the call's time zone. Writes
     * {"date": "2026-12-01", "time": "18:00:00", "hour": 18, "minute": 0, "weekday": 2 (ISO:
     * Monday 1 … Sunday 7), "iso_week": "2026-W49", "utc_offset_minutes": -360, "timezone":
     * "America/Mexico_City"} to `result_out`. MC_ERR_INVALID_ARGUMENT outside the years
     * 1970–9999. */
    mc_status (*local_time)(mc_context* context, int64_t unix_ms, const mc_sink* result_out);
    /* Changes one of the tenant's records as PATCH /t/{tenant}/records/… would, with the same
     * validation and the same event (appointment.updated, appointment.cancelled,
     * patient.updated): `change_json` is {"kind": "appointment"|"patient", "id", "changes":
     * {field: value}}, and for an appointment optionally "only_from_status": [statuses] — the
     * change happens only if the stored status is one of them, checked in the change's own
     * transaction (else MC_ERR_CONFLICT). Writes the record as changed to `result_out`. MC_ERR_INVALID_ARGUMENT
     * for a bad change (the reason names each failing field), MC_ERR_NOT_FOUND for an unknown
     * record, MC_ERR_CONFLICT for a double booking. */
    mc_status (*change_record)(mc_context* context, const char* change_json,
                               const mc_sink* result_out);
    /* Batches of the two calls a scheduled run makes most, each stored in one transaction
     * (one call per message costs a transaction each: see docs/performance.md).
     * queue_messages: `messages_json` is an array of at most 1,000 messages as for
     * queue_message. Each is checked alone: writes an array, in order, of {"id", "status",
     * "duplicate"} for a message stored, or {"error": reason, "not_found": bool} for one
     * refused (the others are stored all the same). MC_ERR_INVALID_ARGUMENT when it is not such
     * an array; MC_ERR_UNAVAILABLE when the batch could not be stored (none of it was). */
    mc_status (*queue_messages)(mc_context* context, const char* messages_json,
                                const mc_sink* result_out);
    /* publish_events: `events_json` is an array of at most 1,000 {"type", "data"} as for
     * publish_event; all are stored or none (an invalid one refuses the batch, naming its
     * index). Writes the ids, a JSON array in order. */
    mc_status (*publish_events)(mc_context* context, const char* events_json,
                                const mc_sink* ids_out);
} mc_host_api;

/* What a plugin library describes itself with. Owned by the plugin; must live forever. */
typedef struct mc_plugin {
    uint32_t struct_size;
    uint32_t abi_major; /* MC_ABI_MAJOR the plugin was built against */
    uint32_t abi_minor; /* MC_ABI_MINOR the plugin was built against */
    /* UTF-8 JSON: {"name", "version" (semver), "scope": "tenant"|"platform", "description",
     * "settings_schema" (JSON Schema with defaults), "migrations": [{"version", "description",
     * "sql"}], "events_emitted": [...], "templates" (message templates, since ABI 1.2)}.
     * See docs/sdk.md. */
    const char* manifest_json;
    /* Called once, after the manifest was accepted. Registers routes, schedules and handlers
     * through `host` and `registrar`. Returns MC_OK, or an error after registrar_fail. On error
     * nothing the plugin registered is kept. */
    mc_status (*register_plugin)(const mc_host_api* host, mc_registrar* registrar);
} mc_plugin;

/* The exported entry point, named MC_PLUGIN_ENTRY_SYMBOL. Must not throw, must do no work
 * beyond returning its descriptor. */
typedef const mc_plugin* (*mc_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MICONSUL_PLUGIN_ABI_H */
