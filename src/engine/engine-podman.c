/* What Podman's Docker-compatible service does differently, where the engine layer makes up for
 * it (its errors, 500 with a "cause" where dockerd answers 409, are read in engine-client.c).
 * Podman 4 schedules a container's health checks as systemd timers: on a device whose init is not
 * systemd (and in a container or a test harness without one) the checks never run, and
 * State.Health.Status stays "starting" for ever. Its own API has a call that runs the check once
 * (GET /vLIBPOD/libpod/containers/ID/healthcheck, which also records the result as the timer
 * would), so an inspect of a running container whose check is due runs it and reads the container
 * again. Where systemd's timers do run, the last result is recent and nothing more is run. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/engine-call.h"
#include "m87/engine-containers.h"
#include "m87/error.h"
#include "m87/json.h"

/* Docker's and Podman's interval when a healthcheck leaves it unset. */
#define ENGINE_HEALTH_DEFAULT_INTERVAL_S 30
/* What the call may take beyond the check's own timeout (Podman starts an exec for it). */
#define ENGINE_HEALTH_MARGIN_MS 10000L
#define ENGINE_HEALTH_DEFAULT_TIMEOUT_MS 30000L

/* Milliseconds since the epoch of an RFC 3339 time in UTC ("2026-12-07T02:57:51.212678788Z"),
 * or -1. */
static int64_t utc_ms(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = text ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (rest == NULL)
        return -1;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    if (*rest == '.') {
        int64_t scale = 100;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
            ms += scale * (*rest - '0');
    }
    return ms;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t ns_member(const struct m87_json *obj, const char *key)
{
    return m87_json_int(m87_json_get(obj, key), 0);
}

/* Whether the check of the inspected container doc is due, as dockerd spaces them: one interval
 * after the start, then one interval after the end of the last run. The times are Podman's, by
 * the wall clock we share with it. */
static bool health_due(const struct m87_json *doc, long *timeout_ms)
{
    const struct m87_json *hc = m87_json_path(doc, "Config", "Healthcheck", NULL);
    int64_t interval_ns = ns_member(hc, "Interval");
    int64_t timeout_ns = ns_member(hc, "Timeout");
    *timeout_ms =
        (timeout_ns > 0 ? (long)(timeout_ns / 1000000) : ENGINE_HEALTH_DEFAULT_TIMEOUT_MS) +
        ENGINE_HEALTH_MARGIN_MS;
    int64_t interval_ms =
        interval_ns > 0 ? interval_ns / 1000000 : ENGINE_HEALTH_DEFAULT_INTERVAL_S * 1000;
    const struct m87_json *log = m87_json_path(doc, "State", "Health", "Log", NULL);
    size_t n = m87_json_len(log);
    const char *last = n > 0 ? m87_json_str(m87_json_get(m87_json_at(log, n - 1), "End"), NULL)
                             : m87_json_str(m87_json_path(doc, "State", "StartedAt", NULL), NULL);
    int64_t at = utc_ms(last);
    return at < 0 || now_ms() - at >= interval_ms;
}

bool engine_podman_health_run(struct engine_client *c, const struct engine_container_info *v)
{
    long timeout_ms = 0;
    if (c->libpod_version == NULL || v->health == NULL || !v->running || v->id == NULL ||
        !health_due(v->raw, &timeout_ms))
        return false;
    /* a libpod path, under Podman's own version (4.3 answers 404 without one), not 1.41 */
    _cleanup_free_ char *base = m87_xasprintf("/v%s/libpod/containers/", c->libpod_version);
    _cleanup_free_ char *path = engine_path_seg(base, v->id, "/healthcheck");
    struct engine_response resp;
    engine_response_init(&resp);
    struct engine_call call = {.method = "GET", .timeout_ms = timeout_ms};
    /* its answer is this run's result ("unhealthy" for one failure), not the container's
     * status, which counts failures against the retries: the caller reads that again */
    bool ran = engine_do_unversioned(c, &call, path, &resp, NULL) == 0;
    engine_response_release(&resp);
    return ran;
}
