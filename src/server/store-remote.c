/* Remote channels shared by replicas through the database (store-remote.h). */
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/json.h"
#include "server/store-internal.h"
#include "server/store-remote.h"
#include "server/util.h"

#define CHANNEL_ROW_KEEP_S (24 * 3600)

static const char SQL_CHANNEL_ADD[] =
    "INSERT INTO remote_channels (id, device_id, device_name, request, owner, created) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_CHANNEL_PRUNE[] = "DELETE FROM remote_channels WHERE created < ?1";
/* one statement: two replicas holding a sync of the device at once deliver each channel once */
static const char SQL_CHANNEL_DELIVER[] =
    "UPDATE remote_channels SET delivered = ?2 WHERE device_id = ?1 AND delivered IS NULL "
    "AND created >= ?3 RETURNING id, request";
static const char SQL_CHANNEL_FIND[] =
    "SELECT device_id, device_name, owner FROM remote_channels WHERE id = ?1";

bool srv_store_remote_shared(struct srv_store *st)
{
    return srv_db_kind(srv_store_db(st)) != SRV_DB_SQLITE;
}

int srv_remote_channel_add(struct srv_store *st, const char *id, int64_t device_id,
                           const char *device_name, const char *request, const char *owner,
                           struct m87_error **err)
{
    if (!srv_store_remote_shared(st))
        return 0;
    if (srv_exec_id(st, SQL_CHANNEL_PRUNE, srv_now() - CHANNEL_ROW_KEEP_S, "prune remote channels",
                    err) < 0)
        return -1;
    struct srv_q *q = srv_stmt_text(st, SQL_CHANNEL_ADD, id, err);
    if (q == NULL)
        return -1;
    srv_q_int(q, 2, device_id);
    srv_q_text(q, 3, device_name);
    srv_q_text(q, 4, request);
    srv_q_text(q, 5, owner);
    srv_q_int(q, 6, srv_now());
    return srv_q_done(q, "store the remote channel", err);
}

int srv_remote_channels_deliver(struct srv_store *st, int64_t device_id, int64_t max_age,
                                struct m87_jw *w, size_t *n, struct m87_error **err)
{
    int64_t now = srv_now();
    struct srv_q *q = srv_stmt_id(st, SQL_CHANNEL_DELIVER, device_id, err);
    *n = 0;
    if (q == NULL)
        return -1;
    srv_q_int(q, 2, now);
    srv_q_int(q, 3, now - max_age);
    int rc;
    while ((rc = srv_q_step(q, "deliver remote channels", err)) == 1) {
        const char *request = srv_q_col_text(q, 1);
        _cleanup_(m87_json_freep) struct m87_json *req =
            m87_json_parse(request ? request : "", request ? strlen(request) : 0, NULL);
        if (req == NULL)
            continue; /* it was parsed before it was stored */
        if ((*n)++ == 0) {
            m87_jw_key(w, "remote");
            m87_jw_arr_open(w);
        }
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "id", srv_q_col_text(q, 0));
        m87_jw_key(w, "request");
        m87_jw_node(w, req);
        m87_jw_obj_close(w);
    }
    if (*n > 0)
        m87_jw_arr_close(w);
    return rc < 0 ? -1 : 0;
}

int srv_remote_channel_find(struct srv_store *st, const char *id, int64_t *device_id,
                            char **device_name, char **owner, struct m87_error **err)
{
    if (!srv_store_remote_shared(st))
        return m87_error_set(err, M87_E_NOTFOUND, 0, "no remote channel '%s' on this device", id);
    srv_store_lock(st);
    struct srv_q *q = srv_stmt_text(st, SQL_CHANNEL_FIND, id, err);
    int rc = q ? srv_q_step(q, "find the remote channel", err) : -1;
    if (rc == 1) {
        *device_id = srv_q_col_int(q, 0);
        *device_name = srv_col_text(q, 1);
        *owner = srv_col_text(q, 2);
    }
    if (q)
        srv_q_reset(q);
    srv_store_unlock(st);
    if (rc == 0)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "no remote channel '%s' on this device", id);
    return rc < 0 ? -1 : 0;
}
