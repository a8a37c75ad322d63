/* Waits between attempts (sync-backoff.c): reconnect backoff with full jitter, and the tests'
 * knobs that shorten waits. */
#ifndef M87_AGENT_BACKOFF_H
#define M87_AGENT_BACKOFF_H

#include <stdint.h>

#define AGENT_BACKOFF_BASE_MS 1000L
#define AGENT_BACKOFF_CAP_MS 60000L /* M87_AGENT_BACKOFF_MAX_MS lowers it (tests only) */

/* A duration in ms: dflt, or the environment's value for name when it is a smaller positive
 * integer. The tests' knobs (docs/testing.md), never needed in production. */
int64_t agent_env_ms(const char *name, int64_t dflt);
/* The cap of reconnect backoff: AGENT_BACKOFF_CAP_MS, or M87_AGENT_BACKOFF_MAX_MS when set. */
int64_t agent_backoff_cap_ms(void);
/* Full jitter: a random wait in [0, min(cap, base * 2^(failures - 1))] ms; failures >= 1. */
int64_t agent_backoff_ms(unsigned failures, int64_t base_ms, int64_t cap_ms);

#endif
