/* Loading a compose project: finding and reading the files, .env, interpolation, merging,
 * project name and profiles, then the typed model. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"
#include "m87/spec-interp.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"
#include "spec/spec-compose-refs.h"

static const char *const default_files[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                            "docker-compose.yaml"};
static const char *const override_files[] = {"compose.override.yml", "compose.override.yaml",
                                             "docker-compose.override.yml",
                                             "docker-compose.override.yaml"};

/* ---- paths --------------------------------------------------------------------------------------
 */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- finding the files -------------------------------------------------------------------------
 */

static void first_existing(struct loader *l, const char *dir, const char *const *names, size_t n,
                           struct m87_strv *found)
{
    size_t before = found->len;
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *path = m87_xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", names[i]);
        if (!is_file(path))
            continue;
        if (found->len == before)
            m87_strv_add(found, path);
        else
            spec_loader_warn(l, "found several compose files in '%s', using '%s'", dir,
                             found->items[before]);
    }
}

/* As docker compose: the first default name found in the directory or its nearest parent, plus
 * the first override file beside it. */
static int discover(struct loader *l, const char *start, struct m87_strv *files,
                    struct m87_error **err)
{
    _cleanup_free_ char *dir = m87_xstrdup(start);
    for (;;) {
        first_existing(l, dir, default_files, M87_ARRAY_LEN(default_files), files);
        if (files->len) {
            first_existing(l, dir, override_files, M87_ARRAY_LEN(override_files), files);
            return 0;
        }
        if (strcmp(dir, "/") == 0)
            return m87_error_set(err, M87_E_IO, 0,
                                 "no compose file (compose.yaml, compose.yml, docker-compose.yml, "
                                 "docker-compose.yaml) in '%s' or its parents",
                                 start);
        char *slash = strrchr(dir, '/');
        slash[slash == dir] = '\0';
    }
}

/* The files to read, as given (for messages) and absolute (for the model). */
static int find_files(struct loader *l, struct m87_strv *given, struct m87_error **err)
{
    const struct spec_load_options *o = l->opts;
    for (size_t i = 0; i < o->n_files; i++)
        m87_strv_add(given, o->files[i]);
    const char *env = given->len ? NULL : spec_loader_process_lookup(l, "COMPOSE_FILE");
    if (env && *env) {
        const char *sep = spec_loader_process_lookup(l, "COMPOSE_PATH_SEPARATOR");
        char c = sep && *sep ? *sep : ':';
        _cleanup_free_ char *copy = m87_xstrdup(env);
        for (char *f = copy, *next; f; f = next) {
            next = strchr(f, c);
            if (next)
                *next++ = '\0';
            if (*f)
                m87_strv_add(given, f);
        }
    }
    if (given->len == 0) {
        _cleanup_free_ char *start = spec_loader_cwd_abs(o->project_dir ? o->project_dir : ".", err);
        if (start == NULL || discover(l, start, given, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < given->len; i++) {
        char *abs = spec_loader_cwd_abs(given->items[i], err);
        if (abs == NULL)
            return -1;
        m87_strv_add(&l->p->config_files, abs);
        free(abs);
    }
    return 0;
}

static int setup_dirs(struct loader *l, struct m87_error **err)
{
    struct spec_project *p = l->p;
    const struct spec_load_options *o = l->opts;
    if (o->project_dir) {
        p->working_dir = spec_loader_cwd_abs(o->project_dir, err);
    } else {
        _cleanup_free_ char *dir = m87_xasprintf("%s/..", p->config_files.items[0]);
        p->working_dir = spec_compose_clean_path(dir);
    }
    if (p->working_dir == NULL)
        return -1;
    _cleanup_free_ char *env =
        o->env_file ? spec_loader_cwd_abs(o->env_file, err) : m87_xasprintf("%s/.env", p->working_dir);
    if (env == NULL)
        return -1;
    if (o->env_file == NULL && !is_file(env))
        return 0;
    if (spec_dotenv_load(env, spec_loader_process_lookup, l, &l->dotenv, err) < 0)
        return -1;
    p->env_file = M87_STEAL(env);
    return 0;
}

/* ---- reading and merging -----------------------------------------------------------------------
 */

struct docs {
    struct m87_yaml_doc **v;
    size_t n;
};

static void docs_release(struct docs *d)
{
    for (size_t i = 0; i < d->n; i++)
        m87_yaml_free(d->v[i]);
    free(d->v);
}

static struct cnode *read_tree(struct loader *l, const struct m87_strv *given, struct docs *docs,
                               struct m87_error **err)
{
    _cleanup_(spec_cnode_freep) struct cnode *root = NULL;
    docs->v = m87_xcalloc(given->len, sizeof(*docs->v));
    for (size_t i = 0; i < given->len; i++) {
        struct m87_yaml_doc *doc = l->text
                                       ? m87_yaml_parse(l->text, l->text_len, given->items[i], err)
                                       : m87_yaml_load(given->items[i], err);
        if (doc == NULL)
            return NULL;
        docs->v[docs->n++] = doc;
        struct cnode *tree = spec_loader_doc_tree(doc, &l->ip, err);
        if (tree == NULL)
            return NULL;
        if (spec_compose_file_resolve(l, tree, l->p->config_files.items[i], l->p->working_dir,
                                      &l->ip, NULL, err) < 0) {
            spec_cnode_free(tree);
            return NULL;
        }
        if (root == NULL)
            root = tree;
        else if (spec_compose_merge(root, tree, err) < 0)
            return NULL;
    }
    spec_compose_normalize_tree(root);
    return M87_STEAL(root);
}

/* ---- project name and profiles -----------------------------------------------------------------
 */

char *spec_normalize_project_name(const char *name)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (const char *s = name; *s; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
            if (b.len || (c != '_' && c != '-'))
                m87_buf_append(&b, &c, 1, NULL);
    }
    return m87_buf_steal(&b);
}

static int explicit_name(struct loader *l, const char *name, const char *what,
                         struct m87_error **err)
{
    _cleanup_free_ char *norm = spec_normalize_project_name(name);
    if (*name == '\0' || strcmp(norm, name) != 0)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "invalid project name '%s' (%s): it must consist only of lower case "
                             "letters, digits, '-' and '_', and start with a letter or digit",
                             name, what);
    l->p->name = m87_xstrdup(name);
    return 0;
}

/* -p, then COMPOSE_PROJECT_NAME, then name:, then the directory, as docker compose. */
static int project_name(struct loader *l, struct m87_error **err)
{
    const char *env = spec_loader_lookup(l, "COMPOSE_PROJECT_NAME");
    if (l->opts->project_name)
        return explicit_name(l, l->opts->project_name, "given", err);
    if (env && *env)
        return explicit_name(l, env, "COMPOSE_PROJECT_NAME", err);
    const struct cnode *n = spec_cn_val(l->root, "name");
    const char *s = NULL;
    if (n) {
        if (spec_cn_str(n, "name", &s, err) < 0)
            return -1;
        l->p->name = spec_normalize_project_name(s);
        if (*l->p->name)
            return 0;
        free(l->p->name);
    }
    const char *base = strrchr(l->p->working_dir, '/') + 1;
    l->p->name = spec_normalize_project_name(base);
    if (*l->p->name == '\0')
        return m87_error_set(err, M87_E_INVAL, 0,
                             "project name must not be empty: the directory '%s' gives none, use "
                             "-p or name:",
                             l->p->working_dir);
    return 0;
}

static void active_profiles(struct loader *l, struct m87_strv *out)
{
    const struct spec_load_options *o = l->opts;
    if (o->profiles) {
        for (size_t i = 0; i < o->n_profiles; i++)
            m87_strv_add(out, o->profiles[i]);
        return;
    }
    const char *env = spec_loader_lookup(l, "COMPOSE_PROFILES");
    _cleanup_free_ char *copy = m87_xstrdup(env ? env : "");
    for (char *f = copy, *next; f; f = next) {
        next = strchr(f, ',');
        if (next)
            *next++ = '\0';
        f += strspn(f, " \t");
        size_t len = strlen(f);
        while (len && (f[len - 1] == ' ' || f[len - 1] == '\t'))
            f[--len] = '\0';
        if (*f)
            m87_strv_add(out, f);
    }
}

static bool enabled(const struct spec_service *s, const struct m87_strv *active)
{
    if (s->profiles.len == 0)
        return true;
    for (size_t i = 0; i < active->len; i++) {
        if (strcmp(active->items[i], "*") == 0)
            return true;
        for (size_t j = 0; j < s->profiles.len; j++)
            if (strcmp(active->items[i], s->profiles.items[j]) == 0)
                return true;
    }
    return false;
}

/* ---- services ----------------------------------------------------------------------------------
 */

static int check_container_names(const struct loader *l, struct m87_error **err)
{
    const struct spec_project *p = l->p;
    for (size_t i = 0; i < p->n_services; i++) {
        const char *a = p->services[i].container_name;
        for (size_t j = 0; a && j < i; j++) {
            const char *b = p->services[j].container_name;
            if (b && strcmp(a, b) == 0) {
                const struct cnode *svc =
                    spec_cn_get(spec_cn_get(l->root, "services"), p->services[i].name);
                return spec_cn_error(
                    spec_cn_get(svc, "container_name"), err,
                    "services.%s.container_name: '%s' is also used by service '%s'",
                    p->services[i].name, a, p->services[j].name);
            }
        }
    }
    return 0;
}

static int read_services(struct loader *l, struct m87_error **err)
{
    struct spec_project *p = l->p;
    const struct cnode *n = spec_cn_val(l->root, "services");
    if (n && spec_cn_expect(n, "services", M87_YAML_MAPPING, err) < 0)
        return -1;
    size_t count = n ? n->len : 0;
    if (count > SPEC_MAX_SERVICES)
        return spec_cn_error(n, err, "services: more than %u services", SPEC_MAX_SERVICES);
    struct m87_strv active;
    m87_strv_init(&active);
    active_profiles(l, &active);
    p->services = m87_xcalloc(count ? count : 1, sizeof(*p->services));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        struct spec_service *s = &p->services[p->n_services++];
        spec_compose_service_init(s);
        rc = spec_compose_service_parse(l, n->items[i], s, err);
        if (rc == 0 && !enabled(s, &active)) {
            m87_strv_add(&p->disabled_services, s->name);
            spec_compose_service_release(s);
            p->n_services--;
        }
    }
    m87_strv_release(&active);
    if (rc < 0)
        return -1;
    return check_container_names(l, err) < 0 ? -1 : spec_compose_check_services(l, err);
}

/* ---- the whole load ----------------------------------------------------------------------------
 */

static int check_top(struct loader *l, struct m87_error **err)
{
    static const char *const known[] = {"version", "name",    "services", "networks",
                                        "volumes", "configs", "secrets",  NULL};
    static const char *const unsupported[] = {"models", NULL};
    if (spec_cn_keys(l->root, "", known, unsupported, err) < 0)
        return -1;
    const struct cnode *v = spec_cn_val(l->root, "version");
    const char *s = NULL;
    if (v) {
        if (spec_cn_str(v, "version", &s, err) < 0)
            return -1;
        spec_loader_warn(l, "the top-level 'version' is obsolete and ignored");
    }
    return 0;
}

static int load(struct loader *l, struct m87_error **err)
{
    struct m87_strv given;
    m87_strv_init(&given);
    struct docs docs = {0};
    struct cnode *root = NULL;
    int rc = -1;
    if (find_files(l, &given, err) == 0 && setup_dirs(l, err) == 0 &&
        (root = read_tree(l, &given, &docs, err)) != NULL) {
        l->root = root;
        if (check_top(l, err) == 0 && project_name(l, err) == 0 &&
            spec_compose_top_parse(l, err) == 0 && read_services(l, err) == 0)
            rc = 0;
    }
    if (rc == 0) {
        spec_compose_prune_resources(l);
        for (size_t i = 0; i < l->unset.len; i++)
            spec_loader_warn(l, "the \"%s\" variable is not set, defaulting to a blank string",
                             l->unset.items[i]);
    }
    spec_cnode_free(root);
    l->root = NULL;
    docs_release(&docs);
    m87_strv_release(&given);
    return rc;
}

static struct spec_project *load_project(const struct spec_load_options *opts, const char *text,
                                         size_t len, struct m87_error **err)
{
    struct loader l = {.opts = opts, .text = text, .text_len = len};
    l.p = m87_xcalloc(1, sizeof(*l.p));
    m87_kvlist_init(&l.dotenv);
    m87_strv_init(&l.unset);
    l.ip = (struct spec_interp){.lookup = spec_loader_lookup, .ctx = &l, .unset = &l.unset};
    int rc = load(&l, err);
    for (size_t i = 0; i < l.n_files; i++) {
        free(l.files[i].abs);
        spec_cnode_free(l.files[i].root);
    }
    free(l.files);
    for (size_t i = 0; i < l.n_docs; i++)
        m87_yaml_free(l.docs[i]);
    free(l.docs);
    m87_kvlist_release(&l.dotenv);
    m87_strv_release(&l.unset);
    if (rc < 0) {
        spec_project_free(l.p);
        return NULL;
    }
    return l.p;
}

struct spec_project *spec_compose_load(const struct spec_load_options *opts, struct m87_error **err)
{
    return load_project(opts, NULL, 0, err);
}

struct spec_project *spec_compose_parse(const char *text, size_t len, const char *file,
                                        const struct spec_load_options *opts,
                                        struct m87_error **err)
{
    struct spec_load_options o = *opts;
    const char *files[] = {file};
    o.files = files;
    o.n_files = 1;
    return load_project(&o, text, len, err);
}

void spec_project_free(struct spec_project *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_services; i++)
        spec_compose_service_release(&p->services[i]);
    free(p->services);
    for (size_t i = 0; i < p->n_networks; i++)
        spec_compose_network_release(&p->networks[i]);
    free(p->networks);
    for (size_t i = 0; i < p->n_volumes; i++)
        spec_compose_volume_release(&p->volumes[i]);
    free(p->volumes);
    for (size_t i = 0; i < p->n_configs; i++)
        spec_compose_config_release(&p->configs[i]);
    free(p->configs);
    for (size_t i = 0; i < p->n_secrets; i++)
        spec_compose_config_release(&p->secrets[i]);
    free(p->secrets);
    free(p->name);
    free(p->working_dir);
    free(p->env_file);
    m87_strv_release(&p->config_files);
    m87_strv_release(&p->extra_files);
    m87_strv_release(&p->disabled_services);
    m87_strv_release(&p->warnings);
    free(p);
}
