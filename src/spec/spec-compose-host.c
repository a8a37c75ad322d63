/* Service fields that tune the kernel's view of the container: supplementary groups, device
 * cgroup rules, the OCI runtime, OOM settings, swappiness, CFS and real-time CPU periods,
 * storage options, the MAC address, the cgroup parent, the uts, user and cgroup namespaces,
 * and device requests (gpus, deploy.resources.reservations.devices). */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/list.h"
#include "m87/spec-service.h"
#include "m87/units.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

#define US_PER_S INT64_C(1000000)

/* A string field that must be one of values (NULL-terminated); expected is for the message. */
static int parse_choice(struct svc *c, const char *name, const char *const *values,
                        const char *expected, char **out)
{
    if (spec_svc_str(c, name, out) < 0)
        return -1;
    if (*out == NULL)
        return 0;
    for (size_t i = 0; values[i]; i++)
        if (strcmp(*out, values[i]) == 0)
            return 0;
    const struct cnode *v = spec_svc_get(c, name);
    return spec_cn_error(v, c->err, "%s: invalid value '%s' (expected %s)", c->fpath, *out,
                         expected);
}

/* A CPU time in microseconds, as docker-compose reads it: an integer, or a duration ("10ms"). */
static int parse_micros(struct svc *c, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const struct cnode *v = spec_svc_get(c, name);
    if (v == NULL)
        return 0;
    const char *t = v->kind == M87_YAML_SCALAR ? v->text : "";
    const char *digits = t + (*t == '-');
    if (v->kind != M87_YAML_SCALAR || *digits == '\0' ||
        strspn(digits, "0123456789") == strlen(digits))
        return spec_cn_int_range(v, c->fpath, min, max, out, c->err);
    int64_t ns;
    if (spec_cn_duration(v, c->fpath, &ns, c->err) < 0)
        return -1;
    *out = ns / 1000;
    if (*out < min || *out > max)
        return spec_cn_error(v, c->err, "%s: %lld microseconds is out of range (%lld to %lld)",
                             c->fpath, (long long)*out, (long long)min, (long long)max);
    return 0;
}

/* dockerd's rule: "TYPE MAJOR:MINOR ACCESS", TYPE one of a b c, numbers or '*', ACCESS of rwm. */
static bool valid_cgroup_rule(const char *r)
{
    if (strchr("abc", r[0]) == NULL || r[0] == '\0' || r[1] != ' ')
        return false;
    r += 2;
    for (int part = 0; part < 2; part++) {
        size_t n = *r == '*' ? 1 : strspn(r, "0123456789");
        if (n == 0 || r[n] != (part == 0 ? ':' : ' '))
            return false;
        r += n + 1;
    }
    size_t n = strspn(r, "rwm");
    return n >= 1 && n <= 3 && r[n] == '\0';
}

static bool valid_mac(const char *m)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    if (strlen(m) != 17)
        return false;
    for (size_t i = 0; i < 17; i++)
        if (i % 3 == 2 ? m[i] != ':' : strchr(hex, m[i]) == NULL || m[i] == '\0')
            return false;
    return true;
}

static int parse_lists(struct svc *c)
{
    struct spec_service *s = c->s;
    const struct cnode *v;
    if ((v = spec_svc_get(c, "group_add"))) {
        if (spec_cn_expect(v, c->fpath, M87_YAML_SEQUENCE, c->err) < 0 ||
            spec_cn_strings(v, c->fpath, &s->group_add, c->err) < 0)
            return -1;
    }
    if ((v = spec_svc_get(c, "device_cgroup_rules"))) {
        if (spec_cn_strings(v, c->fpath, &s->device_cgroup_rules, c->err) < 0)
            return -1;
        for (size_t i = 0; i < s->device_cgroup_rules.len; i++) {
            const char *r = s->device_cgroup_rules.items[i];
            if (valid_cgroup_rule(r))
                continue;
            bool seq = v->kind == M87_YAML_SEQUENCE;
            _cleanup_free_ char *ip = seq ? spec_cn_path_i(c->fpath, i) : m87_xstrdup(c->fpath);
            return spec_cn_error(seq ? v->items[i] : v, c->err,
                                 "%s: invalid device cgroup rule '%s' (expected 'TYPE MAJOR:MINOR "
                                 "ACCESS', e.g. 'c 1:3 mr')",
                                 ip, r);
        }
    }
    if ((v = spec_svc_get(c, "storage_opt"))) {
        if (spec_cn_expect(v, c->fpath, M87_YAML_MAPPING, c->err) < 0 ||
            spec_cn_kv(v, c->fpath, CN_KV_ERROR, &s->storage_opt, c->err) < 0)
            return -1;
    }
    return 0;
}

static int parse_numbers(struct svc *c)
{
    struct spec_service *s = c->s;
    const struct cnode *v;
    bool b;
    if ((v = spec_svc_get(c, "oom_score_adj")) &&
        spec_cn_int_range(v, c->fpath, -1000, 1000, &s->oom_score_adj, c->err) < 0)
        return -1;
    if ((v = spec_svc_get(c, "oom_kill_disable"))) {
        if (spec_cn_bool(v, c->fpath, &b, c->err) < 0)
            return -1;
        s->oom_kill_disable = b;
    }
    if ((v = spec_svc_get(c, "mem_swappiness")) &&
        spec_cn_int_range(v, c->fpath, 0, 100, &s->mem_swappiness, c->err) < 0)
        return -1;
    /* the CFS limits as dockerd checks them: a period of 1ms to 1s, a quota of at least 1ms */
    if (parse_micros(c, "cpu_period", 1000, US_PER_S, &s->cpu_period) < 0 ||
        parse_micros(c, "cpu_quota", -1, INT64_MAX / 1000, &s->cpu_quota) < 0 ||
        parse_micros(c, "cpu_rt_period", 0, US_PER_S, &s->cpu_rt_period) < 0 ||
        parse_micros(c, "cpu_rt_runtime", -1, US_PER_S, &s->cpu_rt_runtime) < 0)
        return -1;
    if (s->cpu_quota > -1 && s->cpu_quota < 1000) {
        const struct cnode *q = spec_svc_get(c, "cpu_quota");
        return spec_cn_error(q, c->err,
                             "%s: %lld is below the minimum of 1000 microseconds (or -1)", c->fpath,
                             (long long)s->cpu_quota);
    }
    return 0;
}

static int empty_error(struct svc *c, const char *name)
{
    const struct cnode *v = spec_svc_get(c, name);
    return spec_cn_error(v, c->err, "%s: must not be empty", c->fpath);
}

static int parse_strings(struct svc *c)
{
    struct spec_service *s = c->s;
    static const char *const host[] = {"host", NULL};
    static const char *const cgroup[] = {"host", "private", NULL};
    if (spec_svc_str(c, "runtime", &s->runtime) < 0 ||
        spec_svc_str(c, "cgroup_parent", &s->cgroup_parent) < 0 ||
        spec_svc_str(c, "mac_address", &s->mac_address) < 0)
        return -1;
    if (s->runtime && s->runtime[0] == '\0')
        return empty_error(c, "runtime");
    if (s->cgroup_parent && s->cgroup_parent[0] == '\0')
        return empty_error(c, "cgroup_parent");
    if (s->mac_address && !valid_mac(s->mac_address)) {
        const struct cnode *v = spec_svc_get(c, "mac_address");
        return spec_cn_error(v, c->err, "%s: invalid MAC address '%s'", c->fpath, s->mac_address);
    }
    if (parse_choice(c, "uts", host, "host", &s->uts) < 0 ||
        parse_choice(c, "userns_mode", host, "host", &s->userns_mode) < 0 ||
        parse_choice(c, "cgroup", cgroup, "host or private", &s->cgroup) < 0)
        return -1;
    return 0;
}

/* ---- device requests ---------------------------------------------------------------------------
 */

static int parse_count(struct svc *c, const struct cnode *v, const char *path, int64_t *out)
{
    if (v->kind == M87_YAML_SCALAR && strcmp(v->text, "all") == 0) {
        *out = -1;
        return 0;
    }
    if (v->kind == M87_YAML_SCALAR && v->type != M87_YAML_INT &&
        strspn(v->text, "0123456789") != strlen(v->text))
        return spec_cn_error(v, c->err, "%s: invalid count '%s' (expected a number or all)", path,
                             v->text);
    return spec_cn_int_range(v, path, 1, 1 << 16, out, c->err);
}

int spec_svc_device_request(struct svc *c, const struct cnode *e, const char *path, bool gpu)
{
    static const char *const known[] = {"capabilities", "count",   "device_ids",
                                        "driver",       "options", NULL};
    if (spec_cn_keys(e, path, known, NULL, c->err) < 0)
        return -1;
    struct spec_service *s = c->s;
    s->device_requests =
        m87_xrealloc(s->device_requests, (s->n_device_requests + 1) * sizeof(*s->device_requests));
    struct spec_device_request *d = &s->device_requests[s->n_device_requests++];
    *d = (struct spec_device_request){.count = -1};
    m87_strv_init(&d->device_ids);
    m87_strv_init(&d->capabilities);
    m87_kvlist_init(&d->options);
    const struct cnode *v;
    const char *t = NULL;
    _cleanup_free_ char *cp = spec_cn_path(path, "capabilities");
    _cleanup_free_ char *np = spec_cn_path(path, "count");
    _cleanup_free_ char *ip = spec_cn_path(path, "device_ids");
    _cleanup_free_ char *dp = spec_cn_path(path, "driver");
    _cleanup_free_ char *op = spec_cn_path(path, "options");
    if ((v = spec_cn_val(e, "capabilities")) &&
        spec_cn_strings(v, cp, &d->capabilities, c->err) < 0)
        return -1;
    if (!gpu && d->capabilities.len == 0)
        return spec_cn_key_error(e, c->err, "%s: missing required field 'capabilities'", path);
    if (gpu)
        m87_strv_add(&d->capabilities, "gpu");
    if ((v = spec_cn_val(e, "device_ids")) && spec_cn_strings(v, ip, &d->device_ids, c->err) < 0)
        return -1;
    if ((v = spec_cn_val(e, "count"))) {
        if (d->device_ids.len > 0)
            return spec_cn_error(v, c->err, "%s: cannot be combined with device_ids", np);
        if (parse_count(c, v, np, &d->count) < 0)
            return -1;
    } else if (d->device_ids.len > 0) {
        d->count = 0;
    }
    if ((v = spec_cn_val(e, "driver"))) {
        if (spec_cn_str(v, dp, &t, c->err) < 0)
            return -1;
        d->driver = m87_xstrdup(t);
    }
    if ((v = spec_cn_val(e, "options")) && spec_cn_kv(v, op, CN_KV_EMPTY, &d->options, c->err) < 0)
        return -1;
    return 0;
}

/* gpus: all, or a list of device requests. */
static int parse_gpus(struct svc *c)
{
    const struct cnode *v = spec_svc_get(c, "gpus");
    if (v == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (v->kind == M87_YAML_SCALAR) {
        if (strcmp(v->text, "all") != 0)
            return spec_cn_error(v, c->err, "%s: invalid value '%s' (expected all or a list)", path,
                                 v->text);
        struct spec_service *s = c->s;
        s->device_requests = m87_xrealloc(s->device_requests,
                                          (s->n_device_requests + 1) * sizeof(*s->device_requests));
        struct spec_device_request *d = &s->device_requests[s->n_device_requests++];
        *d = (struct spec_device_request){.count = -1};
        m87_strv_init(&d->device_ids);
        m87_strv_init(&d->capabilities);
        m87_kvlist_init(&d->options);
        m87_strv_add(&d->capabilities, "gpu");
        return 0;
    }
    if (spec_cn_expect(v, path, M87_YAML_SEQUENCE, c->err) < 0)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        if (spec_cn_expect(v->items[i], ip, M87_YAML_MAPPING, c->err) < 0 ||
            spec_svc_device_request(c, v->items[i], ip, true) < 0)
            return -1;
    }
    return 0;
}

/* dockerd refuses NanoCpus with CpuPeriod or CpuQuota ("Conflicting options"): say so at load. */
static int check_cpus(struct svc *c)
{
    const struct spec_service *s = c->s;
    if (s->nano_cpus == SPEC_UNSET)
        return 0;
    const char *const names[] = {"cpu_period", "cpu_quota"};
    for (size_t i = 0; i < M87_ARRAY_LEN(names); i++) {
        const struct cnode *v = spec_svc_get(c, names[i]);
        if (v)
            return spec_cn_error(v, c->err,
                                 "%s: cannot be combined with cpus (dockerd refuses a CPU period "
                                 "or quota with a number of CPUs)",
                                 c->fpath);
    }
    return 0;
}

int spec_svc_host(struct svc *c)
{
    if (parse_lists(c) < 0 || parse_numbers(c) < 0 || parse_strings(c) < 0 || parse_gpus(c) < 0)
        return -1;
    return check_cpus(c);
}
