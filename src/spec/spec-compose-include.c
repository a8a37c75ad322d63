/* The top-level include, as compose v2 (compose-go's loader/include.go, the specification's
 * include.md): each entry is loaded as a project of its own (its files merged, its own includes
 * and extends applied, its relative paths made absolute against its own project directory,
 * variables from the including project's environment first, then its env files), and its
 * resources are added to the including tree. A resource also defined, differently, by the
 * including files is refused with both positions. */
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"
#include "spec/spec-compose-internal.h"
#include "spec/spec-compose-refs.h"

static const char *const sections[] = {"services", "networks", "volumes", "configs", "secrets"};

struct incl_env {
    const struct spec_interp *parent;
    struct m87_kvlist dotenv;
};

static const char *incl_lookup(void *ctx, const char *name)
{
    const struct incl_env *e = ctx;
    const char *v = e->parent->lookup ? e->parent->lookup(e->parent->ctx, name) : NULL;
    return v ? v : m87_kvlist_get(&e->dotenv, name);
}

static const char *parent_lookup(void *ctx, const char *name)
{
    const struct spec_interp *p = ctx;
    return p->lookup ? p->lookup(p->ctx, name) : NULL;
}

/* One entry of include, read. */
struct entry {
    const struct cnode *at;
    struct m87_strv paths; /* absolute */
    char *project_dir;
    struct m87_strv env_files; /* absolute */
};

static void entry_release(struct entry *en)
{
    m87_strv_release(&en->paths);
    free(en->project_dir);
    m87_strv_release(&en->env_files);
}

static void absolutes(const struct m87_strv *in, const char *dir, struct m87_strv *out)
{
    for (size_t i = 0; i < in->len; i++) {
        _cleanup_free_ char *a = spec_compose_join_clean(dir, in->items[i]);
        m87_strv_add(out, a);
    }
}

static int read_entry(const struct cnode *n, const char *path, const char *workdir,
                      struct entry *en, struct m87_error **err)
{
    static const char *const known[] = {"path", "project_directory", "env_file", NULL};
    struct m87_strv paths, envs;
    m87_strv_init(&paths);
    m87_strv_init(&envs);
    const char *pd = NULL;
    int rc = -1;
    en->at = n;
    if (spec_cn_is_scalar(n)) {
        const char *s = NULL;
        if (spec_cn_str(n, path, &s, err) < 0)
            goto out;
        m87_strv_add(&paths, s);
    } else {
        _cleanup_free_ char *pp = spec_cn_path(path, "path");
        _cleanup_free_ char *dp = spec_cn_path(path, "project_directory");
        _cleanup_free_ char *ep = spec_cn_path(path, "env_file");
        if (spec_cn_keys(n, path, known, NULL, err) < 0)
            goto out;
        const struct cnode *p = spec_cn_val(n, "path");
        if (p == NULL) {
            rc = spec_cn_error(n, err, "%s: missing 'path'", path);
            goto out;
        }
        const struct cnode *d = spec_cn_val(n, "project_directory");
        const struct cnode *e = spec_cn_val(n, "env_file");
        if (spec_cn_strings(p, pp, &paths, err) < 0 || (d && spec_cn_str(d, dp, &pd, err) < 0) ||
            (e && spec_cn_strings(e, ep, &envs, err) < 0))
            goto out;
        if (paths.len == 0) {
            rc = spec_cn_error(p, err, "%s: no file", pp);
            goto out;
        }
    }
    absolutes(&paths, workdir, &en->paths);
    absolutes(&envs, workdir, &en->env_files);
    if (pd) {
        en->project_dir = spec_compose_join_clean(workdir, pd);
    } else {
        _cleanup_free_ char *up = m87_xasprintf("%s/..", en->paths.items[0]);
        en->project_dir = spec_compose_clean_path(up);
    }
    rc = 0;
out:
    m87_strv_release(&paths);
    m87_strv_release(&envs);
    return rc;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The included project's variables: its env files (default PROJECT_DIR/.env), read with the
 * including project's environment. */
static int load_env(struct loader *l, struct entry *en, const struct spec_interp *ip,
                    struct incl_env *env, const char *path, struct m87_error **err)
{
    if (en->env_files.len == 0) {
        _cleanup_free_ char *dflt = m87_xasprintf("%s/.env", en->project_dir);
        if (is_file(dflt))
            m87_strv_add(&en->env_files, dflt);
    }
    for (size_t i = 0; i < en->env_files.len; i++) {
        const char *f = en->env_files.items[i];
        if (spec_dotenv_load(f, parent_lookup, (void *)ip, &env->dotenv, err) < 0)
            return spec_cn_wrap(en->at, path, err);
        bool seen = false;
        for (size_t j = 0; j < l->p->extra_files.len && !seen; j++)
            seen = strcmp(l->p->extra_files.items[j], f) == 0;
        if (!seen)
            m87_strv_add(&l->p->extra_files, f);
    }
    return 0;
}

static char *chain_text(const struct include_link *last, const char *again)
{
    struct m87_strv v;
    m87_strv_init(&v);
    for (const struct include_link *k = last; k; k = k->prev)
        m87_strv_add(&v, k->abs);
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = v.len; i-- > 0;)
        m87_buf_appendf(&b, NULL, "%s -> ", v.items[i]);
    m87_buf_appendf(&b, NULL, "%s", again);
    m87_strv_release(&v);
    return m87_buf_steal(&b);
}

static void rebase_top(struct cnode *root, const char *dir)
{
    struct cnode *services = spec_cn_val(root, "services");
    for (size_t i = 0; spec_cn_is_map(services) && i < services->len; i++)
        spec_compose_rebase_service(services->items[i], dir);
    static const char *const files[] = {"configs", "secrets"};
    for (size_t s = 0; s < M87_ARRAY_LEN(files); s++) {
        struct cnode *top = spec_cn_val(root, files[s]);
        for (size_t i = 0; spec_cn_is_map(top) && i < top->len; i++) {
            struct cnode *f = spec_cn_val(top->items[i], "file");
            if (spec_cn_is_scalar(f) && f->text[0] != '/' && f->text[0] != '~') {
                char *abs = spec_compose_join_clean(dir, f->text);
                free(f->text);
                f->text = abs;
                f->src = NULL;
            }
        }
    }
}

/* The included project's tree: its files merged, its includes and extends applied, its paths
 * absolute. */
static struct cnode *load_included(struct loader *l, struct entry *en, const char *path,
                                   const struct spec_interp *ip, const struct include_link *chain,
                                   struct m87_error **err)
{
    static const char *const known[] = {"version", "name",    "services", "networks", "volumes",
                                        "configs", "secrets", "include",  NULL};
    static const char *const unsupported[] = {"models", NULL};
    _cleanup_(spec_cnode_freep) struct cnode *root = NULL;
    for (size_t i = 0; i < en->paths.len; i++) {
        const char *f = en->paths.items[i];
        struct cnode *tree = spec_loader_read_file(l, f, f, ip, err);
        if (tree == NULL) {
            if (m87_error_code(*err) == M87_E_IO)
                spec_cn_wrap(en->at, path, err);
            return NULL;
        }
        if (spec_cn_keys(tree, "", known, unsupported, err) < 0 ||
            spec_compose_file_resolve(l, tree, f, en->project_dir, ip, chain, err) < 0) {
            spec_cnode_free(tree);
            return NULL;
        }
        if (root == NULL)
            root = tree;
        else if (spec_compose_merge(root, tree, err) < 0)
            return NULL;
    }
    rebase_top(root, en->project_dir);
    return M87_STEAL(root);
}

/* The included resources into root; the same key defined differently on both sides is refused. */
static int import(struct cnode *root, struct cnode *inc, struct m87_error **err)
{
    for (size_t s = 0; s < M87_ARRAY_LEN(sections); s++) {
        struct cnode *from = spec_cn_val(inc, sections[s]);
        if (!spec_cn_is_map(from) || from->len == 0)
            continue;
        struct cnode *to = spec_cn_get(root, sections[s]);
        if (to && !spec_cn_is_map(to) && !spec_cn_is_null(to))
            return spec_cn_expect(to, sections[s], M87_YAML_MAPPING, err);
        if (to == NULL || spec_cn_is_null(to)) {
            spec_cnode_remove(root, sections[s]);
            to = spec_cnode_new(M87_YAML_MAPPING, from);
            spec_cnode_set_key(to, sections[s], from);
            spec_cnode_append(root, to);
        }
        for (size_t i = 0; i < from->len; i++) {
            struct cnode *o = from->items[i];
            struct cnode *mine = spec_cn_get(to, o->key);
            if (mine && !spec_cnode_equal(mine, o))
                return spec_cn_key_error(
                    mine, err, "%s.%s: also defined by the included file at %s:%zu:%zu",
                    sections[s], o->key, o->file, o->key ? o->key_line : o->line,
                    o->key ? o->key_column : o->column);
            if (mine)
                continue;
            spec_cnode_append(to, o);
            from->items[i] = NULL;
        }
    }
    return 0;
}

/* The files extends read with ip, an included project's environment that is going away: another
 * one could get its address. */
static void forget_files(struct loader *l, const struct spec_interp *ip)
{
    size_t w = 0;
    for (size_t i = 0; i < l->n_files; i++) {
        if (l->files[i].ip != ip) {
            l->files[w++] = l->files[i];
            continue;
        }
        free(l->files[i].abs);
        spec_cnode_free(l->files[i].root);
    }
    l->n_files = w;
}

static int include_one(struct loader *l, struct cnode *root, struct entry *en, const char *path,
                       const struct spec_interp *ip, const struct include_link *chain,
                       struct m87_error **err)
{
    for (const struct include_link *k = chain; k; k = k->prev)
        if (strcmp(k->abs, en->paths.items[0]) == 0) {
            _cleanup_free_ char *c = chain_text(chain, en->paths.items[0]);
            return spec_cn_error(en->at, err, "%s: include cycle: %s", path, c);
        }
    struct incl_env env = {ip, {0}};
    m87_kvlist_init(&env.dotenv);
    struct spec_interp sub = {incl_lookup, &env, ip->unset};
    struct cnode *inc = NULL;
    int rc = -1;
    if (load_env(l, en, ip, &env, path, err) == 0 &&
        (inc = load_included(l, en, path, &sub, chain, err)) != NULL) {
        rc = import(root, inc, err);
        /* moved entries were set to NULL: free what is left */
        for (size_t i = 0; i < inc->len; i++) {
            struct cnode *c = inc->items[i];
            size_t w = 0;
            for (size_t j = 0; j < c->len; j++)
                if (c->items[j])
                    c->items[w++] = c->items[j];
            c->len = w;
        }
        spec_cnode_free(inc);
    }
    forget_files(l, &sub);
    m87_kvlist_release(&env.dotenv);
    return rc;
}

int spec_compose_apply_include(struct loader *l, struct cnode *root, const char *workdir,
                               const struct spec_interp *ip, const struct include_link *chain,
                               struct m87_error **err)
{
    const struct cnode *inc = spec_cn_val(root, "include");
    if (inc == NULL) {
        spec_cnode_remove(root, "include");
        return 0;
    }
    if (spec_cn_expect(inc, "include", M87_YAML_SEQUENCE, err) < 0)
        return -1;
    for (size_t i = 0; i < inc->len; i++) {
        _cleanup_free_ char *path = spec_cn_path_i("include", i);
        struct entry en = {0};
        m87_strv_init(&en.paths);
        m87_strv_init(&en.env_files);
        int rc = read_entry(inc->items[i], path, workdir, &en, err);
        if (rc == 0)
            rc = include_one(l, root, &en, path, ip, chain, err);
        entry_release(&en);
        if (rc < 0)
            return -1;
    }
    spec_cnode_remove(root, "include");
    return 0;
}

int spec_compose_file_resolve(struct loader *l, struct cnode *tree, const char *abs,
                              const char *workdir, const struct spec_interp *ip,
                              const struct include_link *chain, struct m87_error **err)
{
    struct include_link me = {abs, chain};
    if (spec_compose_apply_extends(l, tree, ip, err) < 0)
        return -1;
    return spec_compose_apply_include(l, tree, workdir, ip, &me, err);
}
