/* Merging several compose files and de-duplicating sequences, with compose-go's rules
 * (override/merge.go and override/uncity.go): mappings merge key by key, later files win;
 * sequences append unless a field says otherwise; !reset removes and !override replaces. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

enum merge_rule {
    MERGE_DEFAULT,
    MERGE_OVERRIDE, /* the later value replaces */
    MERGE_SEQUENCE, /* both sides as "k=v" sequences, appended */
    MERGE_DEPENDS,  /* both sides as mappings with compose's defaults, merged */
    MERGE_NETWORKS, /* both sides as mappings, merged */
    MERGE_LOGGING,  /* merged when the drivers agree, replaced otherwise */
    MERGE_IPAM,     /* pools merged by subnet */
};

static const struct {
    const char *pattern;
    enum merge_rule rule;
} merge_rules[] = {
    {"services.*.command", MERGE_OVERRIDE},
    {"services.*.entrypoint", MERGE_OVERRIDE},
    {"services.*.healthcheck.test", MERGE_OVERRIDE},
    {"services.*.ulimits.*", MERGE_OVERRIDE},
    {"services.*.environment", MERGE_SEQUENCE},
    {"services.*.labels", MERGE_SEQUENCE},
    {"services.*.sysctls", MERGE_SEQUENCE},
    {"services.*.tmpfs", MERGE_SEQUENCE},
    {"services.*.dns", MERGE_SEQUENCE},
    {"services.*.dns_opt", MERGE_SEQUENCE},
    {"services.*.dns_search", MERGE_SEQUENCE},
    {"services.*.env_file", MERGE_SEQUENCE},
    {"services.*.label_file", MERGE_SEQUENCE},
    {"services.*.annotations", MERGE_SEQUENCE},
    {"services.*.extra_hosts", MERGE_SEQUENCE},
    {"networks.*.labels", MERGE_SEQUENCE},
    {"volumes.*.labels", MERGE_SEQUENCE},
    {"services.*.depends_on", MERGE_DEPENDS},
    {"services.*.networks", MERGE_NETWORKS},
    {"services.*.logging", MERGE_LOGGING},
    {"networks.*.ipam.config", MERGE_IPAM},
};

static enum merge_rule rule_of(const char *pattern)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(merge_rules); i++)
        if (strcmp(merge_rules[i].pattern, pattern) == 0)
            return merge_rules[i].rule;
    return MERGE_DEFAULT;
}

/* The pattern of a child: names of services, networks, ... and of a few per-service maps are
 * written as '*'. */
static char *child_pattern(const char *pattern, const char *key)
{
    static const char *const wild[] = {"services",
                                       "networks",
                                       "volumes",
                                       "configs",
                                       "secrets",
                                       "services.*.ulimits",
                                       "services.*.networks",
                                       "services.*.depends_on"};
    for (size_t i = 0; i < M87_ARRAY_LEN(wild); i++)
        if (strcmp(pattern, wild[i]) == 0)
            return m87_xasprintf("%s.*", pattern);
    return spec_cn_path(pattern, key);
}

static void remove_at(struct cnode *coll, size_t i)
{
    spec_cnode_free(coll->items[i]);
    memmove(&coll->items[i], &coll->items[i + 1], (coll->len - i - 1) * sizeof(*coll->items));
    coll->len--;
}

static ssize_t index_of(const struct cnode *map, const char *key)
{
    for (size_t i = 0; i < map->len; i++)
        if (strcmp(map->items[i]->key, key) == 0)
            return (ssize_t)i;
    return -1;
}

/* Put n in *slot in place of the old value, keeping the old key's name. */
static void replace(struct cnode **slot, struct cnode *n)
{
    spec_cnode_free(*slot);
    *slot = n;
}

/* ---- shape conversions ------------------------------------------------------------------------
 */

static int cmp_text(const void *a, const void *b)
{
    return strcmp((*(struct cnode *const *)a)->text, (*(struct cnode *const *)b)->text);
}

/* A mapping becomes sorted "k=v" strings ("k" for a null value), a string a one-item sequence. */
static int to_sequence(struct cnode **slot, const char *path, struct m87_error **err)
{
    struct cnode *n = *slot;
    if (n->kind == M87_YAML_SEQUENCE)
        return 0;
    struct cnode *seq = spec_cnode_new(M87_YAML_SEQUENCE, n);
    spec_cnode_set_key(seq, n->key ? n->key : "", n);
    if (n->kind == M87_YAML_SCALAR && !spec_cn_is_null(n)) {
        spec_cnode_append(seq, spec_cnode_new_str(n->text, n));
    } else if (n->kind == M87_YAML_MAPPING) {
        for (size_t i = 0; i < n->len; i++) {
            const struct cnode *v = n->items[i];
            if (v->kind != M87_YAML_SCALAR) {
                spec_cnode_free(seq);
                _cleanup_free_ char *kp = spec_cn_path(path, v->key);
                return spec_cn_error(v, err, "%s: expected a string, got a %s", kp,
                                     v->kind == M87_YAML_MAPPING ? "mapping" : "sequence");
            }
            _cleanup_free_ char *s =
                spec_cn_is_null(v) ? m87_xstrdup(v->key) : m87_xasprintf("%s=%s", v->key, v->text);
            spec_cnode_append(seq, spec_cnode_new_str(s, v));
        }
        if (seq->len > 1) /* an empty mapping leaves items NULL, which qsort must not get */
            qsort(seq->items, seq->len, sizeof(*seq->items), cmp_text);
    }
    replace(slot, seq);
    return 0;
}

/* A sequence of names becomes a mapping of name to def (a copy each), or to null. */
static int to_mapping(struct cnode **slot, const char *path, bool depends, struct m87_error **err)
{
    struct cnode *n = *slot;
    if (n->kind == M87_YAML_MAPPING)
        return 0;
    struct cnode *map = spec_cnode_new(M87_YAML_MAPPING, n);
    spec_cnode_set_key(map, n->key ? n->key : "", n);
    for (size_t i = 0; n->kind == M87_YAML_SEQUENCE && i < n->len; i++) {
        const struct cnode *item = n->items[i];
        if (item->kind != M87_YAML_SCALAR || spec_cn_is_null(item)) {
            spec_cnode_free(map);
            _cleanup_free_ char *ip = spec_cn_path_i(path, i);
            return spec_cn_str(item, ip, &(const char *){NULL}, err);
        }
        struct cnode *v;
        if (depends) {
            v = spec_cnode_new(M87_YAML_MAPPING, item);
            struct cnode *cond = spec_cnode_new_str("service_started", item);
            spec_cnode_set_key(cond, "condition", item);
            struct cnode *req = spec_cnode_new_str("true", item);
            req->type = M87_YAML_BOOL;
            spec_cnode_set_key(req, "required", item);
            spec_cnode_append(v, cond);
            spec_cnode_append(v, req);
        } else {
            v = spec_cnode_new_str("", item);
            v->type = M87_YAML_NULL;
        }
        spec_cnode_set_key(v, item->text, item);
        spec_cnode_append(map, v);
    }
    replace(slot, map);
    return 0;
}

/* ---- merging ----------------------------------------------------------------------------------
 */

static int merge_value(struct cnode **slot, struct cnode *over, const char *path,
                       const char *pattern, struct m87_error **err);

/* How one entry o of over goes into base; o is consumed. */
typedef int (*merge_entry_fn)(struct cnode *base, struct cnode *o, const char *path,
                              const char *pattern, struct m87_error **err);

/* Each entry of over into base with merge_entry; over's entries are taken, over is freed. After a
 * failure the entries left are freed unmerged. */
static int merge_entries(struct cnode *base, struct cnode *over, const char *path,
                         const char *pattern, merge_entry_fn merge_entry, struct m87_error **err)
{
    int rc = 0;
    for (size_t i = 0; i < over->len; i++) {
        struct cnode *o = over->items[i];
        over->items[i] = NULL;
        if (rc < 0)
            spec_cnode_free(o);
        else
            rc = merge_entry(base, o, path, pattern, err);
    }
    spec_cnode_free(over);
    return rc;
}

/* A mapping's entry: removed by !reset, added when new, replaced for an extension, else merged
 * by the rule of its path. */
static int merge_key(struct cnode *base, struct cnode *o, const char *path, const char *pattern,
                     struct m87_error **err)
{
    ssize_t at = index_of(base, o->key);
    if (o->reset) {
        if (at >= 0)
            remove_at(base, (size_t)at);
        spec_cnode_free(o);
    } else if (at < 0) {
        spec_cnode_append(base, o);
    } else if (strncmp(o->key, "x-", 2) == 0) {
        replace(&base->items[at], o);
    } else {
        _cleanup_free_ char *kp = spec_cn_path(path, o->key);
        _cleanup_free_ char *kpat = child_pattern(pattern, o->key);
        return merge_value(&base->items[at], o, kp, kpat, err);
    }
    return 0;
}

static int merge_mappings(struct cnode *base, struct cnode *over, const char *path,
                          const char *pattern, struct m87_error **err)
{
    return merge_entries(base, over, path, pattern, merge_key, err);
}

static void append_all(struct cnode *base, struct cnode *over)
{
    for (size_t i = 0; i < over->len; i++) {
        spec_cnode_append(base, over->items[i]);
        over->items[i] = NULL;
    }
    spec_cnode_free(over);
}

static const char *subnet_of(const struct cnode *pool)
{
    const struct cnode *s = spec_cn_get(pool, "subnet");
    return spec_cn_is_scalar(s) ? s->text : NULL;
}

/* An ipam pool: merged into the pool of the same subnet, else added. */
static int merge_pool(struct cnode *base, struct cnode *o, const char *path, const char *pattern,
                      struct m87_error **err)
{
    const char *subnet = subnet_of(o);
    size_t j = 0;
    while (j < base->len && (subnet == NULL || subnet_of(base->items[j]) == NULL ||
                             strcmp(subnet, subnet_of(base->items[j])) != 0))
        j++;
    if (j < base->len && spec_cn_is_map(o) && spec_cn_is_map(base->items[j]))
        return merge_mappings(base->items[j], o, path, pattern, err);
    spec_cnode_append(base, o);
    return 0;
}

static bool drivers_differ(const struct cnode *a, const struct cnode *b)
{
    const struct cnode *da = spec_cn_get(a, "driver");
    const struct cnode *db = spec_cn_get(b, "driver");
    return spec_cn_is_scalar(da) && spec_cn_is_scalar(db) && strcmp(da->text, db->text) != 0;
}

static int merge_default(struct cnode **slot, struct cnode *over, const char *path,
                         const char *pattern, struct m87_error **err)
{
    struct cnode *base = *slot;
    if (spec_cn_is_null(over)) {
        spec_cnode_free(over);
        return 0;
    }
    if (base->kind == M87_YAML_SCALAR || base->kind != over->kind) {
        if (base->kind != M87_YAML_SCALAR && !spec_cn_is_null(base)) {
            int rc = spec_cn_error(over, err, "%s: cannot merge a %s with a %s", path,
                                   over->kind == M87_YAML_MAPPING    ? "mapping"
                                   : over->kind == M87_YAML_SEQUENCE ? "sequence"
                                                                     : "scalar",
                                   base->kind == M87_YAML_MAPPING ? "mapping" : "sequence");
            spec_cnode_free(over);
            return rc;
        }
        replace(slot, over);
        return 0;
    }
    if (base->kind == M87_YAML_MAPPING)
        return merge_mappings(base, over, path, pattern, err);
    append_all(base, over);
    return 0;
}

static int merge_value(struct cnode **slot, struct cnode *over, const char *path,
                       const char *pattern, struct m87_error **err)
{
    enum merge_rule rule = over->override ? MERGE_OVERRIDE : rule_of(pattern);
    switch (rule) {
    case MERGE_OVERRIDE:
        replace(slot, over);
        return 0;
    case MERGE_SEQUENCE:
        if (to_sequence(slot, path, err) < 0 || to_sequence(&over, path, err) < 0) {
            spec_cnode_free(over);
            return -1;
        }
        append_all(*slot, over);
        return 0;
    case MERGE_DEPENDS:
    case MERGE_NETWORKS:
        if (to_mapping(slot, path, rule == MERGE_DEPENDS, err) < 0 ||
            to_mapping(&over, path, rule == MERGE_DEPENDS, err) < 0) {
            spec_cnode_free(over);
            return -1;
        }
        return merge_mappings(*slot, over, path, pattern, err);
    case MERGE_LOGGING:
        if (spec_cn_is_map(*slot) && spec_cn_is_map(over) && drivers_differ(*slot, over)) {
            replace(slot, over);
            return 0;
        }
        break;
    case MERGE_IPAM:
        if (spec_cn_is_seq(*slot) && spec_cn_is_seq(over))
            return merge_entries(*slot, over, path, pattern, merge_pool, err);
        break;
    case MERGE_DEFAULT:
        break;
    }
    return merge_default(slot, over, path, pattern, err);
}

int spec_compose_merge_service(struct cnode **base, struct cnode *over, const char *path,
                               struct m87_error **err)
{
    return merge_value(base, over, path, "services.*", err);
}

int spec_compose_merge(struct cnode *base, struct cnode *over, struct m87_error **err)
{
    return merge_mappings(base, over, "", "", err);
}

/* ---- unicity ----------------------------------------------------------------------------------
 */

enum index_kind {
    INDEX_KV,      /* the text up to '=' */
    INDEX_PATH,    /* the text up to ':' */
    INDEX_VOLUME,  /* the container path */
    INDEX_DEVICE,  /* the container path */
    INDEX_CONFIG,  /* the target, default "/SOURCE" */
    INDEX_SECRET,  /* the target, default "/run/secrets/SOURCE" */
    INDEX_TEXT,    /* the whole text */
    INDEX_PORT,    /* the binding */
    INDEX_ENVFILE, /* the path */
};

static const struct {
    const char *pattern;
    enum index_kind kind;
} unique_rules[] = {
    {"services.*.environment", INDEX_KV},  {"services.*.labels", INDEX_KV},
    {"services.*.sysctls", INDEX_KV},      {"services.*.dns", INDEX_KV},
    {"services.*.dns_opt", INDEX_KV},      {"services.*.dns_search", INDEX_KV},
    {"services.*.cap_add", INDEX_KV},      {"services.*.cap_drop", INDEX_KV},
    {"services.*.profiles", INDEX_KV},     {"services.*.networks.*.aliases", INDEX_KV},
    {"networks.*.labels", INDEX_KV},       {"volumes.*.labels", INDEX_KV},
    {"services.*.tmpfs", INDEX_PATH},      {"services.*.volumes", INDEX_VOLUME},
    {"services.*.devices", INDEX_DEVICE},  {"services.*.configs", INDEX_CONFIG},
    {"services.*.secrets", INDEX_SECRET},  {"services.*.expose", INDEX_TEXT},
    {"services.*.ports", INDEX_PORT},      {"services.*.env_file", INDEX_ENVFILE},
    {"services.*.label_file", INDEX_TEXT}, {"services.*.annotations", INDEX_KV},
};

char *spec_compose_volume_target(const char *spec)
{
    const char *c1 = strchr(spec, ':');
    if (c1 == NULL)
        return m87_xstrdup(spec);
    const char *c2 = strchr(c1 + 1, ':');
    return m87_xstrndup(c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1));
}

static const char *text_of(const struct cnode *map, const char *key, const char *fallback)
{
    const struct cnode *v = spec_cn_get(map, key);
    return spec_cn_is_scalar(v) && !spec_cn_is_null(v) ? v->text : fallback;
}

static char *index_map(const struct cnode *n, enum index_kind kind)
{
    const char *target = text_of(n, "target", NULL);
    switch (kind) {
    case INDEX_VOLUME:
    case INDEX_DEVICE:
        return target ? m87_xstrdup(target) : NULL;
    case INDEX_CONFIG:
    case INDEX_SECRET:
        if (target)
            return m87_xstrdup(target);
        return m87_xasprintf("%s/%s", kind == INDEX_SECRET ? "/run/secrets" : "",
                             text_of(n, "source", ""));
    case INDEX_PORT:
        if (text_of(n, "target", NULL) == NULL)
            return NULL;
        return m87_xasprintf("%s:%s:%s/%s", text_of(n, "host_ip", "0.0.0.0"),
                             text_of(n, "published", ""), text_of(n, "target", ""),
                             text_of(n, "protocol", "tcp"));
    case INDEX_ENVFILE: {
        const char *path = text_of(n, "path", NULL);
        return path ? m87_xstrdup(path) : NULL;
    }
    default:
        return NULL;
    }
}

static char *index_scalar(const char *s, enum index_kind kind)
{
    switch (kind) {
    case INDEX_KV:
        return m87_xstrndup(s, strcspn(s, "="));
    case INDEX_PATH:
        return m87_xstrndup(s, strcspn(s, ":"));
    case INDEX_VOLUME:
        return spec_compose_volume_target(s);
    case INDEX_DEVICE: {
        const char *c1 = strchr(s, ':');
        return c1 ? m87_xstrndup(c1 + 1, strcspn(c1 + 1, ":")) : m87_xstrdup(s);
    }
    case INDEX_CONFIG:
        return m87_xasprintf("/%s", s);
    case INDEX_SECRET:
        return m87_xasprintf("/run/secrets/%s", s);
    default:
        return m87_xstrdup(s);
    }
}

struct keyed {
    char *key; /* NULL: never a duplicate */
    size_t index;
};

static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* A later item with the same key replaces the first one at its place; the others go. */
static void dedup(struct cnode *seq, enum index_kind kind)
{
    struct keyed *keys = m87_xcalloc(seq->len ? seq->len : 1, sizeof(*keys));
    size_t n = 0;
    for (size_t i = 0; i < seq->len; i++) {
        const struct cnode *item = seq->items[i];
        char *key = NULL;
        if (spec_cn_is_map(item))
            key = index_map(item, kind);
        else if (spec_cn_is_scalar(item) && !spec_cn_is_null(item))
            key = index_scalar(item->text, kind);
        if (key)
            keys[n++] = (struct keyed){key, i};
    }
    qsort(keys, n, sizeof(*keys), cmp_keyed);
    for (size_t g = 0; g < n;) {
        size_t end = g + 1;
        while (end < n && strcmp(keys[end].key, keys[g].key) == 0)
            end++;
        if (end - g > 1) {
            size_t first = keys[g].index, last = keys[end - 1].index;
            spec_cnode_free(seq->items[first]);
            seq->items[first] = seq->items[last];
            seq->items[last] = NULL;
            for (size_t k = g + 1; k < end - 1; k++) {
                spec_cnode_free(seq->items[keys[k].index]);
                seq->items[keys[k].index] = NULL;
            }
        }
        g = end;
    }
    size_t w = 0;
    for (size_t i = 0; i < seq->len; i++)
        if (seq->items[i])
            seq->items[w++] = seq->items[i];
    seq->len = w;
    for (size_t i = 0; i < n; i++)
        free(keys[i].key);
    free(keys);
}

static void normalize(struct cnode *n, const char *pattern)
{
    for (size_t i = 0; i < n->len;) {
        if (n->items[i]->reset) {
            remove_at(n, i);
            continue;
        }
        if (n->kind == M87_YAML_MAPPING) {
            _cleanup_free_ char *kpat = child_pattern(pattern, n->items[i]->key);
            normalize(n->items[i], kpat);
        } else {
            normalize(n->items[i], "[]");
        }
        i++;
    }
    if (n->kind != M87_YAML_SEQUENCE)
        return;
    for (size_t i = 0; i < M87_ARRAY_LEN(unique_rules); i++)
        if (strcmp(unique_rules[i].pattern, pattern) == 0)
            dedup(n, unique_rules[i].kind);
}

void spec_compose_normalize_tree(struct cnode *root)
{
    normalize(root, "");
}
