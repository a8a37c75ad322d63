/* Container calls: list, inspect, create, start, stop, kill, remove, rename, wait. */
#include <stdio.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-containers.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

/* What dockerd adds to a stop's grace period before we give up on its answer: the SIGKILL
 * and the container's teardown after it. */
#define ENGINE_STOP_MARGIN_S 30
#define ENGINE_STOP_DEFAULT_S 10

static void path_start(struct m87_buf *path, const char *base)
{
    m87_buf_init(path, 0);
    m87_buf_append(path, base, strlen(base), NULL);
}

/* ---- list --------------------------------------------------------------------------------- */

static void summary_fill(struct engine_container_summary *s, const struct m87_json *n)
{
    s->id = engine_json_strdup(m87_json_get(n, "Id"));
    s->name = engine_strip_slash(m87_json_str(m87_json_at(m87_json_get(n, "Names"), 0), NULL));
    s->image = engine_json_strdup(m87_json_get(n, "Image"));
    s->image_id = engine_json_strdup(m87_json_get(n, "ImageID"));
    s->state = engine_json_strdup(m87_json_get(n, "State"));
    s->status = engine_json_strdup(m87_json_get(n, "Status"));
    s->created = m87_json_int(m87_json_get(n, "Created"), 0);
    m87_kvlist_init(&s->labels);
    m87_json_to_kvlist(m87_json_get(n, "Labels"), &s->labels);
}

int engine_container_list(struct engine_client *c, bool all, const struct m87_kvlist *filters,
                          struct engine_container_summary **out, size_t *n, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_list(c, all ? "/containers/json?all=1" : "/containers/json", filters,
                        M87_JSON_ARRAY, "containers", &doc, err) < 0)
        return -1;
    size_t len = m87_json_len(doc);
    struct engine_container_summary *v = m87_xcalloc(len ? len : 1, sizeof(*v));
    for (size_t i = 0; i < len; i++)
        summary_fill(&v[i], m87_json_at(doc, i));
    *out = v;
    *n = len;
    return 0;
}

void engine_container_summaries_free(struct engine_container_summary *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].name);
        free(v[i].image);
        free(v[i].image_id);
        free(v[i].state);
        free(v[i].status);
        m87_kvlist_release(&v[i].labels);
    }
    free(v);
}

/* ---- inspect ------------------------------------------------------------------------------ */

static void info_fill(struct engine_container_info *v, const struct m87_json *doc)
{
    const struct m87_json *state = m87_json_get(doc, "State");
    const struct m87_json *config = m87_json_get(doc, "Config");
    v->id = engine_json_strdup(m87_json_get(doc, "Id"));
    v->name = engine_strip_slash(m87_json_str(m87_json_get(doc, "Name"), NULL));
    v->image_id = engine_json_strdup(m87_json_get(doc, "Image"));
    v->config_image = engine_json_strdup(m87_json_get(config, "Image"));
    v->status = engine_json_strdup(m87_json_get(state, "Status"));
    v->running = m87_json_bool(m87_json_get(state, "Running"), false);
    v->restarting = m87_json_bool(m87_json_get(state, "Restarting"), false);
    v->oom_killed = m87_json_bool(m87_json_get(state, "OOMKilled"), false);
    v->exit_code = (int)m87_json_int(m87_json_get(state, "ExitCode"), 0);
    v->pid = (int)m87_json_int(m87_json_get(state, "Pid"), 0);
    v->health = engine_json_strdup(m87_json_path(state, "Health", "Status", NULL));
    v->started_at = engine_json_strdup(m87_json_get(state, "StartedAt"));
    v->finished_at = engine_json_strdup(m87_json_get(state, "FinishedAt"));
    v->error = m87_xstrdup(m87_json_str(m87_json_get(state, "Error"), ""));
    v->tty = m87_json_bool(m87_json_get(config, "Tty"), false);
    v->restart_count = m87_json_int(m87_json_get(doc, "RestartCount"), 0);
    m87_kvlist_init(&v->labels);
    m87_json_to_kvlist(m87_json_get(config, "Labels"), &v->labels);
    m87_strv_init(&v->networks);
    const struct m87_json *nets = m87_json_path(doc, "NetworkSettings", "Networks", NULL);
    for (size_t i = 0; i < m87_json_len(nets); i++) {
        const char *name = NULL;
        m87_json_member(nets, i, &name);
        if (name)
            m87_strv_add(&v->networks, name);
    }
}

int engine_container_inspect(struct engine_client *c, const char *id,
                             struct engine_container_info **out, struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/containers/", id, "/json");
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, path, &doc, err) < 0)
        return m87_error_wrap(err, "inspect container '%s'", id);
    if (m87_json_type(doc) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "inspect container '%s': answer is not an object",
                             id);
    struct engine_container_info *v = m87_xcalloc(1, sizeof(*v));
    info_fill(v, doc);
    v->raw = M87_STEAL(doc);
    *out = v;
    return 0;
}

void engine_container_info_free(struct engine_container_info *v)
{
    if (v == NULL)
        return;
    free(v->id);
    free(v->name);
    free(v->image_id);
    free(v->config_image);
    free(v->status);
    free(v->health);
    free(v->started_at);
    free(v->finished_at);
    free(v->error);
    m87_kvlist_release(&v->labels);
    m87_strv_release(&v->networks);
    m87_json_free(v->raw);
    free(v);
}

/* ---- create ------------------------------------------------------------------------------- */

int engine_container_create(struct engine_client *c, const char *name, const char *platform,
                            const char *body_json, char **id, struct m87_error **err)
{
    struct m87_buf path;
    path_start(&path, "/containers/create");
    if (name)
        engine_qs_add(&path, "name", name);
    if (platform)
        engine_qs_add(&path, "platform", platform);
    _cleanup_free_ char *p = m87_buf_steal(&path);
    const char *what = name ? name : "(unnamed)";

    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_send_json(c, "POST", p, body_json ? body_json : "{}", &doc, err) < 0)
        return m87_error_wrap(err, "create container '%s'", what);
    const char *new_id = m87_json_str(m87_json_get(doc, "Id"), NULL);
    if (new_id == NULL || new_id[0] == '\0')
        return m87_error_set(err, M87_E_PARSE, 0, "create container '%s': answer has no Id", what);
    *id = m87_xstrdup(new_id);
    return 0;
}

/* ---- state changes ------------------------------------------------------------------------ */

/* POST a container action; 0 done, 1 already so (304), -1 failed (not wrapped). */
static int container_post(struct engine_client *c, const char *id, const char *action,
                          const char *key, const char *value, long timeout_ms,
                          struct m87_error **err)
{
    _cleanup_free_ char *suffix = m87_xasprintf("/%s", action);
    _cleanup_free_ char *base = engine_path_seg("/containers/", id, suffix);
    struct m87_buf path;
    path_start(&path, base);
    if (key)
        engine_qs_add(&path, key, value);
    _cleanup_free_ char *p = m87_buf_steal(&path);
    struct engine_call call = {.method = "POST", .timeout_ms = timeout_ms};
    return engine_do(c, &call, p, NULL, err);
}

int engine_container_start(struct engine_client *c, const char *id, struct m87_error **err)
{
    int r = container_post(c, id, "start", NULL, NULL, 0, err);
    return r < 0 ? m87_error_wrap(err, "start container '%s'", id) : r;
}

static int stop_timeout_of(struct engine_client *c, const char *id, int *timeout_s,
                           struct m87_error **err)
{
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    if (engine_container_inspect(c, id, &info, err) < 0)
        return -1;
    const struct m87_json *t = m87_json_path(info->raw, "Config", "StopTimeout", NULL);
    int64_t v = m87_json_int(t, ENGINE_STOP_DEFAULT_S);
    *timeout_s = v >= 0 && v <= 24 * 3600 ? (int)v : ENGINE_STOP_DEFAULT_S;
    return 0;
}

int engine_container_stop(struct engine_client *c, const char *id, int timeout_s,
                          struct m87_error **err)
{
    /* dockerd would apply StopTimeout itself, but we must know t to bound our own wait */
    if (timeout_s < 0 && stop_timeout_of(c, id, &timeout_s, err) < 0)
        return m87_error_wrap(err, "stop container '%s'", id);
    char t[16];
    snprintf(t, sizeof(t), "%d", timeout_s);
    long bound_ms = ((long)timeout_s + ENGINE_STOP_MARGIN_S) * 1000L;
    int r = container_post(c, id, "stop", "t", t, bound_ms, err);
    return r < 0 ? m87_error_wrap(err, "stop container '%s'", id) : r;
}

int engine_container_kill(struct engine_client *c, const char *id, const char *signal,
                          struct m87_error **err)
{
    struct m87_error *local = NULL;
    int r = container_post(c, id, "kill", "signal", signal ? signal : "SIGKILL", 0, &local);
    /* dockerd answers a kill of a stopped container with 409 "... is not running", not 304 */
    if (r < 0 && local->code == M87_E_CONFLICT && strstr(local->msg, "is not running")) {
        m87_error_free(local);
        return 1;
    }
    if (r < 0) {
        m87_error_wrap(&local, "kill container '%s'", id);
        if (err && *err == NULL)
            *err = local;
        else
            m87_error_free(local);
    }
    return r;
}

int engine_container_remove(struct engine_client *c, const char *id, bool force, bool volumes,
                            struct m87_error **err)
{
    _cleanup_free_ char *base = engine_path_seg("/containers/", id, NULL);
    struct m87_buf path;
    path_start(&path, base);
    if (force)
        engine_qs_add(&path, "force", "1");
    if (volumes)
        engine_qs_add(&path, "v", "1");
    _cleanup_free_ char *p = m87_buf_steal(&path);
    struct engine_call call = {.method = "DELETE"};
    if (engine_do(c, &call, p, NULL, err) < 0)
        return m87_error_wrap(err, "remove container '%s'", id);
    return 0;
}

int engine_container_rename(struct engine_client *c, const char *id, const char *new_name,
                            struct m87_error **err)
{
    int r = container_post(c, id, "rename", "name", new_name, 0, err);
    return r < 0 ? m87_error_wrap(err, "rename container '%s' to '%s'", id, new_name) : 0;
}

/* ---- wait --------------------------------------------------------------------------------- */

int engine_container_wait(struct engine_client *c, const char *id, const char *condition,
                          long timeout_ms, int *exit_code, struct m87_error **err)
{
    _cleanup_free_ char *base = engine_path_seg("/containers/", id, "/wait");
    struct m87_buf path;
    path_start(&path, base);
    engine_qs_add(&path, "condition", condition ? condition : "not-running");
    _cleanup_free_ char *p = m87_buf_steal(&path);

    struct engine_response resp;
    engine_response_init(&resp);
    struct engine_call call = {
        .method = "POST",
        .timeout_ms = timeout_ms > 0 ? timeout_ms : ENGINE_NO_TIMEOUT,
    };
    int r = engine_do(c, &call, p, &resp, err);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (r >= 0)
        doc = m87_json_parse(resp.body.data ? resp.body.data : "", resp.body.len, err);
    engine_response_release(&resp);
    if (r < 0 || doc == NULL)
        return m87_error_wrap(err, "wait for container '%s'", id);

    const char *msg = m87_json_str(m87_json_path(doc, "Error", "Message", NULL), "");
    if (msg[0] != '\0')
        return m87_error_set(err, M87_E_HTTP, 0, "wait for container '%s': dockerd reported: %s",
                             id, msg);
    const struct m87_json *code = m87_json_get(doc, "StatusCode");
    if (m87_json_type(code) != M87_JSON_NUMBER)
        return m87_error_set(err, M87_E_PARSE, 0,
                             "wait for container '%s': answer has no StatusCode", id);
    *exit_code = (int)m87_json_int(code, -1);
    return 0;
}
