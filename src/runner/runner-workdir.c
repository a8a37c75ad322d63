/* A job's workdir: its bundle extracted, its files written, files it no longer lists removed.
 * Writes never go through a symlink: every directory on the way is opened with O_NOFOLLOW
 * relative to the workdir, and a file is replaced by renaming a new one over it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/io.h"
#include "m87/list.h"
#include "m87/runner.h"
#include "m87/spec-bundle.h"
#include "m87/spec-runspec.h"
#include "m87/state-file.h"

char *runner_workdir_path(const struct runner *r, const struct spec_job *job)
{
    if (job->workdir_path)
        return m87_xstrdup(job->workdir_path);
    return m87_xasprintf("%s/workdirs/%s", r->state_dir, job->id);
}

bool runner_workdir_is_own(const struct runner *r, const char *id, const char *workdir)
{
    _cleanup_free_ char *own = m87_xasprintf("%s/workdirs/%s", r->state_dir, id);
    if (strcmp(own, workdir) == 0)
        return true;
    /* the same state directory spelled another way (`apply --state-dir` relative, then not) */
    const char *slash = strrchr(workdir, '/');
    if (!slash || strcmp(slash + 1, id) != 0)
        return false;
    _cleanup_free_ char *parent = m87_xstrndup(workdir, (size_t)(slash - workdir));
    _cleanup_free_ char *mine = m87_xasprintf("%s/workdirs", r->state_dir);
    struct stat a, b;
    return stat(parent, &a) == 0 && stat(mine, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Open (creating when create) the parent directory of name under the workdir fd, never
 * following a symlink; *base gets the last component. -1 with errno. */
static int open_parent(int root, const char *name, bool create, const char **base)
{
    _cleanup_free_ char *copy = m87_xstrdup(name);
    int fd = dup(root);
    char *comp = copy;

    for (char *slash; fd >= 0 && (slash = strchr(comp, '/')) != NULL; comp = slash + 1) {
        *slash = '\0';
        if (create && mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
            close(fd);
            return -1;
        }
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        errno = e;
        fd = next;
    }
    *base = name + (comp - copy);
    return fd;
}

static int write_file(int root, const char *wd, const struct spec_job_file *f,
                      struct m87_error **err)
{
    const char *base = NULL;
    _cleanup_close_ int dir = open_parent(root, f->name, true, &base);

    if (dir < 0 && (errno == ELOOP || errno == ENOTDIR))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "write '%s' in '%s': a parent directory is a symlink or a file",
                             f->name, wd);
    if (dir < 0)
        return m87_error_set(err, M87_E_IO, errno, "write '%s' in '%s'", f->name, wd);
    _cleanup_free_ char *tmp = m87_xasprintf(".m87-tmp-%ld", (long)getpid());
    unlinkat(dir, tmp, 0);
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "create '%s' in '%s'", f->name, wd);
    if (m87_write_all(fd, f->content, strlen(f->content)) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dir, tmp, 0);
        return m87_error_set(err, M87_E_IO, e, "write '%s' in '%s'", f->name, wd);
    }
    close(fd);
    if (renameat(dir, tmp, dir, base) < 0) {
        int e = errno;
        unlinkat(dir, tmp, 0);
        return m87_error_set(err, M87_E_IO, e, "write '%s' in '%s'", f->name, wd);
    }
    return 0;
}

static bool job_lists(const struct spec_job *job, const char *name)
{
    for (size_t i = 0; i < job->n_files; i++)
        if (strcmp(job->files[i].name, name) == 0)
            return true;
    return false;
}

/* A file the job listed before and no longer does: gone, unless something else took its place
 * (a directory now). */
static int remove_dropped(int root, const char *wd, const char *name, struct m87_error **err)
{
    const char *base = NULL;
    _cleanup_close_ int dir = open_parent(root, name, false, &base);

    if (dir < 0)
        return 0;
    if (unlinkat(dir, base, 0) < 0 && errno != ENOENT && errno != EISDIR)
        return m87_error_set(err, M87_E_IO, errno, "remove '%s' in '%s'", name, wd);
    return 0;
}

/* Copy src to dst (through dst.tmp, fsync'ed, renamed) while hashing it into hex. */
static int copy_hashed(const char *src, const char *dst, char hex[M87_SHA256_HEX_LEN + 1],
                       struct m87_error **err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *tmp = m87_xasprintf("%s.tmp", dst);
    char buf[65536];
    uint64_t total = 0;

    if (in < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", src);
    _cleanup_close_ int out =
        open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return m87_error_set(err, M87_E_IO, errno, "create '%s'", tmp);
    struct m87_sha256 *h = m87_sha256_new();
    for (;;) {
        ssize_t n = m87_read_some(in, buf, sizeof(buf));
        total += n > 0 ? (uint64_t)n : 0;
        if (n < 0 || total > SPEC_BUNDLE_MAX_ARCHIVE ||
            (n > 0 && m87_write_all(out, buf, (size_t)n) < 0)) {
            int e = n < 0 ? errno : total > SPEC_BUNDLE_MAX_ARCHIVE ? EFBIG : errno;
            m87_sha256_abort(h);
            unlink(tmp);
            return m87_error_set(err, M87_E_IO, e, "copy '%s'", src);
        }
        if (n == 0)
            break;
        m87_sha256_update(h, buf, (size_t)n);
    }
    m87_sha256_final(h, hex);
    if (fsync(out) < 0 || rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return m87_error_set(err, M87_E_IO, e, "write '%s'", dst);
    }
    return m87_state_sync_dir(dst, err);
}

/* The bundle's file in STATE/bundles, copied there from BUNDLES with its digest checked. */
static int fetch_bundle(struct runner *r, const char *digest, char **path, struct m87_error **err)
{
    char name[SPEC_BUNDLE_FILE_LEN + 1];
    char hex[M87_SHA256_HEX_LEN + 1];

    spec_bundle_file_name(digest, name);
    _cleanup_free_ char *dir = m87_xasprintf("%s/bundles", r->state_dir);
    _cleanup_free_ char *kept = m87_xasprintf("%s/%s", dir, name);
    if (m87_sha256_file(kept, hex, NULL) == 0 && strcmp(hex, digest + 7) == 0) {
        *path = M87_STEAL(kept);
        return 0;
    }
    if (!r->bundles_dir)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "bundle '%s' not found", digest);
    _cleanup_free_ char *src = m87_xasprintf("%s/%s", r->bundles_dir, name);
    if (m87_mkdir_p(dir, 0700, err) < 0 || copy_hashed(src, kept, hex, err) < 0)
        return m87_error_wrap(err, "bundle '%s'", digest);
    if (strcmp(hex, digest + 7) != 0) {
        unlink(kept);
        return m87_error_set(err, M87_E_INVAL, 0, "bundle '%s': '%s' has digest sha256:%s", digest,
                             src, hex);
    }
    *path = M87_STEAL(kept);
    return 0;
}

int runner_workdir_prepare(struct runner *r, const struct spec_job *job, const char *workdir,
                           const struct m87_strv *old_files, struct m87_strv *names,
                           struct m87_error **err)
{
    if (m87_mkdir_p(workdir, 0755, err) < 0)
        return m87_error_wrap(err, "prepare the workdir of job '%s'", job->id);
    if (job->bundle) {
        _cleanup_free_ char *archive = NULL;
        if (fetch_bundle(r, job->bundle, &archive, err) < 0 ||
            spec_bundle_extract(archive, workdir, err) < 0)
            return m87_error_wrap(err, "prepare the workdir of job '%s'", job->id);
    }
    _cleanup_close_ int root = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", workdir);
    for (size_t i = 0; old_files && i < old_files->len; i++)
        if (!job_lists(job, old_files->items[i]) &&
            remove_dropped(root, workdir, old_files->items[i], err) < 0)
            return -1;
    for (size_t i = 0; i < job->n_files; i++) {
        if (write_file(root, workdir, &job->files[i], err) < 0)
            return m87_error_wrap(err, "prepare the workdir of job '%s'", job->id);
        m87_strv_add(names, job->files[i].name);
    }
    return 0;
}
