/* A file or a tree as a tar stream, packed and unpacked with libarchive (tar-copy.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/archive-lib.h"
#include "m87/error.h"
#include "m87/io.h"
#include "m87/tar-copy.h"

#define TAR_COPY_BLOCK (64u * 1024)

/* ---- packing --------------------------------------------------------------------------------- */

struct pack {
    const struct m87_archive_lib *la;
    struct archive *a;
    int fd;
    int64_t bytes;
    m87_tar_progress_fn progress;
    void *ctx;
};

static la_ssize_t pack_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
    struct pack *p = ctx;
    if (m87_write_all(p->fd, buf, n) < 0) {
        p->la->set_error(a, errno, "%s", strerror(errno));
        return -1;
    }
    p->bytes += (int64_t)n;
    if (p->progress)
        p->progress(p->ctx, p->bytes, false);
    return (la_ssize_t)n;
}

/* libarchive's text says why (the errno of our callbacks included); its errno is kept for the
 * caller (EPIPE: the stream's reader went away), not appended. */
static int la_fail(const struct m87_archive_lib *la, struct archive *a, const char *what,
                   struct m87_error **err)
{
    const char *why = la->error_string(a);
    m87_error_set(err, M87_E_IO, 0, "%s: %s", what, why ? why : "unknown error");
    if (err && *err && la->errno_of(a) > 0)
        (*err)->sys_errno = la->errno_of(a);
    return -1;
}

static int archive_fail(struct pack *p, const char *what, const char *path, struct m87_error **err)
{
    _cleanup_free_ char *text = m87_xasprintf("%s '%s'", what, path);
    return la_fail(p->la, p->a, text, err);
}

static int pack_data(struct pack *p, const char *full, const struct stat *st,
                     struct m87_error **err)
{
    _cleanup_close_ int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", full);
    _cleanup_free_ char *buf = m87_xmalloc(TAR_COPY_BLOCK);
    off_t left = st->st_size;
    while (left > 0) {
        size_t want = left < (off_t)TAR_COPY_BLOCK ? (size_t)left : TAR_COPY_BLOCK;
        ssize_t n = m87_read_some(fd, buf, want);
        if (n < 0)
            return m87_error_set(err, M87_E_IO, errno, "read '%s'", full);
        if (n == 0)
            return m87_error_set(err, M87_E_IO, 0, "'%s' became shorter while it was copied", full);
        if (p->la->write_data(p->a, buf, (size_t)n) < 0)
            return archive_fail(p, "write", full, err);
        left -= n;
    }
    return 0;
}

static int pack_tree(struct pack *p, const char *full, const char *name, int depth,
                     struct m87_error **err);

static int pack_dir(struct pack *p, const char *full, const char *name, int depth,
                    struct m87_error **err)
{
    if (depth >= M87_TAR_COPY_MAX_DEPTH)
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': deeper than %d directories", full,
                             M87_TAR_COPY_MAX_DEPTH);
    DIR *dir = opendir(full);
    if (!dir)
        return m87_error_set(err, M87_E_IO, errno, "open the directory '%s'", full);
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *sub = m87_xasprintf("%s/%s", full, de->d_name);
        _cleanup_free_ char *subname = m87_xasprintf("%s/%s", name, de->d_name);
        rc = pack_tree(p, sub, subname, depth + 1, err);
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = m87_error_set(err, M87_E_IO, errno, "read the directory '%s'", full);
    closedir(dir);
    return rc;
}

/* One entry, and a directory's own below it. The top (depth 0) is followed when a link. */
static int pack_tree(struct pack *p, const char *full, const char *name, int depth,
                     struct m87_error **err)
{
    struct stat st;
    if ((depth == 0 ? stat(full, &st) : lstat(full, &st)) < 0)
        return m87_error_set(err, M87_E_IO, errno, "'%s'", full);
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "'%s': not a file, a directory or a symbolic link", full);
    _cleanup_(m87_archive_entry_freep) struct archive_entry *e = p->la->entry_new();
    if (!e)
        m87_oom();
    p->la->entry_set_pathname(e, name);
    p->la->entry_set_perm(e, st.st_mode & 07777 & ~(mode_t)(S_ISUID | S_ISGID));
    m87_archive_entry_set_mtime(p->la, e, st.st_mtime);
    char target[4096];
    if (S_ISREG(st.st_mode)) {
        p->la->entry_set_filetype(e, AE_IFREG);
        p->la->entry_set_size(e, st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
        p->la->entry_set_filetype(e, AE_IFDIR);
        p->la->entry_set_size(e, 0);
    } else {
        ssize_t n = readlink(full, target, sizeof(target) - 1);
        if (n < 0)
            return m87_error_set(err, M87_E_IO, errno, "read the link '%s'", full);
        target[n] = '\0';
        p->la->entry_set_filetype(e, AE_IFLNK);
        p->la->entry_set_symlink(e, target);
        p->la->entry_set_size(e, 0);
    }
    if (p->la->write_header(p->a, e) < 0)
        return archive_fail(p, "write the header of", full, err);
    if (S_ISREG(st.st_mode))
        return pack_data(p, full, &st, err);
    if (S_ISDIR(st.st_mode))
        return pack_dir(p, full, name, depth, err);
    return 0;
}

/* The top entry's name: the base name of path, or of its real path for ".", ".." and "/x/..". */
static char *top_name(const char *path, struct m87_error **err)
{
    _cleanup_free_ char *copy = m87_xstrdup(path);
    const char *base;
    size_t len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    base = strrchr(copy, '/') ? strrchr(copy, '/') + 1 : copy;
    if (base[0] && strcmp(base, ".") != 0 && strcmp(base, "..") != 0)
        return m87_xstrdup(base);
    _cleanup_free_ char *real = realpath(path, NULL);
    if (!real)
        return m87_error_set(err, M87_E_IO, errno, "'%s'", path), NULL;
    const char *slash = strrchr(real, '/');
    if (!slash || !slash[1])
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': the root cannot be copied", path), NULL;
    return m87_xstrdup(slash + 1);
}

int m87_tar_pack(const char *path, bool recursive, int fd, m87_tar_progress_fn progress, void *ctx,
                 struct m87_error **err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return m87_error_set(err, M87_E_IO, errno, "'%s'", path);
    if (S_ISDIR(st.st_mode) && !recursive)
        return m87_error_set(err, M87_E_INVAL, 0, "'%s' is a directory (use -r)", path);
    _cleanup_free_ char *top = top_name(path, err);
    if (!top)
        return -1;
    struct pack p = {.fd = fd, .progress = progress, .ctx = ctx};
    if (!(p.la = m87_archive_lib(err)))
        return -1;
    _cleanup_(m87_archive_write_freep) struct archive *a = p.la->write_new();
    if (!a)
        m87_oom();
    p.a = a;
    p.la->write_set_format_pax_restricted(a);
    p.la->write_set_bytes_in_last_block(a, 1);
    if (p.la->write_open(a, &p, NULL, pack_write, NULL) != ARCHIVE_OK)
        return archive_fail(&p, "start the stream of", path, err);
    if (pack_tree(&p, path, top, 0, err) < 0)
        return -1;
    if (p.la->write_close(a) != ARCHIVE_OK)
        return archive_fail(&p, "end the stream of", path, err);
    if (m87_write_all(fd, M87_TAR_COPY_END, M87_TAR_COPY_END_LEN) < 0)
        return m87_error_set(err, M87_E_IO, errno, "write the stream");
    p.bytes += (int64_t)M87_TAR_COPY_END_LEN;
    if (progress)
        progress(ctx, p.bytes, true);
    return 0;
}

/* ---- checks ---------------------------------------------------------------------------------- */

int m87_tar_check_entry(const char *top, const char *name, const char *link, struct m87_error **err)
{
    size_t tl = strlen(top);
    if (name[0] == '/')
        return m87_error_set(err, M87_E_INVAL, 0, "unsafe entry '%s': an absolute path", name);
    int depth = 0; /* of the entry's directory: 0 is the destination, 1 is inside top */
    for (const char *c = name; *c;) {
        const char *end = strchrnul(c, '/');
        size_t n = (size_t)(end - c);
        if (n == 0 || (n == 1 && c[0] == '.'))
            return m87_error_set(err, M87_E_INVAL, 0, "unsafe entry '%s': an empty or '.' part",
                                 name);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return m87_error_set(err, M87_E_INVAL, 0, "unsafe entry '%s': a '..' part", name);
        if (*end)
            depth++;
        c = *end ? end + 1 : end;
    }
    if (strncmp(name, top, tl) != 0 || (name[tl] != '\0' && name[tl] != '/'))
        return m87_error_set(err, M87_E_INVAL, 0, "unsafe entry '%s': not under '%s', the first",
                             name, top);
    if (!link)
        return 0;
    if (link[0] == '/' || link[0] == '\0' || depth == 0)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "unsafe symbolic link '%s' -> '%s': it points out of the copy", name,
                             link);
    for (const char *c = link; *c;) {
        const char *end = strchrnul(c, '/');
        size_t n = (size_t)(end - c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            depth--;
        else if (n > 0 && !(n == 1 && c[0] == '.'))
            depth++;
        if (depth < 1)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "unsafe symbolic link '%s' -> '%s': it points out of the copy",
                                 name, link);
        c = *end ? end + 1 : end;
    }
    return 0;
}

/* dest's directory, when dest can take a copy (it exists as a directory itself: *into). */
static char *dest_dir(const char *dest, bool *into, struct m87_error **err)
{
    struct stat st;
    *into = false;
    if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
        *into = true;
        return m87_xstrdup(dest);
    }
    size_t len = strlen(dest);
    if (len == 0 || dest[len - 1] == '/')
        return m87_error_set(err, M87_E_INVAL, 0, "no such directory '%s'", dest), NULL;
    _cleanup_free_ char *copy = m87_xstrdup(dest);
    char *dir = m87_xstrdup(dirname(copy));
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        m87_error_set(err, M87_E_INVAL, 0, "no such directory '%s'", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

int m87_tar_dest_check(const char *dest, struct m87_error **err)
{
    bool into;
    _cleanup_free_ char *dir = dest_dir(dest, &into, err);
    return dir ? 0 : -1;
}

/* ---- unpacking ------------------------------------------------------------------------------- */

struct dir_mode {
    char *path;
    mode_t mode;
    int64_t mtime;
};

struct unpack {
    const struct m87_archive_lib *la;
    int fd;
    volatile sig_atomic_t *stop;
    m87_tar_progress_fn progress;
    void *ctx;
    int64_t bytes;
    char *buf;
    char tail[M87_TAR_COPY_END_LEN]; /* the last bytes of the stream */
    size_t tail_len;
    char *tmp; /* the temporary directory */
    char *top; /* the first entry's name */
    struct dir_mode *dirs;
    size_t n_dirs;
};

static void keep_tail(struct unpack *u, const char *data, size_t n)
{
    size_t cap = sizeof(u->tail);
    if (n >= cap) {
        memcpy(u->tail, data + n - cap, cap);
        u->tail_len = cap;
        return;
    }
    size_t keep = u->tail_len + n > cap ? cap - n : u->tail_len;
    memmove(u->tail, u->tail + u->tail_len - keep, keep);
    memcpy(u->tail + keep, data, n);
    u->tail_len = keep + n;
}

/* A read of the stream: -1 with errno (ECANCELED once *stop is set), else the bytes. */
static ssize_t unpack_read_raw(struct unpack *u)
{
    for (;;) {
        if (u->stop && *u->stop) {
            errno = ECANCELED;
            return -1;
        }
        ssize_t n = read(u->fd, u->buf, TAR_COPY_BLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            keep_tail(u, u->buf, (size_t)n);
            u->bytes += n;
            if (u->progress)
                u->progress(u->ctx, u->bytes, false);
        }
        return n;
    }
}

static la_ssize_t unpack_read(struct archive *a, void *ctx, const void **out)
{
    struct unpack *u = ctx;
    ssize_t n = unpack_read_raw(u);
    if (n < 0) {
        u->la->set_error(a, errno, "%s", strerror(errno));
        return -1;
    }
    *out = u->buf;
    return n;
}

static int unpack_fail(struct unpack *u, struct archive *a, const char *what,
                       struct m87_error **err)
{
    if (u->stop && *u->stop)
        return m87_error_set(err, M87_E_CANCELLED, 0, "interrupted");
    return la_fail(u->la, a, what, err);
}

/* The directories of name under tmp exist as real directories (made when missing). */
static int unpack_parents(struct unpack *u, const char *name, struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", u->tmp, name);
    size_t base = strlen(u->tmp) + 1;
    for (char *s = strchr(path + base, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        struct stat st;
        if (lstat(path, &st) < 0) {
            if (mkdir(path, 0700) < 0)
                return m87_error_set(err, M87_E_IO, errno, "create '%s'", path + base);
            u->dirs = m87_xrealloc(u->dirs, (u->n_dirs + 1) * sizeof(*u->dirs));
            u->dirs[u->n_dirs++] = (struct dir_mode){m87_xstrdup(path), 0755, -1};
        } else if (!S_ISDIR(st.st_mode)) {
            return m87_error_set(err, M87_E_INVAL, 0, "unsafe entry '%s': '%s' is not a directory",
                                 name, path + base);
        }
        *s = '/';
    }
    return 0;
}

static int unpack_file(struct unpack *u, struct archive *a, struct archive_entry *e,
                       const char *path, const char *name, struct m87_error **err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "create '%s'", name);
    const void *data;
    size_t size;
    la_int64_t offset;
    int r;
    while ((r = u->la->read_data_block(a, &data, &size, &offset)) == ARCHIVE_OK) {
        const char *p = data;
        while (size > 0) {
            ssize_t w = pwrite(fd, p, size, offset);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return m87_error_set(err, M87_E_IO, errno, "write '%s'", name);
            p += w;
            size -= (size_t)w;
            offset += w;
        }
    }
    if (r != ARCHIVE_EOF)
        return unpack_fail(u, a, name, err);
    if (u->la->entry_size_is_set(e) && ftruncate(fd, u->la->entry_size(e)) < 0)
        return m87_error_set(err, M87_E_IO, errno, "write '%s'", name);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {m87_archive_entry_mtime(u->la, e), 0}};
    if (fchmod(fd, u->la->entry_perm(e) & 01777) < 0 || futimens(fd, ts) < 0)
        return m87_error_set(err, M87_E_IO, errno, "set the mode of '%s'", name);
    return 0;
}

static int unpack_entry(struct unpack *u, struct archive *a, struct archive_entry *e,
                        struct m87_error **err)
{
    const char *raw = u->la->entry_pathname(e);
    if (!raw || !raw[0])
        return m87_error_set(err, M87_E_INVAL, 0, "unsafe entry: no name");
    _cleanup_free_ char *name = m87_xstrdup(raw);
    for (size_t len = strlen(name); len > 1 && name[len - 1] == '/';)
        name[--len] = '\0';
    if (!u->top) {
        const char *slash = strchr(name, '/');
        u->top = slash ? m87_xstrndup(name, (size_t)(slash - name)) : m87_xstrdup(name);
    }
    mode_t type = u->la->entry_filetype(e);
    const char *link = type == AE_IFLNK ? u->la->entry_symlink(e) : NULL;
    if (type == AE_IFLNK && !link)
        return m87_error_set(err, M87_E_INVAL, 0, "unsafe symbolic link '%s': no target", name);
    if (m87_tar_check_entry(u->top, name, link, err) < 0)
        return -1;
    if (u->la->entry_hardlink(e))
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': a hard link (not copied)", name);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "'%s': not a file, a directory or a symbolic link", name);
    if (unpack_parents(u, name, err) < 0)
        return -1;
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", u->tmp, name);
    if (type == AE_IFREG)
        return unpack_file(u, a, e, path, name, err);
    if (type == AE_IFLNK) {
        if (symlink(link, path) < 0)
            return m87_error_set(err, M87_E_IO, errno, "create '%s'", name);
        return 0;
    }
    struct stat st;
    if (mkdir(path, 0700) < 0 && !(errno == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        return m87_error_set(err, M87_E_IO, errno, "create '%s'", name);
    u->dirs = m87_xrealloc(u->dirs, (u->n_dirs + 1) * sizeof(*u->dirs));
    u->dirs[u->n_dirs++] = (struct dir_mode){m87_xstrdup(path), u->la->entry_perm(e) & 01777,
                                             m87_archive_entry_mtime(u->la, e)};
    return 0;
}

/* The rest of the stream after the tar's own end, and the end mark at its very end. */
static int unpack_end(struct unpack *u, struct m87_error **err)
{
    ssize_t n;
    while ((n = unpack_read_raw(u)) > 0)
        ;
    if (n < 0 && errno == ECANCELED)
        return m87_error_set(err, M87_E_CANCELLED, 0, "interrupted");
    if (n < 0)
        return m87_error_set(err, M87_E_IO, errno, "read the stream");
    if (!u->top)
        return m87_error_set(err, M87_E_INVAL, 0, "the stream holds no file");
    if (u->tail_len != M87_TAR_COPY_END_LEN ||
        memcmp(u->tail, M87_TAR_COPY_END, M87_TAR_COPY_END_LEN) != 0)
        return m87_error_set(err, M87_E_IO, 0, "the stream was cut short");
    return 0;
}

static int unpack_stream(struct unpack *u, struct m87_error **err)
{
    _cleanup_(m87_archive_read_freep) struct archive *a = u->la->read_new();
    if (!a)
        m87_oom();
    u->la->read_support_format_tar(a);
    if (u->la->read_open(a, u, NULL, unpack_read, NULL) != ARCHIVE_OK)
        return unpack_fail(u, a, "read the stream", err);
    struct archive_entry *e;
    int r;
    while ((r = u->la->read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
        if (unpack_entry(u, a, e, err) < 0)
            return -1;
    if (r != ARCHIVE_EOF)
        return unpack_fail(u, a, "read the stream", err);
    return unpack_end(u, err);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

static int open_dirs(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)f;
    if (flag == FTW_D)
        chmod(path, (st->st_mode & 07777) | 0700);
    return 0;
}

/* The temporary directory and all in it: a failed copy leaves nothing. */
static void remove_tmp(const char *tmp)
{
    nftw(tmp, open_dirs, 16, FTW_PHYS);
    nftw(tmp, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}

/* The modes of the directories, deepest first, then the tree into place. */
static int unpack_place(struct unpack *u, const char *final, struct m87_error **err)
{
    struct stat st, src;
    _cleanup_free_ char *top = m87_xasprintf("%s/%s", u->tmp, u->top);
    if (lstat(top, &src) < 0)
        return m87_error_set(err, M87_E_IO, errno, "'%s'", top);
    if (lstat(final, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "'%s' exists and is a directory: not replaced", final);
        if (S_ISDIR(src.st_mode))
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "'%s' exists and is not a directory: not replaced", final);
    }
    for (size_t i = u->n_dirs; i-- > 0;) {
        struct timespec ts[2] = {{0, UTIME_OMIT}, {u->dirs[i].mtime, 0}};
        if (u->dirs[i].mtime < 0)
            ts[1].tv_nsec = UTIME_OMIT;
        if (chmod(u->dirs[i].path, u->dirs[i].mode) < 0 ||
            utimensat(AT_FDCWD, u->dirs[i].path, ts, AT_SYMLINK_NOFOLLOW) < 0)
            return m87_error_set(err, M87_E_IO, errno, "set the mode of '%s'", u->dirs[i].path);
    }
    if (rename(top, final) < 0)
        return m87_error_set(err, M87_E_IO, errno, "rename the copy to '%s'", final);
    rmdir(u->tmp);
    return 0;
}

int m87_tar_unpack(int fd, const char *dest, volatile sig_atomic_t *stop,
                   m87_tar_progress_fn progress, void *ctx, char **final, struct m87_error **err)
{
    bool into;
    _cleanup_free_ char *dir = dest_dir(dest, &into, err);
    if (!dir)
        return -1;
    struct unpack u = {.fd = fd, .stop = stop, .progress = progress, .ctx = ctx};
    if (!(u.la = m87_archive_lib(err)))
        return -1;
    u.tmp = m87_xasprintf("%s/" M87_TAR_COPY_TMP "XXXXXX", dir);
    if (!mkdtemp(u.tmp)) {
        int e = errno;
        free(u.tmp);
        return m87_error_set(err, M87_E_IO, e, "create a temporary directory in '%s'", dir);
    }
    u.buf = m87_xmalloc(TAR_COPY_BLOCK);
    _cleanup_free_ char *where = NULL;
    int rc = unpack_stream(&u, err);
    if (rc == 0) {
        where = into ? m87_xasprintf("%s/%s", dir, u.top) : m87_xstrdup(dest);
        rc = unpack_place(&u, where, err);
    }
    if (rc < 0)
        remove_tmp(u.tmp);
    else if (final)
        *final = m87_xstrdup(where);
    if (rc == 0 && progress)
        progress(ctx, u.bytes, true);
    for (size_t i = 0; i < u.n_dirs; i++)
        free(u.dirs[i].path);
    free(u.dirs);
    free(u.buf);
    free(u.tmp);
    free(u.top);
    return rc;
}
