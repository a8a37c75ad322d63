/* JSON helpers of the handlers and the store: request fields checked, times and stored JSON
 * written. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "server/json.h"
#include "server/util.h"

int srv_json_only(const struct m87_json *obj, const char *prefix, const char *const *allowed,
                  struct m87_error **err)
{
    for (size_t i = 0; i < m87_json_len(obj); i++) {
        const char *key = NULL;
        m87_json_member(obj, i, &key);
        bool known = false;
        for (size_t k = 0; allowed[k] && !known; k++)
            known = strcmp(allowed[k], key) == 0;
        if (!known)
            return m87_error_set(err, M87_E_INVAL, 0, "%s%sunknown field '%s'",
                                 prefix ? prefix : "", prefix ? ": " : "", key);
    }
    return 0;
}

bool srv_json_is_int(const struct m87_json *v, int64_t *out)
{
    if (m87_json_type(v) != M87_JSON_NUMBER)
        return false;
    /* the range check first: converting a larger double to int64_t is undefined */
    double d = m87_json_double(v, 0.5);
    if (!(d >= -9.0e18 && d <= 9.0e18) || d != (double)m87_json_int(v, 0))
        return false;
    *out = m87_json_int(v, 0);
    return true;
}

void srv_jw_time(struct m87_jw *w, const char *key, int64_t t)
{
    char buf[32];
    srv_time_format(t, buf);
    m87_jw_key(w, key);
    if (buf[0])
        m87_jw_str(w, buf);
    else
        m87_jw_null(w);
}

void srv_jw_raw(struct m87_jw *w, const char *json)
{
    _cleanup_(m87_json_freep) struct m87_json *doc =
        json ? m87_json_parse(json, strlen(json), NULL) : NULL;
    if (doc)
        m87_jw_node(w, doc);
    else
        m87_jw_null(w);
}
