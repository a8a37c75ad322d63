/* m87-server private: sessions, commands run on an online device now (docs/api.md,
 * "Sessions"): their caps and timings, and their records, output and interactive projects in
 * the store (store-sessions.c). Their handlers are in server/api.h. */
#ifndef M87_SERVER_STORE_SESSIONS_H
#define M87_SERVER_STORE_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/spec-runspec.h"
#include "server/row.h"
#include "server/store.h"

#define SRV_MAX_SESSION_BODY SPEC_RUNSPEC_MAX_FILE /* the request: a compose job and arguments */
#define SRV_MAX_SESSION_POST (1024u * 1024)        /* one report of the agent on a session */
#define SRV_MAX_SESSION_OUTPUT (16u * 1024 * 1024) /* output kept per session */
#define SRV_SESSION_REDELIVER 10 /* seconds: a delivered session not started is sent again */
#define SRV_SESSION_LOST 15      /* seconds without a report: a running session is lost */
#define SRV_SESSION_CONNECTED 20 /* seconds since the last sync that count as connected */
#define SRV_SESSION_MAX_WAIT 60  /* wait of an output read */
#define SRV_SESSION_UNREAD 60    /* seconds: a running session nobody reads is cancelled */
#define SRV_SESSION_RETENTION (7 * 24 * 3600) /* default of serve --session-retention */

struct srv_session {
    int64_t id;
    char *public_id; /* "s-" + 8 hex */
    int64_t device_id;
    char *request; /* the request JSON as validated */
    char *bundle;
    char *state;       /* pending, running, exited, cancelled, lost */
    int64_t exit_code; /* -1: none */
    char *message;
    bool cancel;
    int64_t created, delivered, started, ended, seen; /* 0: not yet */
    int64_t read_at; /* the last read of its output (the CLI follows it), or its creation */
    int64_t next_seq;
    int64_t output_bytes;
};
void srv_session_release(struct srv_session *s);
/* Its members: srv_jw_row writes "message", "cancel_requested", "created", "delivered", "started",
 * "ended" and "output_bytes" of one. */
extern const struct srv_row_type srv_session_row;
void srv_sessions_free(struct srv_session *v, size_t n);
/* A new pending session of the device; s->public_id and s->id are filled in. */
int srv_session_create(struct srv_store *st, struct srv_session *s, struct m87_error **err);
/* M87_E_NOTFOUND "session 'ID' not found" (of any device: the caller checks the owner). */
int srv_session_find(struct srv_store *st, const char *public_id, struct srv_session *out,
                     struct m87_error **err);
/* srv_session_find for a change of the session (inside a transaction): on PostgreSQL its row
 * stays locked until the transaction ends, so that the replicas' changes of one session (the
 * agent's reports on one, the admin's cancel and reads on another) follow one another, each
 * reading what the one before wrote, instead of one writing back what it read before the other
 * committed. */
int srv_session_lock(struct srv_store *st, const char *public_id, struct srv_session *out,
                     struct m87_error **err);
/* The device's sessions, oldest first. */
int srv_session_list(struct srv_store *st, int64_t device_id, struct srv_session **out, size_t *n,
                     struct m87_error **err);
/* The sessions to hand to the device now (pending, not cancelled, not delivered lately); each
 * is marked delivered. */
int srv_session_deliver(struct srv_store *st, int64_t device_id, struct srv_session **out,
                        size_t *n, struct m87_error **err);
/* Write back state, exit_code, message, cancel, started, ended, seen, next_seq. */
int srv_session_update(struct srv_store *st, const struct srv_session *s, struct m87_error **err);
int srv_session_output_add(struct srv_store *st, struct srv_session *s, const char *stream,
                           const char *text, struct m87_error **err);
struct srv_session_chunk {
    int64_t seq;
    char *stream;
    char *text;
    int64_t time;
};
/* Its members: srv_jw_row writes "seq", "stream", "text" and "time" of one. */
extern const struct srv_row_type srv_session_chunk_row;
void srv_session_chunks_free(struct srv_session_chunk *v, size_t n);
/* Output after seq, at most limit chunks. */
int srv_session_output_read(struct srv_store *st, int64_t session_id, int64_t after, int64_t limit,
                            struct srv_session_chunk **out, size_t *n, struct m87_error **err);
/* Delete the sessions that ended (or were created, when never ended) before `before`. */
int srv_session_prune(struct srv_store *st, int64_t before, struct m87_error **err);
/* The containers (a JSON array) of an interactive project of the device as its agent saw them
 * after a session; an empty array forgets the project. */
int srv_interactive_set(struct srv_store *st, int64_t device_id, const char *project,
                        const char *containers, struct m87_error **err);
/* "interactive": [{"project","containers","updated"}] of the device, by project name. */
int srv_jw_interactive(struct srv_store *st, struct m87_jw *w, int64_t device_id,
                       struct m87_error **err);
/* 1 when a session of the device uses bundle digest. */
int srv_session_bundle_referenced(struct srv_store *st, int64_t device_id, const char *digest,
                                  struct m87_error **err);

#endif
