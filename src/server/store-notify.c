/* Replicas of one PostgreSQL database (store-notify.h): wakes sent through the database with
 * NOTIFY, a listener thread per replica that LISTENs on a connection of its own, and the leader
 * thread that holds the rollout driver's advisory lock on another.
 *
 * A payload is "ORIGIN s ID" (held syncs) or "ORIGIN r" (the rollout driver); ORIGIN names the
 * sending process, whose own wakes already happened in its memory, so its listener skips them.
 * PostgreSQL delivers a notification at the commit of the transaction that sent it, to every
 * connection listening then, in commit order; one sent while a listener was away is lost for it,
 * which is why a (re)connected listener wakes everything once. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/db.h"
#include "server/store-internal.h"
#include "server/store-notify.h"
#include "server/util.h"

#define CHANNEL "m87"
/* How long the listener waits for a notification before it looks at its quit flag. */
#define LISTEN_SLICE_MS 500
/* Between two attempts to reach the database. */
#define RETRY_MS 1000

int srv_store_notify(struct srv_store *st, enum srv_wake kind, int64_t id, struct m87_error **err)
{
    struct srv_db *db = srv_store_db(st);
    if (srv_db_kind(db) == SRV_DB_SQLITE)
        return 0;
    char payload[64];
    if (kind == SRV_WAKE_ROLLOUTS)
        snprintf(payload, sizeof(payload), "%s r", srv_store_origin(st));
    else
        snprintf(payload, sizeof(payload), "%s s %" PRId64, srv_store_origin(st), id);
    return srv_db_notify(db, CHANNEL, payload, err);
}

static const char SQL_LOCK_ROUND[] = "SELECT pg_advisory_xact_lock(CAST(?1 AS BIGINT))";

int srv_store_lock_round(struct srv_store *st, int64_t key, struct m87_error **err)
{
    if (srv_db_kind(srv_store_db(st)) == SRV_DB_SQLITE)
        return 0;
    struct srv_q *q = srv_stmt_id(st, SQL_LOCK_ROUND, key, err);
    return q ? srv_q_done(q, "lock the rollouts' round", err) : -1;
}

/* Sleep up to ms, or less when *quit is set (under mu, signalled on cond). */
static bool nap(pthread_mutex_t *mu, pthread_cond_t *cond, const bool *quit, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(mu);
    while (!*quit && pthread_cond_timedwait(cond, mu, &until) == 0)
        ;
    bool q = *quit;
    pthread_mutex_unlock(mu);
    return q;
}

static bool quitting(pthread_mutex_t *mu, const bool *quit)
{
    pthread_mutex_lock(mu);
    bool q = *quit;
    pthread_mutex_unlock(mu);
    return q;
}

/* ---- the listener ---- */

struct srv_listener {
    struct srv_store *st;
    srv_wake_fn fn;
    void *ctx;
    struct srv_db *first; /* the connection made by srv_listener_start, handed to the thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool quit;
};

static void on_payload(void *ctx, const char *channel, const char *payload)
{
    struct srv_listener *l = ctx;
    const char *origin = srv_store_origin(l->st);
    size_t olen = strlen(origin);
    if (strcmp(channel, CHANNEL) != 0 || strncmp(payload, origin, olen) == 0)
        return;
    const char *sp = strchr(payload, ' ');
    if (sp == NULL)
        return;
    if (strcmp(sp, " r") == 0) {
        l->fn(l->ctx, SRV_WAKE_ROLLOUTS, 0);
        return;
    }
    int64_t id = 0;
    if (strncmp(sp, " s ", 3) == 0 && srv_parse_int(sp + 3, INT64_MIN + 1, INT64_MAX, &id) == 0)
        l->fn(l->ctx, SRV_WAKE_SYNCS, id);
    else
        m87_log(M87_LOG_WARN, "notify: ignoring an unknown payload '%.40s'", payload);
}

/* first: the server does not serve yet, nothing is held and nothing missed: no wake */
static struct srv_db *listen_open(struct srv_listener *l, bool *said, bool first)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct srv_db *db = NULL;
    if (srv_db_open(srv_store_url(l->st), false, &db, &err) < 0 ||
        srv_db_listen(db, CHANNEL, &err) < 0) {
        if (!*said) /* once per outage */
            m87_log(M87_LOG_WARN, "notify: %s; retrying every second", err->msg);
        *said = true;
        srv_db_close(db);
        return NULL;
    }
    m87_log(M87_LOG_INFO, "notify: listening for the other replicas' changes");
    *said = false;
    if (!first) { /* what came while no one listened is lost: wake every held request once */
        l->fn(l->ctx, SRV_WAKE_SYNCS, 0);
        l->fn(l->ctx, SRV_WAKE_ROLLOUTS, 0);
    }
    return db;
}

static void *listener_main(void *arg)
{
    struct srv_listener *l = arg;
    struct srv_db *db = l->first;
    bool said = db == NULL;
    l->first = NULL;
    while (!quitting(&l->mu, &l->quit)) {
        if (db == NULL && (db = listen_open(l, &said, false)) == NULL) {
            nap(&l->mu, &l->cond, &l->quit, RETRY_MS);
            continue;
        }
        _cleanup_error_ struct m87_error *err = NULL;
        if (srv_db_wait_notify(db, LISTEN_SLICE_MS, on_payload, l, &err) < 0) {
            m87_log(M87_LOG_WARN, "notify: %s; reconnecting", err->msg);
            said = true;
            srv_db_close(db);
            db = NULL;
        }
    }
    srv_db_close(db);
    return NULL;
}

struct srv_listener *srv_listener_start(struct srv_store *st, srv_wake_fn fn, void *ctx)
{
    if (srv_db_kind(srv_store_db(st)) == SRV_DB_SQLITE)
        return NULL;
    struct srv_listener *l = m87_xcalloc(1, sizeof(*l));
    *l = (struct srv_listener){.st = st, .fn = fn, .ctx = ctx};
    pthread_mutex_init(&l->mu, NULL);
    srv_cond_init_monotonic(&l->cond);
    /* listening before the server serves: a wake from then on is heard, and the first connect
     * needs no wake of everything (which would answer syncs held in the meantime for nothing) */
    bool said = false;
    l->first = listen_open(l, &said, true);
    if (pthread_create(&l->thread, NULL, listener_main, l) != 0)
        m87_oom();
    return l;
}

void srv_listener_stop(struct srv_listener *l)
{
    if (l == NULL)
        return;
    srv_thread_stop(l->thread, &l->mu, &l->cond, &l->quit);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* ---- the leader ---- */

struct srv_leader {
    struct srv_store *st;
    int64_t key;
    const char *what;
    srv_lead_fn fn;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool quit;
};

/* One round: leading stays true while the connection that holds the lock answers. */
static void lead_round(struct srv_leader *l, struct srv_db **db, bool *leading, bool *said)
{
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = 0;
    if (*db == NULL && srv_db_open(srv_store_url(l->st), false, db, &err) < 0)
        rc = -1;
    else if (*leading)
        rc = srv_db_exec(*db, "SELECT 1", "check the lock's connection", &err);
    else
        rc = srv_db_try_lock(*db, l->key, &err);
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    if (rc == 1 && !*leading) {
        *leading = true;
        m87_log(M87_LOG_INFO, "%s: this replica (%s, pid %d) drives them now", l->what, host,
                (int)getpid());
        l->fn(l->ctx, true);
    } else if (rc == 0 && !*leading && !*said) {
        m87_log(M87_LOG_INFO, "%s: another replica drives them; taking over if it stops", l->what);
        *said = true;
    } else if (rc < 0) {
        if (*leading) {
            *leading = false;
            l->fn(l->ctx, false);
        }
        m87_log(M87_LOG_WARN,
                "%s: %s; this replica does not drive them until it can take the "
                "lock again",
                l->what, err->msg);
        *said = false;
        srv_db_close(*db);
        *db = NULL;
    }
}

static void *leader_main(void *arg)
{
    struct srv_leader *l = arg;
    struct srv_db *db = NULL;
    bool leading = false, said = false;
    while (!quitting(&l->mu, &l->quit)) {
        lead_round(l, &db, &leading, &said);
        nap(&l->mu, &l->cond, &l->quit, SRV_LEADER_PERIOD_MS);
    }
    srv_db_close(db); /* ends the session: the lock frees at once for another replica */
    return NULL;
}

struct srv_leader *srv_leader_start(struct srv_store *st, int64_t key, const char *what,
                                    srv_lead_fn fn, void *ctx)
{
    if (srv_db_kind(srv_store_db(st)) == SRV_DB_SQLITE) {
        fn(ctx, true);
        return NULL;
    }
    struct srv_leader *l = m87_xcalloc(1, sizeof(*l));
    *l = (struct srv_leader){.st = st, .key = key, .what = what, .fn = fn, .ctx = ctx};
    pthread_mutex_init(&l->mu, NULL);
    srv_cond_init_monotonic(&l->cond);
    if (pthread_create(&l->thread, NULL, leader_main, l) != 0)
        m87_oom();
    return l;
}

void srv_leader_stop(struct srv_leader *l)
{
    if (l == NULL)
        return;
    srv_thread_stop(l->thread, &l->mu, &l->cond, &l->quit);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
