/* Registry credentials: one row per host and scope (a device, or every device). */
#include <string.h>

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-selector.h"
#include "server/store-devices.h"
#include "server/store-internal.h"
#include "server/store-registries.h"
#include "server/util.h"

static const char SQL_REG_UPDATE[] =
    "UPDATE registries SET username = ?3, secret = ?4, updated = ?5"
    " WHERE host = ?2 AND COALESCE(device_id, 0) = ?1 AND COALESCE(selector, '') = ?6";
static const char SQL_REG_INSERT[] =
    "INSERT INTO registries (device_id, host, username, secret, created, updated, selector)"
    " VALUES (NULLIF(?1, 0), ?2, ?3, ?4, ?5, ?5, NULLIF(?6, ''))";
static const char SQL_REG_COUNT[] = "SELECT COUNT(*) FROM registries";
static const char SQL_REG_REMOVE[] =
    "DELETE FROM registries WHERE host = ?2 AND (?1 = 0 OR device_id = ?1)"
    " AND (?3 = '' OR selector = ?3)";
static const char SQL_REG_LIST[] =
    "SELECT r.host, r.username, d.name, r.selector, r.created, r.updated FROM registries r"
    " LEFT JOIN devices d ON d.id = r.device_id"
    " ORDER BY r.host, r.device_id IS NOT NULL, r.selector IS NOT NULL, d.name, r.selector";
/* a device's own entries first, then the selectors' (newest first), then the every-device one */
static const char SQL_REG_DEVICE[] =
    "SELECT host, username, CASE WHEN device_id IS NULL THEN NULL ELSE 'own' END, selector,"
    " created, updated, secret FROM registries WHERE device_id = ?1 OR device_id IS NULL"
    " ORDER BY host, device_id IS NULL, selector IS NULL, updated DESC, id DESC";

#define COL(member, kind, key) SRV_COL(struct srv_registry, member, kind, key)
static const struct srv_col registry_cols[] = {
    COL(host, SRV_COL_TEXT, "host"),       COL(username, SRV_COL_TEXT, "username"),
    COL(device, SRV_COL_TEXT, "device"),   COL(selector, SRV_COL_TEXT, "select"),
    COL(created, SRV_COL_TIME, "created"), COL(updated, SRV_COL_TIME, "updated"),
    COL(secret, SRV_COL_TEXT, NULL),
};
#undef COL
const struct srv_row_type srv_registry_row = {sizeof(struct srv_registry), registry_cols,
                                              M87_ARRAY_LEN(registry_cols), "list registries"};

void srv_registries_free(struct srv_registry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].secret)
            explicit_bzero(v[i].secret, strlen(v[i].secret));
    srv_rows_free(v, n, &srv_registry_row);
}

static int put_stmt(struct srv_store *st, const char *sql, const char *host,
                    const struct srv_reg_scope *scope, const char *username, const char *secret,
                    struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, sql, scope->device_id, host, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 3, username);
    srv_q_text(s, 4, secret);
    srv_q_int(s, 5, srv_now());
    srv_q_text(s, 6, scope->selector ? scope->selector : "");
    return srv_q_done(s, "store registry credentials", err);
}

int srv_registry_put(struct srv_store *st, const char *host, const struct srv_reg_scope *scope,
                     const char *username, const char *secret, struct m87_error **err)
{
    int64_t have = 0;
    if (put_stmt(st, SQL_REG_UPDATE, host, scope, username, secret, err) < 0)
        return -1;
    if (srv_store_changes(st) > 0)
        return 0;
    if (put_stmt(st, SQL_REG_INSERT, host, scope, username, secret, err) < 0 ||
        srv_query_scalar(st, SQL_REG_COUNT, &have, "count registries", err) < 0)
        return -1;
    if (have > SRV_MAX_REGISTRIES)
        return m87_error_set(err, M87_E_TOOBIG, 0, "the server keeps at most %d registry entries",
                             SRV_MAX_REGISTRIES);
    return 0;
}

int srv_registry_remove(struct srv_store *st, const char *host, const struct srv_reg_scope *scope,
                        struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_REG_REMOVE, scope->device_id, host, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 3, scope->selector ? scope->selector : "");
    if (srv_q_done(s, "remove registry credentials", err) < 0)
        return -1;
    if (srv_store_changes(st) == 0)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "no credentials for registry '%s'%s", host,
                             scope->device_id  ? " on that device"
                             : scope->selector ? " for that selector"
                                               : "");
    return 0;
}

int srv_registry_list(struct srv_store *st, struct srv_registry **out, size_t *n,
                      struct m87_error **err)
{
    void *v = NULL;
    struct srv_q *s = srv_stmt(st, SQL_REG_LIST, err);
    if (s == NULL || srv_rows_collect(s, &srv_registry_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

/* Whether entry e applies to a device with labels: its own, a selector that selects it (a stored
 * selector that no longer parses selects nothing), or every device. */
static bool applies(const struct srv_registry *e, const struct m87_kvlist *labels)
{
    if (e->device || !e->selector)
        return true;
    struct spec_selector sel;
    if (spec_selector_parse(e->selector, &sel, NULL) < 0)
        return false;
    bool yes = spec_selector_match(&sel, labels);
    spec_selector_release(&sel);
    return yes;
}

int srv_registry_for_device(struct srv_store *st, int64_t device_id, struct srv_registry **out,
                            size_t *n, struct m87_error **err)
{
    void *all = NULL;
    size_t total = 0;
    struct m87_kvlist labels;

    m87_kvlist_init(&labels);
    if (srv_rows_by_id(st, SQL_REG_DEVICE, device_id, &srv_registry_row, &all, &total, err) < 0)
        return -1;
    struct srv_registry *v = all;
    /* every sync asks: the device's labels are read only when a selector needs them */
    bool selectors = false;
    for (size_t i = 0; i < total && !selectors; i++)
        selectors = v[i].selector != NULL;
    if (selectors && srv_labels_get(st, device_id, &labels, err) < 0) {
        srv_registries_free(v, total);
        return -1;
    }
    /* in the query's order, the first entry of each host that applies is the device's */
    size_t kept = 0;
    for (size_t i = 0; i < total; i++) {
        bool taken = kept > 0 && strcmp(v[kept - 1].host, v[i].host) == 0;
        if (taken || !applies(&v[i], &labels)) {
            if (v[i].secret)
                explicit_bzero(v[i].secret, strlen(v[i].secret));
            srv_row_release(&srv_registry_row, &v[i]);
            continue;
        }
        struct srv_registry e = v[i];
        v[i] = (struct srv_registry){0};
        v[kept++] = e;
    }
    m87_kvlist_release(&labels);
    *out = v;
    *n = kept;
    return 0;
}
