/* Bundle packing: a reproducible tar.gz of workdir files, named by the SHA-256 of its bytes.
 * Reproducible means nothing of the packing machine leaks in (times, owners, umask, readdir
 * order, gzip timestamp), so that the same files always give the same digest and a server
 * stores a bundle once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/archive-lib.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/io.h"
#include "m87/list.h"
#include "m87/sort.h"
#include "m87/spec-bundle.h"

#define DIGEST_PREFIX "sha256:"
#define FILE_PREFIX "sha256-"
#define FILE_SUFFIX ".tar.gz"
#define CHUNK (64u * 1024)

bool spec_bundle_digest_valid(const char *s)
{
    if (s == NULL || strncmp(s, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
        return false;
    s += strlen(DIGEST_PREFIX);
    if (strlen(s) != M87_SHA256_HEX_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

void spec_bundle_file_name(const char *digest, char out[SPEC_BUNDLE_FILE_LEN + 1])
{
    snprintf(out, SPEC_BUNDLE_FILE_LEN + 1, "%s%.64s%s", FILE_PREFIX,
             digest + strlen(DIGEST_PREFIX), FILE_SUFFIX);
}

int spec_bundle_verify(const char *path, const char *digest, struct m87_error **err)
{
    char hex[M87_SHA256_HEX_LEN + 1];
    if (m87_sha256_file(path, hex, err) < 0)
        return -1;
    if (!spec_bundle_digest_valid(digest) || strcmp(hex, digest + strlen(DIGEST_PREFIX)) != 0)
        return m87_error_set(err, M87_E_INVAL, 0, "bundle '%s': digest is sha256:%s, expected %s",
                             path, hex, digest);
    return 0;
}

/* ---- collecting the entries ------------------------------------------------------------------ */

struct pack {
    const char *base_dir;
    struct m87_strv names; /* relative names, sorted and unique before writing */
    uint64_t total;
};

static int bad_input(const char *name, const char *what, struct m87_error **err)
{
    return m87_error_set(err, M87_E_INVAL, 0,
                         "bundle: '%s' is %s: only regular files and directories can be bundled",
                         name, what);
}

static const char *kind_of(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device file";
    if (S_ISFIFO(mode))
        return "a fifo";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISREG(mode))
        return "a regular file where a directory is needed";
    return "of an unsupported type";
}

static int add_name(struct pack *p, const char *name, struct m87_error **err)
{
    if (p->names.len >= SPEC_BUNDLE_MAX_ENTRIES)
        return m87_error_set(err, M87_E_TOOBIG, 0, "bundle: more than %u entries",
                             SPEC_BUNDLE_MAX_ENTRIES);
    m87_strv_add(&p->names, name);
    return 0;
}

static int collect(struct pack *p, const char *name, struct m87_error **err);

static int collect_dir(struct pack *p, const char *name, const char *full, struct m87_error **err)
{
    DIR *d = opendir(full);
    if (d == NULL)
        return m87_error_set(err, M87_E_IO, errno, "open directory '%s'", full);
    int r = 0;
    for (struct dirent *de; r == 0 && (errno = 0, de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *child = m87_xasprintf("%s/%s", name, de->d_name);
        r = collect(p, child, err);
    }
    if (r == 0 && errno != 0)
        r = m87_error_set(err, M87_E_IO, errno, "read directory '%s'", full);
    closedir(d);
    return r;
}

static int collect(struct pack *p, const char *name, struct m87_error **err)
{
    _cleanup_free_ char *full = m87_xasprintf("%s/%s", p->base_dir, name);
    struct stat st;
    if (lstat(full, &st) < 0)
        return m87_error_set(err, M87_E_IO, errno, "bundle: stat '%s'", full);
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return bad_input(full, kind_of(st.st_mode), err);
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > SPEC_BUNDLE_MAX_ENTRY)
        return m87_error_set(err, M87_E_TOOBIG, 0, "bundle: '%s' exceeds the limit of %u bytes",
                             full, SPEC_BUNDLE_MAX_ENTRY);
    if (S_ISREG(st.st_mode) && (p->total += (uint64_t)st.st_size) > SPEC_BUNDLE_MAX_TOTAL)
        return m87_error_set(err, M87_E_TOOBIG, 0, "bundle: files exceed the limit of %u bytes",
                             SPEC_BUNDLE_MAX_TOTAL);
    if (add_name(p, name, err) < 0)
        return -1;
    return S_ISDIR(st.st_mode) ? collect_dir(p, name, full, err) : 0;
}

/* The input name made canonical ("a//b/" -> "a/b"), or NULL when it may not be packed. */
static char *input_name(const char *path, struct m87_error **err)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (const char *s = path; *s;) {
        size_t n = strcspn(s, "/");
        bool dots = (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
        if (path[0] == '/' || dots) {
            m87_buf_release(&b);
            m87_error_set(err, M87_E_INVAL, 0,
                          "bundle: '%s' must be a relative path without '.' or '..' components",
                          path);
            return NULL;
        }
        if (n > 0 && b.len > 0)
            m87_buf_append(&b, "/", 1, NULL);
        m87_buf_append(&b, s, n, NULL);
        s += n + (s[n] == '/');
    }
    if (b.len == 0) {
        m87_buf_release(&b);
        m87_error_set(err, M87_E_INVAL, 0, "bundle: empty path");
        return NULL;
    }
    return m87_buf_steal(&b);
}

/* ---- writing --------------------------------------------------------------------------------- */

struct sink {
    const struct m87_archive_lib *la;
    int fd;
    struct m87_sha256 *hash;
};

static la_ssize_t sink_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
    struct sink *s = ctx;
    if (m87_write_all(s->fd, buf, len) < 0) {
        s->la->set_error(a, errno, "write the bundle");
        return -1;
    }
    m87_sha256_update(s->hash, buf, len);
    return (la_ssize_t)len;
}

static int archive_fail(const struct m87_archive_lib *la, struct archive *a, const char *what,
                        struct m87_error **err)
{
    const char *why = la->error_string(a);
    return m87_error_set(err, M87_E_IO, 0, "bundle: %s: %s", what, why ? why : "unknown error");
}

static int write_data(const struct m87_archive_lib *la, struct archive *a, int fd, const char *full,
                      int64_t size, struct m87_error **err)
{
    _cleanup_free_ char *buf = m87_xmalloc(CHUNK);
    int64_t done = 0;
    for (;;) {
        ssize_t n = m87_read_some(fd, buf, CHUNK);
        if (n < 0)
            return m87_error_set(err, M87_E_IO, errno, "read '%s'", full);
        if (n == 0)
            break;
        if ((done += n) > size)
            break;
        if (la->write_data(a, buf, (size_t)n) != n)
            return archive_fail(la, a, full, err);
    }
    if (done != size)
        return m87_error_set(err, M87_E_IO, 0, "read '%s': the file changed while packing", full);
    return 0;
}

static int write_entry(const struct m87_archive_lib *la, struct archive *a, const char *base_dir,
                       const char *name, struct m87_error **err)
{
    _cleanup_free_ char *full = m87_xasprintf("%s/%s", base_dir, name);
    _cleanup_close_ int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", full);
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return bad_input(full, kind_of(st.st_mode), err);
    struct archive_entry *e = la->entry_new();
    if (e == NULL)
        m87_oom();
    la->entry_set_pathname(e, name);
    la->entry_set_filetype(e, S_ISDIR(st.st_mode) ? AE_IFDIR : AE_IFREG);
    la->entry_set_perm(e, S_ISDIR(st.st_mode) || (st.st_mode & 0100) ? 0755 : 0644);
    la->entry_set_size(e, S_ISDIR(st.st_mode) ? 0 : st.st_size);
    m87_archive_entry_set_mtime(la, e, 0);
    la->entry_set_uid(e, 0);
    la->entry_set_gid(e, 0);
    int r = la->write_header(a, e) == ARCHIVE_OK ? 0 : archive_fail(la, a, full, err);
    la->entry_free(e);
    if (r == 0 && S_ISREG(st.st_mode))
        r = write_data(la, a, fd, full, st.st_size, err);
    return r;
}

static struct archive *new_writer(struct sink *sink, struct m87_error **err)
{
    const struct m87_archive_lib *la = sink->la;
    struct archive *a = la->write_new();
    if (a == NULL)
        m87_oom();
    /* pax only where ustar cannot say it (long names); the header layout is then fixed */
    if (la->write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        la->write_add_filter_gzip(a) != ARCHIVE_OK ||
        la->write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
        la->write_set_filter_option(a, "gzip", "compression-level", "6") != ARCHIVE_OK ||
        la->write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        la->write_open(a, sink, NULL, sink_write, NULL) != ARCHIVE_OK) {
        archive_fail(la, a, "set up the writer", err);
        la->write_free(a);
        return NULL;
    }
    return a;
}

static int write_archive(const struct pack *p, int fd, char hex[M87_SHA256_HEX_LEN + 1],
                         struct m87_error **err)
{
    const struct m87_archive_lib *la = m87_archive_lib(err);
    if (la == NULL)
        return m87_error_wrap(err, "bundle");
    struct sink sink = {la, fd, m87_sha256_new()};
    struct archive *a = new_writer(&sink, err);
    int r = a ? 0 : -1;
    for (size_t i = 0; r == 0 && i < p->names.len; i++)
        r = write_entry(la, a, p->base_dir, p->names.items[i], err);
    if (r == 0 && la->write_close(a) != ARCHIVE_OK)
        r = archive_fail(la, a, "finish", err);
    if (a)
        la->write_free(a);
    if (r < 0) {
        m87_sha256_abort(sink.hash);
        return -1;
    }
    m87_sha256_final(sink.hash, hex);
    return 0;
}

/* ---- entry point ----------------------------------------------------------------------------- */

static int publish(int fd, const char *tmp, const char *out_dir, const char *hex,
                   struct m87_error **err)
{
    _cleanup_free_ char *final = m87_xasprintf("%s/%s%s%s", out_dir, FILE_PREFIX, hex, FILE_SUFFIX);
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
        return m87_error_set(err, M87_E_IO, errno, "write '%s'", tmp);
    if (rename(tmp, final) < 0)
        return m87_error_set(err, M87_E_IO, errno, "rename '%s' to '%s'", tmp, final);
    _cleanup_close_ int dfd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return m87_error_set(err, M87_E_IO, errno, "sync directory '%s'", out_dir);
    return 0;
}

/* The directories leading to a given path must be real ones: a symlink on the way would pack
 * files from elsewhere. */
static int check_parents(const char *base_dir, const char *name, struct m87_error **err)
{
    _cleanup_free_ char *full = m87_xasprintf("%s/%s", base_dir, name);
    char *rel = full + strlen(base_dir) + 1;
    for (char *slash = strchr(rel, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        struct stat st;
        if (lstat(full, &st) < 0)
            return m87_error_set(err, M87_E_IO, errno, "bundle: stat '%s'", full);
        if (!S_ISDIR(st.st_mode))
            return bad_input(full, kind_of(st.st_mode), err);
        *slash = '/';
    }
    return 0;
}

static int collect_all(struct pack *p, const struct m87_strv *paths, struct m87_error **err)
{
    for (size_t i = 0; i < paths->len; i++) {
        _cleanup_free_ char *name = input_name(paths->items[i], err);
        if (name == NULL || check_parents(p->base_dir, name, err) < 0 || collect(p, name, err) < 0)
            return -1;
    }
    /* a path given twice or inside a given directory goes once; "a" sorts before "a/x" */
    m87_strv_sort_unique(&p->names);
    return 0;
}

int spec_bundle_pack(const char *base_dir, const struct m87_strv *paths, const char *out_dir,
                     char digest[SPEC_BUNDLE_DIGEST_LEN + 1], struct m87_error **err)
{
    struct pack p = {.base_dir = base_dir};
    int r = collect_all(&p, paths, err);
    if (r < 0) {
        m87_strv_release(&p.names);
        return -1;
    }
    _cleanup_free_ char *tmp = m87_xasprintf("%s/.bundle.tmp.XXXXXX", out_dir);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        m87_strv_release(&p.names);
        return m87_error_set(err, M87_E_IO, errno, "create '%s'", tmp);
    }
    char hex[M87_SHA256_HEX_LEN + 1];
    r = write_archive(&p, fd, hex, err);
    m87_strv_release(&p.names);
    if (r == 0)
        r = publish(fd, tmp, out_dir, hex, err);
    if (r < 0) {
        unlink(tmp);
        return -1;
    }
    snprintf(digest, SPEC_BUNDLE_DIGEST_LEN + 1, "%s%s", DIGEST_PREFIX, hex);
    return 0;
}
