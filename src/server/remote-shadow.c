/* A relay thread's side of a shadow channel: the local copy of a channel another replica holds,
 * whose streams a relay thread carries to and from that replica (remote-relay.c, remote.h). */
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "server/remote-internal.h"
#include "server/remote.h"

int srv_remote_shadow(struct srv_remote *rm, int64_t device_id, const char *device_name,
                      const char *id, enum srv_remote_stream stream, bool agent,
                      struct MHD_Connection *conn, struct srv_remote_port **local,
                      struct srv_remote_port **far, struct m87_error **err)
{
    pthread_mutex_lock(&rm->mu);
    if (rm->closed) {
        pthread_mutex_unlock(&rm->mu);
        return m87_error_set(err, M87_E_CONFLICT, 0, "the server is stopping");
    }
    struct srv_channel *ch = m87_xcalloc(1, sizeof(*ch));
    *ch = (struct srv_channel){.rm = rm,
                               .device_id = device_id,
                               .state = CH_RUNNING,
                               .shadow = true,
                               .exit_code = -1,
                               .next = rm->channels};
    snprintf(ch->id, sizeof(ch->id), "%s", id);
    ch->device_name = m87_xstrdup(device_name);
    ch->request = m87_xstrdup("{}");
    clock_gettime(CLOCK_MONOTONIC, &ch->created);
    rm->channels = ch;
    rm->n++;
    /* a new channel's stream is free on both sides: neither fails */
    *local = srv_remote_port_new(ch, stream, agent, conn, NULL);
    *far = srv_remote_port_new(ch, stream, !agent, NULL, NULL);
    pthread_mutex_unlock(&rm->mu);
    return 0;
}

int srv_remote_push(struct srv_remote_port *p, const char *data, size_t n)
{
    pthread_mutex_lock(&p->ch->rm->mu);
    while (n > 0 && p->ch->state != CH_ENDED) {
        size_t took = srv_remote_ring_put(&p->ch->streams[p->stream], data, n);
        data += took;
        n -= took;
        if (n > 0)
            srv_remote_port_suspend(p);
    }
    pthread_mutex_unlock(&p->ch->rm->mu);
    return n > 0 ? -1 : 0;
}

ssize_t srv_remote_pull(struct srv_remote_port *p, char *buf, size_t max)
{
    pthread_mutex_lock(&p->ch->rm->mu);
    ssize_t rc;
    while ((rc = srv_remote_ring_get(p, buf, max)) == -2)
        srv_remote_port_suspend(p);
    pthread_mutex_unlock(&p->ch->rm->mu);
    return rc;
}

void srv_remote_break(struct srv_remote_port *p, const char *why)
{
    pthread_mutex_lock(&p->ch->rm->mu);
    srv_remote_channel_break(p->ch, why);
    pthread_mutex_unlock(&p->ch->rm->mu);
}

void srv_remote_delivered(struct srv_remote_port *p)
{
    pthread_mutex_lock(&p->ch->rm->mu);
    struct srv_stream *s = &p->ch->streams[p->stream];
    s->delivered = true;
    srv_remote_port_resume(s->writer);
    pthread_mutex_unlock(&p->ch->rm->mu);
}

bool srv_remote_ended(struct srv_remote_port *p)
{
    pthread_mutex_lock(&p->ch->rm->mu);
    bool ended = p->ch->state == CH_ENDED;
    pthread_mutex_unlock(&p->ch->rm->mu);
    return ended;
}
