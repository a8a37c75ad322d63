/* The device daemon `m87-agent run` (docs/agent.md, "The daemon"): one single-threaded loop
 * that long-polls the server with the applied revision and the queued reports, keeps the target
 * revision on disk, and applies it in a forked child so that reports keep flowing while it runs.
 *
 * Files under the state directory, besides the runner's (runner.h):
 *   daemon.lock    flock'ed by the one daemon allowed at a time
 *   target.json    the target revision as the server sent it ({"deployment","revision","hash",
 *                  "spec"}, or null for "stop everything")
 *   applied.json   the target the last finished apply was for, in the same form
 *   daemon.json    what `m87-agent status` shows: connected, last sync, revisions, queue
 *   bundles/       bundles downloaded (sha256-HEX.tar.gz, .part while incomplete)
 *   registries.json  the server's registry credentials, mode 0600 (agent/registries.h)
 * Each is replaced atomically.
 */
#ifndef M87_AGENT_DAEMON_H
#define M87_AGENT_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/config.h"
#include "agent/target.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner.h"
#include "m87/sign.h"
#include "m87/spec-bundle.h"
#include "m87/spec-runspec.h"
#include "m87/spec-window.h"
#include "m87/units.h"
#include "m87/version.h"

#define AGENT_SYNC_WAIT_S 120L      /* long-poll wait asked of the server */
#define AGENT_GOODBYE_TIMEOUT_S 3L  /* the last sync of a clean stop: no longer than this */
#define AGENT_MAX_SYNC_REPORTS 500u /* the server's limit per sync */
/* of records per sync (the body limit is 4 MiB) */
#define AGENT_MAX_SYNC_BYTES (3u * 1024 * 1024)
#define AGENT_APPLY_RETRY_BASE_MS 30000L  /* a failed apply is tried again after this, doubled */
#define AGENT_APPLY_RETRY_CAP_MS 1800000L /* up to 30 min */
#define AGENT_BUSY_SYNC_MS 1000L       /* sync period while an apply runs and reports are queued */
#define AGENT_BUSY_IDLE_SYNC_MS 15000L /* ... and while it runs with nothing queued */
#define AGENT_FETCH_TRIES 5            /* bundle download attempts without progress, per apply */
/* the long-poll waits AGENT_LOGS_SYNC_WAIT_S for this long after the last line shipped */
#define AGENT_LOGS_ACTIVE_MS 30000L

/* Exit statuses of the apply child. */
enum {
    AGENT_APPLY_OK = 0,     /* every job succeeded */
    AGENT_APPLY_FAILED = 1, /* applied, a job failed (details in the reports) */
    AGENT_APPLY_NOT = 3,    /* not applied: a bundle could not be fetched, the state failed */
};

struct agent_http;
struct runner_journal;
struct engine_client;
struct agent_sessions;
struct agent_window_state;
struct agent_rollout;

/* ---- the daemon (daemon.c, daemon-apply.c, daemon-sync.c, daemon-state.c) -------------------- */

struct agent_daemon {
    struct agent_config *cfg;
    struct agent_http *http;
    struct runner_journal *journal;
    int lock_fd;
    int sig_pipe[2];
    volatile sig_atomic_t *stop;
    char *target_path;
    char *applied_path;
    /* the revision whose switch began inside a window (STATE/switching): it goes on to its end
     * whatever the window, across restarts and retries, until it is applied */
    char switching[M87_SHA256_HEX_LEN + 1];
    char *state_path;
    char *bundles_dir;
    char *registries_path;
    /* the digest of the registry credentials registries.json holds, "" for none */
    char registries_digest[M87_SHA256_HEX_LEN + 1];

    bool has_target;            /* target.json holds one */
    struct agent_target target; /* the desired revision */
    bool has_applied;
    struct agent_target applied; /* what the last finished apply was for */
    char *rejected;              /* hash of a target whose spec could not be read */
    bool pace;                   /* the last answer repeated a refused target */
    bool news;                   /* the last answer brought a new target or sessions */
    unsigned early_answers;      /* answers in a row that came before the wait without news */
    /* digest of the last target the trust check refused */
    char refused[M87_SHA256_HEX_LEN + 1];
    char *device_name;       /* pinned: what signatures name (daemon-trust-seen.c) */
    bool device_name_warned; /* the server said another name, logged once */
    bool prefetch_warned;    /* a prefetch list ignored under trusted keys, logged once */

    pid_t child; /* the apply in progress, 0 when none */
    int child_fd;
    struct agent_target child_target;
    bool startup; /* the first apply after start has not run yet */
    unsigned apply_failures;
    int64_t apply_retry_at; /* monotonic ms; 0: none */

    bool connected;
    unsigned sync_failures;
    int64_t next_sync_at; /* monotonic ms */
    char *last_sync;
    char *last_error;
    int64_t queue;
    char *state_text; /* daemon.json as last written */

    struct engine_client *engine;    /* for the hooks, opened on first need */
    struct agent_sessions *sessions; /* sync execution: the session children (agent-session.c) */
    int64_t hooks_at;                /* monotonic ms: when the hooks are due again */
    int64_t logs_active_until;       /* monotonic ms: lines were shipped lately */
    int64_t logs_active_ms; /* AGENT_LOGS_ACTIVE_MS, or M87_AGENT_LOGS_ACTIVE_MS (the tests) */
    bool journal_full;      /* the cap is reached and no log record is left to drop */

    /* maintenance windows and prefetch (agent-window*.c, agent-prefetch*.c) */
    struct agent_window_state *win;
    /* the watch of a revision a rollout placed, and the target kept to go back to
     * (agent-rollout.c) */
    struct agent_rollout *rollout;
    /* the metrics sample sent with the sync (agent-metrics.c): when the next is due (monotonic
     * ms; 0 before the first sync) and the CPU reading the previous one ended at */
    int64_t metrics_due_at;
    uint64_t metrics_cpu_busy, metrics_cpu_total;
};

/* Run until SIGTERM or SIGINT; 0, or -1 with *err when it cannot start. */
int agent_daemon_run(struct agent_config *cfg, struct m87_error **err);

/* Start the apply of d->target in a child when one is due; reap a finished one. */
void agent_daemon_apply_tick(struct agent_daemon *d);
void agent_daemon_apply_reap(struct agent_daemon *d);
/* Stop a running apply (SIGTERM, then wait). */
void agent_daemon_apply_kill(struct agent_daemon *d);

/* One sync with the server; schedules the next one (d->next_sync_at). */
void agent_daemon_sync(struct agent_daemon *d);
/* At a clean stop, when the server was reachable: a last sync with "offline": true and the
 * queued reports, bounded by AGENT_GOODBYE_TIMEOUT_S, so the device shows offline at once. */
void agent_daemon_goodbye(struct agent_daemon *d);

/* Write daemon.json when what it shows changed. */
void agent_daemon_save_state(struct agent_daemon *d);
/* The hash the device reports as applied (NULL: none). */
static inline const char *agent_daemon_applied_hash(const struct agent_daemon *d)
{
    return d->has_applied && !d->applied.stop ? d->applied.hash : NULL;
}

/* Hooks for the periodic work of other parts (log shipping, health reports, disk checks, image
 * pruning), in daemon-hooks.c: called once per loop turn, when no apply runs (idle) or always
 * (tick). */
void agent_daemon_hooks_tick(struct agent_daemon *d);
void agent_daemon_hooks_after_apply(struct agent_daemon *d, int status);

/* ---- the daemon's children (daemon-child.c) -------------------------------------------------- */

/* Download a bundle of the target into d->bundles_dir (resumed while attempts make progress):
 * the apply's own download, shared with the prefetch. */
int agent_apply_fetch_bundle(const struct agent_daemon *d, struct agent_http *h, const char *digest,
                             struct m87_error **err);
/* In a child just forked from the daemon: die with it, default signals, and let go of what is
 * the daemon's alone (its lock, signal pipe, server connection and journal handle). */
void agent_child_detach(struct agent_daemon *d, pid_t parent);

#endif
