/* m87-server private: fleet releases placed on devices and the rollouts that place them
 * (docs/fleets.md). rollout-place.c makes a member's revisions (a release merged in, a fleet's
 * jobs removed, a previous revision restored); rollout-gate.c is the health gate fed by the
 * devices' reports, and what sync targets say of fleets; rollout.c is the state machine: waves,
 * halts and rollbacks, driven by one thread that wakes on an event or at the earliest deadline,
 * all state in the database (a restarted server resumes). */
#ifndef M87_SERVER_ROLLOUT_H
#define M87_SERVER_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-reports.h"
#include "server/store-rollouts.h"

struct srv;
struct srv_store;

/* Devices whose held sync is to be woken once the transaction that changed their target
 * commits. */
struct srv_touched {
    int64_t *v;
    size_t n, cap;
    const char *who; /* the asking token's audit fingerprint (audit.h) when a request moved the
                        devices, NULL when a rollout did (borrowed) */
};
void srv_touched_add(struct srv_touched *t, int64_t device_id);
/* Wake the held syncs of every device of t, then release it. */
void srv_touched_notify(struct srv *s, struct srv_touched *t);
void srv_touched_release(struct srv_touched *t);

/* ---- placement (rollout-place.c), inside the caller's transaction ---- */

/* What placing a release (or removing a fleet's jobs) did to a device. */
struct srv_placed {
    int64_t deployment_id;
    char *revision; /* the hash the device is to run now */
    char *previous; /* the hash it had */
    int64_t previous_number;
    bool changed; /* a new revision was made */
};
void srv_placed_release(struct srv_placed *p);

/* The members of the fleet now, by name, with their labels. */
int srv_fleet_members(struct srv_store *st, const char *fleet, const char *selector,
                      struct srv_device **out, size_t *n, struct m87_error **err);
void srv_devices_free(struct srv_device *v, size_t n);
/* M87_E_CONFLICT "job 'J' of fleet 'F' is on device 'D' from fleet 'G' already" when the
 * device's active revision carries a release of another fleet with a job of jobs (a JSON array
 * of job ids). */
int srv_release_check_device(struct srv_store *st, int64_t fleet_id, const char *fleet,
                             const char *jobs, const struct srv_device *d, struct m87_error **err);
/* The device's active deployment (one made when it has none) gets a new revision: its newest with
 * the jobs of the fleet's release it carries that are not in rel removed and rel's jobs merged
 * in; none when that is what it has. now: apply it at once. The device is added to touched. */
int srv_release_place(struct srv *s, int64_t device_id, const struct srv_release *rel, bool now,
                      struct srv_touched *touched, struct srv_placed *out, struct m87_error **err);
/* The same without any job of the fleet (the device left it). */
int srv_fleet_unplace(struct srv *s, int64_t device_id, int64_t fleet_id,
                      struct srv_touched *touched, struct m87_error **err);
/* The revision previous_number of the deployment again, as a new revision with the same hash
 * (applied at once). *done false with *message when the device's active deployment is another
 * one now (nothing changed). */
int srv_revision_restore(struct srv *s, int64_t device_id, int64_t deployment_id,
                         int64_t previous_number, struct srv_touched *touched, bool *done,
                         char **message, struct m87_error **err);

/* ---- the rollouts (rollout.c) ---- */

struct srv_rollouts;
/* Start the driver thread; it resumes the rollouts of the database once this replica leads
 * (srv_rollouts_lead), and drives nothing before. */
struct srv_rollouts *srv_rollouts_start(struct srv *s);
/* Drive (true) or stop driving after the current round (false): one replica at a time holds the
 * rollouts' advisory lock (store-notify.h, srv_leader_start). Thread-safe; NULL: nothing. */
void srv_rollouts_lead(struct srv_rollouts *d, bool leading);
/* Stop and free (NULL: nothing). */
void srv_rollouts_stop(struct srv_rollouts *d);
/* Have the driver look at the rollouts again (thread-safe; from within a transaction it runs
 * after the commit, when it gets the store's lock). NULL: nothing. */
void srv_rollouts_wake(struct srv_rollouts *d);

/* The waves of text ("1,10%,50%,100%": counts or percentages of n members, cumulative) as the
 * cumulative counts of the non-empty waves into *out (a JSON array, the last one n). M87_E_INVAL
 * "waves: ..." naming the item. */
int srv_waves_parse(const char *text, int64_t n, char **out, struct m87_error **err);
/* max_failed text: "N" or "P%" (0 to 100); M87_E_INVAL "max_failed: ...". */
int srv_max_failed_check(const char *text, struct m87_error **err);

/* ---- the gate (rollout-gate.c) ---- */

/* Set d's state and message (NULL: none). */
void srv_rdev_set_state(struct srv_rollout_device *d, const char *state, const char *message);
/* *yes when every job of the device's active revision, which must be d's, has a "succeeded" job
 * report for it. */
int srv_rdev_all_succeeded(struct srv_store *st, const struct srv_rollout_device *d, bool *yes,
                           struct m87_error **err);
/* Before anything else in a sync's transaction that stores reps: when one of them is a report
 * srv_rollout_report judges and the device is a member of a rollout it watches, take the rollout
 * round's transaction lock (PostgreSQL; request.c says why), so that the member's state is not
 * judged by the sync and by a round at once. */
int srv_rollout_lock_reports(struct srv *s, int64_t device_id, const struct srv_report *reps,
                             size_t n, struct m87_error **err);
/* A report the device sent, just stored: the health gate of the device's rows in rollouts
 * (docs/fleets.md). *wake is set when the driver is to look again. */
int srv_rollout_report(struct srv *s, int64_t device_id, const struct srv_report *rep, bool *wake,
                       struct m87_error **err);
/* "fleets" and "rollout" of a sync target (docs/api.md) for revision rev of dep. */
int srv_jw_rollout_target(struct srv_store *st, struct m87_jw *w, int64_t device_id,
                          const struct srv_deployment *dep, const struct srv_revision *rev,
                          struct m87_error **err);
/* The device was in the fleets named in before and is in those of after now: it gets the current
 * release of each fleet it joined (a conflict of job ids is logged and skipped), and loses the
 * jobs of each fleet it left. */
int srv_rollout_moves(struct srv *s, int64_t device_id, const struct m87_strv *before,
                      const struct m87_strv *after, struct srv_touched *touched,
                      struct m87_error **err);

#endif
