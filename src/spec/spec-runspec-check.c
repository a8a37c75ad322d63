/* The run spec parser's checks: errors at a node with its PATH, the shape of mappings, and the
 * readers of checked values (safe names, enums, durations, ranges, paths, variable names). */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/spec-pos.h"
#include "m87/spec-runspec.h"
#include "m87/units.h"
#include "m87/yaml.h"
#include "spec/spec-runspec-internal.h"

#define SAFE_NAME_MAX 63
#define STR_(x) #x
#define STR(x) STR_(x) /* a number macro as a string literal, for messages */
#define COMPONENT_MAX 255
#define QUOTE_MAX 60

/* "FILE:LINE:COLUMN: PATH: message" at n; no "PATH: " at the root, where path is "". */
int rs_error(const struct m87_yaml_node *n, struct m87_error **err, enum m87_errcode code,
             const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    if (*path == '\0')
        return m87_yaml_error(n, err, code, "%s", msg);
    return m87_yaml_error(n, err, code, "%s: %s", path, msg);
}

/* User text for a message: control characters escaped, cut after QUOTE_MAX bytes of input on a
 * character start, with "..." then. */
char *rs_shorten(const char *s)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    size_t len = strlen(s), cut = len;
    if (len > QUOTE_MAX) {
        cut = QUOTE_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\t' || c == '\n')
            m87_buf_appendf(&b, NULL, "\\%c", c == '\t' ? 't' : 'n');
        else if (c < 0x20 || c == 0x7f)
            m87_buf_appendf(&b, NULL, "\\x%02x", c);
        else
            m87_buf_append(&b, &s[i], 1, NULL);
    }
    if (cut < len)
        m87_buf_append(&b, "...", 3, NULL);
    return m87_buf_steal(&b);
}

/* What a node is, for "expected X, got Y". */
char *rs_got(const struct m87_yaml_node *n)
{
    if (m87_yaml_kind(n) == M87_YAML_MAPPING)
        return m87_xstrdup("a mapping");
    if (m87_yaml_kind(n) == M87_YAML_SEQUENCE)
        return m87_xstrdup("a sequence");
    if (m87_yaml_is_null(n) && m87_yaml_is_plain(n))
        return m87_xstrdup("null");
    _cleanup_free_ char *s = rs_shorten(m87_yaml_text(n));
    return m87_xasprintf("'%s'", s);
}

int rs_want_kind(const struct m87_yaml_node *n, enum m87_yaml_kind kind, const char *path,
                 struct m87_error **err)
{
    if (m87_yaml_kind(n) == kind)
        return 0;
    _cleanup_free_ char *g = rs_got(n);
    return rs_error(n, err, M87_E_INVAL, path, "expected %s, got %s",
                    kind == M87_YAML_MAPPING ? "a mapping" : "a sequence", g);
}

char *rs_child_path(const char *path, const char *field)
{
    if (*path == '\0')
        return m87_xstrdup(field);
    return m87_xasprintf("%s.%s", path, field);
}

/* A mapping whose keys are all in allowed (NULL-terminated). */
int rs_check_fields(const struct m87_yaml_node *map, const char *path, const char *const *allowed,
                    struct m87_error **err)
{
    if (rs_want_kind(map, M87_YAML_MAPPING, path, err) < 0)
        return -1;
    for (size_t i = 0; i < m87_yaml_len(map); i++) {
        const struct m87_yaml_node *key = NULL;
        m87_yaml_entry(map, i, &key);
        const char *k = m87_yaml_text(key);
        size_t j = 0;
        while (allowed[j] && strcmp(allowed[j], k) != 0)
            j++;
        if (allowed[j] == NULL) {
            _cleanup_free_ char *s = rs_shorten(k);
            return rs_error(key, err, M87_E_INVAL, path, "unknown field '%s'", s);
        }
    }
    return 0;
}

/* The key node of field in map (for positions), or NULL. */
const struct m87_yaml_node *rs_key_of(const struct m87_yaml_node *map, const char *field)
{
    for (size_t i = 0; i < m87_yaml_len(map); i++) {
        const struct m87_yaml_node *key = NULL;
        m87_yaml_entry(map, i, &key);
        if (strcmp(m87_yaml_text(key), field) == 0)
            return key;
    }
    return NULL;
}

const struct m87_yaml_node *rs_required(const struct m87_yaml_node *map, const char *path,
                                        const char *field, struct m87_error **err)
{
    const struct m87_yaml_node *v = m87_yaml_get(map, field);
    if (v == NULL)
        rs_error(map, err, M87_E_INVAL, path, "missing required field '%s'", field);
    return v;
}

void rs_set_pos(struct spec_pos *pos, const struct m87_yaml_node *n)
{
    pos->file = m87_xstrdup(m87_yaml_file(n));
    pos->line = m87_yaml_line(n);
    pos->column = m87_yaml_column(n);
}

/* ---- values ---------------------------------------------------------------------------------- */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool safe_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > SAFE_NAME_MAX || !is_alnum(s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

bool spec_runspec_safe_name(const char *s)
{
    return safe_name(s);
}

int rs_read_checked(const struct m87_yaml_node *n, const char *path, const char *what,
                    const char *(*problem)(const char *s), char **out, struct m87_error **err)
{
    const char *s = NULL;
    if (m87_yaml_read_str(n, path, &s, err) < 0)
        return -1;
    const char *why = problem(s);
    if (why) {
        _cleanup_free_ char *q = rs_shorten(s);
        return rs_error(n, err, M87_E_INVAL, path, "invalid %s '%s': %s", what, q, why);
    }
    *out = m87_xstrdup(s);
    return 0;
}

/* What a safe name is, for messages. */
static const char safe_name_rule[] =
    "use 1 to " STR(SAFE_NAME_MAX) " letters, digits, '_', '.' or '-', starting with a letter or "
                                   "digit";

static const char *safe_name_problem(const char *s)
{
    return safe_name(s) ? NULL : safe_name_rule;
}

int rs_read_safe_name(const struct m87_yaml_node *n, const char *path, const char *what, char **out,
                      struct m87_error **err)
{
    return rs_read_checked(n, path, what, safe_name_problem, out, err);
}

/* One of names (NULL-terminated); the index in *out. */
int rs_read_enum(const struct m87_yaml_node *n, const char *path, const char *const *names,
                 const char *expect, int *out, struct m87_error **err)
{
    const char *s = NULL;
    if (m87_yaml_read_str(n, path, &s, err) < 0)
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return *out = i, 0;
    _cleanup_free_ char *q = rs_shorten(s);
    return rs_error(n, err, M87_E_INVAL, path, "must be %s, got '%s'", expect, q);
}

/* A duration in (0, MAX], or [0, MAX] when zero_ok. */
int rs_read_duration(const struct m87_yaml_node *n, const char *path, bool zero_ok, int64_t *out,
                     struct m87_error **err)
{
    const char *s = NULL;
    if (m87_yaml_read_str(n, path, &s, err) < 0)
        return -1;
    _cleanup_free_ char *q = rs_shorten(s);
    int64_t ns = 0;
    if (m87_parse_duration(s, &ns, err) < 0)
        return m87_yaml_wrap(n, path, err);
    if (ns < 0 || (ns == 0 && !zero_ok))
        return rs_error(n, err, M87_E_INVAL, path, "must %s, got '%s'",
                        zero_ok ? "not be negative" : "be greater than 0", q);
    if (ns > SPEC_RUNSPEC_MAX_DURATION)
        return rs_error(n, err, M87_E_INVAL, path, "'%s' exceeds the limit of 8760h", q);
    *out = ns;
    return 0;
}

int rs_read_int_range(const struct m87_yaml_node *n, const char *path, int64_t min, int64_t max,
                      int64_t *out, struct m87_error **err)
{
    if (m87_yaml_read_int(n, path, out, err) < 0)
        return -1;
    if (*out < min || *out > max)
        return rs_error(n, err, M87_E_INVAL, path, "must be between %lld and %lld, got %lld",
                        (long long)min, (long long)max, (long long)*out);
    return 0;
}

/* Why s is not an acceptable file name (relative) or workdir path (absolute), or NULL. */
const char *rs_path_problem(const char *s, bool absolute)
{
    size_t len = strlen(s);
    if (len == 0)
        return "must not be empty";
    if (len > SPEC_RUNSPEC_MAX_PATH)
        return "must not be longer than 512 bytes";
    if (absolute && s[0] != '/')
        return "must be absolute";
    if (!absolute && s[0] == '/')
        return "must be relative";
    if (absolute && len == 1)
        return "must not be the root directory";
    if (s[len - 1] == '/')
        return "must not end with '/'";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "must not contain control characters";
    for (const char *p = s + absolute;;) {
        size_t n = strcspn(p, "/");
        if (n == 0)
            return "must not contain empty components";
        if (n == 1 && p[0] == '.')
            return "must not contain '.' components";
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "must not contain '..' components";
        if (n > COMPONENT_MAX)
            return "must not have a component longer than 255 bytes";
        if (p[n] == '\0')
            return NULL;
        p += n + 1;
    }
}

bool rs_env_name(const char *s)
{
    if (!(*s == '_' || (is_alnum(*s) && !(*s >= '0' && *s <= '9'))))
        return false;
    for (s++; *s; s++)
        if (!is_alnum(*s) && *s != '_')
            return false;
    return true;
}
