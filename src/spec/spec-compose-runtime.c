/* Service fields about how the container runs: restart and deploy, healthcheck, logging,
 * ulimits, sysctls, labels, extra_hosts. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

/* ---- restart and deploy ------------------------------------------------------------------------
 */

static int parse_restart(struct svc *c)
{
    struct spec_service *s = c->s;
    const struct cnode *v = spec_svc_get(c, "restart");
    const char *t = NULL;
    if (v == NULL)
        return 0;
    if (spec_cn_str(v, c->fpath, &t, c->err) < 0)
        return -1;
    if (strcmp(t, "no") == 0 || strcmp(t, "always") == 0 || strcmp(t, "unless-stopped") == 0 ||
        strcmp(t, "on-failure") == 0) {
        s->restart = m87_xstrdup(t);
        return 0;
    }
    const char *n = t + strlen("on-failure:");
    if (strncmp(t, "on-failure:", strlen("on-failure:")) == 0 && *n &&
        strspn(n, "0123456789") == strlen(n) && strlen(n) <= 9) {
        s->restart = m87_xstrdup("on-failure");
        s->restart_max = strtoll(n, NULL, 10);
        return 0;
    }
    return spec_cn_error(v, c->err,
                         "%s: invalid restart policy '%s' (expected no, always, on-failure[:N] or "
                         "unless-stopped)",
                         c->fpath, t);
}

static int parse_restart_policy(struct svc *c, const struct cnode *rp, const char *path)
{
    static const char *const known[] = {"condition", "max_attempts", "delay", "window", NULL};
    if (spec_cn_keys(rp, path, known, NULL, c->err) < 0)
        return -1;
    struct spec_service *s = c->s;
    const char *cond = "no";
    const struct cnode *v = spec_cn_val(rp, "condition");
    _cleanup_free_ char *cp = spec_cn_path(path, "condition");
    if (v && spec_cn_str(v, cp, &cond, c->err) < 0)
        return -1;
    static const char *const map[][2] = {
        {"none", "no"},    {"no", "no"},         {"on-failure", "on-failure"},
        {"any", "always"}, {"always", "always"}, {"unless-stopped", "unless-stopped"}};
    const char *policy = NULL;
    for (size_t i = 0; i < M87_ARRAY_LEN(map); i++)
        if (strcmp(cond, map[i][0]) == 0)
            policy = map[i][1];
    if (policy == NULL)
        return spec_cn_error(
            v, c->err, "%s: invalid condition '%s' (expected none, on-failure or any)", cp, cond);
    free(s->restart);
    s->restart = m87_xstrdup(policy);
    s->restart_max = 0;
    _cleanup_free_ char *mp = spec_cn_path(path, "max_attempts");
    if ((v = spec_cn_val(rp, "max_attempts"))) {
        if (strcmp(policy, "on-failure") != 0)
            return spec_cn_error(v, c->err, "%s: only applies to condition on-failure", mp);
        if (spec_cn_int_range(v, mp, 0, INT32_MAX, &s->restart_max, c->err) < 0)
            return -1;
    }
    const char *const ignored[] = {"delay", "window"};
    for (size_t i = 0; i < M87_ARRAY_LEN(ignored); i++) {
        int64_t ns;
        _cleanup_free_ char *ip = spec_cn_path(path, ignored[i]);
        if ((v = spec_cn_val(rp, ignored[i])) == NULL)
            continue;
        if (spec_cn_duration(v, ip, &ns, c->err) < 0)
            return -1;
        spec_loader_warn(c->l, "%s: ignored, the engine has no equivalent", ip);
    }
    return 0;
}

/* A limit set twice: deploy.resources wins, as in compose. */
static void limit(struct svc *c, const char *what, const char *short_key, int64_t *slot, int64_t v)
{
    if (*slot != SPEC_UNSET && *slot != v)
        spec_loader_warn(c->l, "%s.%s: overridden by %s", c->path, short_key, what);
    *slot = v;
}

static int parse_limits(struct svc *c, const struct cnode *n, const char *path, bool reservation)
{
    static const char *const known_limits[] = {"cpus", "memory", "pids", NULL};
    static const char *const known_res[] = {"cpus", "memory", "devices", NULL};
    static const char *const unsupported_res[] = {"generic_resources", NULL};
    static const char *const unsupported_limits[] = {"devices", "generic_resources", NULL};
    if (spec_cn_keys(n, path, reservation ? known_res : known_limits,
                     reservation ? unsupported_res : unsupported_limits, c->err) < 0)
        return -1;
    struct spec_service *s = c->s;
    int64_t v;
    const struct cnode *f;
    _cleanup_free_ char *mp = spec_cn_path(path, "memory");
    _cleanup_free_ char *cp = spec_cn_path(path, "cpus");
    _cleanup_free_ char *pp = spec_cn_path(path, "pids");
    if ((f = spec_cn_val(n, "memory"))) {
        if (spec_cn_bytes(f, mp, &v, c->err) < 0)
            return -1;
        limit(c, mp, reservation ? "mem_reservation" : "mem_limit",
              reservation ? &s->mem_reservation : &s->mem_limit, v);
    }
    if ((f = spec_cn_val(n, "cpus"))) {
        if (spec_cn_cpus(f, cp, &v, c->err) < 0)
            return -1;
        if (reservation)
            spec_loader_warn(c->l, "%s: ignored, cpu reservations only apply to swarm", cp);
        else
            limit(c, cp, "cpus", &s->nano_cpus, v);
    }
    if ((f = spec_cn_val(n, "pids"))) {
        if (spec_cn_int_range(f, pp, -1, INT64_MAX, &v, c->err) < 0)
            return -1;
        limit(c, pp, "pids_limit", &s->pids_limit, v);
    }
    _cleanup_free_ char *dp = spec_cn_path(path, "devices");
    if (reservation && (f = spec_cn_val(n, "devices"))) {
        if (spec_cn_expect(f, dp, M87_YAML_SEQUENCE, c->err) < 0)
            return -1;
        for (size_t i = 0; i < f->len; i++) {
            _cleanup_free_ char *ip = spec_cn_path_i(dp, i);
            if (spec_cn_expect(f->items[i], ip, M87_YAML_MAPPING, c->err) < 0 ||
                spec_svc_device_request(c, f->items[i], ip, false) < 0)
                return -1;
        }
    }
    return 0;
}

static int parse_deploy_resources(struct svc *c, const struct cnode *n, const char *path)
{
    static const char *const known[] = {"limits", "reservations", NULL};
    if (spec_cn_keys(n, path, known, NULL, c->err) < 0)
        return -1;
    const struct cnode *v;
    _cleanup_free_ char *lp = spec_cn_path(path, "limits");
    _cleanup_free_ char *rp = spec_cn_path(path, "reservations");
    if ((v = spec_cn_val(n, "limits")) && parse_limits(c, v, lp, false) < 0)
        return -1;
    if ((v = spec_cn_val(n, "reservations")) && parse_limits(c, v, rp, true) < 0)
        return -1;
    return 0;
}

static int parse_deploy(struct svc *c)
{
    static const char *const known[] = {"mode", "replicas", "resources", "restart_policy", NULL};
    static const char *const unsupported[] = {"labels",    "update_config", "rollback_config",
                                              "placement", "endpoint_mode", NULL};
    const struct cnode *d = spec_svc_get(c, "deploy");
    if (d == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (spec_cn_keys(d, path, known, unsupported, c->err) < 0)
        return -1;
    const struct cnode *v;
    const char *mode = NULL;
    _cleanup_free_ char *mp = spec_cn_path(path, "mode");
    if ((v = spec_cn_val(d, "mode"))) {
        if (spec_cn_str(v, mp, &mode, c->err) < 0)
            return -1;
        if (strcmp(mode, "replicated") != 0)
            return spec_cn_error(v, c->err, "%s: unsupported deploy mode '%s'", mp, mode);
    }
    _cleanup_free_ char *rp = spec_cn_path(path, "replicas");
    if ((v = spec_cn_val(d, "replicas"))) {
        int64_t n;
        if (spec_cn_int_range(v, rp, 0, SPEC_MAX_REPLICAS, &n, c->err) < 0)
            return -1;
        if (spec_svc_get(c, "scale") && c->s->replicas != n)
            return spec_cn_error(v, c->err, "%s: %lld differs from scale (%lld)", rp, (long long)n,
                                 (long long)c->s->replicas);
        c->s->replicas = n;
    }
    _cleanup_free_ char *sp = spec_cn_path(path, "resources");
    if ((v = spec_cn_val(d, "resources")) && parse_deploy_resources(c, v, sp) < 0)
        return -1;
    _cleanup_free_ char *pp = spec_cn_path(path, "restart_policy");
    if ((v = spec_cn_val(d, "restart_policy")) && parse_restart_policy(c, v, pp) < 0)
        return -1;
    return 0;
}

/* ---- healthcheck -------------------------------------------------------------------------------
 */

static int parse_health_test(struct svc *c, const struct cnode *t, const char *path)
{
    struct spec_healthcheck *h = &c->s->healthcheck;
    if (t->kind == M87_YAML_SCALAR) {
        const char *s = NULL;
        if (spec_cn_str(t, path, &s, c->err) < 0)
            return -1;
        if (*s == '\0')
            return spec_cn_error(t, c->err, "%s: must not be empty", path);
        m87_strv_add(&h->test, "CMD-SHELL");
        m87_strv_add(&h->test, s);
        return 0;
    }
    if (spec_cn_expect(t, path, M87_YAML_SEQUENCE, c->err) < 0 ||
        spec_cn_strings(t, path, &h->test, c->err) < 0)
        return -1;
    const char *first = h->test.len ? h->test.items[0] : "";
    if (strcmp(first, "NONE") == 0 && h->test.len == 1) {
        h->disable = true;
        return 0;
    }
    if ((strcmp(first, "CMD") == 0 && h->test.len >= 2) ||
        (strcmp(first, "CMD-SHELL") == 0 && h->test.len == 2))
        return 0;
    return spec_cn_error(t, c->err,
                         "%s: must be a string, or a list starting with CMD (then the command), "
                         "CMD-SHELL (then one shell command) or NONE",
                         path);
}

static int parse_health_durations(struct svc *c, const struct cnode *n, const char *path)
{
    struct spec_healthcheck *h = &c->s->healthcheck;
    const struct {
        const char *key;
        int64_t *slot;
    } d[] = {{"interval", &h->interval_ns},
             {"timeout", &h->timeout_ns},
             {"start_period", &h->start_period_ns},
             {"start_interval", &h->start_interval_ns}};
    for (size_t i = 0; i < M87_ARRAY_LEN(d); i++) {
        const struct cnode *v = spec_cn_val(n, d[i].key);
        _cleanup_free_ char *dp = spec_cn_path(path, d[i].key);
        if (v == NULL)
            continue;
        if (spec_cn_duration(v, dp, d[i].slot, c->err) < 0)
            return -1;
        /* dockerd refuses anything between 0 (inherit) and 1ms */
        if (*d[i].slot != 0 && *d[i].slot < 1000000)
            return spec_cn_error(v, c->err, "%s: '%s' is below the minimum of 1ms", dp, v->text);
    }
    const struct cnode *v = spec_cn_val(n, "retries");
    _cleanup_free_ char *rp = spec_cn_path(path, "retries");
    if (v && spec_cn_int_range(v, rp, 0, INT32_MAX, &h->retries, c->err) < 0)
        return -1;
    return 0;
}

static int parse_healthcheck(struct svc *c)
{
    static const char *const known[] = {"test",         "interval",       "timeout", "retries",
                                        "start_period", "start_interval", "disable", NULL};
    const struct cnode *n = spec_svc_get(c, "healthcheck");
    if (n == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (spec_cn_keys(n, path, known, NULL, c->err) < 0)
        return -1;
    struct spec_healthcheck *h = &c->s->healthcheck;
    c->s->has_healthcheck = true;
    const struct cnode *v;
    _cleanup_free_ char *tp = spec_cn_path(path, "test");
    _cleanup_free_ char *dp = spec_cn_path(path, "disable");
    if ((v = spec_cn_val(n, "test")) && parse_health_test(c, v, tp) < 0)
        return -1;
    bool disable = false;
    if ((v = spec_cn_val(n, "disable")) && spec_cn_bool(v, dp, &disable, c->err) < 0)
        return -1;
    if (disable && h->test.len && !h->disable)
        return spec_cn_error(v, c->err, "%s: cannot be combined with a test", dp);
    if (disable) {
        h->disable = true;
        m87_strv_release(&h->test);
        m87_strv_add(&h->test, "NONE");
    }
    return parse_health_durations(c, n, path);
}

/* ---- logging, ulimits, sysctls, labels, extra_hosts --------------------------------------------
 */

static int parse_logging(struct svc *c)
{
    static const char *const known[] = {"driver", "options", NULL};
    const struct cnode *n = spec_svc_get(c, "logging");
    if (n == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (spec_cn_keys(n, path, known, NULL, c->err) < 0)
        return -1;
    const struct cnode *v;
    const char *driver = NULL;
    _cleanup_free_ char *dp = spec_cn_path(path, "driver");
    _cleanup_free_ char *op = spec_cn_path(path, "options");
    if ((v = spec_cn_val(n, "driver"))) {
        if (spec_cn_str(v, dp, &driver, c->err) < 0)
            return -1;
        c->s->log_driver = m87_xstrdup(driver);
    }
    if ((v = spec_cn_val(n, "options")) &&
        (spec_cn_expect(v, op, M87_YAML_MAPPING, c->err) < 0 ||
         spec_cn_kv(v, op, CN_KV_EMPTY, &c->s->log_options, c->err) < 0))
        return -1;
    return 0;
}

static const char *const ulimit_names[] = {
    "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
    "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack",    NULL,
};

static int parse_ulimit(struct svc *c, const struct cnode *e, const char *path,
                        struct spec_ulimit *u)
{
    bool known = false;
    for (size_t i = 0; ulimit_names[i]; i++)
        known = known || strcmp(ulimit_names[i], e->key) == 0;
    if (!known)
        return spec_cn_key_error(e, c->err, "%s: unknown ulimit '%s'", path, e->key);
    u->name = m87_xstrdup(e->key);
    if (e->kind == M87_YAML_SCALAR) {
        if (spec_cn_int_range(e, path, -1, INT64_MAX, &u->soft, c->err) < 0)
            return -1;
        u->hard = u->soft;
        return 0;
    }
    static const char *const fields[] = {"soft", "hard", NULL};
    if (spec_cn_keys(e, path, fields, NULL, c->err) < 0)
        return -1;
    int64_t *slots[] = {&u->soft, &u->hard};
    for (size_t i = 0; i < 2; i++) {
        const struct cnode *v = spec_cn_val(e, fields[i]);
        _cleanup_free_ char *fp = spec_cn_path(path, fields[i]);
        if (v == NULL)
            return spec_cn_error(e, c->err, "%s: missing required field '%s'", path, fields[i]);
        if (spec_cn_int_range(v, fp, -1, INT64_MAX, slots[i], c->err) < 0)
            return -1;
    }
    if (u->soft > u->hard && u->hard != -1)
        return spec_cn_error(e, c->err, "%s: soft limit %lld exceeds hard limit %lld", path,
                             (long long)u->soft, (long long)u->hard);
    return 0;
}

static int parse_ulimits(struct svc *c)
{
    const struct cnode *n = spec_svc_get(c, "ulimits");
    if (n == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (spec_cn_expect(n, path, M87_YAML_MAPPING, c->err) < 0)
        return -1;
    struct spec_service *s = c->s;
    s->ulimits = m87_xcalloc(n->len ? n->len : 1, sizeof(*s->ulimits));
    for (size_t i = 0; i < n->len; i++) {
        _cleanup_free_ char *up = spec_cn_path(path, n->items[i]->key);
        s->n_ulimits++;
        if (parse_ulimit(c, n->items[i], up, &s->ulimits[i]) < 0)
            return -1;
    }
    return 0;
}

static const char *reserved_label(const struct m87_kvlist *l)
{
    for (size_t i = 0; i < l->len; i++)
        if (strncmp(l->items[i].key, "com.docker.compose.", 19) == 0)
            return l->items[i].key;
    return NULL;
}

/* One label_file entry: read like an env_file (dotenv syntax, interpolated, relative to the
 * project directory), its labels set into the service's. */
static int parse_label_file(struct svc *c, const struct cnode *e, const char *path)
{
    const char *file = NULL;
    if (spec_cn_str(e, path, &file, c->err) < 0)
        return -1;
    _cleanup_free_ char *abs = spec_loader_abspath(c->l, e, file, path, c->err);
    if (abs == NULL)
        return -1;
    struct m87_kvlist got;
    m87_kvlist_init(&got);
    int rc = spec_dotenv_load(abs, spec_loader_lookup, c->l, &got, c->err);
    if (rc < 0)
        rc = spec_cn_wrap(e, path, c->err);
    const char *bad = rc == 0 ? reserved_label(&got) : NULL;
    if (bad)
        rc = spec_cn_error(e, c->err, "%s: label '%s' of '%s' is reserved for compose", path, bad,
                           abs);
    for (size_t i = 0; rc == 0 && i < got.len; i++)
        m87_kvlist_set(&c->s->labels, got.items[i].key,
                       got.items[i].value ? got.items[i].value : "");
    m87_kvlist_release(&got);
    if (rc == 0)
        m87_strv_add(&c->s->label_files, abs);
    return rc;
}

static int parse_label_files(struct svc *c)
{
    const struct cnode *v = spec_svc_get(c, "label_file");
    if (v == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (spec_cn_is_scalar(v))
        return parse_label_file(c, v, path);
    if (spec_cn_expect(v, path, M87_YAML_SEQUENCE, c->err) < 0)
        return -1;
    for (size_t i = 0; i < v->len; i++) {
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        if (parse_label_file(c, v->items[i], ip) < 0)
            return -1;
    }
    return 0;
}

static int parse_labels(struct svc *c)
{
    const struct cnode *an = spec_svc_get(c, "annotations");
    if (an && spec_cn_kv(an, c->fpath, CN_KV_EMPTY, &c->s->annotations, c->err) < 0)
        return -1;
    if (parse_label_files(c) < 0)
        return -1;
    const struct cnode *n = spec_svc_get(c, "labels");
    if (n == NULL)
        return 0;
    struct m87_kvlist own;
    m87_kvlist_init(&own);
    int rc = spec_cn_kv(n, c->fpath, CN_KV_EMPTY, &own, c->err);
    const char *bad = rc == 0 ? reserved_label(&own) : NULL;
    if (bad)
        rc = spec_cn_error(n, c->err, "%s: label '%s' is reserved for compose", c->fpath, bad);
    for (size_t i = 0; rc == 0 && i < own.len; i++)
        m87_kvlist_set(&c->s->labels, own.items[i].key, own.items[i].value);
    m87_kvlist_release(&own);
    return rc;
}

static int add_host(struct svc *c, const struct cnode *at, const char *path, const char *host,
                    const char *ip)
{
    size_t len = strlen(ip);
    if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']')
        ip++, len -= 2;
    if (*host == '\0' || len == 0 || strpbrk(host, " \t") != NULL)
        return spec_cn_error(at, c->err, "%s: invalid host entry '%s'", path, host);
    _cleanup_free_ char *entry = m87_xasprintf("%s:%.*s", host, (int)len, ip);
    m87_strv_add(&c->s->extra_hosts, entry);
    return 0;
}

static int parse_extra_hosts(struct svc *c)
{
    const struct cnode *n = spec_svc_get(c, "extra_hosts");
    if (n == NULL)
        return 0;
    const char *s = NULL;
    for (size_t i = 0; n->kind == M87_YAML_MAPPING && i < n->len; i++) {
        const struct cnode *v = n->items[i];
        _cleanup_free_ char *kp = spec_cn_path(c->fpath, v->key);
        struct m87_strv ips;
        m87_strv_init(&ips);
        int rc = spec_cn_strings(v, kp, &ips, c->err);
        if (rc == 0 && ips.len == 0)
            rc = spec_cn_error(v, c->err, "%s: missing address", kp);
        for (size_t j = 0; rc == 0 && j < ips.len; j++)
            rc = add_host(c, v, kp, v->key, ips.items[j]);
        m87_strv_release(&ips);
        if (rc < 0)
            return -1;
    }
    if (n->kind == M87_YAML_MAPPING)
        return 0;
    if (spec_cn_expect(n, c->fpath, M87_YAML_SEQUENCE, c->err) < 0)
        return -1;
    for (size_t i = 0; i < n->len; i++) {
        _cleanup_free_ char *ip = spec_cn_path_i(c->fpath, i);
        if (spec_cn_str(n->items[i], ip, &s, c->err) < 0)
            return -1;
        size_t cut = strcspn(s, "=");
        if (s[cut] == '\0')
            cut = strcspn(s, ":");
        if (s[cut] == '\0')
            return spec_cn_error(n->items[i], c->err, "%s: invalid host entry '%s'", ip, s);
        _cleanup_free_ char *host = m87_xstrndup(s, cut);
        if (add_host(c, n->items[i], ip, host, s + cut + 1) < 0)
            return -1;
    }
    return 0;
}

int spec_svc_runtime(struct svc *c)
{
    const struct cnode *v;
    if (parse_restart(c) < 0 || parse_deploy(c) < 0 || parse_healthcheck(c) < 0 ||
        parse_logging(c) < 0 || parse_ulimits(c) < 0 || parse_labels(c) < 0 ||
        parse_extra_hosts(c) < 0)
        return -1;
    if ((v = spec_svc_get(c, "sysctls")) &&
        spec_cn_kv(v, c->fpath, CN_KV_ERROR, &c->s->sysctls, c->err) < 0)
        return -1;
    return 0;
}
