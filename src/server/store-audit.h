/* m87-server private: the audit trail of remote access (docs/remote.md, "Audit"): one row per
 * remote channel, made when the admin opens it and completed when the device posts its end
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

struct srv_audit {
    char *channel;     /* "r-" + 16 hex */
    char *token;       /* who: SRV_AUDIT_TOKEN_ID_LEN hex digits of the asking token's SHA-256 */
    char *what;        /* exec, shell */
    char *command;     /* JSON array, or NULL (a shell) */
    int64_t created;   /* unix seconds */
    int64_t ended;     /* 0: no end came */
    int64_t exit_code; /* -1: none */
    char *message;
    int64_t duration_ms; /* -1: none */
    int64_t bytes_in, bytes_out, bytes_err;
};

int srv_audit_add(struct srv_store *st, int64_t device_id, const char *channel, const char *token,
                  const char *what, const char *command, struct m87_error **err);
/* The end of the device's channel (exit_code -1: none, with message); a row that has its end
 * already is left as it is. */
int srv_audit_end(struct srv_store *st, int64_t device_id, const char *channel, int exit_code,
                  const char *message, int64_t duration_ms, const int64_t bytes[3],
                  struct m87_error **err);
/* The device's rows created at or after since, oldest first (at most SRV_AUDIT_MAX_LIST, the
 * newest). */
int srv_audit_list(struct srv_store *st, int64_t device_id, int64_t since, struct srv_audit **out,
                   size_t *n, struct m87_error **err);
void srv_audits_free(struct srv_audit *v, size_t n);
/* {"channel","token","what","command","created","ended","exit_code","message","duration_ms",
 *  "bytes":{"stdin","stdout","stderr"}} */
void srv_jw_audit(struct m87_jw *w, const struct srv_audit *a);

#endif
