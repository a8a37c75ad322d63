/* blkio_config: the block IO weight and the per-device weights and throttles of a service. */
#include <stdlib.h>

#include "m87/alloc.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

/* The keys of blkio_config's lists, indexed by enum spec_blkio_list. */
static const char *const blkio_lists[SPEC_BLKIO_N] = {
    "weight_device", "device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops",
};

/* dockerd's bounds of a block IO weight (0 there means "not set", so it is refused here). */
#define BLKIO_WEIGHT_MIN 10
#define BLKIO_WEIGHT_MAX 1000

static int parse_device(struct svc *c, enum spec_blkio_list which, const struct cnode *e,
                        const char *path, struct spec_blkio_device *d)
{
    const char *value_key = which == SPEC_BLKIO_WEIGHT_DEVICE ? "weight" : "rate";
    const char *const known[] = {"path", value_key, NULL};
    if (spec_cn_keys(e, path, known, NULL, c->err) < 0)
        return -1;
    const struct cnode *pn = spec_cn_val(e, "path");
    const struct cnode *vn = spec_cn_val(e, value_key);
    if (pn == NULL)
        return spec_cn_error(e, c->err, "%s: missing required field 'path'", path);
    if (vn == NULL)
        return spec_cn_error(e, c->err, "%s: missing required field '%s'", path, value_key);
    _cleanup_free_ char *pp = spec_cn_path(path, "path");
    _cleanup_free_ char *vp = spec_cn_path(path, value_key);
    const char *text = NULL;
    if (spec_cn_str(pn, pp, &text, c->err) < 0)
        return -1;
    if (text[0] != '/')
        return spec_cn_error(pn, c->err, "%s: a device must be an absolute path, not '%s'", pp,
                             text);
    d->path = m87_xstrdup(text);
    switch (which) {
    case SPEC_BLKIO_WEIGHT_DEVICE:
        return spec_cn_int_range(vn, vp, BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX, &d->value, c->err);
    case SPEC_BLKIO_READ_BPS:
    case SPEC_BLKIO_WRITE_BPS:
        if (spec_cn_bytes(vn, vp, &d->value, c->err) < 0)
            return -1;
        if (d->value < 0)
            return spec_cn_error(vn, c->err, "%s: a rate cannot be negative", vp);
        return 0;
    default:
        return spec_cn_int_range(vn, vp, 0, INT64_MAX, &d->value, c->err);
    }
}

static int parse_list(struct svc *c, const struct cnode *cfg, const char *path,
                      enum spec_blkio_list which)
{
    const struct cnode *v = spec_cn_val(cfg, blkio_lists[which]);
    if (v == NULL)
        return 0;
    _cleanup_free_ char *lp = spec_cn_path(path, blkio_lists[which]);
    if (spec_cn_expect(v, lp, M87_YAML_SEQUENCE, c->err) < 0)
        return -1;
    struct spec_blkio_devices *out = &c->s->blkio[which];
    out->v = m87_xcalloc(v->len ? v->len : 1, sizeof(*out->v));
    for (size_t i = 0; i < v->len; i++) {
        _cleanup_free_ char *ip = spec_cn_path_i(lp, i);
        out->n = i + 1;
        if (parse_device(c, which, v->items[i], ip, &out->v[i]) < 0)
            return -1;
    }
    return 0;
}

int spec_svc_blkio(struct svc *c)
{
    const struct cnode *cfg = spec_svc_get(c, "blkio_config");
    if (cfg == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    const char *const known[] = {"weight",
                                 "weight_device",
                                 "device_read_bps",
                                 "device_write_bps",
                                 "device_read_iops",
                                 "device_write_iops",
                                 NULL};
    if (spec_cn_keys(cfg, path, known, NULL, c->err) < 0)
        return -1;
    const struct cnode *w = spec_cn_val(cfg, "weight");
    _cleanup_free_ char *wp = spec_cn_path(path, "weight");
    if (w && spec_cn_int_range(w, wp, BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX, &c->s->blkio_weight,
                               c->err) < 0)
        return -1;
    for (int i = 0; i < SPEC_BLKIO_N; i++)
        if (parse_list(c, cfg, path, (enum spec_blkio_list)i) < 0)
            return -1;
    return 0;
}

void spec_compose_blkio_release(struct spec_service *s)
{
    for (int i = 0; i < SPEC_BLKIO_N; i++) {
        for (size_t j = 0; j < s->blkio[i].n; j++)
            free(s->blkio[i].v[j].path);
        free(s->blkio[i].v);
        s->blkio[i].v = NULL;
        s->blkio[i].n = 0;
    }
}
