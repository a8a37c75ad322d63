/* Images first: one inspect per distinct image, then the pulls policy asks for, in parallel,
 * before anything is stopped. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine-call.h"
#include "m87/engine-creds.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-service.h"

#define COMPOSE_PULL_PARALLEL 4

struct image_job {
    const char *ref;
    const char *service; /* the first service using it, for events */
    const char *platform;
    bool present;
    bool pull;
    char *id;
    int64_t tagged; /* unix seconds of the last tag, 0 when unknown */
    struct engine_registry_auth auth;
    struct m87_error *err;
};

struct image_pool {
    struct compose_run *r;
    struct image_job *jobs;
    size_t n;
    size_t next;
};

static int64_t parse_time(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (text == NULL || strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    time_t t = timegm(&tm);
    return t > 0 ? (int64_t)t : 0;
}

/* GET /images/REF/json: present or not, ID and last tag time. */
static int image_probe(struct engine_client *c, struct image_job *j, struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/images/", j->ref, "/json");
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    struct m87_error *local = NULL;
    if (engine_get_json(c, path, &doc, &local) < 0) {
        if (m87_error_code(local) == M87_E_NOTFOUND) {
            m87_error_free(local);
            j->present = false;
            return 0;
        }
        *err = local;
        return m87_error_wrap(err, "inspect image '%s'", j->ref);
    }
    const char *id = m87_json_str(m87_json_get(doc, "Id"), NULL);
    if (id == NULL)
        return m87_error_set(err, M87_E_PARSE, 0, "inspect image '%s': answer has no Id", j->ref);
    free(j->id);
    j->id = m87_xstrdup(id);
    j->present = true;
    j->tagged = parse_time(m87_json_str(m87_json_path(doc, "Metadata", "LastTagTime", NULL), NULL));
    return 0;
}

struct pull_cb {
    struct compose_run *r;
    struct image_job *job;
};

static int on_pull(void *ctx, const struct engine_pull_msg *msg)
{
    struct pull_cb *cb = ctx;
    struct compose_run *r = cb->r;
    if (r->o->on_event == NULL)
        return 0;
    struct compose_event ev = {
        .kind = COMPOSE_PULL,
        .service = cb->job->service,
        .object = cb->job->ref,
        .action = msg->status,
        .detail = msg->id,
        .pull = msg,
    };
    pthread_mutex_lock(r->lock);
    r->o->on_event(r->o->ctx, &ev);
    pthread_mutex_unlock(r->lock);
    return 0;
}

static void pull_one(struct compose_run *r, struct engine_client *c, struct image_job *j)
{
    struct pull_cb cb = {.r = r, .job = j};
    struct engine_pull_options po = {
        .auth = j->auth.found ? &j->auth.auth : NULL,
        .platform = j->platform,
        .stall_ms = r->o->pull_stall_ms,
    };
    if (engine_image_pull(c, j->ref, &po, on_pull, &cb, &j->err) < 0) {
        engine_registry_auth_wrap(&j->err, &j->auth);
        m87_error_wrap(&j->err, "service '%s'", j->service);
        return;
    }
    if (image_probe(c, j, &j->err) < 0) {
        m87_error_wrap(&j->err, "service '%s'", j->service);
        return;
    }
    if (!j->present) {
        m87_error_set(&j->err, M87_E_PULL, 0, "service '%s': image '%s' is missing after its pull",
                      j->service, j->ref);
        return;
    }
    compose_emit(r, COMPOSE_PULLED, j->service, j->ref, "pulled", j->id);
}

static void *pull_worker(void *arg)
{
    struct image_pool *pool = arg;
    struct compose_run *r = pool->r;
    _cleanup_(engine_client_freep) struct engine_client *c = engine_client_clone(r->c);
    for (;;) {
        pthread_mutex_lock(r->lock);
        while (pool->next < pool->n && !pool->jobs[pool->next].pull)
            pool->next++;
        struct image_job *j = pool->next < pool->n ? &pool->jobs[pool->next++] : NULL;
        pthread_mutex_unlock(r->lock);
        if (j == NULL)
            return NULL;
        pull_one(r, c, j);
    }
}

static void pull_all(struct compose_run *r, struct image_job *jobs, size_t n, size_t n_pull)
{
    struct image_pool pool = {.r = r, .jobs = jobs, .n = n};
    /* a client that is not on a socket cannot be cloned for threads */
    if (engine_client_socket(r->c)[0] == '\0' || n_pull == 1) {
        for (size_t i = 0; i < n; i++)
            if (jobs[i].pull)
                pull_one(r, r->c, &jobs[i]);
        return;
    }
    pthread_t tids[COMPOSE_PULL_PARALLEL];
    size_t nt = n_pull < COMPOSE_PULL_PARALLEL ? n_pull : COMPOSE_PULL_PARALLEL;
    size_t started = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, COMPOSE_STACK_SIZE);
    for (; started < nt; started++)
        if (pthread_create(&tids[started], &attr, pull_worker, &pool) != 0)
            break;
    pthread_attr_destroy(&attr);
    if (started == 0)
        pull_worker(&pool);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
}

static enum compose_pull service_mode(const struct spec_service *s, enum compose_pull mode,
                                      bool for_pull_verb, bool *every)
{
    *every = false;
    if (mode != COMPOSE_PULL_POLICY)
        return mode;
    switch (s->pull_policy) {
    case SPEC_PULL_ALWAYS:
        return COMPOSE_PULL_ALWAYS;
    case SPEC_PULL_NEVER:
        return COMPOSE_PULL_NEVER;
    case SPEC_PULL_EVERY:
        *every = !for_pull_verb;
        return for_pull_verb ? COMPOSE_PULL_ALWAYS : COMPOSE_PULL_MISSING;
    default:
        /* `compose pull` pulls what `up` would only pull when missing */
        return for_pull_verb ? COMPOSE_PULL_ALWAYS : COMPOSE_PULL_MISSING;
    }
}

static bool wants_pull(const struct spec_service *s, const struct image_job *j,
                       enum compose_pull mode, bool for_pull_verb)
{
    bool every = false;
    switch (service_mode(s, mode, for_pull_verb, &every)) {
    case COMPOSE_PULL_ALWAYS:
        return true;
    case COMPOSE_PULL_NEVER:
        return false;
    default:
        if (!j->present)
            return true;
        return every && (j->tagged == 0 ||
                         (int64_t)time(NULL) - j->tagged >= s->pull_every_ns / 1000000000LL);
    }
}

/* One job per distinct image of the selected services. */
static size_t collect_jobs(struct compose_run *r, struct image_job *jobs)
{
    size_t n = 0;
    for (size_t i = 0; i < r->p->n_services; i++) {
        const struct spec_service *s = &r->p->services[i];
        if (!r->selected[i] || s->image == NULL)
            continue;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(jobs[k].ref, s->image) == 0;
        if (!seen)
            jobs[n++] =
                (struct image_job){.ref = s->image, .service = s->name, .platform = s->platform};
    }
    return n;
}

static int decide(struct compose_run *r, struct image_job *jobs, size_t n, enum compose_pull mode,
                  bool for_pull_verb, size_t *n_pull, struct m87_error **err)
{
    *n_pull = 0;
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < r->p->n_services; i++) {
            const struct spec_service *s = &r->p->services[i];
            if (r->selected[i] && s->image && strcmp(s->image, jobs[k].ref) == 0)
                jobs[k].pull = jobs[k].pull || wants_pull(s, &jobs[k], mode, for_pull_verb);
        }
        *n_pull += jobs[k].pull;
        if (!jobs[k].pull && !jobs[k].present && !for_pull_verb)
            return m87_error_set(err, M87_E_NOTFOUND, 0,
                                 "service '%s': image '%s' is not present and the pull policy "
                                 "is never",
                                 jobs[k].service, jobs[k].ref);
    }
    return 0;
}

/* The credentials of each pull, here in the calling thread: a helper is a child process, and
 * forking beside the pull workers is best avoided. A lookup that fails ends its job like a
 * failed pull. The pulls left. */
static size_t find_creds(struct compose_run *r, struct image_job *jobs, size_t n)
{
    size_t n_pull = 0;
    for (size_t k = 0; k < n; k++) {
        if (!jobs[k].pull)
            continue;
        if (engine_creds_lookup(r->o->creds, jobs[k].ref, &jobs[k].auth, &jobs[k].err) < 0) {
            m87_error_wrap(&jobs[k].err, "service '%s': pull image '%s'", jobs[k].service,
                           jobs[k].ref);
            jobs[k].pull = false;
            continue;
        }
        n_pull++;
    }
    return n_pull;
}

int compose_images(struct compose_run *r, enum compose_pull mode, bool for_pull_verb,
                   struct m87_error **err)
{
    size_t cap = r->p->n_services ? r->p->n_services : 1;
    struct image_job *jobs = m87_xcalloc(cap, sizeof(*jobs));
    size_t n = collect_jobs(r, jobs), n_pull = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        rc = image_probe(r->c, &jobs[k], err);
    if (rc == 0)
        rc = decide(r, jobs, n, mode, for_pull_verb, &n_pull, err);
    if (rc == 0 && n_pull > 0)
        n_pull = find_creds(r, jobs, n);
    if (rc == 0 && n_pull > 0)
        pull_all(r, jobs, n, n_pull);
    for (size_t k = 0; k < n; k++) {
        if (rc == 0 && jobs[k].err) {
            *err = M87_STEAL(jobs[k].err);
            rc = -1;
        }
        if (rc == 0 && jobs[k].id)
            m87_kvlist_set(r->image_ids, jobs[k].ref, jobs[k].id);
        m87_error_free(jobs[k].err);
        engine_registry_auth_release(&jobs[k].auth);
        free(jobs[k].id);
    }
    free(jobs);
    return rc;
}
