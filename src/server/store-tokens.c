/* The admin tokens in the store (store-tokens.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "server/store-internal.h"
#include "server/store-tokens.h"
#include "server/util.h"

static const char SQL_ADMIN_ADD[] = "INSERT INTO tokens (hash, role, device_id, created, name) "
                                    "VALUES (?1, 'admin', NULL, ?2, ?3) RETURNING id";
static const char SQL_ADMIN_LIST[] =
    "SELECT id, name, hash, created FROM tokens WHERE role = 'admin' ORDER BY id";
static const char SQL_ADMIN_FIND[] =
    "SELECT id, name, hash, created FROM tokens WHERE role = 'admin' "
    "AND (id = ?1 OR substr(hash, 1, 12) = ?2) ORDER BY id";
_Static_assert(SRV_AUDIT_TOKEN_ID_LEN == 12, "SQL_ADMIN_FIND compares 12 hex digits");
static const char SQL_ADMIN_COUNT[] = "SELECT COUNT(*) FROM tokens WHERE role = 'admin'";
static const char SQL_ADMIN_DELETE[] = "DELETE FROM tokens WHERE id = ?1 AND role = 'admin'";
/* PostgreSQL: two revokes at once on two replicas count the admin tokens one after the other
 * (SQLite's BEGIN IMMEDIATE already does); the key is "m87 tok" in ASCII */
static const char SQL_PG_TOKEN_LOCK[] = "SELECT pg_advisory_xact_lock(30742581888577387)";

int srv_admin_token_add(struct srv_store *st, const char *hash, const char *name, int64_t *id,
                        struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_ADMIN_ADD, hash, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, srv_now());
    srv_q_text(s, 3, name);
    int rc = srv_q_step(s, "store token", err);
    if (rc < 0)
        return -1;
    *id = rc == 1 ? srv_q_col_int(s, 0) : 0;
    srv_q_reset(s);
    return 0;
}

/* The current row of SQL_ADMIN_LIST or SQL_ADMIN_FIND. */
static void token_from_row(struct srv_q *s, struct srv_admin_token *t)
{
    const char *hash = srv_q_col_text(s, 2);
    t->id = srv_q_col_int(s, 0);
    t->name = srv_col_text(s, 1);
    snprintf(t->fingerprint, sizeof(t->fingerprint), "%.*s", SRV_AUDIT_TOKEN_ID_LEN,
             hash ? hash : "");
    t->created = srv_q_col_int(s, 3);
}

int srv_admin_token_list(struct srv_store *st, struct srv_admin_token **out, size_t *n,
                         struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, SQL_ADMIN_LIST, err);
    if (s == NULL)
        return -1;
    struct srv_admin_token *v = NULL;
    size_t len = 0;
    int rc;
    while ((rc = srv_q_step(s, "list admin tokens", err)) == 1) {
        v = m87_xrealloc(v, (len + 1) * sizeof(*v));
        token_from_row(s, &v[len++]);
    }
    srv_q_reset(s);
    if (rc < 0) {
        srv_admin_tokens_free(v, len);
        return -1;
    }
    *out = v;
    *n = len;
    return 0;
}

void srv_admin_tokens_free(struct srv_admin_token *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* The one admin token id or fingerprint names: 1, 0 for none, -1 with *err. */
static int find_one(struct srv_store *st, int64_t id, const char *fingerprint,
                    struct srv_admin_token *t, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_ADMIN_FIND, id > 0 ? id : -1, fingerprint, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "find admin token", err);
    if (rc == 1) {
        token_from_row(s, t);
        rc = srv_q_step(s, "find admin token", err);
        if (rc == 1)
            rc = m87_error_set(err, M87_E_CONFLICT, 0,
                               "fingerprint '%s' names more than one admin token: give its ID",
                               fingerprint);
        else if (rc == 0)
            rc = 1;
        if (rc < 0) {
            free(t->name);
            t->name = NULL;
        }
    }
    srv_q_reset(s);
    return rc;
}

static int revoke_locked(struct srv_store *st, int64_t id, const char *fingerprint,
                         struct srv_admin_token *gone, struct m87_error **err)
{
    if (srv_db_kind(srv_store_db(st)) == SRV_DB_PG &&
        srv_db_exec(srv_store_db(st), SQL_PG_TOKEN_LOCK, "lock admin tokens", err) < 0)
        return -1;
    int rc = find_one(st, id, fingerprint, gone, err);
    if (rc <= 0)
        return rc < 0   ? -1
               : id > 0 ? m87_error_set(err, M87_E_NOTFOUND, 0, "no admin token with ID %lld",
                                        (long long)id)
                        : m87_error_set(err, M87_E_NOTFOUND, 0,
                                        "no admin token with fingerprint '%s'", fingerprint);
    struct srv_q *s = srv_stmt(st, SQL_ADMIN_COUNT, err);
    if (s == NULL || (rc = srv_q_step(s, "count admin tokens", err)) < 0)
        goto fail;
    int64_t count = rc == 1 ? srv_q_col_int(s, 0) : 0;
    srv_q_reset(s);
    if (count <= 1) {
        m87_error_set(err, M87_E_CONFLICT, 0,
                      "admin token %lld is the last one: create another first "
                      "('m87-server token create')",
                      (long long)gone->id);
        goto fail;
    }
    if (srv_exec_id(st, SQL_ADMIN_DELETE, gone->id, "revoke admin token", err) < 0)
        goto fail;
    return 0;
fail:
    free(gone->name);
    gone->name = NULL;
    return -1;
}

int srv_admin_token_revoke(struct srv_store *st, int64_t id, const char *fingerprint,
                           struct srv_admin_token *gone, struct m87_error **err)
{
    *gone = (struct srv_admin_token){0};
    if (srv_store_begin(st, err) < 0)
        return -1;
    if (revoke_locked(st, id, fingerprint, gone, err) < 0) {
        srv_store_rollback(st);
        return -1;
    }
    if (srv_store_commit(st, err) < 0) {
        free(gone->name);
        gone->name = NULL;
        return -1;
    }
    return 0;
}
