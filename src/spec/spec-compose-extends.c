/* A service's extends, resolved in the tree before it is read, as compose v2 (compose-go's
 * loader/extends.go) does: the base service (of the same tree, or of another file read with the
 * same variables) is resolved first, copied, its relative paths made absolute against its own
 * file's directory, and the extending service merged over it with an override file's rules.
 * Everything is inherited, depends_on, links and volumes_from included. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/list.h"
#include "spec/spec-compose-internal.h"
#include "spec/spec-compose-refs.h"

/* One service on the way of a chain: file is NULL for the project's own tree. */
struct link {
    const char *file;
    const char *shown;
    const char *service;
    const struct link *prev;
};

struct ext {
    struct loader *l;
    const struct spec_interp *ip;
    struct m87_error **err;
};

/* ---- relative paths ---- */

static void rebase_text(struct cnode *n, const char *dir)
{
    if (!spec_cn_is_scalar(n) || spec_cn_is_null(n) || n->text[0] == '/' || n->text[0] == '~')
        return;
    char *abs = spec_compose_join_clean(dir, n->text);
    free(n->text);
    n->text = abs;
    n->src = NULL;
    n->type = M87_YAML_STR;
}

/* A short volume "SOURCE:TARGET[:MODE]" whose source is a relative path (it starts with '.'). */
static void rebase_short_volume(struct cnode *n, const char *dir)
{
    const char *colon = strchr(n->text, ':');
    if (n->text[0] != '.' || colon == NULL)
        return;
    _cleanup_free_ char *src = m87_xstrndup(n->text, (size_t)(colon - n->text));
    _cleanup_free_ char *abs = spec_compose_join_clean(dir, src);
    char *text = m87_xasprintf("%s%s", abs, colon);
    free(n->text);
    n->text = text;
    n->src = NULL;
    n->type = M87_YAML_STR;
}

static void rebase_volume(struct cnode *v, const char *dir)
{
    if (spec_cn_is_scalar(v) && !spec_cn_is_null(v)) {
        rebase_short_volume(v, dir);
        return;
    }
    const struct cnode *type = spec_cn_val(v, "type");
    if (spec_cn_is_scalar(type) && strcmp(type->text, "bind") == 0)
        rebase_text(spec_cn_val(v, "source"), dir);
}

void spec_compose_rebase_service(struct cnode *svc, const char *dir)
{
    struct cnode *env = spec_cn_val(svc, "env_file");
    for (size_t i = 0; env && i < (spec_cn_is_seq(env) ? env->len : 1); i++) {
        struct cnode *e = spec_cn_is_seq(env) ? env->items[i] : env;
        rebase_text(spec_cn_is_map(e) ? spec_cn_val(e, "path") : e, dir);
    }
    struct cnode *lf = spec_cn_val(svc, "label_file");
    for (size_t i = 0; lf && i < (spec_cn_is_seq(lf) ? lf->len : 1); i++)
        rebase_text(spec_cn_is_seq(lf) ? lf->items[i] : lf, dir);
    struct cnode *vols = spec_cn_val(svc, "volumes");
    for (size_t i = 0; spec_cn_is_seq(vols) && i < vols->len; i++)
        rebase_volume(vols->items[i], dir);
}

/* ---- reading extends ---- */

/* "a -> b (base.yml) -> a": the chain from its start to the service met again. */
static char *chain_text(const struct link *last, const char *again)
{
    size_t n = 0;
    for (const struct link *k = last; k; k = k->prev)
        n++;
    const struct link **v = m87_xcalloc(n, sizeof(*v));
    size_t i = n;
    for (const struct link *k = last; k; k = k->prev)
        v[--i] = k;
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (i = 0; i < n; i++) {
        if (v[i]->file)
            m87_buf_appendf(&b, NULL, "%s (%s) -> ", v[i]->service, v[i]->shown);
        else
            m87_buf_appendf(&b, NULL, "%s -> ", v[i]->service);
    }
    m87_buf_appendf(&b, NULL, "%s", again);
    free(v);
    return m87_buf_steal(&b);
}

/* The name the messages give a file named by extends: relative to the extending file's
 * directory, as that file was named. */
static char *shown_path(const char *from, const char *ref)
{
    if (ref[0] == '/')
        return spec_compose_clean_path(ref);
    const char *slash = strrchr(from, '/');
    if (slash == NULL)
        return spec_compose_clean_relative(ref);
    if (from[0] == '/') {
        _cleanup_free_ char *dir = m87_xstrndup(from, (size_t)(slash - from));
        return spec_compose_join_clean(*dir ? dir : "/", ref);
    }
    _cleanup_free_ char *joined = m87_xasprintf("%.*s%s", (int)(slash - from + 1), from, ref);
    return spec_compose_clean_relative(joined);
}

static struct loader_file *foreign(struct ext *x, const char *shown, const char *abs)
{
    struct loader *l = x->l;
    for (size_t i = 0; i < l->n_files; i++)
        if (strcmp(l->files[i].abs, abs) == 0 && l->files[i].ip == x->ip)
            return &l->files[i];
    struct cnode *root = spec_loader_read_file(l, shown, abs, x->ip, x->err);
    if (root == NULL)
        return NULL;
    l->files = m87_xrealloc(l->files, (l->n_files + 1) * sizeof(*l->files));
    l->files[l->n_files] = (struct loader_file){m87_xstrdup(abs), x->ip, root};
    return &l->files[l->n_files++];
}

struct ref {
    const struct cnode *at; /* the extends node */
    const char *service;
    const struct cnode *service_node;
    const char *file; /* NULL: the same file */
    const struct cnode *file_node;
};

static int read_ref(struct ext *x, const struct cnode *e, const char *path, struct ref *r)
{
    static const char *const known[] = {"service", "file", NULL};
    r->at = r->service_node = e;
    if (spec_cn_is_scalar(e))
        return spec_cn_str(e, path, &r->service, x->err);
    if (spec_cn_keys(e, path, known, NULL, x->err) < 0)
        return -1;
    _cleanup_free_ char *sp = spec_cn_path(path, "service");
    _cleanup_free_ char *fp = spec_cn_path(path, "file");
    r->service_node = spec_cn_val(e, "service");
    if (r->service_node == NULL)
        return spec_cn_error(e, x->err, "%s: missing 'service'", path);
    if (spec_cn_str(r->service_node, sp, &r->service, x->err) < 0)
        return -1;
    r->file_node = spec_cn_val(e, "file");
    return r->file_node ? spec_cn_str(r->file_node, fp, &r->file, x->err) : 0;
}

static struct cnode **find_service(struct cnode *services, const char *name)
{
    for (size_t i = 0; spec_cn_is_map(services) && i < services->len; i++)
        if (strcmp(services->items[i]->key, name) == 0)
            return &services->items[i];
    return NULL;
}

/* ---- resolving ---- */

static int resolve(struct ext *x, struct cnode *services, const struct link *self,
                   struct cnode **slot);

/* The services of the file r names, with its identity in *base_link. */
static struct cnode *base_services(struct ext *x, const struct ref *r, const char *path,
                                   struct cnode *services, struct link *base_link, char **abs_out,
                                   char **shown_out)
{
    if (r->file == NULL)
        return services;
    _cleanup_free_ char *shown = shown_path(r->file_node->file, r->file);
    _cleanup_free_ char *abs = spec_loader_cwd_abs(shown, x->err);
    if (abs == NULL)
        return NULL;
    struct loader_file *f = foreign(x, shown, abs);
    if (f == NULL) {
        _cleanup_free_ char *fp = spec_cn_path(path, "file");
        if (m87_error_code(*x->err) == M87_E_IO)
            spec_cn_wrap(r->file_node, fp, x->err);
        return NULL;
    }
    struct cnode *s = spec_cn_val(f->root, "services");
    if (s && spec_cn_expect(s, "services", M87_YAML_MAPPING, x->err) < 0)
        return NULL;
    base_link->file = f->abs;
    *abs_out = M87_STEAL(abs);
    *shown_out = M87_STEAL(shown);
    return s;
}

static int extend(struct ext *x, struct cnode *services, const struct link *self,
                  struct cnode **slot, const struct cnode *e)
{
    _cleanup_free_ char *spath = spec_cn_path("services", self->service);
    _cleanup_free_ char *path = spec_cn_path(spath, "extends");
    struct ref r = {0};
    if (read_ref(x, e, path, &r) < 0)
        return -1;
    struct link base = {self->file, self->shown, r.service, self};
    _cleanup_free_ char *abs = NULL, *shown = NULL;
    struct cnode *bs = base_services(x, &r, path, services, &base, &abs, &shown);
    if (bs == NULL && (x->err && *x->err))
        return -1;
    if (shown)
        base.shown = shown;
    for (const struct link *k = self; k; k = k->prev) {
        bool same_file = (k->file == NULL) == (base.file == NULL) &&
                         (k->file == NULL || strcmp(k->file, base.file) == 0);
        if (same_file && strcmp(k->service, r.service) == 0) {
            _cleanup_free_ char *c = chain_text(self, r.service);
            return spec_cn_error(e, x->err, "%s: extends cycle: %s", path, c);
        }
    }
    struct cnode **bslot = find_service(bs, r.service);
    if (bslot == NULL && r.file)
        return spec_cn_error(r.service_node, x->err, "%s: service '%s' not found in '%s'", path,
                             r.service, shown);
    if (bslot == NULL)
        return spec_cn_error(r.service_node, x->err, "%s: service '%s' not found in '%s'", path,
                             r.service, e->file);
    if (!spec_cn_is_map(*bslot))
        return spec_cn_key_error(*bslot, x->err, "services.%s: expected a mapping", r.service);
    if (resolve(x, bs, &base, bslot) < 0)
        return -1;
    struct cnode *copy = spec_cnode_clone(*bslot);
    if (abs) {
        *strrchr(abs, '/') = '\0';
        spec_compose_rebase_service(copy, *abs ? abs : "/");
    }
    struct cnode *over = *slot;
    spec_cnode_remove(over, "extends");
    spec_cnode_set_key(copy, over->key, over);
    copy->file = over->file;
    copy->line = over->line;
    copy->column = over->column;
    *slot = copy;
    return spec_compose_merge_service(slot, over, spath, x->err);
}

/* Resolve the service at *slot of services (whose chain so far is self->prev). */
static int resolve(struct ext *x, struct cnode *services, const struct link *self,
                   struct cnode **slot)
{
    struct cnode *e = spec_cn_get(*slot, "extends");
    if (e == NULL)
        return 0;
    if (spec_cn_is_null(e)) {
        spec_cnode_remove(*slot, "extends");
        return 0;
    }
    struct link me = *self;
    me.service = (*slot)->key;
    return extend(x, services, &me, slot, e);
}

int spec_compose_apply_extends(struct loader *l, struct cnode *root, const struct spec_interp *ip,
                               struct m87_error **err)
{
    struct cnode *services = spec_cn_val(root, "services");
    if (!spec_cn_is_map(services))
        return 0;
    struct ext x = {l, ip, err};
    for (size_t i = 0; i < services->len; i++) {
        struct link self = {NULL, NULL, services->items[i]->key, NULL};
        if (resolve(&x, services, &self, &services->items[i]) < 0)
            return -1;
    }
    return 0;
}
