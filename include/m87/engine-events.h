/* The event stream of the Engine API client (include/m87/engine.h has the contract of every call). */
#ifndef M87_ENGINE_EVENTS_H
#define M87_ENGINE_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

struct engine_event {
    const char *type;      /* container, network, volume, image, ... */
    const char *action;    /* start, die, health_status: healthy, ... */
    const char *actor_id;
    const struct m87_kvlist *attributes; /* labels and name, image, exitCode, ... */
    int64_t time;          /* unix seconds */
    int64_t time_nano;
};

/* Return non-zero to end the stream (the call then returns 0: stopping is not a failure). */
typedef int (*engine_event_fn)(void *ctx, const struct engine_event *ev);

struct engine_events_options {
    const char *since;     /* unix seconds, NULL: now */
    const char *until;     /* NULL: endless */
    const struct m87_kvlist *filters;
};

/* GET /events, one callback per event, no time bound. */
int engine_events(struct engine_client *c, const struct engine_events_options *opts,
                  engine_event_fn fn, void *ctx, struct m87_error **err);

#endif
