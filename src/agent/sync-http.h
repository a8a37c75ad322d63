/* The daemon's HTTP client of the server (sync-http.c): the long-polled sync, posts, and bundle
 * downloads resumed where they stopped. */
#ifndef M87_AGENT_SYNC_HTTP_H
#define M87_AGENT_SYNC_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/config.h"
#include "m87/error.h"
#include "m87/spec-bundle.h"

#define AGENT_SYNC_SLACK_S 30L /* request timeout = wait + this */
#define AGENT_CONNECT_TIMEOUT_S 10L
#define AGENT_LOW_SPEED_TIME_S 30L /* a bundle download moving < 1 byte/s this long fails */
#define AGENT_MAX_ANSWER (16u * 1024 * 1024) /* a sync answer: a 4 MiB spec, JSON-escaped */
#define AGENT_HOOKS_PERIOD_MS 1000L /* log shipping and health checks, at most this often */
#define AGENT_LOGS_SYNC_WAIT_S 2L   /* long-poll wait while containers write log lines */

struct agent_http;

/* A client for the configured server; stop, when set by a signal, aborts a transfer. */
struct agent_http *agent_http_new(const struct agent_config *c, volatile sig_atomic_t *stop);
void agent_http_free(struct agent_http *h);
static inline void agent_http_freep(struct agent_http **h)
{
    agent_http_free(*h);
}

/* Called about once per AGENT_HOOKS_PERIOD_MS while the server holds a long-poll whose wait is
 * longer than AGENT_LOGS_SYNC_WAIT_S;
 * returning true ends the request (agent_http_sync fails with M87_E_CANCELLED), as when the
 * daemon has new records to send. It may use other libcurl handles, never this client. */
typedef bool (*agent_http_tick_fn)(void *ctx);
void agent_http_set_tick(struct agent_http *h, agent_http_tick_fn fn, void *ctx);
/* The flag that ends a request when set (NULL: none), as given to agent_http_new. */
void agent_http_set_stop(struct agent_http *h, volatile sig_atomic_t *stop);

/* The URL of `server =` that requests go to now: the first, until one cannot be reached (a
 * connection refused or timed out, or a 502, 503 or 504 answer): then the next, in turn. */
const char *agent_http_server(const struct agent_config *c);

/* In a forked child: close the parent's connection socket, so that the child and what it
 * starts do not keep the daemon's connection open. The handle must not be used afterwards. */
void agent_http_abandon(struct agent_http *h);

/* The seconds the Retry-After header of the last error answer of a sync or post asked for (a 429,
 * 503 or 507), 0 when it had none. */
int64_t agent_http_retry_after(const struct agent_http *h);

/* POST /v1/agent/sync with body; the answer's text into *answer (caller frees). M87_E_CONNECT
 * or M87_E_TIMEOUT when the server cannot be reached, M87_E_HTTP with http_status and the
 * server's message for an error answer, M87_E_CANCELLED when stopped. */
int agent_http_sync(struct agent_http *h, const char *body, long wait_s, char **answer,
                    struct m87_error **err);

/* POST body (JSON) to path with a whole-request bound; the answer's text into *answer. Errors as
 * agent_http_sync. */
int agent_http_post(struct agent_http *h, const char *path, const char *body, long timeout_s,
                    char **answer, struct m87_error **err);

/* Download bundle digest into dir/sha256-HEX.tar.gz: through dir/sha256-HEX.tar.gz.part,
 * resumed with Range where an earlier attempt stopped, checked with spec_bundle_verify before it
 * is renamed into place (a wrong digest removes the part: the next attempt starts over).
 * *gained: bytes received by this call (progress, even when it fails). Errors as above;
 * M87_E_INVAL for a bundle with the wrong digest. */
int agent_http_bundle(struct agent_http *h, const char *digest, const char *dir, int64_t *gained,
                      struct m87_error **err);

#endif
