/* The policy fields of targets and status answers: a device's maintenance windows, its prefetch
 * setting and whether its target is to be applied at once, and the change of a target that wakes
 * its held sync. */
#include <string.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/request.h"
#include "server/store-devices.h"

void srv_jw_window(struct m87_jw *w, const struct srv_window *win)
{
    m87_jw_obj_open(w);
    srv_jw_row(w, &srv_window_row, win);
    m87_jw_obj_close(w);
}

int srv_jw_windows(struct srv_store *st, struct m87_jw *w, const struct srv_device *d, bool full,
                   struct m87_error **err)
{
    struct srv_window *v = NULL;
    size_t n = 0;
    if (srv_window_list(st, d->id, &v, &n, err) < 0)
        return -1;
    m87_jw_key(w, "windows");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        if (full)
            srv_jw_window(w, &v[i]);
        else
            m87_jw_str(w, v[i].rule);
    }
    m87_jw_arr_close(w);
    srv_windows_free(v, n);
    return 0;
}

int srv_jw_policy(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                  const char *hash, struct m87_error **err)
{
    if (srv_jw_windows(st, w, d, false, err) < 0)
        return -1;
    m87_jw_kstr(w, "prefetch", d->prefetch ? d->prefetch : "always");
    m87_jw_kbool(w, "now", hash && d->now_revision && strcmp(hash, d->now_revision) == 0);
    m87_jw_kint(w, "policy", d->policy);
    return 0;
}

int srv_req_now(struct srv_req *r, bool *now, struct m87_error **err)
{
    const char *q = srv_req_query(r, "now");
    *now = false;
    if (q == NULL || strcmp(q, "0") == 0 || strcmp(q, "false") == 0)
        return 0;
    if (strcmp(q, "1") != 0 && strcmp(q, "true") != 0)
        return m87_error_set(err, M87_E_INVAL, 0, "now: expected 1 or 0");
    *now = true;
    return 0;
}

int srv_target_changed(struct srv_req *r, const struct srv_device *dev, const char *hash, bool now,
                       struct m87_error **err)
{
    r->notify_device = dev->id;
    return srv_device_set_now(r->srv->store, dev->id, now ? hash : NULL, err);
}
