/* Held agent syncs. A sync with nothing to say suspends its connection here; a change of a
 * device's target (notify) or the end of its wait (the timer thread) resumes it, and
 * libmicrohttpd then calls the handler again to answer.
 *
 * Lock order: the registry's mutex, then libmicrohttpd's own (taken inside suspend and resume).
 * The handler suspends while holding the mutex, so that a notify can never fall between "the
 * target is unchanged" and "the connection is suspended": a notify bumps gen, and a hold with
 * a stale gen is refused. */
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>

#include "m87/alloc.h"
#include "server/limits.h"
#include "server/longpoll.h"
#include "server/util.h"

/* Deadlines go into a wheel of 100 ms slots, so that a tick touches only the syncs that end
 * in it, not every held one. The wheel spans more than the longest wait, so that a slot
 * never holds two rounds. */
#define TICK_MS 100
#define TICK_NS (TICK_MS * 1000 * 1000)
#define SLOTS 4096

_Static_assert((uint64_t)SLOTS *TICK_MS > (uint64_t)(SRV_MAX_WAIT + 1) * 1000,
               "the wheel must span the longest wait");

struct srv_longpoll {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct srv_waiter *head;
    struct srv_waiter *slots[SLOTS];
    struct timespec epoch;
    uint64_t done_tick;
    size_t held;
    uint64_t gen;
    bool stopping;
    bool quit;
    pthread_t timer;
};

/* Ticks since the registry's creation: deadlines round up and the clock down, so that no
 * sync is answered before its wait is over. */
static uint64_t tick_of(const struct srv_longpoll *lp, const struct timespec *t, bool up)
{
    int64_t ms =
        (int64_t)(t->tv_sec - lp->epoch.tv_sec) * 1000 + (t->tv_nsec - lp->epoch.tv_nsec) / 1000000;
    if (ms <= 0)
        return 0;
    return ((uint64_t)ms + (up ? TICK_MS - 1 : 0)) / TICK_MS;
}

/* Under the mutex. */
static void release(struct srv_longpoll *lp, struct srv_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        lp->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->sprev)
        w->sprev->snext = w->snext;
    else
        lp->slots[w->slot] = w->snext;
    if (w->snext)
        w->snext->sprev = w->sprev;
    w->prev = w->next = w->sprev = w->snext = NULL;
    w->listed = false;
    lp->held--;
    MHD_resume_connection(w->conn);
}

static void *timer_main(void *arg)
{
    struct srv_longpoll *lp = arg;
    pthread_mutex_lock(&lp->mu);
    while (!lp->quit) {
        struct timespec now, until;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t tick = tick_of(lp, &now, false);
        for (; lp->done_tick < tick; lp->done_tick++) {
            size_t slot = (size_t)((lp->done_tick + 1) % SLOTS);
            while (lp->slots[slot])
                release(lp, lp->slots[slot]);
        }
        until = now;
        until.tv_nsec += TICK_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&lp->cond, &lp->mu, &until);
    }
    pthread_mutex_unlock(&lp->mu);
    return NULL;
}

struct srv_longpoll *srv_longpoll_new(void)
{
    struct srv_longpoll *lp = m87_xcalloc(1, sizeof(*lp));
    pthread_mutex_init(&lp->mu, NULL);
    clock_gettime(CLOCK_MONOTONIC, &lp->epoch);
    srv_cond_init_monotonic(&lp->cond);
    if (pthread_create(&lp->timer, NULL, timer_main, lp) != 0)
        m87_oom();
    return lp;
}

void srv_longpoll_free(struct srv_longpoll *lp)
{
    if (lp == NULL)
        return;
    srv_thread_stop(lp->timer, &lp->mu, &lp->cond, &lp->quit);
    pthread_mutex_destroy(&lp->mu);
    free(lp);
}

uint64_t srv_longpoll_gen(struct srv_longpoll *lp)
{
    pthread_mutex_lock(&lp->mu);
    uint64_t g = lp->gen;
    pthread_mutex_unlock(&lp->mu);
    return g;
}

bool srv_longpoll_hold(struct srv_longpoll *lp, struct srv_waiter *w, uint64_t gen)
{
    pthread_mutex_lock(&lp->mu);
    bool ok = !lp->stopping && lp->gen == gen;
    if (ok) {
        w->prev = NULL;
        w->next = lp->head;
        if (lp->head)
            lp->head->prev = w;
        lp->head = w;
        uint64_t tick = tick_of(lp, &w->deadline, true);
        if (tick <= lp->done_tick)
            tick = lp->done_tick + 1;
        w->slot = (size_t)(tick % SLOTS);
        w->sprev = NULL;
        w->snext = lp->slots[w->slot];
        if (w->snext)
            w->snext->sprev = w;
        lp->slots[w->slot] = w;
        w->listed = true;
        lp->held++;
        MHD_suspend_connection(w->conn);
    }
    pthread_mutex_unlock(&lp->mu);
    return ok;
}

void srv_longpoll_notify(struct srv_longpoll *lp, int64_t device_id)
{
    pthread_mutex_lock(&lp->mu);
    lp->gen++;
    struct srv_waiter *next = NULL;
    for (struct srv_waiter *w = lp->head; w; w = next) {
        next = w->next;
        if (device_id == 0 || w->device_id == device_id)
            release(lp, w);
    }
    pthread_mutex_unlock(&lp->mu);
}

void srv_longpoll_stop(struct srv_longpoll *lp)
{
    pthread_mutex_lock(&lp->mu);
    lp->stopping = true;
    pthread_mutex_unlock(&lp->mu);
    srv_longpoll_notify(lp, 0);
}

size_t srv_longpoll_held(struct srv_longpoll *lp)
{
    pthread_mutex_lock(&lp->mu);
    size_t n = lp->held;
    pthread_mutex_unlock(&lp->mu);
    return n;
}

bool srv_longpoll_device_held(struct srv_longpoll *lp, int64_t device_id)
{
    bool held = false;
    pthread_mutex_lock(&lp->mu);
    for (struct srv_waiter *w = lp->head; w && !held; w = w->next)
        held = w->device_id == device_id;
    pthread_mutex_unlock(&lp->mu);
    return held;
}
