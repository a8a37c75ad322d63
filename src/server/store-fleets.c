/* Fleets in the store: a row of (name, canonical selector) each. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "server/limits.h"
#include "server/store-fleets.h"
#include "server/store-internal.h"
#include "server/util.h"

#define FLEET_COLS "SELECT id, name, selector, created FROM fleets"
static const char SQL_FLEET_BY_NAME[] = FLEET_COLS " WHERE name = ?1";
static const char SQL_FLEET_LIST[] = FLEET_COLS " ORDER BY name";
static const char SQL_FLEET_COUNT[] = "SELECT COUNT(*) FROM fleets";
static const char SQL_FLEET_ADD[] =
    "INSERT INTO fleets (name, selector, created) VALUES (?1, ?2, ?3) RETURNING id";
static const char SQL_FLEET_DELETE[] = "DELETE FROM fleets WHERE name = ?1";

/* The columns of FLEET_COLS, as a fleet's JSON names them (the id is not shown). */
#define COL(member, kind, key) SRV_COL(struct srv_fleet, member, kind, key)
static const struct srv_col fleet_cols[] = {
    COL(id, SRV_COL_INT, NULL),
    COL(name, SRV_COL_TEXT, "name"),
    COL(selector, SRV_COL_TEXT, "selector"),
    COL(created, SRV_COL_TIME, "created"),
};
#undef COL
const struct srv_row_type srv_fleet_row = {sizeof(struct srv_fleet), fleet_cols,
                                           M87_ARRAY_LEN(fleet_cols), "list fleets"};

void srv_fleet_release(struct srv_fleet *f)
{
    srv_row_release(&srv_fleet_row, f);
}

void srv_fleets_free(struct srv_fleet *v, size_t n)
{
    srv_rows_free(v, n, &srv_fleet_row);
}

int srv_fleet_find(struct srv_store *st, const char *name, struct srv_fleet *out,
                   struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_FLEET_BY_NAME, name, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &srv_fleet_row, out, "read fleet", err, "fleet '%s' not found", name);
}

int srv_fleet_list(struct srv_store *st, struct srv_fleet **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, SQL_FLEET_LIST, err);
    void *v = NULL;
    if (s == NULL || srv_rows_collect(s, &srv_fleet_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_fleet_create(struct srv_store *st, const char *name, const char *selector,
                     struct srv_fleet *out, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_FLEET_BY_NAME, name, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "read fleet", err);
    srv_q_reset(s);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return m87_error_set(err, M87_E_CONFLICT, 0, "fleet '%s' already exists", name);
    int64_t count = 0;
    if (srv_query_scalar(st, SQL_FLEET_COUNT, &count, "count fleets", err) < 0)
        return -1;
    if (count >= SRV_MAX_FLEETS)
        return m87_error_set(err, M87_E_TOOBIG, 0, "a server has at most %d fleets",
                             SRV_MAX_FLEETS);
    s = srv_stmt_text(st, SQL_FLEET_ADD, name, err);
    if (s == NULL)
        return -1;
    int64_t now = srv_now();
    srv_q_text(s, 2, selector);
    srv_q_int(s, 3, now);
    if (srv_insert_id(s, &out->id, "store fleet", err) < 0)
        return -1;
    out->name = m87_xstrdup(name);
    out->selector = m87_xstrdup(selector);
    out->created = now;
    return 0;
}

int srv_fleet_delete(struct srv_store *st, const char *name, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_FLEET_DELETE, name, err);
    if (s == NULL || srv_q_done(s, "delete fleet", err) < 0)
        return -1;
    if (srv_store_changes(st) == 0)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "fleet '%s' not found", name);
    return 0;
}
