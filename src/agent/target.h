/* The target revision the server sends (daemon-target.c): parsed, stored in STATE/target.json
 * and STATE/applied.json, compared. */
#ifndef M87_AGENT_TARGET_H
#define M87_AGENT_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"
#include "m87/spec-window.h"


#define AGENT_MAX_WINDOWS 32 /* maintenance windows of a target (the server's limit) */
#define AGENT_ROLLOUT_MAX_NAME 128        /* a rollout id or fleet name */
#define AGENT_ROLLOUT_MAX_WINDOW_S 604800 /* a health window: at most a week */

/* The rollout that placed a target on the device (docs/api.md, "rollout"): the agent watches the
 * revision for window_s seconds after its apply and goes back to the revision before by itself
 * when it fails (agent-rollout.c). */
struct agent_target_rollout {
    char *id;
    char *fleet;
    int64_t release;
    int64_t window_s;
};

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
    bool has_rollout; /* placed by a rollout that still watches the device */
    struct agent_target_rollout rollout;
};

void agent_target_release(struct agent_target *t);
/* Parse the target node of a sync answer (an object or null); its spec is checked with
 * spec_runspec_parse. */
int agent_target_from_json(const struct m87_json *node, struct agent_target *t,
                           struct m87_error **err);
/* Read a stored target: 1 and *t, 0 when the file does not exist, -1 on an unreadable file. */
int agent_target_load(const char *path, struct agent_target *t, struct m87_error **err);
int agent_target_save(const char *path, const struct agent_target *t, struct m87_error **err);
/* t (not a stop target) with its maintenance windows and prefetch policy dropped and "now" set
 * to now, its text too: what trusted keys leave of a policy they do not cover (the signed "now"),
 * and a rollback, which waits for no window. -1 with *err and t unchanged when it cannot be
 * rebuilt. */
int agent_target_set_now(struct agent_target *t, bool now, struct m87_error **err);
/* "3 (3242ec69ac96) of d-03758bee", or "none (stop everything)". Caller frees. */
char *agent_target_describe(const struct agent_target *t);
/* Both stop, or both the same revision hash. */
bool agent_target_same_revision(const struct agent_target *a, const struct agent_target *b);

#endif
