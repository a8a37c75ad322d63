/* The audit trail of a device in the store (store-audit.h). */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/json.h"
#include "server/json.h"
#include "server/row.h"
#include "server/store-audit.h"
#include "server/store-internal.h"
#include "server/util.h"

static const char SQL_AUDIT_ADD[] =
    "INSERT INTO remote_audit (device_id, channel, token, what, command, created, kind, detail) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_AUDIT_OPEN[] = "SELECT id, detail FROM remote_audit "
                                     "WHERE device_id = ?1 AND channel = ?2 AND kind = ?3 "
                                     "AND ended IS NULL";
static const char SQL_AUDIT_END[] =
    "UPDATE remote_audit SET ended = ?2, exit_code = ?3, message = ?4, duration_ms = ?5, "
    "bytes_in = ?6, bytes_out = ?7, bytes_err = ?8, detail = ?9 WHERE id = ?1";
static const char SQL_AUDIT_LIST[] =
    "SELECT channel, token, what, command, created, ended, exit_code, message, duration_ms, "
    "bytes_in, bytes_out, bytes_err, kind, detail FROM (SELECT * FROM remote_audit "
    "WHERE device_id = ?1 AND created >= ?2 AND (CAST(?4 AS TEXT) IS NULL OR kind = ?4) "
    "ORDER BY id DESC LIMIT ?3) AS newest ORDER BY id";
static const char SQL_RELEASE_TOKEN_SET[] = "UPDATE fleet_releases SET token = ?2 WHERE id = ?1";
static const char SQL_RELEASE_TOKEN[] = "SELECT token FROM fleet_releases WHERE id = ?1";
/* ended is never before created: created < ?1 narrows by the index, the last event decides */
static const char SQL_AUDIT_PRUNE[] =
    "DELETE FROM remote_audit WHERE id IN (SELECT id FROM remote_audit WHERE created < ?1 "
    "AND COALESCE(ended, created) < ?1 ORDER BY created LIMIT ?2)";

#define COL(member, kind) SRV_COL(struct srv_audit, member, kind, NULL)
static const struct srv_col audit_cols[] = {
    COL(channel, SRV_COL_TEXT),
    COL(token, SRV_COL_TEXT),
    COL(what, SRV_COL_TEXT),
    COL(command, SRV_COL_JSON),
    COL(created, SRV_COL_TIME),
    COL(ended, SRV_COL_TIME),
    SRV_COL_NULL(struct srv_audit, exit_code, NULL, -1),
    COL(message, SRV_COL_TEXT),
    SRV_COL_NULL(struct srv_audit, duration_ms, NULL, -1),
    COL(bytes_in, SRV_COL_INT),
    COL(bytes_out, SRV_COL_INT),
    COL(bytes_err, SRV_COL_INT),
    COL(kind, SRV_COL_TEXT),
    COL(detail, SRV_COL_JSON),
};
#undef COL
static const struct srv_row_type audit_row = {sizeof(struct srv_audit), audit_cols,
                                              M87_ARRAY_LEN(audit_cols), "read the audit trail"};

int srv_audit_record(struct srv_store *st, int64_t device_id, const struct srv_audit_new *a,
                     struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_AUDIT_ADD, device_id, a->ref, err);
    if (!s)
        return -1;
    srv_q_text(s, 3, a->token);
    srv_q_text(s, 4, a->what);
    srv_q_text(s, 5, a->command);
    srv_q_int(s, 6, srv_now());
    srv_q_text(s, 7, a->kind);
    srv_q_text(s, 8, a->detail);
    return srv_q_done(s, "store the audit trail", err);
}

/* The row's detail with "end": end added (replaced); NULL when there is nothing to keep. */
static char *detail_with_end(const char *detail, const char *end)
{
    _cleanup_(m87_json_freep) struct m87_json *old =
        detail ? m87_json_parse(detail, strlen(detail), NULL) : NULL;
    _cleanup_(m87_json_freep) struct m87_json *add =
        end ? m87_json_parse(end, strlen(end), NULL) : NULL;
    if (!add || m87_json_type(add) != M87_JSON_OBJECT || m87_json_len(add) == 0)
        return detail ? m87_xstrdup(detail) : NULL;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    for (size_t i = 0; m87_json_type(old) == M87_JSON_OBJECT && i < m87_json_len(old); i++) {
        const char *key = NULL;
        const struct m87_json *v = m87_json_member(old, i, &key);
        if (strcmp(key, "end") != 0) {
            m87_jw_key(w, key);
            m87_jw_node(w, v);
        }
    }
    m87_jw_key(w, "end");
    m87_jw_node(w, add);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

int srv_audit_finish(struct srv_store *st, int64_t device_id, const char *kind, const char *ref,
                     const struct srv_audit_end *e, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_AUDIT_OPEN, device_id, ref, err);
    if (!s)
        return -1;
    srv_q_text(s, 3, kind);
    int rc = srv_q_step(s, "read the audit trail", err);
    if (rc <= 0)
        return rc;
    int64_t id = srv_q_col_int(s, 0);
    _cleanup_free_ char *old = srv_col_text(s, 1);
    srv_q_reset(s);
    _cleanup_free_ char *detail = detail_with_end(old, e->detail);
    if ((s = srv_stmt_id(st, SQL_AUDIT_END, id, err)) == NULL)
        return -1;
    srv_q_int(s, 2, srv_now());
    if (e->exit_code >= 0)
        srv_q_int(s, 3, e->exit_code);
    srv_q_text(s, 4, e->message);
    if (e->duration_ms >= 0)
        srv_q_int(s, 5, e->duration_ms);
    for (int i = 0; i < 3; i++)
        srv_q_int(s, 6 + i, e->bytes[i]);
    srv_q_text(s, 9, detail);
    return srv_q_done(s, "store the audit trail", err);
}

int srv_audit_release_token_set(struct srv_store *st, int64_t release_id, const char *token,
                                struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RELEASE_TOKEN_SET, release_id, err);
    if (!s)
        return -1;
    srv_q_text(s, 2, token);
    return srv_q_done(s, "store who made the release", err);
}

int srv_audit_release_token(struct srv_store *st, int64_t release_id, char **token,
                            struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RELEASE_TOKEN, release_id, err);
    if (!s)
        return -1;
    int rc = srv_q_step(s, "read who made the release", err);
    if (rc < 0)
        return -1;
    char *t = rc ? srv_col_text(s, 0) : NULL;
    srv_q_reset(s);
    *token = t ? t : m87_xstrdup(SRV_AUDIT_SERVER);
    return 0;
}

int srv_audit_list(struct srv_store *st, int64_t device_id, int64_t since, const char *kind,
                   struct srv_audit **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_AUDIT_LIST, device_id, err);
    void *v = NULL;
    if (!s)
        return -1;
    srv_q_int(s, 2, since);
    srv_q_int(s, 3, SRV_AUDIT_MAX_LIST);
    srv_q_text(s, 4, kind);
    if (srv_rows_collect(s, &audit_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

void srv_audits_free(struct srv_audit *v, size_t n)
{
    srv_rows_free(v, n, &audit_row);
}

static void jw_int_or_null(struct m87_jw *w, const char *key, int64_t v)
{
    m87_jw_key(w, key);
    if (v >= 0)
        m87_jw_int(w, v);
    else
        m87_jw_null(w);
}

static void jw_raw_or_null(struct m87_jw *w, const char *key, const char *json)
{
    m87_jw_key(w, key);
    if (json)
        srv_jw_raw(w, json);
    else
        m87_jw_null(w);
}

void srv_jw_audit(struct m87_jw *w, const struct srv_audit *a)
{
    bool remote = a->kind && strcmp(a->kind, SRV_AUDIT_REMOTE) == 0;
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "kind", a->kind);
    m87_jw_kstr(w, "ref", a->channel);
    m87_jw_kstr(w, "channel", remote ? a->channel : NULL);
    m87_jw_kstr(w, "token", a->token);
    m87_jw_kstr(w, "what", a->what);
    jw_raw_or_null(w, "command", a->command);
    srv_jw_time(w, "created", a->created);
    srv_jw_time(w, "ended", a->ended);
    jw_int_or_null(w, "exit_code", a->exit_code);
    m87_jw_kstr(w, "message", a->message);
    jw_int_or_null(w, "duration_ms", a->duration_ms);
    m87_jw_key(w, "bytes");
    m87_jw_obj_open(w);
    m87_jw_kint(w, "stdin", a->bytes_in);
    m87_jw_kint(w, "stdout", a->bytes_out);
    m87_jw_kint(w, "stderr", a->bytes_err);
    m87_jw_obj_close(w);
    jw_raw_or_null(w, "detail", a->detail);
    m87_jw_obj_close(w);
}

int srv_audit_prune(struct srv_store *st, int64_t before, int batch, int64_t *pruned,
                    struct m87_error **err)
{
    return srv_prune_batch(st, SQL_AUDIT_PRUNE, before, batch, pruned, "prune old audit rows", err);
}
