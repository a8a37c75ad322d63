/* The routing table. First match of method and pattern wins; "{}" is one path segment. A route
 * has a handler that answers, or work (TX) that the dispatcher runs in a transaction. */
#include "m87/compiler.h"
#include "server/api.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/store-sessions.h"

#define DEV "/v1/devices/{}"
#define DEP DEV "/deployments/{}"

/* The work of a route run in a transaction and answered with status code (srv_run_tx), after
 * a check of the query arguments against q (NULL: not checked). */
#define TX(fn, code, q) .tx = (fn), .status = (code), .query = (q)

static const char *const NONE[] = {NULL};
static const char *const NOW[] = {"now", NULL};
static const char *const REVISION[] = {"revision", NULL};
static const char *const REGISTRY[] = {"host", "device", "select", NULL};
static const char *const DEPLOYMENT[] = {"deployment", NULL};
static const char *const DEVICES[] = {"select", "state", "sort", "limit", "offset", NULL};
static const char *const AUDIT[] = {"since", "kind", NULL};
static const char *const METRICS[] = {"since", "limit", NULL};
static const char *const REPORTS[] = {"deployment", "revision", "job",   "step",
                                      "kind",       "after",    "limit", NULL};

const struct srv_route srv_routes[] = {
    {"GET", "/healthz", SRV_AUTH_NONE, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_healthz, NULL},
    {"GET", "/metrics", SRV_AUTH_NONE, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_metrics, NULL},
    {"POST", "/v1/devices", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_devices_create, 201, NULL)},
    {"GET", "/v1/devices", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_devices_list, 200, DEVICES)},
    {"GET", DEV, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY, TX(srv_write_device, 200, NULL)},
    {"DELETE", DEV, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_devices_delete, 204, NULL)},
    {"PATCH", DEV, SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_devices_patch, 200, NULL)},
    {"POST", DEV "/token", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_devices_token_rotate, 200, NULL)},
    {"DELETE", DEV "/token", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_devices_token_revoke, 204, NULL)},
    {"GET", DEV "/windows", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_windows_list, 200, NONE)},
    {"POST", DEV "/windows", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_windows_add, 201, NULL)},
    {"DELETE", DEV "/windows/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_windows_delete, 204, NULL)},
    /* registry credentials (api-registries.c) */
    {"GET", "/v1/registries", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_registries_list, 200, NONE)},
    {"POST", "/v1/registries", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_registries_put, 200, NONE)},
    {"DELETE", "/v1/registries", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_registries_delete, 204, REGISTRY)},
    /* image prefetch (api-prefetch.c) */
    {"GET", DEV "/prefetch", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_prefetch_list, 200, NONE)},
    {"POST", DEV "/prefetch", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_prefetch_add, 200, NULL)},
    {"DELETE", DEV "/prefetch", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_prefetch_clear, 204, NULL)},
    {"GET", DEV "/status", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_status, 200, DEPLOYMENT)},
    {"GET", DEV "/reports", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_reports_query, 200, REPORTS)},
    {"POST", DEV "/deployments", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_deployments_create, 201, NOW)},
    {"GET", DEV "/deployments", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_deployments_list, 200, NONE)},
    {"GET", DEP, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_deployments_get, 200, REVISION)},
    {"DELETE", DEP, SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_deployments_delete, 204, NULL)},
    {"POST", DEP "/activate", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_deployments_activate, 200, NOW)},
    {"GET", DEP "/revisions", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_deployments_revisions, 200, NULL)},
    {"POST", DEP "/jobs", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_SPEC_BODY,
     TX(srv_api_jobs_put, 200, NOW)},
    {"DELETE", DEP "/jobs/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_jobs_delete, 200, NOW)},
    /* fleets (api-fleets.c) */
    {"POST", "/v1/fleets", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_fleets_create, 201, NULL)},
    {"GET", "/v1/fleets", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_fleets_list, 200, NONE)},
    {"GET", "/v1/fleets/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_fleets_get, 200, NONE)},
    {"DELETE", "/v1/fleets/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_fleets_delete, 204, NULL)},
    /* fleet releases and rollouts (api-rollouts.c) */
    {"POST", "/v1/fleets/{}/releases", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_SPEC_BODY,
     TX(srv_api_fleet_release, 201, NONE)},
    {"GET", "/v1/fleets/{}/rollouts", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_rollouts_list, 200, NONE)},
    {"GET", "/v1/fleets/{}/rollouts/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_rollouts_get, 200, NONE)},
    {"POST", "/v1/fleets/{}/rollouts/{}/pause", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_rollouts_pause, 200, NONE)},
    {"POST", "/v1/fleets/{}/rollouts/{}/resume", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_rollouts_resume, 200, NONE)},
    {"POST", "/v1/fleets/{}/rollouts/{}/abort", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_rollouts_abort, 200, NONE)},
    {"GET", "/v1/fleets/{}/status", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_fleet_status, 200, NONE)},
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
     TX(srv_api_sessions_create, 201, NULL)},
    {"GET", DEV "/sessions", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_sessions_list, 200, NONE)},
    {"GET", DEV "/sessions/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_sessions_get, 200, NONE)},
    {"GET", DEV "/sessions/{}/output", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_sessions_output, NULL},
    {"POST", DEV "/sessions/{}/cancel", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_sessions_cancel, 200, NULL)},
    {"POST", "/v1/agent/sessions/{}", SRV_AUTH_DEVICE, SRV_BODY_JSON, SRV_MAX_SESSION_POST,
     srv_api_agent_session, NULL},
    /* the dashboard (api-ui.c) */
    {"GET", "/", SRV_AUTH_NONE, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_ui_get, NULL},
    {"GET", "/ui/{}", SRV_AUTH_NONE, SRV_BODY_NONE, SRV_MAX_JSON_BODY, srv_api_ui_get, NULL},
    /* remote access (api-remote.c) */
    {"POST", DEV "/remote", SRV_AUTH_ADMIN, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     TX(srv_api_remote_open, 201, NONE)},
    {"GET", DEV "/remote/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_remote_state, NULL},
    {"GET", DEV "/remote/{}/{}", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_remote_read, NULL},
    {"PUT", DEV "/remote/{}/{}", SRV_AUTH_ADMIN, SRV_BODY_PIPE, UINT64_MAX,
     srv_api_remote_write_end, NULL, .pipe = srv_api_remote_pipe},
    {"POST", "/v1/agent/remote/{}", SRV_AUTH_DEVICE, SRV_BODY_JSON, SRV_MAX_JSON_BODY,
     srv_api_remote_end, NULL},
    {"GET", "/v1/agent/remote/{}/{}", SRV_AUTH_DEVICE, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     srv_api_remote_read, NULL},
    {"GET", DEV "/audit", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_remote_audit, 200, AUDIT)},
    {"PUT", "/v1/agent/remote/{}/{}", SRV_AUTH_DEVICE, SRV_BODY_PIPE, UINT64_MAX,
     srv_api_remote_write_end, NULL, .pipe = srv_api_remote_pipe},
    /* metrics samples kept while offline (api-metrics.c) */
    {"GET", DEV "/metrics", SRV_AUTH_ADMIN, SRV_BODY_NONE, SRV_MAX_JSON_BODY,
     TX(srv_api_device_metrics, 200, METRICS)},
};

const size_t srv_n_routes = M87_ARRAY_LEN(srv_routes);
