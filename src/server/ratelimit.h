/* m87-server private: the limit of failed authentications per source (ratelimit.c). */
#ifndef M87_SERVER_RATELIMIT_H
#define M87_SERVER_RATELIMIT_H

#include <stdint.h>

#define SRV_AUTH_FAIL_LIMIT 30 /* failures a source may have in a row, and per minute after */

struct sockaddr;
struct srv_ratelimit;

/* A limit of per_minute failures per source (an IPv4 address, an IPv6 /64), with as many in a
 * row; NULL (no limit) for 0. Thread-safe; memory is fixed whatever the number of sources. */
struct srv_ratelimit *srv_ratelimit_new(unsigned per_minute);
void srv_ratelimit_free(struct srv_ratelimit *rl);
/* 0 when the source may go on, else the ms until it may fail once more. */
int64_t srv_ratelimit_wait(struct srv_ratelimit *rl, const struct sockaddr *sa, int64_t now_ms);
/* Count a failed authentication of the source. */
void srv_ratelimit_failed(struct srv_ratelimit *rl, const struct sockaddr *sa, int64_t now_ms);

#endif
