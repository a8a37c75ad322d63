/* Remote access, "metrics" (docs/remote.md): one JSON object of the device's state now
 * (agent/metrics.h), written as the channel's stdout. */
#include <stdlib.h>

#include "agent/agent-remote.h"
#include "agent/metrics.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/time.h"

#define METRICS_CPU_SAMPLE_MS 250L

/* The CPU's use over METRICS_CPU_SAMPLE_MS, -1 when /proc/stat cannot be read. */
static int cpu_now(void)
{
    struct agent_cpu_times a, b;
    if (!agent_metrics_cpu_now(&a))
        return -1;
    m87_sleep_ms(METRICS_CPU_SAMPLE_MS);
    return agent_metrics_cpu_now(&b) ? agent_metrics_cpu_percent(&a, &b) : -1;
}

char *agent_remote_metrics(const char *docker_host)
{
    struct engine_client_options o = {.host = docker_host};
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c = engine_client_new(&o, &err);
    struct engine_system_info *info = NULL;
    if (c && engine_system_info(c, &info, &err) < 0)
        info = NULL;
    struct m87_jw *w = m87_jw_new();
    agent_metrics_write(w, cpu_now(), info);
    engine_system_info_free(info);
    char *json = m87_jw_finish(w);
    char *line = m87_xasprintf("%s\n", json);
    free(json);
    return line;
}
