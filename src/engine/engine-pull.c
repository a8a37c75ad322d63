/* Pull: POST /images/create and its newline-delimited JSON progress stream.
 *
 * dockerd answers 200 as soon as the pull starts; a failure after that arrives as an object
 * with errorDetail (or the older error string) inside the stream. A pull therefore succeeds
 * only when the stream reached its normal end (the transport saw the whole chunked body),
 * every line was a JSON object, and none of them carried an error. The closing "Digest:" and
 * "Status:" lines are not required: they are progress text for people, and dockerd writes
 * nothing after them that a failure would depend on.
 */
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/base64.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/lines.h"
#include "m87/list.h"

#define PULL_DEFAULT_STALL_MS (5L * 60 * 1000)

struct pull_state {
    engine_pull_fn fn;
    void *ctx;
    struct m87_lines lines;
    struct m87_error *failure; /* why the stream was stopped from our side */
};

/* The error text dockerd put into the stream; NULL for an ordinary progress object. */
static const char *stream_error(const struct m87_json *obj)
{
    const struct m87_json *detail = m87_json_get(obj, "errorDetail");
    const char *msg = m87_json_str(m87_json_get(detail, "message"), NULL);
    if (msg == NULL)
        msg = m87_json_str(m87_json_get(obj, "error"), NULL);
    if (msg == NULL && (detail != NULL || m87_json_get(obj, "error") != NULL))
        msg = "unknown error";
    return msg;
}

static int64_t progress_value(const struct m87_json *detail, const char *key)
{
    const struct m87_json *v = m87_json_get(detail, key);
    return m87_json_type(v) == M87_JSON_NUMBER ? m87_json_int(v, -1) : -1;
}

static bool blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return false;
    return true;
}

/* line is not NUL-terminated: it points into the transport's chunk */
static int on_line(void *ctx, const char *line, size_t len)
{
    struct pull_state *st = ctx;
    if (blank(line, len))
        return 0;
    _cleanup_(m87_json_freep) struct m87_json *obj = m87_json_parse(line, len, &st->failure);
    if (obj == NULL)
        return m87_error_wrap(&st->failure, "bad line in the progress stream");
    if (m87_json_type(obj) != M87_JSON_OBJECT)
        return m87_error_set(&st->failure, M87_E_PARSE, 0,
                             "bad line in the progress stream: not an object");
    const char *msg = stream_error(obj);
    if (msg != NULL)
        return m87_error_set(&st->failure, M87_E_PULL, 0, "%s", msg);
    if (st->fn == NULL)
        return 0;
    const struct m87_json *detail = m87_json_get(obj, "progressDetail");
    struct engine_pull_msg m = {
        .id = m87_json_str(m87_json_get(obj, "id"), NULL),
        .status = m87_json_str(m87_json_get(obj, "status"), ""),
        .current = progress_value(detail, "current"),
        .total = progress_value(detail, "total"),
    };
    if (st->fn(st->ctx, &m) != 0)
        return m87_error_set(&st->failure, M87_E_CANCELLED, 0, "cancelled by the caller");
    return 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    struct pull_state *st = ctx;
    return m87_lines_feed(&st->lines, data, len, &st->failure) != 0 ? -1 : 0;
}

/* {"username","password","serveraddress"} or {"identitytoken"}, URL-safe base64 of it. */
static char *auth_header(const struct engine_auth *auth)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    if (auth->identity_token) {
        m87_jw_kstr(w, "identitytoken", auth->identity_token);
    } else {
        m87_jw_kstr_opt(w, "username", auth->username);
        m87_jw_kstr_opt(w, "password", auth->password);
    }
    m87_jw_kstr_opt(w, "serveraddress", auth->server_address);
    m87_jw_obj_close(w);
    _cleanup_free_ char *json = m87_jw_finish(w);
    return m87_base64url_encode(json, strlen(json));
}

static char *pull_path(const char *repo, const char *tag, const char *platform)
{
    struct m87_buf path;
    m87_buf_init(&path, 0);
    m87_buf_append(&path, "/images/create", strlen("/images/create"), NULL);
    engine_qs_add(&path, "fromImage", repo);
    /* never empty: an empty tag with an untagged fromImage pulls every tag of the repo */
    engine_qs_add(&path, "tag", tag);
    if (platform && platform[0] != '\0')
        engine_qs_add(&path, "platform", platform);
    return m87_buf_steal(&path);
}

static int pull_stream(struct engine_client *c, const char *path,
                       const struct engine_pull_options *opts, struct pull_state *st,
                       struct m87_error **err)
{
    struct m87_kvlist headers;
    m87_kvlist_init(&headers);
    if (opts && opts->auth) {
        _cleanup_free_ char *value = auth_header(opts->auth);
        m87_kvlist_add(&headers, "X-Registry-Auth", value);
    }
    struct engine_call call = {
        .method = "POST",
        .headers = headers.len ? &headers : NULL,
        .timeout_ms = ENGINE_NO_TIMEOUT,
        .stall_ms = opts && opts->stall_ms > 0 ? opts->stall_ms : PULL_DEFAULT_STALL_MS,
        .on_data = on_data,
        .ctx = st,
    };
    struct m87_error *transport = NULL;
    int r = engine_do(c, &call, path, NULL, &transport);
    m87_kvlist_release(&headers);
    /* on_line fills st->failure whenever it stops the splitter */
    if (r == 0 && st->failure == NULL)
        (void)m87_lines_finish(&st->lines, &st->failure);
    if (st->failure != NULL) {
        /* the transport only saw our callback refuse more data; the reason is ours */
        m87_error_free(transport);
        transport = M87_STEAL(st->failure);
        r = -1;
    }
    if (r < 0) {
        if (err && *err == NULL)
            *err = transport;
        else
            m87_error_free(transport);
        return -1;
    }
    return 0;
}

int engine_image_pull(struct engine_client *c, const char *ref,
                      const struct engine_pull_options *opts, engine_pull_fn fn, void *ctx,
                      struct m87_error **err)
{
    _cleanup_free_ char *repo = NULL;
    _cleanup_free_ char *tag = NULL;
    if (engine_ref_split(ref, &repo, &tag, err) < 0)
        return m87_error_wrap(err, "pull image '%s'", ref ? ref : "");
    _cleanup_free_ char *path = pull_path(repo, tag, opts ? opts->platform : NULL);
    struct pull_state st = {.fn = fn, .ctx = ctx};
    m87_lines_init(&st.lines, ENGINE_MAX_STREAM_LINE, on_line, &st);
    int r = pull_stream(c, path, opts, &st, err);
    m87_lines_release(&st.lines);
    m87_error_free(st.failure);
    return r < 0 ? m87_error_wrap(err, "pull image '%s'", ref) : 0;
}
