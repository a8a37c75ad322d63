/* m87-server private: fleet releases, their rollouts and each member's row in a rollout, in the
 * store (store-rollouts.c); and which releases a revision carries. The state machine that moves
 * them is rollout.c. */
#ifndef M87_SERVER_STORE_ROLLOUTS_H
#define M87_SERVER_STORE_ROLLOUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "server/row.h"
#include "server/store.h"

/* A release of a fleet: its jobs (a run spec), numbered from 1 per fleet. */
struct srv_release {
    int64_t id;
    int64_t fleet_id;
    char *fleet; /* the fleet's name (filled by the queries that join it) */
    int64_t number;
    char *hash;    /* spec_revision_hash of spec */
    char *jobs;    /* JSON array of job ids */
    char *spec;    /* spec_runspec_dump JSON */
    char *sig_key; /* NULL: unsigned */
    char *sig;
    int64_t sig_time;
    int64_t created;
};
extern const struct srv_row_type srv_release_row;
void srv_release_release(struct srv_release *r);

/* The states of a rollout and of a member in it (docs/fleets.md). */
#define SRV_RO_RUNNING "running"
#define SRV_RO_PAUSED "paused"
#define SRV_RO_HALTED "halted"
#define SRV_RO_ABORTED "aborted"
#define SRV_RO_DONE "done"
#define SRV_RO_ROLLED_BACK "rolled-back"
#define SRV_RD_PENDING "pending"
#define SRV_RD_APPLYING "applying"
#define SRV_RD_HEALTHY "healthy"
#define SRV_RD_FAILED "failed"
#define SRV_RD_OFFLINE "offline"
#define SRV_RD_ROLLED_BACK "rolled-back"

struct srv_rollout {
    int64_t id;
    char *public_id; /* "r-" and 8 hex digits */
    int64_t fleet_id;
    char *fleet;
    int64_t release_id;
    int64_t release; /* its number */
    char *state;
    char *waves; /* JSON array of the cumulative member counts, the last one all of them */
    int64_t health_window; /* seconds */
    char *max_failed;      /* "N" or "P%" of a wave */
    char *offline;         /* "wait" or "skip" */
    int64_t wave_timeout;  /* seconds */
    char *rollback;        /* "on-failure" or "never" */
    bool now;
    int64_t wave; /* the current wave from 1, 0 before the first */
    int64_t wave_started;
    bool rollback_pending; /* the changed members are to get their previous revision back */
    char *message;
    int64_t created;
    int64_t updated;
};
extern const struct srv_row_type srv_rollout_row;
void srv_rollout_release(struct srv_rollout *r);

/* A member's row in a rollout. */
struct srv_rollout_device {
    int64_t rollout_id;
    int64_t device_id;
    char *device; /* its name */
    int64_t wave;
    char *state;
    int64_t deployment_id;   /* where its revision was placed, 0: not yet */
    char *revision;          /* the hash placed */
    char *previous;          /* the hash it replaced */
    int64_t previous_number; /* that revision's number in deployment_id */
    int64_t placed;
    int64_t applied;  /* when the server had every job's success, 0: not yet */
    int64_t deadline; /* applied + the health window */
    char *message;
    int64_t updated;
    /* of its rollout (srv_rdev_watching only) */
    char *rollout;
    int64_t health_window;
    int64_t release;
    char *fleet;
};
extern const struct srv_row_type srv_rollout_device_row;
void srv_rollout_device_release(struct srv_rollout_device *d);

/* ---- releases ---- */

/* Store release number (the fleet's highest + 1, *out filled with it and its id). */
int srv_release_create(struct srv_store *st, struct srv_release *in, struct m87_error **err);
/* The number the fleet's next release gets. */
int srv_release_next(struct srv_store *st, int64_t fleet_id, int64_t *number,
                     struct m87_error **err);
int srv_release_get(struct srv_store *st, int64_t id, struct srv_release *out,
                    struct m87_error **err);
/* 1 and *out: the fleet's current release (that of its newest rollout running, paused or done),
 * 0 when it has none. */
int srv_release_current(struct srv_store *st, int64_t fleet_id, struct srv_release *out,
                        struct m87_error **err);
/* The id of revision number of deployment dep_id. */
int srv_revision_id(struct srv_store *st, int64_t dep_id, int64_t number, int64_t *id,
                    struct m87_error **err);
/* Note that revision rev_id carries release release_id. */
int srv_revision_release_add(struct srv_store *st, int64_t rev_id, int64_t release_id,
                             struct m87_error **err);
/* Forget that revision rev_id carries releases of the fleet (one of it is noted instead). */
int srv_revision_release_drop(struct srv_store *st, int64_t rev_id, int64_t fleet_id,
                              struct m87_error **err);
/* The releases revision rev_id carries, with their fleet's name, by fleet name. */
int srv_revision_releases(struct srv_store *st, int64_t rev_id, struct srv_release **out, size_t *n,
                          struct m87_error **err);

/* ---- rollouts ---- */

/* Store in (a new public id into in->public_id, in->id). */
int srv_rollout_create(struct srv_store *st, struct srv_rollout *in, struct m87_error **err);
/* M87_E_NOTFOUND "fleet 'F' has no rollout 'ID'". */
int srv_rollout_find(struct srv_store *st, int64_t fleet_id, const char *fleet,
                     const char *public_id, struct srv_rollout *out, struct m87_error **err);
int srv_rollout_by_id(struct srv_store *st, int64_t id, struct srv_rollout *out,
                      struct m87_error **err);
/* The fleet's rollouts, newest first. */
int srv_rollout_list(struct srv_store *st, int64_t fleet_id, struct srv_rollout **out, size_t *n,
                     struct m87_error **err);
/* 1 and *out: the fleet's rollout that is running or paused, 0 when none is. */
int srv_rollout_active(struct srv_store *st, int64_t fleet_id, struct srv_rollout *out,
                       struct m87_error **err);
/* The rollouts that are running or have a rollback pending (what the driver looks at). */
int srv_rollout_live(struct srv_store *st, struct srv_rollout **out, size_t *n,
                     struct m87_error **err);
/* Store r's state, wave, wave_started, rollback_pending and message; updated = now. */
int srv_rollout_update(struct srv_store *st, const struct srv_rollout *r, struct m87_error **err);
/* The earliest end of a running rollout's current wave (wave_started + wave_timeout), 0: none. */
int srv_rollout_next_timeout(struct srv_store *st, int64_t *t, struct m87_error **err);

/* ---- members in a rollout ---- */

int srv_rdev_add(struct srv_store *st, int64_t rollout_id, int64_t device_id, int64_t wave,
                 struct m87_error **err);
/* The rows of one wave (wave 0: every wave), by wave then device name. */
int srv_rdev_list(struct srv_store *st, int64_t rollout_id, int64_t wave,
                  struct srv_rollout_device **out, size_t *n, struct m87_error **err);
/* Up to limit rows of the wave still pending, by device name. */
int srv_rdev_pending(struct srv_store *st, int64_t rollout_id, int64_t wave, int64_t limit,
                     struct srv_rollout_device **out, size_t *n, struct m87_error **err);
/* Store d's state, deployment_id, revision, previous, previous_number, placed, applied, deadline
 * and message; updated = now. */
int srv_rdev_update(struct srv_store *st, const struct srv_rollout_device *d,
                    struct m87_error **err);
/* The device's rows still watched (applying or offline) in rollouts running, paused or done,
 * with their rollout's public id, health window, release number and fleet. */
int srv_rdev_watching(struct srv_store *st, int64_t device_id, struct srv_rollout_device **out,
                      size_t *n, struct m87_error **err);
/* Rows still watched whose deadline is at or before now (in the rollouts srv_rdev_watching
 * looks at), as srv_rdev_watching gives them. */
int srv_rdev_due(struct srv_store *st, int64_t now, struct srv_rollout_device **out, size_t *n,
                 struct m87_error **err);
/* The earliest deadline of a watched row, 0: none. */
int srv_rdev_next_deadline(struct srv_store *st, int64_t *t, struct m87_error **err);
/* How many rows of the wave are in each state: counts[i] for states[i] (NULL-terminated). */
int srv_rdev_counts(struct srv_store *st, int64_t rollout_id, int64_t wave,
                    const char *const *states, int64_t *counts, struct m87_error **err);

void srv_rollout_devices_free(struct srv_rollout_device *v, size_t n);

#endif
