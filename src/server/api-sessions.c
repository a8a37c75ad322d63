/* Sessions: a command run on an online device now (docs/api.md, "Sessions"). The admin creates
 * one, which wakes the device's held sync; the agent gets it in the sync answer, runs it and
 * posts its output and exit status; the admin reads the output with a long-poll after a seq.
 * Output readers are held in the same long-poll registry as syncs, under the key -SESSION_ROWID
 * (device ids are positive), so that an agent post wakes them at once. */
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/json.h"
#include "server/longpoll.h"
#include "server/request.h"
#include "server/store-devices.h"
#include "server/store-sessions.h"
#include "server/store.h"
#include "server/util.h"

#define READ_LIMIT 1000

static bool is_final(const char *state)
{
    return strcmp(state, "exited") == 0 || strcmp(state, "cancelled") == 0 ||
           strcmp(state, "lost") == 0;
}

/* ---- writing sessions ------------------------------------------------------------------------ */

static void write_session(struct m87_jw *w, const struct srv_session *s)
{
    _cleanup_(m87_json_freep) struct m87_json *req =
        m87_json_parse(s->request, strlen(s->request), NULL);
    m87_jw_kstr(w, "id", s->public_id);
    m87_jw_kstr(w, "command", m87_json_str(m87_json_get(req, "command"), NULL));
    m87_jw_key(w, "args");
    if (m87_json_get(req, "args"))
        m87_jw_node(w, m87_json_get(req, "args"));
    else
        m87_jw_null(w);
    m87_jw_kstr(w, "project", m87_json_str(m87_json_path(req, "compose", "project", NULL), NULL));
    m87_jw_kstr(w, "state", s->state);
    m87_jw_key(w, "exit_code");
    if (s->exit_code >= 0)
        m87_jw_int(w, s->exit_code);
    else
        m87_jw_null(w);
    srv_jw_row(w, &srv_session_row, s); /* "message" to "output_bytes" */
}

/* "device": whether it is connected now (a sync held, or one lately) and when it was seen. */
static void write_device(struct srv *srv, struct m87_jw *w, const struct srv_device *d)
{
    bool connected =
        !d->offline && (srv_longpoll_device_held(srv->lp, d->id) ||
                        (d->last_seen && d->last_seen >= srv_now() - SRV_SESSION_CONNECTED));
    m87_jw_key(w, "device");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "name", d->name);
    m87_jw_kbool(w, "connected", connected);
    srv_jw_time(w, "last_seen", d->last_seen);
    m87_jw_obj_close(w);
}

/* A number of seconds: the default, or the environment's value for name when it is a positive
 * integer. For the tests only (docs/testing.md): they cannot wait for the real timeouts. */
static int64_t seconds_or_env(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    int64_t n = 0;

    return v && srv_parse_int(v, 1, dflt, &n) == 0 ? n : dflt;
}

static bool looks_lost(const struct srv_session *s, int64_t lost)
{
    int64_t last = s->seen ? s->seen : s->started;
    return strcmp(s->state, "running") == 0 && last < srv_now() - lost;
}

/* A running session the device stopped reporting on is lost (checked when it is read). locked:
 * s was read with srv_session_lock; else it is read again so before it is marked, since its
 * agent may have reported through another replica after it was read (it is not lost then). */
static int check_lost(struct srv_store *st, struct srv_session *s, bool locked,
                      struct m87_error **err)
{
    int64_t lost = seconds_or_env("M87_SERVER_SESSION_LOST_S", SRV_SESSION_LOST);
    if (!looks_lost(s, lost))
        return 0;
    if (!locked) {
        struct srv_session now = {0};
        if (srv_session_lock(st, s->public_id, &now, err) < 0)
            return -1;
        srv_session_release(s);
        *s = now;
        if (!looks_lost(s, lost))
            return 0;
    }
    int64_t last = s->seen ? s->seen : s->started;
    char when[32];
    srv_time_format(last, when);
    free(s->state);
    s->state = m87_xstrdup("lost");
    free(s->message);
    s->message = m87_xasprintf("the device stopped reporting on the command (last report %s): "
                               "it went offline or its agent stopped",
                               when);
    s->ended = srv_now();
    if (srv_session_update(st, s, err) < 0)
        return -1;
    return srv_audit_session_end(st, s, err);
}

/* The device of the path and its session ID (of that device: 404 otherwise), the session's row
 * locked until the transaction ends (each caller may change it). */
static int find_session(struct srv_req *r, struct srv_device *dev, struct srv_session *s,
                        struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    if (srv_device_find(st, r->params.v[0], dev, err) < 0 ||
        srv_session_lock(st, r->params.v[1], s, err) < 0)
        return -1;
    if (s->device_id != dev->id)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "session '%s' not found", r->params.v[1]);
    return check_lost(st, s, true, err);
}

/* ---- admin: create, list, show, cancel ------------------------------------------------------- */

int srv_api_sessions_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, NULL, err);
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_session_release) struct srv_session s = {0};

    if (body == NULL || srv_session_check_request(body, &s.bundle, err) < 0 ||
        srv_device_find(st, r->params.v[0], &dev, err) < 0 ||
        srv_session_prune(st, srv_now() - r->srv->session_retention, err) < 0)
        return -1;
    struct m87_jw *req = m87_jw_new();
    m87_jw_node(req, body);
    s.request = m87_jw_finish(req);
    s.device_id = dev.id;
    char who[SRV_AUDIT_TOKEN_ID_LEN + 1];
    srv_audit_who(r, who);
    if (srv_session_create(st, &s, err) < 0 || srv_audit_session(st, who, &s, err) < 0)
        return -1;
    r->notify_device = dev.id;
    m87_jw_obj_open(w);
    write_session(w, &s);
    write_device(r->srv, w, &dev);
    m87_jw_obj_close(w);
    return 0;
}

int srv_api_sessions_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    struct srv_session *v = NULL;
    size_t n = 0;

    if (srv_device_find(st, r->params.v[0], &dev, err) < 0 ||
        srv_session_prune(st, srv_now() - r->srv->session_retention, err) < 0 ||
        srv_session_list(st, dev.id, &v, &n, err) < 0)
        return -1;
    int rc = 0;
    m87_jw_obj_open(w);
    m87_jw_key(w, "sessions");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = check_lost(st, &v[i], false, err);
        m87_jw_obj_open(w);
        write_session(w, &v[i]);
        write_device(r->srv, w, &dev);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    srv_sessions_free(v, n);
    return rc;
}

int srv_api_sessions_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_session_release) struct srv_session s = {0};

    if (find_session(r, &dev, &s, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    write_session(w, &s);
    write_device(r->srv, w, &dev);
    m87_jw_key(w, "request");
    srv_jw_raw(w, s.request);
    m87_jw_obj_close(w);
    return 0;
}

/* Pending: cancelled at once. Running: marked; the agent learns it from the answer to its next
 * post (at least every 2 seconds) and stops the command. */
int srv_api_sessions_cancel(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_session_release) struct srv_session s = {0};

    if (find_session(r, &dev, &s, err) < 0)
        return -1;
    if (strcmp(s.state, "pending") == 0) {
        free(s.state);
        s.state = m87_xstrdup("cancelled");
        s.message = m87_xstrdup("cancelled before the device started it");
        s.ended = srv_now();
    }
    if (!is_final(s.state))
        s.cancel = true;
    if (srv_session_update(r->srv->store, &s, err) < 0 ||
        (is_final(s.state) && srv_audit_session_end(r->srv->store, &s, err) < 0))
        return -1;
    r->notify_device = -s.id;
    m87_jw_obj_open(w);
    write_session(w, &s);
    write_device(r->srv, w, &dev);
    m87_jw_obj_close(w);
    return 0;
}

/* ---- admin: output, long-polled -------------------------------------------------------------- */

struct out_query {
    int64_t after;
    int64_t wait;
};

/* *hold: the session's key when there is nothing to say yet. */
static int read_output(struct srv_req *r, const struct out_query *q, struct m87_jw *w,
                       int64_t *hold, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_session_release) struct srv_session s = {0};
    struct srv_session_chunk *v = NULL;
    size_t n = 0;

    if (find_session(r, &dev, &s, err) < 0 ||
        srv_session_output_read(r->srv->store, s.id, q->after, READ_LIMIT, &v, &n, err) < 0)
        return -1;
    if (!is_final(s.state) && s.read_at != srv_now()) {
        s.read_at = srv_now(); /* someone follows it */
        if (srv_session_update(r->srv->store, &s, err) < 0) {
            srv_session_chunks_free(v, n);
            return -1;
        }
    }
    *hold = n == 0 && !is_final(s.state) ? -s.id : 0;
    m87_jw_obj_open(w);
    write_session(w, &s);
    write_device(r->srv, w, &dev);
    srv_jw_rows(w, "output", &srv_session_chunk_row, v, n);
    m87_jw_kint(w, "next", n ? v[n - 1].seq : q->after);
    m87_jw_obj_close(w);
    srv_session_chunks_free(v, n);
    return 0;
}

static int parse_output_query(struct srv_req *r, struct out_query *q)
{
    static const char *const allowed[] = {"after", "wait", NULL};
    const char *after = srv_req_query(r, "after");
    const char *wait = srv_req_query(r, "wait");

    if (srv_req_check_query(r, allowed) < 0)
        return -1;
    if (after && srv_parse_int(after, 0, INT64_MAX, &q->after) < 0) {
        srv_reply_error(r, 400, "bad_request", "after: expected a sequence number >= 0");
        return -1;
    }
    if (wait && srv_parse_int(wait, 0, SRV_SESSION_MAX_WAIT, &q->wait) < 0) {
        srv_reply_error(r, 400, "bad_request", "wait: expected 0 to %d seconds",
                        SRV_SESSION_MAX_WAIT);
        return -1;
    }
    return 0;
}

void srv_api_sessions_output(struct srv_req *r)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct out_query *q = r->state;
    bool first = q == NULL;
    int64_t hold = 0;

    if (first) {
        q = m87_xcalloc(1, sizeof(*q));
        r->state = q;
        r->state_free = free;
        if (parse_output_query(r, q) < 0)
            return;
    }
    r->held = false;
    uint64_t gen = srv_longpoll_gen(r->srv->lp, 0); /* the hold's id is known only after */
    struct m87_jw *w = m87_jw_new();
    struct srv_store *st = r->srv->store;
    int rc = srv_store_begin(st, &err);
    if (rc == 0 && (rc = read_output(r, q, w, &hold, &err)) < 0)
        srv_store_rollback(st);
    if (rc == 0)
        rc = srv_store_commit(st, &err);
    if (rc < 0) {
        m87_jw_free(w);
        srv_reply_fail(r, err);
        return;
    }
    if (!first || hold == 0 || q->wait == 0) {
        srv_reply_json(r, 200, w);
        return;
    }
    m87_jw_free(w);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    r->waiter.device_id = hold;
    r->waiter.gen_of = 0;
    r->waiter.conn = r->conn;
    r->waiter.deadline = now;
    r->waiter.deadline.tv_sec += q->wait;
    r->held = true;
    if (!srv_longpoll_hold(r->srv->lp, &r->waiter, gen)) {
        r->held = false;
        srv_api_sessions_output(r);
    }
}

/* ---- the agent: output and the end ----------------------------------------------------------- */

struct agent_post {
    struct m87_json *body;
};

static int store_output(struct srv_store *st, struct srv_session *s, const struct m87_json *out,
                        struct m87_error **err)
{
    for (size_t i = 0; i < m87_json_len(out); i++) {
        const struct m87_json *c = m87_json_at(out, i);
        const char *text = m87_json_str(m87_json_get(c, "text"), "");
        if (s->output_bytes + (int64_t)strlen(text) > (int64_t)SRV_MAX_SESSION_OUTPUT)
            return 0; /* kept is what fits; the end still counts */
        if (srv_session_output_add(st, s, m87_json_str(m87_json_get(c, "stream"), "stdout"), text,
                                   err) < 0)
            return -1;
    }
    return 0;
}

static int agent_post(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct agent_post *p = r->state;
    _cleanup_(srv_session_release) struct srv_session s = {0};
    struct srv_store *st = r->srv->store;

    if (srv_session_lock(st, r->params.v[0], &s, err) < 0)
        return -1;
    const struct m87_json *inter = m87_json_get(p->body, "interactive");
    if (inter) {
        struct m87_jw *cw = m87_jw_new();
        m87_jw_node(cw, m87_json_get(inter, "containers"));
        _cleanup_free_ char *containers = m87_jw_finish(cw);
        if (srv_interactive_set(st, s.device_id, m87_json_str(m87_json_get(inter, "project"), ""),
                                containers, err) < 0)
            return -1;
    }
    bool final = is_final(s.state);
    int64_t unread = seconds_or_env("M87_SERVER_SESSION_UNREAD_S", SRV_SESSION_UNREAD);
    if (!final && !s.cancel && s.read_at < srv_now() - unread) {
        /* its m87 command went away (killed, a laptop closed): do not run on for nobody */
        s.cancel = true;
        free(s.message);
        s.message =
            m87_xasprintf("cancelled: nobody read its output for %lld seconds", (long long)unread);
    }
    if (!final) {
        if (strcmp(s.state, "pending") == 0) {
            free(s.state);
            s.state = m87_xstrdup("running");
            s.started = srv_now();
        }
        s.seen = srv_now();
        const struct m87_json *ec = m87_json_get(p->body, "exit_code");
        if (store_output(st, &s, m87_json_get(p->body, "output"), err) < 0)
            return -1;
        if (ec && m87_json_type(ec) == M87_JSON_NUMBER) {
            free(s.state);
            s.state = m87_xstrdup(s.cancel ? "cancelled" : "exited");
            s.exit_code = m87_json_int(ec, 1);
            s.ended = srv_now();
            const char *msg = m87_json_str(m87_json_get(p->body, "message"), NULL);
            if (s.message == NULL && msg) /* the server's own reason of a cancel stays */
                s.message = m87_xstrdup(msg);
        }
        if (srv_session_update(st, &s, err) < 0 ||
            (s.ended && srv_audit_session_end(st, &s, err) < 0))
            return -1;
        /* readers wait for output or the end; a heartbeat is no news to them */
        if (m87_json_len(m87_json_get(p->body, "output")) > 0 || s.ended)
            r->notify_device = -s.id;
    }
    m87_jw_obj_open(w);
    m87_jw_kbool(w, "cancel", s.cancel || final);
    m87_jw_kstr(w, "state", s.state);
    m87_jw_obj_close(w);
    return 0;
}

static void agent_post_free(void *v)
{
    struct agent_post *p = v;
    m87_json_free(p->body);
    free(p);
}

void srv_api_agent_session(struct srv_req *r)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct agent_post *p = m87_xcalloc(1, sizeof(*p));
    struct srv_session s = {0};

    r->state = p;
    r->state_free = agent_post_free;
    srv_store_lock(r->srv->store);
    int rc = srv_session_find(r->srv->store, r->params.v[0], &s, &err);
    srv_store_unlock(r->srv->store);
    int64_t owner = s.device_id;
    srv_session_release(&s);
    if (rc < 0) {
        srv_reply_fail(r, err);
        return;
    }
    /* another device's session is answered like a missing one: a device learns nothing of the
     * sessions of others, not even that an id exists */
    if (owner != r->device_id) {
        srv_reply_error(r, 404, "not_found", "session '%s' not found", r->params.v[0]);
        return;
    }
    if ((p->body = srv_body_object(r, NULL, &err)) == NULL ||
        srv_session_check_post(p->body, &err) < 0) {
        srv_reply_fail(r, err);
        return;
    }
    srv_run_tx(r, 200, agent_post);
}

/* ---- the sync answer ------------------------------------------------------------------------- */

int srv_jw_agent_sessions(struct srv_store *st, struct m87_jw *w, int64_t device_id, size_t *n,
                          struct m87_error **err)
{
    struct srv_session *v = NULL;

    *n = 0;
    if (srv_session_deliver(st, device_id, &v, n, err) < 0)
        return -1;
    if (*n) {
        m87_jw_key(w, "sessions");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < *n; i++) {
            m87_jw_obj_open(w);
            m87_jw_kstr(w, "id", v[i].public_id);
            m87_jw_key(w, "request");
            srv_jw_raw(w, v[i].request);
            m87_jw_obj_close(w);
        }
        m87_jw_arr_close(w);
    }
    srv_sessions_free(v, *n);
    return 0;
}
