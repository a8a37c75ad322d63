/* Container calls: list, inspect, create, start, stop, kill, remove, rename, wait. */
#include <stdio.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
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

#define SUMMARY(member, kind, ...)                                                                 \
    ENGINE_FIELD(struct engine_container_summary, member, kind, __VA_ARGS__)
static const struct engine_field summary_v[] = {
    SUMMARY(id, STR, "Id"),
    SUMMARY(name, NAME, "Names"),
    SUMMARY(image, STR, "Image"),
    SUMMARY(image_id, STR, "ImageID"),
    SUMMARY(state, STR, "State"),
    SUMMARY(status, STR, "Status"),
    SUMMARY(created, INT64, "Created"),
    SUMMARY(labels, LABELS, "Labels"),
};
static const struct engine_fields summary_fields = {sizeof(struct engine_container_summary),
                                                    summary_v, M87_ARRAY_LEN(summary_v)};

int engine_container_list(struct engine_client *c, bool all, const struct m87_kvlist *filters,
                          struct engine_container_summary **out, size_t *n, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_list(c, all ? "/containers/json?all=1" : "/containers/json", filters,
                        M87_JSON_ARRAY, "containers", &doc, err) < 0)
        return -1;
    *out = engine_fields_array(&summary_fields, doc, n);
    return 0;
}

void engine_container_summaries_free(struct engine_container_summary *v, size_t n)
{
    engine_fields_array_free(&summary_fields, v, n);
}

/* ---- inspect ------------------------------------------------------------------------------ */

#define INFO(member, kind, ...)                                                                    \
    ENGINE_FIELD(struct engine_container_info, member, kind, __VA_ARGS__)
static const struct engine_field info_v[] = {
    INFO(id, STR, "Id"),
    INFO(name, NAME, "Name"),
    INFO(image_id, STR, "Image"),
    INFO(config_image, STR, "Config", "Image"),
    INFO(status, STR, "State", "Status"),
    INFO(running, BOOL, "State", "Running"),
    INFO(restarting, BOOL, "State", "Restarting"),
    INFO(oom_killed, BOOL, "State", "OOMKilled"),
    INFO(exit_code, INT, "State", "ExitCode"),
    INFO(pid, INT, "State", "Pid"),
    INFO(health, STR, "State", "Health", "Status"),
    INFO(started_at, STR, "State", "StartedAt"),
    INFO(finished_at, STR, "State", "FinishedAt"),
    INFO(error, TEXT, "State", "Error"),
    INFO(tty, BOOL, "Config", "Tty"),
    INFO(restart_count, INT64, "RestartCount"),
    INFO(labels, LABELS, "Config", "Labels"),
    INFO(networks, KEYS, "NetworkSettings", "Networks"),
};
static const struct engine_fields info_fields = {sizeof(struct engine_container_info), info_v,
                                                 M87_ARRAY_LEN(info_v)};

static struct engine_container_info *inspect_once(struct engine_client *c, const char *id,
                                                  struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/containers/", id, "/json");
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_object(c, path, "container", id, &doc, err) < 0)
        return NULL;
    struct engine_container_info *v = engine_fields_new(&info_fields, doc);
    v->raw = M87_STEAL(doc);
    if (v->health != NULL && v->health[0] == '\0') {
        /* Podman writes State.Health with an empty Status for a container without a check */
        free(v->health);
        v->health = NULL;
    }
    return v;
}

int engine_container_inspect(struct engine_client *c, const char *id,
                             struct engine_container_info **out, struct m87_error **err)
{
    struct engine_container_info *v = inspect_once(c, id, err);
    if (v == NULL)
        return -1;
    /* Podman without systemd: a due health check is run here, then the container read again */
    struct engine_container_info *again = NULL;
    if (engine_podman_health_run(c, v) && (again = inspect_once(c, id, NULL)) != NULL) {
        engine_container_info_free(v);
        v = again;
    }
    *out = v;
    return 0;
}

void engine_container_info_free(struct engine_container_info *v)
{
    if (v != NULL)
        m87_json_free(v->raw);
    engine_fields_free(&info_fields, v);
}

/* ---- create ------------------------------------------------------------------------------- */

int engine_container_create(struct engine_client *c, const char *name, const char *platform,
                            const char *body_json, char **id, struct m87_error **err)
{
    return engine_container_create_warned(c, name, platform, body_json, id, NULL, err);
}

int engine_container_create_warned(struct engine_client *c, const char *name, const char *platform,
                                   const char *body_json, char **id, struct m87_strv *warnings,
                                   struct m87_error **err)
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
    const struct m87_json *warned = m87_json_get(doc, "Warnings");
    for (size_t i = 0; warnings && i < m87_json_len(warned); i++) {
        const char *text = m87_json_str(m87_json_at(warned, i), NULL);
        if (text && text[0])
            m87_strv_add(warnings, text);
    }
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
    /* dockerd answers a kill of a stopped container with 409 "... is not running", not 304;
     * Podman with 500 "can only kill running containers" (a conflict, see status_error) */
    if (r < 0 && local->code == M87_E_CONFLICT &&
        (strstr(local->msg, "is not running") ||
         strstr(local->msg, "can only kill running containers"))) {
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
