/* Failed authentications per source: a token bucket for each IPv4 address or IPv6 /64, kept in a
 * fixed table so that a flood from many addresses costs no memory. A source that has spent its
 * bucket is refused (429) before its token is looked at, until the bucket refills. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "server/ratelimit.h"

#define SETS 1024u /* the table: SETS x WAYS sources */
#define WAYS 4u

struct slot {
    unsigned char key[16]; /* IPv4 mapped into IPv6, or an IPv6 /64 prefix */
    bool used;
    double tokens;   /* failures the source may still have */
    int64_t updated; /* ms when tokens was computed */
};

struct srv_ratelimit {
    pthread_mutex_t lock;
    double burst;  /* failures in a row before the source waits */
    double per_ms; /* refill: failures allowed per ms */
    struct slot *slots;
};

struct srv_ratelimit *srv_ratelimit_new(unsigned per_minute)
{
    if (per_minute == 0)
        return NULL;
    struct srv_ratelimit *rl = m87_xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->lock, NULL);
    rl->burst = per_minute;
    rl->per_ms = per_minute / 60000.0;
    rl->slots = m87_xcalloc(SETS * WAYS, sizeof(*rl->slots));
    return rl;
}

void srv_ratelimit_free(struct srv_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->slots);
    free(rl);
}

/* The source of an address; false for a family that is not limited (e.g. a Unix socket). */
static bool source_key(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
        return true;
    }
    if (sa && sa->sa_family == AF_INET6) {
        /* one host usually has a whole /64: limiting single addresses would not limit it */
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 8);
        return true;
    }
    return false;
}

static uint32_t key_hash(const unsigned char key[16])
{
    uint32_t h = 2166136261u; /* FNV-1a: spreads the sets, not a defence in itself */
    for (size_t i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

static void refill(const struct srv_ratelimit *rl, struct slot *s, int64_t now_ms)
{
    if (now_ms > s->updated) {
        s->tokens += (double)(now_ms - s->updated) * rl->per_ms;
        if (s->tokens > rl->burst)
            s->tokens = rl->burst;
    }
    s->updated = now_ms;
}

/* The slot of key, or the one to take for it: an unused one, else the one with the most tokens
 * left (the least suspicious source is forgotten first). */
static struct slot *find(struct srv_ratelimit *rl, const unsigned char key[16], int64_t now_ms,
                         bool *found)
{
    struct slot *set = rl->slots + (key_hash(key) % SETS) * WAYS;
    struct slot *victim = NULL;

    for (size_t i = 0; i < WAYS; i++) {
        struct slot *s = &set[i];
        if (s->used && memcmp(s->key, key, 16) == 0) {
            *found = true;
            refill(rl, s, now_ms);
            return s;
        }
        if (s->used)
            refill(rl, s, now_ms);
        if (!victim || (victim->used && (!s->used || s->tokens > victim->tokens)))
            victim = s;
    }
    *found = false;
    return victim;
}

int64_t srv_ratelimit_wait(struct srv_ratelimit *rl, const struct sockaddr *sa, int64_t now_ms)
{
    unsigned char key[16];
    bool found = false;
    int64_t wait = 0;

    if (!rl || !source_key(sa, key))
        return 0;
    pthread_mutex_lock(&rl->lock);
    struct slot *s = find(rl, key, now_ms, &found);
    if (found && s->tokens < 1.0)
        wait = (int64_t)((1.0 - s->tokens) / rl->per_ms) + 1;
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

void srv_ratelimit_failed(struct srv_ratelimit *rl, const struct sockaddr *sa, int64_t now_ms)
{
    unsigned char key[16];
    bool found = false;

    if (!rl || !source_key(sa, key))
        return;
    pthread_mutex_lock(&rl->lock);
    struct slot *s = find(rl, key, now_ms, &found);
    if (!found) {
        *s = (struct slot){.used = true, .tokens = rl->burst, .updated = now_ms};
        memcpy(s->key, key, 16);
    }
    s->tokens = s->tokens >= 1.0 ? s->tokens - 1.0 : 0.0;
    pthread_mutex_unlock(&rl->lock);
}
