/* The agent clock of maintenance windows (agent-clock.c): the wall clock, moved by the tests. */
#ifndef M87_AGENT_CLOCK_H
#define M87_AGENT_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define AGENT_CLOCK_MAX_OFFSET 3153600000LL /* of the test clock: 100 years, in seconds */

/* The wall clock of window decisions: time(NULL) plus the offset in seconds held by the file
 * $M87_AGENT_CLOCK_FILE when that is set (tests only: docs/testing.md), read at each call. */
time_t agent_clock_now(void);
/* Whether $M87_AGENT_CLOCK_FILE is set. */
bool agent_clock_is_moved(void);
/* Parse an offset "[-+]SECONDS" (blanks and a newline around it allowed), at most
 * AGENT_CLOCK_MAX_OFFSET either way. Pure. */
bool agent_clock_parse_offset(const char *text, int64_t *offset);

#endif
