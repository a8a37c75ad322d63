/* Bundles in the store: the rows that say which digests are stored, and which device may read
 * which digest. The bytes live in DATA/bundles/ (api-bundles.c). */
#include "m87/error.h"
#include "server/store-deployments.h"
#include "server/store-internal.h"
#include "server/util.h"

static const char SQL_BUNDLE_FIND[] = "SELECT size FROM bundles WHERE digest = ?1";
static const char SQL_BUNDLE_ADD[] =
    "INSERT INTO bundles (digest, size, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
static const char SQL_BUNDLE_REF[] =
    "SELECT 1 FROM revision_bundles rb JOIN revisions r ON r.id = rb.revision_id"
    " JOIN deployments d ON d.id = r.deployment_id WHERE rb.digest = ?2 AND d.device_id = ?1"
    " LIMIT 1";

int srv_bundle_find(struct srv_store *st, const char *digest, uint64_t *size,
                    struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_BUNDLE_FIND, digest, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "read bundle", err);
    if (rc != 1)
        return rc;
    *size = (uint64_t)srv_q_col_int(s, 0);
    srv_q_reset(s);
    return 1;
}

int srv_bundle_add(struct srv_store *st, const char *digest, uint64_t size, struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, SQL_BUNDLE_ADD, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 1, digest);
    srv_q_int(s, 2, (int64_t)size);
    srv_q_int(s, 3, srv_now());
    return srv_q_done(s, "store bundle", err);
}

int srv_bundle_referenced(struct srv_store *st, int64_t device_id, const char *digest,
                          struct m87_error **err)
{
    return srv_row_exists(st, SQL_BUNDLE_REF, device_id, digest, NULL, "look up bundle reference",
                          err);
}
