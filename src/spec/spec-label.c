/* Label keys and values as Kubernetes checks them (apimachinery's IsQualifiedName and
 * IsValidLabelValue), and the KEY=VALUE / KEY- arguments of `m87 devices label`. */
#include <stdbool.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/spec-label.h"

/* How much of a bad key or value a message quotes. */
#define QUOTE_MAX 80

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of 1 to max bytes. */
static bool valid_name(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* A DNS subdomain (RFC 1123): lower case labels of [a-z0-9-] starting and ending in [a-z0-9],
 * joined by '.', 253 bytes at most. */
static bool valid_prefix(const char *s, size_t len)
{
    if (len == 0 || len > SPEC_LABEL_MAX_PREFIX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return false;
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-' || i - start > 63)
            return false;
        start = i + 1;
    }
    return true;
}

int spec_label_check_key(const char *key, struct m87_error **err)
{
    const char *slash = strchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    const char *why = NULL;

    if (key[0] == '\0')
        why = "must not be empty";
    else if (slash && !valid_prefix(key, (size_t)(slash - key)))
        why = "the prefix before '/' must be a lower case DNS name ([a-z0-9.-]) of at most 253 "
              "characters";
    else if (strlen(name) > SPEC_LABEL_MAX_NAME)
        why = "the name must be at most 63 characters";
    else if (!valid_name(name, strlen(name), SPEC_LABEL_MAX_NAME))
        why = "the name must be [A-Za-z0-9_.-], start and end with a letter or digit";
    if (why == NULL)
        return 0;
    _cleanup_free_ char *q = m87_quote_excerpt(key, QUOTE_MAX);
    return m87_error_set(err, M87_E_INVAL, 0, "label key %s: %s", q, why);
}

int spec_label_check_value(const char *key, const char *value, struct m87_error **err)
{
    size_t len = strlen(value);
    const char *why = NULL;

    if (len > SPEC_LABEL_MAX_VALUE)
        why = "must be at most 63 characters";
    else if (len > 0 && !valid_name(value, len, SPEC_LABEL_MAX_VALUE))
        why = "must be empty or [A-Za-z0-9_.-], start and end with a letter or digit";
    if (why == NULL)
        return 0;
    _cleanup_free_ char *qk = m87_quote_excerpt(key, QUOTE_MAX);
    _cleanup_free_ char *qv = m87_quote_excerpt(value, QUOTE_MAX);
    return m87_error_set(err, M87_E_INVAL, 0, "label %s: value %s %s", qk, qv, why);
}

int spec_label_parse_arg(const char *arg, char **key, char **value, struct m87_error **err)
{
    const char *eq = strchr(arg, '=');
    size_t len = strlen(arg);
    _cleanup_free_ char *k = NULL;
    _cleanup_free_ char *v = NULL;

    if (eq) {
        k = m87_xstrndup(arg, (size_t)(eq - arg));
        v = m87_xstrdup(eq + 1);
    } else if (len > 1 && arg[len - 1] == '-') {
        k = m87_xstrndup(arg, len - 1);
    } else {
        _cleanup_free_ char *q = m87_quote_excerpt(arg, QUOTE_MAX);
        return m87_error_set(err, M87_E_INVAL, 0,
                             "%s: expected KEY=VALUE to set a label or KEY- to remove one", q);
    }
    if (spec_label_check_key(k, err) < 0 || (v && spec_label_check_value(k, v, err) < 0))
        return -1;
    *key = k;
    *value = v;
    k = v = NULL;
    return 0;
}
