/* m87-server private: what handlers read a request and answer it with (request.c): headers,
 * query arguments, the JSON body, replies, and the transaction a handler's work runs in. */
#ifndef M87_SERVER_REQUEST_H
#define M87_SERVER_REQUEST_H

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "server/http.h"

struct MHD_Response;

/* Queue a reply. json: owned and freed (m87_jw_finish'ed here). */
void srv_reply_json(struct srv_req *r, unsigned status, struct m87_jw *w);
void srv_reply_error(struct srv_req *r, unsigned status, const char *code, const char *fmt, ...)
    M87_PRINTF(4, 5);
/* A JSON error response, for replies that need extra headers. */
struct MHD_Response *srv_error_response(const char *code, const char *msg);
/* The error's code decides the status: INVAL/PARSE 400, NOTFOUND 404, CONFLICT 409,
 * TOOBIG 413, anything else 500. */
void srv_reply_fail(struct srv_req *r, const struct m87_error *err);
void srv_reply_empty(struct srv_req *r, unsigned status);
/* Queue resp (destroyed here) with status. */
void srv_reply_response(struct srv_req *r, unsigned status, struct MHD_Response *resp);
/* A request header, or NULL. */
const char *srv_req_header(struct srv_req *r, const char *name);
/* A query argument, or NULL. */
const char *srv_req_query(struct srv_req *r, const char *name);
/* 400 naming the first query argument not in allowed (NULL-terminated); 0 when all known. */
int srv_req_check_query(struct srv_req *r, const char *const *allowed);

/* Run fn in a transaction and reply: on success the JSON written into w with status (204:
 * no body), on failure the error. After a commit the device in r->notify_device is woken. */
void srv_run_tx(struct srv_req *r, unsigned status, srv_tx_fn fn);

/* The JSON body as an object (an empty body is {}) without a field outside allowed
 * (NULL-terminated; NULL: any field); M87_E_INVAL or M87_E_PARSE naming what is wrong. */
struct m87_json *srv_body_object(struct srv_req *r, const char *const *allowed,
                                 struct m87_error **err);

#endif
