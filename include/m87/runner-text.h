/* Pure helpers of the runner (runner-text.c): the output tail of a step, UTF-8 cleaning,
 * spotting native compose commands, retry arithmetic, clocks.
 */
#ifndef M87_RUNNER_TEXT_H
#define M87_RUNNER_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/list.h"
#include "m87/spec-runspec.h"
#include "m87/time.h"


#define RUNNER_OUTPUT_TAIL 4096u /* bytes of output kept per step attempt */

/* The last RUNNER_OUTPUT_TAIL bytes of a stream. */
struct runner_tail {
    char buf[RUNNER_OUTPUT_TAIL];
    size_t start; /* ring start when full */
    size_t len;
    bool cut; /* something was dropped */
};

void runner_tail_add(struct runner_tail *t, const char *data, size_t len);
/* The tail as valid UTF-8 without NUL bytes (bad bytes become '?', a character cut at the
 * start is dropped). Caller frees. */
char *runner_tail_text(const struct runner_tail *t);

/* Valid UTF-8 without NUL: bad bytes become '?'. Caller frees. */
char *runner_utf8_clean(const char *data, size_t len);

/* When run is `docker compose ARGS` or `docker-compose ARGS` (a string without shell
 * metacharacters, split on blanks, or an argv) whose subcommand the native executor has, fill
 * argv with "compose" and ARGS and return true. Otherwise false and argv untouched. */
bool runner_native_compose(const struct spec_run *run, struct m87_strv *argv);

/* Whether a failed attempt (exit_code, 128+signal for a signal) may be tried again. */
bool runner_should_retry(const struct spec_retry *r, int64_t attempt, int exit_code);
/* The wait before attempt number next (2 = the first retry): backoff doubled per retry. */
int64_t runner_backoff_ns(const struct spec_retry *r, int64_t next);

/* "2026-11-23T12:00:00.123Z" for now (UTC). Caller frees. */
char *runner_now_rfc3339(void);
/* Monotonic milliseconds. */
int64_t m87_mono_ms(void);

#endif
