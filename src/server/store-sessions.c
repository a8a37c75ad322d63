/* Sessions (sync execution) and their output in the store. */
#include <string.h>

#include "m87/compiler.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "server/json.h"
#include "server/store-internal.h"
#include "server/store-sessions.h"
#include "server/util.h"

#define SESSION_COLS                                                                               \
    "id, public_id, device_id, request, bundle, state, exit_code, message, cancel, created, "      \
    "delivered, started, ended, seen, next_seq, read_at, "                                         \
    "(SELECT COALESCE(SUM(LENGTH(text)), 0) FROM session_output WHERE session_id = sessions.id)"

static const char SQL_SESSION_ADD[] =
    "INSERT INTO sessions (public_id, device_id, request, bundle, state, created, read_at) "
    "VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) ON CONFLICT DO NOTHING RETURNING id";
static const char SQL_SESSION_FIND[] = "SELECT " SESSION_COLS " FROM sessions WHERE public_id = ?1";
/* PostgreSQL: the row locked until the transaction ends (SQLite's BEGIN IMMEDIATE holds the whole
 * database already); the next statement's snapshot then holds what the holder before committed */
static const char SQL_SESSION_LOCK_PG[] = "SELECT id FROM sessions WHERE public_id = ?1 FOR UPDATE";
static const char SQL_SESSION_LIST[] =
    "SELECT " SESSION_COLS " FROM sessions WHERE device_id = ?1 ORDER BY id";
static const char SQL_SESSION_DUE[] =
    "SELECT " SESSION_COLS " FROM sessions WHERE device_id = ?1 AND state = 'pending' "
    "AND cancel = 0 AND (delivered IS NULL OR delivered <= ?2) ORDER BY id";
static const char SQL_SESSION_DELIVERED[] = "UPDATE sessions SET delivered = ?2 WHERE id = ?1";
static const char SQL_SESSION_UPDATE[] =
    "UPDATE sessions SET state = ?2, exit_code = ?3, message = ?4, cancel = ?5, started = ?6, "
    "ended = ?7, seen = ?8, next_seq = ?9, read_at = ?10 WHERE id = ?1";
static const char SQL_OUTPUT_ADD[] =
    "INSERT INTO session_output (session_id, seq, stream, text, time) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_OUTPUT_READ[] =
    "SELECT seq, stream, text, time FROM session_output WHERE session_id = ?1 AND seq > ?2 "
    "ORDER BY seq LIMIT ?3";
static const char SQL_SESSION_PRUNE[] = "DELETE FROM sessions WHERE COALESCE(ended, created) < ?1";
static const char SQL_SESSION_BUNDLE[] =
    "SELECT 1 FROM sessions WHERE device_id = ?1 AND bundle = ?2 LIMIT 1";

/* The columns of SESSION_COLS. The keys are those of the members a session's JSON writes as they
 * are, in its order (api-sessions.c writes the others). */
#define COL(member, kind, key) SRV_COL(struct srv_session, member, kind, key)
static const struct srv_col session_cols[] = {
    COL(id, SRV_COL_INT, NULL),
    COL(public_id, SRV_COL_TEXT, NULL),
    COL(device_id, SRV_COL_INT, NULL),
    COL(request, SRV_COL_JSON, NULL),
    COL(bundle, SRV_COL_TEXT, NULL),
    COL(state, SRV_COL_TEXT, NULL),
    SRV_COL_NULL(struct srv_session, exit_code, NULL, -1),
    COL(message, SRV_COL_TEXT, "message"),
    COL(cancel, SRV_COL_BOOL, "cancel_requested"),
    COL(created, SRV_COL_TIME, "created"),
    COL(delivered, SRV_COL_TIME, "delivered"),
    COL(started, SRV_COL_TIME, "started"),
    COL(ended, SRV_COL_TIME, "ended"),
    COL(seen, SRV_COL_TIME, NULL),
    SRV_COL_NULL(struct srv_session, next_seq, NULL, 1),
    COL(read_at, SRV_COL_TIME, NULL),
    COL(output_bytes, SRV_COL_INT, "output_bytes"),
};
#undef COL
const struct srv_row_type srv_session_row = {sizeof(struct srv_session), session_cols,
                                             M87_ARRAY_LEN(session_cols), "read sessions"};

void srv_session_release(struct srv_session *s)
{
    srv_row_release(&srv_session_row, s);
}

void srv_sessions_free(struct srv_session *v, size_t n)
{
    srv_rows_free(v, n, &srv_session_row);
}

/* Every row of a prepared query. */
static int read_rows(struct srv_q *s, struct srv_session **out, size_t *n, struct m87_error **err)
{
    void *v = NULL;

    if (srv_rows_collect(s, &srv_session_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

static void bind_session(struct srv_q *q, const void *arg)
{
    const struct srv_session *s = arg;
    srv_q_int(q, 2, s->device_id);
    srv_q_text(q, 3, s->request);
    srv_q_text(q, 4, s->bundle);
    srv_q_int(q, 5, s->created);
}

int srv_session_create(struct srv_store *st, struct srv_session *s, struct m87_error **err)
{
    s->created = srv_now();
    if (srv_insert_public(st, SQL_SESSION_ADD, "s-", bind_session, s, &s->id, &s->public_id,
                          "store session", err) < 0)
        return -1;
    s->state = m87_xstrdup("pending");
    s->exit_code = -1;
    s->next_seq = 1;
    s->read_at = s->created;
    return 0;
}

int srv_session_find(struct srv_store *st, const char *public_id, struct srv_session *out,
                     struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_SESSION_FIND, public_id, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &srv_session_row, out, "read session", err, "session '%s' not found",
                       public_id);
}

int srv_session_lock(struct srv_store *st, const char *public_id, struct srv_session *out,
                     struct m87_error **err)
{
    if (srv_db_kind(srv_store_db(st)) == SRV_DB_PG) {
        struct srv_q *s = srv_stmt_text(st, SQL_SESSION_LOCK_PG, public_id, err);
        if (s == NULL)
            return -1;
        int rc = srv_q_step(s, "lock session", err);
        srv_q_reset(s);
        if (rc < 0)
            return -1;
    }
    return srv_session_find(st, public_id, out, err);
}

int srv_session_list(struct srv_store *st, int64_t device_id, struct srv_session **out, size_t *n,
                     struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_SESSION_LIST, device_id, err);
    if (s == NULL)
        return -1;
    return read_rows(s, out, n, err);
}

int srv_session_deliver(struct srv_store *st, int64_t device_id, struct srv_session **out,
                        size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_SESSION_DUE, device_id, err);
    int64_t now = srv_now();
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, now - SRV_SESSION_REDELIVER);
    if (read_rows(s, out, n, err) < 0)
        return -1;
    for (size_t i = 0; i < *n; i++) {
        struct srv_q *u = srv_stmt_id(st, SQL_SESSION_DELIVERED, (*out)[i].id, err);
        if (u == NULL)
            return -1;
        srv_q_int(u, 2, now);
        if (srv_q_done(u, "mark session delivered", err) < 0)
            return -1;
        (*out)[i].delivered = now;
    }
    return 0;
}

static void bind_time(struct srv_q *s, int idx, int64_t t)
{
    if (t)
        srv_q_int(s, idx, t);
    else
        srv_q_null(s, idx);
}

int srv_session_update(struct srv_store *st, const struct srv_session *x, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_SESSION_UPDATE, x->id, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 2, x->state);
    if (x->exit_code >= 0)
        srv_q_int(s, 3, x->exit_code);
    else
        srv_q_null(s, 3);
    srv_q_text(s, 4, x->message);
    srv_q_int(s, 5, x->cancel ? 1 : 0);
    bind_time(s, 6, x->started);
    bind_time(s, 7, x->ended);
    bind_time(s, 8, x->seen);
    srv_q_int(s, 9, x->next_seq);
    bind_time(s, 10, x->read_at);
    return srv_q_done(s, "update session", err);
}

int srv_session_output_add(struct srv_store *st, struct srv_session *x, const char *stream,
                           const char *text, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_OUTPUT_ADD, x->id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, x->next_seq);
    srv_q_text(s, 3, stream);
    srv_q_text(s, 4, text);
    srv_q_int(s, 5, srv_now());
    if (srv_q_done(s, "store session output", err) < 0)
        return -1;
    x->next_seq++;
    x->output_bytes += (int64_t)strlen(text);
    return 0;
}

/* The columns of SQL_OUTPUT_READ, as a chunk's JSON names them. */
#define COL(member, kind) SRV_COL(struct srv_session_chunk, member, kind, #member)
static const struct srv_col chunk_cols[] = {
    COL(seq, SRV_COL_INT),
    COL(stream, SRV_COL_TEXT),
    COL(text, SRV_COL_TEXT),
    COL(time, SRV_COL_TIME),
};
#undef COL
const struct srv_row_type srv_session_chunk_row = {
    sizeof(struct srv_session_chunk), chunk_cols, M87_ARRAY_LEN(chunk_cols), "read session output"};

void srv_session_chunks_free(struct srv_session_chunk *v, size_t n)
{
    srv_rows_free(v, n, &srv_session_chunk_row);
}

int srv_session_output_read(struct srv_store *st, int64_t session_id, int64_t after, int64_t limit,
                            struct srv_session_chunk **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_OUTPUT_READ, session_id, err);
    void *v = NULL;

    if (s == NULL)
        return -1;
    srv_q_int(s, 2, after);
    srv_q_int(s, 3, limit);
    if (srv_rows_collect(s, &srv_session_chunk_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_session_prune(struct srv_store *st, int64_t before, struct m87_error **err)
{
    return srv_exec_id(st, SQL_SESSION_PRUNE, before, "prune sessions", err);
}

int srv_session_bundle_referenced(struct srv_store *st, int64_t device_id, const char *digest,
                                  struct m87_error **err)
{
    return srv_row_exists(st, SQL_SESSION_BUNDLE, device_id, digest, NULL, "read sessions", err);
}

/* ---- interactive projects -------------------------------------------------------------------- */

static const char SQL_INTERACTIVE_SET[] =
    "INSERT INTO interactive_projects (device_id, project, containers, updated) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_id, project) DO UPDATE SET "
    "containers = excluded.containers, updated = excluded.updated";
static const char SQL_INTERACTIVE_DROP[] =
    "DELETE FROM interactive_projects WHERE device_id = ?1 AND project = ?2";
static const char SQL_INTERACTIVE_LIST[] =
    "SELECT project, containers, updated FROM interactive_projects WHERE device_id = ?1 "
    "ORDER BY project";

int srv_interactive_set(struct srv_store *st, int64_t device_id, const char *project,
                        const char *containers, struct m87_error **err)
{
    bool none = strcmp(containers, "[]") == 0;
    struct srv_q *s = srv_stmt_id_text(st, none ? SQL_INTERACTIVE_DROP : SQL_INTERACTIVE_SET,
                                       device_id, project, err);
    if (s == NULL)
        return -1;
    if (!none) {
        srv_q_text(s, 3, containers);
        srv_q_int(s, 4, srv_now());
    }
    return srv_q_done(s, "store interactive project", err);
}

int srv_jw_interactive(struct srv_store *st, struct m87_jw *w, int64_t device_id,
                       struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_INTERACTIVE_LIST, device_id, err);
    int rc;

    if (s == NULL)
        return -1;
    m87_jw_key(w, "interactive");
    m87_jw_arr_open(w);
    while ((rc = srv_q_step(s, "read interactive projects", err)) == 1) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "project", srv_q_col_text(s, 0));
        m87_jw_key(w, "containers");
        srv_jw_raw(w, srv_q_col_text(s, 1));
        srv_jw_time(w, "updated", srv_q_col_int(s, 2));
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    return rc < 0 ? -1 : 0;
}
