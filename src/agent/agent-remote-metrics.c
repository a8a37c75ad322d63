/* Remote access, "metrics" (docs/remote.md): one JSON object of the device's state now, read
 * from /proc, /sys, statvfs and dockerd, written as the channel's stdout. */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/agent-remote.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/time.h"

#define METRICS_CPU_SAMPLE_MS 250L
#define METRICS_MAX_PROC_FILE (256u * 1024)

static char *proc_text(const char *path)
{
    return m87_read_file(path, METRICS_MAX_PROC_FILE, NULL, NULL);
}

/* The busy and total jiffies of the "cpu" line of /proc/stat. */
static bool cpu_times(uint64_t *busy, uint64_t *total)
{
    _cleanup_free_ char *text = proc_text("/proc/stat");
    uint64_t v[8] = {0};
    if (!text || sscanf(text,
                        "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                        " %" SCNu64 " %" SCNu64,
                        &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
        return false;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *busy = *total - v[3] - v[4]; /* idle and iowait */
    return true;
}

static void cpu(struct m87_jw *w)
{
    uint64_t b0, t0, b1, t1;
    m87_jw_key(w, "cpu_percent");
    if (!cpu_times(&b0, &t0)) {
        m87_jw_null(w);
        return;
    }
    m87_sleep_ms(METRICS_CPU_SAMPLE_MS);
    if (!cpu_times(&b1, &t1) || t1 <= t0)
        m87_jw_null(w);
    else
        m87_jw_int(w, (int64_t)((b1 - b0) * 100 / (t1 - t0)));
}

static void load(struct m87_jw *w)
{
    _cleanup_free_ char *text = proc_text("/proc/loadavg");
    double l[3];
    m87_jw_key(w, "load_x100");
    if (!text || sscanf(text, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) {
        m87_jw_null(w);
        return;
    }
    m87_jw_arr_open(w);
    for (int i = 0; i < 3; i++) /* hundredths: the JSON writer has integers only */
        m87_jw_int(w, (int64_t)(l[i] * 100 + 0.5));
    m87_jw_arr_close(w);
}

static int64_t meminfo(const char *text, const char *key)
{
    const char *p = text ? strstr(text, key) : NULL;
    long long kb = -1;
    if (p && sscanf(p + strlen(key), " %lld", &kb) == 1)
        return kb * 1024;
    return -1;
}

static void memory(struct m87_jw *w)
{
    _cleanup_free_ char *text = proc_text("/proc/meminfo");
    m87_jw_key(w, "memory");
    m87_jw_obj_open(w);
    m87_jw_kint(w, "total", meminfo(text, "MemTotal:"));
    m87_jw_kint(w, "available", meminfo(text, "MemAvailable:"));
    m87_jw_obj_close(w);
}

static void disk(struct m87_jw *w, const char *key, const char *path)
{
    struct statvfs sv;
    m87_jw_key(w, key);
    if (!path || statvfs(path, &sv) < 0) {
        m87_jw_null(w);
        return;
    }
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "path", path);
    m87_jw_kint(w, "total", (int64_t)sv.f_blocks * (int64_t)sv.f_frsize);
    m87_jw_kint(w, "free", (int64_t)sv.f_bavail * (int64_t)sv.f_frsize);
    m87_jw_obj_close(w);
}

/* Bytes received and sent by every interface but loopback, since boot. */
static void network(struct m87_jw *w)
{
    _cleanup_free_ char *text = proc_text("/proc/net/dev");
    uint64_t rx = 0, tx = 0;
    for (char *line = text ? strchr(text, '\n') : NULL; line && (line = strchr(line + 1, '\n'));) {
        char name[64];
        uint64_t r = 0, t = 0, skip;
        if (sscanf(line + 1,
                   " %63[^:]: %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                   " %" SCNu64 " %" SCNu64 " %" SCNu64,
                   name, &r, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &t) == 10 &&
            strcmp(name, "lo") != 0) {
            rx += r;
            tx += t;
        }
    }
    m87_jw_key(w, "network");
    m87_jw_obj_open(w);
    m87_jw_kint(w, "rx_bytes", (int64_t)rx);
    m87_jw_kint(w, "tx_bytes", (int64_t)tx);
    m87_jw_obj_close(w);
}

/* The hottest thermal zone in millidegrees Celsius, null where the board exposes none. */
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

char *agent_remote_metrics(const char *docker_host)
{
    struct engine_client_options o = {.host = docker_host};
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c = engine_client_new(&o, &err);
    struct engine_system_info *info = NULL;
    if (c && engine_system_info(c, &info, &err) < 0)
        info = NULL;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    cpu(w);
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
    engine_system_info_free(info);
    char *json = m87_jw_finish(w);
    char *line = m87_xasprintf("%s\n", json);
    free(json);
    return line;
}
