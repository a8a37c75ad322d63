/* Remote access channels: streams paired through bounded buffers, with suspend and resume as the
 * flow control (remote.h). */
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/hash.h"
#include "m87/json.h"
#include "m87/log.h"
#include "server/remote-internal.h"
#include "server/remote.h"
#include "server/util.h"

static const char *const state_names[] = {"pending", "delivered", "running", "ended"};
static const char *const stream_names[] = {"stdin", "stdout", "stderr", "resize"};

static int64_t ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

void srv_remote_port_resume(struct srv_remote_port *p)
{
    if (p && p->suspended) {
        p->suspended = false;
        if (p->conn)
            MHD_resume_connection(p->conn);
        else
            pthread_cond_signal(&p->cond);
    }
}

/* A connection is suspended (libmicrohttpd calls again once resumed); a relay thread waits. */
void srv_remote_port_suspend(struct srv_remote_port *p)
{
    p->suspended = true;
    if (p->conn)
        MHD_suspend_connection(p->conn);
    else
        while (p->suspended)
            pthread_cond_wait(&p->cond, &p->ch->rm->mu);
}

static void wake_all(struct srv_channel *ch)
{
    for (int i = 0; i < SRV_REMOTE_N_STREAMS; i++) {
        srv_remote_port_resume(ch->streams[i].writer);
        srv_remote_port_resume(ch->streams[i].reader);
    }
}

/* The channel ends as broken with why, unless it ended already. */
void srv_remote_channel_break(struct srv_channel *ch, const char *why)
{
    if (ch->state == CH_ENDED)
        return;
    m87_log(M87_LOG_INFO, "remote %s: %s", ch->id, why);
    ch->state = CH_ENDED;
    ch->broken = true;
    free(ch->message);
    ch->message = m87_xstrdup(why);
    clock_gettime(CLOCK_MONOTONIC, &ch->ended);
    wake_all(ch);
}

static void channel_free(struct srv_channel *ch)
{
    for (int i = 0; i < SRV_REMOTE_N_STREAMS; i++)
        free(ch->streams[i].buf);
    free(ch->device_name);
    free(ch->request);
    free(ch->message);
    free(ch);
}

static int socket_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* libmicrohttpd does not watch a suspended connection: a peer gone while its side waits would
 * hold the channel until the other side wrote. A reader's peer only reads, so any input is its
 * end; a writer's may still have bytes queued, so only a hang-up or error counts. */
static bool port_peer_gone(const struct srv_remote_port *p)
{
    if (!p || !p->suspended || !p->conn)
        return false;
    struct pollfd pf = {.fd = socket_of(p->conn), .events = POLLRDHUP};
    if (pf.fd < 0 || poll(&pf, 1, 0) <= 0)
        return false;
    return (pf.revents & (POLLHUP | POLLERR)) || (!p->writer && (pf.revents & POLLRDHUP));
}

static void watch_channel(struct srv_channel *ch)
{
    if (ch->state < CH_RUNNING && ms_since(&ch->created) > SRV_REMOTE_PICKUP_S * 1000LL) {
        srv_remote_channel_break(ch, "the device did not take the request in time (is it online?)");
        return;
    }
    for (int i = 0; i < SRV_REMOTE_N_STREAMS && ch->state != CH_ENDED; i++)
        if (port_peer_gone(ch->streams[i].writer) || port_peer_gone(ch->streams[i].reader))
            srv_remote_channel_break(ch, "a side of the channel went away");
}

static void *watcher(void *arg)
{
    struct srv_remote *rm = arg;
    pthread_mutex_lock(&rm->mu);
    while (!rm->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SRV_REMOTE_WATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&rm->cond, &rm->mu, &until);
        for (struct srv_channel **pp = &rm->channels; *pp;) {
            struct srv_channel *ch = *pp;
            watch_channel(ch);
            if (ch->state == CH_ENDED && ch->ports == 0 &&
                ms_since(&ch->ended) > SRV_REMOTE_KEEP_S * 1000LL) {
                *pp = ch->next;
                rm->n--;
                channel_free(ch);
            } else {
                pp = &ch->next;
            }
        }
    }
    pthread_mutex_unlock(&rm->mu);
    return NULL;
}

struct srv_remote *srv_remote_new(void)
{
    struct srv_remote *rm = m87_xcalloc(1, sizeof(*rm));
    pthread_mutex_init(&rm->mu, NULL);
    pthread_cond_init(&rm->cond, NULL);
    if (pthread_create(&rm->watcher, NULL, watcher, rm) != 0)
        m87_oom();
    return rm;
}

void srv_remote_free(struct srv_remote *rm)
{
    if (!rm)
        return;
    pthread_mutex_lock(&rm->mu);
    rm->stopping = true;
    pthread_cond_broadcast(&rm->cond);
    while (rm->threads > 0) /* srv_remote_stop broke their channels: they are ending */
        pthread_cond_wait(&rm->cond, &rm->mu);
    pthread_mutex_unlock(&rm->mu);
    pthread_join(rm->watcher, NULL);
    while (rm->channels) {
        struct srv_channel *ch = rm->channels;
        rm->channels = ch->next;
        channel_free(ch);
    }
    pthread_cond_destroy(&rm->cond);
    pthread_mutex_destroy(&rm->mu);
    free(rm);
}

void srv_remote_stop(struct srv_remote *rm)
{
    if (!rm)
        return;
    pthread_mutex_lock(&rm->mu);
    rm->closed = true;
    for (struct srv_channel *ch = rm->channels; ch; ch = ch->next)
        srv_remote_channel_break(ch, "the server is stopping");
    pthread_mutex_unlock(&rm->mu);
}

int srv_remote_stream_of(const char *name)
{
    for (int i = 0; i < SRV_REMOTE_N_STREAMS; i++)
        if (strcmp(name, stream_names[i]) == 0)
            return i;
    return -1;
}

int srv_remote_open(struct srv_remote *rm, int64_t device_id, const char *device_name,
                    const char *request, char id[SRV_REMOTE_ID_LEN + 1], struct m87_error **err)
{
    unsigned char rnd[8];
    if (m87_random_bytes(rnd, sizeof(rnd), err) < 0)
        return -1;
    struct srv_channel *ch = m87_xcalloc(1, sizeof(*ch));
    snprintf(ch->id, sizeof(ch->id), "r-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    ch->rm = rm;
    ch->device_id = device_id;
    ch->device_name = m87_xstrdup(device_name);
    ch->request = m87_xstrdup(request);
    ch->exit_code = -1;
    clock_gettime(CLOCK_MONOTONIC, &ch->created);
    pthread_mutex_lock(&rm->mu);
    if (rm->closed) {
        pthread_mutex_unlock(&rm->mu);
        channel_free(ch);
        return m87_error_set(err, M87_E_CONFLICT, 0, "the server is stopping");
    }
    if (rm->n >= SRV_REMOTE_MAX) {
        pthread_mutex_unlock(&rm->mu);
        channel_free(ch);
        return m87_error_set(err, M87_E_CONFLICT, 0, "%d remote channels are open already",
                             SRV_REMOTE_MAX);
    }
    ch->next = rm->channels;
    rm->channels = ch;
    rm->n++;
    memcpy(id, ch->id, sizeof(ch->id));
    pthread_mutex_unlock(&rm->mu);
    return 0;
}

size_t srv_remote_jw_pending(struct srv_remote *rm, struct m87_jw *w, int64_t device_id)
{
    size_t n = 0;
    pthread_mutex_lock(&rm->mu);
    for (struct srv_channel *ch = rm->channels; ch; ch = ch->next) {
        if (ch->device_id != device_id || ch->state != CH_PENDING)
            continue;
        if (n++ == 0) {
            m87_jw_key(w, "remote");
            m87_jw_arr_open(w);
        }
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "id", ch->id);
        m87_jw_key(w, "request");
        struct m87_json *req = m87_json_parse(ch->request, strlen(ch->request), NULL);
        m87_jw_node(w, req); /* it was parsed before it was kept */
        m87_json_free(req);
        m87_jw_obj_close(w);
        ch->state = CH_DELIVERED;
    }
    if (n > 0)
        m87_jw_arr_close(w);
    pthread_mutex_unlock(&rm->mu);
    return n;
}

struct srv_channel *srv_remote_find(struct srv_remote *rm, int64_t device_id,
                                    const char *device_name, const char *id, struct m87_error **err)
{
    for (struct srv_channel *ch = rm->channels; ch; ch = ch->next)
        if (strcmp(ch->id, id) == 0 && !ch->shadow &&
            (device_id > 0 ? ch->device_id == device_id
                           : strcmp(ch->device_name, device_name) == 0))
            return ch;
    m87_error_set(err, M87_E_NOTFOUND, 0, "no remote channel '%s' on this device", id);
    return NULL;
}

int srv_remote_finish(struct srv_remote *rm, int64_t device_id, const char *id, int exit_code,
                      const char *message, struct m87_error **err)
{
    pthread_mutex_lock(&rm->mu);
    struct srv_channel *ch = srv_remote_find(rm, device_id, NULL, id, err);
    if (ch && ch->state != CH_ENDED) {
        ch->state = CH_ENDED;
        ch->exit_code = exit_code;
        ch->message = message ? m87_xstrdup(message) : NULL;
        clock_gettime(CLOCK_MONOTONIC, &ch->ended);
        wake_all(ch);
    }
    pthread_mutex_unlock(&rm->mu);
    return ch ? 0 : -1;
}

static int64_t duration_ms(const struct srv_channel *ch)
{
    return ch->state == CH_ENDED ? ms_since(&ch->created) - ms_since(&ch->ended)
                                 : ms_since(&ch->created);
}

int srv_remote_stats(struct srv_remote *rm, int64_t device_id, const char *id, int64_t *duration,
                     int64_t bytes[3], struct m87_error **err)
{
    pthread_mutex_lock(&rm->mu);
    struct srv_channel *ch = srv_remote_find(rm, device_id, NULL, id, err);
    if (ch) {
        *duration = duration_ms(ch);
        for (int i = 0; i <= SRV_REMOTE_STDERR; i++)
            bytes[i] = ch->streams[i].bytes;
    }
    pthread_mutex_unlock(&rm->mu);
    return ch ? 0 : -1;
}

int srv_remote_jw_state(struct srv_remote *rm, const char *device_name, const char *id,
                        struct m87_jw *w, bool *ended, struct m87_error **err)
{
    pthread_mutex_lock(&rm->mu);
    struct srv_channel *ch = srv_remote_find(rm, 0, device_name, id, err);
    if (ch) {
        *ended = ch->state == CH_ENDED;
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "id", ch->id);
        m87_jw_kstr(w, "state", ch->broken ? "broken" : state_names[ch->state]);
        m87_jw_key(w, "exit_code");
        if (ch->exit_code >= 0)
            m87_jw_int(w, ch->exit_code);
        else
            m87_jw_null(w);
        m87_jw_key(w, "message");
        if (ch->message)
            m87_jw_str(w, ch->message);
        else
            m87_jw_null(w);
        m87_jw_key(w, "bytes");
        m87_jw_obj_open(w);
        for (int i = 0; i <= SRV_REMOTE_STDERR; i++)
            m87_jw_kint(w, stream_names[i], ch->streams[i].bytes);
        m87_jw_obj_close(w);
        m87_jw_kint(w, "duration_ms",
                    *ended ? ms_since(&ch->created) - ms_since(&ch->ended)
                           : ms_since(&ch->created));
        m87_jw_obj_close(w);
    }
    pthread_mutex_unlock(&rm->mu);
    return ch ? 0 : -1;
}

struct srv_remote_port *srv_remote_port_new(struct srv_channel *ch, enum srv_remote_stream stream,
                                            bool agent, struct MHD_Connection *conn,
                                            struct m87_error **err)
{
    bool admin_writes = stream == SRV_REMOTE_STDIN || stream == SRV_REMOTE_RESIZE;
    bool writer = agent ? !admin_writes : admin_writes;
    struct srv_remote_port *p = NULL;
    struct srv_stream *s = &ch->streams[stream];
    const char *id = ch->id;
    if (ch->state == CH_ENDED && (writer || agent || ch->broken)) {
        /* the admin's reader of a channel that ended well still gets what the device wrote: a
         * quick command (a cp of a missing file) may end before the CLI joined its stderr */
        m87_error_set(err, M87_E_CONFLICT, 0, "remote channel '%s' has ended", id);
    } else if (writer ? s->writer_seen : s->reader != NULL) {
        m87_error_set(err, M87_E_CONFLICT, 0, "the %s of remote channel '%s' is taken",
                      stream_names[stream], id);
    } else {
        p = m87_xcalloc(1, sizeof(*p));
        *p = (struct srv_remote_port){.ch = ch, .stream = stream, .writer = writer, .conn = conn};
        if (!conn) {
            pthread_cond_init(&p->cond, NULL);
            ch->rm->threads++;
        }
        if (!s->buf)
            s->buf = m87_xmalloc(SRV_REMOTE_STREAM_BUF);
        if (writer) {
            s->writer = p;
            s->writer_seen = true;
        } else {
            s->reader = p;
        }
        ch->ports++;
        if (agent)
            ch->state = CH_RUNNING;
    }
    return p;
}

struct srv_remote_port *srv_remote_attach(struct srv_remote *rm, int64_t device_id,
                                          const char *device_name, const char *id,
                                          enum srv_remote_stream stream, bool agent,
                                          struct MHD_Connection *conn, struct m87_error **err)
{
    pthread_mutex_lock(&rm->mu);
    struct srv_channel *ch = srv_remote_find(rm, agent ? device_id : 0, device_name, id, err);
    struct srv_remote_port *p = ch ? srv_remote_port_new(ch, stream, agent, conn, err) : NULL;
    pthread_mutex_unlock(&rm->mu);
    return p;
}

static void unlink_channel(struct srv_remote *rm, struct srv_channel *ch)
{
    for (struct srv_channel **pp = &rm->channels; *pp; pp = &(*pp)->next)
        if (*pp == ch) {
            *pp = ch->next;
            rm->n--;
            channel_free(ch);
            return;
        }
}

/* A port's channel stays in its registry while the port exists (ports counts it). */
static pthread_mutex_t *mutex_of(struct srv_remote_port *p)
{
    return &p->ch->rm->mu;
}

void srv_remote_detach(struct srv_remote_port *p)
{
    if (!p)
        return;
    pthread_mutex_t *mu = mutex_of(p);
    pthread_mutex_lock(mu);
    struct srv_channel *ch = p->ch;
    struct srv_stream *s = &ch->streams[p->stream];
    if (!p->finished)
        srv_remote_channel_break(ch, p->writer ? "a writer went away before its end"
                                               : "a reader went away before the end");
    if (p->writer) {
        s->writer = NULL;
        srv_remote_port_resume(s->reader); /* it sees the end (or the break) */
    } else {
        s->reader = NULL;
    }
    ch->ports--;
    struct srv_remote *rm = ch->rm;
    if (!p->conn) {
        pthread_cond_destroy(&p->cond);
        if (--rm->threads == 0)
            pthread_cond_broadcast(&rm->cond);
    }
    if (ch->shadow && ch->ports == 0) /* one request's: no other finds it */
        unlink_channel(rm, ch);
    pthread_mutex_unlock(mu);
    free(p);
}

/* As much of data as the stream's buffer takes; its reader is woken. */
size_t srv_remote_ring_put(struct srv_stream *s, const char *data, size_t n)
{
    size_t took = 0;
    while (took < n && s->len < SRV_REMOTE_STREAM_BUF) {
        size_t tail = (s->head + s->len) % SRV_REMOTE_STREAM_BUF;
        size_t room = tail >= s->head && s->len < SRV_REMOTE_STREAM_BUF
                          ? SRV_REMOTE_STREAM_BUF - tail
                          : s->head - tail;
        size_t k = n - took < room ? n - took : room;
        memcpy(s->buf + tail, data + took, k);
        s->len += k;
        took += k;
    }
    s->bytes += (int64_t)took;
    if (took > 0)
        srv_remote_port_resume(s->reader);
    return took;
}

size_t srv_remote_write(struct srv_remote_port *p, const char *data, size_t n)
{
    pthread_mutex_t *mu = mutex_of(p);
    pthread_mutex_lock(mu);
    struct srv_channel *ch = p->ch;
    struct srv_stream *s = &ch->streams[p->stream];
    size_t took = 0;
    if (ch->state == CH_ENDED) {
        took = (size_t)-1;
    } else {
        took = srv_remote_ring_put(s, data, n);
        if (took < n)
            srv_remote_port_suspend(p);
    }
    pthread_mutex_unlock(mu);
    return took;
}

int srv_remote_write_done(struct srv_remote_port *p, char **why)
{
    pthread_mutex_lock(mutex_of(p));
    struct srv_channel *ch = p->ch;
    struct srv_stream *s = &ch->streams[p->stream];
    int rc = 1;
    p->finished = true;
    s->writer_done = true;
    srv_remote_port_resume(s->reader);
    if (ch->shadow && ch->broken) {
        *why = m87_xstrdup(ch->message ? ch->message : "the remote channel broke");
        rc = -1;
    } else if (ch->shadow && !s->delivered) {
        srv_remote_port_suspend(p);
        rc = 0;
    }
    pthread_mutex_unlock(mutex_of(p));
    return rc;
}

void srv_remote_write_end(struct srv_remote_port *p)
{
    pthread_mutex_t *mu = mutex_of(p);
    pthread_mutex_lock(mu);
    struct srv_stream *s = &p->ch->streams[p->stream];
    p->finished = true;
    s->writer_done = true;
    srv_remote_port_resume(s->reader);
    pthread_mutex_unlock(mu);
}

/* A reader's step under the mutex: bytes (> 0), 0 at the end of the stream, -1 when the channel
 * broke, -2 when nothing is buffered yet. */
ssize_t srv_remote_ring_get(struct srv_remote_port *p, char *buf, size_t max)
{
    struct srv_channel *ch = p->ch;
    struct srv_stream *s = &ch->streams[p->stream];
    if (s->len > 0) {
        size_t k = s->len < max ? s->len : max;
        if (k > SRV_REMOTE_STREAM_BUF - s->head)
            k = SRV_REMOTE_STREAM_BUF - s->head;
        memcpy(buf, s->buf + s->head, k);
        s->head = (s->head + k) % SRV_REMOTE_STREAM_BUF;
        s->len -= k;
        srv_remote_port_resume(s->writer);
        return (ssize_t)k;
    }
    if (s->writer_done || (ch->state == CH_ENDED && !ch->broken)) {
        /* the writer's end, or a channel that ended with this stream never written */
        p->finished = true;
        return 0;
    }
    if (ch->state == CH_ENDED) {
        p->finished = true; /* broken: the status says why */
        return -1;
    }
    return -2;
}

ssize_t srv_remote_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct srv_remote_port *p = cls;
    (void)pos;
    pthread_mutex_t *mu = mutex_of(p);
    pthread_mutex_lock(mu);
    ssize_t rc = srv_remote_ring_get(p, buf, max);
    if (rc == 0)
        rc = MHD_CONTENT_READER_END_OF_STREAM;
    else if (rc == -1)
        rc = MHD_CONTENT_READER_END_WITH_ERROR;
    else if (rc == -2) {
        srv_remote_port_suspend(p);
        rc = 0;
    }
    pthread_mutex_unlock(mu);
    return rc;
}
