/* Unit tests of bundles (src/spec/spec-bundle.c, spec-bundle-extract.c) on the real file system
 * under a mkdtemp directory with the real libarchive. Hostile archives are made here with
 * libarchive's writer, entry by entry, as an attacker's tool would. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/list.h"
#include "m87/spec-bundle.h"
#include "unit-util.h"

/* ---- helpers --------------------------------------------------------------------------------- */

struct tmp {
    char root[64];
};

static int setup(void **state)
{
    struct tmp *t = m87_xcalloc(1, sizeof(*t));
    snprintf(t->root, sizeof(t->root), "/tmp/m87-test-bundle-XXXXXX");
    assert_non_null(mkdtemp(t->root));
    umask(022); /* extraction applies the umask, as tar does */
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;
    assert_int_equal(m87_remove_tree(t->root, NULL), 0);
    free(t);
    return 0;
}

static char *at(const struct tmp *t, const char *rel)
{
    return m87_xasprintf("%s/%s", t->root, rel);
}

static void put(const struct tmp *t, const char *rel, const void *data, size_t len, mode_t mode)
{
    _cleanup_free_ char *path = at(t, rel);
    _cleanup_free_ char *dir = m87_xstrdup(path);
    *strrchr(dir, '/') = '\0';
    struct m87_error *err = NULL;
    assert_ok(m87_mkdir_p(dir, 0755, &err), &err);
    assert_ok(m87_write_file_atomic(path, data, len, mode, &err), &err);
}

static void mkdirs(const struct tmp *t, const char *rel)
{
    _cleanup_free_ char *path = at(t, rel);
    struct m87_error *err = NULL;
    assert_ok(m87_mkdir_p(path, 0755, &err), &err);
}

static char *slurp(const char *path, size_t *len)
{
    struct m87_error *err = NULL;
    char *s = m87_read_file(path, SPEC_BUNDLE_MAX_ARCHIVE, len, &err);
    if (s == NULL)
        fail_msg("%s", err->msg);
    return s;
}

/* Number of entries in a directory (0 for an empty one). */
static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void pack(const struct tmp *t, const char *base, const char *const *paths, const char *out,
                 char digest[SPEC_BUNDLE_DIGEST_LEN + 1])
{
    struct m87_strv v;
    m87_strv_init(&v);
    for (size_t i = 0; paths[i]; i++)
        m87_strv_add(&v, paths[i]);
    _cleanup_free_ char *b = at(t, base), *o = at(t, out);
    struct m87_error *err = NULL;
    assert_ok(m87_mkdir_p(o, 0755, &err), &err);
    assert_ok(spec_bundle_pack(b, &v, o, digest, &err), &err);
    m87_strv_release(&v);
}

static char *bundle_path(const struct tmp *t, const char *out, const char *digest)
{
    char name[SPEC_BUNDLE_FILE_LEN + 1];
    spec_bundle_file_name(digest, name);
    return m87_xasprintf("%s/%s/%s", t->root, out, name);
}

/* A small tree with text, binary, an executable, nested and empty directories. */
static void make_tree(const struct tmp *t)
{
    static const unsigned char bin[] = {0x00, 0xff, 0x10, 0x00, 0x7f, 0x80, 'x'};
    put(t, "src/compose.yml", "services: {}\n", 13, 0600);
    put(t, "src/data/blob.bin", bin, sizeof(bin), 0644);
    put(t, "src/data/run.sh", "#!/bin/sh\necho hi\n", 18, 0700);
    put(t, "src/data/deep/er/x.txt", "x", 1, 0664);
    mkdirs(t, "src/data/empty");
    put(t, "src/not-packed.txt", "no", 2, 0644);
}

/* ---- digests ----------------------------------------------------------------------------------
 */

static void test_digest_helpers(void **state)
{
    (void)state;
    const char *ok = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_true(spec_bundle_digest_valid(ok));
    assert_false(spec_bundle_digest_valid(NULL));
    assert_false(spec_bundle_digest_valid(""));
    assert_false(spec_bundle_digest_valid(ok + 7));
    assert_false(spec_bundle_digest_valid(
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(spec_bundle_digest_valid(
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
    assert_false(spec_bundle_digest_valid(
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));
    assert_false(spec_bundle_digest_valid(
        "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(spec_bundle_digest_valid(
        "sha256:0123456789abcdef0123456789abcdeg0123456789abcdef0123456789abcdef"));
    char name[SPEC_BUNDLE_FILE_LEN + 1];
    spec_bundle_file_name(ok, name);
    assert_string_equal(name,
                        "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                        ".tar.gz");
}

/* ---- packing --------------------------------------------------------------------------------- */

/* Same files, other times, other order of the paths, a path given twice: same bytes. */
static void test_pack_reproducible(void **state)
{
    struct tmp *t = *state;
    make_tree(t);
    static const char *const p1[] = {"compose.yml", "data", NULL};
    static const char *const p2[] = {"data/run.sh", "data", "compose.yml", "data/", NULL};
    char d1[SPEC_BUNDLE_DIGEST_LEN + 1], d2[SPEC_BUNDLE_DIGEST_LEN + 1];
    pack(t, "src", p1, "out1", d1);
    _cleanup_free_ char *f = at(t, "src/data/blob.bin");
    struct timeval tv[2] = {{1000, 0}, {2000, 0}};
    assert_int_equal(utimes(f, tv), 0);
    pack(t, "src", p2, "out2", d2);
    assert_string_equal(d1, d2);
    assert_true(spec_bundle_digest_valid(d1));
    _cleanup_free_ char *b1 = bundle_path(t, "out1", d1), *b2 = bundle_path(t, "out2", d2);
    size_t l1 = 0, l2 = 0;
    _cleanup_free_ char *c1 = slurp(b1, &l1), *c2 = slurp(b2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(c1, c2, l1);
    /* the digest names the bytes, and the gzip header carries no time (bytes 4..7) */
    char hex[M87_SHA256_HEX_LEN + 1];
    m87_sha256_hex(c1, l1, hex);
    assert_string_equal(hex, d1 + 7);
    assert_int_equal((unsigned char)c1[0], 0x1f);
    assert_int_equal((unsigned char)c1[1], 0x8b);
    assert_memory_equal(c1 + 4, "\0\0\0\0", 4);
    /* only the bundle is left in the output directory (no temporary file) */
    _cleanup_free_ char *o1 = at(t, "out1");
    assert_int_equal(count_entries(o1), 1);
    /* a changed byte changes the digest */
    put(t, "src/data/deep/er/x.txt", "y", 1, 0664);
    char d3[SPEC_BUNDLE_DIGEST_LEN + 1];
    pack(t, "src", p1, "out3", d3);
    assert_string_not_equal(d1, d3);
}

static void assert_file(const struct tmp *t, const char *rel, const void *data, size_t len,
                        mode_t mode)
{
    _cleanup_free_ char *path = at(t, rel);
    struct stat st;
    if (lstat(path, &st) < 0)
        fail_msg("%s: %s", path, strerror(errno));
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, mode);
    size_t got = 0;
    _cleanup_free_ char *c = slurp(path, &got);
    assert_int_equal(got, len);
    assert_memory_equal(c, data, len);
}

static void assert_dir(const struct tmp *t, const char *rel)
{
    _cleanup_free_ char *path = at(t, rel);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_pack_extract(void **state)
{
    struct tmp *t = *state;
    make_tree(t);
    static const char *const paths[] = {"compose.yml", "data", NULL};
    char d[SPEC_BUNDLE_DIGEST_LEN + 1];
    pack(t, "src", paths, "out", d);
    _cleanup_free_ char *bundle = bundle_path(t, "out", d), *dest = at(t, "dest");
    mkdirs(t, "dest");
    put(t, "dest/compose.yml", "old", 3, 0644); /* replaced */
    put(t, "dest/kept.txt", "kept", 4, 0644);   /* left alone */
    struct m87_error *err = NULL;
    assert_ok(spec_bundle_extract(bundle, dest, &err), &err);
    static const unsigned char bin[] = {0x00, 0xff, 0x10, 0x00, 0x7f, 0x80, 'x'};
    assert_file(t, "dest/compose.yml", "services: {}\n", 13, 0644);
    assert_file(t, "dest/data/blob.bin", bin, sizeof(bin), 0644);
    assert_file(t, "dest/data/run.sh", "#!/bin/sh\necho hi\n", 18, 0755);
    assert_file(t, "dest/data/deep/er/x.txt", "x", 1, 0644);
    assert_file(t, "dest/kept.txt", "kept", 4, 0644);
    assert_dir(t, "dest/data/empty");
    _cleanup_free_ char *np = at(t, "dest/not-packed.txt"), *ed = at(t, "dest/data/empty");
    assert_int_equal(access(np, F_OK), -1);
    assert_int_equal(count_entries(ed), 0);
    /* extracting again over the result is fine and changes nothing */
    assert_ok(spec_bundle_extract(bundle, dest, &err), &err);
    assert_file(t, "dest/data/run.sh", "#!/bin/sh\necho hi\n", 18, 0755);
}

static void pack_fails(const struct tmp *t, const char *const *paths, enum m87_errcode code,
                       const char *want_fmt)
{
    struct m87_strv v;
    m87_strv_init(&v);
    for (size_t i = 0; paths[i]; i++)
        m87_strv_add(&v, paths[i]);
    _cleanup_free_ char *b = at(t, "src"), *o = at(t, "out");
    struct m87_error *err = NULL;
    assert_ok(m87_mkdir_p(o, 0755, &err), &err);
    char d[SPEC_BUNDLE_DIGEST_LEN + 1];
    if (spec_bundle_pack(b, &v, o, d, &err) == 0)
        fail_msg("packed, but must fail");
    _cleanup_free_ char *want = m87_xasprintf(want_fmt, t->root);
    if (strcmp(err->msg, want) != 0)
        fail_msg("message differs:\n got: %s\nwant: %s", err->msg, want);
    assert_int_equal(err->code, code);
    m87_error_clear(&err);
    m87_strv_release(&v);
    assert_int_equal(count_entries(o), 0);
}

static void test_pack_refuses(void **state)
{
    struct tmp *t = *state;
    make_tree(t);
    _cleanup_free_ char *link = at(t, "src/data/link"), *fifo = at(t, "src/fifo");
    _cleanup_free_ char *dlink = at(t, "src/dlink");
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(symlink("/etc", dlink), 0);
    static const char *const p_link[] = {"compose.yml", "data", NULL};
    pack_fails(t, p_link, M87_E_INVAL,
               "bundle: '%s/src/data/link' is a symbolic link: only regular files and directories "
               "can be bundled");
    static const char *const p_fifo[] = {"fifo", NULL};
    pack_fails(t, p_fifo, M87_E_INVAL,
               "bundle: '%s/src/fifo' is a fifo: only regular files and directories can be "
               "bundled");
    static const char *const p_through[] = {"dlink/passwd", NULL};
    pack_fails(t, p_through, M87_E_INVAL,
               "bundle: '%s/src/dlink' is a symbolic link: only regular files and directories can "
               "be bundled");
    static const char *const p_abs[] = {"/etc/passwd", NULL};
    pack_fails(t, p_abs, M87_E_INVAL,
               "bundle: '/etc/passwd' must be a relative path without '.' or '..' components");
    static const char *const p_up[] = {"data/../../x", NULL};
    pack_fails(t, p_up, M87_E_INVAL,
               "bundle: 'data/../../x' must be a relative path without '.' or '..' components");
    /* the caps, checked before anything is read (sparse files cost nothing here) */
    _cleanup_free_ char *big = at(t, "src/big/one");
    mkdirs(t, "src/big");
    put(t, "src/big/one", "", 0, 0644);
    assert_int_equal(truncate(big, (off_t)SPEC_BUNDLE_MAX_ENTRY + 1), 0);
    static const char *const p_big[] = {"big", NULL};
    pack_fails(t, p_big, M87_E_TOOBIG,
               "bundle: '%s/src/big/one' exceeds the limit of 67108864 bytes");
    assert_int_equal(truncate(big, (off_t)SPEC_BUNDLE_MAX_ENTRY), 0);
    for (int i = 0; i < 4; i++) {
        _cleanup_free_ char *rel = m87_xasprintf("src/big/more%d", i);
        _cleanup_free_ char *path = at(t, rel);
        put(t, rel, "", 0, 0644);
        assert_int_equal(truncate(path, (off_t)SPEC_BUNDLE_MAX_ENTRY), 0);
    }
    pack_fails(t, p_big, M87_E_TOOBIG, "bundle: files exceed the limit of 268435456 bytes");
    mkdirs(t, "src/many");
    for (unsigned i = 0; i < SPEC_BUNDLE_MAX_ENTRIES; i++) {
        _cleanup_free_ char *rel = m87_xasprintf("src/many/f%05u", i);
        _cleanup_free_ char *path = at(t, rel);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    static const char *const p_many[] = {"many", NULL};
    pack_fails(t, p_many, M87_E_TOOBIG, "bundle: more than 10000 entries");
    static const char *const p_missing[] = {"nope", NULL};
    pack_fails(t, p_missing, M87_E_IO, "bundle: stat '%s/src/nope': No such file or directory");
}

/* ---- hostile archives ------------------------------------------------------------------------ */

struct evil {
    const char *name;
    mode_t type;        /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFIFO; 0: hard link */
    int64_t size;       /* regular files: zeros written */
    const char *target; /* symlink or hard link target */
};

static void write_evil(const char *path, bool gzip, const struct evil *entries, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    static const char zeros[64 * 1024];
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, entries[i].name);
        archive_entry_set_filetype(e, entries[i].type ? entries[i].type : AE_IFREG);
        archive_entry_set_perm(e, 0644);
        if (entries[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, entries[i].target);
        if (entries[i].type == 0)
            archive_entry_set_hardlink(e, entries[i].target);
        if (entries[i].type == AE_IFCHR)
            archive_entry_set_rdev(e, makedev(1, 3));
        if (entries[i].type == AE_IFREG)
            archive_entry_set_size(e, entries[i].size);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        for (int64_t left = entries[i].type == AE_IFREG ? entries[i].size : 0; left > 0;) {
            size_t k = left > (int64_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
            assert_int_equal(archive_write_data(a, zeros, k), (la_ssize_t)k);
            left -= (int64_t)k;
        }
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* Extraction must fail with exactly want (%s: the archive's path) and leave dest empty. */
static void extract_fails(const struct tmp *t, const char *archive, enum m87_errcode code,
                          const char *want_fmt)
{
    _cleanup_free_ char *dest = at(t, "dest");
    mkdirs(t, "dest");
    struct m87_error *err = NULL;
    if (spec_bundle_extract(archive, dest, &err) == 0)
        fail_msg("extracted %s, but must fail", archive);
    _cleanup_free_ char *want = m87_xasprintf(want_fmt, archive);
    if (strcmp(err->msg, want) != 0)
        fail_msg("message differs:\n got: %s\nwant: %s", err->msg, want);
    assert_int_equal(err->code, code);
    m87_error_clear(&err);
    assert_int_equal(count_entries(dest), 0);
}

/* A good entry first, then the bad one: the first pass must refuse before anything is written. */
static void evil_case(const struct tmp *t, struct evil bad, enum m87_errcode code,
                      const char *want_fmt)
{
    struct evil entries[] = {{"good.txt", AE_IFREG, 5, NULL}, {"dir", AE_IFDIR, 0, NULL}, bad};
    _cleanup_free_ char *archive = at(t, "evil.tar.gz");
    write_evil(archive, true, entries, M87_ARRAY_LEN(entries));
    extract_fails(t, archive, code, want_fmt);
}

static void test_extract_refuses_entries(void **state)
{
    struct tmp *t = *state;
    evil_case(t, (struct evil){"/etc/evil", AE_IFREG, 1, NULL}, M87_E_INVAL,
              "bundle '%s': entry '/etc/evil': absolute paths are not allowed");
    evil_case(t, (struct evil){"../evil", AE_IFREG, 1, NULL}, M87_E_INVAL,
              "bundle '%s': entry '../evil': '..' components are not allowed");
    evil_case(t, (struct evil){"dir/../../evil", AE_IFREG, 1, NULL}, M87_E_INVAL,
              "bundle '%s': entry 'dir/../../evil': '..' components are not allowed");
    evil_case(t, (struct evil){"dir/..", AE_IFDIR, 0, NULL}, M87_E_INVAL,
              "bundle '%s': entry 'dir/../': '..' components are not allowed");
    evil_case(t, (struct evil){"link", AE_IFLNK, 0, "/etc"}, M87_E_INVAL,
              "bundle '%s': entry 'link': symbolic links are not allowed");
    evil_case(t, (struct evil){"inner", AE_IFLNK, 0, "good.txt"}, M87_E_INVAL,
              "bundle '%s': entry 'inner': symbolic links are not allowed");
    evil_case(t, (struct evil){"hard", 0, 0, "good.txt"}, M87_E_INVAL,
              "bundle '%s': entry 'hard': hard links are not allowed");
    evil_case(t, (struct evil){"null", AE_IFCHR, 0, NULL}, M87_E_INVAL,
              "bundle '%s': entry 'null': device files are not allowed");
    evil_case(t, (struct evil){"disk", AE_IFBLK, 0, NULL}, M87_E_INVAL,
              "bundle '%s': entry 'disk': device files are not allowed");
    evil_case(t, (struct evil){"pipe", AE_IFIFO, 0, NULL}, M87_E_INVAL,
              "bundle '%s': entry 'pipe': fifos are not allowed");
    evil_case(t, (struct evil){"good.txt/x", AE_IFREG, 1, NULL}, M87_E_INVAL,
              "bundle '%s': entry 'good.txt/x': clashes with an earlier entry (a file named "
              "twice, or used as a directory)");
    evil_case(t, (struct evil){"dir", AE_IFREG, 1, NULL}, M87_E_INVAL,
              "bundle '%s': entry 'dir': clashes with an earlier entry (a file named twice, or "
              "used as a directory)");
    evil_case(t, (struct evil){"big", AE_IFREG, SPEC_BUNDLE_MAX_ENTRY + 1, NULL}, M87_E_TOOBIG,
              "bundle '%s': entry 'big': exceeds the limit of 67108864 bytes");
}

static void test_extract_refuses_totals(void **state)
{
    struct tmp *t = *state;
    _cleanup_free_ char *archive = at(t, "many.tar.gz");
    size_t n = SPEC_BUNDLE_MAX_ENTRIES + 1;
    struct evil *many = m87_xcalloc(n, sizeof(*many));
    char **names = m87_xcalloc(n, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        names[i] = m87_xasprintf("f%05zu", i);
        many[i] = (struct evil){names[i], AE_IFREG, 0, NULL};
    }
    write_evil(archive, true, many, n);
    extract_fails(t, archive, M87_E_TOOBIG, "bundle '%s': more than 10000 entries");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(many);
    /* five files just under the entry cap: over the total */
    int64_t size = SPEC_BUNDLE_MAX_ENTRY - 1;
    struct evil big[] = {{"a", AE_IFREG, size, NULL},
                         {"b", AE_IFREG, size, NULL},
                         {"c", AE_IFREG, size, NULL},
                         {"d", AE_IFREG, size, NULL},
                         {"e", AE_IFREG, size, NULL}};
    write_evil(archive, true, big, M87_ARRAY_LEN(big));
    extract_fails(t, archive, M87_E_TOOBIG,
                  "bundle '%s': unpacked size exceeds the limit of 268435456 bytes");
}

static void test_extract_refuses_formats(void **state)
{
    struct tmp *t = *state;
    struct evil one[] = {{"good.txt", AE_IFREG, 5, NULL}};
    _cleanup_free_ char *plain = at(t, "plain.tar"), *text = at(t, "text.tar.gz");
    write_evil(plain, false, one, 1);
    extract_fails(t, plain, M87_E_PARSE, "bundle '%s': not a tar.gz archive (no gzip)");
    put(t, "text.tar.gz", "hello, this is not an archive\n", 30, 0644);
    extract_fails(t, text, M87_E_PARSE,
                  "bundle '%s': not a complete tar.gz archive: Unrecognized archive "
                  "format");
    /* a real bundle cut in the middle */
    make_tree(t);
    static const char *const paths[] = {"compose.yml", "data", NULL};
    char d[SPEC_BUNDLE_DIGEST_LEN + 1];
    pack(t, "src", paths, "out", d);
    _cleanup_free_ char *bundle = bundle_path(t, "out", d), *cut = at(t, "cut.tar.gz");
    size_t len = 0;
    _cleanup_free_ char *bytes = slurp(bundle, &len);
    struct m87_error *err = NULL;
    assert_ok(m87_write_file_atomic(cut, bytes, len / 2, 0644, &err), &err);
    _cleanup_free_ char *dest = at(t, "dest");
    mkdirs(t, "dest");
    assert_int_equal(spec_bundle_extract(cut, dest, &err), -1);
    assert_int_equal(err->code, M87_E_PARSE);
    _cleanup_free_ char *prefix =
        m87_xasprintf("bundle '%s': not a complete tar.gz archive: ", cut);
    assert_memory_equal(err->msg, prefix, strlen(prefix));
    m87_error_clear(&err);
    assert_int_equal(count_entries(dest), 0);
    /* the gzip trailer (CRC and length) cut off */
    assert_ok(m87_write_file_atomic(cut, bytes, len - 4, 0644, &err), &err);
    assert_int_equal(spec_bundle_extract(cut, dest, &err), -1);
    assert_int_equal(err->code, M87_E_PARSE);
    assert_memory_equal(err->msg, prefix, strlen(prefix));
    m87_error_clear(&err);
    assert_int_equal(count_entries(dest), 0);
    /* the digest check tells a cut download from the real one */
    assert_ok(spec_bundle_verify(bundle, d, &err), &err);
    assert_int_equal(spec_bundle_verify(cut, d, &err), -1);
    assert_int_equal(err->code, M87_E_INVAL);
    char hex[M87_SHA256_HEX_LEN + 1];
    m87_sha256_hex(bytes, len - 4, hex);
    _cleanup_free_ char *vwant =
        m87_xasprintf("bundle '%s': digest is sha256:%s, expected %s", cut, hex, d);
    assert_string_equal(err->msg, vwant);
    m87_error_clear(&err);
    _cleanup_free_ char *missing = at(t, "missing.tar.gz");
    assert_int_equal(spec_bundle_extract(missing, dest, &err), -1);
    assert_int_equal(err->code, M87_E_IO);
    m87_error_clear(&err);
}

/* What is already in the destination never redirects a write. */
static void test_extract_existing_links(void **state)
{
    struct tmp *t = *state;
    mkdirs(t, "outside");
    put(t, "outside/victim", "safe", 4, 0644);
    mkdirs(t, "dest");
    _cleanup_free_ char *outside = at(t, "outside"), *victim = at(t, "outside/victim");
    _cleanup_free_ char *dlink = at(t, "dest/sub"), *flink = at(t, "dest/file");
    assert_int_equal(symlink(outside, dlink), 0);
    assert_int_equal(symlink(victim, flink), 0);
    _cleanup_free_ char *archive = at(t, "a.tar.gz"), *dest = at(t, "dest");
    /* through a directory symlink: refused, nothing written */
    struct evil through[] = {{"first", AE_IFREG, 1, NULL}, {"sub/victim", AE_IFREG, 3, NULL}};
    write_evil(archive, true, through, M87_ARRAY_LEN(through));
    struct m87_error *err = NULL;
    assert_int_equal(spec_bundle_extract(archive, dest, &err), -1);
    _cleanup_free_ char *want = m87_xasprintf(
        "bundle '%s': entry 'sub/victim': the destination has a symbolic link in its way", archive);
    assert_string_equal(err->msg, want);
    m87_error_clear(&err);
    _cleanup_free_ char *first = at(t, "dest/first");
    assert_int_equal(access(first, F_OK), -1);
    assert_file(t, "outside/victim", "safe", 4, 0644);
    /* a file over a symlink: the link is replaced, its target untouched */
    struct evil over[] = {{"file", AE_IFREG, 3, NULL}};
    write_evil(archive, true, over, 1);
    assert_ok(spec_bundle_extract(archive, dest, &err), &err);
    assert_file(t, "dest/file", "\0\0\0", 3, 0644);
    assert_file(t, "outside/victim", "safe", 4, 0644);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_helpers),
        cmocka_unit_test_setup_teardown(test_pack_reproducible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_extract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_refuses_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_refuses_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_refuses_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extract_existing_links, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
