/* Reconnect and retry waits: exponential with full jitter, so that devices that lost the server
 * together do not come back together. */
#include <stdlib.h>
#include <string.h>

#include "agent/backoff.h"
#include "agent/daemon.h"
#include "m87/hash.h"

int64_t agent_env_ms(const char *name, int64_t dflt)
{
    const char *env = getenv(name);
    char *end = NULL;

    if (env && *env) {
        long long v = strtoll(env, &end, 10);
        if (*end == '\0' && v > 0 && v < dflt)
            return v;
    }
    return dflt;
}

int64_t agent_backoff_cap_ms(void)
{
    return agent_env_ms("M87_AGENT_BACKOFF_MAX_MS", AGENT_BACKOFF_CAP_MS);
}

int64_t agent_backoff_ms(unsigned failures, int64_t base_ms, int64_t cap_ms)
{
    int64_t ceiling = base_ms;
    uint64_t r = 0;

    for (unsigned i = 1; i < failures && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    if (ceiling <= 0)
        return 0;
    if (m87_random_bytes(&r, sizeof(r), NULL) < 0)
        r = (uint64_t)rand();
    return (int64_t)(r % (uint64_t)(ceiling + 1));
}
