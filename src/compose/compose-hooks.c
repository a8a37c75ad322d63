/* Lifecycle hooks: a service's post_start commands run through the exec API right after one of
 * its containers started, its pre_stop commands right before one is stopped (down, stop,
 * recreate, scale down, a dependency's restart). Their output goes to the run's events line by
 * line; a failed post_start fails the start, a failed pre_stop is a warning and the stop goes
 * on. The stop and remove of a container that runs pre_stop first is here too. */
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-exec.h"
#include "m87/engine-logs.h"
#include "m87/json-write.h"
#include "m87/list.h"

/* A line of hook output longer than this is cut (the rest goes into the next event): the
 * events are meant for a terminal and a report, not for bulk data. */
#define COMPOSE_HOOK_LINE_MAX 4096
/* The last lines of a failed hook quoted in its error or warning. */
#define COMPOSE_HOOK_QUOTE_LINES 10

struct hook_out {
    struct compose_run *r;
    const struct spec_service *s;
    const char *ctr;                         /* container name */
    const char *kind;                        /* "post_start" / "pre_stop" */
    char line[2][COMPOSE_HOOK_LINE_MAX + 1]; /* the partial line of stdout, stderr */
    size_t len[2];
    struct m87_strv tail; /* the last COMPOSE_HOOK_QUOTE_LINES lines */
};

static void hook_line(struct hook_out *h, int i)
{
    h->line[i][h->len[i]] = '\0';
    compose_emit(h->r, COMPOSE_HOOK, h->s->name, h->ctr, h->kind, h->line[i]);
    if (h->tail.len == COMPOSE_HOOK_QUOTE_LINES) {
        free(h->tail.items[0]);
        memmove(h->tail.items, h->tail.items + 1, (h->tail.len - 1) * sizeof(*h->tail.items));
        h->tail.len--;
    }
    m87_strv_add(&h->tail, h->line[i]);
    h->len[i] = 0;
}

static int hook_output(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct hook_out *h = ctx;
    if (stream != ENGINE_STREAM_STDOUT && stream != ENGINE_STREAM_STDERR)
        return 0;
    int i = stream == ENGINE_STREAM_STDERR;
    for (size_t k = 0; k < len; k++) {
        if (data[k] == '\n') {
            hook_line(h, i);
            continue;
        }
        if (data[k] == '\r')
            continue;
        h->line[i][h->len[i]++] = data[k];
        if (h->len[i] == COMPOSE_HOOK_LINE_MAX)
            hook_line(h, i);
    }
    return 0;
}

static void hook_env(const struct spec_hook *hk, struct m87_strv *out)
{
    for (size_t i = 0; i < hk->environment.len; i++) {
        const struct m87_kv *kv = &hk->environment.items[i];
        char *e = kv->value ? m87_xasprintf("%s=%s", kv->key, kv->value) : m87_xstrdup(kv->key);
        m87_strv_add(out, e);
        free(e);
    }
}

/* "; last output lines:\n  a\n  b" (or "; no output") appended to msg. */
static char *with_tail(const char *msg, const struct m87_strv *tail)
{
    if (tail->len == 0)
        return m87_xasprintf("%s; no output", msg);
    struct m87_buf b;
    m87_buf_init(&b, 0);
    m87_buf_appendf(&b, NULL, "%s; last output lines:", msg);
    for (size_t i = 0; i < tail->len; i++)
        m87_buf_appendf(&b, NULL, "\n  %s", tail->items[i]);
    char *text = m87_xstrdup(b.data);
    m87_buf_release(&b);
    return text;
}

/* Run hook i of the list kind on container k; its exit code in *code. A failure to run it at
 * all is an error; a non-zero exit code is not (the caller decides). */
static int run_one(struct compose_run *r, const struct spec_service *s, const struct compose_ctr *k,
                   const char *kind, const struct spec_hook *hk, int *code, struct hook_out *h,
                   struct m87_error **err)
{
    struct m87_strv env;
    m87_strv_init(&env);
    hook_env(hk, &env);
    struct engine_exec_config cfg = {
        .argv = &hk->command,
        .env = env.len ? &env : NULL,
        .user = hk->user,
        .working_dir = hk->working_dir,
        .tty = s->tty,
        .privileged = hk->privileged,
    };
    *h = (struct hook_out){.r = r, .s = s, .ctr = k->name, .kind = kind};
    m87_strv_init(&h->tail);
    _cleanup_free_ char *exec_id = NULL;
    int rc = engine_exec_create(r->c, k->id, &cfg, &exec_id, err);
    m87_strv_release(&env);
    if (rc == 0)
        rc = engine_exec_start(r->c, exec_id, cfg.tty, hook_output, h, err);
    for (int i = 0; i < 2; i++)
        if (h->len[i])
            hook_line(h, i);
    if (rc == 0)
        rc = engine_exec_wait(r->c, exec_id, code, err);
    return rc;
}

int compose_post_start(struct compose_run *r, const struct spec_service *s,
                       const struct compose_ctr *k, struct m87_error **err)
{
    for (size_t i = 0; i < s->n_post_start; i++) {
        const struct spec_hook *hk = &s->post_start[i];
        struct hook_out h;
        int code = 0;
        int rc = run_one(r, s, k, "post_start", hk, &code, &h, err);
        if (rc < 0) {
            m87_strv_release(&h.tail);
            return m87_error_wrap(err, "container '%s': post_start[%zu] ('%s')", k->name, i,
                                  hk->command.items[0]);
        }
        if (code != 0) {
            _cleanup_free_ char *msg =
                m87_xasprintf("container '%s': post_start[%zu] ('%s') exited with code %d", k->name,
                              i, hk->command.items[0], code);
            _cleanup_free_ char *text = with_tail(msg, &h.tail);
            m87_strv_release(&h.tail);
            return m87_error_set(err, M87_E_INVAL, 0, "%s", text);
        }
        m87_strv_release(&h.tail);
    }
    return 0;
}

void compose_pre_stop(struct compose_run *r, const struct compose_ctr *k)
{
    if (k->service == NULL || !compose_ctr_running(k))
        return;
    ssize_t idx = compose_service_index(r->p, k->service);
    if (idx < 0)
        return;
    const struct spec_service *s = &r->p->services[idx];
    for (size_t i = 0; i < s->n_pre_stop; i++) {
        const struct spec_hook *hk = &s->pre_stop[i];
        struct hook_out h;
        int code = 0;
        struct m87_error *local = NULL;
        _cleanup_free_ char *msg = NULL;
        if (run_one(r, s, k, "pre_stop", hk, &code, &h, &local) < 0)
            msg = m87_xasprintf("container '%s': pre_stop[%zu] ('%s'): %s", k->name, i,
                                hk->command.items[0], local->msg);
        else if (code != 0)
            msg = m87_xasprintf("container '%s': pre_stop[%zu] ('%s') exited with code %d", k->name,
                                i, hk->command.items[0], code);
        m87_error_free(local);
        if (msg) {
            _cleanup_free_ char *text = with_tail(msg, &h.tail);
            compose_warn(r, "%s; stopping it anyway", text);
        }
        m87_strv_release(&h.tail);
    }
}

static void write_hooks(struct m87_jw *w, const char *key, const struct spec_hook *v, size_t n)
{
    if (n == 0)
        return;
    m87_jw_key(w, key);
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        m87_jw_obj_open(w);
        m87_jw_key(w, "Cmd");
        m87_jw_strv(w, &v[i].command);
        struct m87_strv env;
        m87_strv_init(&env);
        hook_env(&v[i], &env);
        m87_jw_key(w, "Env");
        m87_jw_strv(w, &env);
        m87_strv_release(&env);
        m87_jw_kbool(w, "Privileged", v[i].privileged);
        m87_jw_kstr_opt(w, "User", v[i].user);
        m87_jw_kstr_opt(w, "WorkingDir", v[i].working_dir);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
}

void compose_write_hooks(struct m87_jw *w, const struct spec_service *s)
{
    write_hooks(w, "PostStart", s->post_start, s->n_post_start);
    write_hooks(w, "PreStop", s->pre_stop, s->n_pre_stop);
}

int compose_stop_remove(struct compose_run *r, struct compose_ctr *k, bool volumes,
                        struct m87_error **err)
{
    struct m87_error *local = NULL;
    if (compose_ctr_running(k)) {
        compose_pre_stop(r, k);
        int s = engine_container_stop(r->c, k->id, r->o->timeout_s, &local);
        if (s < 0 && m87_error_code(local) != M87_E_NOTFOUND) {
            *err = M87_STEAL(local);
            return -1;
        }
        m87_error_clear(&local);
        compose_emit(r, COMPOSE_CONTAINER, k->service, k->name, "stopped", NULL);
    }
    if (compose_remove_forced(r, k->id, volumes, err) < 0)
        return -1;
    k->gone = true;
    compose_emit(r, COMPOSE_CONTAINER, k->service, k->name, "removed", NULL);
    return 0;
}
