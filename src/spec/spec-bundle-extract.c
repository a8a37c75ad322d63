/* Bundle extraction. A bundle comes from the network, so every entry is checked in a first pass
 * over the whole archive (names, types, sizes, what is already in the destination) and the
 * second pass only writes when all passed: a refused bundle leaves the workdir untouched. The
 * second pass checks again, and libarchive's secure flags stay on as a second line. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/archive-lib.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-bundle.h"

#define NAME_QUOTE_MAX 200

struct scan {
    const struct m87_archive_lib *la;
    const char *archive_path;
    int dest_fd;
    size_t n_entries;
    uint64_t total;
    struct m87_strv files; /* regular file names, to find a file used as a directory */
    struct m87_strv dirs;
};

static int entry_error(const struct scan *s, const char *name, struct m87_error **err,
                       enum m87_errcode code, const char *fmt, ...) M87_PRINTF(5, 6);

static int entry_error(const struct scan *s, const char *name, struct m87_error **err,
                       enum m87_errcode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *why = m87_xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *q = m87_quote_excerpt(name, NAME_QUOTE_MAX);
    return m87_error_set(err, code, 0, "bundle '%s': entry %s: %s", s->archive_path, q, why);
}

static int read_error(const struct scan *s, struct archive *a, struct m87_error **err)
{
    const char *why = s->la->error_string(a);
    return m87_error_set(err, M87_E_PARSE, 0, "bundle '%s': not a complete tar.gz archive: %s",
                         s->archive_path, why ? why : "truncated or corrupt data");
}

/* The name without "./" and "." components (which tar writers add), or NULL when the name is
 * unsafe; *why says what. "" is the root directory itself. */
static char *clean_name(const char *name, const char **why)
{
    if (name == NULL || *name == '\0')
        return *why = "empty names are not allowed", NULL;
    if (name[0] == '/')
        return *why = "absolute paths are not allowed", NULL;
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (const char *p = name;;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            m87_buf_release(&b);
            return *why = "'..' components are not allowed", NULL;
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (b.len > 0)
                m87_buf_append(&b, "/", 1, NULL);
            m87_buf_append(&b, p, n, NULL);
        }
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] < 0x20) {
            m87_buf_release(&b);
            return *why = "control characters are not allowed", NULL;
        }
    return m87_buf_steal(&b);
}

static const char *type_problem(const struct scan *s, struct archive_entry *e)
{
    if (s->la->entry_hardlink(e))
        return "hard links are not allowed";
    switch (s->la->entry_filetype(e)) {
    case AE_IFREG:
    case AE_IFDIR:
        return NULL;
    case AE_IFLNK:
        return "symbolic links are not allowed";
    case AE_IFCHR:
    case AE_IFBLK:
        return "device files are not allowed";
    case AE_IFIFO:
        return "fifos are not allowed";
    case AE_IFSOCK:
        return "sockets are not allowed";
    default:
        return "only regular files and directories are allowed";
    }
}

/* What is already in the destination must not redirect a write: no symlink on the way, and no
 * directory where a file goes (replacing one would need a recursive delete). */
static int check_dest(const struct scan *s, const char *orig, const char *name, bool is_dir,
                      struct m87_error **err)
{
    _cleanup_free_ char *prefix = m87_xstrdup(name);
    for (char *p = prefix;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        bool last = *p == '\0';
        *p = '\0';
        struct stat st;
        if (fstatat(s->dest_fd, prefix, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                return 0;
            return m87_error_set(err, M87_E_IO, errno, "bundle '%s': inspect '%s'", s->archive_path,
                                 prefix);
        }
        if (S_ISLNK(st.st_mode) && !(last && !is_dir))
            return entry_error(s, orig, err, M87_E_INVAL,
                               "the destination has a symbolic link in its way");
        if (last)
            return S_ISDIR(st.st_mode) && !is_dir
                       ? entry_error(s, orig, err, M87_E_INVAL,
                                     "the destination has a directory in its way")
                       : 0;
        if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
            return entry_error(s, orig, err, M87_E_INVAL,
                               "the destination has a file where a directory is needed");
        *p = '/';
    }
}

static bool has_prefix_dir(const char *name, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(name, dir, n) == 0 && name[n] == '/';
}

/* Within the bundle: a file may not be named twice, nor be a directory of another entry. */
static int check_clash(struct scan *s, const char *orig, const char *name, bool is_dir,
                       struct m87_error **err)
{
    bool clash = false;
    for (size_t i = 0; i < s->files.len && !clash; i++)
        clash = strcmp(name, s->files.items[i]) == 0 || has_prefix_dir(name, s->files.items[i]) ||
                (!is_dir && has_prefix_dir(s->files.items[i], name));
    for (size_t i = 0; i < s->dirs.len && !clash && !is_dir; i++)
        clash = strcmp(name, s->dirs.items[i]) == 0 || has_prefix_dir(s->dirs.items[i], name);
    if (clash)
        return entry_error(s, orig, err, M87_E_INVAL,
                           "clashes with an earlier entry (a file named twice, or used as a "
                           "directory)");
    m87_strv_add(is_dir ? &s->dirs : &s->files, name);
    return 0;
}

/* Read the entry's data to the end, so that a corrupt or truncated stream is found in the
 * first pass and the real size (not the header's word) is what the caps count. */
static int scan_data(struct scan *s, struct archive *a, const char *orig, struct m87_error **err)
{
    uint64_t size = 0;
    for (;;) {
        const void *buf = NULL;
        size_t len = 0;
        la_int64_t off = 0;
        int r = s->la->read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return read_error(s, a, err);
        size = (uint64_t)off + len > size ? (uint64_t)off + len : size;
        if (size > SPEC_BUNDLE_MAX_ENTRY)
            return entry_error(s, orig, err, M87_E_TOOBIG, "exceeds the limit of %u bytes",
                               SPEC_BUNDLE_MAX_ENTRY);
        s->total += len;
        if (s->total > SPEC_BUNDLE_MAX_TOTAL)
            return m87_error_set(err, M87_E_TOOBIG, 0,
                                 "bundle '%s': unpacked size exceeds the limit of %u bytes",
                                 s->archive_path, SPEC_BUNDLE_MAX_TOTAL);
    }
}

static int scan_entry(struct scan *s, struct archive *a, struct archive_entry *e,
                      struct m87_error **err)
{
    const struct m87_archive_lib *la = s->la;
    const char *orig = la->entry_pathname(e), *why = NULL;
    if (++s->n_entries > SPEC_BUNDLE_MAX_ENTRIES)
        return m87_error_set(err, M87_E_TOOBIG, 0, "bundle '%s': more than %u entries",
                             s->archive_path, SPEC_BUNDLE_MAX_ENTRIES);
    _cleanup_free_ char *name = clean_name(orig, &why);
    if (name == NULL)
        return entry_error(s, orig ? orig : "", err, M87_E_INVAL, "%s", why);
    if ((why = type_problem(s, e)))
        return entry_error(s, orig, err, M87_E_INVAL, "%s", why);
    bool is_dir = la->entry_filetype(e) == AE_IFDIR;
    if (!is_dir && *name == '\0')
        return entry_error(s, orig, err, M87_E_INVAL, "a file cannot be the root directory");
    if (la->entry_size_is_set(e) && la->entry_size(e) > SPEC_BUNDLE_MAX_ENTRY)
        return entry_error(s, orig, err, M87_E_TOOBIG, "exceeds the limit of %u bytes",
                           SPEC_BUNDLE_MAX_ENTRY);
    if (*name &&
        (check_clash(s, orig, name, is_dir, err) < 0 || check_dest(s, orig, name, is_dir, err) < 0))
        return -1;
    return scan_data(s, a, orig, err);
}

static struct archive *open_reader(struct scan *s, int fd, struct m87_error **err)
{
    struct archive *a = s->la->read_new();
    if (a == NULL)
        m87_oom();
    s->la->read_support_filter_gzip(a);
    s->la->read_support_format_tar(a);
    if (lseek(fd, 0, SEEK_SET) < 0 || s->la->read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
        read_error(s, a, err);
        s->la->read_free(a);
        return NULL;
    }
    return a;
}

/* The first header read tells the filter; a plain tar passes the tar reader alone. */
static int want_gzip(const struct scan *s, struct archive *a, struct m87_error **err)
{
    if (s->la->filter_code(a, 0) == ARCHIVE_FILTER_GZIP)
        return 0;
    return m87_error_set(err, M87_E_PARSE, 0, "bundle '%s': not a tar.gz archive (no gzip)",
                         s->archive_path);
}

static int scan_all(struct scan *s, int fd, struct m87_error **err)
{
    _cleanup_(m87_archive_read_freep) struct archive *a = open_reader(s, fd, err);
    if (a == NULL)
        return -1;
    for (bool first = true;; first = false) {
        struct archive_entry *e = NULL;
        int r = s->la->read_next_header(a, &e);
        if (first && r >= ARCHIVE_WARN && want_gzip(s, a, err) < 0)
            return -1;
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return read_error(s, a, err);
        if (scan_entry(s, a, e, err) < 0)
            return -1;
    }
}

/* The second pass, run with the destination as the working directory so that libarchive's
 * secure flags judge the entry names alone. */
static int write_all(struct scan *s, int fd, struct m87_error **err)
{
    const struct m87_archive_lib *la = s->la;
    _cleanup_(m87_archive_read_freep) struct archive *a = open_reader(s, fd, err);
    _cleanup_(m87_archive_write_freep) struct archive *disk = la->write_disk_new();
    if (a == NULL)
        return -1;
    if (disk == NULL)
        m87_oom();
    la->write_disk_set_options(disk, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                         ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                         ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    for (;;) {
        struct archive_entry *e = NULL;
        int r = la->read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return read_error(s, a, err);
        const char *why = NULL, *orig = la->entry_pathname(e);
        _cleanup_free_ char *name = clean_name(orig, &why);
        /* the first pass passed every entry: the file changed under us */
        if (name == NULL || (why = type_problem(s, e)))
            return entry_error(s, orig ? orig : "", err, M87_E_INVAL, "%s",
                               why ? why : "changed between passes");
        if (*name == '\0')
            continue;
        la->entry_set_pathname(e, name);
        la->entry_set_perm(e, la->entry_perm(e) & 0111 ? 0755 : 0644);
        if (la->read_extract2(a, e, disk) < ARCHIVE_WARN) {
            const char *w = la->error_string(disk) ? la->error_string(disk) : la->error_string(a);
            return m87_error_set(err, M87_E_IO, la->errno_of(disk), "bundle '%s': extract '%s': %s",
                                 s->archive_path, name, w ? w : "unknown error");
        }
    }
    return la->write_close(disk) == ARCHIVE_OK
               ? 0
               : m87_error_set(err, M87_E_IO, la->errno_of(disk), "bundle '%s': finish: %s",
                               s->archive_path, la->error_string(disk));
}

static int extract_in(struct scan *s, int fd, struct m87_error **err)
{
    _cleanup_close_ int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open the working directory");
    if (fchdir(s->dest_fd) < 0)
        return m87_error_set(err, M87_E_IO, errno, "enter the destination directory");
    int r = write_all(s, fd, err);
    if (fchdir(cwd) < 0 && r == 0)
        return m87_error_set(err, M87_E_IO, errno, "return to the working directory");
    return r;
}

int spec_bundle_extract(const char *archive_path, const char *dest_dir, struct m87_error **err)
{
    _cleanup_close_ int fd = open(archive_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", archive_path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return m87_error_set(err, M87_E_IO, errno, "stat '%s'", archive_path);
    if (!S_ISREG(st.st_mode))
        return m87_error_set(err, M87_E_INVAL, 0, "bundle '%s': not a regular file", archive_path);
    if ((uint64_t)st.st_size > SPEC_BUNDLE_MAX_ARCHIVE)
        return m87_error_set(err, M87_E_TOOBIG, 0, "bundle '%s': exceeds the limit of %u bytes",
                             archive_path, SPEC_BUNDLE_MAX_ARCHIVE);
    _cleanup_close_ int dest = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dest < 0)
        return m87_error_set(err, M87_E_IO, errno, "open directory '%s'", dest_dir);
    struct scan s = {.la = m87_archive_lib(err), .archive_path = archive_path, .dest_fd = dest};
    if (s.la == NULL)
        return m87_error_wrap(err, "bundle '%s'", archive_path);
    int r = scan_all(&s, fd, err);
    m87_strv_release(&s.files);
    m87_strv_release(&s.dirs);
    if (r < 0)
        return -1;
    return extract_in(&s, fd, err);
}
