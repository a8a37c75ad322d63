/* m87-server private: remote access channels (remote.c, docs/remote.md). A channel is one remote
 * action (an exec) between an admin client and a device's agent; each of its byte streams
 * (stdin, stdout, stderr) is an upload from one side paired with a download to the other, joined
 * here through a bounded buffer. A full buffer suspends the uploading connection, an empty one
 * the downloading connection: the slower side holds the faster one back through TCP.
 *
 * Channels live in the memory of the server that opened them: a restart ends them (their
 * clients see the connections close). With replicas on one PostgreSQL, another replica reaches
 * one through its row (store-remote.h) and relays its streams through a shadow (below,
 * remote-relay.h). A thread looks every SRV_REMOTE_WATCH_MS at the sockets of suspended connections
 * and at channels the device did not take in time, and forgets ended channels.
 *
 * Lock order: the registry's mutex, then libmicrohttpd's own (taken inside suspend and resume). */
#ifndef M87_SERVER_REMOTE_H
#define M87_SERVER_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "m87/error.h"
#include "m87/json-write.h"

struct MHD_Connection;

#define SRV_REMOTE_STREAM_BUF (256u * 1024) /* bytes buffered per stream */
#define SRV_REMOTE_PICKUP_S 15              /* the device must take a channel this soon */
#define SRV_REMOTE_KEEP_S 60                /* an ended channel's state is kept this long */
#define SRV_REMOTE_MAX 256                  /* channels at once */
#define SRV_REMOTE_WATCH_MS 500
#define SRV_REMOTE_ID_LEN 18 /* "r-" and 16 hex digits */

enum srv_remote_stream {
    SRV_REMOTE_STDIN,
    SRV_REMOTE_STDOUT,
    SRV_REMOTE_STDERR,
    SRV_REMOTE_RESIZE, /* the admin's terminal sizes, a JSON object a line ({"rows","cols"}) */
    SRV_REMOTE_N_STREAMS,
};

struct srv_remote;
struct srv_remote_port;

struct srv_remote *srv_remote_new(void);
/* Waits for the relay threads (srv_remote_stop broke their channels) and stops the watcher;
 * every connection of a channel must have ended before. NULL: no-op. */
void srv_remote_free(struct srv_remote *rm);

/* At shutdown, before libmicrohttpd stops: every channel breaks ("the server is stopping"), which
 * resumes every suspended connection of theirs; no channel opens after. */
void srv_remote_stop(struct srv_remote *rm);

/* The stream of a path segment ("stdin", "stdout", "stderr", "resize"); -1 for any other. */
int srv_remote_stream_of(const char *name);

/* A new pending channel of the device for request (JSON text, kept as it is); its id into id.
 * M87_E_CONFLICT when SRV_REMOTE_MAX channels are open. */
int srv_remote_open(struct srv_remote *rm, int64_t device_id, const char *device_name,
                    const char *request, char id[SRV_REMOTE_ID_LEN + 1], struct m87_error **err);

/* For a sync answer: "remote": [{"id", "request"}] of the device's pending channels (none: nothing
 * written), which become delivered. The count written. */
size_t srv_remote_jw_pending(struct srv_remote *rm, struct m87_jw *w, int64_t device_id);

/* The agent's end of channel id of device: exit code (0..255) or, with exit_code -1, why it did
 * not run (message). Readers are woken; a stream no writer attached to ends empty. M87_E_NOTFOUND
 * for an unknown channel or one of another device; ending an ended channel changes nothing. */
int srv_remote_finish(struct srv_remote *rm, int64_t device_id, const char *id, int exit_code,
                      const char *message, struct m87_error **err);
/* How long channel id of the device has run (until its end) and the bytes of its stdin, stdout
 * and stderr so far. M87_E_NOTFOUND. */
int srv_remote_stats(struct srv_remote *rm, int64_t device_id, const char *id, int64_t *duration_ms,
                     int64_t bytes[3], struct m87_error **err);

/* {"id","state","exit_code","message","bytes":{"stdin","stdout","stderr"},"duration_ms"} of
 * channel id of the device named device_name; *ended whether it ended. M87_E_NOTFOUND. */
int srv_remote_jw_state(struct srv_remote *rm, const char *device_name, const char *id,
                        struct m87_jw *w, bool *ended, struct m87_error **err);

/* Attach conn as the writer (upload) or reader (download) of a stream of channel id, checked
 * against the device: by id for the agent (device_id > 0), by name for the admin. The agent
 * writes stdout and stderr and reads stdin, the admin the other way round. Never a shadow's
 * (below). NULL with M87_E_NOTFOUND (unknown,
 * another device's), M87_E_CONFLICT (that side of the stream is taken, or the channel ended). */
struct srv_remote_port *srv_remote_attach(struct srv_remote *rm, int64_t device_id,
                                          const char *device_name, const char *id,
                                          enum srv_remote_stream stream, bool agent,
                                          struct MHD_Connection *conn, struct m87_error **err);
/* The connection ended: a writer that did not finish its body, or a reader that did not get
 * the end of its stream, ends the channel as broken. Frees port. */
void srv_remote_detach(struct srv_remote_port *port);

/* A writer's bytes: how many were taken into the buffer (the connection is suspended when not
 * all); (size_t)-1 when the channel ended or broke: the caller answers and drops the rest. */
size_t srv_remote_write(struct srv_remote_port *port, const char *data, size_t n);
/* The writer's body ended. */
void srv_remote_write_end(struct srv_remote_port *port);
/* A connection's body ended (srv_remote_write_end): 1 when it may be answered; on a shadow 0
 * after suspending the connection until the owner has the bytes (call again once resumed), or
 * -1 with why (the caller's) when the relay broke: the client must not take its upload as
 * delivered. */
int srv_remote_write_done(struct srv_remote_port *port, char **why);
/* libmicrohttpd's content reader for a reader port: bytes, or 0 after suspending the
 * connection (nothing buffered yet), or the end of the stream (or an error end when broken). */
ssize_t srv_remote_read(void *port, uint64_t pos, char *buf, size_t max);

/* ---- a channel another replica holds (remote-shadow.c; remote-relay.c drives it) ----
 * A shadow is one relayed request's copy of such a channel, with one stream: the local
 * client's connection is one side of its buffer, a relay thread's port (conn NULL: it waits
 * where a connection is suspended) the other, carrying the bytes to and from the replica that
 * holds the channel. Its buffer, suspend and resume are those above: the relay's transfer holds
 * the local client back and the other way round. No request finds another's shadow (a channel's
 * agent and admin may both come through this replica for the same stream); it is forgotten when
 * both of its ports detached. */

/* A shadow of channel id of the device for stream: the port of the local client's connection
 * conn (the agent's side or the admin's) into *local, the relay thread's port of the other side
 * into *far. M87_E_CONFLICT when the server is stopping. */
int srv_remote_shadow(struct srv_remote *rm, int64_t device_id, const char *device_name,
                      const char *id, enum srv_remote_stream stream, bool agent,
                      struct MHD_Connection *conn, struct srv_remote_port **local,
                      struct srv_remote_port **far, struct m87_error **err);
/* A relay thread's writer port: put all of data into its stream, waiting while the buffer is
 * full. -1 when the channel ended. */
int srv_remote_push(struct srv_remote_port *port, const char *data, size_t n);
/* A relay thread's reader port: bytes (> 0), waiting while none are buffered; 0 at the stream's
 * end, -1 when the channel broke. */
ssize_t srv_remote_pull(struct srv_remote_port *port, char *buf, size_t max);
/* End port's channel as broken with why (the local client's stream fails, readers with an error
 * end, writers with 409). */
void srv_remote_break(struct srv_remote_port *port, const char *why);
/* A relay thread's reader port: the owner answered the upload of its stream; the local writer
 * waiting in srv_remote_write_done is resumed. */
void srv_remote_delivered(struct srv_remote_port *port);
/* Whether port's channel ended (a relay's transfer stops). */
bool srv_remote_ended(struct srv_remote_port *port);

#endif
