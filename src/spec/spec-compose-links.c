/* Service fields that refer to other objects of the project: networks, network_mode (and v1's
 * net), pid and ipc, volumes_from, links and external_links, depends_on, configs and secrets. Each
 * reference is checked against what is declared. */
#include <arpa/inet.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/list.h"
#include "m87/net.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

static const struct cnode *services_of(const struct svc *c)
{
    return spec_cn_get(c->l->root, "services");
}

/* ---- networks ----------------------------------------------------------------------------------
 */

static int network_declared(struct svc *c, const struct cnode *at, const char *path,
                            const char *key)
{
    if (strcmp(key, "default") == 0 || spec_project_network(c->l->p, key))
        return 0;
    return spec_cn_error(at, c->err, "%s: undefined network '%s'", path, key);
}

static int parse_endpoint(struct svc *c, const struct cnode *e, const char *path,
                          struct spec_service_network *n)
{
    static const char *const known[] = {"aliases", "ipv4_address", "ipv6_address", "priority",
                                        NULL};
    static const char *const unsupported[] = {"link_local_ips", "mac_address",    "driver_opts",
                                              "gw_priority",    "interface_name", NULL};
    if (spec_cn_is_null(e))
        return 0;
    if (spec_cn_keys(e, path, known, unsupported, c->err) < 0)
        return -1;
    const struct cnode *v;
    const char *s = NULL;
    _cleanup_free_ char *ap = spec_cn_path(path, "aliases");
    if ((v = spec_cn_val(e, "aliases")) && spec_cn_strings(v, ap, &n->aliases, c->err) < 0)
        return -1;
    const char *const addr[] = {"ipv4_address", "ipv6_address"};
    char **slots[] = {&n->ipv4_address, &n->ipv6_address};
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *fp = spec_cn_path(path, addr[i]);
        if ((v = spec_cn_val(e, addr[i])) == NULL)
            continue;
        if (spec_cn_str(v, fp, &s, c->err) < 0)
            return -1;
        if (!m87_valid_ip(s, i == 0 ? AF_INET : AF_INET6))
            return spec_cn_error(v, c->err, "%s: invalid address '%s'", fp, s);
        *slots[i] = m87_xstrdup(s);
    }
    _cleanup_free_ char *pp = spec_cn_path(path, "priority");
    if ((v = spec_cn_val(e, "priority")) &&
        spec_cn_int_range(v, pp, INT32_MIN, INT32_MAX, &n->priority, c->err) < 0)
        return -1;
    return 0;
}

static int cmp_network(const void *a, const void *b)
{
    const struct spec_service_network *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int parse_networks(struct svc *c)
{
    const struct cnode *n = spec_svc_get(c, "networks");
    if (n == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (n->kind == M87_YAML_SCALAR)
        return spec_cn_expect(n, path, M87_YAML_SEQUENCE, c->err);
    struct spec_service *s = c->s;
    s->networks = m87_xcalloc(n->len ? n->len : 1, sizeof(*s->networks));
    for (size_t i = 0; i < n->len; i++) {
        const struct cnode *e = n->items[i];
        struct spec_service_network *net = &s->networks[s->n_networks++];
        m87_strv_init(&net->aliases);
        const char *key = e->key;
        _cleanup_free_ char *ep = n->kind == M87_YAML_SEQUENCE ? spec_cn_path_i(path, i) : NULL;
        if (ep && spec_cn_str(e, ep, &key, c->err) < 0)
            return -1;
        if (ep == NULL)
            ep = spec_cn_path(path, key);
        for (size_t j = 0; j + 1 < s->n_networks; j++)
            if (strcmp(s->networks[j].key, key) == 0)
                return spec_cn_error(e, c->err, "%s: network '%s' is listed twice", ep, key);
        net->key = m87_xstrdup(key);
        if (network_declared(c, e, ep, key) < 0 ||
            (n->kind == M87_YAML_MAPPING && parse_endpoint(c, e, ep, net) < 0))
            return -1;
    }
    qsort(s->networks, s->n_networks, sizeof(*s->networks), cmp_network);
    return 0;
}

/* network_mode, or net, its name in the version 1 format. */
static int parse_network_mode(struct svc *c)
{
    struct spec_service *s = c->s;
    const char *field = spec_svc_get(c, "network_mode") ? "network_mode" : "net";
    if (spec_svc_get(c, "network_mode") && spec_svc_get(c, "net"))
        return spec_cn_error(spec_cn_get(c->def, "net"), c->err,
                             "%s: cannot be combined with 'network_mode' (net is its old name)",
                             c->fpath);
    if (spec_svc_str(c, field, &s->network_mode) < 0)
        return -1;
    if (s->network_mode == NULL)
        return 0;
    const struct cnode *v = spec_svc_get(c, field);
    const char *m = s->network_mode;
    if (spec_cn_val(c->def, "networks"))
        return spec_cn_error(v, c->err, "%s: cannot be combined with 'networks'", c->fpath);
    if (strcmp(m, "host") == 0 || strcmp(m, "none") == 0 || strcmp(m, "bridge") == 0)
        return 0;
    if (strncmp(m, "container:", 10) == 0 && m[10])
        return 0;
    if (strncmp(m, "service:", 8) != 0 || m[8] == '\0')
        return spec_cn_error(v, c->err,
                             "%s: invalid network mode '%s' (expected host, none, bridge, "
                             "container:NAME or service:NAME)",
                             c->fpath, m);
    if (strcmp(m + 8, s->name) == 0)
        return spec_cn_error(v, c->err, "%s: a service cannot share its own network", c->fpath);
    if (spec_cn_get(services_of(c), m + 8) == NULL)
        return spec_cn_error(v, c->err, "%s: undefined service '%s'", c->fpath, m + 8);
    return 0;
}

/* ---- depends_on --------------------------------------------------------------------------------
 */

static int parse_condition(struct svc *c, const struct cnode *e, const char *path,
                           struct spec_depends *d)
{
    static const char *const known[] = {"condition", "restart", "required", NULL};
    static const char *const conditions[] = {"service_started", "service_healthy",
                                             "service_completed_successfully"};
    if (spec_cn_is_null(e))
        return 0;
    if (spec_cn_keys(e, path, known, NULL, c->err) < 0)
        return -1;
    const struct cnode *v;
    const char *s = NULL;
    _cleanup_free_ char *cp = spec_cn_path(path, "condition");
    if ((v = spec_cn_val(e, "condition"))) {
        if (spec_cn_str(v, cp, &s, c->err) < 0)
            return -1;
        size_t i = 0;
        while (i < M87_ARRAY_LEN(conditions) && strcmp(s, conditions[i]) != 0)
            i++;
        if (i == M87_ARRAY_LEN(conditions))
            return spec_cn_error(v, c->err,
                                 "%s: invalid condition '%s' (expected service_started, "
                                 "service_healthy or service_completed_successfully)",
                                 cp, s);
        d->condition = (enum spec_depends_condition)i;
    }
    _cleanup_free_ char *rp = spec_cn_path(path, "restart");
    _cleanup_free_ char *qp = spec_cn_path(path, "required");
    if ((v = spec_cn_val(e, "restart")) && spec_cn_bool(v, rp, &d->restart, c->err) < 0)
        return -1;
    if ((v = spec_cn_val(e, "required")) && spec_cn_bool(v, qp, &d->required, c->err) < 0)
        return -1;
    return 0;
}

static int parse_depends(struct svc *c)
{
    const struct cnode *n = spec_svc_get(c, "depends_on");
    struct spec_service *s = c->s;
    if (n == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (n->kind == M87_YAML_SCALAR)
        return spec_cn_expect(n, path, M87_YAML_SEQUENCE, c->err);
    s->depends = m87_xcalloc(n->len + 1, sizeof(*s->depends));
    for (size_t i = 0; i < n->len; i++) {
        const struct cnode *e = n->items[i];
        struct spec_depends *d = &s->depends[s->n_depends++];
        d->required = true;
        const char *name = e->key;
        _cleanup_free_ char *ep = n->kind == M87_YAML_SEQUENCE ? spec_cn_path_i(path, i) : NULL;
        if (ep && spec_cn_str(e, ep, &name, c->err) < 0)
            return -1;
        d->service = m87_xstrdup(name);
        if (ep == NULL)
            ep = spec_cn_path(path, name);
        if (n->kind == M87_YAML_MAPPING && parse_condition(c, e, ep, d) < 0)
            return -1;
        if (strcmp(name, s->name) == 0)
            return spec_cn_error(e, c->err, "%s: a service cannot depend on itself", ep);
        if (spec_cn_get(services_of(c), name) == NULL)
            return spec_cn_error(e, c->err, "%s: undefined service '%s'", ep, name);
    }
    return 0;
}

/* network_mode, pid or ipc service:X starts X first, as compose-go adds it to depends_on. */
static void implied_dependency(struct svc *c, const char *mode)
{
    struct spec_service *s = c->s;
    if (mode == NULL || strncmp(mode, "service:", 8) != 0)
        return;
    const char *target = mode + 8;
    for (size_t i = 0; i < s->n_depends; i++)
        if (strcmp(s->depends[i].service, target) == 0)
            return;
    s->depends = m87_xrealloc(s->depends, (s->n_depends + 1) * sizeof(*s->depends));
    s->depends[s->n_depends++] = (struct spec_depends){
        .service = m87_xstrdup(target),
        .condition = SPEC_DEPENDS_STARTED,
        .required = true,
    };
}

/* ---- pid and ipc -------------------------------------------------------------------------------
 */

/* pid (host, container:NAME, service:NAME) or ipc (also private, shareable, none). */
static int parse_namespace(struct svc *c, const char *name, char **out)
{
    static const char *const pid_modes[] = {"host", NULL};
    static const char *const ipc_modes[] = {"host", "private", "shareable", "none", NULL};
    const char *const *modes = strcmp(name, "pid") == 0 ? pid_modes : ipc_modes;
    if (spec_svc_str(c, name, out) < 0)
        return -1;
    if (*out == NULL)
        return 0;
    const struct cnode *v = spec_svc_get(c, name);
    const char *m = *out;
    for (size_t i = 0; modes[i]; i++)
        if (strcmp(m, modes[i]) == 0)
            return 0;
    if (strncmp(m, "container:", 10) == 0 && m[10])
        return 0;
    if (strncmp(m, "service:", 8) != 0 || m[8] == '\0')
        return spec_cn_error(
            v, c->err, "%s: invalid %s mode '%s' (expected %s)", c->fpath, name, m,
            modes == pid_modes ? "host, container:NAME or service:NAME"
                               : "host, private, shareable, none, container:NAME or service:NAME");
    if (strcmp(m + 8, c->s->name) == 0)
        return spec_cn_error(v, c->err, "%s: a service cannot share its own namespace", c->fpath);
    if (spec_cn_get(services_of(c), m + 8) == NULL)
        return spec_cn_error(v, c->err, "%s: undefined service '%s'", c->fpath, m + 8);
    return 0;
}

/* ---- volumes_from and links -------------------------------------------------------------------
 */

static bool is_mode(const char *m)
{
    return strcmp(m, "ro") == 0 || strcmp(m, "rw") == 0;
}

/* SERVICE[:MODE], service:SERVICE[:MODE] or container:NAME[:MODE], MODE ro or rw; kept as
 * "service:SERVICE[:MODE]" or "container:NAME[:MODE]". */
static int parse_volume_from(struct svc *c, const struct cnode *e, const char *path,
                             const char *text)
{
    _cleanup_free_ char *copy = m87_xstrdup(text);
    char *parts[4] = {0};
    size_t n = 0;
    for (char *save = NULL, *p = strtok_r(copy, ":", &save); p && n < 4;
         p = strtok_r(NULL, ":", &save))
        parts[n++] = p;
    bool typed = n >= 2 && (strcmp(parts[0], "container") == 0 ||
                            (strcmp(parts[0], "service") == 0 && !is_mode(parts[1])));
    const char *type = typed ? parts[0] : "service";
    const char *name = typed ? parts[1] : parts[0];
    const char *mode = typed ? parts[2] : parts[1];
    size_t want = (typed ? 2 : 1) + (mode != NULL);
    if (n == 0 || n != want || text[0] == ':' || strstr(text, "::") ||
        text[strlen(text) - 1] == ':' || (mode && !is_mode(mode)))
        return spec_cn_error(e, c->err,
                             "%s: invalid volumes_from '%s' (expected SERVICE[:ro|rw] or "
                             "container:NAME[:ro|rw])",
                             path, text);
    if (strcmp(type, "service") == 0) {
        if (strcmp(name, c->s->name) == 0)
            return spec_cn_error(e, c->err, "%s: a service cannot take volumes from itself", path);
        if (spec_cn_get(services_of(c), name) == NULL)
            return spec_cn_error(e, c->err, "%s: undefined service '%s'", path, name);
    }
    _cleanup_free_ char *v =
        m87_xasprintf("%s:%s%s%s", type, name, mode ? ":" : "", mode ? mode : "");
    m87_strv_add(&c->s->volumes_from, v);
    return 0;
}

/* NAME[:ALIAS], NAME a service of the project (links) or any container (external_links). */
static int parse_link(struct svc *c, const struct cnode *e, const char *path, const char *text,
                      bool external)
{
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    if (len == 0 || (colon && (colon[1] == '\0' || strchr(colon + 1, ':'))))
        return spec_cn_error(e, c->err, "%s: invalid link '%s' (expected %s[:ALIAS])", path, text,
                             external ? "CONTAINER" : "SERVICE");
    _cleanup_free_ char *name = m87_xstrndup(text, len);
    if (!external && strcmp(name, c->s->name) == 0)
        return spec_cn_error(e, c->err, "%s: a service cannot link to itself", path);
    if (!external && spec_cn_get(services_of(c), name) == NULL)
        return spec_cn_error(e, c->err, "%s: undefined service '%s'", path, name);
    m87_strv_add(external ? &c->s->external_links : &c->s->links, text);
    return 0;
}

static int parse_references(struct svc *c)
{
    static const char *const names[] = {"volumes_from", "links", "external_links"};
    for (size_t k = 0; k < M87_ARRAY_LEN(names); k++) {
        const struct cnode *n = spec_svc_get(c, names[k]);
        if (n == NULL)
            continue;
        _cleanup_free_ char *path = m87_xstrdup(c->fpath);
        if (spec_cn_expect(n, path, M87_YAML_SEQUENCE, c->err) < 0)
            return -1;
        for (size_t i = 0; i < n->len; i++) {
            const char *text = NULL;
            _cleanup_free_ char *ip = spec_cn_path_i(path, i);
            if (spec_cn_str(n->items[i], ip, &text, c->err) < 0)
                return -1;
            int rc = k == 0 ? parse_volume_from(c, n->items[i], ip, text)
                            : parse_link(c, n->items[i], ip, text, k == 2);
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

/* The services a service needs started first without a depends_on entry: network_mode, pid and
 * ipc service:X, volumes_from X and links X, as compose-go adds them to depends_on. */
static void implied_dependencies(struct svc *c)
{
    struct spec_service *s = c->s;
    implied_dependency(c, s->network_mode);
    implied_dependency(c, s->pid);
    implied_dependency(c, s->ipc);
    for (size_t i = 0; i < s->volumes_from.len; i++) {
        const char *v = s->volumes_from.items[i];
        if (strncmp(v, "service:", 8) != 0)
            continue;
        _cleanup_free_ char *mode = m87_xstrndup(v, 8 + strcspn(v + 8, ":"));
        implied_dependency(c, mode);
    }
    for (size_t i = 0; i < s->links.len; i++) {
        const char *l = s->links.items[i];
        _cleanup_free_ char *mode = m87_xasprintf("service:%.*s", (int)strcspn(l, ":"), l);
        implied_dependency(c, mode);
    }
}

/* ---- configs and secrets -----------------------------------------------------------------------
 */

static const struct spec_config *find_config(const struct spec_config *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

static int parse_ref_long(struct svc *c, const struct cnode *e, const char *path,
                          struct spec_file_ref *r, const char **target)
{
    static const char *const known[] = {"source", "target", "uid", "gid", "mode", NULL};
    if (spec_cn_keys(e, path, known, NULL, c->err) < 0)
        return -1;
    const struct cnode *v = spec_cn_val(e, "source");
    const char *s = NULL;
    _cleanup_free_ char *sp = spec_cn_path(path, "source");
    if (v == NULL)
        return spec_cn_error(e, c->err, "%s: missing required field 'source'", path);
    if (spec_cn_str(v, sp, &s, c->err) < 0)
        return -1;
    r->source = m87_xstrdup(s);
    const char *const ids[] = {"target", "uid", "gid"};
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *fp = spec_cn_path(path, ids[i]);
        if ((v = spec_cn_val(e, ids[i])) == NULL)
            continue;
        if (spec_cn_str(v, fp, &s, c->err) < 0)
            return -1;
        if (i == 0)
            *target = s;
        else if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
            return spec_cn_error(v, c->err, "%s: invalid id '%s'", fp, s);
        else
            *(i == 1 ? &r->uid : &r->gid) = m87_xstrdup(s);
    }
    _cleanup_free_ char *mp = spec_cn_path(path, "mode");
    if ((v = spec_cn_val(e, "mode")) && spec_cn_mode(v, mp, &r->mode, c->err) < 0)
        return -1;
    return 0;
}

static int parse_ref(struct svc *c, const struct cnode *e, const char *path, bool secret,
                     struct spec_file_ref *r)
{
    const char *target = NULL;
    r->mode = SPEC_UNSET;
    if (spec_cn_is_map(e)) {
        if (parse_ref_long(c, e, path, r, &target) < 0)
            return -1;
    } else {
        const char *s = NULL;
        if (spec_cn_str(e, path, &s, c->err) < 0)
            return -1;
        r->source = m87_xstrdup(s);
    }
    const struct spec_project *p = c->l->p;
    const struct spec_config *decl = secret ? find_config(p->secrets, p->n_secrets, r->source)
                                            : find_config(p->configs, p->n_configs, r->source);
    if (decl == NULL)
        return spec_cn_error(e, c->err, "%s: undefined %s '%s'", path, secret ? "secret" : "config",
                             r->source);
    if (decl->source != SPEC_SOURCE_FILE && c->s->read_only)
        return spec_cn_error(e, c->err,
                             "%s: a %s from content or environment cannot be put into a read_only "
                             "container (use a file source)",
                             path, secret ? "secret" : "config");
    const char *base = secret ? "/run/secrets/" : "/";
    if (target == NULL || *target == '\0')
        r->target = m87_xasprintf("%s%s", base, r->source);
    else if (target[0] == '/')
        r->target = spec_compose_clean_path(target);
    else {
        _cleanup_free_ char *t = m87_xasprintf("%s%s", base, target);
        r->target = spec_compose_clean_path(t);
    }
    if (decl->source == SPEC_SOURCE_FILE && (r->uid || r->gid || r->mode != SPEC_UNSET))
        spec_loader_warn(c->l, "%s: uid, gid and mode are ignored for a file source (bind mount)",
                         path);
    return 0;
}

static int parse_refs(struct svc *c, const char *name, bool secret)
{
    const struct cnode *n = spec_svc_get(c, name);
    if (n == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (spec_cn_expect(n, path, M87_YAML_SEQUENCE, c->err) < 0)
        return -1;
    struct spec_file_ref **v = secret ? &c->s->secrets : &c->s->configs;
    size_t *len = secret ? &c->s->n_secrets : &c->s->n_configs;
    *v = m87_xcalloc(n->len ? n->len : 1, sizeof(**v));
    for (size_t i = 0; i < n->len; i++) {
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        (*len)++;
        if (parse_ref(c, n->items[i], ip, secret, &(*v)[i]) < 0)
            return -1;
    }
    return 0;
}

int spec_svc_links(struct svc *c)
{
    struct spec_service *s = c->s;
    if (parse_networks(c) < 0 || parse_network_mode(c) < 0 ||
        parse_namespace(c, "pid", &s->pid) < 0 || parse_namespace(c, "ipc", &s->ipc) < 0 ||
        parse_references(c) < 0 || parse_depends(c) < 0 || parse_refs(c, "configs", false) < 0 ||
        parse_refs(c, "secrets", true) < 0)
        return -1;
    implied_dependencies(c);
    return 0;
}
