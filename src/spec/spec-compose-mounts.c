/* volumes (short and long syntax), tmpfs and devices of a service. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

static const char *const propagations[] = {"rprivate", "private", "rshared", "shared",
                                           "rslave",   "slave",   NULL};

static bool is_one_of(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static void mount_init(struct spec_mount *m)
{
    memset(m, 0, sizeof(*m));
    m->create_host_path = true;
    m->tmpfs_size = SPEC_UNSET;
    m->tmpfs_mode = SPEC_UNSET;
}

static void mount_release(struct spec_mount *m)
{
    free(m->source);
    free(m->target);
    free(m->selinux);
    free(m->propagation);
}

/* Append m (taken) unless its target is already mounted. */
static int add_mount(struct spec_service *s, struct spec_mount *m, const struct cnode *at,
                     const char *path, struct m87_error **err)
{
    for (size_t i = 0; i < s->n_mounts; i++) {
        if (strcmp(s->mounts[i].target, m->target) == 0) {
            int rc = spec_cn_error(at, err, "%s: duplicate mount point '%s'", path, m->target);
            mount_release(m);
            return rc;
        }
    }
    s->mounts = m87_xrealloc(s->mounts, (s->n_mounts + 1) * sizeof(*s->mounts));
    s->mounts[s->n_mounts++] = *m;
    return 0;
}

static int set_target(struct spec_mount *m, const struct cnode *at, const char *path,
                      const char *target, struct m87_error **err)
{
    if (target[0] != '/')
        return spec_cn_error(at, err, "%s: container path '%s' must be absolute", path, target);
    m->target = spec_compose_clean_path(target);
    return 0;
}

static int named_source(struct loader *l, struct spec_mount *m, const struct cnode *at,
                        const char *path, const char *key, struct m87_error **err)
{
    if (spec_project_volume(l->p, key) == NULL)
        return spec_cn_error(at, err, "%s: undefined volume '%s'", path, key);
    m->type = SPEC_MOUNT_VOLUME;
    m->source = m87_xstrdup(key);
    return 0;
}

static bool path_like(const char *s)
{
    return s[0] == '.' || s[0] == '/' || s[0] == '~';
}

/* ro,rw,z,Z,nocopy and propagation modes of a short entry. */
static int short_modes(struct spec_mount *m, const struct cnode *at, const char *path,
                       const char *spec, const char *modes, struct m87_error **err)
{
    _cleanup_free_ char *copy = m87_xstrdup(modes);
    for (char *opt = copy, *next; opt; opt = next) {
        next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        bool bind = m->type == SPEC_MOUNT_BIND;
        if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0) {
            m->read_only = opt[1] == 'o';
        } else if (strcmp(opt, "z") == 0 || strcmp(opt, "Z") == 0) {
            free(m->selinux);
            m->selinux = m87_xstrdup(opt);
        } else if (strcmp(opt, "nocopy") == 0 && !bind) {
            m->nocopy = true;
        } else if (is_one_of(opt, propagations) && bind) {
            free(m->propagation);
            m->propagation = m87_xstrdup(opt);
        } else {
            return spec_cn_error(at, err, "%s: invalid volume '%s': unknown mode '%s' for a %s",
                                 path, spec, opt, bind ? "bind mount" : "volume");
        }
    }
    return 0;
}

/* What reading a volume entry needs: the loader for paths and named volumes, the service to fill.
 */
struct volume_ctx {
    struct loader *l;
    struct spec_service *s;
};

static int volume_short(void *ctx, const struct cnode *at, const char *path, const char *spec,
                        struct m87_error **err)
{
    struct loader *l = ((struct volume_ctx *)ctx)->l;
    struct spec_service *s = ((struct volume_ctx *)ctx)->s;
    const char *parts[3];
    size_t lens[3], n = 0;
    for (const char *p = spec;; n++) {
        const char *colon = strchr(p, ':');
        if (n == 3)
            return spec_cn_error(at, err, "%s: invalid volume '%s': too many colons", path, spec);
        parts[n] = p;
        lens[n] = colon ? (size_t)(colon - p) : strlen(p);
        if (lens[n] == 0)
            return spec_cn_error(at, err, "%s: invalid volume '%s': empty section", path, spec);
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    n++;
    struct spec_mount m;
    mount_init(&m);
    _cleanup_free_ char *source = m87_xstrndup(parts[0], lens[0]);
    _cleanup_free_ char *target = m87_xstrndup(parts[n > 1], lens[n > 1]);
    int rc = 0;
    if (n == 1) {
        m.type = SPEC_MOUNT_ANON;
    } else if (path_like(source)) {
        m.type = SPEC_MOUNT_BIND;
        m.source = spec_loader_abspath(l, at, source, path, err);
        rc = m.source ? 0 : -1;
    } else {
        rc = named_source(l, &m, at, path, source, err);
    }
    if (rc == 0 && n == 3)
        rc = short_modes(&m, at, path, spec, parts[2], err);
    if (rc == 0)
        rc = set_target(&m, at, path, target, err);
    if (rc < 0) {
        mount_release(&m);
        return -1;
    }
    return add_mount(s, &m, at, path, err);
}

/* ---- long syntax -------------------------------------------------------------------------------
 */

/* bind: {propagation, create_host_path, selinux}; a volume takes the selinux label only, as
 * compose-go keeps the short syntax's z/Z there too. */
static int long_bind(struct spec_mount *m, const struct cnode *b, const char *path,
                     struct m87_error **err)
{
    static const char *const known[] = {"propagation", "create_host_path", "selinux", NULL};
    static const char *const volume_known[] = {"selinux", NULL};
    static const char *const unsupported[] = {"recursive", NULL};
    bool bind = m->type == SPEC_MOUNT_BIND;
    if (spec_cn_expect(b, path, M87_YAML_MAPPING, err) < 0)
        return -1;
    for (size_t i = 0; !bind && known[i]; i++) {
        const struct cnode *k = spec_cn_val(b, known[i]);
        if (k && strcmp(known[i], "selinux") != 0)
            return spec_cn_error(b, err, "%s: only applies to type bind", path);
    }
    if (spec_cn_keys(b, path, bind ? known : volume_known, unsupported, err) < 0)
        return -1;
    const struct cnode *v;
    const char *s = NULL;
    _cleanup_free_ char *pp = spec_cn_path(path, "propagation");
    _cleanup_free_ char *cp = spec_cn_path(path, "create_host_path");
    _cleanup_free_ char *sp = spec_cn_path(path, "selinux");
    if ((v = spec_cn_val(b, "propagation"))) {
        if (spec_cn_str(v, pp, &s, err) < 0)
            return -1;
        if (!is_one_of(s, propagations))
            return spec_cn_error(v, err, "%s: invalid propagation '%s'", pp, s);
        m->propagation = m87_xstrdup(s);
    }
    if ((v = spec_cn_val(b, "create_host_path")) &&
        spec_cn_bool(v, cp, &m->create_host_path, err) < 0)
        return -1;
    if ((v = spec_cn_val(b, "selinux"))) {
        if (spec_cn_str(v, sp, &s, err) < 0)
            return -1;
        if (strcmp(s, "z") != 0 && strcmp(s, "Z") != 0)
            return spec_cn_error(v, err, "%s: invalid selinux label '%s' (z or Z)", sp, s);
        m->selinux = m87_xstrdup(s);
    }
    return 0;
}

static int long_options(struct spec_mount *m, const struct cnode *e, const char *path,
                        struct m87_error **err)
{
    static const char *const volume_known[] = {"nocopy", NULL};
    static const char *const volume_unsupported[] = {"subpath", "labels", NULL};
    static const char *const tmpfs_known[] = {"size", "mode", NULL};
    const char *const sections[] = {"bind", "volume", "tmpfs"};
    const enum spec_mount_type types[] = {SPEC_MOUNT_BIND, SPEC_MOUNT_VOLUME, SPEC_MOUNT_TMPFS};
    for (size_t i = 0; i < 3; i++) {
        const struct cnode *v = spec_cn_val(e, sections[i]);
        _cleanup_free_ char *sp = spec_cn_path(path, sections[i]);
        bool volume_like = (types[i] == SPEC_MOUNT_VOLUME && m->type == SPEC_MOUNT_ANON) ||
                           (types[i] == SPEC_MOUNT_BIND && m->type == SPEC_MOUNT_VOLUME);
        if (v && m->type != types[i] && !volume_like)
            return spec_cn_error(v, err, "%s: only applies to type %s", sp, sections[i]);
    }
    const struct cnode *v;
    _cleanup_free_ char *bp = spec_cn_path(path, "bind");
    _cleanup_free_ char *vp = spec_cn_path(path, "volume");
    _cleanup_free_ char *tp = spec_cn_path(path, "tmpfs");
    if ((v = spec_cn_val(e, "bind")) && long_bind(m, v, bp, err) < 0)
        return -1;
    if ((v = spec_cn_val(e, "volume"))) {
        _cleanup_free_ char *np = spec_cn_path(vp, "nocopy");
        const struct cnode *nc;
        if (spec_cn_keys(v, vp, volume_known, volume_unsupported, err) < 0 ||
            ((nc = spec_cn_val(v, "nocopy")) && spec_cn_bool(nc, np, &m->nocopy, err) < 0))
            return -1;
    }
    if ((v = spec_cn_val(e, "tmpfs"))) {
        _cleanup_free_ char *zp = spec_cn_path(tp, "size");
        _cleanup_free_ char *mp = spec_cn_path(tp, "mode");
        const struct cnode *f;
        if (spec_cn_keys(v, tp, tmpfs_known, NULL, err) < 0 ||
            ((f = spec_cn_val(v, "size")) && spec_cn_bytes(f, zp, &m->tmpfs_size, err) < 0) ||
            ((f = spec_cn_val(v, "mode")) && spec_cn_mode(f, mp, &m->tmpfs_mode, err) < 0))
            return -1;
    }
    return 0;
}

static int long_type(struct spec_mount *m, const struct cnode *e, const char *path,
                     const char **source, struct m87_error **err)
{
    const struct cnode *t = spec_cn_val(e, "type");
    const struct cnode *src = spec_cn_val(e, "source");
    _cleanup_free_ char *tp = spec_cn_path(path, "type");
    _cleanup_free_ char *sp = spec_cn_path(path, "source");
    const char *type = NULL;
    if (t == NULL)
        return spec_cn_error(e, err, "%s: missing required field 'type'", path);
    if (spec_cn_str(t, tp, &type, err) < 0 || (src && spec_cn_str(src, sp, source, err) < 0))
        return -1;
    if (strcmp(type, "bind") == 0)
        m->type = SPEC_MOUNT_BIND;
    else if (strcmp(type, "volume") == 0)
        m->type = src && **source ? SPEC_MOUNT_VOLUME : SPEC_MOUNT_ANON;
    else if (strcmp(type, "tmpfs") == 0)
        m->type = SPEC_MOUNT_TMPFS;
    else if (strcmp(type, "npipe") == 0 || strcmp(type, "image") == 0 ||
             strcmp(type, "cluster") == 0)
        return spec_cn_error(t, err, "%s: unsupported volume type '%s'", tp, type);
    else
        return spec_cn_error(t, err, "%s: invalid volume type '%s' (bind, volume or tmpfs)", tp,
                             type);
    if (m->type == SPEC_MOUNT_BIND && (src == NULL || **source == '\0'))
        return spec_cn_error(e, err, "%s: missing required field 'source' for a bind mount", path);
    if (m->type == SPEC_MOUNT_TMPFS && src && **source)
        return spec_cn_error(src, err, "%s: not allowed for a tmpfs mount", sp);
    return 0;
}

static int volume_long(void *ctx, const struct cnode *e, const char *path, struct m87_error **err)
{
    struct loader *l = ((struct volume_ctx *)ctx)->l;
    struct spec_service *s = ((struct volume_ctx *)ctx)->s;
    static const char *const known[] = {"type", "source", "target", "read_only",
                                        "bind", "volume", "tmpfs",  NULL};
    static const char *const unsupported[] = {"consistency", "image", NULL};
    if (spec_cn_keys(e, path, known, unsupported, err) < 0)
        return -1;
    struct spec_mount m;
    mount_init(&m);
    m.long_syntax = true;
    const char *source = NULL, *target;
    const struct cnode *v = spec_cn_val(e, "target");
    _cleanup_free_ char *tp = spec_cn_path(path, "target");
    _cleanup_free_ char *sp = spec_cn_path(path, "source");
    _cleanup_free_ char *rp = spec_cn_path(path, "read_only");
    int rc = long_type(&m, e, path, &source, err);
    if (rc == 0 && v == NULL)
        rc = spec_cn_error(e, err, "%s: missing required field 'target'", path);
    if (rc == 0)
        rc = spec_cn_str(v, tp, &target, err) == 0 ? set_target(&m, v, tp, target, err) : -1;
    if (rc == 0 && m.type == SPEC_MOUNT_BIND) {
        m.source = spec_loader_abspath(l, spec_cn_get(e, "source"), source, sp, err);
        rc = m.source ? 0 : -1;
    } else if (rc == 0 && m.type == SPEC_MOUNT_VOLUME) {
        rc = named_source(l, &m, spec_cn_get(e, "source"), sp, source, err);
    }
    if (rc == 0 && (v = spec_cn_val(e, "read_only")))
        rc = spec_cn_bool(v, rp, &m.read_only, err);
    if (rc == 0)
        rc = long_options(&m, e, path, err);
    if (rc < 0) {
        mount_release(&m);
        return -1;
    }
    return add_mount(s, &m, e, path, err);
}

int spec_compose_volumes_parse(struct loader *l, const struct cnode *n, const char *path,
                               struct spec_service *s, struct m87_error **err)
{
    struct volume_ctx ctx = {.l = l, .s = s};
    return spec_cn_entries(n, path, &ctx, volume_long, volume_short, err);
}

/* ---- tmpfs and devices -------------------------------------------------------------------------
 */

int spec_compose_tmpfs_parse(const struct cnode *n, const char *path, struct spec_service *s,
                             struct m87_error **err)
{
    struct m87_strv v;
    m87_strv_init(&v);
    int rc = spec_cn_strings(n, path, &v, err);
    for (size_t i = 0; rc == 0 && i < v.len; i++) {
        const char *e = v.items[i];
        size_t cut = strcspn(e, ":");
        _cleanup_free_ char *target = m87_xstrndup(e, cut);
        if (target[0] != '/') {
            const struct cnode *at = spec_cn_is_seq(n) ? n->items[i] : n;
            _cleanup_free_ char *ip =
                spec_cn_is_seq(n) ? spec_cn_path_i(path, i) : m87_xstrdup(path);
            rc = spec_cn_error(at, err, "%s: container path '%s' must be absolute", ip, target);
            break;
        }
        _cleanup_free_ char *clean = spec_compose_clean_path(target);
        m87_kvlist_set(&s->tmpfs, clean, e[cut] ? e + cut + 1 : "");
    }
    m87_strv_release(&v);
    return rc;
}

static bool valid_permissions(const char *p)
{
    return *p && strspn(p, "rwm") == strlen(p) && strlen(p) <= 3;
}

static int add_device(struct spec_service *s, const struct cnode *at, const char *path,
                      const char *host, const char *container, const char *perms,
                      struct m87_error **err)
{
    if (host[0] != '/')
        return spec_cn_error(
            at, err,
            "%s: invalid device '%s': the host path must be absolute (CDI devices are "
            "not supported)",
            path, host);
    if (container[0] != '/')
        return spec_cn_error(at, err, "%s: container path '%s' must be absolute", path, container);
    if (!valid_permissions(perms))
        return spec_cn_error(at, err, "%s: invalid device permissions '%s' (a mix of r, w and m)",
                             path, perms);
    s->devices = m87_xrealloc(s->devices, (s->n_devices + 1) * sizeof(*s->devices));
    s->devices[s->n_devices++] = (struct spec_device){
        .host_path = m87_xstrdup(host),
        .container_path = m87_xstrdup(container),
        .permissions = m87_xstrdup(perms),
    };
    return 0;
}

static int device_long(void *svc, const struct cnode *e, const char *path, struct m87_error **err)
{
    struct spec_service *s = svc;
    static const char *const known[] = {"source", "target", "permissions", NULL};
    if (spec_cn_keys(e, path, known, NULL, err) < 0)
        return -1;
    const char *vals[3] = {NULL, NULL, "rwm"};
    for (size_t i = 0; i < 3; i++) {
        const struct cnode *v = spec_cn_val(e, known[i]);
        _cleanup_free_ char *kp = spec_cn_path(path, known[i]);
        if (v == NULL && i == 0)
            return spec_cn_error(e, err, "%s: missing required field 'source'", path);
        if (v && spec_cn_str(v, kp, &vals[i], err) < 0)
            return -1;
    }
    return add_device(s, e, path, vals[0], vals[1] ? vals[1] : vals[0], vals[2], err);
}

/* HOST[:CONTAINER][:PERMISSIONS]; a second part that reads as permissions is taken as them. */
static int device_short(void *svc, const struct cnode *e, const char *path, const char *spec,
                        struct m87_error **err)
{
    _cleanup_free_ char *copy = m87_xstrdup(spec);
    char *second = strchr(copy, ':'), *third = NULL;
    if (second)
        *second++ = '\0', third = strchr(second, ':');
    if (third)
        *third++ = '\0';
    const char *container = copy, *perms = "rwm";
    if (second && third)
        container = second, perms = third;
    else if (second && valid_permissions(second))
        perms = second;
    else if (second)
        container = second;
    return add_device(svc, e, path, copy, container, perms, err);
}

int spec_compose_devices_parse(const struct cnode *n, const char *path, struct spec_service *s,
                               struct m87_error **err)
{
    return spec_cn_entries(n, path, s, device_long, device_short, err);
}
