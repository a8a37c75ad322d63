/* libFuzzer harness: the receiving side of `m87 cp` (m87_tar_unpack), on the real file system of
 * a tmpfs scratch directory. Each input, followed by the copy's end mark (so that the fuzzer
 * reaches the placing of the copy without having to find the mark), is written once as the
 * stream, then unpacked into a fresh destination directory that is removed afterwards.
 *
 * What is checked beyond memory safety: nothing appears outside the destination (the scratch
 * directory holds only the stream and the destination afterwards), a refused stream left the
 * destination empty (no copy, no temporary directory), an accepted one left exactly one entry
 * there, and no symbolic link of an accepted copy resolves out of the copy. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fuzz-util.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/tar-copy.h"

static struct fuzz_fs fs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_fs_init(&fs, "cp", "stream");
    return 0;
}

/* Every link below resolves (when it does) inside ctx, a path (NULL: no check). */
static void check_entry(const char *path, const struct stat *st, void *ctx)
{
    const char *within = ctx;
    if (S_ISLNK(st->st_mode) && within) {
        char real[PATH_MAX];
        size_t wl = strlen(within);
        if (realpath(path, real) &&
            (strncmp(real, within, wl) != 0 || (real[wl] != '/' && real[wl] != '\0'))) {
            fprintf(stderr, "the link '%s' resolves out of the copy: '%s'\n", path, real);
            abort();
        }
    } else if (S_ISDIR(st->st_mode)) {
        fuzz_each_entry(path, NULL, NULL, check_entry, ctx);
    } else if (!S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode)) {
        fprintf(stderr, "the copy left '%s', not a file, a directory or a link\n", path);
        abort();
    }
}

/* Entries of dir but skip; every link below resolves (when it does) inside within. */
static size_t count_entries(const char *dir, const char *skip, const char *within)
{
    return fuzz_each_entry(dir, skip, NULL, check_entry, (void *)within);
}

/* The copy's directories may have any mode the tar gave (0 too): ours again, for the checks and
 * the removal (path and those below it; path's stat in st). */
static void open_up(const char *path, const struct stat *st, void *ctx)
{
    if (!S_ISDIR(st->st_mode))
        return;
    chmod(path, (st->st_mode & 07777) | 0700);
    fuzz_each_entry(path, NULL, NULL, open_up, ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_fs_write_input(&fs, data, size, M87_TAR_COPY_END, M87_TAR_COPY_END_LEN);
    if (mkdir(fs.dest, 0755) < 0)
        abort();
    int fd = open(fs.input, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        abort();
    struct m87_error *err = NULL;
    char *final = NULL;
    int r = m87_tar_unpack(fd, fs.dest, NULL, NULL, NULL, &final, &err);
    close(fd);
    if (count_entries(fs.scratch, "stream", NULL) != 1) {
        fprintf(stderr, "the copy wrote outside its destination\n");
        abort();
    }
    struct stat st;
    if (lstat(fs.dest, &st) == 0)
        open_up(fs.dest, &st, NULL);
    size_t n = count_entries(fs.dest, NULL, final);
    if (r < 0) {
        if (err == NULL || n != 0) {
            fprintf(stderr, "refused stream (%s) left %zu entries\n", err ? err->msg : "?", n);
            abort();
        }
        m87_error_clear(&err);
    } else if (n != 1 || final == NULL) {
        fprintf(stderr, "accepted stream left %zu entries\n", n);
        abort();
    }
    free(final);
    if (m87_remove_tree(fs.dest, NULL) < 0)
        abort();
    return 0;
}
