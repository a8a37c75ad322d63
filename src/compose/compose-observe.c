/* What the project looks like in dockerd (one list call), the service graph, and the run
 * context shared by the verbs. */
#include <stdio.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-containers.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

/* The tail quoted when a container fails, and the cap on what is quoted. */
#define COMPOSE_LOG_QUOTE_LINES "10"
#define COMPOSE_LOG_QUOTE_MAX 4096

/* ---- observed containers -------------------------------------------------------------------- */

static char *ports_text(const struct m87_json *ports)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < m87_json_len(ports); i++) {
        const struct m87_json *pt = m87_json_at(ports, i);
        const char *ip = m87_json_str(m87_json_get(pt, "IP"), NULL);
        int64_t priv = m87_json_int(m87_json_get(pt, "PrivatePort"), 0);
        int64_t pub = m87_json_int(m87_json_get(pt, "PublicPort"), 0);
        const char *type = m87_json_str(m87_json_get(pt, "Type"), "tcp");
        const char *sep = b.len ? ", " : "";
        if (pub > 0 && ip && strchr(ip, ':'))
            m87_buf_appendf(&b, NULL, "%s[%s]:%lld->%lld/%s", sep, ip, (long long)pub,
                            (long long)priv, type);
        else if (pub > 0)
            m87_buf_appendf(&b, NULL, "%s%s:%lld->%lld/%s", sep, ip ? ip : "", (long long)pub,
                            (long long)priv, type);
        else
            m87_buf_appendf(&b, NULL, "%s%lld/%s", sep, (long long)priv, type);
    }
    return m87_buf_steal(&b);
}

static void ctr_fill(struct compose_ctr *k, const struct m87_json *n)
{
    k->id = engine_json_strdup(m87_json_get(n, "Id"));
    k->name = engine_strip_slash(m87_json_str(m87_json_at(m87_json_get(n, "Names"), 0), ""));
    k->image = engine_json_strdup(m87_json_get(n, "Image"));
    k->state = m87_xstrdup(m87_json_str(m87_json_get(n, "State"), ""));
    k->status = m87_xstrdup(m87_json_str(m87_json_get(n, "Status"), ""));
    k->created = m87_json_int(m87_json_get(n, "Created"), 0);
    m87_kvlist_init(&k->labels);
    m87_json_to_kvlist(m87_json_get(n, "Labels"), &k->labels);
    const char *v = m87_kvlist_get(&k->labels, COMPOSE_L_SERVICE);
    k->service = v ? m87_xstrdup(v) : NULL;
    v = m87_kvlist_get(&k->labels, COMPOSE_L_NUMBER);
    char *end = NULL;
    long num = v ? strtol(v, &end, 10) : 0;
    k->number = v && *end == '\0' && num > 0 && num <= SPEC_MAX_REPLICAS ? (int)num : 0;
    v = m87_kvlist_get(&k->labels, COMPOSE_L_HASH);
    k->hash = v ? m87_xstrdup(v) : NULL;
    v = m87_kvlist_get(&k->labels, COMPOSE_L_IMAGE);
    k->image_label = v ? m87_xstrdup(v) : NULL;
    v = m87_kvlist_get(&k->labels, COMPOSE_L_ONEOFF);
    k->oneoff = v && strcmp(v, "True") == 0;

    m87_kvlist_init(&k->networks);
    const struct m87_json *nets = m87_json_path(n, "NetworkSettings", "Networks", NULL);
    for (size_t i = 0; i < m87_json_len(nets); i++) {
        const char *name = NULL;
        const struct m87_json *ep = m87_json_member(nets, i, &name);
        const char *nid = m87_json_str(m87_json_get(ep, "NetworkID"), "");
        /* Podman gives the network's name as NetworkID (its containers follow a network by
         * name, so one recreated under that name is theirs at once): no ID to compare */
        m87_kvlist_add(&k->networks, name, strcmp(nid, name) == 0 ? "" : nid);
    }
    m87_kvlist_init(&k->volumes);
    const struct m87_json *mounts = m87_json_get(n, "Mounts");
    for (size_t i = 0; i < m87_json_len(mounts); i++) {
        const struct m87_json *m = m87_json_at(mounts, i);
        const char *name = m87_json_str(m87_json_get(m, "Name"), NULL);
        const char *dst = m87_json_str(m87_json_get(m, "Destination"), NULL);
        if (name && dst && strcmp(m87_json_str(m87_json_get(m, "Type"), ""), "volume") == 0)
            m87_kvlist_add(&k->volumes, dst, name);
    }
    k->ports = ports_text(m87_json_get(n, "Ports"));
}

int compose_observe(struct engine_client *c, const char *project, struct compose_observed *out,
                    struct m87_error **err)
{
    struct m87_kvlist f;
    compose_project_filter(project, &f);
    struct m87_buf path;
    m87_buf_init(&path, 0);
    m87_buf_appendf(&path, NULL, "/containers/json?all=1");
    engine_qs_filters(&path, &f);
    m87_kvlist_release(&f);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    int r = engine_get_json(c, path.data, &doc, err);
    m87_buf_release(&path);
    if (r < 0)
        return m87_error_wrap(err, "list containers of project '%s'", project);
    if (m87_json_type(doc) != M87_JSON_ARRAY)
        return m87_error_set(err, M87_E_PARSE, 0,
                             "list containers of project '%s': answer is not an array", project);
    out->n = m87_json_len(doc);
    out->cap = out->n ? out->n : 1;
    out->v = m87_xcalloc(out->cap, sizeof(*out->v));
    for (size_t i = 0; i < out->n; i++)
        ctr_fill(&out->v[i], m87_json_at(doc, i));
    return 0;
}

static void ctr_release(struct compose_ctr *k)
{
    free(k->id);
    free(k->name);
    free(k->service);
    free(k->hash);
    free(k->image_label);
    free(k->image);
    free(k->state);
    free(k->status);
    free(k->ports);
    m87_kvlist_release(&k->labels);
    m87_kvlist_release(&k->networks);
    m87_kvlist_release(&k->volumes);
}

void compose_observed_release(struct compose_observed *o)
{
    for (size_t i = 0; o->v && i < o->n; i++)
        ctr_release(&o->v[i]);
    free(o->v);
    o->v = NULL;
    o->n = 0;
    o->cap = 0;
}

void compose_observed_reserve(struct compose_observed *o, size_t extra)
{
    size_t cap = o->n + extra + 1;
    if (cap <= o->cap)
        return;
    o->v = m87_xrealloc(o->v, cap * sizeof(*o->v));
    memset(o->v + o->cap, 0, (cap - o->cap) * sizeof(*o->v));
    o->cap = cap;
}

struct compose_ctr *compose_observed_add(struct compose_run *r, struct compose_ctr *filled)
{
    pthread_mutex_lock(r->lock);
    struct compose_observed *o = r->obs;
    if (o->n >= o->cap)
        abort(); /* a missing reserve is a bug: pointers into the array would dangle */
    struct compose_ctr *k = &o->v[o->n];
    *k = *filled;
    m87_kvlist_init(&k->labels);
    m87_kvlist_init(&k->networks);
    m87_kvlist_init(&k->volumes);
    o->n++;
    pthread_mutex_unlock(r->lock);
    memset(filled, 0, sizeof(*filled));
    return k;
}

size_t compose_observed_len(struct compose_run *r)
{
    pthread_mutex_lock(r->lock);
    size_t n = r->obs->n;
    pthread_mutex_unlock(r->lock);
    return n;
}

void compose_ctr_set_state(struct compose_ctr *k, const char *state)
{
    free(k->state);
    k->state = m87_xstrdup(state);
}

bool compose_ctr_running(const struct compose_ctr *k)
{
    /* restarting and paused containers are dockerd's to handle; starting them again fails */
    return strcmp(k->state, "running") == 0 || strcmp(k->state, "restarting") == 0 ||
           strcmp(k->state, "paused") == 0;
}

/* ---- services ------------------------------------------------------------------------------ */

ssize_t compose_service_index(const struct spec_project *p, const char *name)
{
    for (size_t i = 0; i < p->n_services; i++)
        if (strcmp(p->services[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

bool compose_depends(const struct spec_service *s, const char *name)
{
    for (size_t i = 0; i < s->n_depends; i++)
        if (strcmp(s->depends[i].service, name) == 0)
            return true;
    return s->network_mode && strncmp(s->network_mode, "service:", 8) == 0 &&
           strcmp(s->network_mode + 8, name) == 0;
}

/* Dependencies first, each round taking the first service in file order whose dependencies
 * are placed; a cycle (which the loader refuses) ends up in file order rather than looping. */
void compose_order(const struct spec_project *p, size_t *order)
{
    size_t n = p->n_services;
    _cleanup_free_ bool *placed = m87_xcalloc(n ? n : 1, sizeof(*placed));
    for (size_t k = 0; k < n; k++) {
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++) {
            if (placed[i])
                continue;
            bool ready = true;
            for (size_t j = 0; j < n && ready; j++)
                ready =
                    placed[j] || j == i || !compose_depends(&p->services[i], p->services[j].name);
            if (ready)
                pick = i;
        }
        for (size_t i = 0; i < n && pick == n; i++)
            if (!placed[i])
                pick = i;
        placed[pick] = true;
        order[k] = pick;
    }
}

int compose_select(const struct spec_project *p, const struct compose_options *o, bool with_deps,
                   bool *selected, struct m87_error **err)
{
    size_t n = p->n_services;
    for (size_t i = 0; i < n; i++)
        selected[i] = o->n_services == 0;
    for (size_t i = 0; i < o->n_services; i++) {
        ssize_t k = compose_service_index(p, o->services[i]);
        if (k < 0)
            return m87_error_set(err, M87_E_INVAL, 0, "no such service: '%s'", o->services[i]);
        selected[k] = true;
    }
    for (bool grew = with_deps; grew;) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; selected[i] && j < n; j++) {
                if (!selected[j] && compose_depends(&p->services[i], p->services[j].name)) {
                    selected[j] = true;
                    grew = true;
                }
            }
        }
    }
    return 0;
}

/* ---- the run ------------------------------------------------------------------------------- */

struct compose_shared {
    pthread_mutex_t lock;
    struct compose_observed obs;
    struct m87_kvlist image_ids;
    struct m87_kvlist network_ids;
    struct m87_kvlist project_filter;
};

void compose_run_init(struct compose_run *r, struct engine_client *c, const struct spec_project *p,
                      const struct compose_options *o)
{
    static const struct compose_options defaults = {.timeout_s = -1};
    memset(r, 0, sizeof(*r));
    r->c = c;
    r->p = p;
    r->o = o ? o : &defaults;
    r->own = m87_xcalloc(1, sizeof(*r->own));
    pthread_mutex_init(&r->own->lock, NULL);
    m87_kvlist_init(&r->own->image_ids);
    m87_kvlist_init(&r->own->network_ids);
    compose_project_filter(p->name, &r->own->project_filter);
    r->lock = &r->own->lock;
    r->obs = &r->own->obs;
    r->image_ids = &r->own->image_ids;
    r->network_ids = &r->own->network_ids;
    r->project_filter = &r->own->project_filter;
    size_t n = p->n_services ? p->n_services : 1;
    r->selected = m87_xcalloc(n, sizeof(*r->selected));
    r->order = m87_xcalloc(n, sizeof(*r->order));
    compose_order(p, r->order);
}

void compose_run_release(struct compose_run *r)
{
    if (r->own == NULL)
        return;
    compose_observed_release(&r->own->obs);
    m87_kvlist_release(&r->own->image_ids);
    m87_kvlist_release(&r->own->network_ids);
    m87_kvlist_release(&r->own->project_filter);
    pthread_mutex_destroy(&r->own->lock);
    free(r->own);
    free(r->selected);
    free(r->order);
    memset(r, 0, sizeof(*r));
}

void compose_run_view(const struct compose_run *r, struct engine_client *c, struct compose_run *out)
{
    *out = *r;
    out->c = c;
    out->own = NULL;
}

void compose_emit(struct compose_run *r, enum compose_event_kind kind, const char *service,
                  const char *object, const char *action, const char *detail)
{
    if (r->o->on_event == NULL)
        return;
    struct compose_event ev = {
        .kind = kind,
        .service = service,
        .object = object,
        .action = action,
        .detail = detail,
    };
    pthread_mutex_lock(r->lock);
    r->o->on_event(r->o->ctx, &ev);
    pthread_mutex_unlock(r->lock);
}

void compose_warn(struct compose_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *text = m87_xvasprintf(fmt, ap);
    va_end(ap);
    compose_emit(r, COMPOSE_WARNING, NULL, NULL, NULL, text);
}

int compose_remove_forced(struct compose_run *r, const char *id, bool volumes,
                          struct m87_error **err)
{
    struct m87_error *local = NULL;
    if (engine_container_remove(r->c, id, true, volumes, &local) < 0 &&
        m87_error_code(local) == M87_E_CONFLICT) {
        /* a forced remove conflicts only with a removal under way, such as that of a run
         * killed after asking for it; its name is free only once it is gone */
        m87_error_clear(&local);
        int code = 0;
        if (engine_container_wait(r->c, id, "removed", engine_client_timeout_ms(r->c), &code,
                                  &local) == 0)
            m87_error_clear(&local);
    }
    if (local && m87_error_code(local) != M87_E_NOTFOUND) {
        *err = M87_STEAL(local);
        return -1;
    }
    m87_error_clear(&local);
    return 0;
}

static int parse_id(const char *text, const char *what, const char *target, int *out,
                    struct m87_error **err)
{
    if (text == NULL) {
        *out = 0;
        return 0;
    }
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 0 || v > INT32_MAX)
        return m87_error_set(err, M87_E_INVAL, 0, "%s of '%s': '%s' is not a number", what, target,
                             text);
    *out = (int)v;
    return 0;
}

static int inject_refs(struct compose_run *r, const struct spec_file_ref *refs, size_t n,
                       const struct spec_config *defs, size_t n_defs, const char *id,
                       struct m87_error **err)
{
    for (size_t i = 0; i < n; i++) {
        const struct spec_config *d = compose_find_config(defs, n_defs, refs[i].source);
        if (d == NULL || d->source == SPEC_SOURCE_FILE)
            continue;
        int uid = 0, gid = 0;
        if (parse_id(refs[i].uid, "uid", refs[i].target, &uid, err) < 0 ||
            parse_id(refs[i].gid, "gid", refs[i].target, &gid, err) < 0)
            return -1;
        unsigned mode = refs[i].mode == SPEC_UNSET ? 0444 : (unsigned)refs[i].mode;
        const char *content = d->content ? d->content : "";
        struct m87_buf tar;
        m87_buf_init(&tar, 0);
        int rc = engine_tar_single_file(refs[i].target, content, strlen(content), mode, uid, gid,
                                        &tar, err);
        if (rc == 0)
            rc = engine_container_archive_put(r->c, id, "/", tar.data, tar.len, err);
        m87_buf_release(&tar);
        if (rc < 0)
            return m87_error_wrap(err, "put '%s' into the container", refs[i].target);
    }
    return 0;
}

int compose_inject_files(struct compose_run *r, const struct spec_service *s, const char *id,
                         struct m87_error **err)
{
    const struct spec_project *p = r->p;
    if (inject_refs(r, s->configs, s->n_configs, p->configs, p->n_configs, id, err) < 0 ||
        inject_refs(r, s->secrets, s->n_secrets, p->secrets, p->n_secrets, id, err) < 0)
        return -1;
    return 0;
}

struct quote_ctx {
    struct m87_buf buf;
};

static int quote_line(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    (void)stream;
    struct quote_ctx *q = ctx;
    m87_buf_appendf(&q->buf, NULL, "\n  %.*s", (int)len, data);
    return 0;
}

void compose_quote_logs(struct engine_client *c, const char *id, struct m87_error **err)
{
    if (err == NULL || *err == NULL)
        return;
    struct quote_ctx q;
    m87_buf_init(&q.buf, COMPOSE_LOG_QUOTE_MAX);
    struct engine_logs_options lo = {.tail = COMPOSE_LOG_QUOTE_LINES, .lines = true};
    struct m87_error *lerr = NULL;
    if (engine_container_logs(c, id, &lo, quote_line, &q, &lerr) < 0 && q.buf.len == 0)
        m87_buf_appendf(&q.buf, NULL, "\n  (no logs: %s)", lerr->msg);
    m87_error_clear(&lerr);
    char *msg =
        m87_xasprintf("%s; last log lines:%s", (*err)->msg, q.buf.len ? q.buf.data : "\n  (none)");
    free((*err)->msg);
    (*err)->msg = msg;
    m87_buf_release(&q.buf);
}
