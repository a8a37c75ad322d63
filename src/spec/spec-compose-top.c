/* Top-level networks, volumes, configs and secrets; the checks that need every service (cycles,
 * profiles); and pruning what no enabled service uses. */
#include <arpa/inet.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/net.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

/* ---- shared pieces -----------------------------------------------------------------------------
 */

static bool valid_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash[1] == '\0' || strlen(slash + 1) > 3 ||
        strspn(slash + 1, "0123456789") != strlen(slash + 1))
        return false;
    _cleanup_free_ char *addr = m87_xstrndup(s, (size_t)(slash - s));
    unsigned char buf[16];
    long bits = strtol(slash + 1, NULL, 10);
    if (inet_pton(AF_INET, addr, buf) == 1)
        return bits <= 32;
    return inet_pton(AF_INET6, addr, buf) == 1 && bits <= 128;
}

static int opt_str(const struct cnode *map, const char *path, const char *key, char **out,
                   struct m87_error **err)
{
    const struct cnode *v = spec_cn_val(map, key);
    _cleanup_free_ char *kp = spec_cn_path(path, key);
    const char *s = NULL;
    if (v == NULL)
        return 0;
    if (spec_cn_str(v, kp, &s, err) < 0)
        return -1;
    *out = m87_xstrdup(s);
    return 0;
}

static int opt_bool(const struct cnode *map, const char *path, const char *key, bool *out,
                    struct m87_error **err)
{
    const struct cnode *v = spec_cn_val(map, key);
    _cleanup_free_ char *kp = spec_cn_path(path, key);
    return v ? spec_cn_bool(v, kp, out, err) : 0;
}

static int opt_map(const struct cnode *map, const char *path, const char *key,
                   struct m87_kvlist *out, struct m87_error **err)
{
    const struct cnode *v = spec_cn_val(map, key);
    _cleanup_free_ char *kp = spec_cn_path(path, key);
    if (v == NULL)
        return 0;
    if (spec_cn_expect(v, kp, M87_YAML_MAPPING, err) < 0)
        return -1;
    return spec_cn_kv(v, kp, CN_KV_EMPTY, out, err);
}

/* external: true, or the legacy external: {name: X}. */
static int parse_external(struct loader *l, const struct cnode *def, const char *path,
                          bool *external, char **name, struct m87_error **err)
{
    const struct cnode *v = spec_cn_val(def, "external");
    _cleanup_free_ char *ep = spec_cn_path(path, "external");
    if (v == NULL)
        return 0;
    if (!spec_cn_is_map(v))
        return spec_cn_bool(v, ep, external, err);
    static const char *const known[] = {"name", NULL};
    if (spec_cn_keys(v, ep, known, NULL, err) < 0)
        return -1;
    *external = true;
    if (spec_cn_val(v, "name")) {
        if (*name)
            return spec_cn_error(v, err, "%s: 'name' is given twice", path);
        if (opt_str(v, ep, "name", name, err) < 0)
            return -1;
        spec_loader_warn(l, "%s.name is deprecated, use %s.name", ep, path);
    }
    return 0;
}

/* An external object is only referred to: settings that would create it are an error. */
static int check_external(const struct cnode *def, const char *path, const char *const *fields,
                          struct m87_error **err)
{
    for (size_t i = 0; fields[i]; i++) {
        const struct cnode *v = spec_cn_get(def, fields[i]);
        if (v)
            return spec_cn_key_error(v, err, "%s: 'external' cannot be combined with '%s'", path,
                                     fields[i]);
    }
    return 0;
}

/* *name stays when given; else the key for an external resource, else "PROJECT_KEY". */
static void set_real_name(const struct loader *l, const char *key, char **name, bool external)
{
    if (*name == NULL)
        *name = external ? m87_xstrdup(key) : m87_xasprintf("%s_%s", l->p->name, key);
}

/* The labels and the name of a network or a volume, after its other fields. */
static int labels_and_name(const struct loader *l, const struct cnode *def, const char *path,
                           const char *key, bool external, struct m87_kvlist *labels, char **name,
                           struct m87_error **err)
{
    const struct cnode *v = spec_cn_val(def, "labels");
    _cleanup_free_ char *lp = spec_cn_path(path, "labels");
    if (v && spec_cn_kv(v, lp, CN_KV_EMPTY, labels, err) < 0)
        return -1;
    set_real_name(l, key, name, external);
    return 0;
}

/* ---- networks ----------------------------------------------------------------------------------
 */

static int parse_pool(const struct cnode *e, const char *path, struct spec_ipam_pool *pool,
                      struct m87_error **err)
{
    static const char *const known[] = {"subnet", "ip_range", "gateway", "aux_addresses", NULL};
    m87_kvlist_init(&pool->aux_addresses);
    if (spec_cn_keys(e, path, known, NULL, err) < 0 ||
        opt_str(e, path, "subnet", &pool->subnet, err) < 0 ||
        opt_str(e, path, "ip_range", &pool->ip_range, err) < 0 ||
        opt_str(e, path, "gateway", &pool->gateway, err) < 0 ||
        opt_map(e, path, "aux_addresses", &pool->aux_addresses, err) < 0)
        return -1;
    const char *const cidrs[] = {"subnet", "ip_range"};
    const char *const vals[] = {pool->subnet, pool->ip_range};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *kp = spec_cn_path(path, cidrs[i]);
        if (vals[i] && !valid_cidr(vals[i]))
            return spec_cn_error(spec_cn_get(e, cidrs[i]), err, "%s: invalid subnet '%s'", kp,
                                 vals[i]);
    }
    _cleanup_free_ char *gp = spec_cn_path(path, "gateway");
    if (pool->gateway && !m87_valid_ip(pool->gateway, AF_UNSPEC))
        return spec_cn_error(spec_cn_get(e, "gateway"), err, "%s: invalid address '%s'", gp,
                             pool->gateway);
    for (size_t i = 0; i < pool->aux_addresses.len; i++) {
        const char *a = pool->aux_addresses.items[i].value;
        if (!m87_valid_ip(a, AF_UNSPEC))
            return spec_cn_error(spec_cn_get(e, "aux_addresses"), err,
                                 "%s.aux_addresses: invalid address '%s'", path, a);
    }
    return 0;
}

static int parse_ipam(const struct cnode *def, const char *path, struct spec_network *n,
                      struct m87_error **err)
{
    static const char *const known[] = {"driver", "config", "options", NULL};
    const struct cnode *ipam = spec_cn_val(def, "ipam");
    _cleanup_free_ char *ip = spec_cn_path(path, "ipam");
    if (ipam == NULL)
        return 0;
    if (spec_cn_keys(ipam, ip, known, NULL, err) < 0 ||
        opt_str(ipam, ip, "driver", &n->ipam_driver, err) < 0 ||
        opt_map(ipam, ip, "options", &n->ipam_options, err) < 0)
        return -1;
    const struct cnode *cfg = spec_cn_val(ipam, "config");
    _cleanup_free_ char *cp = spec_cn_path(ip, "config");
    if (cfg == NULL)
        return 0;
    if (spec_cn_expect(cfg, cp, M87_YAML_SEQUENCE, err) < 0)
        return -1;
    n->ipam_pools = m87_xcalloc(cfg->len ? cfg->len : 1, sizeof(*n->ipam_pools));
    for (size_t i = 0; i < cfg->len; i++) {
        _cleanup_free_ char *pp = spec_cn_path_i(cp, i);
        n->n_ipam_pools++;
        if (parse_pool(cfg->items[i], pp, &n->ipam_pools[i], err) < 0)
            return -1;
    }
    return 0;
}

static int parse_network(struct loader *l, const struct cnode *def, struct spec_network *n,
                         struct m87_error **err)
{
    static const char *const known[] = {"driver",     "driver_opts", "ipam",     "internal",
                                        "attachable", "enable_ipv6", "external", "name",
                                        "labels",     NULL};
    static const char *const unsupported[] = {"enable_ipv4", NULL};
    static const char *const creating[] = {"driver",     "driver_opts", "ipam",   "internal",
                                           "attachable", "enable_ipv6", "labels", NULL};
    _cleanup_free_ char *path = spec_cn_path("networks", def->key);
    n->key = m87_xstrdup(def->key);
    if (!spec_cn_is_null(def) && (spec_cn_keys(def, path, known, unsupported, err) < 0 ||
                             opt_str(def, path, "name", &n->name, err) < 0 ||
                             parse_external(l, def, path, &n->external, &n->name, err) < 0 ||
                             (n->external && check_external(def, path, creating, err) < 0) ||
                             opt_str(def, path, "driver", &n->driver, err) < 0 ||
                             opt_map(def, path, "driver_opts", &n->driver_opts, err) < 0 ||
                             parse_ipam(def, path, n, err) < 0 ||
                             opt_bool(def, path, "internal", &n->internal, err) < 0 ||
                             opt_bool(def, path, "attachable", &n->attachable, err) < 0 ||
                             opt_bool(def, path, "enable_ipv6", &n->enable_ipv6, err) < 0))
        return -1;
    return labels_and_name(l, def, path, n->key, n->external, &n->labels, &n->name, err);
}

static int parse_volume(struct loader *l, const struct cnode *def, struct spec_volume *v,
                        struct m87_error **err)
{
    static const char *const known[] = {"driver", "driver_opts", "external",
                                        "name",   "labels",      NULL};
    static const char *const creating[] = {"driver", "driver_opts", "labels", NULL};
    _cleanup_free_ char *path = spec_cn_path("volumes", def->key);
    v->key = m87_xstrdup(def->key);
    if (!spec_cn_is_null(def) && (spec_cn_keys(def, path, known, NULL, err) < 0 ||
                             opt_str(def, path, "name", &v->name, err) < 0 ||
                             parse_external(l, def, path, &v->external, &v->name, err) < 0 ||
                             (v->external && check_external(def, path, creating, err) < 0) ||
                             opt_str(def, path, "driver", &v->driver, err) < 0 ||
                             opt_map(def, path, "driver_opts", &v->driver_opts, err) < 0))
        return -1;
    return labels_and_name(l, def, path, v->key, v->external, &v->labels, &v->name, err);
}

/* ---- configs and secrets -----------------------------------------------------------------------
 */

static int config_source(struct loader *l, const struct cnode *def, const char *path,
                         struct spec_config *c, struct m87_error **err)
{
    const char *const kinds[] = {"file", "content", "environment"};
    const struct cnode *given = NULL;
    for (size_t i = 0; i < 3; i++) {
        const struct cnode *v = spec_cn_get(def, kinds[i]);
        if (v == NULL)
            continue;
        if (given)
            return spec_cn_key_error(v, err,
                                     "%s: only one of file, content and environment may be "
                                     "given",
                                     path);
        given = v;
        c->source = (enum spec_source)i;
    }
    if (given == NULL)
        return spec_cn_key_error(def, err, "%s: needs one of file, content or environment", path);
    _cleanup_free_ char *kp = spec_cn_path(path, given->key);
    const char *s = NULL;
    if (spec_cn_str(given, kp, &s, err) < 0)
        return -1;
    if (c->source == SPEC_SOURCE_FILE) {
        c->file = spec_loader_abspath(l, given, s, kp, err);
        return c->file ? 0 : -1;
    }
    if (c->source == SPEC_SOURCE_CONTENT) {
        c->content = m87_xstrdup(s);
        return 0;
    }
    const char *value = spec_loader_lookup(l, s);
    if (value == NULL)
        return spec_cn_error(given, err, "%s: variable '%s' is not set", kp, s);
    c->environment = m87_xstrdup(s);
    c->content = m87_xstrdup(value);
    return 0;
}

static int parse_config(struct loader *l, const struct cnode *def, bool secret,
                        struct spec_config *c, struct m87_error **err)
{
    static const char *const config_known[] = {"file", "content", "environment", "name", NULL};
    static const char *const secret_known[] = {"file", "content", "environment", "name", NULL};
    static const char *const unsupported[] = {"external",    "labels",          "driver",
                                              "driver_opts", "template_driver", NULL};
    _cleanup_free_ char *path = spec_cn_path(secret ? "secrets" : "configs", def->key);
    c->key = m87_xstrdup(def->key);
    if (spec_cn_keys(def, path, secret ? secret_known : config_known, unsupported, err) < 0 ||
        opt_str(def, path, "name", &c->name, err) < 0 || config_source(l, def, path, c, err) < 0)
        return -1;
    set_real_name(l, c->key, &c->name, false);
    return 0;
}

/* ---- the top level -----------------------------------------------------------------------------
 */

/* The mapping under a top-level key, NULL when absent or null. */
static int section(struct loader *l, const char *key, const struct cnode **out,
                   struct m87_error **err)
{
    *out = spec_cn_val(l->root, key);
    return *out ? spec_cn_expect(*out, key, M87_YAML_MAPPING, err) : 0;
}

static void *alloc_for(const struct cnode *n, size_t size)
{
    return m87_xcalloc(n && n->len ? n->len : 1, size);
}

int spec_compose_top_parse(struct loader *l, struct m87_error **err)
{
    struct spec_project *p = l->p;
    const struct cnode *n;
    if (section(l, "networks", &n, err) < 0)
        return -1;
    p->networks = alloc_for(n, sizeof(*p->networks));
    for (size_t i = 0; n && i < n->len; i++)
        if (p->n_networks++, parse_network(l, n->items[i], &p->networks[i], err) < 0)
            return -1;
    if (section(l, "volumes", &n, err) < 0)
        return -1;
    p->volumes = alloc_for(n, sizeof(*p->volumes));
    for (size_t i = 0; n && i < n->len; i++)
        if (p->n_volumes++, parse_volume(l, n->items[i], &p->volumes[i], err) < 0)
            return -1;
    if (section(l, "configs", &n, err) < 0)
        return -1;
    p->configs = alloc_for(n, sizeof(*p->configs));
    for (size_t i = 0; n && i < n->len; i++)
        if (p->n_configs++, parse_config(l, n->items[i], false, &p->configs[i], err) < 0)
            return -1;
    if (section(l, "secrets", &n, err) < 0)
        return -1;
    p->secrets = alloc_for(n, sizeof(*p->secrets));
    for (size_t i = 0; n && i < n->len; i++)
        if (p->n_secrets++, parse_config(l, n->items[i], true, &p->secrets[i], err) < 0)
            return -1;
    return 0;
}

/* ---- checks across services --------------------------------------------------------------------
 */

static ssize_t service_index(const struct spec_project *p, const char *name)
{
    for (size_t i = 0; i < p->n_services; i++)
        if (strcmp(p->services[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static bool is_disabled(const struct spec_project *p, const char *name)
{
    for (size_t i = 0; i < p->disabled_services.len; i++)
        if (strcmp(p->disabled_services.items[i], name) == 0)
            return true;
    return false;
}

/* The depends_on entry of service s naming dep, for placing messages. */
static const struct cnode *depends_node(const struct loader *l, const char *s, const char *dep)
{
    const struct cnode *d =
        spec_cn_get(spec_cn_get(spec_cn_get(l->root, "services"), s), "depends_on");
    for (size_t i = 0; spec_cn_is_seq(d) && i < d->len; i++)
        if (spec_cn_is_scalar(d->items[i]) && strcmp(d->items[i]->text, dep) == 0)
            return d->items[i];
    const struct cnode *e = spec_cn_get(d, dep);
    if (e)
        return e;
    const struct cnode *m =
        spec_cn_get(spec_cn_get(spec_cn_get(l->root, "services"), s), "network_mode");
    return m ? m : spec_cn_get(spec_cn_get(l->root, "services"), s);
}

/* Drop dependencies on disabled services that are not required; refuse the required ones. */
static int check_profiles(struct loader *l, struct spec_service *s, struct m87_error **err)
{
    for (size_t j = 0; j < s->n_depends;) {
        struct spec_depends *d = &s->depends[j];
        if (!is_disabled(l->p, d->service)) {
            j++;
            continue;
        }
        const struct cnode *at = depends_node(l, s->name, d->service);
        if (d->required)
            return spec_cn_error(
                at, err,
                "services.%s.depends_on: service '%s' is not enabled by the active "
                "profiles",
                s->name, d->service);
        spec_loader_warn(l, "services.%s.depends_on: optional service '%s' is not enabled", s->name,
                         d->service);
        free(d->service);
        memmove(d, d + 1, (s->n_depends - j - 1) * sizeof(*d));
        s->n_depends--;
    }
    return 0;
}

enum mark { MARK_NONE, MARK_ACTIVE, MARK_DONE };

/* Depth-first search; on a cycle, *cycle_end is the service where the back edge lands and the
 * stack holds the path from it. */
static bool find_cycle(const struct spec_project *p, size_t i, enum mark *marks, size_t *stack,
                       size_t *depth, size_t *start)
{
    marks[i] = MARK_ACTIVE;
    stack[(*depth)++] = i;
    const struct spec_service *s = &p->services[i];
    for (size_t j = 0; j < s->n_depends; j++) {
        ssize_t k = service_index(p, s->depends[j].service);
        if (k < 0 || marks[k] == MARK_DONE)
            continue;
        if (marks[k] == MARK_ACTIVE) {
            *start = (size_t)k;
            return true;
        }
        if (find_cycle(p, (size_t)k, marks, stack, depth, start))
            return true;
    }
    marks[i] = MARK_DONE;
    (*depth)--;
    return false;
}

static int report_cycle(const struct loader *l, const size_t *stack, size_t depth, size_t start,
                        struct m87_error **err)
{
    const struct spec_project *p = l->p;
    size_t from = 0;
    while (stack[from] != start)
        from++;
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = from; i < depth; i++)
        m87_buf_appendf(&b, NULL, "%s -> ", p->services[stack[i]].name);
    m87_buf_appendf(&b, NULL, "%s", p->services[start].name);
    const char *first = p->services[stack[from]].name;
    const char *next = from + 1 < depth ? p->services[stack[from + 1]].name : first;
    int rc = spec_cn_error(depends_node(l, first, next), err,
                           "services.%s.depends_on: dependency cycle: %s", first, b.data);
    m87_buf_release(&b);
    return rc;
}

int spec_compose_check_services(struct loader *l, struct m87_error **err)
{
    struct spec_project *p = l->p;
    for (size_t i = 0; i < p->n_services; i++)
        if (check_profiles(l, &p->services[i], err) < 0)
            return -1;
    enum mark *marks = m87_xcalloc(p->n_services + 1, sizeof(*marks));
    size_t *stack = m87_xcalloc(p->n_services + 1, sizeof(*stack));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p->n_services; i++) {
        size_t depth = 0, start = 0;
        if (marks[i] == MARK_NONE && find_cycle(p, i, marks, stack, &depth, &start))
            rc = report_cycle(l, stack, depth, start, err);
    }
    free(marks);
    free(stack);
    return rc;
}

/* ---- pruning -----------------------------------------------------------------------------------
 */

void spec_compose_network_release(struct spec_network *n)
{
    free(n->key);
    free(n->name);
    free(n->driver);
    m87_kvlist_release(&n->driver_opts);
    free(n->ipam_driver);
    for (size_t i = 0; i < n->n_ipam_pools; i++) {
        free(n->ipam_pools[i].subnet);
        free(n->ipam_pools[i].ip_range);
        free(n->ipam_pools[i].gateway);
        m87_kvlist_release(&n->ipam_pools[i].aux_addresses);
    }
    free(n->ipam_pools);
    m87_kvlist_release(&n->ipam_options);
    m87_kvlist_release(&n->labels);
}

void spec_compose_volume_release(struct spec_volume *v)
{
    free(v->key);
    free(v->name);
    free(v->driver);
    m87_kvlist_release(&v->driver_opts);
    m87_kvlist_release(&v->labels);
}

void spec_compose_config_release(struct spec_config *c)
{
    free(c->key);
    free(c->name);
    free(c->file);
    free(c->content);
    free(c->environment);
}

static bool network_used(const struct spec_project *p, const char *key)
{
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        if (s->n_networks == 0 && s->network_mode == NULL && strcmp(key, "default") == 0)
            return true;
        for (size_t j = 0; j < s->n_networks; j++)
            if (strcmp(s->networks[j].key, key) == 0)
                return true;
    }
    return false;
}

static bool volume_used(const struct spec_project *p, const char *key)
{
    for (size_t i = 0; i < p->n_services; i++)
        for (size_t j = 0; j < p->services[i].n_mounts; j++)
            if (p->services[i].mounts[j].type == SPEC_MOUNT_VOLUME &&
                strcmp(p->services[i].mounts[j].source, key) == 0)
                return true;
    return false;
}

static bool ref_used(const struct spec_project *p, const char *key, bool secret)
{
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        const struct spec_file_ref *r = secret ? s->secrets : s->configs;
        size_t n = secret ? s->n_secrets : s->n_configs;
        for (size_t j = 0; j < n; j++)
            if (strcmp(r[j].source, key) == 0)
                return true;
    }
    return false;
}

static void prune_networks(struct loader *l)
{
    struct spec_project *p = l->p;
    size_t w = 0;
    bool have_default = false;
    for (size_t i = 0; i < p->n_networks; i++) {
        if (!network_used(p, p->networks[i].key)) {
            spec_compose_network_release(&p->networks[i]);
            continue;
        }
        have_default = have_default || strcmp(p->networks[i].key, "default") == 0;
        p->networks[w++] = p->networks[i];
    }
    p->n_networks = w;
    if (have_default || !network_used(p, "default"))
        return;
    p->networks = m87_xrealloc(p->networks, (p->n_networks + 1) * sizeof(*p->networks));
    memmove(&p->networks[1], &p->networks[0], p->n_networks * sizeof(*p->networks));
    struct spec_network *d = &p->networks[0];
    memset(d, 0, sizeof(*d));
    d->key = m87_xstrdup("default");
    set_real_name(l, "default", &d->name, false);
    p->n_networks++;
}

void spec_compose_prune_resources(struct loader *l)
{
    struct spec_project *p = l->p;
    prune_networks(l);
    size_t w = 0;
    for (size_t i = 0; i < p->n_volumes; i++) {
        if (volume_used(p, p->volumes[i].key))
            p->volumes[w++] = p->volumes[i];
        else
            spec_compose_volume_release(&p->volumes[i]);
    }
    p->n_volumes = w;
    for (int secret = 0; secret < 2; secret++) {
        struct spec_config *v = secret ? p->secrets : p->configs;
        size_t *n = secret ? &p->n_secrets : &p->n_configs;
        w = 0;
        for (size_t i = 0; i < *n; i++) {
            if (ref_used(p, v[i].key, secret))
                v[w++] = v[i];
            else
                spec_compose_config_release(&v[i]);
        }
        *n = w;
    }
}
