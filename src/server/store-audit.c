/* The audit trail of remote access in the store (store-audit.h). */

#include "m87/compiler.h"
#include "server/json.h"
#include "server/row.h"
#include "server/store-audit.h"
#include "server/store-internal.h"
#include "server/util.h"

static const char SQL_AUDIT_ADD[] =
    "INSERT INTO remote_audit (device_id, channel, token, what, command, created) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_AUDIT_END[] =
    "UPDATE remote_audit SET ended = ?3, exit_code = ?4, message = ?5, duration_ms = ?6, "
    "bytes_in = ?7, bytes_out = ?8, bytes_err = ?9 "
    "WHERE device_id = ?1 AND channel = ?2 AND ended IS NULL";
static const char SQL_AUDIT_LIST[] =
    "SELECT channel, token, what, command, created, ended, exit_code, message, duration_ms, "
    "bytes_in, bytes_out, bytes_err FROM (SELECT * FROM remote_audit "
    "WHERE device_id = ?1 AND created >= ?2 ORDER BY id DESC LIMIT ?3) AS newest ORDER BY id";

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
};
#undef COL
static const struct srv_row_type audit_row = {sizeof(struct srv_audit), audit_cols,
                                              M87_ARRAY_LEN(audit_cols), "read the audit trail"};

int srv_audit_add(struct srv_store *st, int64_t device_id, const char *channel, const char *token,
                  const char *what, const char *command, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_AUDIT_ADD, device_id, channel, err);
    if (!s)
        return -1;
    srv_q_text(s, 3, token);
    srv_q_text(s, 4, what);
    srv_q_text(s, 5, command);
    srv_q_int(s, 6, srv_now());
    return srv_q_done(s, "store the audit trail", err);
}

int srv_audit_end(struct srv_store *st, int64_t device_id, const char *channel, int exit_code,
                  const char *message, int64_t duration_ms, const int64_t bytes[3],
                  struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_AUDIT_END, device_id, channel, err);
    if (!s)
        return -1;
    srv_q_int(s, 3, srv_now());
    if (exit_code >= 0)
        srv_q_int(s, 4, exit_code);
    srv_q_text(s, 5, message);
    srv_q_int(s, 6, duration_ms);
    for (int i = 0; i < 3; i++)
        srv_q_int(s, 7 + i, bytes[i]);
    return srv_q_done(s, "store the audit trail", err);
}

int srv_audit_list(struct srv_store *st, int64_t device_id, int64_t since, struct srv_audit **out,
                   size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_AUDIT_LIST, device_id, err);
    void *v = NULL;
    if (!s)
        return -1;
    srv_q_int(s, 2, since);
    srv_q_int(s, 3, SRV_AUDIT_MAX_LIST);
    if (srv_rows_collect(s, &audit_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

void srv_audits_free(struct srv_audit *v, size_t n)
{
    srv_rows_free(v, n, &audit_row);
}

void srv_jw_audit(struct m87_jw *w, const struct srv_audit *a)
{
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "channel", a->channel);
    m87_jw_kstr(w, "token", a->token);
    m87_jw_kstr(w, "what", a->what);
    m87_jw_key(w, "command");
    if (a->command)
        srv_jw_raw(w, a->command);
    else
        m87_jw_null(w);
    srv_jw_time(w, "created", a->created);
    srv_jw_time(w, "ended", a->ended);
    m87_jw_key(w, "exit_code");
    if (a->exit_code >= 0)
        m87_jw_int(w, a->exit_code);
    else
        m87_jw_null(w);
    m87_jw_kstr(w, "message", a->message);
    m87_jw_key(w, "duration_ms");
    if (a->duration_ms >= 0)
        m87_jw_int(w, a->duration_ms);
    else
        m87_jw_null(w);
    m87_jw_key(w, "bytes");
    m87_jw_obj_open(w);
    m87_jw_kint(w, "stdin", a->bytes_in);
    m87_jw_kint(w, "stdout", a->bytes_out);
    m87_jw_kint(w, "stderr", a->bytes_err);
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
}
