/* Files into containers: PUT /containers/{id}/archive and the one-file tar it takes. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/archive-lib.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-containers.h"
#include "m87/engine.h"
#include "m87/error.h"

int engine_container_archive_put(struct engine_client *c, const char *id, const char *dir,
                                 const void *tar, size_t len, struct m87_error **err)
{
    /* engine_do reads a zero length as "measure the string", which a tar is not */
    if (len == 0)
        return m87_error_set(err, M87_E_INVAL, 0, "copy into container '%s': empty archive", id);
    _cleanup_free_ char *base = engine_path_seg("/containers/", id, "/archive");
    struct m87_buf path;
    m87_buf_init(&path, 0);
    m87_buf_append(&path, base, strlen(base), NULL);
    engine_qs_add(&path, "path", dir);
    _cleanup_free_ char *p = m87_buf_steal(&path);

    struct engine_call call = {
        .method = "PUT",
        .body = tar,
        .body_len = len,
        .content_type = "application/x-tar",
    };
    if (engine_do(c, &call, p, NULL, err) < 0)
        return m87_error_wrap(err, "copy into '%s' of container '%s'", dir, id);
    return 0;
}

struct tar_sink {
    const struct m87_archive_lib *la;
    struct m87_buf *out;
    struct m87_error *err;
};

static la_ssize_t tar_write(struct archive *a, void *ctx, const void *data, size_t len)
{
    struct tar_sink *s = ctx;
    if (m87_buf_append(s->out, data, len, &s->err) < 0) {
        s->la->set_error(a, EFBIG, "%s", s->err->msg);
        return -1;
    }
    return (la_ssize_t)len;
}

static int tar_fail(struct archive *a, struct tar_sink *sink, const char *name,
                    struct m87_error **err)
{
    if (sink->err) {
        m87_error_wrap(&sink->err, "tar of '%s'", name);
        if (err && *err == NULL)
            *err = M87_STEAL(sink->err);
        m87_error_free(sink->err);
        return -1;
    }
    return m87_error_set(err, M87_E_IO, 0, "tar of '%s': %s", name, sink->la->error_string(a));
}

int engine_tar_single_file(const char *name, const void *content, size_t len, unsigned mode,
                           int uid, int gid, struct m87_buf *out, struct m87_error **err)
{
    /* dockerd extracts relative to the PUT's path; an absolute name would be refused by tar
     * readers as unsafe, so the leading slashes go */
    const char *rel = name;
    while (*rel == '/')
        rel++;
    if (rel[0] == '\0')
        return m87_error_set(err, M87_E_INVAL, 0, "tar of '%s': no file name", name);

    const struct m87_archive_lib *la = m87_archive_lib(err);
    if (la == NULL)
        return m87_error_wrap(err, "tar of '%s'", name);
    m87_buf_reset(out);
    struct tar_sink sink = {.la = la, .out = out};
    _cleanup_(m87_archive_write_freep) struct archive *a = la->write_new();
    _cleanup_(m87_archive_entry_freep) struct archive_entry *e = la->entry_new();
    if (a == NULL || e == NULL)
        m87_oom();
    /* pax_restricted writes plain ustar unless a name or size needs extensions */
    if (la->write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        la->write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        la->write_open(a, &sink, NULL, tar_write, NULL) != ARCHIVE_OK)
        return tar_fail(a, &sink, name, err);

    la->entry_set_pathname(e, rel);
    la->entry_set_filetype(e, AE_IFREG);
    la->entry_set_perm(e, mode & 07777);
    la->entry_set_size(e, (la_int64_t)len);
    la->entry_set_uid(e, uid);
    la->entry_set_gid(e, gid);
    m87_archive_entry_set_mtime(la, e, (int64_t)time(NULL));
    if (la->write_header(a, e) != ARCHIVE_OK)
        return tar_fail(a, &sink, name, err);
    if (len > 0 && la->write_data(a, content, len) != (la_ssize_t)len)
        return tar_fail(a, &sink, name, err);
    if (la->write_close(a) != ARCHIVE_OK)
        return tar_fail(a, &sink, name, err);
    return 0;
}
