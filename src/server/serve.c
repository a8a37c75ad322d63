/* `m87-server serve`: open the store, serve until SIGTERM or SIGINT, stop cleanly. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/log.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/longpoll.h"
#include "server/ratelimit.h"
#include "server/remote.h"
#include "server/retention.h"
#include "server/rollout.h"
#include "server/serve.h"
#include "server/store-deployments.h"
#include "server/store-notify.h"
#include "server/store-reports.h"
#include "server/store-sessions.h"
#include "server/store.h"

/* How often the retention prunes reports (in batches, while there are any to prune). */
#define PRUNE_PERIOD_MS 2000

/* Every held sync is a descriptor: take all the kernel allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int open_server(struct srv *s, const struct srv_serve_opts *o, struct m87_error **err)
{
    s->data_dir = m87_xstrdup(o->data_dir);
    s->bundle_dir = m87_xasprintf("%s/%s", o->data_dir, SRV_BUNDLE_DIR);
    s->longpoll_max = o->longpoll_max;
    s->max_conn_per_address = (unsigned)o->max_conn_per_address;
    s->ingest = srv_ingest_new(o->report_ingest_limit);
    s->disk_reserve = o->disk_reserve;
    s->ui = !o->no_ui;
    s->auth_limit = srv_ratelimit_new((unsigned)o->auth_fail_limit);
    s->session_retention = o->session_retention ? o->session_retention : SRV_SESSION_RETENTION;
    if (srv_store_open_db(o->data_dir, o->db_url, false, &s->store, err) < 0 ||
        srv_store_pool_grow(s->store, o->db_pool ? o->db_pool : SRV_DB_POOL, err) < 0 ||
        (o->db_url == NULL && srv_data_lock(o->data_dir, "serve", &s->data_lock, err) < 0) ||
        m87_mkdir_p(s->bundle_dir, 0700, err) < 0 ||
        srv_bundles_import(s->store, s->bundle_dir, err) < 0 ||
        srv_secret_key_load(o->data_dir, true, &s->registry_key, err) < 0)
        return -1;
    if (o->db_url)
        m87_log(M87_LOG_INFO, "database: %zu connections for requests and background work",
                srv_store_pool_size(s->store));
    int64_t reports = 0;
    if (srv_store_begin(s->store, err) < 0)
        return -1;
    int rc = srv_report_count(s->store, &reports, err);
    srv_store_rollback(s->store);
    atomic_store(&s->metrics.reports_stored, (uint64_t)reports);
    if (rc == 0) /* also with no limit on reports: it prunes the metrics samples */
        s->pruner =
            srv_pruner_start(s->store, o->report_retention, o->report_max_per_device,
                             o->audit_retention, PRUNE_PERIOD_MS, &s->metrics.reports_pruned);
    return rc;
}

/* A wake from another replica (its listener thread). */
static void on_wake(void *ctx, enum srv_wake kind, int64_t id)
{
    struct srv *s = ctx;
    if (kind == SRV_WAKE_ROLLOUTS)
        srv_rollouts_wake(s->rollouts);
    else
        srv_longpoll_notify(s->lp, id);
}

static void on_lead(void *ctx, bool leading)
{
    struct srv *s = ctx;
    srv_rollouts_lead(s->rollouts, leading);
}

/* The --advertise URL, or one made of the --listen address when it names a host (not a
 * wildcard, not port 0); NULL, with a note on PostgreSQL, when neither. */
static char *advertise_url(const struct srv_serve_opts *o)
{
    if (o->advertise)
        return m87_xstrdup(o->advertise);
    const char *colon = strrchr(o->listen, ':');
    _cleanup_free_ char *host =
        colon ? m87_xstrndup(o->listen, (size_t)(colon - o->listen)) : m87_xstrdup("");
    static const char *const wild[] = {"", "0.0.0.0", "[::]", "::", "*", NULL};
    bool wildcard = colon == NULL || strcmp(colon + 1, "0") == 0;
    for (size_t i = 0; !wildcard && wild[i]; i++)
        wildcard = strcmp(host, wild[i]) == 0;
    if (!wildcard)
        return m87_xasprintf("%s://%s", o->tls_cert ? "https" : "http", o->listen);
    if (o->db_url)
        m87_log(M87_LOG_WARN, "no --advertise address (--listen is a wildcard): the other "
                              "replicas cannot relay the remote channels opened here");
    return NULL;
}

static void close_server(struct srv *s)
{
    srv_http_stop(s);
    srv_leader_stop(s->leader);
    srv_listener_stop(s->listener);
    srv_rollouts_stop(s->rollouts);
    srv_pruner_stop(s->pruner);
    srv_longpoll_free(s->lp);
    srv_remote_free(s->remote);
    srv_store_free(s->store);
    srv_ratelimit_free(s->auth_limit);
    srv_ingest_free(s->ingest);
    free(s->tls_cert_pem);
    free(s->tls_key_pem);
    srv_secret_key_release(&s->registry_key);
    free(s->advertise);
    free(s->data_dir);
    free(s->bundle_dir);
    if (s->data_lock > 0)
        close(s->data_lock);
}

int srv_serve(const struct srv_serve_opts *o, struct m87_error **err)
{
    /* block the stop signals in every thread; this one waits for them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: the replicas' relays */
    struct srv *s = m87_xcalloc(1, sizeof(*s));
    atomic_init(&s->stopping, false);
    atomic_init(&s->in_flight, 0);
    int rc = open_server(s, o, err);
    if (rc == 0) {
        s->lp = srv_longpoll_new(SRV_MAX_HELD_PER_DEVICE);
        s->rollouts = srv_rollouts_start(s);
        /* on SQLite: leads at once and resumes the rollouts of the database; on PostgreSQL once
         * this replica holds the lock */
        s->leader = srv_leader_start(s->store, SRV_LOCK_ROLLOUTS, "rollouts", on_lead, s);
        s->listener = srv_listener_start(s->store, on_wake, s);
        s->remote = srv_remote_new();
        s->advertise = advertise_url(o);
        rc = srv_http_start(s, o->listen, o->tls_cert, o->tls_key, err);
    }
    if (rc == 0) {
        int sig = 0;
        while (sigwait(&set, &sig) != 0)
            ;
        m87_log(M87_LOG_INFO, "%s: stopping", strsignal(sig));
    }
    close_server(s);
    free(s);
    if (rc == 0)
        m87_log(M87_LOG_INFO, "stopped");
    return rc;
}
