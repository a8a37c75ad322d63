/* Exec: run a command in a running container and read its output. */
#include <string.h>
#include <time.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-exec.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/time.h"

/* After the output ends, dockerd may still be recording the exit code for a moment. */
#define EXEC_POLL_FIRST_MS 5
#define EXEC_POLL_MAX_MS 200

static char *exec_create_body(const struct engine_exec_config *cfg)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kbool(w, "AttachStdin", false);
    m87_jw_kbool(w, "AttachStdout", true);
    m87_jw_kbool(w, "AttachStderr", true);
    m87_jw_kbool(w, "Tty", cfg->tty);
    m87_jw_key(w, "Cmd");
    m87_jw_strv(w, cfg->argv);
    if (cfg->env) {
        m87_jw_key(w, "Env");
        m87_jw_strv(w, cfg->env);
    }
    m87_jw_kstr_opt(w, "User", cfg->user);
    m87_jw_kstr_opt(w, "WorkingDir", cfg->working_dir);
    if (cfg->privileged)
        m87_jw_kbool(w, "Privileged", true);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

int engine_exec_create(struct engine_client *c, const char *container_id,
                       const struct engine_exec_config *cfg, char **exec_id, struct m87_error **err)
{
    if (cfg == NULL || cfg->argv == NULL || cfg->argv->len == 0)
        return m87_error_set(err, M87_E_INVAL, 0, "exec in container '%s': no command",
                             container_id);
    _cleanup_free_ char *body = exec_create_body(cfg);
    _cleanup_free_ char *path = engine_path_seg("/containers/", container_id, "/exec");
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_send_json(c, "POST", path, body, &doc, err) < 0)
        return m87_error_wrap(err, "exec '%s' in container '%s'", cfg->argv->items[0],
                              container_id);
    const char *id = m87_json_str(m87_json_get(doc, "Id"), NULL);
    if (id == NULL || id[0] == '\0')
        return m87_error_set(err, M87_E_PARSE, 0, "exec '%s' in container '%s': answer has no Id",
                             cfg->argv->items[0], container_id);
    *exec_id = m87_xstrdup(id);
    return 0;
}

/* Demuxer failures are kept here: the transport only knows that the reader stopped. */
static int discard_output(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    (void)ctx;
    (void)stream;
    (void)data;
    (void)len;
    return 0;
}

int engine_exec_start(struct engine_client *c, const char *exec_id, bool tty, engine_output_fn fn,
                      void *ctx, struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kbool(w, "Detach", false);
    m87_jw_kbool(w, "Tty", tty);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *path = engine_path_seg("/exec/", exec_id, "/start");

    /* dockerd hijacks the connection and answers 200 with neither a length nor chunking,
     * then writes frames until the process's output closes: read to EOF, unbounded */
    struct engine_call call = {
        .method = "POST",
        .body = body,
        .timeout_ms = ENGINE_NO_TIMEOUT,
    };
    int r = engine_do_demuxed(c, &call, path, tty, false, fn ? fn : discard_output, ctx, err);
    return r < 0 ? m87_error_wrap(err, "start exec '%.12s'", exec_id) : 0;
}

int engine_exec_inspect(struct engine_client *c, const char *exec_id, struct engine_exec_info *out,
                        struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/exec/", exec_id, "/json");
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, path, &doc, err) < 0)
        return m87_error_wrap(err, "inspect exec '%.12s'", exec_id);
    out->running = m87_json_bool(m87_json_get(doc, "Running"), false);
    out->exit_code = (int)m87_json_int(m87_json_get(doc, "ExitCode"), -1);
    out->pid = (int)m87_json_int(m87_json_get(doc, "Pid"), 0);
    return 0;
}

/* ---- run ---------------------------------------------------------------------------------- */

struct exec_capture {
    struct m87_buf *bufs[2]; /* stdout, stderr; NULL discards */
    size_t counts[2];
    size_t max;
    struct m87_error *err;
};

static int capture_output(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct exec_capture *cap = ctx;
    if (stream != ENGINE_STREAM_STDOUT && stream != ENGINE_STREAM_STDERR)
        return 0;
    int i = stream == ENGINE_STREAM_STDERR;
    const char *name = i ? "stderr" : "stdout";
    if (len > cap->max - cap->counts[i]) {
        m87_error_set(&cap->err, M87_E_TOOBIG, 0, "%s of the command is over %zu bytes", name,
                      cap->max);
        return 1;
    }
    cap->counts[i] += len;
    if (cap->bufs[i] && m87_buf_append(cap->bufs[i], data, len, &cap->err) < 0) {
        m87_error_wrap(&cap->err, "%s of the command", name);
        return 1;
    }
    return 0;
}

/* The output can close before dockerd has the exit code: poll until it is not running. */
int engine_exec_wait(struct engine_client *c, const char *exec_id, int *exit_code,
                     struct m87_error **err)
{
    long waited = 0, step = EXEC_POLL_FIRST_MS;
    for (;;) {
        struct engine_exec_info info;
        if (engine_exec_inspect(c, exec_id, &info, err) < 0)
            return -1;
        if (!info.running) {
            *exit_code = info.exit_code;
            return 0;
        }
        if (waited >= c->timeout_ms)
            return m87_error_set(err, M87_E_TIMEOUT, 0,
                                 "exec '%.12s' still running %ld ms after its output ended",
                                 exec_id, waited);
        m87_sleep_ms(step);
        waited += step;
        step = step * 2 < EXEC_POLL_MAX_MS ? step * 2 : EXEC_POLL_MAX_MS;
    }
}

int engine_exec_run(struct engine_client *c, const char *container_id,
                    const struct engine_exec_config *cfg, size_t max_output,
                    struct m87_buf *out_stdout, struct m87_buf *out_stderr, int *exit_code,
                    struct m87_error **err)
{
    struct exec_capture cap = {
        .bufs = {out_stdout, out_stderr},
        .max = max_output ? max_output : ENGINE_MAX_RESPONSE,
    };
    for (int i = 0; i < 2; i++)
        if (cap.bufs[i])
            m87_buf_reset(cap.bufs[i]);

    _cleanup_free_ char *exec_id = NULL;
    if (engine_exec_create(c, container_id, cfg, &exec_id, err) < 0)
        return -1;
    int r = engine_exec_start(c, exec_id, cfg->tty, capture_output, &cap, err);
    if (r < 0 && cap.err != NULL) {
        /* the reader's own failure (output too big) says more than "stopped" */
        m87_error_clear(err);
        if (err)
            *err = M87_STEAL(cap.err);
    }
    m87_error_free(cap.err);
    if (r == 0)
        r = engine_exec_wait(c, exec_id, exit_code, err);
    return r < 0 ? m87_error_wrap(err, "exec '%s' in container '%s'", cfg->argv->items[0],
                                  container_id)
                 : 0;
}
