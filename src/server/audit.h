/* m87-server private: what the handlers and the rollout put in the audit trail (audit.c, over
 * store-audit.h): who asked, sessions, new revisions and activations, with their details. */
#ifndef M87_SERVER_AUDIT_H
#define M87_SERVER_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json.h"
#include "server/request.h"
#include "server/store-audit.h"
#include "server/store-deployments.h"
#include "server/store-sessions.h"
#include "server/store.h"

/* Who asked r: the first SRV_AUDIT_TOKEN_ID_LEN hex digits of the SHA-256 of its bearer token,
 * which name the token without being it. */
void srv_audit_who(struct srv_req *r, char out[SRV_AUDIT_TOKEN_ID_LEN + 1]);

/* The members of the JSON object obj but those named in skip (NULL-terminated) as JSON object
 * text (the caller's), or NULL when none is left. */
char *srv_audit_json_without(const struct m87_json *obj, const char *const skip[]);

/* A new revision of one of the device's deployments (all borrowed). */
struct srv_audit_rev {
    const char *what;       /* where it came from: new, clone, jobs, remove-job, release,
                               leave-fleet, rollback */
    const char *deployment; /* its public id */
    int64_t revision;
    const char *hash;
    bool active;            /* of the active deployment: what the device runs changes */
    bool now;               /* to be applied outside the maintenance windows */
    const char *fleet;      /* release, leave-fleet, rollback: the fleet (else NULL) */
    int64_t release;        /* release: its number (else 0) */
    const char *clone;      /* clone: the deployment copied (else NULL) */
    int64_t clone_revision; /* and its revision (0: its newest) */
};
/* A row of kind deploy; who borrowed. */
int srv_audit_deploy(struct srv_store *st, int64_t device_id, const char *who,
                     const struct srv_audit_rev *a, struct m87_error **err);
/* A row of kind activate: dep became the device's active deployment, prev (NULL: none) was. */
int srv_audit_activate(struct srv_store *st, int64_t device_id, const char *who,
                       const struct srv_deployment *dep, const struct srv_deployment *prev,
                       bool now, struct m87_error **err);

/* A row of kind session for the new session s (its request as stored). */
int srv_audit_session(struct srv_store *st, const char *who, const struct srv_session *s,
                      struct m87_error **err);
/* The end of session s (state exited, cancelled or lost) into its row. */
int srv_audit_session_end(struct srv_store *st, const struct srv_session *s,
                          struct m87_error **err);

#endif
