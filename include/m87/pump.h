/* Byte streams between local descriptors and HTTP requests (remote access, docs/remote.md): an
 * upload sends what a descriptor gives as a chunked request body, a download writes a response
 * body to a descriptor, all on one libcurl multi handle, until the streams that matter ended.
 *
 * Flow control is the descriptors' and TCP's: an upload reads its descriptor only when libcurl
 * can send, a download whose descriptor is full pauses its transfer (libcurl stops reading the
 * socket, the server's send buffer fills, the server stops reading its other side). At most one
 * callback's worth of bytes (M87_PUMP_PIECE) waits per download. */
#ifndef M87_PUMP_H
#define M87_PUMP_H

#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"

#define M87_PUMP_MAX_STREAMS 8
#define M87_PUMP_PIECE (256 * 1024)  /* libcurl's buffers of a stream, each way */
#define M87_PUMP_MAX_ERROR_BODY 4096 /* of an error answer's body kept for its message */

enum m87_pump_dir {
    M87_PUMP_UPLOAD,   /* fd -> request body (PUT, chunked) */
    M87_PUMP_DOWNLOAD, /* response body -> fd */
};

struct m87_pump;

struct m87_pump *m87_pump_new(void);
/* Kills every stream still running, closes their descriptors. NULL is a no-op. */
void m87_pump_free(struct m87_pump *p);
static inline void m87_pump_freep(struct m87_pump **p)
{
    m87_pump_free(*p);
}

/* Add a stream. h is configured by the caller (URL, headers with "Expect:", TLS); the pump sets
 * its body callbacks (and CURLOPT_UPLOAD for an upload) and takes it and fd (made non-blocking;
 * its flags are restored and it is closed when the stream ends; a socket that a download wrote is
 * half-closed (shutdown SHUT_WR) when its body ended well). A download ends once the last of
 * its bytes are in its descriptor, written as the descriptor takes them: never blocking, as its
 * reader may wait for an upload of the same run (a command's stdin and stdout). The run ends
 * once every required stream ended; the others are then stopped. At most M87_PUMP_MAX_STREAMS.
 * Returns the stream's index (for m87_pump_bytes). */
size_t m87_pump_add(struct m87_pump *p, CURL *h, int fd, enum m87_pump_dir dir, bool required);

/* The bytes stream i (as m87_pump_add returned it) carried so far: read from its descriptor and
 * sent (upload), or taken from its answer for its descriptor (download). */
int64_t m87_pump_bytes(const struct m87_pump *p, size_t i);

/* As m87_pump_add, for a datagram socket (UDP, or AF_UNIX SOCK_DGRAM): the stream's body is a
 * sequence of records, each a datagram: its length in 2 bytes, big-endian, then its payload (0 to
 * 65535 bytes). An upload sends each datagram its descriptor receives as one record; a download
 * sends each whole record as one datagram (and never half-closes). A datagram the descriptor's
 * peer refuses (ECONNREFUSED) is dropped, as a network would drop it. */
size_t m87_pump_add_datagrams(struct m87_pump *p, CURL *h, int fd, enum m87_pump_dir dir,
                              bool required);

/* After ms without a datagram either way on the datagram streams, every upload ends its body
 * (the other side sees the end) and the run goes on until the required streams ended. */
void m87_pump_set_idle_end(struct m87_pump *p, int64_t ms);

/* Called about every 200 ms and after each round of the loop (NULL: none). */
typedef void (*m87_pump_tick_fn)(void *ctx);
void m87_pump_set_tick(struct m87_pump *p, m87_pump_tick_fn fn, void *ctx);

/* Run until every required stream ended, or any stream failed, or *stop is set
 * (M87_E_CANCELLED). 0 when each stream that ended did so with a 2xx answer; else -1 with the
 * first failure: M87_E_HTTP with
 * http_status and the server's message ({"error":{"message"}}), M87_E_CONNECT for a transfer that
 * failed. A download whose descriptor was closed by its reader (EPIPE) ends without error. */
int m87_pump_run(struct m87_pump *p, volatile sig_atomic_t *stop, struct m87_error **err);

#endif
