/* Shared by the C end-to-end tests. They run under pytest (tests/e2e/test_engine_c.py), which
 * starts the real dockerd and registry and passes them in M87_TEST_* variables. */
#ifndef M87_E2E_UTIL_H
#define M87_E2E_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "m87/compose.h"
#include "m87/engine.h"
#include "m87/list.h"

/* The value of an M87_TEST_* variable; fails the test when it is not set. */
const char *e2e_env(const char *name);

/* A client on the test dockerd, connected. */
struct engine_client *e2e_client(void);

/* A name unique to this process and call, "m87e2e-PREFIX-PID-N"; caller frees. */
char *e2e_name(const char *prefix);

/* Make sure the small test image is present (pulled once per process). */
void e2e_ensure_image(struct engine_client *c, const char *ref);

/* Create (not start) a container from ref running argv (NULL: the image's command), with
 * labels (may be NULL); returns its ID, caller frees. */
char *e2e_create(struct engine_client *c, const char *name, const char *ref,
                 const char *const *argv, const struct m87_kvlist *labels);

/* Remove a container by ID or name, ignoring a missing one. */
void e2e_remove(struct engine_client *c, const char *id);

#define assert_ok(expr, errp)                                                                      \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            fail_msg("%s failed: %s", #expr, *(errp) ? (*(errp))->msg : "(no error)");             \
    } while (0)

#endif
