/* The routing table. First match of method and pattern wins; "{}" is one path segment. */
#include "server/api.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/store-sessions.h"

#define DEV "/v1/devices/{}"
#define DEP DEV "/deployments/{}"

const struct srv_route srv_routes[] = {
    {"GET", "/healthz", SRV_AUTH_NONE, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_healthz, NULL},
    {"GET", "/metrics", SRV_AUTH_NONE, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_metrics, NULL},
    {"POST", "/v1/devices", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     srv_api_devices_create, NULL},
    {"GET", "/v1/devices", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_devices_list,
     NULL},
    {"GET", DEV, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_devices_get, NULL},
    {"DELETE", DEV, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_devices_delete, NULL},
    {"PATCH", DEV, SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY, srv_api_devices_patch, NULL},
    {"POST", DEV "/token", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     srv_api_devices_token_rotate, NULL},
    {"DELETE", DEV "/token", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_devices_token_revoke, NULL},
    {"GET", DEV "/windows", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_windows_list,
     NULL},
    {"POST", DEV "/windows", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY, srv_api_windows_add,
     NULL},
    {"DELETE", DEV "/windows/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_windows_delete, NULL},
    /* image prefetch (api-prefetch.c) */
    {"GET", DEV "/prefetch", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_prefetch_list, NULL},
    {"POST", DEV "/prefetch", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     srv_api_prefetch_add, NULL},
    {"DELETE", DEV "/prefetch", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_prefetch_clear, NULL},
    {"GET", DEV "/status", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_status, NULL},
    {"GET", DEV "/reports", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_reports_query,
     NULL},
    {"POST", DEV "/deployments", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     srv_api_deployments_create, NULL},
    {"GET", DEV "/deployments", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_deployments_list, NULL},
    {"GET", DEP, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_deployments_get, NULL},
    {"DELETE", DEP, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_deployments_delete,
     NULL},
    {"POST", DEP "/activate", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     srv_api_deployments_activate, NULL},
    {"GET", DEP "/revisions", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_deployments_revisions, NULL},
    {"POST", DEP "/jobs", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_SPEC_BODY, srv_api_jobs_put, NULL},
    {"DELETE", DEP "/jobs/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_jobs_delete, NULL},
    {"PUT", "/v1/bundles/{}", SRV_AUTH_ADMIN, SRV_BODY_STREAM, SRV_MAX_BUNDLE, srv_api_bundles_put,
     srv_api_bundles_chunk},
    {"GET", "/v1/bundles/{}", SRV_AUTH_BUNDLE, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_bundles_get, NULL},
    {"HEAD", "/v1/bundles/{}", SRV_AUTH_BUNDLE, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_bundles_get, NULL},
    {"POST", "/v1/agent/sync", SRV_AUTH_DEVICE, SRV_BODY_JSON, SRV_MAX_SYNC_BODY, srv_api_sync,
     NULL},
    /* sync execution (api-sessions.c) */
    {"POST", DEV "/sessions", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_SESSION_BODY,
     srv_api_sessions_create, NULL},
    {"GET", DEV "/sessions", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_sessions_list, NULL},
    {"GET", DEV "/sessions/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_sessions_get, NULL},
    {"GET", DEV "/sessions/{}/output", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_sessions_output, NULL},
    {"POST", DEV "/sessions/{}/cancel", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     srv_api_sessions_cancel, NULL},
    {"POST", "/v1/agent/sessions/{}", SRV_AUTH_DEVICE, SRV_BODY_JSON, SRV_MAX_SESSION_POST,
     srv_api_agent_session, NULL},
};

const size_t srv_n_routes = M87_ARRAY_LEN(srv_routes);
