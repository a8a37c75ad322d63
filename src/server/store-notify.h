/* m87-server private: what several replicas of one PostgreSQL database tell each other through
 * it (docs/operations.md, Replicas; store-notify.c). A change that wakes held syncs or the
 * rollout driver in this process is also sent, inside its transaction, to every other replica,
 * whose listener thread wakes the same there; and one replica at a time, the holder of an
 * advisory lock, drives the fleet rollouts. On SQLite (one server) the notify sends nothing, no
 * listener runs, and the server always drives. */
#ifndef M87_SERVER_STORE_NOTIFY_H
#define M87_SERVER_STORE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "m87/error.h"

struct srv_store;

enum srv_wake {
    SRV_WAKE_SYNCS,    /* id: a device's held syncs (> 0), a session's readers (-session id),
                          every held request (0) */
    SRV_WAKE_ROLLOUTS, /* the rollout driver; id 0 */
};

/* Inside a transaction of st: have the other replicas wake what (kind, id) names when it commits
 * (nothing when it rolls back). SQLite: 0, nothing sent. -1 with *err. */
int srv_store_notify(struct srv_store *st, enum srv_wake kind, int64_t id, struct m87_error **err);

/* Called on the listener's thread for each wake from another replica, and with (SYNCS, 0) and
 * (ROLLOUTS, 0) each time the listener reconnects: a wake sent while it was not listening is
 * lost, so everything is woken once. */
typedef void (*srv_wake_fn)(void *ctx, enum srv_wake kind, int64_t id);

struct srv_listener;
/* Connect to st's database and LISTEN (before the server serves: nothing is held yet), then
 * start the listener thread on that connection: it reconnects every second while the database
 * is unreachable. NULL on SQLite (nothing to listen to). */
struct srv_listener *srv_listener_start(struct srv_store *st, srv_wake_fn fn, void *ctx);
/* Stop and free it (NULL: nothing). */
void srv_listener_stop(struct srv_listener *l);

/* Called on the leader's thread when this replica starts (true) or stops (false) driving. */
typedef void (*srv_lead_fn)(void *ctx, bool leading);

struct srv_leader;
/* Try every SRV_LEADER_PERIOD_MS to take the advisory lock key on a connection of its own, and
 * call fn(ctx, true) once taken; fn(ctx, false) when that connection is lost (its session, and
 * with it the lock, ended). SQLite: fn(ctx, true) before returning, and no thread. what names
 * the role in the log ("rollouts"). */
struct srv_leader *srv_leader_start(struct srv_store *st, int64_t key, const char *what,
                                    srv_lead_fn fn, void *ctx);
void srv_leader_stop(struct srv_leader *l);

/* Inside a transaction of st: wait for the transaction-level advisory lock key, held until the
 * commit or rollback, so that no two transactions holding it run at once, on any connection of
 * any replica (two rounds of a driver that lost its lock but has not noticed yet and of its
 * successor; an admin's change and a round, request.c). SQLite: 0 at once (its writers run one at
 * a time anyway). -1 with *err. */
int srv_store_lock_round(struct srv_store *st, int64_t key, struct m87_error **err);

#define SRV_LEADER_PERIOD_MS 1000
/* The advisory lock of the rollout driver ("m87roll" in ASCII), and the one each of its rounds
 * takes for its transaction (another key: the driver's own lock would block it) */
#define SRV_LOCK_ROLLOUTS INT64_C(0x6d3837726f6c6c)
#define SRV_LOCK_ROLLOUT_ROUND INT64_C(0x6d387772726e64)

#endif
