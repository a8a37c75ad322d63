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
 * Each is replaced atomically.
 */
#ifndef M87_AGENT_DAEMON_H
#define M87_AGENT_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "m87/runner-journal.h"
#include "m87/runner-state.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/common.h"
#include "m87/sign.h"
#include "m87/spec.h"

#define AGENT_DEFAULT_CONFIG "/etc/m87/agent.conf"
#define AGENT_MAX_CONFIG (64u * 1024)
#define AGENT_SYNC_WAIT_S 120L /* long-poll wait asked of the server */
#define AGENT_SYNC_SLACK_S 30L /* request timeout = wait + this */
#define AGENT_CONNECT_TIMEOUT_S 10L
#define AGENT_GOODBYE_TIMEOUT_S 3L  /* the last sync of a clean stop: no longer than this */
#define AGENT_LOW_SPEED_TIME_S 30L  /* a bundle download moving < 1 byte/s this long fails */
#define AGENT_MAX_SYNC_REPORTS 500u /* the server's limit per sync */
#define AGENT_MAX_SYNC_BYTES                                                                       \
    (3u * 1024 * 1024)                       /* of records per sync (the body limit is 4 MiB)      \
                                              */
#define AGENT_MAX_ANSWER (16u * 1024 * 1024) /* a sync answer: a 4 MiB spec, JSON-escaped */
#define AGENT_BACKOFF_BASE_MS 1000L
#define AGENT_BACKOFF_CAP_MS 60000L       /* M87_AGENT_BACKOFF_MAX_MS lowers it (tests only) */
#define AGENT_APPLY_RETRY_BASE_MS 30000L  /* a failed apply is tried again after this, doubled */
#define AGENT_APPLY_RETRY_CAP_MS 1800000L /* up to 30 min */
#define AGENT_BUSY_SYNC_MS 1000L       /* sync period while an apply runs and reports are queued */
#define AGENT_BUSY_IDLE_SYNC_MS 15000L /* ... and while it runs with nothing queued */
#define AGENT_FETCH_TRIES 5            /* bundle download attempts without progress, per apply */
#define AGENT_HOOKS_PERIOD_MS 1000L    /* log shipping and health checks, at most this often */
#define AGENT_LOGS_SYNC_WAIT_S 2L      /* long-poll wait while containers write log lines */
#define AGENT_LOGS_ACTIVE_MS 30000L    /* ... for this long after the last line shipped */
#define AGENT_LOGS_MAX_LINES 1000u     /* log lines read per container and turn */
#define AGENT_LOG_BATCH_BYTES (32u * 1024)           /* of line text per log record */
#define AGENT_LOG_MAX_LINE (8u * 1024)               /* a longer line is cut */
#define AGENT_JOURNAL_MAX_BYTES (16 * 1024 * 1024LL) /* journal cap: oldest log records go */
#define AGENT_MIN_FREE_BYTES (512 * 1024 * 1024LL)   /* free space kept beside the images */
#define AGENT_KEEP_PREVIOUS 1                        /* revisions whose images pruning keeps */
#define AGENT_MAX_WINDOWS 32 /* maintenance windows of a target (the server's limit) */
#define AGENT_CLOCK_MAX_OFFSET 3153600000LL /* of the test clock: 100 years, in seconds */
#define AGENT_WINDOW_TEST_WAIT_S 2L         /* long-poll wait while the test clock is in use */

/* Exit statuses of the apply child. */
enum {
    AGENT_APPLY_OK = 0,     /* every job succeeded */
    AGENT_APPLY_FAILED = 1, /* applied, a job failed (details in the reports) */
    AGENT_APPLY_NOT = 3,    /* not applied: a bundle could not be fetched, the state failed */
};

/* ---- configuration (daemon-config.c) --------------------------------------------------------- */

struct agent_config {
    char *server; /* URL without a trailing '/' */
    char *token;
    char *state_dir; /* absolute */
    char *docker_host;
    char *ca_file;
    bool insecure_http;
    bool insecure_http_set;
    int64_t journal_max_bytes; /* the journal's cap; log records go first */
    bool journal_max_bytes_set;
    int64_t min_free_bytes; /* free space an apply leaves where dockerd keeps images */
    bool min_free_bytes_set;
    int64_t keep_previous; /* earlier revisions whose images pruning keeps */
    bool keep_previous_set;
    struct m87_strv trust;            /* public key files (--trust, `trust = FILE`) */
    bool trust_set;                   /* given as flags: the file's lines are ignored */
    struct m87_sign_key **trust_keys; /* loaded by agent_config_finish */
    size_t n_trust_keys;
};

void agent_config_release(struct agent_config *c);

/* Read `key = value` lines ('#' comments, blank lines) from path into the fields of c that are
 * still unset (flags win). Keys: server, token, state-dir, docker-host, ca-file, insecure-http
 * (true/false), journal-max-bytes, min-free-bytes (sizes: 16MiB), keep-previous (a count),
 * trust (a public key file; repeatable, ignored when --trust was given); '_' may stand for '-' in
 * a key. must_exist false: a missing file is no error. M87_E_INVAL "PATH:LINE:
 * ..." for an unknown key or a line without '='; M87_E_IO when it cannot be read. */
int agent_config_load(const char *path, bool must_exist, struct agent_config *c,
                      struct m87_error **err);

/* Defaults, and the checks: server and token present, http:// only with insecure_http, the
 * state dir made absolute, every trust file loaded into trust_keys. M87_E_INVAL with a message
 * for people. */
int agent_config_finish(struct agent_config *c, struct m87_error **err);

/* ---- HTTP to the server (sync-http.c) -------------------------------------------------------- */

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

/* In a forked child: close the parent's connection socket, so that the child and what it
 * starts do not keep the daemon's connection open. The handle must not be used afterwards. */
void agent_http_abandon(struct agent_http *h);

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

/* ---- backoff (sync-backoff.c) ---------------------------------------------------------------- */

/* A duration in ms: dflt, or the environment's value for name when it is a smaller positive
 * integer. The tests' knobs (docs/testing.md), never needed in production. */
int64_t agent_env_ms(const char *name, int64_t dflt);
/* The cap of reconnect backoff: AGENT_BACKOFF_CAP_MS, or M87_AGENT_BACKOFF_MAX_MS when set. */
int64_t agent_backoff_cap_ms(void);
/* Full jitter: a random wait in [0, min(cap, base * 2^(failures - 1))] ms; failures >= 1. */
int64_t agent_backoff_ms(unsigned failures, int64_t base_ms, int64_t cap_ms);

/* ---- targets (daemon-target.c) --------------------------------------------------------------- */

/* A target revision as the server sends it, parsed. stop: the JSON null (no active deployment:
 * stop every job); then hash and deployment are NULL and rs has no jobs. */
struct agent_target {
    bool stop;
    char *hash;
    char *deployment;
    int64_t revision;
    struct spec_runspec *rs;
    char *text; /* the JSON as stored */
    /* the device's policy sent with it (docs/api.md, "Policy"); none for a stop target */
    struct spec_window windows[AGENT_MAX_WINDOWS]; /* the switch waits for one of them */
    size_t n_windows;
    bool prefetch_window; /* "prefetch": "window": pulls only inside a window */
    bool now;             /* apply at once, windows or not */
    bool has_policy;
    int64_t policy;
};

void agent_target_release(struct agent_target *t);
/* Parse the target node of a sync answer (an object or null); its spec is checked with
 * spec_runspec_parse. */
int agent_target_from_json(const struct m87_json *node, struct agent_target *t,
                           struct m87_error **err);
/* Read a stored target: 1 and *t, 0 when the file does not exist, -1 on an unreadable file. */
int agent_target_load(const char *path, struct agent_target *t, struct m87_error **err);
int agent_target_save(const char *path, const struct agent_target *t, struct m87_error **err);
/* "3 (3242ec69ac96) of d-03758bee", or "none (stop everything)". Caller frees. */
char *agent_target_describe(const struct agent_target *t);
/* Both stop, or both the same revision hash. */
bool agent_target_same_revision(const struct agent_target *a, const struct agent_target *b);

/* ---- signed targets (daemon-trust.c, docs/security.md) --------------------------------------- */

struct agent_daemon;
/* With trusted keys configured: 0 when t's signature verifies with one of them and t's spec
 * hashes to the signed hash; -1 otherwise, after logging and journaling a "target" report
 * "refused" naming why (once per target: a repeat is only paced). 0 without trusted keys. */
int agent_trust_check(struct agent_daemon *d, const struct agent_target *t);

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

    /* maintenance windows and prefetch (agent-window.c) */
    struct agent_window_state *win;
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
 * pruning): called once per loop turn, when no apply runs (idle) or always (tick). */
void agent_daemon_hooks_tick(struct agent_daemon *d);
void agent_daemon_hooks_after_apply(struct agent_daemon *d, int status);

/* ---- sync execution (agent-session*.c) ------------------------------------------------------- */

struct agent_sessions;
/* The "sessions" of a sync answer: each one not seen before runs in a child of its own, which
 * reports to the server itself (docs/agent.md, "Sessions"). */
void agent_sessions_take(struct agent_daemon *d, const struct m87_json *list);
/* Reap the session children that ended. */
void agent_sessions_reap(struct agent_daemon *d);
/* Whether a session child runs. */
bool agent_sessions_running(const struct agent_daemon *d);
/* At exit: stop the session children (their commands get SIGTERM) and free the set. */
void agent_sessions_stop(struct agent_daemon *d);

/* ---- containers of the applied jobs (agent-health.c) ----------------------------------------- */

/* A container of a job the runner applied: found by the compose label of its project's working
 * directory, which is the job's workdir or a directory inside it. */
struct agent_container {
    char *id;
    char *name;
    char *job;
    char *job_hash;
    char *service;
    char *state;    /* created, running, paused, restarting, exited, dead */
    char *status;   /* "Up 3 seconds (healthy)" */
    char *image;    /* the reference it was created from (or the image ID when the tag moved) */
    char *image_id; /* "sha256:..." */
};

/* The containers of every job in the runner's state. */
int agent_containers_list(struct agent_daemon *d, struct agent_container **out, size_t *n,
                          struct m87_error **err);
void agent_containers_free(struct agent_container *v, size_t n);
/* The daemon's engine client, opened on first use. */
struct engine_client *agent_daemon_engine(struct agent_daemon *d, struct m87_error **err);

/* Health-change reports: a "health" record for a container whose state (running, unhealthy,
 * exited, ...) differs from the one last reported, kept in STATE/health.json. */
void agent_health_tick(struct agent_daemon *d, const struct agent_container *v, size_t n);

/* ---- log shipping (agent-logs.c) ------------------------------------------------------------- */

/* Append the containers' new log lines as "log" records, from the cursor kept per container in
 * STATE/logs/ID (moved only after the append). Drops the oldest log records first when the
 * journal reached its cap, and says so in a record. */
void agent_logs_tick(struct agent_daemon *d, const struct agent_container *v, size_t n);
/* Remove the cursors of containers dockerd no longer has (after an apply). */
void agent_logs_forget_gone(struct agent_daemon *d);

/* Parse an RFC 3339 UTC timestamp with up to 9 fraction digits ("2026-11-23T12:00:00.5Z") into
 * seconds and nanoseconds; -1 when it is not one. Pure. */
int agent_parse_timestamp(const char *text, size_t len, int64_t *sec, int32_t *nsec);

/* ---- disk space and pruning (agent-disk.c, agent-prune.c) ------------------------------------ */

/* In the apply child, before the runner: refuse (1, with *message "not enough free space on DIR:
 * X free, Y needed") when the images dockerd keeps leave less than min_free_bytes free; 0 when
 * there is room or nothing to pull, -1 with *err when dockerd cannot be asked. */
int agent_disk_check(struct agent_daemon *d, const struct spec_runspec *rs, char **message,
                     struct m87_error **err);
/* Whether the runner will run job's steps: it is new, changed, or did not succeed. */
bool agent_disk_job_pending(const char *state_dir, const struct spec_job *job);

/* After an apply that succeeded: remember the images of the applied jobs' containers for the
 * revision (STATE/images.json), and remove the images of older revisions than the applied one
 * and keep-previous before it, unless a kept revision or any container uses them. Images the
 * agent did not see its jobs use are never touched. */
void agent_prune_images(struct agent_daemon *d);
/* After a successful apply, unless a session runs: remove the bundles (and partial downloads)
 * in STATE/bundles that neither the applied revision, the stored target nor a job record names
 * (agent-prune-bundles.c). */
void agent_prune_bundles(struct agent_daemon *d);

/* ---- maintenance windows and prefetch (agent-clock.c, agent-window*.c, agent-prefetch.c) ---- */

/* The wall clock of window decisions: time(NULL) plus the offset in seconds held by the file
 * $M87_AGENT_CLOCK_FILE when that is set (tests only: docs/testing.md), read at each call. */
time_t agent_clock_now(void);
/* Whether $M87_AGENT_CLOCK_FILE is set. */
bool agent_clock_is_moved(void);
/* Parse an offset "[-+]SECONDS" (blanks and a newline around it allowed), at most
 * AGENT_CLOCK_MAX_OFFSET either way. Pure. */
bool agent_clock_parse_offset(const char *text, int64_t *offset);

/* Whether the apply of d->target may start now: always for the applied revision (a retry, the
 * check after a start) and for a target without windows or with "now"; a switch to another
 * revision only inside a window by the agent clock. */
bool agent_window_apply_allowed(const struct agent_daemon *d);
/* Once per loop turn, before the apply is considered: reap the prefetch child, report a wait for
 * a window (a "window" record when it changes), start the pulls of the waiting revision (and of
 * the images the server asks for) when the prefetch policy allows. */
void agent_window_tick(struct agent_daemon *d);
/* The apply of d->child_target starts: stop the prefetch child, report the window open, and
 * note a switch as begun (d->switching, kept in STATE/switching). */
void agent_window_apply_starts(struct agent_daemon *d);
/* A begun switch from STATE/switching, at start. */
void agent_window_load_switch(struct agent_daemon *d);
/* The begun switch is over (applied) or moot (another target): forget it. */
void agent_window_switch_over(struct agent_daemon *d);
/* The long-poll wait bounded by the next window start (wait seconds asked otherwise), and by
 * AGENT_WINDOW_TEST_WAIT_S while the test clock is in use. */
long agent_window_sync_wait(const struct agent_daemon *d, long wait);
/* Pure: wait bounded by the seconds from now to the next window start of a waiting target. */
long agent_window_wait_bound(const struct agent_daemon *d, time_t now, long wait);
/* Pure: whether the target is a switch to another revision that waits for a window at now. */
bool agent_window_waits(const struct agent_daemon *d, time_t now);
/* The hash of the stored target that waits (for a window, or for an apply retry), which the sync
 * tells the server so that it does not send it again; NULL when none. */
const char *agent_window_waiting_hash(const struct agent_daemon *d);
/* The sync request's fields of the windows: "policy" (of the stored target, null when none) and
 * "waiting" (agent_window_waiting_hash, null when none). */
void agent_window_sync_fields(const struct agent_daemon *d, struct m87_jw *w);
/* Take the "prefetch_images" member of a sync answer (NULL: none): the images the server asks
 * the device to pull ahead of any deployment, with the windows and policy that apply to them. */
void agent_prefetch_take(struct agent_daemon *d, const struct m87_json *node);
/* Stop the prefetch child and free what the windows keep. */
void agent_window_release(struct agent_daemon *d);

/* Pure: "RFC 3339" UTC text of t, "2026-11-23T02:00:00Z". Caller frees. */
char *agent_window_time_text(time_t t);

/* The images the enabled jobs of rs use: for each job with native compose steps, its compose
 * project loaded from the job's files and bundle written into work_dir/ID (removed again), with
 * the -f, --env-file and --profile options of its first native pull or up step and the job's
 * env. Images in service order, each once; services with pull_policy never have none. */
int agent_revision_images(const struct spec_runspec *rs, const char *state_dir,
                          const char *bundles_dir, const char *work_dir, struct m87_strv *images,
                          struct m87_error **err);
/* Download a bundle of the target into d->bundles_dir (resumed while attempts make progress):
 * the apply's own download, shared with the prefetch. */
int agent_apply_fetch_bundle(const struct agent_daemon *d, struct agent_http *h, const char *digest,
                             struct m87_error **err);
/* In a child just forked from the daemon: die with it, default signals, and let go of what is
 * the daemon's alone (its lock, signal pipe, server connection and journal handle). */
void agent_child_detach(struct agent_daemon *d, pid_t parent);

#endif
