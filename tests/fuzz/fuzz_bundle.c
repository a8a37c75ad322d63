/* libFuzzer harness: the bundle extractor (spec_bundle_extract), on the real file system of a
 * tmpfs scratch directory. Each input is written once as the archive, then extracted into a
 * fresh directory that is removed afterwards. An input that is not gzip data is first wrapped
 * in gzip (libarchive's raw writer), so that the fuzzer reaches the tar layer without having to
 * forge CRCs; gzip inputs are taken as they are.
 *
 * What is checked beyond memory safety: nothing appears outside the destination (the scratch
 * directory holds only the archive and the destination afterwards), the working directory is
 * restored, the destination holds only regular files and directories, and a refused archive
 * left the destination empty (M87_E_IO aside, which the first pass cannot foresee). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fuzz-util.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/spec-bundle.h"

static struct fuzz_fs fs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_fs_init(&fs, "bundle", "bundle.tar.gz");
    return 0;
}

static void write_gzipped(const uint8_t *data, size_t size)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "raw");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, (la_int64_t)size);
    if (archive_write_set_format_raw(a) != ARCHIVE_OK ||
        archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_open_filename(a, fs.input) != ARCHIVE_OK ||
        archive_write_header(a, e) != ARCHIVE_OK ||
        (size && archive_write_data(a, data, size) != (la_ssize_t)size) ||
        archive_write_close(a) != ARCHIVE_OK) {
        fprintf(stderr, "gzip the input: %s\n", archive_error_string(a));
        abort();
    }
    archive_entry_free(e);
    archive_write_free(a);
}

/* Aborts on a symlink or a special file at or below path. */
static void check_entry(const char *path, const struct stat *st, void *ctx)
{
    if (!(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode))) {
        fprintf(stderr, "extraction left '%s', neither a file nor a directory\n", path);
        abort();
    }
    if (S_ISDIR(st->st_mode))
        fuzz_each_entry(path, NULL, NULL, check_entry, ctx);
}

/* Entries of dir other than those named; aborts on a symlink or a special file below dir. */
static size_t count_entries(const char *dir, const char *skip1, const char *skip2)
{
    return fuzz_each_entry(dir, skip1, skip2, check_entry, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b)
        fuzz_fs_write_input(&fs, data, size, NULL, 0);
    else
        write_gzipped(data, size);
    if (mkdir(fs.dest, 0755) < 0)
        abort();
    char before[PATH_MAX], after[PATH_MAX];
    if (getcwd(before, sizeof(before)) == NULL)
        abort();
    struct m87_error *err = NULL;
    int r = spec_bundle_extract(fs.input, fs.dest, &err);
    if (getcwd(after, sizeof(after)) == NULL || strcmp(before, after) != 0)
        abort();
    if (count_entries(fs.scratch, "bundle.tar.gz", "dest") != 0) {
        fprintf(stderr, "extraction wrote outside its destination\n");
        abort();
    }
    size_t n = count_entries(fs.dest, NULL, NULL);
    if (r < 0) {
        if (err == NULL || (err->code != M87_E_IO && strncmp(err->msg, "bundle '", 8) != 0))
            abort();
        if (err->code != M87_E_IO && n != 0) {
            fprintf(stderr, "refused archive (%s) left %zu entries\n", err->msg, n);
            abort();
        }
        m87_error_clear(&err);
    }
    if (m87_remove_tree(fs.dest, NULL) < 0)
        abort();
    return 0;
}
