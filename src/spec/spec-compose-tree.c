/* The compose loader's mutable tree: built from a parsed YAML document with every string
 * interpolated, then merged, then read field by field with the typed reads below. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-interp.h"
#include "m87/units.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

/* ---- building ---------------------------------------------------------------------------------
 */

static struct cnode *node_alloc(enum m87_yaml_kind kind, const char *file, size_t line,
                                size_t column)
{
    struct cnode *c = m87_xcalloc(1, sizeof(*c));
    c->kind = kind;
    c->file = file;
    c->line = line;
    c->column = column;
    c->type = M87_YAML_STR;
    return c;
}

struct cnode *spec_cnode_new(enum m87_yaml_kind kind, const struct cnode *at)
{
    return node_alloc(kind, at->file, at->line, at->column);
}

struct cnode *spec_cnode_new_str(const char *text, const struct cnode *at)
{
    struct cnode *c = spec_cnode_new(M87_YAML_SCALAR, at);
    c->text = m87_xstrdup(text);
    return c;
}

void spec_cnode_free(struct cnode *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->len; i++)
        spec_cnode_free(n->items[i]);
    free(n->items);
    free(n->key);
    free(n->text);
    free(n);
}

struct cnode *spec_cnode_clone(const struct cnode *n)
{
    struct cnode *c = m87_xcalloc(1, sizeof(*c));
    *c = *n;
    c->key = n->key ? m87_xstrdup(n->key) : NULL;
    c->text = n->text ? m87_xstrdup(n->text) : NULL;
    c->items = NULL;
    c->len = c->cap = 0;
    for (size_t i = 0; i < n->len; i++)
        spec_cnode_append(c, spec_cnode_clone(n->items[i]));
    return c;
}

bool spec_cnode_equal(const struct cnode *a, const struct cnode *b)
{
    if (a->kind != b->kind || a->len != b->len || spec_cn_is_null(a) != spec_cn_is_null(b))
        return false;
    if (a->kind == M87_YAML_SCALAR)
        return spec_cn_is_null(a) || strcmp(a->text, b->text) == 0;
    for (size_t i = 0; i < a->len; i++) {
        const struct cnode *x = a->items[i], *y = b->items[i];
        if ((x->key == NULL) != (y->key == NULL) || (x->key && strcmp(x->key, y->key) != 0) ||
            !spec_cnode_equal(x, y))
            return false;
    }
    return true;
}

void spec_cnode_remove(struct cnode *map, const char *key)
{
    for (size_t i = 0; spec_cn_is_map(map) && i < map->len; i++) {
        if (strcmp(map->items[i]->key, key) != 0)
            continue;
        spec_cnode_free(map->items[i]);
        memmove(&map->items[i], &map->items[i + 1], (map->len - i - 1) * sizeof(*map->items));
        map->len--;
        return;
    }
}

void spec_cnode_append(struct cnode *coll, struct cnode *child)
{
    if (coll->len == coll->cap) {
        coll->cap = coll->cap ? coll->cap * 2 : 8;
        coll->items = m87_xrealloc(coll->items, coll->cap * sizeof(*coll->items));
    }
    coll->items[coll->len++] = child;
}

void spec_cnode_set_key(struct cnode *n, const char *key, const struct cnode *pos)
{
    free(n->key);
    n->key = m87_xstrdup(key);
    n->key_line = pos->key ? pos->key_line : pos->line;
    n->key_column = pos->key ? pos->key_column : pos->column;
}

/* Interpolation errors come placed ("FILE:LINE:COLUMN: message"); put the field's path in. */
static void name_field(const struct cnode *c, const char *path, struct m87_error **err)
{
    if (err == NULL || *err == NULL || path == NULL || *path == '\0')
        return;
    _cleanup_free_ char *prefix = m87_xasprintf("%s:%zu:%zu: ", c->file, c->line, c->column);
    struct m87_error *e = *err;
    size_t n = strlen(prefix);
    if (strncmp(e->msg, prefix, n) != 0)
        return;
    char *msg = m87_xasprintf("%s%s: %s", prefix, path, e->msg + n);
    free(e->msg);
    e->msg = msg;
}

static int scalar_from_yaml(struct cnode *c, const struct m87_yaml_node *n,
                            const struct spec_interp *ip, const char *path, struct m87_error **err)
{
    const char *text = m87_yaml_text(n);
    c->type = m87_yaml_type(n);
    if (c->type != M87_YAML_STR || strchr(text, '$') == NULL) {
        c->text = m87_xstrdup(text);
        c->src = n;
        return 0;
    }
    c->text = spec_interpolate(ip, text, c->file, c->line, c->column, err);
    if (c->text == NULL)
        name_field(c, path, err);
    return c->text ? 0 : -1;
}

static struct cnode *from_yaml(const struct m87_yaml_node *n, const struct spec_interp *ip,
                               const char *path, struct m87_error **err)
{
    _cleanup_(spec_cnode_freep) struct cnode *c =
        node_alloc(m87_yaml_kind(n), m87_yaml_file(n), m87_yaml_line(n), m87_yaml_column(n));
    const char *tag = m87_yaml_tag(n);
    c->reset = tag && strcmp(tag, "!reset") == 0;
    c->override = tag && strcmp(tag, "!override") == 0;
    if (c->kind == M87_YAML_SCALAR)
        return scalar_from_yaml(c, n, ip, path, err) < 0 ? NULL : M87_STEAL(c);
    for (size_t i = 0; i < m87_yaml_len(n); i++) {
        const struct m87_yaml_node *key = NULL;
        const struct m87_yaml_node *item =
            c->kind == M87_YAML_SEQUENCE ? m87_yaml_at(n, i) : m87_yaml_entry(n, i, &key);
        _cleanup_free_ char *ipath =
            key ? spec_cn_path(path, m87_yaml_text(key)) : spec_cn_path_i(path, i);
        struct cnode *child = from_yaml(item, ip, ipath, err);
        if (child == NULL)
            return NULL;
        if (key) {
            child->key = m87_xstrdup(m87_yaml_text(key));
            child->key_line = m87_yaml_line(key);
            child->key_column = m87_yaml_column(key);
        }
        spec_cnode_append(c, child);
    }
    return M87_STEAL(c);
}

struct cnode *spec_cnode_from_yaml(const struct m87_yaml_node *n, const struct spec_interp *ip,
                                   struct m87_error **err)
{
    return from_yaml(n, ip, "", err);
}

/* ---- looking ----------------------------------------------------------------------------------
 */

bool spec_cn_is_null(const struct cnode *n)
{
    return n && n->kind == M87_YAML_SCALAR && n->type == M87_YAML_NULL;
}

bool spec_cn_is_map(const struct cnode *n)
{
    return n && n->kind == M87_YAML_MAPPING;
}

bool spec_cn_is_seq(const struct cnode *n)
{
    return n && n->kind == M87_YAML_SEQUENCE;
}

bool spec_cn_is_scalar(const struct cnode *n)
{
    return n && n->kind == M87_YAML_SCALAR;
}

struct cnode *spec_cn_get(const struct cnode *map, const char *key)
{
    if (!spec_cn_is_map(map))
        return NULL;
    for (size_t i = 0; i < map->len; i++)
        if (strcmp(map->items[i]->key, key) == 0)
            return map->items[i];
    return NULL;
}

struct cnode *spec_cn_val(const struct cnode *map, const char *key)
{
    struct cnode *v = spec_cn_get(map, key);
    return spec_cn_is_null(v) ? NULL : v;
}

char *spec_cn_path(const char *parent, const char *key)
{
    if (parent == NULL || *parent == '\0')
        return m87_xstrdup(key);
    return m87_xasprintf("%s.%s", parent, key);
}

char *spec_cn_path_i(const char *parent, size_t i)
{
    return m87_xasprintf("%s[%zu]", parent, i);
}

/* ---- errors -----------------------------------------------------------------------------------
 */

static int error_va(const char *file, size_t line, size_t column, struct m87_error **err,
                    const char *fmt, va_list ap) M87_PRINTF(5, 0);

static int error_va(const char *file, size_t line, size_t column, struct m87_error **err,
                    const char *fmt, va_list ap)
{
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    return m87_error_set(err, M87_E_INVAL, 0, "%s:%zu:%zu: %s", file, line, column, msg);
}

int spec_cn_error(const struct cnode *n, struct m87_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_va(n->file, n->line, n->column, err, fmt, ap);
    va_end(ap);
    return -1;
}

int spec_cn_key_error(const struct cnode *n, struct m87_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (n->key)
        error_va(n->file, n->key_line, n->key_column, err, fmt, ap);
    else
        error_va(n->file, n->line, n->column, err, fmt, ap);
    va_end(ap);
    return -1;
}

int spec_cn_wrap(const struct cnode *n, const char *path, struct m87_error **err)
{
    if (err == NULL || *err == NULL)
        return -1;
    if (path && *path)
        return m87_error_wrap(err, "%s:%zu:%zu: %s", n->file, n->line, n->column, path);
    return m87_error_wrap(err, "%s:%zu:%zu", n->file, n->line, n->column);
}

/* What a node is, for "expected X, got Y". */
static char *got(const struct cnode *n)
{
    if (n->kind == M87_YAML_MAPPING)
        return m87_xstrdup("a mapping");
    if (n->kind == M87_YAML_SEQUENCE)
        return m87_xstrdup("a sequence");
    if (n->type == M87_YAML_NULL)
        return m87_xstrdup("null");
    return m87_quote_excerpt(n->text, 60);
}

static int type_error(const struct cnode *n, const char *path, const char *expected,
                      struct m87_error **err)
{
    _cleanup_free_ char *g = got(n);
    if (path && *path)
        return spec_cn_error(n, err, "%s: expected %s, got %s", path, expected, g);
    return spec_cn_error(n, err, "expected %s, got %s", expected, g);
}

/* ---- typed reads ------------------------------------------------------------------------------
 */

int spec_cn_expect(const struct cnode *n, const char *path, enum m87_yaml_kind kind,
                   struct m87_error **err)
{
    static const char *const names[] = {"a string", "a sequence", "a mapping"};
    if (n->kind == kind && !spec_cn_is_null(n))
        return 0;
    return type_error(n, path, names[kind], err);
}

int spec_cn_str(const struct cnode *n, const char *path, const char **out, struct m87_error **err)
{
    if (n->kind != M87_YAML_SCALAR || n->type == M87_YAML_NULL)
        return type_error(n, path, "a string", err);
    *out = n->text;
    return 0;
}

static int cn_int(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err)
{
    if (n->src)
        return m87_yaml_read_int(n->src, path, out, err);
    if (n->kind != M87_YAML_SCALAR || n->type == M87_YAML_NULL)
        return type_error(n, path, "an integer", err);
    const char *s = n->text;
    const char *digits = s + (*s == '+' || *s == '-');
    if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits))
        return type_error(n, path, "an integer", err);
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return spec_cn_error(n, err, "%s: integer '%s' is out of range", path, s);
    *out = v;
    return 0;
}

int spec_cn_bool(const struct cnode *n, const char *path, bool *out, struct m87_error **err)
{
    if (n->kind == M87_YAML_SCALAR && n->type != M87_YAML_NULL && m87_yaml_bool_word(n->text, out))
        return 0;
    return type_error(n, path, "a boolean", err);
}

int spec_cn_int_range(const struct cnode *n, const char *path, int64_t min, int64_t max,
                      int64_t *out, struct m87_error **err)
{
    int64_t v;
    if (cn_int(n, path, &v, err) < 0)
        return -1;
    if (v < min || v > max)
        return spec_cn_error(n, err, "%s: %lld is out of range (%lld to %lld)", path, (long long)v,
                             (long long)min, (long long)max);
    *out = v;
    return 0;
}

int spec_cn_mode(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err)
{
    if (n->kind == M87_YAML_SCALAR && n->type == M87_YAML_INT && n->src)
        return spec_cn_int_range(n, path, 0, 07777, out, err);
    const char *s = NULL;
    if (spec_cn_str(n, path, &s, err) < 0)
        return -1;
    if (*s == '\0' || strspn(s, "01234567") != strlen(s) || strlen(s) > 5)
        return spec_cn_error(n, err, "%s: invalid file mode '%s'", path, s);
    int64_t v = strtoll(s, NULL, 8);
    if (v > 07777)
        return spec_cn_error(n, err, "%s: invalid file mode '%s'", path, s);
    *out = v;
    return 0;
}

/* A string read by one of the units parsers, whose error is prefixed with the node's place. */
static int cn_units(const struct cnode *n, const char *path,
                    int (*parse)(const char *text, int64_t *out, struct m87_error **err),
                    int64_t *out, struct m87_error **err)
{
    const char *s = NULL;
    if (spec_cn_str(n, path, &s, err) < 0)
        return -1;
    if (parse(s, out, err) < 0)
        return spec_cn_wrap(n, path, err);
    return 0;
}

int spec_cn_bytes(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err)
{
    if (n->kind != M87_YAML_SCALAR || n->type != M87_YAML_INT || n->src == NULL)
        return cn_units(n, path, m87_parse_bytes, out, err);
    int64_t v;
    if (cn_int(n, path, &v, err) < 0)
        return -1;
    if (v < 0)
        return spec_cn_error(n, err, "%s: invalid size '%s'", path, n->text);
    *out = v;
    return 0;
}

int spec_cn_duration(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err)
{
    if (cn_units(n, path, m87_parse_duration, out, err) < 0)
        return -1;
    if (*out < 0)
        return spec_cn_error(n, err, "%s: negative duration '%s'", path, n->text);
    return 0;
}

int spec_cn_cpus(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err)
{
    return cn_units(n, path, m87_parse_cpus, out, err);
}

int spec_cn_strings(const struct cnode *n, const char *path, struct m87_strv *out,
                    struct m87_error **err)
{
    if (spec_cn_is_null(n))
        return 0;
    if (n->kind == M87_YAML_SCALAR) {
        m87_strv_add(out, n->text);
        return 0;
    }
    if (n->kind != M87_YAML_SEQUENCE)
        return type_error(n, path, "a string or a sequence", err);
    for (size_t i = 0; i < n->len; i++) {
        const char *s = NULL;
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        if (spec_cn_str(n->items[i], ip, &s, err) < 0)
            return -1;
        m87_strv_add(out, s);
    }
    return 0;
}

int spec_cn_entries(const struct cnode *n, const char *path, void *ctx, cn_long_fn long_form,
                    cn_short_fn short_form, struct m87_error **err)
{
    if (spec_cn_expect(n, path, M87_YAML_SEQUENCE, err) < 0)
        return -1;
    for (size_t i = 0; i < n->len; i++) {
        const struct cnode *e = n->items[i];
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        const char *text = NULL;
        if (spec_cn_is_map(e)) {
            if (long_form(ctx, e, ip, err) < 0)
                return -1;
        } else if (spec_cn_str(e, ip, &text, err) < 0 || short_form(ctx, e, ip, text, err) < 0) {
            return -1;
        }
    }
    return 0;
}

static int kv_null(const struct cnode *n, const char *path, const char *key, enum cn_kv_null nulls,
                   struct m87_kvlist *out, struct m87_error **err)
{
    if (nulls == CN_KV_ERROR)
        return spec_cn_error(n, err, "%s: '%s' has no value", path, key);
    m87_kvlist_set(out, key, nulls == CN_KV_EMPTY ? "" : NULL);
    return 0;
}

static int kv_from_seq(const struct cnode *n, const char *path, enum cn_kv_null nulls,
                       struct m87_kvlist *out, struct m87_error **err)
{
    for (size_t i = 0; i < n->len; i++) {
        const char *s = NULL;
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        if (spec_cn_str(n->items[i], ip, &s, err) < 0)
            return -1;
        const char *eq = strchr(s, '=');
        if (eq == s || *s == '\0')
            return spec_cn_error(n->items[i], err, "%s: invalid entry '%s'", ip, s);
        if (eq == NULL) {
            if (kv_null(n->items[i], ip, s, nulls, out, err) < 0)
                return -1;
            continue;
        }
        _cleanup_free_ char *key = m87_xstrndup(s, (size_t)(eq - s));
        m87_kvlist_set(out, key, eq + 1);
    }
    return 0;
}

int spec_cn_kv(const struct cnode *n, const char *path, enum cn_kv_null nulls,
               struct m87_kvlist *out, struct m87_error **err)
{
    if (spec_cn_is_null(n))
        return 0;
    if (n->kind == M87_YAML_SEQUENCE)
        return kv_from_seq(n, path, nulls, out, err);
    if (n->kind != M87_YAML_MAPPING)
        return type_error(n, path, "a mapping or a sequence", err);
    for (size_t i = 0; i < n->len; i++) {
        const struct cnode *v = n->items[i];
        _cleanup_free_ char *kp = spec_cn_path(path, v->key);
        if (spec_cn_is_null(v)) {
            if (kv_null(v, kp, v->key, nulls, out, err) < 0)
                return -1;
            continue;
        }
        const char *s = NULL;
        if (spec_cn_str(v, kp, &s, err) < 0)
            return -1;
        m87_kvlist_set(out, v->key, s);
    }
    return 0;
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

int spec_cn_keys(const struct cnode *n, const char *path, const char *const *known,
                 const char *const *unsupported, struct m87_error **err)
{
    if (spec_cn_expect(n, path, M87_YAML_MAPPING, err) < 0)
        return -1;
    for (size_t i = 0; i < n->len; i++) {
        const struct cnode *e = n->items[i];
        if (strncmp(e->key, "x-", 2) == 0 || in_list(e->key, known))
            continue;
        if (in_list(e->key, unsupported)) {
            _cleanup_free_ char *kp = spec_cn_path(path, e->key);
            return spec_cn_key_error(e, err, "%s: unsupported field '%s'", kp, e->key);
        }
        if (path && *path)
            return spec_cn_key_error(e, err, "%s: unknown field '%s'", path, e->key);
        return spec_cn_key_error(e, err, "unknown field '%s'", e->key);
    }
    return 0;
}
