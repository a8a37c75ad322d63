/* The device's state as one JSON object (docs/remote.md, "metrics"), in agent-metrics.c: what
 * the live `m87 DEVICE metrics` gets through a remote channel (agent-remote-metrics.c) and the
 * sample the daemon sends with a sync every metrics-interval (daemon-sync.c), so that the server
 * keeps a day of them for a device that went offline.
 *
 * The object: cpu_percent, load_x100 ([1, 5, 15 min] in hundredths), memory {total, available},
 * disk_root and disk_docker {path, total, free}, network {rx_bytes, tx_bytes} (every interface
 * but lo, since boot), temperature_mc (the hottest thermal zone, millidegrees), uptime_s,
 * containers {total, running}. A part that cannot be read is null (disk_docker also when dockerd
 * names a data root longer than 512 bytes: a sample stays under the server's 4 KiB). Reading it
 * loads nothing new into the agent: /proc, /sys, statvfs, and dockerd's GET /info over the client
 * it has. */
#ifndef M87_AGENT_METRICS_H
#define M87_AGENT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "m87/engine.h"
#include "m87/json-write.h"

struct agent_daemon;

/* The busy and total jiffies of all CPUs since boot ("cpu" line of /proc/stat). */
struct agent_cpu_times {
    uint64_t busy; /* total less idle and iowait */
    uint64_t total;
};

/* ---- pure parsers of the kernel's text (unit-tested) ---------------------------------------- */

/* The "cpu" line of /proc/stat's text; false when it is not there or has fewer than 4 numbers. */
bool agent_metrics_parse_stat(const char *text, struct agent_cpu_times *out);
/* The percent of busy time between two readings, 0 to 100; -1 when b is not after a. */
int agent_metrics_cpu_percent(const struct agent_cpu_times *a, const struct agent_cpu_times *b);
/* /proc/loadavg's three averages in hundredths, rounded; false when it does not start with 3. */
bool agent_metrics_parse_loadavg(const char *text, int64_t out[3]);
/* The bytes of a /proc/meminfo key ("MemTotal:"), -1 when it is not there. */
int64_t agent_metrics_parse_meminfo(const char *text, const char *key);
/* The bytes received and sent by every interface of /proc/net/dev's text but lo. */
void agent_metrics_parse_netdev(const char *text, uint64_t *rx, uint64_t *tx);

/* ---- reading the device --------------------------------------------------------------------- */

/* /proc/stat now; false when it cannot be read. */
bool agent_metrics_cpu_now(struct agent_cpu_times *out);

/* Write the object described above; cpu_percent < 0 writes null, info NULL (dockerd did not
 * answer) writes disk_docker and containers as null. */
void agent_metrics_write(struct m87_jw *w, int cpu_percent, const struct engine_system_info *info);

/* ---- the sample sent with the sync (docs/agent.md, "Metrics samples") ----------------------- */

/* When a sample is due (metrics-interval passed since the last one reached the server; the
 * first one an interval after the first sync), write "metrics": {...} into the sync body w, with
 * cpu_percent the average since the previous sample, and return true. The first call only takes
 * the CPU reading the first sample is measured from. Off (false, nothing written) with
 * metrics-interval = 0. */
bool agent_metrics_sync_field(struct agent_daemon *d, struct m87_jw *w);
/* The server received the body the sample went with: the next is due an interval from now. */
void agent_metrics_sent(struct agent_daemon *d);

#endif
