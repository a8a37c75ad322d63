/* m87-server private: held agent syncs (longpoll.c): a timer wheel of suspended connections,
 * resumed by a change of their device, by their deadline, by a newer held sync of their device
 * past the cap, or by their client closing the connection. */
#ifndef M87_SERVER_LONGPOLL_H
#define M87_SERVER_LONGPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct MHD_Connection;

struct srv_longpoll;
struct srv_waiter {
    struct srv_waiter *prev, *next;   /* every held sync */
    struct srv_waiter *sprev, *snext; /* those of one slot of the timer wheel */
    struct srv_waiter *dprev, *dnext; /* those of one bucket of devices, newest first */
    size_t slot;
    int fd;        /* the socket watched for the client's close, -1 when not watched */
    uint32_t hold; /* which hold an epoll event of fd is about */
    int64_t device_id;
    int64_t gen_of; /* the device_id its gen was read for: 0, every notify counts */
    struct MHD_Connection *conn;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    bool listed;
};

/* max_per_device: a device (device_id > 0) has at most that many held syncs; a newer one
 * answers its oldest at once (0: no cap). Session reads (device_id < 0) are not capped. */
struct srv_longpoll *srv_longpoll_new(unsigned max_per_device);
/* Stops the timer thread; every held connection must have been released before. */
void srv_longpoll_free(struct srv_longpoll *lp);
/* A counter bumped by every notify of device_id or of every device (device_id 0: by every
 * notify at all): read it before computing an answer, hold with it and w->gen_of = device_id.
 * By device, so that the notifies of other devices (a deployment made, an activation, on this
 * replica or another) do not turn the holds being made into answers at once, each costing the
 * device a second sync. */
uint64_t srv_longpoll_gen(struct srv_longpoll *lp, int64_t device_id);
/* Suspend w->conn until notify or the deadline; false (nothing done) when a notify that
 * srv_longpoll_gen(lp, w->gen_of) counts happened since gen was read, or the server is
 * stopping: the caller answers at once. */
bool srv_longpoll_hold(struct srv_longpoll *lp, struct srv_waiter *w, uint64_t gen);
/* Resume every held sync of the device (device_id 0: of every device). */
void srv_longpoll_notify(struct srv_longpoll *lp, int64_t device_id);
/* Stop holding: resume everything held now and refuse new holds. */
void srv_longpoll_stop(struct srv_longpoll *lp);
size_t srv_longpoll_held(struct srv_longpoll *lp);
/* Whether a sync of the device is held now (sessions: the device is connected). */
bool srv_longpoll_device_held(struct srv_longpoll *lp, int64_t device_id);

#endif
