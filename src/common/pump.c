/* Byte streams between descriptors and HTTP requests on one libcurl multi handle (pump.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/json.h"
#include "m87/pump.h"
#include "m87/time.h"

#define PUMP_TICK_MS 200
#define PUMP_DGRAM_MAX 65535 /* a datagram's payload: what a 2-byte length says */
#define PUMP_DGRAM_HEAD 2

struct pump_stream {
    CURL *h;
    int fd;
    int fd_flags; /* as given: restored before the descriptor is closed */
    enum m87_pump_dir dir;
    bool required;
    bool running;  /* added to the multi handle and not done */
    bool draining; /* a download whose transfer is done, its last bytes not all in its fd yet */
    bool paused;  /* an upload waits for its descriptor, a download for room in it */
    bool fd_gone; /* the descriptor's reader went away (EPIPE) */
    CURLcode result;
    long status;
    int64_t bytes; /* carried: m87_pump_bytes */
    char *pending; /* download: bytes taken from libcurl not yet written to fd */
    size_t pending_len, pending_off;
    struct m87_buf error_body; /* the body of an error answer */
    struct m87_pump *pump;
    bool dgram; /* records of a 2-byte big-endian length and the payload (pump.h) */
    /* an upload's record being sent; a download's bytes not yet made datagrams, and whether
     * the descriptor refused the first one (EAGAIN) */
    unsigned char *rec;
    size_t rec_len, rec_off, rec_cap;
    bool blocked;
};

struct m87_pump {
    CURLM *multi;
    struct pump_stream streams[M87_PUMP_MAX_STREAMS];
    size_t n;
    m87_pump_tick_fn tick;
    void *tick_ctx;
    int64_t idle_ms, last_dgram; /* idle_ms 0: no end for idleness */
    bool ending;                 /* idle: the uploads end their bodies */
};

struct m87_pump *m87_pump_new(void)
{
    struct m87_pump *p = m87_xcalloc(1, sizeof(*p));
    p->multi = curl_multi_init();
    if (!p->multi)
        m87_oom();
    return p;
}

static void stream_close(struct m87_pump *p, struct pump_stream *s)
{
    if (s->running)
        curl_multi_remove_handle(p->multi, s->h);
    s->running = false;
    if (s->fd >= 0) {
        (void)fcntl(s->fd, F_SETFL, s->fd_flags);
        close(s->fd);
        s->fd = -1;
    }
}

void m87_pump_free(struct m87_pump *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        stream_close(p, &p->streams[i]);
        curl_easy_cleanup(p->streams[i].h);
        free(p->streams[i].pending);
        free(p->streams[i].rec);
        m87_buf_release(&p->streams[i].error_body);
    }
    curl_multi_cleanup(p->multi);
    free(p);
}

static long status_of(struct pump_stream *s)
{
    if (s->status == 0)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    return s->status;
}

/* An upload of datagrams: each one read is sent as a record, whole, before the next is read. */
static size_t dgram_read(char *buf, size_t max, struct pump_stream *s)
{
    if (s->rec_off == s->rec_len) {
        if (s->pump->ending)
            return 0; /* idle: the end of the body */
        ssize_t got = recv(s->fd, s->rec + PUMP_DGRAM_HEAD, PUMP_DGRAM_MAX, MSG_DONTWAIT);
        /* ECONNREFUSED: an ICMP error of an earlier datagram, not this socket's end */
        if (got < 0 && (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED)) {
            s->paused = true;
            return CURL_READFUNC_PAUSE;
        }
        if (got < 0)
            return CURL_READFUNC_ABORT;
        s->rec[0] = (unsigned char)(got >> 8);
        s->rec[1] = (unsigned char)(got & 0xff);
        s->rec_len = PUMP_DGRAM_HEAD + (size_t)got;
        s->rec_off = 0;
        s->bytes += got; /* the datagrams' bytes, not their records' */
        s->pump->last_dgram = m87_mono_ms();
    }
    size_t k = s->rec_len - s->rec_off < max ? s->rec_len - s->rec_off : max;
    memcpy(buf, s->rec + s->rec_off, k);
    s->rec_off += k;
    return k;
}

/* A download of datagrams: every whole record waiting is sent to the descriptor as one datagram
 * (one refused by the descriptor's peer, or too big for it, is dropped as a network would);
 * false when the descriptor was full (EAGAIN): the rest waits. */
static bool dgram_deliver(struct pump_stream *s, int flags)
{
    size_t off = 0;
    s->blocked = false;
    while (s->rec_len - off >= PUMP_DGRAM_HEAD) {
        size_t n = (size_t)s->rec[off] << 8 | s->rec[off + 1];
        if (s->rec_len - off < PUMP_DGRAM_HEAD + n)
            break;
        ssize_t w = send(s->fd, s->rec + off + PUMP_DGRAM_HEAD, n, flags | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            s->blocked = true;
            break;
        }
        off += PUMP_DGRAM_HEAD + n;
        s->bytes += (int64_t)n;
        s->pump->last_dgram = m87_mono_ms();
    }
    if (off > 0) {
        memmove(s->rec, s->rec + off, s->rec_len - off);
        s->rec_len -= off;
    }
    return !s->blocked;
}

static size_t dgram_write(char *data, size_t len, struct pump_stream *s)
{
    if (s->blocked) {
        s->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (s->rec_len + len > s->rec_cap) {
        s->rec_cap = s->rec_len + len;
        s->rec = m87_xrealloc(s->rec, s->rec_cap);
    }
    memcpy(s->rec + s->rec_len, data, len);
    s->rec_len += len;
    (void)dgram_deliver(s, MSG_DONTWAIT);
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    struct pump_stream *s = ctx;
    if (s->dgram)
        return dgram_read(buf, size * n, s);
    ssize_t got = read(s->fd, buf, size * n);
    if (got >= 0) {
        s->bytes += got;
        return (size_t)got; /* 0: the end of the body */
    }
    if (errno == EAGAIN || errno == EINTR) {
        s->paused = true;
        return CURL_READFUNC_PAUSE;
    }
    if (errno == EIO)
        return 0; /* a pseudo-terminal's master once its last user closed the terminal: the end */
    return CURL_READFUNC_ABORT;
}

static size_t on_write(char *data, size_t size, size_t n, void *ctx)
{
    struct pump_stream *s = ctx;
    size_t len = size * n;
    if (status_of(s) >= 300) {
        (void)m87_buf_append(&s->error_body, data, len, NULL); /* past the cap: cut */
        return len;
    }
    if (s->fd_gone)
        return len;
    if (s->dgram)
        return dgram_write(data, len, s);
    if (s->pending_off < s->pending_len) {
        s->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    ssize_t w = write(s->fd, data, len);
    if (w < 0 && (errno == EAGAIN || errno == EINTR))
        w = 0;
    if (w < 0) {
        s->fd_gone = true; /* its reader is gone: the rest is dropped */
        return len;
    }
    s->bytes += (int64_t)len; /* written now, or pending */
    if ((size_t)w < len) {
        s->pending = m87_xrealloc(s->pending, len - (size_t)w);
        memcpy(s->pending, data + w, len - (size_t)w);
        s->pending_len = len - (size_t)w;
        s->pending_off = 0;
    }
    return len;
}

static size_t add(struct m87_pump *p, CURL *h, int fd, enum m87_pump_dir dir, bool required,
                  bool dgram)
{
    if (p->n == M87_PUMP_MAX_STREAMS)
        abort(); /* a caller's bug: the count is fixed by the protocol */
    struct pump_stream *s = &p->streams[p->n++];
    *s = (struct pump_stream){
        .h = h, .fd = fd, .dir = dir, .required = required, .pump = p, .dgram = dgram};
    if (dgram && dir == M87_PUMP_UPLOAD) {
        s->rec_cap = PUMP_DGRAM_HEAD + PUMP_DGRAM_MAX;
        s->rec = m87_xmalloc(s->rec_cap);
    }
    m87_buf_init(&s->error_body, M87_PUMP_MAX_ERROR_BODY);
    s->fd_flags = fcntl(fd, F_GETFL);
    if (s->fd_flags >= 0)
        (void)fcntl(fd, F_SETFL, s->fd_flags | O_NONBLOCK);
    if (dir == M87_PUMP_UPLOAD) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, s);
    }
    /* bigger pieces than libcurl's defaults (16 KiB down, 64 KiB up): fewer system calls and
     * loop rounds per byte on a bulk stream; a keystroke is sent as it comes either way */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)M87_PUMP_PIECE);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, (long)M87_PUMP_PIECE);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    /* a vanished peer is noticed within seconds, not at the next write */
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 2L);
    curl_multi_add_handle(p->multi, h);
    s->running = true;
    return p->n - 1;
}

int64_t m87_pump_bytes(const struct m87_pump *p, size_t i)
{
    return i < p->n ? p->streams[i].bytes : 0;
}

size_t m87_pump_add(struct m87_pump *p, CURL *h, int fd, enum m87_pump_dir dir, bool required)
{
    return add(p, h, fd, dir, required, false);
}

size_t m87_pump_add_datagrams(struct m87_pump *p, CURL *h, int fd, enum m87_pump_dir dir,
                              bool required)
{
    return add(p, h, fd, dir, required, true);
}

void m87_pump_set_idle_end(struct m87_pump *p, int64_t ms)
{
    p->idle_ms = ms;
    p->last_dgram = m87_mono_ms();
}

/* Idle past idle_ms: the uploads end their bodies (a paused one is asked again to say so). */
static void check_idle(struct m87_pump *p)
{
    if (p->idle_ms <= 0 || p->ending || m87_mono_ms() - p->last_dgram < p->idle_ms)
        return;
    p->ending = true;
    for (size_t i = 0; i < p->n; i++) {
        struct pump_stream *s = &p->streams[i];
        if (s->running && s->dir == M87_PUMP_UPLOAD && s->paused) {
            s->paused = false;
            curl_easy_pause(s->h, CURLPAUSE_CONT);
        }
    }
}

void m87_pump_set_tick(struct m87_pump *p, m87_pump_tick_fn fn, void *ctx)
{
    p->tick = fn;
    p->tick_ctx = ctx;
}

/* A download's waiting bytes into its descriptor; when they are all out, its transfer goes on. */
static void flush_pending(struct pump_stream *s)
{
    while (s->pending_off < s->pending_len) {
        ssize_t w = write(s->fd, s->pending + s->pending_off, s->pending_len - s->pending_off);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (w < 0) {
            s->fd_gone = true;
            break;
        }
        s->pending_off += (size_t)w;
    }
    s->pending_off = s->pending_len = 0;
    if (s->paused && s->running) {
        s->paused = false;
        curl_easy_pause(s->h, CURLPAUSE_CONT);
    }
}

/* The descriptors of paused streams, for curl_multi_poll; which[i] is the stream of fds[i]. */
static unsigned wait_fds(struct m87_pump *p, struct curl_waitfd *fds, size_t *which)
{
    unsigned n = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct pump_stream *s = &p->streams[i];
        if ((!s->running && !s->draining) || s->fd < 0)
            continue;
        if (s->dir == M87_PUMP_UPLOAD && s->paused)
            fds[n].events = CURL_WAIT_POLLIN;
        else if (s->dir == M87_PUMP_DOWNLOAD && (s->pending_off < s->pending_len || s->blocked))
            fds[n].events = CURL_WAIT_POLLOUT;
        else
            continue;
        fds[n].fd = s->fd;
        fds[n].revents = 0;
        which[n++] = i;
    }
    return n;
}

/* A download's end: the other side's is a socket's half-close here (a dup's close would not be). */
static void end_download(struct m87_pump *p, struct pump_stream *s)
{
    s->draining = false;
    if (!s->dgram && s->result == CURLE_OK && status_of(s) < 300)
        (void)shutdown(s->fd, SHUT_WR); /* ENOTSOCK for a pipe: nothing to do */
    stream_close(p, s);
}

static bool download_waits(const struct pump_stream *s)
{
    return s->dgram ? s->blocked : s->pending_off < s->pending_len;
}

static void after_poll(struct m87_pump *p, struct curl_waitfd *fds, const size_t *which, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        struct pump_stream *s = &p->streams[which[k]];
        /* asked again: libcurl reports no POLLHUP, the end of a pipe */
        struct pollfd pf = {.fd = fds[k].fd,
                            .events = s->dir == M87_PUMP_UPLOAD ? POLLIN : POLLOUT};
        if (fds[k].revents == 0 && (poll(&pf, 1, 0) <= 0 || pf.revents == 0))
            continue;
        if (s->dir == M87_PUMP_UPLOAD) {
            s->paused = false;
            curl_easy_pause(s->h, CURLPAUSE_CONT);
        } else if (s->dgram) {
            if (dgram_deliver(s, MSG_DONTWAIT) && s->paused) {
                s->paused = false;
                curl_easy_pause(s->h, CURLPAUSE_CONT);
            }
        } else {
            flush_pending(s);
        }
        if (s->draining && !download_waits(s))
            end_download(p, s);
    }
}

static void take_done(struct m87_pump *p)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct pump_stream *s = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        s->result = msg->data.result;
        status_of(s);
        if (s->dir != M87_PUMP_DOWNLOAD) {
            stream_close(p, s);
            continue;
        }
        /* what is left goes out as the descriptor takes it, never blocking: the descriptor's
         * reader may be a command that is itself waiting for an upload of this pump to read its
         * output (`exec -i cat` with more input than the pipes hold: both would wait forever) */
        if (s->dgram)
            (void)dgram_deliver(s, MSG_DONTWAIT);
        else
            flush_pending(s);
        curl_multi_remove_handle(p->multi, s->h);
        s->running = false;
        s->draining = download_waits(s);
        if (!s->draining)
            end_download(p, s);
    }
}

static int stream_error(struct pump_stream *s, struct m87_error **err);

/* -1 when a stream ended in failure, else 1 while a required stream runs, 0 after. */
static int go_on(struct m87_pump *p, struct m87_error **err)
{
    int running = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct pump_stream *s = &p->streams[i];
        if (!s->running && !s->draining && stream_error(s, err) < 0)
            return -1;
        if (s->required && (s->running || s->draining))
            running = 1;
    }
    return running;
}

static int stream_error(struct pump_stream *s, struct m87_error **err)
{
    if (s->status >= 300) {
        _cleanup_(m87_json_freep) struct m87_json *doc =
            m87_json_parse(s->error_body.data ? s->error_body.data : "", s->error_body.len, NULL);
        const char *msg = m87_json_str(m87_json_path(doc, "error", "message", NULL), NULL);
        m87_error_set(err, M87_E_HTTP, 0, "%s", msg ? msg : "the server answered an error");
        (*err)->http_status = s->status;
        return -1;
    }
    if (s->result != CURLE_OK && !(s->dir == M87_PUMP_DOWNLOAD && s->fd_gone))
        return m87_error_set(err, M87_E_CONNECT, 0, "stream: %s", curl_easy_strerror(s->result));
    return 0;
}

int m87_pump_run(struct m87_pump *p, volatile sig_atomic_t *stop, struct m87_error **err)
{
    struct curl_waitfd fds[M87_PUMP_MAX_STREAMS];
    size_t which[M87_PUMP_MAX_STREAMS];
    int still = 0;

    curl_multi_perform(p->multi, &still);
    take_done(p);
    int rc;
    while ((rc = go_on(p, err)) > 0) {
        if (stop && *stop)
            return m87_error_set(err, M87_E_CANCELLED, 0, "stopped");
        unsigned n = wait_fds(p, fds, which);
        if (curl_multi_poll(p->multi, fds, n, PUMP_TICK_MS, NULL) != CURLM_OK)
            return m87_error_set(err, M87_E_IO, 0, "curl_multi_poll failed");
        after_poll(p, fds, which, n);
        curl_multi_perform(p->multi, &still);
        take_done(p);
        check_idle(p);
        if (p->tick)
            p->tick(p->tick_ctx);
    }
    return rc;
}
