/* Private to the maintenance windows and the prefetch (agent-window*.c, agent-prefetch*.c). */
#ifndef M87_AGENT_WINDOW_H
#define M87_AGENT_WINDOW_H

#include "agent/daemon.h"
#include "agent/target.h"
#include "m87/list.h"

/* Exit statuses of the prefetch child. */
enum {
    AGENT_PREFETCH_OK = 0,     /* every image is on the device */
    AGENT_PREFETCH_FAILED = 1, /* a pull failed: tried again after a back-off */
    AGENT_PREFETCH_ENDED = 4,  /* the window ended ("prefetch": "window"): no new pull started */
};

struct agent_window_state {
    pid_t child;      /* the prefetch in progress, 0 when none */
    char *child_for;  /* the revision hash it pulls for */
    char *prefetched; /* the revision whose images were all pulled */
    unsigned failures;
    int64_t retry_at; /* monotonic ms; 0: none */
    char *reported;   /* "HASH NEXT" of the last "waiting" record */
    time_t next;      /* the next window start of that record */

    /* images the server asks for ("prefetch_images" of the sync answer) */
    bool child_images;          /* the child pulls these, not a revision's */
    struct m87_strv requested;  /* in the server's order */
    struct m87_strv present;    /* of those: pulled, or found on the device */
    struct agent_target policy; /* only its windows and prefetch_window are used */
};

/* A "window" record: total < 0 leaves "prefetch" out; next and message may be NULL. */
struct agent_window_report {
    const char *hash;
    const char *state; /* waiting, open */
    const char *next;
    int64_t done;
    int64_t total;
    const char *message;
};

void agent_window_report(struct runner_journal *j, const struct agent_window_report *r);
/* d->win, made on first use. */
struct agent_window_state *agent_window_get(struct agent_daemon *d);
/* Whether the stored target is a revision other than the applied one (not a stop target). */
bool agent_window_is_switch(const struct agent_daemon *d);
/* Whether now lies in a window of t (true when t has none). */
bool agent_window_inside(const struct agent_target *t, time_t now);

/* Start the prefetch that is due at now (a waiting revision's images first, then the images
 * the server asks for); stop one that is no longer wanted. */
void agent_prefetch_tick(struct agent_daemon *d, time_t now);
/* Whether requested images wait for a window (the "window" policy, outside the windows). */
bool agent_prefetch_images_wait(const struct agent_daemon *d, time_t now);
void agent_prefetch_reap(struct agent_daemon *d);
void agent_prefetch_kill(struct agent_daemon *d);

/* In the prefetch child: pull the requested images that are missing, with "prefetch" records of
 * their progress (agent-prefetch-pull.c). AGENT_PREFETCH_*. */
int agent_prefetch_images_run(struct agent_daemon *d, const struct m87_strv *images,
                              const struct agent_target *policy);

#endif
