/* logs of several containers. Without follow: one container after the other. With follow: one
 * thread per container, each with its own client on the same socket, the lines handed to the
 * caller one at a time under a lock.
 *
 * A follow stream only moves when its container writes, so a thread could not notice that the
 * caller asked to stop. Each stream therefore runs with a watchdog of COMPOSE_LOGS_CHECK_MS:
 * when it fires and nobody asked to stop, the stream is opened again from just after the last
 * line seen (lines are always requested with timestamps for this, and the timestamp is cut off
 * again unless the caller wanted it). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-containers.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/spec-project.h"

#define COMPOSE_LOGS_CHECK_MS 1000L
#define COMPOSE_TS_MAX 64

struct logs_shared {
    pthread_mutex_t lock;
    compose_log_fn fn;
    void *ctx;
    bool timestamps; /* the caller wants them */
    bool stop;
};

struct log_stream {
    struct logs_shared *sh;
    struct compose_ctr *k;
    char last_ts[COMPOSE_TS_MAX];
    char since[COMPOSE_TS_MAX]; /* when no line was seen yet: the first open's time */
    struct engine_demux *demux;
    struct m87_error *err;
};

static int deliver(struct logs_shared *sh, const char *name, enum engine_stream stream,
                   const char *line, size_t len)
{
    pthread_mutex_lock(&sh->lock);
    int rc = 1;
    if (!sh->stop) {
        rc = sh->fn(sh->ctx, name, stream, line, len);
        sh->stop = rc != 0;
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

/* stop is set by whichever stream's callback asked to end, and read by all of them */
static bool stopped(struct logs_shared *sh)
{
    pthread_mutex_lock(&sh->lock);
    bool stop = sh->stop;
    pthread_mutex_unlock(&sh->lock);
    return stop;
}

static int on_line(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct log_stream *ls = ctx;
    const char *sp = memchr(data, ' ', len);
    if (sp != NULL && (size_t)(sp - data) < COMPOSE_TS_MAX) {
        memcpy(ls->last_ts, data, (size_t)(sp - data));
        ls->last_ts[sp - data] = '\0';
        if (!ls->sh->timestamps) {
            len -= (size_t)(sp + 1 - data);
            data = sp + 1;
        }
    }
    return deliver(ls->sh, ls->k->name, stream, data, len);
}

static int on_data(void *ctx, const char *data, size_t len)
{
    struct log_stream *ls = ctx;
    if (stopped(ls->sh))
        return 1;
    return engine_demux_feed(ls->demux, data, len, &ls->err) == 0 ? 0 : 1;
}

/* RFC 3339 with nanoseconds -> unix "S.NNNNNNNNN" one nanosecond later, for since=. */
static void since_after(const char *ts, char *out, size_t size)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL)
        return;
    long ns = 0, scale = 100000000L;
    if (*rest == '.')
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
            ns += (*rest - '0') * scale;
    long long s = (long long)timegm(&tm);
    if (++ns >= 1000000000L) {
        ns = 0;
        s++;
    }
    snprintf(out, size, "%lld.%09ld", s, ns);
}

static char *stream_path(const struct log_stream *ls, const char *tail)
{
    _cleanup_free_ char *base = engine_path_seg("/containers/", ls->k->id, "/logs");
    struct m87_buf p;
    m87_buf_init(&p, 0);
    m87_buf_append(&p, base, strlen(base), NULL);
    engine_qs_add(&p, "stdout", "1");
    engine_qs_add(&p, "stderr", "1");
    engine_qs_add(&p, "follow", "1");
    engine_qs_add(&p, "timestamps", "1");
    if (ls->last_ts[0] == '\0' && ls->since[0] == '\0') {
        engine_qs_add(&p, "tail", tail ? tail : "all");
    } else {
        char since[COMPOSE_TS_MAX] = "";
        if (ls->last_ts[0])
            since_after(ls->last_ts, since, sizeof(since));
        engine_qs_add(&p, "since", since[0] ? since : ls->since);
    }
    return m87_buf_steal(&p);
}

static void follow_stream(struct engine_client *c, struct log_stream *ls, const char *tail)
{
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    if (engine_container_inspect(c, ls->k->id, &info, &ls->err) < 0)
        return;
    for (;;) {
        _cleanup_free_ char *path = stream_path(ls, tail);
        if (ls->since[0] == '\0') {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            snprintf(ls->since, sizeof(ls->since), "%lld.%09ld", (long long)now.tv_sec,
                     now.tv_nsec);
        }
        ls->demux = engine_demux_new(info->tty, true, on_line, ls);
        struct engine_call call = {
            .method = "GET",
            .timeout_ms = ENGINE_NO_TIMEOUT,
            .stall_ms = COMPOSE_LOGS_CHECK_MS,
            .on_data = on_data,
            .ctx = ls,
        };
        struct m87_error *e = NULL;
        int rc = engine_do(c, &call, path, NULL, &e);
        if (rc >= 0 && ls->err == NULL)
            engine_demux_finish(ls->demux, &ls->err);
        engine_demux_free(ls->demux);
        ls->demux = NULL;
        bool again = rc < 0 && m87_error_code(e) == M87_E_STALLED && !stopped(ls->sh);
        if (rc < 0 && !again && m87_error_code(e) != M87_E_STALLED &&
            m87_error_code(e) != M87_E_CANCELLED && ls->err == NULL)
            ls->err = M87_STEAL(e);
        m87_error_free(e);
        /* the caller's own stop is no failure */
        if (stopped(ls->sh) && m87_error_code(ls->err) == M87_E_CANCELLED)
            m87_error_clear(&ls->err);
        if (!again)
            return;
    }
}

struct follow_arg {
    struct engine_client *parent;
    struct log_stream *ls;
    const char *tail;
};

static void *follow_thread(void *arg)
{
    struct follow_arg *a = arg;
    _cleanup_(engine_client_freep) struct engine_client *c = engine_client_clone(a->parent);
    follow_stream(c ? c : a->parent, a->ls, a->tail);
    return NULL;
}

static int follow_all(struct engine_client *c, struct compose_ctr **ks, size_t n,
                      struct logs_shared *sh, const char *tail, struct m87_error **err)
{
    _cleanup_free_ struct log_stream *ls = m87_xcalloc(n ? n : 1, sizeof(*ls));
    _cleanup_free_ struct follow_arg *args = m87_xcalloc(n ? n : 1, sizeof(*args));
    _cleanup_free_ pthread_t *tids = m87_xcalloc(n ? n : 1, sizeof(*tids));
    _cleanup_free_ bool *running = m87_xcalloc(n ? n : 1, sizeof(*running));
    bool threads = engine_client_socket(c)[0] != '\0';
    for (size_t i = 0; i < n; i++) {
        ls[i] = (struct log_stream){.sh = sh, .k = ks[i]};
        args[i] = (struct follow_arg){.parent = c, .ls = &ls[i], .tail = tail};
        running[i] = threads && pthread_create(&tids[i], NULL, follow_thread, &args[i]) == 0;
        if (!running[i])
            follow_stream(c, &ls[i], tail);
    }
    for (size_t i = 0; i < n; i++)
        if (running[i])
            pthread_join(tids[i], NULL);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (ls[i].err && rc == 0) {
            *err = M87_STEAL(ls[i].err);
            rc = m87_error_wrap(err, "logs of container '%s'", ks[i]->name);
        }
        m87_error_free(ls[i].err);
    }
    return rc;
}

struct once_ctx {
    struct logs_shared *sh;
    const char *name;
};

static int once_line(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct once_ctx *o = ctx;
    return deliver(o->sh, o->name, stream, data, len);
}

static int logs_once(struct engine_client *c, struct compose_ctr **ks, size_t n,
                     struct logs_shared *sh, const struct compose_logs_options *lo,
                     struct m87_error **err)
{
    for (size_t i = 0; i < n && !sh->stop; i++) {
        struct once_ctx o = {.sh = sh, .name = ks[i]->name};
        struct engine_logs_options eo = {
            .timestamps = lo->timestamps, .tail = lo->tail, .lines = true};
        if (engine_container_logs(c, ks[i]->id, &eo, once_line, &o, err) < 0) {
            if (sh->stop && m87_error_code(*err) == M87_E_CANCELLED) {
                m87_error_clear(err);
                return 0;
            }
            return -1;
        }
    }
    return 0;
}

struct ranked {
    struct compose_ctr *k;
    size_t rank; /* the service's place in dependency order */
};

static int by_rank(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    int c = strcmp(x->k->service, y->k->service);
    if (c != 0)
        return c;
    return (x->k->number > y->k->number) - (x->k->number < y->k->number);
}

/* A service the project does not know (every one, with -p NAME only) is chosen by its label. */
static bool named(const struct compose_options *o, const char *service)
{
    for (size_t i = 0; i < o->n_services; i++)
        if (strcmp(o->services[i], service) == 0)
            return true;
    return o->n_services == 0;
}

/* The containers to show, in service order then by number; containers of services the project
 * does not know come last. */
static struct compose_ctr **pick(struct compose_run *r, size_t *n)
{
    size_t cap = r->obs->n ? r->obs->n : 1;
    _cleanup_free_ struct ranked *v = m87_xcalloc(cap, sizeof(*v));
    size_t len = 0;
    for (size_t i = 0; i < r->obs->n; i++) {
        struct compose_ctr *k = &r->obs->v[i];
        if (k->oneoff || k->service == NULL)
            continue;
        ssize_t idx = compose_service_index(r->p, k->service);
        size_t rank = r->p->n_services;
        for (size_t o = 0; idx >= 0 && o < r->p->n_services; o++)
            if (r->order[o] == (size_t)idx)
                rank = o;
        if (idx >= 0 ? !r->selected[idx] : !named(r->o, k->service))
            continue;
        v[len++] = (struct ranked){.k = k, .rank = rank};
    }
    qsort(v, len, sizeof(*v), by_rank);
    struct compose_ctr **out = m87_xcalloc(cap, sizeof(*out));
    for (size_t i = 0; i < len; i++)
        out[i] = v[i].k;
    *n = len;
    return out;
}

int compose_logs(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, const struct compose_logs_options *lopts,
                 compose_log_fn fn, void *ctx, struct m87_error **err)
{
    static const struct compose_logs_options no_lopts = {0};
    const struct compose_logs_options *lo = lopts ? lopts : &no_lopts;
    struct compose_run r;
    compose_run_init(&r, c, p, opts);
    int rc = p->n_services > 0 ? compose_select(p, r.o, false, r.selected, err) : 0;
    if (rc == 0)
        rc = compose_observe(c, p->name, r.obs, err);
    if (rc == 0) {
        struct logs_shared sh = {.fn = fn, .ctx = ctx, .timestamps = lo->timestamps};
        pthread_mutex_init(&sh.lock, NULL);
        size_t n = 0;
        _cleanup_free_ struct compose_ctr **ks = pick(&r, &n);
        rc = lo->follow ? follow_all(c, ks, n, &sh, lo->tail, err)
                        : logs_once(c, ks, n, &sh, lo, err);
        pthread_mutex_destroy(&sh.lock);
    }
    compose_run_release(&r);
    return rc < 0 ? m87_error_wrap(err, "logs of project '%s'", p->name) : 0;
}
