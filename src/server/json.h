/* m87-server private: JSON helpers of the handlers and the store (json.c): request fields
 * checked, times and stored JSON written. */
#ifndef M87_SERVER_JSON_H
#define M87_SERVER_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"


/* True with *out when v is a number with an integral value in int64 range. */
bool srv_json_is_int(const struct m87_json *v, int64_t *out);
/* M87_E_INVAL "unknown field 'K'" (with "PREFIX: " when prefix is not NULL) for the first key
 * of obj not in allowed (NULL-terminated). */
int srv_json_only(const struct m87_json *obj, const char *prefix, const char *const *allowed,
                  struct m87_error **err);

/* "key": t as RFC 3339 UTC, or null for 0. */
void srv_jw_time(struct m87_jw *w, const char *key, int64_t t);
/* Write stored JSON text as a value (it was produced by us, so it parses). */
void srv_jw_raw(struct m87_jw *w, const char *json);

#endif
