/* /v1/bundles/sha256:HEX: upload (hashed while it streams into a temporary file, stored in the
 * database in chunks only when the digest matches) and download with Range, a chunk at a time
 * (docs/design.md, Bundles). */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/io.h"
#include "m87/json-write.h"
#include "m87/log.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/request.h"
#include "server/store-deployments.h"
#include "server/store-notify.h"
#include "server/store-sessions.h"
#include "server/store.h"
#include "server/util.h"

#define DIGEST_PREFIX "sha256:"

struct upload {
    int fd;
    char *tmp;
    struct m87_sha256 *h;
    uint64_t size;
    struct m87_error *err;
};

/* Close and remove the temporary file unless keep() moved it into place. Called before every
 * answer, so that a client who sees the answer never sees the file. */
static void upload_discard(struct upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    if (u->tmp)
        unlink(u->tmp);
    free(u->tmp);
    u->tmp = NULL;
}

static void upload_free(void *p)
{
    struct upload *u = p;
    upload_discard(u);
    m87_sha256_abort(u->h);
    m87_error_free(u->err);
    free(u);
}

/* The HEX of a valid "sha256:HEX" path parameter, or NULL. */
static const char *digest_hex(const char *param)
{
    size_t n = strlen(DIGEST_PREFIX);
    if (strncmp(param, DIGEST_PREFIX, n) != 0 || !srv_valid_hex64(param + n))
        return NULL;
    return param + n;
}

static struct upload *upload_start(struct srv_req *r)
{
    if (r->state)
        return r->state;
    struct upload *u = m87_xcalloc(1, sizeof(*u));
    u->fd = -1;
    r->state = u;
    r->state_free = upload_free;
    u->h = m87_sha256_new();
    u->tmp = m87_xasprintf("%s/.upload-XXXXXX", r->srv->bundle_dir);
    u->fd = mkostemp(u->tmp, O_CLOEXEC);
    if (u->fd < 0) {
        m87_error_set(&u->err, M87_E_IO, errno, "create '%s'", u->tmp);
        free(u->tmp);
        u->tmp = NULL;
    }
    return u;
}

int srv_api_bundles_chunk(struct srv_req *r, const char *data, size_t len)
{
    struct upload *u = upload_start(r);
    if (u->err)
        return -1;
    m87_sha256_update(u->h, data, len);
    u->size += len;
    if (m87_write_all(u->fd, data, len) < 0)
        return m87_error_set(&u->err, M87_E_IO, errno, "write '%s'", u->tmp);
    return 0;
}

static void reply_bundle(struct srv_req *r, unsigned status, const char *param, uint64_t size)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "digest", param);
    m87_jw_kint(w, "size", (int64_t)size);
    m87_jw_obj_close(w);
    srv_reply_json(r, status, w);
}

void srv_api_bundles_put(struct srv_req *r)
{
    const char *hex = digest_hex(r->params.v[0]);
    if (hex == NULL) {
        if (r->state) /* the body already streamed into a temporary file */
            upload_discard(r->state);
        srv_reply_error(r, 400, "bad_request", "digest: expected sha256: and 64 lower-case hex");
        return;
    }
    struct upload *u = upload_start(r);
    if (u->err) {
        upload_discard(u);
        srv_reply_fail(r, u->err);
        return;
    }
    char got[M87_SHA256_HEX_LEN + 1];
    m87_sha256_final(u->h, got);
    u->h = NULL;
    if (strcmp(got, hex) != 0) {
        upload_discard(u);
        srv_reply_error(r, 400, "bad_request", "digest mismatch: the body is sha256:%s", got);
        return;
    }
    struct srv_store *st = r->srv->store;
    _cleanup_error_ struct m87_error *err = NULL;
    uint64_t size = 0;
    if (srv_store_begin(st, &err) < 0)
        goto fail;
    /* two uploads of one digest at once (PostgreSQL, on two connections) write its chunks one
     * after the other: the second finds the first's. The key is the digest's first 60 bits. */
    char key[16];
    snprintf(key, sizeof(key), "%.15s", hex);
    if (srv_store_lock_round(st, (int64_t)strtoll(key, NULL, 16), &err) < 0) {
        srv_store_rollback(st);
        goto fail;
    }
    int rc = srv_bundle_find(st, r->params.v[0], &size, &err);
    int64_t chunks = 0;
    /* a row without its bytes (an older server's file that was lost before the move into the
     * database): this upload brings them */
    if (rc == 1 && size > 0 && srv_bundle_chunk_count(st, r->params.v[0], &chunks, &err) < 0)
        rc = -1;
    if (rc == 1 && size > 0 && chunks == 0)
        rc = 0;
    if (rc == 0 && srv_bundle_store_fd(st, r->params.v[0], u->fd, u->size, u->tmp, &err) < 0)
        rc = -1;
    if (rc < 0) {
        srv_store_rollback(st);
        goto fail;
    }
    if (srv_store_commit(st, &err) < 0)
        goto fail;
    upload_discard(u);
    reply_bundle(r, rc == 1 ? 200 : 201, r->params.v[0], rc == 1 ? size : u->size);
    return;
fail:
    upload_discard(u);
    srv_reply_fail(r, err);
}

/* 0 with its *size when the requester may read the bundle and it is stored; else a reply is
 * queued. */
static int may_read(struct srv_req *r, uint64_t *size)
{
    struct srv_store *st = r->srv->store;
    _cleanup_error_ struct m87_error *err = NULL;
    if (srv_store_begin(st, &err) < 0) {
        srv_reply_fail(r, err);
        return -1;
    }
    int ref = r->role == SRV_ROLE_ADMIN
                  ? 1
                  : srv_bundle_referenced(st, r->device_id, r->params.v[0], &err);
    if (ref == 0) /* a session of the device may bring its compose project as a bundle */
        ref = srv_session_bundle_referenced(st, r->device_id, r->params.v[0], &err);
    int found = ref == 1 ? srv_bundle_find(st, r->params.v[0], size, &err) : 0;
    srv_store_rollback(st);
    if (ref < 0 || found < 0)
        srv_reply_fail(r, err);
    else if (ref == 0)
        srv_reply_error(r, 403, "forbidden", "no deployment of this device references %s",
                        r->params.v[0]);
    else if (found == 0)
        srv_reply_error(r, 404, "not_found", "bundle '%s' not found", r->params.v[0]);
    return ref == 1 && found == 1 ? 0 : -1;
}

static void add_common_headers(struct MHD_Response *resp, const char *param)
{
    _cleanup_free_ char *etag = m87_xasprintf("\"%s\"", param);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
}

/* What a GET's content reader keeps: the range it serves and the one chunk it holds. */
struct reader {
    struct srv_store *st;
    char *digest;
    uint64_t first; /* offset in the bundle of the response's first byte */
    int64_t seq;    /* the chunk in buf, -1 for none */
    void *buf;
    size_t len;
};

static void reader_free(void *cls)
{
    struct reader *rd = cls;
    free(rd->digest);
    free(rd->buf);
    free(rd);
}

/* MHD's content reader: the bytes at pos of the response, from the chunk that holds them, read
 * from the database when it is not the one in hand. */
static ssize_t reader_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct reader *rd = cls;
    uint64_t at = rd->first + pos;
    int64_t seq = (int64_t)(at / SRV_BUNDLE_CHUNK);
    if (seq != rd->seq) {
        free(rd->buf);
        rd->buf = NULL;
        rd->seq = -1;
        _cleanup_error_ struct m87_error *err = NULL;
        srv_store_lock(rd->st);
        int rc = srv_bundle_chunk_read(rd->st, rd->digest, seq, &rd->buf, &rd->len, &err);
        srv_store_unlock(rd->st);
        if (rc != 1) {
            m87_log(M87_LOG_ERR, "serve bundle '%s': %s", rd->digest,
                    err ? err->msg : "a chunk is missing");
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        rd->seq = seq;
    }
    size_t off = (size_t)(at % SRV_BUNDLE_CHUNK);
    if (off >= rd->len) {
        m87_log(M87_LOG_ERR, "serve bundle '%s': chunk %lld is short", rd->digest, (long long)seq);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = rd->len - off < max ? rd->len - off : max;
    memcpy(out, (char *)rd->buf + off, n);
    return (ssize_t)n;
}

/* The response for the bundle of size bytes and the request's Range: 1 with the range in
 * *first..*last, 0 for the whole; -1 when an answer was queued. */
static int chunk_response(struct srv_req *r, uint64_t size, struct MHD_Response **resp,
                          uint64_t *first, uint64_t *last)
{
    int range = srv_parse_range(srv_req_header(r, MHD_HTTP_HEADER_RANGE), size, first, last);
    if (range < 0) {
        _cleanup_free_ char *msg = m87_xasprintf("range starts at or after the end (%llu bytes)",
                                                 (unsigned long long)size);
        struct MHD_Response *e = srv_error_response("range_not_satisfiable", msg);
        _cleanup_free_ char *cr = m87_xasprintf("bytes */%llu", (unsigned long long)size);
        MHD_add_response_header(e, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
        add_common_headers(e, r->params.v[0]);
        srv_reply_response(r, 416, e);
        return -1;
    }
    struct reader *rd = m87_xcalloc(1, sizeof(*rd));
    rd->st = r->srv->store;
    rd->digest = m87_xstrdup(r->params.v[0]);
    rd->first = range == 1 ? *first : 0;
    rd->seq = -1;
    uint64_t len = range == 1 ? *last - *first + 1 : size;
    *resp = MHD_create_response_from_callback(len, SRV_BUNDLE_CHUNK, reader_read, rd, reader_free);
    if (*resp == NULL) {
        reader_free(rd);
        srv_reply_error(r, 500, "internal", "cannot serve '%s'", r->params.v[0]);
        return -1;
    }
    return range;
}

void srv_api_bundles_get(struct srv_req *r)
{
    const char *hex = digest_hex(r->params.v[0]);
    if (hex == NULL && r->role == SRV_ROLE_DEVICE) {
        srv_reply_error(r, 403, "forbidden", "no deployment of this device references %s",
                        r->params.v[0]);
        return;
    }
    if (hex == NULL) {
        if (r->state) /* the body already streamed into a temporary file */
            upload_discard(r->state);
        srv_reply_error(r, 400, "bad_request", "digest: expected sha256: and 64 lower-case hex");
        return;
    }
    uint64_t size = 0, first = 0, last = 0;
    struct MHD_Response *resp = NULL;
    if (may_read(r, &size) < 0)
        return;
    int range = chunk_response(r, size, &resp, &first, &last);
    if (range < 0)
        return;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/gzip");
    add_common_headers(resp, r->params.v[0]);
    if (range == 1) {
        _cleanup_free_ char *cr = m87_xasprintf("bytes %llu-%llu/%llu", (unsigned long long)first,
                                                (unsigned long long)last, (unsigned long long)size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    srv_reply_response(r, range == 1 ? 206 : 200, resp);
}
