/* m87-server private: the handlers of the routing table (api-*.c, metrics.c, one file per
 * resource) and what they share: objects written as JSON (api-common.c), the policy fields of
 * targets and status answers (api-policy.c), and the parts of one answer that another resource
 * writes too. */
#ifndef M87_SERVER_API_H
#define M87_SERVER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "server/http.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-reports.h"

/* ---- objects in JSON (api-common.c) ---------------------------------------------------------- */

/* The device's members, "labels" among them (as d->labels holds them: load them first). */
void srv_jw_device(struct srv *s, struct m87_jw *w, const struct srv_device *d);
void srv_jw_deployment(struct m87_jw *w, const struct srv_deployment *d);
/* A stored report record with "received" and "deployment" added. */
void srv_jw_report(struct m87_jw *w, const char *raw, int64_t received, const char *deployment);
bool srv_device_online(struct srv *s, const struct srv_device *d);
/* change(store, id) on the device of the first path parameter (M87_E_NOTFOUND when there is
 * none), whose held sync is woken after the commit. */
int srv_change_device(struct srv_req *r,
                      int (*change)(struct srv_store *st, int64_t id, struct m87_error **err),
                      struct m87_error **err);

/* ---- handlers that answer (a route's handle, chunk) ------------------------------------------ */

void srv_api_healthz(struct srv_req *r);
void srv_api_metrics(struct srv_req *r);
/* The dashboard: / and /ui/NAME (api-ui.c); 404 when it is turned off. */
void srv_api_ui_get(struct srv_req *r);
void srv_api_bundles_put(struct srv_req *r);
int srv_api_bundles_chunk(struct srv_req *r, const char *data, size_t len);
void srv_api_bundles_get(struct srv_req *r);
void srv_api_sync(struct srv_req *r);

/* ---- the work of a route run in a transaction (its tx: a srv_tx_fn) -------------------------- */

/* The "labels" object of a request body into *changes (api-devices.c): each key and value
 * checked as spec-label.h says; with removals a null value is a key without a value (remove it).
 * M87_E_INVAL "labels: ..." naming the label; M87_E_TOOBIG past SPEC_LABELS_MAX labels to set
 * when not removals (else srv_labels_change counts). */
int srv_body_labels(const struct m87_json *labels, bool removals, struct m87_kvlist *changes,
                    struct m87_error **err);
int srv_api_devices_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_devices_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_devices_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_deployments_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_deployments_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_deployments_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_deployments_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_deployments_activate(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_deployments_revisions(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_jobs_put(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_jobs_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_reports_query(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_status(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_devices_patch(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_devices_token_rotate(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_devices_token_revoke(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_windows_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_windows_add(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_windows_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_prefetch_add(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_prefetch_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_prefetch_clear(struct srv_req *r, struct m87_jw *w, struct m87_error **err);

/* The answer of GET /v1/devices/NAME (the device in the first path parameter): its tx. */
int srv_write_device(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
/* The same with "fleets_joined" and "fleets_left" (srv_jw_fleet_moves) when before and after are
 * not NULL: the answer of PATCH /v1/devices/NAME. */
int srv_write_device_moves(struct srv_req *r, struct m87_jw *w, const struct m87_strv *before,
                           const struct m87_strv *after, struct m87_error **err);

/* ---- fleets (api-fleets.c) ------------------------------------------------------------------- */

int srv_api_fleets_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_fleets_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_fleets_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_fleets_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
/* Append to *out the names, by name, of the fleets whose selector labels (a device's) meet: one
 * statement, matched in C. M87_E_INTERNAL for a stored selector that does not parse. */
int srv_fleets_matching(struct srv_store *st, const struct m87_kvlist *labels, struct m87_strv *out,
                        struct m87_error **err);
/* "fleets_joined": the names in after and not in before, "fleets_left": those in before and not
 * in after (both as srv_fleets_matching gives them), into an open object. */
void srv_jw_fleet_moves(struct m87_jw *w, const struct m87_strv *before,
                        const struct m87_strv *after);

/* ---- fleet releases and rollouts (api-rollouts.c, docs/fleets.md) ------------------------- */

int srv_api_fleet_release(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_rollouts_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_rollouts_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_rollouts_pause(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_rollouts_resume(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_rollouts_abort(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_fleet_status(struct srv_req *r, struct m87_jw *w, struct m87_error **err);

/* ---- windows and policy (api-policy.c) ------------------------------------------------------- */

/* {"id","rule","created"} */
void srv_jw_window(struct m87_jw *w, const struct srv_window *win);
/* "windows": the device's rules as strings, or (full) as {"id","rule","created"} objects. */
int srv_jw_windows(struct srv_store *st, struct m87_jw *w, const struct srv_device *d, bool full,
                   struct m87_error **err);
/* "windows", "prefetch", "now" (whether hash is the revision to apply at once) and "policy". */
int srv_jw_policy(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                  const char *hash, struct m87_error **err);
/* The request's "now" query parameter: absent, 0 or false / 1 or true; M87_E_INVAL otherwise. */
int srv_req_now(struct srv_req *r, bool *now, struct m87_error **err);
/* The device's target became hash: remember whether it is to be applied at once, and wake the
 * device's held sync after the commit. */
int srv_target_changed(struct srv_req *r, const struct srv_device *dev, const char *hash, bool now,
                       struct m87_error **err);

/* The device and deployment named by the first two path parameters. */
int srv_find_deployment(struct srv_req *r, struct srv_device *dev, struct srv_deployment *dep,
                        struct m87_error **err);

/* The health of a device's active deployment for GET /v1/devices/NAME (api-status.c). */
int srv_jw_health(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                  struct m87_error **err);

/* ---- prefetch (api-prefetch.c) --------------------------------------------------------------- */

/* "prefetch_images": {"images": [...], "windows", "prefetch"} of a sync answer, written only when
 * the device is asked for images (api-prefetch.c). */
int srv_jw_prefetch_sync(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                         struct m87_error **err);
/* A stored "prefetch" report (other kinds are no-ops): kept as its image's newest. M87_E_INVAL
 * "reports[...].image" when it names none. */
int srv_prefetch_report(struct srv_store *st, int64_t device_id, const struct srv_report *rep,
                        struct m87_error **err);
/* "prefetch_images": [{"image","requested","state",...}] of the status answer. */
int srv_jw_prefetch_status(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                           struct m87_error **err);

/* ---- registry credentials (api-registries.c) ------------------------------------------------ */

int srv_api_registries_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_registries_put(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_registries_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
/* "registries": {"digest","entries":[{"host","username","password"}]} of a sync answer, written
 * (and *sent true) only when the digest of the device's entries differs from has, the one the
 * agent holds (NULL: none, then nothing is written while the device has no entries). An entry
 * that does not open is logged and the part left out: the device keeps what it has. */
int srv_jw_registries_sync(struct srv *s, struct m87_jw *w, int64_t device_id, const char *has,
                           bool *sent, struct m87_error **err);

/* ---- sessions (api-sessions.c) --------------------------------------------------------------- */

/* The body of POST /v1/devices/NAME/sessions (api-sessions-check.c): M87_E_INVAL naming what is
 * wrong; *bundle the digest of its job's bundle (the caller's), NULL when it has none. */
int srv_session_check_request(const struct m87_json *body, char **bundle, struct m87_error **err);
/* "signature" of a session or a remote request: its form only (the device checks it). */
int srv_signature_check(const struct m87_json *v, struct m87_error **err);
/* The body of an agent's POST /v1/agent/sessions/ID: M87_E_INVAL naming what is wrong. */
int srv_session_check_post(const struct m87_json *body, struct m87_error **err);

int srv_api_sessions_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_sessions_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
int srv_api_sessions_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
void srv_api_sessions_output(struct srv_req *r);
int srv_api_sessions_cancel(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
void srv_api_agent_session(struct srv_req *r);
/* "sessions": the sessions to start, when the device has any (*n of them). */
int srv_jw_agent_sessions(struct srv_store *st, struct m87_jw *w, int64_t device_id, size_t *n,
                          struct m87_error **err);

/* ---- remote access (api-remote.c, docs/remote.md) -------------------------------------------- */

int srv_api_remote_open(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
void srv_api_remote_state(struct srv_req *r);
/* A stream's download (GET), its upload (PUT: pipe per chunk, write_end at the end). */
void srv_api_remote_read(struct srv_req *r);
size_t srv_api_remote_pipe(struct srv_req *r, const char *data, size_t len);
void srv_api_remote_write_end(struct srv_req *r);
int srv_api_remote_finish(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
/* The agent's end: srv_api_remote_finish here, or relayed to the replica holding the channel. */
void srv_api_remote_end(struct srv_req *r);
/* GET /v1/devices/NAME/audit[?since=UNIX&kind=K]: the device's audit trail. */
int srv_api_remote_audit(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
/* In the sync's transaction: "remote": the channels the device's agent is to join now (from the
 * database when replicas share it, store-remote.h), their count into *n. */
int srv_jw_remote_sync(struct srv *s, struct m87_jw *w, int64_t device_id, size_t *n,
                       struct m87_error **err);

/* ---- metrics kept while offline (api-metrics.c, docs/remote.md) ----------------------------- */

/* GET /v1/devices/NAME/metrics[?since=DURATION&limit=N]: the samples its agent sent with its
 * sync. */
int srv_api_device_metrics(struct srv_req *r, struct m87_jw *w, struct m87_error **err);

#endif
