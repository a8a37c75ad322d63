/* m87-server private: the audit trail of a device (docs/remote.md, "Audit"): one row per thing
 * an admin (or a rollout on its behalf) did to the device: a remote channel (made when the admin
 * opens it, completed when the device posts its end), a session (completed when it ends), a new
 * revision of one of its deployments (deploy) and a change of its active deployment (activate)
 * (store-audit.c). Rows go with their device. */
#ifndef M87_SERVER_STORE_AUDIT_H
#define M87_SERVER_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "server/store.h"

#define SRV_AUDIT_TOKEN_ID_LEN 12 /* hex digits of the token's SHA-256 that name who asked */
#define SRV_AUDIT_MAX_LIST 10000  /* rows of one listing, newest kept */
#define SRV_AUDIT_SERVER "server" /* who, for what the server did on its own */

/* The kinds of rows. */
#define SRV_AUDIT_REMOTE "remote"
#define SRV_AUDIT_SESSION "session"
#define SRV_AUDIT_DEPLOY "deploy"
#define SRV_AUDIT_ACTIVATE "activate"

struct srv_audit {
    char *channel;     /* ref: "r-" + 16 hex (remote), the session id, the deployment id */
    char *token;       /* who: SRV_AUDIT_TOKEN_ID_LEN hex digits of the asking token's SHA-256,
                          or SRV_AUDIT_SERVER */
    char *what;        /* remote: exec, shell, forward, metrics, cp; session: its command;
                          deploy: where the revision came from; activate: activate */
    char *command;     /* JSON array, or NULL (a shell) */
    int64_t created;   /* unix seconds */
    int64_t ended;     /* 0: no end came */
    int64_t exit_code; /* -1: none */
    char *message;
    int64_t duration_ms; /* -1: none */
    int64_t bytes_in, bytes_out, bytes_err;
    char *kind;   /* SRV_AUDIT_* */
    char *detail; /* JSON object or NULL */
};

/* A new row: kind and ref (at most one open row of a remote or session ref per device: an end
 * finds it), who, what, command (JSON array text or NULL) and detail (JSON object text or
 * NULL), all borrowed. */
struct srv_audit_new {
    const char *kind;
    const char *ref;
    const char *token;
    const char *what;
    const char *command;
    const char *detail;
};

/* The end of a row: exit_code -1 for none (message says why), duration_ms -1 for none; detail
 * (JSON object text or NULL) is kept as the row's detail member "end". */
struct srv_audit_end {
    int exit_code;
    const char *message;
    int64_t duration_ms;
    int64_t bytes[3]; /* stdin, stdout, stderr */
    const char *detail;
};

int srv_audit_record(struct srv_store *st, int64_t device_id, const struct srv_audit_new *a,
                     struct m87_error **err);
/* Complete the open row of kind and ref; a row that has its end already, or none, is left as it
 * is. */
int srv_audit_finish(struct srv_store *st, int64_t device_id, const char *kind, const char *ref,
                     const struct srv_audit_end *e, struct m87_error **err);

/* Who made a fleet release, kept with it for the rows of the revisions its rollout places. */
int srv_audit_release_token_set(struct srv_store *st, int64_t release_id, const char *token,
                                struct m87_error **err);
/* *token (the caller's): who made release_id, or SRV_AUDIT_SERVER when nobody is known. */
int srv_audit_release_token(struct srv_store *st, int64_t release_id, char **token,
                            struct m87_error **err);

/* The device's rows created at or after since, of kind (NULL: all), oldest first (at most
 * SRV_AUDIT_MAX_LIST, the newest). */
int srv_audit_list(struct srv_store *st, int64_t device_id, int64_t since, const char *kind,
                   struct srv_audit **out, size_t *n, struct m87_error **err);
void srv_audits_free(struct srv_audit *v, size_t n);
/* {"kind","ref","channel" (remote: the channel, else null),"token","what","command","created",
 *  "ended","exit_code","message","duration_ms","bytes":{"stdin","stdout","stderr"},"detail"} */
void srv_jw_audit(struct m87_jw *w, const struct srv_audit *a);

/* Delete up to batch rows whose last event (their end, else their creation) is before before
 * (unix seconds), open ones too (an end that comes later finds no row); *pruned: how many. */
int srv_audit_prune(struct srv_store *st, int64_t before, int batch, int64_t *pruned,
                    struct m87_error **err);

#endif
