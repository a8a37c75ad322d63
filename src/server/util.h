/* m87-server private: small helpers (util.c), the pure ones unit-tested: names and ids checked,
 * times, numbers and Range headers parsed, and a condition variable on the monotonic clock. */
#ifndef M87_SERVER_UTIL_H
#define M87_SERVER_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* [a-z0-9][a-z0-9_.-]{0,62} */
bool srv_valid_device_name(const char *s);
/* "d-" + 8 lower-case hex digits */
bool srv_valid_deployment_id(const char *s);
/* 64 lower-case hex digits */
bool srv_valid_hex64(const char *s);
/* s (NULL: false) is len characters, each one of set */
bool srv_all_of(const char *s, size_t len, const char *set);
/* RFC 3339 UTC with seconds; t == 0 gives "" (callers write null instead). */
void srv_time_format(int64_t t, char out[32]);
int64_t srv_now(void);
/* Initialise c so that pthread_cond_timedwait on it takes a CLOCK_MONOTONIC deadline (one that
 * a change of the wall clock does not move). */
void srv_cond_init_monotonic(pthread_cond_t *c);
/* End thread, which waits on cond under mu until *quit: set *quit under mu, wake it, join it,
 * then destroy cond. */
void srv_thread_stop(pthread_t thread, pthread_mutex_t *mu, pthread_cond_t *cond, bool *quit);
/* Parse a decimal integer in [min, max] taking the whole string; -1 when it is not one. */
int srv_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* Range header against a resource of size bytes: 0 = serve the whole body (no header, or one
 * that is ignored), 1 = bytes [*first, *last], -1 = unsatisfiable (416). */
int srv_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last);

#endif
