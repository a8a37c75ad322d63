/* Devices and tokens in the store. */
#include <string.h>

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "server/auth.h"
#include "server/store-devices.h"
#include "server/store-internal.h"
#include "server/store.h"
#include "server/util.h"

static const char SQL_TOKEN_ADD[] =
    "INSERT INTO tokens (hash, role, device_id, created) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_TOKEN_REVOKE[] =
    "DELETE FROM tokens WHERE role = 'device' AND device_id = ?1";
static const char SQL_TOKEN_LOOKUP[] =
    "SELECT t.hash, t.role, t.device_id, d.name FROM tokens t"
    " LEFT JOIN devices d ON d.id = t.device_id WHERE t.hash = ?1";
#define DEVICE_COLS                                                                                \
    "SELECT id, name, created, last_seen, agent_version, applied_revision, prefetch, policy,"      \
    " now_revision, offline FROM devices"

static const char SQL_DEVICE_ADD[] =
    "INSERT INTO devices (name, created) VALUES (?1, ?2) RETURNING id";
static const char SQL_DEVICE_BY_NAME[] = DEVICE_COLS " WHERE name = ?1";
/* PostgreSQL: the row stays locked until the transaction ends (docs/design.md, PostgreSQL backend,
 * Connections); NO KEY leaves the inserts of rows that reference it free. SQLite has no FOR and
 * needs none: BEGIN IMMEDIATE serialises its writers. */
#define DEVICE_LOCK " FOR NO KEY UPDATE"
static const char SQL_DEVICE_BY_NAME_PG[] = DEVICE_COLS " WHERE name = ?1" DEVICE_LOCK;
static const char SQL_DEVICE_LOCK[] = "SELECT id FROM devices WHERE id = ?1" DEVICE_LOCK;
static const char SQL_DEVICE_BY_ID[] = DEVICE_COLS " WHERE id = ?1";
static const char SQL_DEVICE_LIST[] = DEVICE_COLS " ORDER BY name";
static const char SQL_DEVICE_DELETE[] = "DELETE FROM devices WHERE id = ?1";
/* Writes only when something changed or last_seen is older than SEEN_RESOLUTION: a sync
 * every few seconds from thousands of devices would otherwise be a write each. */
#define SEEN_RESOLUTION "10"
static const char SQL_DEVICE_SEEN[] =
    "UPDATE devices SET last_seen = ?2, agent_version = COALESCE(CAST(?3 AS TEXT), agent_version),"
    " applied_revision = ?4, offline = ?5 WHERE id = ?1 AND (last_seen IS NULL OR last_seen <= ?2 "
    "- " SEEN_RESOLUTION " OR (CAST(?3 AS TEXT) IS NOT NULL AND agent_version IS DISTINCT FROM ?3)"
    " OR applied_revision IS DISTINCT FROM ?4 OR offline IS DISTINCT FROM ?5)";
static const char SQL_DEVICE_ONLINE[] =
    "SELECT COUNT(*) FROM devices WHERE last_seen >= ?1 AND offline = 0";
static const char SQL_DEVICE_PREFETCH[] =
    "UPDATE devices SET prefetch = ?2, policy = policy + 1 WHERE id = ?1"
    " AND prefetch IS DISTINCT FROM ?2";
static const char SQL_DEVICE_NOW[] = "UPDATE devices SET now_revision = ?2, policy = policy + 1"
                                     " WHERE id = ?1 AND now_revision IS DISTINCT FROM ?2";
static const char SQL_DEVICE_POLICY[] = "UPDATE devices SET policy = policy + 1 WHERE id = ?1";

/* The columns of DEVICE_COLS (written as JSON by srv_jw_device). */
#define COL(member, kind) SRV_COL(struct srv_device, member, kind, NULL)
static const struct srv_col device_cols[] = {
    COL(id, SRV_COL_INT),         COL(name, SRV_COL_TEXT),          COL(created, SRV_COL_TIME),
    COL(last_seen, SRV_COL_TIME), COL(agent_version, SRV_COL_TEXT), COL(applied, SRV_COL_TEXT),
    COL(prefetch, SRV_COL_TEXT),  COL(policy, SRV_COL_INT),         COL(now_revision, SRV_COL_TEXT),
    COL(offline, SRV_COL_BOOL),
};
#undef COL
static const struct srv_row_type device_type = {sizeof(struct srv_device), device_cols,
                                                M87_ARRAY_LEN(device_cols), "list devices"};

void srv_device_release(struct srv_device *d)
{
    m87_kvlist_release(&d->labels);
    srv_row_release(&device_type, d);
}

int srv_token_add(struct srv_store *st, const char *hash, enum srv_role role, int64_t device_id,
                  struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, SQL_TOKEN_ADD, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 1, hash);
    srv_q_text(s, 2, role == SRV_ROLE_ADMIN ? "admin" : "device");
    if (role == SRV_ROLE_DEVICE)
        srv_q_int(s, 3, device_id);
    srv_q_int(s, 4, srv_now());
    return srv_q_done(s, "store token", err);
}

int srv_token_revoke_device(struct srv_store *st, int64_t device_id, struct m87_error **err)
{
    return srv_exec_id(st, SQL_TOKEN_REVOKE, device_id, "revoke token", err);
}

int srv_token_lookup(struct srv_store *st, const char *hash, enum srv_role *role,
                     int64_t *device_id, char **device_name, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_TOKEN_LOOKUP, hash, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "look up token", err);
    if (rc != 1)
        return rc;
    /* the index lookup by hash decides; its timing can depend on the hash, which tells nothing
     * of the token (SHA-256 is preimage resistant). This check only refuses a damaged row. */
    const char *stored = srv_q_col_text(s, 0);
    if (stored == NULL || strlen(stored) != M87_SHA256_HEX_LEN ||
        m87_memeq_ct(stored, hash, M87_SHA256_HEX_LEN) != 0) {
        srv_q_reset(s);
        return 0;
    }
    const char *r = srv_q_col_text(s, 1);
    *role = r && strcmp(r, "admin") == 0 ? SRV_ROLE_ADMIN : SRV_ROLE_DEVICE;
    *device_id = srv_q_col_int(s, 2);
    *device_name = srv_col_text(s, 3);
    srv_q_reset(s);
    return 1;
}

int srv_device_create(struct srv_store *st, const char *name, const char *token_hash,
                      struct srv_device *out, struct m87_error **err)
{
    struct srv_device existing = {0};
    struct m87_error *e = NULL;
    if (srv_device_find(st, name, &existing, &e) == 0) {
        srv_device_release(&existing);
        return m87_error_set(err, M87_E_CONFLICT, 0, "device '%s' already exists", name);
    }
    if (m87_error_code(e) != M87_E_NOTFOUND) {
        *err = e;
        return -1;
    }
    m87_error_free(e);
    struct srv_q *s = srv_stmt(st, SQL_DEVICE_ADD, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 1, name);
    srv_q_int(s, 2, srv_now());
    int64_t id = 0;
    if (srv_insert_id(s, &id, "store device", err) < 0)
        return -1;
    if (srv_token_add(st, token_hash, SRV_ROLE_DEVICE, id, err) < 0)
        return -1;
    return srv_device_by_id(st, id, out, err);
}

int srv_device_find(struct srv_store *st, const char *name, struct srv_device *out,
                    struct m87_error **err)
{
    bool pg = srv_db_kind(srv_store_db(st)) == SRV_DB_PG;
    struct srv_q *s = srv_stmt_text(st, pg ? SQL_DEVICE_BY_NAME_PG : SQL_DEVICE_BY_NAME, name, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &device_type, out, "read device", err, "device '%s' not found", name);
}

int srv_device_lock(struct srv_store *st, int64_t id, struct m87_error **err)
{
    if (srv_db_kind(srv_store_db(st)) != SRV_DB_PG)
        return 0;
    struct srv_q *s = srv_stmt_id(st, SQL_DEVICE_LOCK, id, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "lock device", err);
    srv_q_reset(s);
    return rc < 0 ? -1 : 0;
}

int srv_device_by_id(struct srv_store *st, int64_t id, struct srv_device *out,
                     struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_DEVICE_BY_ID, id, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &device_type, out, "read device", err, "device #%lld not found",
                       (long long)id);
}

int srv_device_list(struct srv_store *st, struct srv_device **out, size_t *n,
                    struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, SQL_DEVICE_LIST, err);
    void *v = NULL;

    if (s == NULL || srv_rows_collect(s, &device_type, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_device_delete(struct srv_store *st, int64_t id, struct m87_error **err)
{
    return srv_exec_id(st, SQL_DEVICE_DELETE, id, "delete device", err);
}

int srv_device_seen(struct srv_store *st, int64_t id, const char *agent_version,
                    const char *applied, bool offline, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_DEVICE_SEEN, id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, srv_now());
    srv_q_text(s, 3, agent_version);
    srv_q_text(s, 4, applied);
    srv_q_int(s, 5, offline);
    return srv_q_done(s, "update device", err);
}

int srv_device_count_online(struct srv_store *st, int64_t since, int64_t *n, struct m87_error **err)
{
    return srv_query_int(st, SQL_DEVICE_ONLINE, since, n, "count devices", err);
}

/* UPDATE statements of one device that bind (id, text or NULL). */
static int update_device(struct srv_store *st, const char *sql, int64_t id, const char *text,
                         const char *what, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, sql, id, err);
    if (s == NULL)
        return -1;
    if (sql != SQL_DEVICE_POLICY)
        srv_q_text(s, 2, text);
    return srv_q_done(s, what, err);
}

int srv_device_set_prefetch(struct srv_store *st, int64_t id, const char *prefetch,
                            struct m87_error **err)
{
    return update_device(st, SQL_DEVICE_PREFETCH, id, prefetch, "update device prefetch", err);
}

int srv_device_set_now(struct srv_store *st, int64_t id, const char *hash, struct m87_error **err)
{
    return update_device(st, SQL_DEVICE_NOW, id, hash, "update device now", err);
}

int srv_device_bump_policy(struct srv_store *st, int64_t id, struct m87_error **err)
{
    return update_device(st, SQL_DEVICE_POLICY, id, NULL, "update device policy", err);
}
