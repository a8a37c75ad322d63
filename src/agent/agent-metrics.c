/* The device's state as JSON (metrics.h): read from /proc, /sys, statvfs and dockerd; shared by
 * the live query of remote access and the sample sent with the sync. */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "agent/containers.h"
#include "agent/daemon.h"
#include "agent/metrics.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/log.h"
#include "m87/time.h"

#define METRICS_MAX_PROC_FILE (256u * 1024) /* /proc/net/dev of a host with many interfaces */
/* of dockerd's data root in a sample: escaped, at most 6 bytes a byte, so that a sample stays
 * under the server's 4 KiB (SRV_METRICS_MAX_SAMPLE) whatever dockerd says; the rest is numbers */
#define METRICS_MAX_PATH 512u

static char *proc_text(const char *path)
{
    return m87_read_file(path, METRICS_MAX_PROC_FILE, NULL, NULL);
}

bool agent_metrics_parse_stat(const char *text, struct agent_cpu_times *out)
{
    uint64_t v[8] = {0};
    if (!text || sscanf(text,
                        "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                        " %" SCNu64 " %" SCNu64,
                        &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
        return false;
    out->total = 0;
    for (int i = 0; i < 8; i++)
        out->total += v[i];
    out->busy = out->total - v[3] - v[4]; /* idle and iowait */
    return true;
}

int agent_metrics_cpu_percent(const struct agent_cpu_times *a, const struct agent_cpu_times *b)
{
    if (b->total <= a->total || b->busy < a->busy)
        return -1;
    uint64_t busy = b->busy - a->busy, total = b->total - a->total;
    return (int)(busy >= total ? 100 : busy * 100 / total);
}

bool agent_metrics_parse_loadavg(const char *text, int64_t out[3])
{
    double l[3];
    if (!text || sscanf(text, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
        return false;
    for (int i = 0; i < 3; i++) /* hundredths: the JSON writer has integers only */
        out[i] = (int64_t)(l[i] * 100 + 0.5);
    return true;
}

int64_t agent_metrics_parse_meminfo(const char *text, const char *key)
{
    const char *p = text ? strstr(text, key) : NULL;
    long long kb = -1;
    if (p && (p == text || p[-1] == '\n') && sscanf(p + strlen(key), " %lld", &kb) == 1 && kb >= 0)
        return kb * 1024;
    return -1;
}

void agent_metrics_parse_netdev(const char *text, uint64_t *rx, uint64_t *tx)
{
    *rx = *tx = 0;
    /* two header lines, then "  name: rx_bytes packets errs drop fifo frame compressed multicast
     * tx_bytes ..." */
    for (const char *line = text ? strchr(text, '\n') : NULL;
         line && (line = strchr(line + 1, '\n'));) {
        char name[64];
        uint64_t r = 0, t = 0, skip;
        if (sscanf(line + 1,
                   " %63[^:]: %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                   " %" SCNu64 " %" SCNu64 " %" SCNu64,
                   name, &r, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &t) == 10 &&
            strcmp(name, "lo") != 0) {
            *rx += r;
            *tx += t;
        }
    }
}

bool agent_metrics_cpu_now(struct agent_cpu_times *out)
{
    _cleanup_free_ char *text = proc_text("/proc/stat");
    return agent_metrics_parse_stat(text, out);
}

static void load(struct m87_jw *w)
{
    _cleanup_free_ char *text = proc_text("/proc/loadavg");
    int64_t l[3];
    m87_jw_key(w, "load_x100");
    if (!agent_metrics_parse_loadavg(text, l)) {
        m87_jw_null(w);
        return;
    }
    m87_jw_arr_open(w);
    for (int i = 0; i < 3; i++)
        m87_jw_int(w, l[i]);
    m87_jw_arr_close(w);
}

static void memory(struct m87_jw *w)
{
    _cleanup_free_ char *text = proc_text("/proc/meminfo");
    m87_jw_key(w, "memory");
    m87_jw_obj_open(w);
    m87_jw_kint(w, "total", agent_metrics_parse_meminfo(text, "MemTotal:"));
    m87_jw_kint(w, "available", agent_metrics_parse_meminfo(text, "MemAvailable:"));
    m87_jw_obj_close(w);
}

static void disk(struct m87_jw *w, const char *key, const char *path)
{
    struct statvfs sv;
    m87_jw_key(w, key);
    if (!path || strlen(path) > METRICS_MAX_PATH || statvfs(path, &sv) < 0) {
        m87_jw_null(w);
        return;
    }
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "path", path);
    m87_jw_kint(w, "total", (int64_t)sv.f_blocks * (int64_t)sv.f_frsize);
    m87_jw_kint(w, "free", (int64_t)sv.f_bavail * (int64_t)sv.f_frsize);
    m87_jw_obj_close(w);
}

static void network(struct m87_jw *w)
{
    _cleanup_free_ char *text = proc_text("/proc/net/dev");
    uint64_t rx, tx;
    agent_metrics_parse_netdev(text, &rx, &tx);
    m87_jw_key(w, "network");
    m87_jw_obj_open(w);
    m87_jw_kint(w, "rx_bytes", (int64_t)rx);
    m87_jw_kint(w, "tx_bytes", (int64_t)tx);
    m87_jw_obj_close(w);
}

static void temperature(struct m87_jw *w)
{
    glob_t g;
    int64_t best = INT64_MIN;
    if (glob("/sys/class/thermal/thermal_zone*/temp", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            _cleanup_free_ char *t = proc_text(g.gl_pathv[i]);
            long long v = 0;
            if (t && sscanf(t, "%lld", &v) == 1 && v > best)
                best = v;
        }
        globfree(&g);
    }
    m87_jw_key(w, "temperature_mc");
    if (best == INT64_MIN)
        m87_jw_null(w);
    else
        m87_jw_int(w, best);
}

static void uptime(struct m87_jw *w)
{
    _cleanup_free_ char *text = proc_text("/proc/uptime");
    double up = 0;
    m87_jw_key(w, "uptime_s");
    if (text && sscanf(text, "%lf", &up) == 1)
        m87_jw_int(w, (int64_t)up);
    else
        m87_jw_null(w);
}

void agent_metrics_write(struct m87_jw *w, int cpu_percent, const struct engine_system_info *info)
{
    m87_jw_obj_open(w);
    m87_jw_key(w, "cpu_percent");
    if (cpu_percent >= 0)
        m87_jw_int(w, cpu_percent);
    else
        m87_jw_null(w);
    load(w);
    memory(w);
    disk(w, "disk_root", "/");
    disk(w, "disk_docker", info ? info->docker_root_dir : NULL);
    network(w);
    temperature(w);
    uptime(w);
    m87_jw_key(w, "containers");
    if (info) {
        m87_jw_obj_open(w);
        m87_jw_kint(w, "total", info->containers);
        m87_jw_kint(w, "running", info->containers_running);
        m87_jw_obj_close(w);
    } else {
        m87_jw_null(w);
    }
    m87_jw_obj_close(w);
}

bool agent_metrics_sync_field(struct agent_daemon *d, struct m87_jw *w)
{
    int64_t now = m87_mono_ms();
    struct agent_cpu_times cpu = {0};

    if (d->cfg->metrics_interval_ms <= 0 || (d->metrics_due_at != 0 && now < d->metrics_due_at))
        return false;
    bool have_cpu = agent_metrics_cpu_now(&cpu);
    if (d->metrics_due_at == 0) { /* the first sync: the reading the first sample starts from */
        d->metrics_cpu_busy = cpu.busy;
        d->metrics_cpu_total = cpu.total;
        d->metrics_due_at = now + d->cfg->metrics_interval_ms;
        return false;
    }
    struct agent_cpu_times before = {d->metrics_cpu_busy, d->metrics_cpu_total};
    int percent = have_cpu ? agent_metrics_cpu_percent(&before, &cpu) : -1;
    d->metrics_cpu_busy = cpu.busy;
    d->metrics_cpu_total = cpu.total;
    _cleanup_error_ struct m87_error *err = NULL;
    struct engine_client *c = agent_daemon_engine(d, &err);
    struct engine_system_info *info = NULL;
    if (!c || engine_system_info(c, &info, &err) < 0) {
        m87_log(M87_LOG_DEBUG, "metrics sample without dockerd's figures: %s", err->msg);
        info = NULL;
    }
    m87_jw_key(w, "metrics");
    agent_metrics_write(w, percent, info);
    engine_system_info_free(info);
    return true;
}

void agent_metrics_sent(struct agent_daemon *d)
{
    d->metrics_due_at = m87_mono_ms() + d->cfg->metrics_interval_ms;
}
