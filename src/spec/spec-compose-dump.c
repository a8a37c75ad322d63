/* `compose config`: the normalised model written out as YAML or JSON, close to what
 * `docker compose config` prints. Keys come in a fixed order (top level as compose, alphabetical
 * below), maps from the file sorted by key, unset fields left out. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/units.h"
#include "m87/yaml-write.h"
#include "spec/spec-compose-internal.h"

/* One writer interface over the YAML and the JSON writers. */
struct out {
    struct m87_yw *y;
    struct m87_jw *j;
};

static void map_open(struct out *o)
{
    o->j ? m87_jw_obj_open(o->j) : m87_yw_map_open(o->y);
}

static void map_close(struct out *o)
{
    o->j ? m87_jw_obj_close(o->j) : m87_yw_map_close(o->y);
}

static void seq_open(struct out *o)
{
    o->j ? m87_jw_arr_open(o->j) : m87_yw_seq_open(o->y);
}

static void seq_close(struct out *o)
{
    o->j ? m87_jw_arr_close(o->j) : m87_yw_seq_close(o->y);
}

static void key(struct out *o, const char *k)
{
    o->j ? m87_jw_key(o->j, k) : m87_yw_key(o->y, k);
}

static void str(struct out *o, const char *s)
{
    o->j ? m87_jw_str(o->j, s) : m87_yw_str(o->y, s);
}

static void null(struct out *o)
{
    o->j ? m87_jw_null(o->j) : m87_yw_null(o->y);
}

/* Keyed values; the k* forms leave out what is unset. */
static void kstr(struct out *o, const char *k, const char *s)
{
    if (s == NULL)
        return;
    key(o, k);
    str(o, s);
}

static void kint(struct out *o, const char *k, int64_t v)
{
    if (v == SPEC_UNSET)
        return;
    key(o, k);
    o->j ? m87_jw_int(o->j, v) : m87_yw_int(o->y, v);
}

static void ktrue(struct out *o, const char *k, bool v)
{
    if (!v)
        return;
    key(o, k);
    o->j ? m87_jw_bool(o->j, v) : m87_yw_bool(o->y, v);
}

static void kbool(struct out *o, const char *k, bool v)
{
    key(o, k);
    o->j ? m87_jw_bool(o->j, v) : m87_yw_bool(o->y, v);
}

static void kduration(struct out *o, const char *k, int64_t ns)
{
    if (ns == SPEC_UNSET)
        return;
    _cleanup_free_ char *s = m87_format_duration(ns);
    kstr(o, k, s);
}

static void kstrv(struct out *o, const char *k, const struct m87_strv *v)
{
    if (v->len == 0)
        return;
    key(o, k);
    seq_open(o);
    for (size_t i = 0; i < v->len; i++)
        str(o, v->items[i]);
    seq_close(o);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(const struct m87_kv *const *)a)->key, (*(const struct m87_kv *const *)b)->key);
}

/* A kvlist as a mapping sorted by key; a NULL value is written as null. */
static void kkv(struct out *o, const char *k, const struct m87_kvlist *l)
{
    if (l->len == 0)
        return;
    const struct m87_kv **v = m87_xcalloc(l->len, sizeof(*v));
    for (size_t i = 0; i < l->len; i++)
        v[i] = &l->items[i];
    qsort(v, l->len, sizeof(*v), cmp_kv);
    key(o, k);
    map_open(o);
    for (size_t i = 0; i < l->len; i++) {
        key(o, v[i]->key);
        v[i]->value ? str(o, v[i]->value) : null(o);
    }
    map_close(o);
    free(v);
}

/* ---- services ----------------------------------------------------------------------------------
 */

static void dump_refs(struct out *o, const char *k, const struct spec_file_ref *r, size_t n)
{
    if (n == 0)
        return;
    key(o, k);
    seq_open(o);
    for (size_t i = 0; i < n; i++) {
        map_open(o);
        kstr(o, "gid", r[i].gid);
        if (r[i].mode != SPEC_UNSET) {
            _cleanup_free_ char *m = m87_xasprintf("%04llo", (unsigned long long)r[i].mode);
            kstr(o, "mode", m);
        }
        kstr(o, "source", r[i].source);
        kstr(o, "target", r[i].target);
        kstr(o, "uid", r[i].uid);
        map_close(o);
    }
    seq_close(o);
}

static void dump_depends(struct out *o, const struct spec_service *s)
{
    static const char *const conditions[] = {"service_started", "service_healthy",
                                             "service_completed_successfully"};
    if (s->n_depends == 0)
        return;
    key(o, "depends_on");
    map_open(o);
    for (size_t i = 0; i < s->n_depends; i++) {
        key(o, s->depends[i].service);
        map_open(o);
        kstr(o, "condition", conditions[s->depends[i].condition]);
        kbool(o, "required", s->depends[i].required);
        ktrue(o, "restart", s->depends[i].restart);
        map_close(o);
    }
    map_close(o);
}

static void dump_devices(struct out *o, const struct spec_service *s)
{
    if (s->n_devices == 0)
        return;
    key(o, "devices");
    seq_open(o);
    for (size_t i = 0; i < s->n_devices; i++) {
        map_open(o);
        kstr(o, "permissions", s->devices[i].permissions);
        kstr(o, "source", s->devices[i].host_path);
        kstr(o, "target", s->devices[i].container_path);
        map_close(o);
    }
    seq_close(o);
}

static void dump_healthcheck(struct out *o, const struct spec_service *s)
{
    const struct spec_healthcheck *h = &s->healthcheck;
    if (!s->has_healthcheck)
        return;
    key(o, "healthcheck");
    map_open(o);
    ktrue(o, "disable", h->disable);
    kduration(o, "interval", h->interval_ns);
    kint(o, "retries", h->retries);
    kduration(o, "start_period", h->start_period_ns);
    kstrv(o, "test", &h->test);
    kduration(o, "timeout", h->timeout_ns);
    map_close(o);
}

static void dump_networks(struct out *o, const struct spec_service *s)
{
    if (s->network_mode)
        return;
    key(o, "networks");
    map_open(o);
    if (s->n_networks == 0) {
        key(o, "default");
        null(o);
    }
    for (size_t i = 0; i < s->n_networks; i++) {
        const struct spec_service_network *n = &s->networks[i];
        key(o, n->key);
        if (n->aliases.len == 0 && !n->ipv4_address && !n->ipv6_address && n->priority == 0) {
            null(o);
            continue;
        }
        map_open(o);
        kstrv(o, "aliases", &n->aliases);
        kstr(o, "ipv4_address", n->ipv4_address);
        kstr(o, "ipv6_address", n->ipv6_address);
        if (n->priority)
            kint(o, "priority", n->priority);
        map_close(o);
    }
    map_close(o);
}

static void dump_ports(struct out *o, const struct spec_service *s)
{
    if (s->n_ports == 0)
        return;
    key(o, "ports");
    seq_open(o);
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct spec_port *p = &s->ports[i];
        map_open(o);
        kstr(o, "app_protocol", p->app_protocol);
        kstr(o, "host_ip", p->host_ip);
        kstr(o, "mode", p->mode);
        kstr(o, "name", p->name);
        kstr(o, "protocol", p->protocol);
        kstr(o, "published", p->published);
        kint(o, "target", p->target);
        map_close(o);
    }
    seq_close(o);
}

static void dump_mount(struct out *o, const struct spec_mount *m)
{
    static const char *const types[] = {"bind", "volume", "volume", "tmpfs"};
    map_open(o);
    if (m->type == SPEC_MOUNT_BIND || m->selinux) {
        key(o, "bind");
        map_open(o);
        if (m->type == SPEC_MOUNT_BIND)
            kbool(o, "create_host_path", m->create_host_path);
        kstr(o, "propagation", m->propagation);
        kstr(o, "selinux", m->selinux);
        map_close(o);
    }
    ktrue(o, "read_only", m->read_only);
    kstr(o, "source", m->source);
    kstr(o, "target", m->target);
    if (m->type == SPEC_MOUNT_TMPFS &&
        (m->tmpfs_size != SPEC_UNSET || m->tmpfs_mode != SPEC_UNSET)) {
        key(o, "tmpfs");
        map_open(o);
        kint(o, "mode", m->tmpfs_mode);
        kint(o, "size", m->tmpfs_size);
        map_close(o);
    }
    kstr(o, "type", types[m->type]);
    if (m->nocopy) {
        key(o, "volume");
        map_open(o);
        kbool(o, "nocopy", true);
        map_close(o);
    }
    map_close(o);
}

static void dump_storage(struct out *o, const struct spec_service *s)
{
    kkv(o, "sysctls", &s->sysctls);
    if (s->tmpfs.len) {
        key(o, "tmpfs");
        seq_open(o);
        for (size_t i = 0; i < s->tmpfs.len; i++) {
            const struct m87_kv *kv = &s->tmpfs.items[i];
            _cleanup_free_ char *e =
                *kv->value ? m87_xasprintf("%s:%s", kv->key, kv->value) : m87_xstrdup(kv->key);
            str(o, e);
        }
        seq_close(o);
    }
    ktrue(o, "tty", s->tty);
    if (s->n_ulimits) {
        key(o, "ulimits");
        map_open(o);
        for (size_t i = 0; i < s->n_ulimits; i++) {
            key(o, s->ulimits[i].name);
            map_open(o);
            kint(o, "hard", s->ulimits[i].hard);
            kint(o, "soft", s->ulimits[i].soft);
            map_close(o);
        }
        map_close(o);
    }
    kstr(o, "user", s->user);
    if (s->n_mounts) {
        key(o, "volumes");
        seq_open(o);
        for (size_t i = 0; i < s->n_mounts; i++)
            dump_mount(o, &s->mounts[i]);
        seq_close(o);
    }
    kstr(o, "working_dir", s->working_dir);
}

static char *cpus_text(int64_t nano)
{
    char *s = m87_xasprintf("%lld.%09lld", (long long)(nano / 1000000000),
                            (long long)(nano % 1000000000));
    size_t len = strlen(s);
    while (s[len - 1] == '0')
        s[--len] = '\0';
    if (s[len - 1] == '.')
        s[--len] = '\0';
    return s;
}

static char *pull_policy_text(const struct spec_service *s)
{
    switch (s->pull_policy) {
    case SPEC_PULL_ALWAYS:
        return m87_xstrdup("always");
    case SPEC_PULL_NEVER:
        return m87_xstrdup("never");
    case SPEC_PULL_EVERY: {
        _cleanup_free_ char *d = m87_format_duration(s->pull_every_ns);
        return m87_xasprintf("every_%s", d);
    }
    default:
        return m87_xstrdup("missing");
    }
}

static void dump_process(struct out *o, const struct spec_service *s)
{
    if (s->has_command) {
        key(o, "command");
        seq_open(o);
        for (size_t i = 0; i < s->command.len; i++)
            str(o, s->command.items[i]);
        seq_close(o);
    }
    dump_refs(o, "configs", s->configs, s->n_configs);
    kstr(o, "container_name", s->container_name);
    kint(o, "cpu_shares", s->cpu_shares);
    if (s->nano_cpus != SPEC_UNSET) {
        _cleanup_free_ char *c = cpus_text(s->nano_cpus);
        kstr(o, "cpus", c);
    }
    kstr(o, "cpuset", s->cpuset);
    dump_depends(o, s);
    dump_devices(o, s);
    kstrv(o, "dns", &s->dns);
    kstrv(o, "dns_opt", &s->dns_opt);
    kstrv(o, "dns_search", &s->dns_search);
    kstr(o, "domainname", s->domainname);
    if (s->has_entrypoint) {
        key(o, "entrypoint");
        seq_open(o);
        for (size_t i = 0; i < s->entrypoint.len; i++)
            str(o, s->entrypoint.items[i]);
        seq_close(o);
    }
    kstrv(o, "env_file", &s->env_files);
    kkv(o, "environment", &s->environment);
    kstrv(o, "expose", &s->expose);
    kstrv(o, "extra_hosts", &s->extra_hosts);
}

static void dump_service(struct out *o, const struct spec_service *s)
{
    key(o, s->name);
    map_open(o);
    kstrv(o, "cap_add", &s->cap_add);
    kstrv(o, "cap_drop", &s->cap_drop);
    dump_process(o, s);
    dump_healthcheck(o, s);
    kstr(o, "hostname", s->hostname);
    kstr(o, "image", s->image);
    if (s->init >= 0)
        kbool(o, "init", s->init);
    kkv(o, "labels", &s->labels);
    if (s->log_driver || s->log_options.len) {
        key(o, "logging");
        map_open(o);
        kstr(o, "driver", s->log_driver);
        kkv(o, "options", &s->log_options);
        map_close(o);
    }
    kint(o, "mem_limit", s->mem_limit);
    kint(o, "mem_reservation", s->mem_reservation);
    kint(o, "memswap_limit", s->memswap_limit);
    kstr(o, "network_mode", s->network_mode);
    dump_networks(o, s);
    kint(o, "pids_limit", s->pids_limit);
    kstr(o, "platform", s->platform);
    dump_ports(o, s);
    ktrue(o, "privileged", s->privileged);
    kstrv(o, "profiles", &s->profiles);
    _cleanup_free_ char *pull = pull_policy_text(s);
    kstr(o, "pull_policy", pull);
    ktrue(o, "read_only", s->read_only);
    if (s->restart && s->restart_max > 0) {
        _cleanup_free_ char *r = m87_xasprintf("%s:%lld", s->restart, (long long)s->restart_max);
        kstr(o, "restart", r);
    } else {
        kstr(o, "restart", s->restart);
    }
    if (s->replicas != 1)
        kint(o, "scale", s->replicas);
    dump_refs(o, "secrets", s->secrets, s->n_secrets);
    kstrv(o, "security_opt", &s->security_opt);
    kint(o, "shm_size", s->shm_size);
    ktrue(o, "stdin_open", s->stdin_open);
    kduration(o, "stop_grace_period", s->stop_grace_ns);
    kstr(o, "stop_signal", s->stop_signal);
    dump_storage(o, s);
    map_close(o);
}

/* ---- top level ---------------------------------------------------------------------------------
 */

static void dump_ipam(struct out *o, const struct spec_network *n)
{
    if (!n->ipam_driver && n->n_ipam_pools == 0 && n->ipam_options.len == 0)
        return;
    key(o, "ipam");
    map_open(o);
    if (n->n_ipam_pools) {
        key(o, "config");
        seq_open(o);
        for (size_t i = 0; i < n->n_ipam_pools; i++) {
            const struct spec_ipam_pool *p = &n->ipam_pools[i];
            map_open(o);
            kkv(o, "aux_addresses", &p->aux_addresses);
            kstr(o, "gateway", p->gateway);
            kstr(o, "ip_range", p->ip_range);
            kstr(o, "subnet", p->subnet);
            map_close(o);
        }
        seq_close(o);
    }
    kstr(o, "driver", n->ipam_driver);
    kkv(o, "options", &n->ipam_options);
    map_close(o);
}

static void dump_network(struct out *o, const struct spec_network *n)
{
    key(o, n->key);
    map_open(o);
    ktrue(o, "attachable", n->attachable);
    kstr(o, "driver", n->driver);
    kkv(o, "driver_opts", &n->driver_opts);
    ktrue(o, "enable_ipv6", n->enable_ipv6);
    ktrue(o, "external", n->external);
    ktrue(o, "internal", n->internal);
    dump_ipam(o, n);
    kkv(o, "labels", &n->labels);
    kstr(o, "name", n->name);
    map_close(o);
}

static void dump_volume(struct out *o, const struct spec_volume *v)
{
    key(o, v->key);
    map_open(o);
    kstr(o, "driver", v->driver);
    kkv(o, "driver_opts", &v->driver_opts);
    ktrue(o, "external", v->external);
    kkv(o, "labels", &v->labels);
    kstr(o, "name", v->name);
    map_close(o);
}

/* An environment source is shown by its variable's name: the value may be a secret. */
static void dump_configs(struct out *o, const char *k, const struct spec_config *v, size_t n)
{
    if (n == 0)
        return;
    key(o, k);
    map_open(o);
    for (size_t i = 0; i < n; i++) {
        key(o, v[i].key);
        map_open(o);
        if (v[i].source == SPEC_SOURCE_CONTENT)
            kstr(o, "content", v[i].content);
        kstr(o, "environment", v[i].environment);
        kstr(o, "file", v[i].file);
        kstr(o, "name", v[i].name);
        map_close(o);
    }
    map_close(o);
}

char *spec_project_dump(const struct spec_project *p, bool json)
{
    struct out o = {0};
    if (json)
        o.j = m87_jw_new();
    else
        o.y = m87_yw_new();
    map_open(&o);
    kstr(&o, "name", p->name);
    key(&o, "services");
    map_open(&o);
    for (size_t i = 0; i < p->n_services; i++)
        dump_service(&o, &p->services[i]);
    map_close(&o);
    if (p->n_networks) {
        key(&o, "networks");
        map_open(&o);
        for (size_t i = 0; i < p->n_networks; i++)
            dump_network(&o, &p->networks[i]);
        map_close(&o);
    }
    if (p->n_volumes) {
        key(&o, "volumes");
        map_open(&o);
        for (size_t i = 0; i < p->n_volumes; i++)
            dump_volume(&o, &p->volumes[i]);
        map_close(&o);
    }
    dump_configs(&o, "configs", p->configs, p->n_configs);
    dump_configs(&o, "secrets", p->secrets, p->n_secrets);
    map_close(&o);
    if (json) {
        char *text = m87_jw_finish(o.j);
        char *nl = m87_xasprintf("%s\n", text);
        free(text);
        return nl;
    }
    return m87_yw_finish(o.y);
}
