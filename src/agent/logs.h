/* Log shipping (agent-logs.c): the containers' log lines as "log" records in the journal. */
#ifndef M87_AGENT_LOGS_H
#define M87_AGENT_LOGS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/containers.h"

#define AGENT_LOGS_MAX_LINES 1000u         /* log lines read per container and turn */
#define AGENT_LOG_BATCH_BYTES (32u * 1024) /* of line text per log record */
#define AGENT_LOG_MAX_LINE (8u * 1024)     /* a longer line is cut */

/* Append the containers' new log lines as "log" records, from the cursor kept per container in
 * STATE/logs/ID (moved only after the append). Drops the oldest log records first when the
 * journal reached its cap, and says so in a record. */
void agent_logs_tick(struct agent_daemon *d, const struct agent_container *v, size_t n);
/* Remove the cursors of containers dockerd no longer has (after an apply). */
void agent_logs_forget_gone(struct agent_daemon *d);

/* Parse an RFC 3339 UTC timestamp with up to 9 fraction digits ("2026-11-23T12:00:00.5Z") into
 * seconds and nanoseconds; -1 when it is not one. Pure. */
int agent_parse_timestamp(const char *text, size_t len, int64_t *sec, int32_t *nsec);

#endif
