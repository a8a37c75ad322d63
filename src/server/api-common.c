/* What the handlers share: devices and deployments written as JSON, and a change of the device
 * a request names. */
#include <string.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/limits.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/util.h"

bool srv_device_online(struct srv *s, const struct srv_device *d)
{
    return !d->offline && d->last_seen > 0 &&
           d->last_seen >= srv_now() - s->longpoll_max - SRV_ONLINE_GRACE;
}

void srv_jw_device(struct srv *s, struct m87_jw *w, const struct srv_device *d)
{
    m87_jw_kstr(w, "name", d->name);
    srv_jw_time(w, "created", d->created);
    srv_jw_time(w, "last_seen", d->last_seen);
    m87_jw_kstr(w, "agent_version", d->agent_version);
    m87_jw_kstr(w, "applied_revision", d->applied);
    m87_jw_kbool(w, "online", srv_device_online(s, d));
    m87_jw_kstr(w, "prefetch", d->prefetch ? d->prefetch : "always");
    m87_jw_key(w, "labels");
    m87_jw_kvlist(w, &d->labels);
}

void srv_jw_deployment(struct m87_jw *w, const struct srv_deployment *d)
{
    srv_jw_row(w, &srv_deployment_row, d);
}

int srv_change_device(struct srv_req *r,
                      int (*change)(struct srv_store *st, int64_t id, struct m87_error **err),
                      struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device d = {0};
    if (srv_device_find(r->srv->store, r->params.v[0], &d, err) < 0)
        return -1;
    int rc = change(r->srv->store, d.id, err);
    r->notify_device = d.id;
    return rc;
}
