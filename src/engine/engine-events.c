/* Events: the newline-delimited JSON stream of GET /events. */
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-events.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/lines.h"
#include "m87/list.h"

struct events_reader {
    struct m87_lines lines;
    engine_event_fn fn;
    void *ctx;
    bool stopped;          /* the callback asked to end the stream */
    struct m87_error *err; /* a failure inside the stream (bad line, line too long) */
};

static int events_line(void *ctx, const char *line, size_t len)
{
    struct events_reader *r = ctx;
    if (len == 0)
        return 0;
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(line, len, &r->err);
    if (doc == NULL)
        return m87_error_wrap(&r->err, "event");
    const struct m87_json *actor = m87_json_get(doc, "Actor");
    struct m87_kvlist attrs;
    m87_kvlist_init(&attrs);
    m87_json_to_kvlist(m87_json_get(actor, "Attributes"), &attrs);
    struct engine_event ev = {
        .type = m87_json_str(m87_json_get(doc, "Type"), ""),
        .action = m87_json_str(m87_json_get(doc, "Action"), ""),
        .actor_id = m87_json_str(m87_json_get(actor, "ID"), ""),
        .attributes = &attrs,
        .time = m87_json_int(m87_json_get(doc, "time"), 0),
        .time_nano = m87_json_int(m87_json_get(doc, "timeNano"), 0),
    };
    int stop = r->fn(r->ctx, &ev);
    m87_kvlist_release(&attrs);
    if (stop != 0) {
        r->stopped = true;
        return 1;
    }
    return 0;
}

static int events_data(void *ctx, const char *data, size_t len)
{
    struct events_reader *r = ctx;
    return m87_lines_feed(&r->lines, data, len, &r->err) != 0;
}

static char *events_path(const struct engine_events_options *opts)
{
    struct m87_buf path;
    m87_buf_init(&path, 0);
    m87_buf_appendf(&path, NULL, "/events");
    if (opts && opts->since)
        engine_qs_add(&path, "since", opts->since);
    if (opts && opts->until)
        engine_qs_add(&path, "until", opts->until);
    if (opts)
        engine_qs_filters(&path, opts->filters);
    return m87_buf_steal(&path);
}

/* Decide how the stream ended: the transport reports a stop from our side as cancelled, which
 * is success when the callback asked for it and the stream's own error otherwise. */
static int events_result(struct events_reader *r, int rc, struct m87_error **local)
{
    /* a last line without its newline is still an event */
    if (rc >= 0 && r->err == NULL && !r->stopped)
        (void)m87_lines_finish(&r->lines, &r->err); /* its outcome lands in r */
    if (r->err != NULL) {
        m87_error_clear(local);
        *local = M87_STEAL(r->err);
        return -1;
    }
    if (r->stopped) {
        m87_error_clear(local);
        return 0;
    }
    return rc < 0 ? -1 : 0;
}

int engine_events(struct engine_client *c, const struct engine_events_options *opts,
                  engine_event_fn fn, void *ctx, struct m87_error **err)
{
    struct events_reader r = {.fn = fn, .ctx = ctx};
    m87_lines_init(&r.lines, ENGINE_MAX_STREAM_LINE, events_line, &r);
    _cleanup_free_ char *path = events_path(opts);
    struct engine_call call = {
        .method = "GET",
        .timeout_ms = ENGINE_NO_TIMEOUT,
        .on_data = events_data,
        .ctx = &r,
    };
    struct m87_error *local = NULL;
    int rc = engine_do(c, &call, path, NULL, &local);
    rc = events_result(&r, rc, &local);
    m87_lines_release(&r.lines);
    if (rc < 0) {
        if (err != NULL && *err == NULL)
            *err = local;
        else
            m87_error_free(local);
        return m87_error_wrap(err, "read events");
    }
    return 0;
}
