/* Deployments and their revisions in the store. */
#include <string.h>

#include "m87/compiler.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "server/store-deployments.h"
#include "server/store-internal.h"
#include "server/util.h"

#define DEP_COLS                                                                                   \
    "SELECT d.public_id, d.active, d.head, r.hash, d.created, r.created, r.jobs, d.id,"            \
    " d.device_id FROM deployments d JOIN revisions r ON r.deployment_id = d.id"                   \
    " AND r.number = d.head"

static const char SQL_DEP_FIND[] = DEP_COLS " WHERE d.device_id = ?1 AND d.public_id = ?2";
static const char SQL_DEP_ACTIVE[] = DEP_COLS " WHERE d.device_id = ?1 AND d.active = 1";
static const char SQL_DEP_LIST[] = DEP_COLS " WHERE d.device_id = ?1 ORDER BY d.id";
static const char SQL_DEP_ADD[] = "INSERT INTO deployments (public_id, device_id, active, head,"
                                  " created) VALUES (?1, ?2, 0, 0, ?3)"
                                  " ON CONFLICT DO NOTHING RETURNING id";
static const char SQL_DEP_DEACTIVATE[] =
    "UPDATE deployments SET active = 0 WHERE device_id = ?1 AND active = 1";
static const char SQL_DEP_ACTIVATE[] = "UPDATE deployments SET active = 1 WHERE id = ?1";
static const char SQL_DEP_DELETE[] = "DELETE FROM deployments WHERE id = ?1";
static const char SQL_DEP_HEAD[] = "UPDATE deployments SET head = ?2 WHERE id = ?1";
static const char SQL_REV_ADD[] = "INSERT INTO revisions (deployment_id, number, hash, created,"
                                  " jobs, spec, sig_key, sig, sig_time, sig_now) VALUES (?1, ?2,"
                                  " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id";
static const char SQL_REV_BUNDLE[] =
    "INSERT INTO revision_bundles (revision_id, digest) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
static const char SQL_REV_GET[] = "SELECT number, hash, created, jobs, spec, sig_key, sig,"
                                  " sig_time, sig_now"
                                  " FROM revisions WHERE deployment_id = ?1 AND number = ?2";
static const char SQL_REV_SIGN[] = "UPDATE revisions SET sig_key = ?3, sig = ?4,"
                                   " sig_time = ?5, sig_now = ?6"
                                   " WHERE deployment_id = ?1 AND number = ?2";
static const char SQL_REV_LIST[] = "SELECT number, hash, created, jobs FROM revisions"
                                   " WHERE deployment_id = ?1 ORDER BY number";

/* The columns of DEP_COLS, in the order of a deployment's JSON (docs/api.md). */
#define COL(member, kind, key) SRV_COL(struct srv_deployment, member, kind, key)
static const struct srv_col dep_cols[] = {
    COL(public_id, SRV_COL_TEXT, "id"),     COL(active, SRV_COL_BOOL, "active"),
    COL(revision, SRV_COL_INT, "revision"), COL(hash, SRV_COL_TEXT, "hash"),
    COL(created, SRV_COL_TIME, "created"),  COL(updated, SRV_COL_TIME, "updated"),
    COL(jobs, SRV_COL_JSON, "jobs"),        COL(id, SRV_COL_INT, NULL),
    COL(device_id, SRV_COL_INT, NULL),
};
#undef COL
const struct srv_row_type srv_deployment_row = {sizeof(struct srv_deployment), dep_cols,
                                                M87_ARRAY_LEN(dep_cols), "list deployments"};

/* The columns of SQL_REV_GET (SQL_REV_LIST gives the first four), in the order of a revision's
 * JSON in a list. */
#define COL(member, kind, key) SRV_COL(struct srv_revision, member, kind, key)
static const struct srv_col rev_cols[] = {
    COL(number, SRV_COL_INT, "revision"),  COL(hash, SRV_COL_TEXT, "hash"),
    COL(created, SRV_COL_TIME, "created"), COL(jobs, SRV_COL_JSON, "jobs"),
    COL(spec, SRV_COL_JSON, NULL),         COL(sig_key, SRV_COL_TEXT, NULL),
    COL(sig, SRV_COL_TEXT, NULL),          COL(sig_time, SRV_COL_INT, NULL),
    COL(sig_now, SRV_COL_BOOL, NULL),
};
#undef COL
const struct srv_row_type srv_revision_row = {sizeof(struct srv_revision), rev_cols,
                                              M87_ARRAY_LEN(rev_cols), "list revisions"};

void srv_deployment_release(struct srv_deployment *d)
{
    srv_row_release(&srv_deployment_row, d);
}

void srv_revision_release(struct srv_revision *r)
{
    srv_row_release(&srv_revision_row, r);
}

int srv_deployment_find(struct srv_store *st, int64_t device_id, const char *public_id,
                        struct srv_deployment *out, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_DEP_FIND, device_id, public_id, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &srv_deployment_row, out, "read deployment", err,
                       "deployment '%s' not found", public_id);
}

int srv_deployment_active(struct srv_store *st, int64_t device_id, struct srv_deployment *out,
                          struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_DEP_ACTIVE, device_id, err);
    if (s == NULL)
        return -1;
    return srv_row_one(s, &srv_deployment_row, out, "read deployment", err);
}

int srv_deployment_list(struct srv_store *st, int64_t device_id, struct srv_deployment **out,
                        size_t *n, struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_DEP_LIST, device_id, &srv_deployment_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

static int insert_revision(struct srv_store *st, int64_t dep_id, int64_t number,
                           const struct srv_rev_content *c, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REV_ADD, dep_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, number);
    srv_q_text(s, 3, c->hash);
    srv_q_int(s, 4, srv_now());
    srv_q_text(s, 5, c->jobs);
    srv_q_text(s, 6, c->spec);
    srv_q_text(s, 7, c->sig_key);
    srv_q_text(s, 8, c->sig_key ? c->sig : NULL);
    if (c->sig_key)
        srv_q_int(s, 9, c->sig_time);
    srv_q_int(s, 10, c->sig_key && c->sig_now);
    int64_t rev_id = 0;
    if (srv_insert_id(s, &rev_id, "store revision", err) < 0)
        return -1;
    for (size_t i = 0; i < c->bundles.len; i++) {
        if ((s = srv_stmt_id_text(st, SQL_REV_BUNDLE, rev_id, c->bundles.items[i], err)) == NULL)
            return -1;
        if (srv_q_done(s, "store bundle reference", err) < 0)
            return -1;
    }
    if ((s = srv_stmt_id(st, SQL_DEP_HEAD, dep_id, err)) == NULL)
        return -1;
    srv_q_int(s, 2, number);
    return srv_q_done(s, "update deployment", err);
}

static void bind_deployment(struct srv_q *s, const void *arg)
{
    srv_q_int(s, 2, *(const int64_t *)arg);
    srv_q_int(s, 3, srv_now());
}

int srv_deployment_create(struct srv_store *st, int64_t device_id, const char *given, bool active,
                          const struct srv_rev_content *c, struct srv_deployment *out,
                          struct m87_error **err)
{
    int64_t id = 0;
    _cleanup_free_ char *public_id = given ? m87_xstrdup(given) : NULL;
    if (srv_insert_public(st, SQL_DEP_ADD, "d-", bind_deployment, &device_id, &id, &public_id,
                          "store deployment", err) < 0 ||
        insert_revision(st, id, 1, c, err) < 0)
        return -1;
    struct srv_deployment d = {.id = id, .device_id = device_id};
    if (active && srv_deployment_activate(st, &d, err) < 0)
        return -1;
    return srv_deployment_find(st, device_id, public_id, out, err);
}

int srv_deployment_activate(struct srv_store *st, const struct srv_deployment *d,
                            struct m87_error **err)
{
    if (srv_exec_id(st, SQL_DEP_DEACTIVATE, d->device_id, "deactivate deployment", err) < 0)
        return -1;
    return srv_exec_id(st, SQL_DEP_ACTIVATE, d->id, "activate deployment", err);
}

int srv_deployment_delete(struct srv_store *st, const struct srv_deployment *d,
                          struct m87_error **err)
{
    if (d->active)
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "deployment '%s' is active: activate another one first", d->public_id);
    return srv_exec_id(st, SQL_DEP_DELETE, d->id, "delete deployment", err);
}

int srv_revision_add(struct srv_store *st, const struct srv_deployment *d,
                     const struct srv_rev_content *c, struct m87_error **err)
{
    return insert_revision(st, d->id, d->revision + 1, c, err);
}

int srv_revision_get(struct srv_store *st, const struct srv_deployment *d, int64_t number,
                     struct srv_revision *out, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REV_GET, d->id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, number);
    return srv_row_get(s, &srv_revision_row, out, "read revision", err,
                       "deployment '%s' has no revision %lld", d->public_id, (long long)number);
}

int srv_revision_sign(struct srv_store *st, const struct srv_deployment *d, int64_t number,
                      const struct srv_rev_content *c, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REV_SIGN, d->id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, number);
    srv_q_text(s, 3, c->sig_key);
    srv_q_text(s, 4, c->sig_key ? c->sig : NULL);
    srv_q_int(s, 5, c->sig_time);
    srv_q_int(s, 6, c->sig_now);
    return srv_q_done(s, "store signature", err);
}

int srv_revision_list(struct srv_store *st, const struct srv_deployment *d,
                      struct srv_revision **out, size_t *n, struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_REV_LIST, d->id, &srv_revision_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}
