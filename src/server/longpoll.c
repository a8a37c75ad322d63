/* Held agent syncs. A sync with nothing to say suspends its connection here; a change of a
 * device's target (notify), the end of its wait (the timer thread), a newer held sync of the same
 * device past SRV_MAX_HELD_PER_DEVICE, or its client closing the connection resumes it, and
 * libmicrohttpd then calls the handler again to answer.
 *
 * libmicrohttpd does not watch a suspended connection: a client that went away would stay held
 * (and counted) until its wait ends. So the timer thread watches the socket of every held
 * connection for the peer's close (EPOLLRDHUP) in an epoll set of its own.
 *
 * Lock order: the registry's mutex, then libmicrohttpd's own (taken inside suspend and resume).
 * The handler suspends while holding the mutex, so that a notify can never fall between "the
 * target is unchanged" and "the connection is suspended": a notify bumps the gen of its device
 * (its bucket; of all, for a notify of every device), and a hold with a stale gen is refused. A
 * notify of another device leaves the hold alone: it would not have resumed it either. */
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

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
/* held syncs by device, so that a device's are found without walking every held one */
#define DEVICE_BUCKETS 4096
#define MAX_EVENTS 64

_Static_assert((uint64_t)SLOTS *TICK_MS > (uint64_t)(SRV_MAX_WAIT + 1) * 1000,
               "the wheel must span the longest wait");

struct srv_longpoll {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct srv_waiter *head;
    struct srv_waiter *slots[SLOTS];
    struct srv_waiter *devices[DEVICE_BUCKETS];
    int epfd;
    struct srv_waiter **by_fd; /* the held connection of each socket, to check epoll's events */
    size_t n_fd;
    uint32_t next_hold;
    struct timespec epoch;
    uint64_t done_tick;
    size_t held;
    uint64_t gen;                  /* every notify */
    uint64_t all_gen;              /* the notifies of every device (device_id 0) */
    uint64_t dgen[DEVICE_BUCKETS]; /* the notifies of one device, by bucket */
    unsigned max_per_device;
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

static size_t bucket_of(int64_t device_id)
{
    return (size_t)((uint64_t)device_id % DEVICE_BUCKETS);
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
    if (w->dprev)
        w->dprev->dnext = w->dnext;
    else
        lp->devices[bucket_of(w->device_id)] = w->dnext;
    if (w->dnext)
        w->dnext->dprev = w->dprev;
    w->prev = w->next = w->sprev = w->snext = w->dprev = w->dnext = NULL;
    if (w->fd >= 0) {
        epoll_ctl(lp->epfd, EPOLL_CTL_DEL, w->fd, NULL);
        lp->by_fd[w->fd] = NULL;
        w->fd = -1;
    }
    w->listed = false;
    lp->held--;
    MHD_resume_connection(w->conn);
}

/* Under the mutex: release the held connections whose client closed. */
static void release_closed(struct srv_longpoll *lp, const struct epoll_event *ev, int n)
{
    for (int i = 0; i < n; i++) {
        int fd = (int)(uint32_t)(ev[i].data.u64 & 0xffffffffu);
        uint32_t hold = (uint32_t)(ev[i].data.u64 >> 32);
        struct srv_waiter *w = fd >= 0 && (size_t)fd < lp->n_fd ? lp->by_fd[fd] : NULL;
        /* a stale event (the sync was answered, its socket reused) names another hold */
        if (w && w->hold == hold)
            release(lp, w);
    }
}

static void *timer_main(void *arg)
{
    struct srv_longpoll *lp = arg;
    struct epoll_event ev[MAX_EVENTS];
    pthread_mutex_lock(&lp->mu);
    while (!lp->quit) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t tick = tick_of(lp, &now, false);
        for (; lp->done_tick < tick; lp->done_tick++) {
            size_t slot = (size_t)((lp->done_tick + 1) % SLOTS);
            while (lp->slots[slot])
                release(lp, lp->slots[slot]);
        }
        pthread_mutex_unlock(&lp->mu);
        /* the tick, or at once when a held client closes; srv_thread_stop's quit is seen within
         * a tick */
        int n = epoll_wait(lp->epfd, ev, MAX_EVENTS, TICK_MS);
        pthread_mutex_lock(&lp->mu);
        if (n > 0)
            release_closed(lp, ev, n);
    }
    pthread_mutex_unlock(&lp->mu);
    return NULL;
}

struct srv_longpoll *srv_longpoll_new(unsigned max_per_device)
{
    struct srv_longpoll *lp = m87_xcalloc(1, sizeof(*lp));
    pthread_mutex_init(&lp->mu, NULL);
    clock_gettime(CLOCK_MONOTONIC, &lp->epoch);
    srv_cond_init_monotonic(&lp->cond);
    lp->max_per_device = max_per_device;
    if ((lp->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        m87_oom();
    struct rlimit rl;
    lp->n_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (size_t)rl.rlim_cur
                   : 65536;
    lp->by_fd = m87_xcalloc(lp->n_fd, sizeof(*lp->by_fd));
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
    close(lp->epfd);
    free(lp->by_fd);
    free(lp);
}

/* Under the mutex: what srv_longpoll_gen answers for device_id. */
static uint64_t gen_of(const struct srv_longpoll *lp, int64_t device_id)
{
    return device_id == 0 ? lp->gen : lp->all_gen + lp->dgen[bucket_of(device_id)];
}

uint64_t srv_longpoll_gen(struct srv_longpoll *lp, int64_t device_id)
{
    pthread_mutex_lock(&lp->mu);
    uint64_t g = gen_of(lp, device_id);
    pthread_mutex_unlock(&lp->mu);
    return g;
}

/* Under the mutex: the newest wins, so that a device cannot pile up held syncs (a client that
 * reconnects without closing, or many holders of one token): past the cap its oldest held sync
 * is answered now. */
static void make_room(struct srv_longpoll *lp, int64_t device_id)
{
    if (lp->max_per_device == 0 || device_id <= 0)
        return;
    for (;;) {
        struct srv_waiter *oldest = NULL;
        unsigned n = 0;
        for (struct srv_waiter *w = lp->devices[bucket_of(device_id)]; w; w = w->dnext) {
            if (w->device_id == device_id) {
                n++;
                oldest = w; /* the bucket is newest first */
            }
        }
        if (n < lp->max_per_device)
            return;
        release(lp, oldest);
    }
}

/* Under the mutex: watch the connection's socket for its client closing. */
static void watch_close(struct srv_longpoll *lp, struct srv_waiter *w)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(w->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    w->fd = -1;
    if (ci == NULL || ci->connect_fd < 0 || (size_t)ci->connect_fd >= lp->n_fd)
        return;
    w->hold = ++lp->next_hold;
    struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT,
                             .data.u64 = ((uint64_t)w->hold << 32) | (uint32_t)ci->connect_fd};
    if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, ci->connect_fd, &ev) < 0)
        return;
    w->fd = ci->connect_fd;
    lp->by_fd[w->fd] = w;
}

bool srv_longpoll_hold(struct srv_longpoll *lp, struct srv_waiter *w, uint64_t gen)
{
    pthread_mutex_lock(&lp->mu);
    bool ok = !lp->stopping && gen_of(lp, w->gen_of) == gen;
    if (ok) {
        make_room(lp, w->device_id);
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
        struct srv_waiter **bucket = &lp->devices[bucket_of(w->device_id)];
        w->dprev = NULL;
        w->dnext = *bucket;
        if (w->dnext)
            w->dnext->dprev = w;
        *bucket = w;
        w->listed = true;
        lp->held++;
        watch_close(lp, w);
        MHD_suspend_connection(w->conn);
    }
    pthread_mutex_unlock(&lp->mu);
    return ok;
}

void srv_longpoll_notify(struct srv_longpoll *lp, int64_t device_id)
{
    pthread_mutex_lock(&lp->mu);
    lp->gen++;
    if (device_id == 0)
        lp->all_gen++;
    else
        lp->dgen[bucket_of(device_id)]++;
    struct srv_waiter *next = NULL;
    if (device_id == 0) {
        while (lp->head)
            release(lp, lp->head);
    }
    for (struct srv_waiter *w = lp->devices[bucket_of(device_id)]; w; w = next) {
        next = w->dnext;
        if (w->device_id == device_id)
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
    for (struct srv_waiter *w = lp->devices[bucket_of(device_id)]; w && !held; w = w->dnext)
        held = w->device_id == device_id;
    pthread_mutex_unlock(&lp->mu);
    return held;
}
