/* Health-change reports about the containers of the applied jobs (agent-health.c). */
#ifndef M87_AGENT_HEALTH_H
#define M87_AGENT_HEALTH_H

#include <stddef.h>

#include "agent/containers.h"

/* Health-change reports: a "health" record for a container whose state (running, unhealthy,
 * exited, ...) differs from the one last reported, kept in STATE/health.json. */
void agent_health_tick(struct agent_daemon *d, const struct agent_container *v, size_t n);

#endif
