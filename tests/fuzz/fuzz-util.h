/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a fixed environment, so that a run is
 * reproducible whatever the shell exports, and a scratch directory on tmpfs. */
#ifndef M87_FUZZ_UTIL_H
#define M87_FUZZ_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-interp.h"
#include "m87/yaml-write.h"
#include "m87/yaml.h"

/* A lookup (spec_lookup_fn) over a few names the seeds use: the rest are unset. */
static inline const char *fuzz_lookup(void *ctx, const char *name)
{
    static const char *const env[][2] = {
        {"HOME", "/home/fuzz"}, {"FOO", "foo"},       {"BAR", ""}, {"TAG", "1.36"},
        {"PORT", "8080"},       {"IMAGE", "busybox"}, {"A", "a"},  {"B", "${A}"},
    };
    (void)ctx;
    for (size_t i = 0; i < M87_ARRAY_LEN(env); i++)
        if (strcmp(env[i][0], name) == 0)
            return env[i][1];
    return NULL;
}

static char *fuzz_scratch;

static inline void fuzz_scratch_remove(void)
{
    if (fuzz_scratch)
        (void)m87_remove_tree(fuzz_scratch, NULL);
}

/* A fresh directory under /dev/shm (tmpfs: no disk wear at thousands of inputs a second), made
 * once per process and removed at its normal exit (a crash leaves it for a look). The path is
 * borrowed. Aborts when it cannot: there is nothing to fuzz then. */
static inline const char *fuzz_scratch_dir(const char *what)
{
    fuzz_scratch = m87_xasprintf("/dev/shm/m87-fuzz-%s-%ld-XXXXXX", what, (long)getpid());
    if (mkdtemp(fuzz_scratch) == NULL) {
        perror("mkdtemp");
        abort();
    }
    atexit(fuzz_scratch_remove);
    return fuzz_scratch;
}

/* fn(path, st, ctx) for each entry of dir but ".", ".." and those named skip1 or skip2 (NULL:
 * none), path borrowed; returns how many there were. Aborts when dir cannot be read or an entry
 * cannot be lstat'ed. */
static inline size_t fuzz_each_entry(const char *dir, const char *skip1, const char *skip2,
                                     void (*fn)(const char *path, const struct stat *st, void *ctx),
                                     void *ctx)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        abort();
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            (skip1 && !strcmp(de->d_name, skip1)) || (skip2 && !strcmp(de->d_name, skip2)))
            continue;
        n++;
        char *path = m87_xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) < 0)
            abort();
        fn(path, &st, ctx);
        free(path);
    }
    closedir(d);
    return n;
}

/* What a harness of the real file system works on, made once by fuzz_fs_init(): its scratch
 * directory, the input's file in it and the destination the code under test writes to. */
struct fuzz_fs {
    const char *scratch;
    char *input;
    char *dest;
};

/* umask 022, a scratch directory (fuzz_scratch_dir(what)), its input file input_name and its
 * destination "dest" (neither made yet). For LLVMFuzzerInitialize. */
static inline void fuzz_fs_init(struct fuzz_fs *fs, const char *what, const char *input_name)
{
    umask(022);
    fs->scratch = fuzz_scratch_dir(what);
    fs->input = m87_xasprintf("%s/%s", fs->scratch, input_name);
    fs->dest = m87_xasprintf("%s/dest", fs->scratch);
}

/* fs's input file anew: data, then tail_len bytes of tail. Aborts when it cannot. */
static inline void fuzz_fs_write_input(const struct fuzz_fs *fs, const void *data, size_t size,
                                       const void *tail, size_t tail_len)
{
    int fd = open(fs->input, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size ||
        (tail_len && write(fd, tail, tail_len) != (ssize_t)tail_len) || close(fd) < 0) {
        perror(fs->input);
        abort();
    }
}

#endif
