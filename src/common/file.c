/* Atomic file replacement, mkdir -p and a remove of whole trees that never follows links. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/io.h"

/* fsync of the directory holding path, so that a rename in it survives a power cut. */
static int sync_parent(const char *path)
{
    _cleanup_free_ char *dir = m87_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        dir[0] = '.', dir[1] = '\0';
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return -1;
    return 0;
}

int m87_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct m87_error **err)
{
    _cleanup_free_ char *tmp = m87_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "create '%s'", tmp);
    if (fchmod(fd, mode) < 0 || m87_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return m87_error_set(err, M87_E_IO, e, "write '%s'", tmp);
    }
    if (close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return m87_error_set(err, M87_E_IO, e, "write '%s'", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return m87_error_set(err, M87_E_IO, e, "rename '%s' to '%s'", tmp, path);
    }
    if (sync_parent(path) < 0)
        return m87_error_set(err, M87_E_IO, errno, "sync the directory of '%s'", path);
    return 0;
}

int m87_mkdir_p(const char *path, mode_t mode, struct m87_error **err)
{
    _cleanup_free_ char *p = m87_xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return m87_error_set(err, M87_E_IO, errno, "create directory '%s'", p);
        *s = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return m87_error_set(err, M87_E_IO, errno ? errno : ENOTDIR, "create directory '%s'", path);
    return 0;
}

static int remove_at(int dirfd, const char *name, dev_t dev, const char *top,
                     struct m87_error **err);

/* Empty the directory open as fd (which this closes). */
static int remove_children(int fd, dev_t dev, const char *top, struct m87_error **err)
{
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return m87_error_set(err, M87_E_IO, e, "read directory under '%s'", top);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = remove_at(dirfd(d), de->d_name, dev, top, err);
    }
    if (rc == 0 && errno != 0)
        rc = m87_error_set(err, M87_E_IO, errno, "read directory under '%s'", top);
    closedir(d);
    return rc;
}

static int remove_at(int dirfd, const char *name, dev_t dev, const char *top,
                     struct m87_error **err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT
                   ? 0
                   : m87_error_set(err, M87_E_IO, errno, "stat '%s' under '%s'", name, top);
    if (S_ISDIR(st.st_mode)) {
        if (st.st_dev != dev)
            return m87_error_set(err, M87_E_IO, EXDEV, "remove '%s' under '%s'", name, top);
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return m87_error_set(err, M87_E_IO, errno, "open '%s' under '%s'", name, top);
        if (remove_children(fd, dev, top, err) < 0)
            return -1;
    }
    if (unlinkat(dirfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
        return m87_error_set(err, M87_E_IO, errno, "remove '%s' under '%s'", name, top);
    return 0;
}

int m87_remove_tree(const char *path, struct m87_error **err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : m87_error_set(err, M87_E_IO, errno, "stat '%s'", path);
    return remove_at(AT_FDCWD, path, st.st_dev, path, err);
}

char *m87_read_file(const char *path, size_t max, size_t *len, struct m87_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
        return NULL;
    }
    struct m87_buf buf;
    m87_buf_init(&buf, max);
    char chunk[16384];
    for (;;) {
        ssize_t n = m87_read_some(fd, chunk, sizeof(chunk));
        if (n < 0) {
            m87_error_set(err, M87_E_IO, errno, "read '%s'", path);
            m87_buf_release(&buf);
            return NULL;
        }
        if (n == 0)
            break;
        if (m87_buf_append(&buf, chunk, (size_t)n, NULL) < 0) {
            m87_error_set(err, M87_E_TOOBIG, 0, "read '%s': file exceeds the limit of %zu bytes",
                          path, max);
            m87_buf_release(&buf);
            return NULL;
        }
    }
    if (len)
        *len = buf.len;
    return m87_buf_steal(&buf);
}
