/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a fixed environment, so that a run is
 * reproducible whatever the shell exports, and a scratch directory on tmpfs. */
#ifndef M87_FUZZ_UTIL_H
#define M87_FUZZ_UTIL_H

#include <stdio.h>
#include <string.h>

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

#endif
