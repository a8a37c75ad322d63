/* Bundles of an older server, whose bytes lived in DATA/bundles/sha256-HEX.tar.gz, moved into the
 * database when a server starts on the data directory (docs/design.md, Bundles). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/store-deployments.h"
#include "server/store.h"
#include "server/util.h"

#define FILE_PREFIX "sha256-"
#define FILE_SUFFIX ".tar.gz"

/* The digest "sha256:HEX" of a bundle file's name, or NULL for another file. Caller frees. */
static char *file_digest(const char *name)
{
    size_t pre = strlen(FILE_PREFIX), suf = strlen(FILE_SUFFIX), n = strlen(name);
    if (n != pre + 64 + suf || strncmp(name, FILE_PREFIX, pre) != 0 ||
        strcmp(name + pre + 64, FILE_SUFFIX) != 0)
        return NULL;
    _cleanup_free_ char *hex = m87_xstrndup(name + pre, 64);
    return srv_valid_hex64(hex) ? m87_xasprintf("sha256:%s", hex) : NULL;
}

/* Move one file into the table: 1 when it was imported (or its bytes were there already), 0
 * when no row names it (kept), -1 on an error. */
static int import_one(struct srv_store *st, const char *path, const char *digest,
                      struct m87_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
    if (srv_store_begin(st, err) < 0)
        return -1;
    uint64_t size = 0;
    int64_t chunks = 0;
    int rc = srv_bundle_find(st, digest, &size, err);
    if (rc == 1)
        rc = srv_bundle_chunk_count(st, digest, &chunks, err) < 0 ? -1 : 1;
    if (rc == 1 && (uint64_t)sb.st_size != size)
        rc = m87_error_set(err, M87_E_IO, 0, "'%s' has %lld bytes, its bundle %llu", path,
                           (long long)sb.st_size, (unsigned long long)size);
    if (rc == 1 && chunks == 0 && srv_bundle_store_fd(st, digest, fd, size, path, err) < 0)
        rc = -1;
    if (rc != 1) {
        srv_store_rollback(st);
        return rc;
    }
    return srv_store_commit(st, err) < 0 ? -1 : 1;
}

int srv_bundles_import(struct srv_store *st, const char *dir, struct m87_error **err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : m87_error_set(err, M87_E_IO, errno, "open '%s'", dir);
    int rc = 0, imported = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, e->d_name);
        if (strncmp(e->d_name, ".upload-", 8) == 0) { /* an upload a stopped server left */
            unlink(path);
            continue;
        }
        _cleanup_free_ char *digest = file_digest(e->d_name);
        if (digest == NULL)
            continue;
        int one = import_one(st, path, digest, err);
        if (one < 0) {
            m87_error_wrap(err, "import bundle '%s'", digest);
            rc = -1;
        } else if (one == 0) {
            m87_log(M87_LOG_WARN, "bundle file '%s' has no row in the database: left alone", path);
        } else if (unlink(path) < 0) {
            rc = m87_error_set(err, M87_E_IO, errno, "remove '%s'", path);
        } else {
            imported++;
        }
    }
    closedir(d);
    if (imported > 0)
        m87_log(M87_LOG_INFO, "moved %d bundle(s) from '%s' into the database", imported, dir);
    return rc;
}
