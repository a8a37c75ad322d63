/* Bundles in the store: the rows that say which digests are stored, their bytes in chunks
 * (bundle_chunks, docs/design.md, Bundles), and which device may read which digest. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/io.h"
#include "server/limits.h"
#include "server/store-deployments.h"
#include "server/store-internal.h"
#include "server/util.h"

static const char SQL_BUNDLE_FIND[] = "SELECT size FROM bundles WHERE digest = ?1";
static const char SQL_BUNDLE_ADD[] =
    "INSERT INTO bundles (digest, size, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
static const char SQL_CHUNK_ADD[] =
    "INSERT INTO bundle_chunks (digest, seq, data) VALUES (?1, ?2, ?3)";
static const char SQL_CHUNK_READ[] =
    "SELECT data FROM bundle_chunks WHERE digest = ?1 AND seq = ?2";
static const char SQL_CHUNK_COUNT[] = "SELECT COUNT(*) FROM bundle_chunks WHERE digest = ?1";
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

int srv_bundle_chunk_add(struct srv_store *st, const char *digest, int64_t seq, const void *data,
                         size_t len, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_CHUNK_ADD, digest, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, seq);
    srv_q_blob(s, 3, data, len);
    return srv_q_done(s, "store bundle chunk", err);
}

int srv_bundle_chunk_read(struct srv_store *st, const char *digest, int64_t seq, void **data,
                          size_t *len, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_CHUNK_READ, digest, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, seq);
    int rc = srv_q_step(s, "read bundle chunk", err);
    if (rc != 1)
        return rc;
    size_t n = 0;
    const void *p = srv_q_col_blob(s, 0, &n);
    *data = m87_xmalloc(n ? n : 1);
    if (n)
        memcpy(*data, p, n);
    *len = n;
    srv_q_reset(s);
    return 1;
}

int srv_bundle_chunk_count(struct srv_store *st, const char *digest, int64_t *n,
                           struct m87_error **err)
{
    struct srv_q *s = srv_stmt_text(st, SQL_CHUNK_COUNT, digest, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "count bundle chunks", err);
    if (rc < 0)
        return -1;
    *n = rc == 1 ? srv_q_col_int(s, 0) : 0;
    srv_q_reset(s);
    return 0;
}

/* Fill buf from fd up to len bytes or the end of the file: the bytes read, -1 on an error. */
static ssize_t read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = m87_read_some(fd, buf + got, len - got);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int srv_bundle_store_fd(struct srv_store *st, const char *digest, int fd, uint64_t size,
                        const char *name, struct m87_error **err)
{
    if (lseek(fd, 0, SEEK_SET) < 0)
        return m87_error_set(err, M87_E_IO, errno, "seek '%s'", name);
    if (srv_bundle_add(st, digest, size, err) < 0)
        return -1;
    _cleanup_free_ char *buf = m87_xmalloc(SRV_BUNDLE_CHUNK);
    uint64_t done = 0;
    for (int64_t seq = 0; done < size; seq++) {
        ssize_t n = read_full(fd, buf, SRV_BUNDLE_CHUNK);
        if (n < 0)
            return m87_error_set(err, M87_E_IO, errno, "read '%s'", name);
        if (n == 0)
            return m87_error_set(err, M87_E_IO, 0, "read '%s': %llu bytes, expected %llu", name,
                                 (unsigned long long)done, (unsigned long long)size);
        if (srv_bundle_chunk_add(st, digest, seq, buf, (size_t)n, err) < 0)
            return -1;
        done += (uint64_t)n;
    }
    return 0;
}
