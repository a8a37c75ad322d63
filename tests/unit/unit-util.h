/* Shared by the unit tests: a replay transport for the Engine client and small helpers. */
#ifndef M87_UNIT_UTIL_H
#define M87_UNIT_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "m87/compose.h"
#include "m87/engine.h"
#include "m87/hash.h"
#include "m87/units.h"
#include "m87/yaml-write.h"
#include "m87/yaml.h"

/* Path of a file under fixtures/ (M87_FIXTURES or the source tree); caller frees. */
char *unit_fixture_path(const char *rel);

/* Read a whole fixture file; caller frees. Fails the test when it cannot. */
char *unit_read_fixture(const char *rel, size_t *len);

/* A client whose transport replays fixtures/engine/NAME. The file holds exchanges:
 *
 *   >>> METHOD /path?query
 *   <<< STATUS [API-Version [Libpod-Api-Version]]
 *   body lines (may be empty)
 *   ===
 *
 * Requests must come in the file's order with the same method and path (the test fails
 * otherwise). Streamed bodies are handed over in chunks of chunk bytes (0: whole), so that
 * reassembly across chunk boundaries is exercised. The version is pinned to 1.41 without a
 * ping. */
struct engine_client *unit_replay_client(const char *name, size_t chunk);

/* How many exchanges of the file were not used: a test asserts 0 at its end. */
size_t unit_replay_left(const struct engine_client *c);

#define assert_ok(expr, errp)                                                                      \
    do {                                                                                           \
        if ((expr) < 0)                                                                            \
            fail_msg("%s failed: %s", #expr, *(errp) ? (*(errp))->msg : "(no error)");             \
    } while (0)

#endif
