/* Private to src/engine: the client struct and the libcurl transport. */
#ifndef M87_ENGINE_INTERNAL_H
#define M87_ENGINE_INTERNAL_H

#include "m87/engine-call.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

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

/* GET base (which may carry a query already) with filters added as "filters=" when not empty,
 * and check that the answer is of type. -1 with *err wrapped as "list WHAT", or M87_E_PARSE
 * "list WHAT: answer is not an array|object". */
int engine_get_list(struct engine_client *c, const char *base, const struct m87_kvlist *filters,
                    enum m87_json_type type, const char *what, struct m87_json **out,
                    struct m87_error **err);

#endif
