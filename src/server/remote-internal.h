/* m87-server private to remote*.c: a channel's state (remote.h), shared by remote.c, which pairs
 * the streams of the two sides' connections, and remote-shadow.c, where a relay thread is one
 * side of a channel another replica holds (remote-relay.c). Everything here is under the
 * registry's mutex. */
#ifndef M87_SERVER_REMOTE_INTERNAL_H
#define M87_SERVER_REMOTE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "m87/error.h"
#include "server/remote.h"

enum channel_state { CH_PENDING, CH_DELIVERED, CH_RUNNING, CH_ENDED };

struct srv_channel;

struct srv_remote_port {
    struct srv_channel *ch;
    enum srv_remote_stream stream;
    bool writer;
    bool finished; /* a writer's body ended, a reader got the end of its stream */
    bool suspended;
    struct MHD_Connection *conn; /* NULL: a relay thread's port, which waits on cond instead */
    pthread_cond_t cond;
};

struct srv_stream {
    char *buf; /* a ring of SRV_REMOTE_STREAM_BUF bytes, allocated on first use */
    size_t head, len;
    struct srv_remote_port *writer, *reader;
    bool writer_seen, writer_done;
    bool delivered; /* a shadow's: the relay's upload of it was answered by the owner */
    int64_t bytes;
};

struct srv_remote;

struct srv_channel {
    struct srv_remote *rm;
    struct srv_channel *next;
    char id[SRV_REMOTE_ID_LEN + 1];
    int64_t device_id;
    char *device_name;
    char *request;
    enum channel_state state;
    bool broken;
    bool shadow;   /* held by another replica: this one relays its streams (remote-relay.c) */
    int exit_code; /* -1: none */
    char *message;
    struct timespec created, ended; /* CLOCK_MONOTONIC */
    unsigned ports;
    struct srv_stream streams[SRV_REMOTE_N_STREAMS];
};

struct srv_remote {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t watcher;
    bool stopping; /* the watcher ends */
    bool closed;   /* no channel opens */
    struct srv_channel *channels;
    size_t n;
    unsigned threads; /* relay threads' ports: srv_remote_free waits for them */
};

/* Resume p's connection, or wake a relay thread's port (p NULL or not suspended: nothing). */
void srv_remote_port_resume(struct srv_remote_port *p);
/* Suspend p's connection, or wait on a relay thread's port until resumed. */
void srv_remote_port_suspend(struct srv_remote_port *p);
/* The channel ends as broken with why, unless it ended already; every side is woken. */
void srv_remote_channel_break(struct srv_channel *ch, const char *why);
/* Channel id of the device (by id when device_id > 0, else by name) held here, never a shadow;
 * NULL with *err M87_E_NOTFOUND. */
struct srv_channel *srv_remote_find(struct srv_remote *rm, int64_t device_id,
                                    const char *device_name, const char *id,
                                    struct m87_error **err);
/* A new port of stream of ch for the agent's side or the admin's (srv_remote_attach). */
struct srv_remote_port *srv_remote_port_new(struct srv_channel *ch, enum srv_remote_stream stream,
                                            bool agent, struct MHD_Connection *conn,
                                            struct m87_error **err);
/* As much of data as the stream's buffer takes; its reader is woken. */
size_t srv_remote_ring_put(struct srv_stream *s, const char *data, size_t n);
/* A reader's step: bytes (> 0), 0 at the end of the stream, -1 when the channel broke, -2 when
 * nothing is buffered yet. */
ssize_t srv_remote_ring_get(struct srv_remote_port *p, char *buf, size_t max);

#endif
