/* What the handlers share: the transaction runner, request JSON, objects written as JSON. */
#include <string.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "server/server-internal.h"

void srv_run_tx(struct srv_req *r, unsigned status, srv_tx_fn fn)
{
    struct srv_store *st = r->srv->store;
    _cleanup_error_ struct m87_error *err = NULL;
    struct m87_jw *w = m87_jw_new();
    if (srv_store_begin(st, &err) < 0)
        goto fail;
    if (fn(r, w, &err) < 0) {
        srv_store_rollback(st);
        goto fail;
    }
    if (srv_store_commit(st, &err) < 0)
        goto fail;
    if (r->notify_device)
        srv_longpoll_notify(r->srv->lp, r->notify_device);
    if (status == 204) {
        m87_jw_free(w);
        srv_reply_empty(r, 204);
    } else {
        srv_reply_json(r, status, w);
    }
    return;
fail:
    m87_jw_free(w);
    srv_reply_fail(r, err);
}

struct m87_json *srv_body_object(struct srv_req *r, struct m87_error **err)
{
    const char *text = r->body.data ? r->body.data : "";
    size_t len = r->body.len;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
        i++;
    if (i == len) {
        text = "{}";
        len = 2;
    }
    struct m87_json *doc = m87_json_parse_max(text, len, SRV_JSON_MAX_DEPTH, err);
    if (doc == NULL)
        return NULL;
    if (m87_json_type(doc) != M87_JSON_OBJECT) {
        m87_json_free(doc);
        m87_error_set(err, M87_E_INVAL, 0, "body: expected a json object");
        return NULL;
    }
    return doc;
}

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
}

void srv_jw_deployment(struct m87_jw *w, const struct srv_deployment *d)
{
    m87_jw_kstr(w, "id", d->public_id);
    m87_jw_kbool(w, "active", d->active);
    m87_jw_kint(w, "revision", d->revision);
    m87_jw_kstr(w, "hash", d->hash);
    srv_jw_time(w, "created", d->created);
    srv_jw_time(w, "updated", d->updated);
    m87_jw_key(w, "jobs");
    srv_jw_raw(w, d->jobs);
}
