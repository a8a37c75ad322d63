/* /v1/fleets: create, list, show (with the members), delete; and the fleets a device joins and
 * leaves when its labels change (the answers of POST /v1/devices and PATCH /v1/devices/NAME).
 *
 * Membership is live and not stored: a fleet's members are the devices whose current labels meet
 * its selector, found by reading the devices and every label in two statements
 * (srv_device_list, srv_labels_fill) and matching in C. That is cheap for the sizes we serve
 * today and can never go stale. The next step, when rollouts need to react to a device joining
 * or leaving, is a fleet_members table kept by the label changes themselves (the moves computed
 * here are exactly its inserts and deletes), so that a join is an event rather than a scan. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-selector.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/request.h"
#include "server/row.h"
#include "server/store-devices.h"
#include "server/store-fleets.h"
#include "server/util.h"

/* Every device with its labels, by name. */
static int load_devices(struct srv_store *st, struct srv_device **v, size_t *n,
                        struct m87_error **err)
{
    if (srv_device_list(st, v, n, err) < 0)
        return -1;
    return srv_labels_fill(st, *v, *n, err);
}

static void free_devices(struct srv_device *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        srv_device_release(&v[i]);
    free(v);
}

/* A stored selector was canonical when it was stored: failing to parse it is a damaged row. */
static int fleet_selector(const struct srv_fleet *f, struct spec_selector *sel,
                          struct m87_error **err)
{
    if (spec_selector_parse(f->selector, sel, err) < 0) {
        m87_error_wrap(err, "fleet '%s': stored selector", f->name);
        (*err)->code = M87_E_INTERNAL;
        return -1;
    }
    return 0;
}

/* "members": the names of the devices of v that meet sel. */
static void jw_members(struct m87_jw *w, const struct spec_selector *sel,
                       const struct srv_device *v, size_t n)
{
    m87_jw_key(w, "members");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        if (spec_selector_match(sel, &v[i].labels))
            m87_jw_str(w, v[i].name);
    m87_jw_arr_close(w);
}

/* The fleet object of GET /v1/fleets/NAME: its row and its members now. */
static int jw_fleet(struct srv_store *st, struct m87_jw *w, const struct srv_fleet *f,
                    struct m87_error **err)
{
    struct spec_selector sel = {0};
    struct srv_device *v = NULL;
    size_t n = 0;
    int rc = fleet_selector(f, &sel, err);
    if (rc == 0)
        rc = load_devices(st, &v, &n, err);
    if (rc == 0) {
        m87_jw_obj_open(w);
        srv_jw_row(w, &srv_fleet_row, f);
        jw_members(w, &sel, v, n);
        m87_jw_obj_close(w);
    }
    free_devices(v, n);
    spec_selector_release(&sel);
    return rc;
}

/* The body's name and selector, checked; the selector made canonical into *canonical. */
static int body_fleet(struct srv_req *r, char **name, char **canonical, struct m87_error **err)
{
    static const char *const fields[] = {"name", "selector", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return -1;
    const struct m87_json *nj = m87_json_get(body, "name");
    if (nj == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "name: missing");
    if (m87_json_type(nj) != M87_JSON_STRING || !srv_valid_device_name(m87_json_str(nj, "")))
        return m87_error_set(err, M87_E_INVAL, 0, "name: must match [a-z0-9][a-z0-9_.-]{0,62}");
    const struct m87_json *sj = m87_json_get(body, "selector");
    if (sj == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "selector: missing");
    if (m87_json_type(sj) != M87_JSON_STRING)
        return m87_error_set(err, M87_E_INVAL, 0, "selector: expected a string");
    struct spec_selector sel = {0};
    if (spec_selector_parse(m87_json_str(sj, ""), &sel, err) < 0)
        return m87_error_wrap(err, "selector");
    *canonical = spec_selector_format(&sel);
    spec_selector_release(&sel);
    *name = m87_xstrdup(m87_json_str(nj, ""));
    return 0;
}

int srv_api_fleets_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_free_ char *name = NULL;
    _cleanup_free_ char *selector = NULL;
    if (body_fleet(r, &name, &selector, err) < 0)
        return -1;
    struct srv_fleet f = {0};
    int rc = srv_fleet_create(r->srv->store, name, selector, &f, err);
    if (rc == 0)
        rc = jw_fleet(r->srv->store, w, &f, err);
    srv_fleet_release(&f);
    return rc;
}

/* Every fleet with "member_count": the devices are read once for all of them. */
int srv_api_fleets_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct srv_fleet *fleets = NULL;
    size_t nf = 0;
    struct srv_device *v = NULL;
    size_t n = 0;
    int rc = srv_fleet_list(r->srv->store, &fleets, &nf, err);
    if (rc == 0)
        rc = load_devices(r->srv->store, &v, &n, err);
    if (rc == 0) {
        m87_jw_obj_open(w);
        m87_jw_key(w, "fleets");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < nf; i++) {
            struct spec_selector sel = {0};
            rc = fleet_selector(&fleets[i], &sel, err);
            if (rc < 0)
                break;
            int64_t count = 0;
            for (size_t j = 0; j < n; j++)
                count += spec_selector_match(&sel, &v[j].labels);
            m87_jw_obj_open(w);
            srv_jw_row(w, &srv_fleet_row, &fleets[i]);
            m87_jw_kint(w, "member_count", count);
            m87_jw_obj_close(w);
            spec_selector_release(&sel);
        }
        m87_jw_arr_close(w);
        m87_jw_obj_close(w);
    }
    free_devices(v, n);
    srv_fleets_free(fleets, nf);
    return rc;
}

int srv_api_fleets_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct srv_fleet f = {0};
    int rc = srv_fleet_find(r->srv->store, r->params.v[0], &f, err);
    if (rc == 0)
        rc = jw_fleet(r->srv->store, w, &f, err);
    srv_fleet_release(&f);
    return rc;
}

int srv_api_fleets_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    (void)w;
    return srv_fleet_delete(r->srv->store, r->params.v[0], err);
}

int srv_fleets_matching(struct srv_store *st, const struct m87_kvlist *labels, struct m87_strv *out,
                        struct m87_error **err)
{
    struct srv_fleet *fleets = NULL;
    size_t nf = 0;
    int rc = srv_fleet_list(st, &fleets, &nf, err);
    for (size_t i = 0; rc == 0 && i < nf; i++) {
        struct spec_selector sel = {0};
        rc = fleet_selector(&fleets[i], &sel, err);
        if (rc == 0 && spec_selector_match(&sel, labels))
            m87_strv_add(out, fleets[i].name);
        spec_selector_release(&sel);
    }
    srv_fleets_free(fleets, nf);
    return rc;
}

/* The names of a that are not in b; both sorted by strcmp (SQLite's BINARY order by name). */
static void jw_difference(struct m87_jw *w, const char *key, const struct m87_strv *a,
                          const struct m87_strv *b)
{
    m87_jw_key(w, key);
    m87_jw_arr_open(w);
    size_t j = 0;
    for (size_t i = 0; i < a->len; i++) {
        while (j < b->len && strcmp(b->items[j], a->items[i]) < 0)
            j++;
        if (j == b->len || strcmp(b->items[j], a->items[i]) != 0)
            m87_jw_str(w, a->items[i]);
    }
    m87_jw_arr_close(w);
}

void srv_jw_fleet_moves(struct m87_jw *w, const struct m87_strv *before,
                        const struct m87_strv *after)
{
    jw_difference(w, "fleets_joined", after, before);
    jw_difference(w, "fleets_left", before, after);
}
