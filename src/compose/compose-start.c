/* Start phase and waits: services in dependency order, each after its dependencies' conditions
 * hold (polling inspect, as compose v2 does), files injected before every start; --wait polls
 * every container until it runs, is healthy, or completed where that is what is asked. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine-containers.h"
#include "m87/error.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/time.h"

#define COMPOSE_POLL_MS 500
/* --wait: how long a container without a healthcheck must have been up to count as running,
 * so that one crashing right after its start fails the wait instead of passing it */
#define COMPOSE_WAIT_SETTLE_MS 2000L

enum verdict {
    VERDICT_PENDING,
    VERDICT_OK,
    VERDICT_FAILED,
};

/* Milliseconds since dockerd's RFC 3339 StartedAt, by the wall clock we share with it. */
static long up_for_ms(const char *started_at)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = started_at ? strptime(started_at, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (rest == NULL)
        return 0;
    long ms = 0, scale = 100;
    if (*rest == '.')
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
            ms += (*rest - '0') * scale;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long since =
        ((long long)now.tv_sec - (long long)timegm(&tm)) * 1000 + now.tv_nsec / 1000000 - ms;
    return since < 0 ? 0 : since > LONG_MAX ? LONG_MAX : (long)since;
}

static int by_number(const void *a, const void *b)
{
    const struct compose_ctr *x = *(const struct compose_ctr *const *)a;
    const struct compose_ctr *y = *(const struct compose_ctr *const *)b;
    return (x->number > y->number) - (x->number < y->number);
}

/* The live replicas of s, by number; caller frees the array. */
static struct compose_ctr **replicas_of(struct compose_run *r, const struct spec_service *s,
                                        size_t *n)
{
    size_t len = compose_observed_len(r);
    struct compose_ctr **v = m87_xcalloc(len ? len : 1, sizeof(*v));
    *n = 0;
    for (size_t i = 0; i < len; i++) {
        struct compose_ctr *k = &r->obs->v[i];
        /* the fields that never change first: see compose_observed_add */
        if (!k->oneoff && k->service && strcmp(k->service, s->name) == 0 && k->number > 0 &&
            k->number <= s->replicas && !k->gone)
            v[(*n)++] = k;
    }
    qsort(v, *n, sizeof(*v), by_number);
    return v;
}

static int fail(struct compose_run *r, const struct compose_ctr *k, struct m87_error **err,
                const char *fmt, ...) M87_PRINTF(4, 5);

static int fail(struct compose_run *r, const struct compose_ctr *k, struct m87_error **err,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *what = m87_xvasprintf(fmt, ap);
    va_end(ap);
    m87_error_set(err, M87_E_INVAL, 0, "container '%s' %s", k->name, what);
    compose_quote_logs(r->c, k->id, err);
    return -1;
}

/* ---- conditions -------------------------------------------------------------------------------
 */

static enum verdict judge_dependency(struct compose_run *r, const struct compose_ctr *k,
                                     const struct engine_container_info *info,
                                     enum spec_depends_condition cond, struct m87_error **err)
{
    bool up = info->running && !info->restarting;
    if (cond == SPEC_DEPENDS_HEALTHY) {
        if (info->health == NULL)
            return fail(r, k, err, "has no healthcheck configured"), VERDICT_FAILED;
        if (!up)
            return fail(r, k, err, "exited with code %d", info->exit_code), VERDICT_FAILED;
        if (strcmp(info->health, "unhealthy") == 0)
            return fail(r, k, err, "is unhealthy"), VERDICT_FAILED;
        return strcmp(info->health, "healthy") == 0 ? VERDICT_OK : VERDICT_PENDING;
    }
    if (info->running || strcmp(info->status, "created") == 0)
        return VERDICT_PENDING;
    if (info->exit_code != 0)
        return fail(r, k, err, "exited with code %d", info->exit_code), VERDICT_FAILED;
    return VERDICT_OK;
}

/* --wait: running, healthy where there is a healthcheck, or completed when another service
 * waits for exactly that. */
static enum verdict judge_wait(struct compose_run *r, const struct compose_ctr *k,
                               const struct engine_container_info *info, bool completion,
                               struct m87_error **err)
{
    if (info->restarting)
        return fail(r, k, err, "is restarting (exit code %d)", info->exit_code), VERDICT_FAILED;
    if (!info->running) {
        if (completion && info->exit_code == 0 && strcmp(info->status, "exited") == 0)
            return VERDICT_OK;
        if (strcmp(info->status, "created") == 0)
            return fail(r, k, err, "was never started"), VERDICT_FAILED;
        return fail(r, k, err, "exited with code %d", info->exit_code), VERDICT_FAILED;
    }
    if (info->health == NULL)
        return up_for_ms(info->started_at) >= COMPOSE_WAIT_SETTLE_MS ? VERDICT_OK : VERDICT_PENDING;
    if (strcmp(info->health, "healthy") == 0)
        return VERDICT_OK;
    if (strcmp(info->health, "unhealthy") == 0)
        return fail(r, k, err, "is unhealthy"), VERDICT_FAILED;
    return VERDICT_PENDING;
}

struct waiter {
    struct compose_ctr *k;
    bool completion; /* --wait: completing is success */
    bool done;
};

static const char *ok_action(const struct engine_container_info *info)
{
    if (!info->running)
        return "exited";
    return info->health ? "healthy" : "running";
}

/* Poll until every waiter is judged OK; cond < 0 means the --wait judgement. */
static int poll_until(struct compose_run *r, struct waiter *w, size_t n, int cond,
                      struct m87_error **err)
{
    long deadline = r->o->wait_timeout_ms > 0 ? m87_mono_ms() + r->o->wait_timeout_ms : 0;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            if (w[i].done)
                continue;
            _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
            if (engine_container_inspect(r->c, w[i].k->id, &info, err) < 0)
                return -1;
            enum verdict v = cond < 0 ? judge_wait(r, w[i].k, info, w[i].completion, err)
                                      : judge_dependency(r, w[i].k, info,
                                                         (enum spec_depends_condition)cond, err);
            if (v == VERDICT_FAILED)
                return -1;
            if (v == VERDICT_PENDING) {
                left++;
                continue;
            }
            w[i].done = true;
            _cleanup_free_ char *code = m87_xasprintf("exit code %d", info->exit_code);
            compose_emit(r, COMPOSE_CONTAINER, w[i].k->service, w[i].k->name, ok_action(info),
                         info->running ? NULL : code);
        }
        if (left == 0)
            return 0;
        if (deadline && m87_mono_ms() >= deadline) {
            for (size_t i = 0; i < n; i++)
                if (!w[i].done)
                    return m87_error_set(err, M87_E_TIMEOUT, 0,
                                         "container '%s': still not ready after %ld ms",
                                         w[i].k->name, r->o->wait_timeout_ms);
        }
        m87_sleep_ms(COMPOSE_POLL_MS);
    }
}

static const char *condition_text(enum spec_depends_condition c)
{
    return c == SPEC_DEPENDS_HEALTHY ? "service_healthy" : "service_completed_successfully";
}

int compose_wait_condition(struct compose_run *r, const struct spec_service *dep,
                           enum spec_depends_condition cond, struct m87_error **err)
{
    size_t n = 0;
    _cleanup_free_ struct compose_ctr **v = replicas_of(r, dep, &n);
    if (n == 0)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "service '%s' has no container", dep->name);
    _cleanup_free_ struct waiter *w = m87_xcalloc(n, sizeof(*w));
    for (size_t i = 0; i < n; i++) {
        w[i].k = v[i];
        compose_emit(r, COMPOSE_CONTAINER, dep->name, v[i]->name, "waiting", condition_text(cond));
    }
    return poll_until(r, w, n, (int)cond, err);
}

/* ---- start ------------------------------------------------------------------------------------
 */

static int wait_dependencies(struct compose_run *r, const struct spec_service *s,
                             struct m87_error **err)
{
    for (size_t j = 0; j < s->n_depends; j++) {
        const struct spec_depends *d = &s->depends[j];
        ssize_t t = compose_service_index(r->p, d->service);
        if (t < 0 || d->condition == SPEC_DEPENDS_STARTED)
            continue;
        if (compose_wait_condition(r, &r->p->services[t], d->condition, err) == 0)
            continue;
        if (d->required)
            return m87_error_wrap(err, "service '%s': dependency failed to start", s->name);
        compose_warn(r, "service '%s': optional dependency '%s' failed: %s", s->name, d->service,
                     (*err)->msg);
        m87_error_clear(err);
    }
    return 0;
}

static int start_ctr(struct compose_run *r, const struct spec_service *s, struct compose_ctr *k,
                     struct m87_error **err)
{
    if (compose_inject_files(r, s, k->id, err) < 0)
        return m87_error_wrap(err, "container '%s'", k->name);
    int rc = engine_container_start(r->c, k->id, err);
    if (rc < 0 && strstr((*err)->msg, "is ambiguous") != NULL) {
        /* two networks of one name (compose_networks_dedupe): once removed, the start is tried
         * again */
        struct m87_error *local = NULL;
        if (compose_networks_dedupe(r, &local) == 0) {
            m87_error_clear(err);
            rc = engine_container_start(r->c, k->id, err);
        }
        m87_error_clear(&local);
    }
    if (rc < 0) {
        m87_error_wrap(err, "container '%s'", k->name);
        compose_quote_logs(r->c, k->id, err);
        return -1;
    }
    compose_ctr_set_state(k, "running");
    compose_emit(r, COMPOSE_CONTAINER, s->name, k->name, "started", NULL);
    return compose_post_start(r, s, k, err);
}

/* A container that exited with an error by the time everything is started fails the run even
 * without --wait. */
static int check_started(struct compose_run *r, struct compose_ctr **started, size_t n,
                         struct m87_error **err)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
        if (engine_container_inspect(r->c, started[i]->id, &info, err) < 0)
            return -1;
        if (info->running || info->exit_code == 0)
            continue;
        return fail(r, started[i], err, "exited with code %d", info->exit_code);
    }
    return 0;
}

struct starts {
    const struct spec_project *p;
    struct compose_ctr ***todo; /* per service: its replicas to start */
    size_t *n_todo;
    struct compose_ctr **started; /* under the run's lock */
    size_t n_started;
};

/* The replicas of a service that are not running; those that run are reported. The
 * dependency conditions gate starts: a service with nothing to start waits for nothing. */
static int start_prepare(struct compose_run *r, void *ctx, size_t idx, size_t *n_items,
                         struct m87_error **err)
{
    struct starts *st = ctx;
    const struct spec_service *s = &r->p->services[idx];
    size_t n = 0, m = 0;
    _cleanup_free_ struct compose_ctr **v = replicas_of(r, s, &n);
    st->todo[idx] = m87_xcalloc(n ? n : 1, sizeof(**st->todo));
    for (size_t j = 0; j < n; j++)
        if (!compose_ctr_running(v[j]))
            st->todo[idx][m++] = v[j];
    if (m > 0 && wait_dependencies(r, s, err) < 0)
        return -1;
    for (size_t j = 0; j < n; j++)
        if (compose_ctr_running(v[j]))
            compose_emit(r, COMPOSE_CONTAINER, s->name, v[j]->name, "running", NULL);
    st->n_todo[idx] = m;
    *n_items = m;
    return 0;
}

static int start_item(struct compose_run *r, void *ctx, size_t idx, size_t item,
                      struct m87_error **err)
{
    struct starts *st = ctx;
    struct compose_ctr *k = st->todo[idx][item];
    if (start_ctr(r, &r->p->services[idx], k, err) < 0)
        return -1;
    pthread_mutex_lock(r->lock);
    st->started[st->n_started++] = k;
    pthread_mutex_unlock(r->lock);
    return 0;
}

static bool start_waits(void *ctx, size_t node, size_t other)
{
    const struct starts *st = ctx;
    return compose_depends(&st->p->services[node], st->p->services[other].name);
}

static const struct compose_pool_ops start_ops = {
    .waits = start_waits,
    .prepare = start_prepare,
    .item = start_item,
};

static bool anything_to_start(struct compose_run *r)
{
    for (size_t i = 0; i < r->p->n_services; i++) {
        size_t n = 0;
        if (!r->selected[i])
            continue;
        _cleanup_free_ struct compose_ctr **v = replicas_of(r, &r->p->services[i], &n);
        for (size_t j = 0; j < n; j++)
            if (!compose_ctr_running(v[j]))
                return true;
    }
    return false;
}

int compose_start_services(struct compose_run *r, struct m87_error **err)
{
    size_t n = r->p->n_services;
    struct starts st = {
        .p = r->p,
        .todo = m87_xcalloc(n ? n : 1, sizeof(*st.todo)),
        .n_todo = m87_xcalloc(n ? n : 1, sizeof(*st.n_todo)),
        .started = m87_xcalloc(r->obs->n ? r->obs->n : 1, sizeof(*st.started)),
    };
    int rc = 0;
    if (anything_to_start(r)) {
        rc = compose_pool_run(r, n, r->order, r->selected, &start_ops, &st, err);
    } else {
        /* all running: report them, in order, without a thread */
        for (size_t o = 0; o < n && rc == 0; o++) {
            size_t none = 0;
            if (r->selected[r->order[o]])
                rc = start_prepare(r, &st, r->order[o], &none, err);
        }
    }
    if (rc == 0)
        rc = check_started(r, st.started, st.n_started, err);
    for (size_t i = 0; i < n; i++)
        free(st.todo[i]);
    free(st.todo);
    free(st.n_todo);
    free(st.started);
    return rc;
}

/* ---- --wait -----------------------------------------------------------------------------------
 */

static bool awaited_completion(const struct compose_run *r, const char *name)
{
    for (size_t i = 0; i < r->p->n_services; i++) {
        const struct spec_service *s = &r->p->services[i];
        for (size_t j = 0; r->selected[i] && j < s->n_depends; j++)
            if (s->depends[j].condition == SPEC_DEPENDS_COMPLETED &&
                strcmp(s->depends[j].service, name) == 0)
                return true;
    }
    return false;
}

int compose_wait_all(struct compose_run *r, struct m87_error **err)
{
    _cleanup_free_ struct waiter *w = m87_xcalloc(r->obs->n ? r->obs->n : 1, sizeof(*w));
    size_t n = 0;
    for (size_t o = 0; o < r->p->n_services; o++) {
        const struct spec_service *s = &r->p->services[r->order[o]];
        if (!r->selected[r->order[o]])
            continue;
        size_t nv = 0;
        _cleanup_free_ struct compose_ctr **v = replicas_of(r, s, &nv);
        bool completion = awaited_completion(r, s->name);
        for (size_t j = 0; j < nv; j++)
            w[n++] = (struct waiter){.k = v[j], .completion = completion};
    }
    return poll_until(r, w, n, -1, err);
}
