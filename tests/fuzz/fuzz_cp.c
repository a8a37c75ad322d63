/* libFuzzer harness: the receiving side of `m87 cp` (m87_tar_unpack), on the real file system of
 * a tmpfs scratch directory. Each input, followed by the copy's end mark (so that the fuzzer
 * reaches the placing of the copy without having to find the mark), is written once as the
 * stream, then unpacked into a fresh destination directory that is removed afterwards.
 *
 * What is checked beyond memory safety: nothing appears outside the destination (the scratch
 * directory holds only the stream and the destination afterwards), a refused stream left the
 * destination empty (no copy, no temporary directory), an accepted one left exactly one entry
 * there, and no symbolic link of an accepted copy resolves out of the copy. */
#include <dirent.h>
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

static const char *scratch;
static char *stream_path;
static char *dest;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    umask(022);
    scratch = fuzz_scratch_dir("cp");
    stream_path = m87_xasprintf("%s/stream", scratch);
    dest = m87_xasprintf("%s/dest", scratch);
    return 0;
}

static void write_stream(const uint8_t *data, size_t size)
{
    int fd = open(stream_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size ||
        write(fd, M87_TAR_COPY_END, M87_TAR_COPY_END_LEN) != (ssize_t)M87_TAR_COPY_END_LEN ||
        close(fd) < 0) {
        perror(stream_path);
        abort();
    }
}

/* Entries of dir but skip; every link below resolves (when it does) inside within. */
static size_t count_entries(const char *dir, const char *skip, const char *within)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        abort();
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            (skip && !strcmp(de->d_name, skip)))
            continue;
        n++;
        char *path = m87_xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) < 0)
            abort();
        if (S_ISLNK(st.st_mode) && within) {
            char real[PATH_MAX];
            size_t wl = strlen(within);
            if (realpath(path, real) &&
                (strncmp(real, within, wl) != 0 || (real[wl] != '/' && real[wl] != '\0'))) {
                fprintf(stderr, "the link '%s' resolves out of the copy: '%s'\n", path, real);
                abort();
            }
        } else if (S_ISDIR(st.st_mode)) {
            count_entries(path, NULL, within);
        } else if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            fprintf(stderr, "the copy left '%s', not a file, a directory or a link\n", path);
            abort();
        }
        free(path);
    }
    closedir(d);
    return n;
}

/* The copy's directories may have any mode the tar gave (0 too): ours again, for the checks and
 * the removal. */
static void open_up(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return;
    chmod(dir, (st.st_mode & 07777) | 0700);
    DIR *d = opendir(dir);
    if (d == NULL)
        abort();
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *path = m87_xasprintf("%s/%s", dir, de->d_name);
        open_up(path);
        free(path);
    }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_stream(data, size);
    if (mkdir(dest, 0755) < 0)
        abort();
    int fd = open(stream_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        abort();
    struct m87_error *err = NULL;
    char *final = NULL;
    int r = m87_tar_unpack(fd, dest, NULL, NULL, NULL, &final, &err);
    close(fd);
    if (count_entries(scratch, "stream", NULL) != 1) {
        fprintf(stderr, "the copy wrote outside its destination\n");
        abort();
    }
    open_up(dest);
    size_t n = count_entries(dest, NULL, final);
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
    if (m87_remove_tree(dest, NULL) < 0)
        abort();
    return 0;
}
