/* /v1/devices/NAME/prefetch: images a device is asked to pull ahead of any deployment. The list
 * is part of the device's policy: a change bumps it and wakes the held sync, and every sync answer
 * carries the list while it is not empty ("prefetch_images"), with or without a target. The
 * device's "prefetch" reports keep the newest state of each image. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/limits.h"
#include "server/request.h"
#include "server/store-devices.h"
#include "server/store-reports.h"

/* A reference as docker takes it: [registry[:port]/]path[:tag][@digest], no blanks. */
static bool valid_ref(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SRV_MAX_IMAGE_REF ||
        !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-/:@", *s)))
            return false;
    return true;
}

static int body_images(struct srv_req *r, struct m87_strv *out, struct m87_error **err)
{
    static const char *const fields[] = {"images", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return -1;
    const struct m87_json *imgs = m87_json_get(body, "images");
    if (m87_json_type(imgs) != M87_JSON_ARRAY || m87_json_len(imgs) == 0 ||
        m87_json_len(imgs) > SRV_MAX_PREFETCH)
        return m87_error_set(err, M87_E_INVAL, 0, "images: expected an array of 1 to %d images",
                             SRV_MAX_PREFETCH);
    for (size_t i = 0; i < m87_json_len(imgs); i++) {
        const char *ref = m87_json_str(m87_json_at(imgs, i), NULL);
        if (ref == NULL || !valid_ref(ref))
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "images[%zu]: expected an image reference like "
                                 "'registry.example.com/app:2'",
                                 i);
        m87_strv_add(out, ref);
    }
    return 0;
}

/* The state of one image from its newest report: "pending" before any. */
static void write_entry(struct m87_jw *w, const struct srv_prefetch *p)
{
    static const char *const copied[] = {"message",    "layers_done", "layers_total",
                                         "bytes_done", "bytes_total", "time"};
    _cleanup_(m87_json_freep) struct m87_json *rep =
        p->report ? m87_json_parse(p->report, strlen(p->report), NULL) : NULL;

    m87_jw_obj_open(w);
    srv_jw_row(w, &srv_prefetch_row, p);
    m87_jw_kstr(w, "state", m87_json_str(m87_json_get(rep, "state"), "pending"));
    for (size_t i = 0; i < M87_ARRAY_LEN(copied); i++) {
        const struct m87_json *v = m87_json_get(rep, copied[i]);
        m87_jw_key(w, copied[i]);
        if (v)
            m87_jw_node(w, v);
        else
            m87_jw_null(w);
    }
    m87_jw_obj_close(w);
}

int srv_jw_prefetch_status(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                           struct m87_error **err)
{
    struct srv_prefetch *v = NULL;
    size_t n = 0;

    if (srv_prefetch_list(st, d->id, &v, &n, err) < 0)
        return -1;
    m87_jw_key(w, "prefetch_images");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        write_entry(w, &v[i]);
    m87_jw_arr_close(w);
    srv_prefetch_free(v, n);
    return 0;
}

int srv_jw_prefetch_sync(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                         struct m87_error **err)
{
    struct srv_prefetch *v = NULL;
    size_t n = 0;
    int rc = 0;

    if (d->id == 0) /* removed while its sync was held */
        return 0;
    if (srv_prefetch_list(st, d->id, &v, &n, err) < 0)
        return -1;
    if (n > 0) {
        m87_jw_key(w, "prefetch_images");
        m87_jw_obj_open(w);
        m87_jw_key(w, "images");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < n; i++)
            m87_jw_str(w, v[i].image);
        m87_jw_arr_close(w);
        m87_jw_kstr(w, "prefetch", d->prefetch ? d->prefetch : "always");
        rc = srv_jw_windows(st, w, d, false, err);
        m87_jw_obj_close(w);
    }
    srv_prefetch_free(v, n);
    return rc;
}

int srv_prefetch_report(struct srv_store *st, int64_t device_id, const struct srv_report *rep,
                        struct m87_error **err)
{
    if (strcmp(rep->kind, "prefetch") != 0)
        return 0;
    _cleanup_(m87_json_freep) struct m87_json *doc =
        m87_json_parse(rep->raw, strlen(rep->raw), NULL);
    const char *image = m87_json_str(m87_json_get(doc, "image"), NULL);
    if (image == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "reports[seq %lld].image: expected a string",
                             (long long)rep->seq);
    return srv_prefetch_note(st, device_id, image, rep->raw, err);
}

int srv_api_prefetch_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device d = {0};
    if (srv_device_find(r->srv->store, r->params.v[0], &d, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    int rc = srv_jw_prefetch_status(r->srv->store, w, &d, err);
    m87_jw_kstr(w, "prefetch", d.prefetch);
    m87_jw_obj_close(w);
    return rc;
}

int srv_api_prefetch_add(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct m87_strv images;
    _cleanup_(srv_device_release) struct srv_device d = {0};

    m87_strv_init(&images);
    int rc = body_images(r, &images, err);
    if (rc == 0)
        rc = srv_device_find(r->srv->store, r->params.v[0], &d, err);
    if (rc == 0)
        rc = srv_prefetch_add(r->srv->store, d.id, &images, err);
    if (rc == 0) {
        r->notify_device = d.id;
        m87_jw_obj_open(w);
        rc = srv_jw_prefetch_status(r->srv->store, w, &d, err);
        m87_jw_kstr(w, "prefetch", d.prefetch);
        m87_jw_obj_close(w);
    }
    m87_strv_release(&images);
    return rc;
}

int srv_api_prefetch_clear(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    (void)w;
    return srv_change_device(r, srv_prefetch_clear, err);
}
