/* Private to src/engine: the client struct and the libcurl transport. */
#ifndef M87_ENGINE_INTERNAL_H
#define M87_ENGINE_INTERNAL_H

#include "m87/engine-call.h"
#include "m87/engine.h"

struct engine_client {
    const struct engine_transport *ops;
    void *tctx;
    char *socket_path;
    long timeout_ms;
    char *api_version; /* negotiated, NULL until then */
};

/* The libcurl transport on a Unix socket. */
void *engine_curl_transport_new(const char *socket_path);
extern const struct engine_transport engine_curl_transport;

#endif
