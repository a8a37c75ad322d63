/* Where a converted reference was written. The loaded project keeps absolute paths only, so the
 * compose files are read again and each candidate is resolved as the loader does (interpolated
 * with the same environment, made absolute against the project directory) until one gives the
 * path in question. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"
#include "m87/spec-interp.h"
#include "m87/spec-project.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"
#include "spec/spec-convert-internal.h"

struct env {
    const struct spec_load_options *lo;
    struct m87_kvlist dotenv;
};

static const char *env_lookup(void *ctx, const char *name)
{
    const struct env *e = ctx;
    const char *v = e->lo->lookup ? e->lo->lookup(e->lo->lookup_ctx, name) : getenv(name);
    return v ? v : m87_kvlist_get(&e->dotenv, name);
}

/* The text of a reference node resolved to a clean absolute path, or NULL. */
static char *resolve(const struct spec_project *p, struct env *e, const struct m87_yaml_node *n)
{
    if (n == NULL || m87_yaml_kind(n) != M87_YAML_SCALAR)
        return NULL;
    struct spec_interp ip = {env_lookup, e, NULL};
    _cleanup_free_ char *text = spec_interpolate(&ip, m87_yaml_text(n), "", 0, 0, NULL);
    if (text == NULL)
        return NULL;
    if (text[0] == '~' && (text[1] == '\0' || text[1] == '/')) {
        const char *home = env_lookup(e, "HOME");
        _cleanup_free_ char *joined = m87_xasprintf("%s%s", home ? home : "", text + 1);
        return spec_compose_clean_path(joined);
    }
    if (text[0] == '/')
        return spec_compose_clean_path(text);
    _cleanup_free_ char *joined = m87_xasprintf("%s/%s", p->working_dir, text);
    return spec_compose_clean_path(joined);
}

static char *at_node(const struct m87_yaml_node *n, const char *field)
{
    return m87_xasprintf("%s:%zu:%zu: %s", m87_yaml_file(n), m87_yaml_line(n), m87_yaml_column(n),
                         field);
}

/* The env_file entry of one document that resolves to r->abs; *any gets the env_file node. */
static char *find_env_file(const struct spec_project *p, struct env *e,
                           const struct m87_yaml_node *root, const struct convert_ref *r,
                           const struct m87_yaml_node **any)
{
    const struct m87_yaml_node *v =
        m87_yaml_get(m87_yaml_get(m87_yaml_get(root, "services"), r->service), "env_file");
    if (v == NULL)
        return NULL;
    *any = *any ? *any : v;
    _cleanup_free_ char *base = m87_xasprintf("services.%s.env_file", r->service);
    size_t n = m87_yaml_kind(v) == M87_YAML_SEQUENCE ? m87_yaml_len(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const struct m87_yaml_node *item =
            m87_yaml_kind(v) == M87_YAML_SEQUENCE ? m87_yaml_at(v, i) : v;
        const struct m87_yaml_node *path =
            m87_yaml_kind(item) == M87_YAML_MAPPING ? m87_yaml_get(item, "path") : item;
        _cleanup_free_ char *abs = resolve(p, e, path);
        if (abs == NULL || strcmp(abs, r->abs) != 0)
            continue;
        _cleanup_free_ char *field = m87_yaml_kind(v) == M87_YAML_SEQUENCE
                                         ? m87_xasprintf("%s[%zu]", base, i)
                                         : m87_xstrdup(base);
        return at_node(path, field);
    }
    return NULL;
}

static char *find_in_doc(const struct spec_project *p, struct env *e,
                         const struct m87_yaml_node *root, const struct convert_ref *r,
                         const struct m87_yaml_node **any)
{
    if (r->kind == CONVERT_REF_ENV_FILE)
        return find_env_file(p, e, root, r, any);
    const char *top = r->kind == CONVERT_REF_CONFIG ? "configs" : "secrets";
    const struct m87_yaml_node *v =
        m87_yaml_get(m87_yaml_get(m87_yaml_get(root, top), r->key), "file");
    if (v == NULL)
        return NULL;
    _cleanup_free_ char *field = m87_xasprintf("%s.%s.file", top, r->key);
    return at_node(v, field);
}

static char *field_name(const struct convert_ref *r)
{
    switch (r->kind) {
    case CONVERT_REF_ENV_FILE:
        return m87_xasprintf("services.%s.env_file", r->service);
    case CONVERT_REF_CONFIG:
        return m87_xasprintf("configs.%s.file", r->key);
    case CONVERT_REF_SECRET:
        return m87_xasprintf("secrets.%s.file", r->key);
    case CONVERT_REF_BIND:
        return m87_xasprintf("services.%s.volumes", r->service);
    case CONVERT_REF_LABEL_FILE:
        return m87_xasprintf("services.%s.label_file", r->service);
    case CONVERT_REF_LOADED:
        return m87_xstrdup("file read through extends or include");
    case CONVERT_REF_DOTENV:
    default:
        return m87_xstrdup("env file");
    }
}

char *spec_convert_ref_where(const struct spec_project *p, const struct spec_load_options *lo,
                             const struct convert_ref *r)
{
    struct env e = {lo, {0}};
    if (p->env_file)
        spec_dotenv_load(p->env_file, env_lookup, &e, &e.dotenv, NULL);
    char *found = NULL;
    _cleanup_free_ char *field = field_name(r);
    for (size_t i = p->config_files.len; found == NULL && i-- > 0;) {
        /* the name the loader's messages used, when the files were given */
        const char *name =
            lo->n_files == p->config_files.len ? lo->files[i] : p->config_files.items[i];
        _cleanup_(m87_yaml_freep) struct m87_yaml_doc *doc = m87_yaml_load(name, NULL);
        const struct m87_yaml_node *any = NULL;
        if (doc && r->kind != CONVERT_REF_DOTENV && r->kind != CONVERT_REF_BIND &&
            r->kind != CONVERT_REF_LOADED && r->kind != CONVERT_REF_LABEL_FILE)
            found = find_in_doc(p, &e, m87_yaml_root(doc), r, &any);
        if (found == NULL && any)
            found = at_node(any, field);
    }
    m87_kvlist_release(&e.dotenv);
    if (found)
        return found;
    if (r->fallback && r->fallback->file)
        return m87_xasprintf("%s:%zu:%zu: %s", r->fallback->file, r->fallback->line,
                             r->fallback->column, field);
    return M87_STEAL(field);
}
