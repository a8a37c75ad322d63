/* Raw calls to dockerd, for the call families of src/engine and for the compose executor where
 * it needs fields the typed calls of include/m87/engine.h do not parse (labels of every
 * container, an image's whole config). Paths are without the "/vX.Y" prefix. */
#ifndef M87_ENGINE_CALL_H
#define M87_ENGINE_CALL_H

#include "m87/buf.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

/* How one call is made, beyond its method and path. Zero-initialised means: no body, the
 * client's ordinary time bound, no watchdog, the whole answer buffered. */
struct engine_call {
    const char *method;
    const char *body;
    size_t body_len;
    const char *content_type;
    const struct m87_kvlist *headers;
    long timeout_ms; /* 0: the client's bound; ENGINE_NO_TIMEOUT: none */
    long stall_ms;
    int (*on_data)(void *ctx, const char *data, size_t len);
    void *ctx;
};

#define ENGINE_NO_TIMEOUT (-1L)

/* Make a versioned call (path without the "/vX.Y" prefix). Returns 0 for 2xx, 1 for 304,
 * -1 with *err for everything else (dockerd's message in the text, the status in the error).
 * resp may be NULL when the body does not matter. */
int engine_do(struct engine_client *c, const struct engine_call *call, const char *path,
              struct engine_response *resp, struct m87_error **err);

/* Make a call whose 2xx body is a log-framed stream (raw when tty), handed to fn through a
 * demultiplexer (whole lines when lines is set). Sets call->on_data and call->ctx. A bad frame
 * or a line past the cap is reported as itself, not as a cancelled transfer. */
int engine_do_demuxed(struct engine_client *c, struct engine_call *call, const char *path, bool tty,
                      bool lines, engine_output_fn fn, void *ctx, struct m87_error **err);

/* GET path and parse the JSON answer. */
int engine_get_json(struct engine_client *c, const char *path, struct m87_json **out,
                    struct m87_error **err);

/* Send a JSON body (NULL for none) with method and parse the answer when out is not NULL. */
int engine_send_json(struct engine_client *c, const char *method, const char *path,
                     const char *body, struct m87_json **out, struct m87_error **err);

void engine_response_init(struct engine_response *r);
void engine_response_release(struct engine_response *r);

/* Query strings: append "?k=v" or "&k=v" with v escaped. */
void engine_qs_add(struct m87_buf *path, const char *key, const char *value);
/* Append "filters=" with the kvlist encoded as dockerd's map of lists, when not empty. */
void engine_qs_filters(struct m87_buf *path, const struct m87_kvlist *filters);
/* A path with one escaped segment: engine_path_seg("/containers/", id, "/json"). */
char *engine_path_seg(const char *before, const char *seg, const char *after);

/* "/name" -> "name" copy. */
char *engine_strip_slash(const char *name);

/* Copy a string member or NULL. */
char *engine_json_strdup(const struct m87_json *n);

#endif
