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
#include "spec/spec-out-internal.h"

/* Keyed values; the k* forms leave out what is unset. */
static void kstr(struct spec_out *o, const char *k, const char *s)
{
    if (s == NULL)
        return;
    out_key(o, k);
    out_str(o, s);
}

static void kint(struct spec_out *o, const char *k, int64_t v)
{
    if (v == SPEC_UNSET)
        return;
    out_key(o, k);
    out_int(o, v);
}

static void ktrue(struct spec_out *o, const char *k, bool v)
{
    if (!v)
        return;
    out_key(o, k);
    out_bool(o, v);
}

static void kbool(struct spec_out *o, const char *k, bool v)
{
    out_key(o, k);
    out_bool(o, v);
}

static void kduration(struct spec_out *o, const char *k, int64_t ns)
{
    if (ns == SPEC_UNSET)
        return;
    _cleanup_free_ char *s = m87_format_duration(ns);
    kstr(o, k, s);
}

static void kstrv(struct spec_out *o, const char *k, const struct m87_strv *v)
{
    if (v->len == 0)
        return;
    out_key(o, k);
    out_seq_open(o);
    for (size_t i = 0; i < v->len; i++)
        out_str(o, v->items[i]);
    out_seq_close(o);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(const struct m87_kv *const *)a)->key, (*(const struct m87_kv *const *)b)->key);
}

/* A kvlist as a mapping sorted by key; a NULL value is written as null. */
static void kkv(struct spec_out *o, const char *k, const struct m87_kvlist *l)
{
    if (l->len == 0)
        return;
    const struct m87_kv **v = m87_xcalloc(l->len, sizeof(*v));
    for (size_t i = 0; i < l->len; i++)
        v[i] = &l->items[i];
    qsort(v, l->len, sizeof(*v), cmp_kv);
    out_key(o, k);
    out_map_open(o);
    for (size_t i = 0; i < l->len; i++) {
        out_key(o, v[i]->key);
        v[i]->value ? out_str(o, v[i]->value) : out_null(o);
    }
    out_map_close(o);
    free(v);
}

/* ---- services ----------------------------------------------------------------------------------
 */

static void dump_refs(struct spec_out *o, const char *k, const struct spec_file_ref *r, size_t n)
{
    if (n == 0)
        return;
    out_key(o, k);
    out_seq_open(o);
    for (size_t i = 0; i < n; i++) {
        out_map_open(o);
        kstr(o, "gid", r[i].gid);
        if (r[i].mode != SPEC_UNSET) {
            _cleanup_free_ char *m = m87_xasprintf("%04llo", (unsigned long long)r[i].mode);
            kstr(o, "mode", m);
        }
        kstr(o, "source", r[i].source);
        kstr(o, "target", r[i].target);
        kstr(o, "uid", r[i].uid);
        out_map_close(o);
    }
    out_seq_close(o);
}

static void dump_depends(struct spec_out *o, const struct spec_service *s)
{
    static const char *const conditions[] = {"service_started", "service_healthy",
                                             "service_completed_successfully"};
    if (s->n_depends == 0)
        return;
    out_key(o, "depends_on");
    out_map_open(o);
    for (size_t i = 0; i < s->n_depends; i++) {
        out_key(o, s->depends[i].service);
        out_map_open(o);
        kstr(o, "condition", conditions[s->depends[i].condition]);
        kbool(o, "required", s->depends[i].required);
        ktrue(o, "restart", s->depends[i].restart);
        out_map_close(o);
    }
    out_map_close(o);
}

static void dump_devices(struct spec_out *o, const struct spec_service *s)
{
    if (s->n_devices == 0)
        return;
    out_key(o, "devices");
    out_seq_open(o);
    for (size_t i = 0; i < s->n_devices; i++) {
        out_map_open(o);
        kstr(o, "permissions", s->devices[i].permissions);
        kstr(o, "source", s->devices[i].host_path);
        kstr(o, "target", s->devices[i].container_path);
        out_map_close(o);
    }
    out_seq_close(o);
}

/* gpus and reservations.devices, both as the latter: reading it back gives the same requests. */
static void dump_device_requests(struct spec_out *o, const struct spec_service *s)
{
    if (s->n_device_requests == 0)
        return;
    const char *const path[] = {"deploy", "resources", "reservations"};
    for (size_t i = 0; i < M87_ARRAY_LEN(path); i++) {
        out_key(o, path[i]);
        out_map_open(o);
    }
    out_key(o, "devices");
    out_seq_open(o);
    for (size_t i = 0; i < s->n_device_requests; i++) {
        const struct spec_device_request *d = &s->device_requests[i];
        out_map_open(o);
        kstrv(o, "capabilities", &d->capabilities);
        if (d->count == -1)
            kstr(o, "count", "all");
        else if (d->device_ids.len == 0)
            kint(o, "count", d->count);
        kstrv(o, "device_ids", &d->device_ids);
        kstr(o, "driver", d->driver);
        kkv(o, "options", &d->options);
        out_map_close(o);
    }
    out_seq_close(o);
    for (size_t i = 0; i < M87_ARRAY_LEN(path); i++)
        out_map_close(o);
}

static void dump_blkio(struct spec_out *o, const struct spec_service *s)
{
    static const char *const lists[SPEC_BLKIO_N] = {
        "weight_device",    "device_read_bps",   "device_write_bps",
        "device_read_iops", "device_write_iops",
    };
    static const int order[SPEC_BLKIO_N] = {
        SPEC_BLKIO_READ_BPS,   SPEC_BLKIO_READ_IOPS,     SPEC_BLKIO_WRITE_BPS,
        SPEC_BLKIO_WRITE_IOPS, SPEC_BLKIO_WEIGHT_DEVICE,
    };
    bool any = s->blkio_weight != SPEC_UNSET;
    for (int i = 0; i < SPEC_BLKIO_N; i++)
        any = any || s->blkio[i].n > 0;
    if (!any)
        return;
    out_key(o, "blkio_config");
    out_map_open(o);
    for (int k = 0; k < SPEC_BLKIO_N; k++) {
        int i = order[k];
        if (i == SPEC_BLKIO_WEIGHT_DEVICE)
            kint(o, "weight", s->blkio_weight);
        if (s->blkio[i].n == 0)
            continue;
        out_key(o, lists[i]);
        out_seq_open(o);
        for (size_t j = 0; j < s->blkio[i].n; j++) {
            out_map_open(o);
            kstr(o, "path", s->blkio[i].v[j].path);
            kint(o, i == SPEC_BLKIO_WEIGHT_DEVICE ? "weight" : "rate", s->blkio[i].v[j].value);
            out_map_close(o);
        }
        out_seq_close(o);
    }
    out_map_close(o);
}

static void dump_hooks(struct spec_out *o, const char *k, const struct spec_hook *v, size_t n)
{
    if (n == 0)
        return;
    out_key(o, k);
    out_seq_open(o);
    for (size_t i = 0; i < n; i++) {
        out_map_open(o);
        kstrv(o, "command", &v[i].command);
        kkv(o, "environment", &v[i].environment);
        ktrue(o, "privileged", v[i].privileged);
        kstr(o, "user", v[i].user);
        kstr(o, "working_dir", v[i].working_dir);
        out_map_close(o);
    }
    out_seq_close(o);
}

static void dump_healthcheck(struct spec_out *o, const struct spec_service *s)
{
    const struct spec_healthcheck *h = &s->healthcheck;
    if (!s->has_healthcheck)
        return;
    out_key(o, "healthcheck");
    out_map_open(o);
    ktrue(o, "disable", h->disable);
    kduration(o, "interval", h->interval_ns);
    kint(o, "retries", h->retries);
    kduration(o, "start_interval", h->start_interval_ns);
    kduration(o, "start_period", h->start_period_ns);
    kstrv(o, "test", &h->test);
    kduration(o, "timeout", h->timeout_ns);
    out_map_close(o);
}

static void dump_networks(struct spec_out *o, const struct spec_service *s)
{
    if (s->network_mode)
        return;
    out_key(o, "networks");
    out_map_open(o);
    if (s->n_networks == 0) {
        out_key(o, "default");
        out_null(o);
    }
    for (size_t i = 0; i < s->n_networks; i++) {
        const struct spec_service_network *n = &s->networks[i];
        out_key(o, n->key);
        if (n->aliases.len == 0 && !n->ipv4_address && !n->ipv6_address && n->priority == 0) {
            out_null(o);
            continue;
        }
        out_map_open(o);
        kstrv(o, "aliases", &n->aliases);
        kstr(o, "ipv4_address", n->ipv4_address);
        kstr(o, "ipv6_address", n->ipv6_address);
        if (n->priority)
            kint(o, "priority", n->priority);
        out_map_close(o);
    }
    out_map_close(o);
}

static void dump_ports(struct spec_out *o, const struct spec_service *s)
{
    if (s->n_ports == 0)
        return;
    out_key(o, "ports");
    out_seq_open(o);
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct spec_port *p = &s->ports[i];
        out_map_open(o);
        kstr(o, "app_protocol", p->app_protocol);
        kstr(o, "host_ip", p->host_ip);
        kstr(o, "mode", p->mode);
        kstr(o, "name", p->name);
        kstr(o, "protocol", p->protocol);
        kstr(o, "published", p->published);
        kint(o, "target", p->target);
        out_map_close(o);
    }
    out_seq_close(o);
}

static void dump_mount(struct spec_out *o, const struct spec_mount *m)
{
    static const char *const types[] = {"bind", "volume", "volume", "tmpfs"};
    out_map_open(o);
    if (m->type == SPEC_MOUNT_BIND || m->selinux) {
        out_key(o, "bind");
        out_map_open(o);
        if (m->type == SPEC_MOUNT_BIND)
            kbool(o, "create_host_path", m->create_host_path);
        kstr(o, "propagation", m->propagation);
        kstr(o, "selinux", m->selinux);
        out_map_close(o);
    }
    ktrue(o, "read_only", m->read_only);
    kstr(o, "source", m->source);
    kstr(o, "target", m->target);
    if (m->type == SPEC_MOUNT_TMPFS &&
        (m->tmpfs_size != SPEC_UNSET || m->tmpfs_mode != SPEC_UNSET)) {
        out_key(o, "tmpfs");
        out_map_open(o);
        kint(o, "mode", m->tmpfs_mode);
        kint(o, "size", m->tmpfs_size);
        out_map_close(o);
    }
    kstr(o, "type", types[m->type]);
    if (m->nocopy) {
        out_key(o, "volume");
        out_map_open(o);
        kbool(o, "nocopy", true);
        out_map_close(o);
    }
    out_map_close(o);
}

static void dump_storage(struct spec_out *o, const struct spec_service *s)
{
    kkv(o, "sysctls", &s->sysctls);
    if (s->tmpfs.len) {
        out_key(o, "tmpfs");
        out_seq_open(o);
        for (size_t i = 0; i < s->tmpfs.len; i++) {
            const struct m87_kv *kv = &s->tmpfs.items[i];
            _cleanup_free_ char *e =
                *kv->value ? m87_xasprintf("%s:%s", kv->key, kv->value) : m87_xstrdup(kv->key);
            out_str(o, e);
        }
        out_seq_close(o);
    }
    ktrue(o, "tty", s->tty);
    if (s->n_ulimits) {
        out_key(o, "ulimits");
        out_map_open(o);
        for (size_t i = 0; i < s->n_ulimits; i++) {
            out_key(o, s->ulimits[i].name);
            out_map_open(o);
            kint(o, "hard", s->ulimits[i].hard);
            kint(o, "soft", s->ulimits[i].soft);
            out_map_close(o);
        }
        out_map_close(o);
    }
    kstr(o, "user", s->user);
    kstr(o, "userns_mode", s->userns_mode);
    kstr(o, "uts", s->uts);
    kstr(o, "volume_driver", s->volume_driver);
    if (s->n_mounts) {
        out_key(o, "volumes");
        out_seq_open(o);
        for (size_t i = 0; i < s->n_mounts; i++)
            dump_mount(o, &s->mounts[i]);
        out_seq_close(o);
    }
    kstrv(o, "volumes_from", &s->volumes_from);
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

static void dump_process(struct spec_out *o, const struct spec_service *s)
{
    if (s->has_command) {
        out_key(o, "command");
        out_seq_open(o);
        for (size_t i = 0; i < s->command.len; i++)
            out_str(o, s->command.items[i]);
        out_seq_close(o);
    }
    dump_refs(o, "configs", s->configs, s->n_configs);
    kstr(o, "container_name", s->container_name);
    kint(o, "cpu_period", s->cpu_period);
    kint(o, "cpu_quota", s->cpu_quota);
    kint(o, "cpu_rt_period", s->cpu_rt_period);
    kint(o, "cpu_rt_runtime", s->cpu_rt_runtime);
    kint(o, "cpu_shares", s->cpu_shares);
    if (s->nano_cpus != SPEC_UNSET) {
        _cleanup_free_ char *c = cpus_text(s->nano_cpus);
        kstr(o, "cpus", c);
    }
    kstr(o, "cpuset", s->cpuset);
    dump_depends(o, s);
    dump_device_requests(o, s);
    kstrv(o, "device_cgroup_rules", &s->device_cgroup_rules);
    dump_devices(o, s);
    kstrv(o, "dns", &s->dns);
    kstrv(o, "dns_opt", &s->dns_opt);
    kstrv(o, "dns_search", &s->dns_search);
    kstr(o, "domainname", s->domainname);
    if (s->has_entrypoint) {
        out_key(o, "entrypoint");
        out_seq_open(o);
        for (size_t i = 0; i < s->entrypoint.len; i++)
            out_str(o, s->entrypoint.items[i]);
        out_seq_close(o);
    }
    kstrv(o, "env_file", &s->env_files);
    kkv(o, "environment", &s->environment);
    kstrv(o, "expose", &s->expose);
    kstrv(o, "external_links", &s->external_links);
    kstrv(o, "extra_hosts", &s->extra_hosts);
    kstrv(o, "group_add", &s->group_add);
}

static void dump_service(struct spec_out *o, const struct spec_service *s)
{
    out_key(o, s->name);
    out_map_open(o);
    kkv(o, "annotations", &s->annotations);
    dump_blkio(o, s);
    kstrv(o, "cap_add", &s->cap_add);
    kstrv(o, "cap_drop", &s->cap_drop);
    kstr(o, "cgroup", s->cgroup);
    kstr(o, "cgroup_parent", s->cgroup_parent);
    dump_process(o, s);
    dump_healthcheck(o, s);
    kstr(o, "hostname", s->hostname);
    kstr(o, "image", s->image);
    if (s->init >= 0)
        kbool(o, "init", s->init);
    kstr(o, "ipc", s->ipc);
    kkv(o, "labels", &s->labels);
    kstrv(o, "links", &s->links);
    if (s->log_driver || s->log_options.len) {
        out_key(o, "logging");
        out_map_open(o);
        kstr(o, "driver", s->log_driver);
        kkv(o, "options", &s->log_options);
        out_map_close(o);
    }
    kstr(o, "mac_address", s->mac_address);
    kint(o, "mem_limit", s->mem_limit);
    kint(o, "mem_reservation", s->mem_reservation);
    kint(o, "mem_swappiness", s->mem_swappiness);
    kint(o, "memswap_limit", s->memswap_limit);
    kstr(o, "network_mode", s->network_mode);
    dump_networks(o, s);
    if (s->oom_kill_disable >= 0)
        kbool(o, "oom_kill_disable", s->oom_kill_disable);
    kint(o, "oom_score_adj", s->oom_score_adj);
    kstr(o, "pid", s->pid);
    kint(o, "pids_limit", s->pids_limit);
    kstr(o, "platform", s->platform);
    dump_ports(o, s);
    dump_hooks(o, "post_start", s->post_start, s->n_post_start);
    dump_hooks(o, "pre_stop", s->pre_stop, s->n_pre_stop);
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
    kstr(o, "runtime", s->runtime);
    if (s->replicas != 1)
        kint(o, "scale", s->replicas);
    dump_refs(o, "secrets", s->secrets, s->n_secrets);
    kstrv(o, "security_opt", &s->security_opt);
    kint(o, "shm_size", s->shm_size);
    ktrue(o, "stdin_open", s->stdin_open);
    kduration(o, "stop_grace_period", s->stop_grace_ns);
    kstr(o, "stop_signal", s->stop_signal);
    kkv(o, "storage_opt", &s->storage_opt);
    dump_storage(o, s);
    out_map_close(o);
}

/* ---- top level ---------------------------------------------------------------------------------
 */

static void dump_ipam(struct spec_out *o, const struct spec_network *n)
{
    if (!n->ipam_driver && n->n_ipam_pools == 0 && n->ipam_options.len == 0)
        return;
    out_key(o, "ipam");
    out_map_open(o);
    if (n->n_ipam_pools) {
        out_key(o, "config");
        out_seq_open(o);
        for (size_t i = 0; i < n->n_ipam_pools; i++) {
            const struct spec_ipam_pool *p = &n->ipam_pools[i];
            out_map_open(o);
            kkv(o, "aux_addresses", &p->aux_addresses);
            kstr(o, "gateway", p->gateway);
            kstr(o, "ip_range", p->ip_range);
            kstr(o, "subnet", p->subnet);
            out_map_close(o);
        }
        out_seq_close(o);
    }
    kstr(o, "driver", n->ipam_driver);
    kkv(o, "options", &n->ipam_options);
    out_map_close(o);
}

static void dump_network(struct spec_out *o, const struct spec_network *n)
{
    out_key(o, n->key);
    out_map_open(o);
    ktrue(o, "attachable", n->attachable);
    kstr(o, "driver", n->driver);
    kkv(o, "driver_opts", &n->driver_opts);
    ktrue(o, "enable_ipv6", n->enable_ipv6);
    ktrue(o, "external", n->external);
    ktrue(o, "internal", n->internal);
    dump_ipam(o, n);
    kkv(o, "labels", &n->labels);
    kstr(o, "name", n->name);
    out_map_close(o);
}

static void dump_volume(struct spec_out *o, const struct spec_volume *v)
{
    out_key(o, v->key);
    out_map_open(o);
    kstr(o, "driver", v->driver);
    kkv(o, "driver_opts", &v->driver_opts);
    ktrue(o, "external", v->external);
    kkv(o, "labels", &v->labels);
    kstr(o, "name", v->name);
    out_map_close(o);
}

/* An environment source is shown by its variable's name: the value may be a secret. */
static void dump_configs(struct spec_out *o, const char *k, const struct spec_config *v, size_t n)
{
    if (n == 0)
        return;
    out_key(o, k);
    out_map_open(o);
    for (size_t i = 0; i < n; i++) {
        out_key(o, v[i].key);
        out_map_open(o);
        if (v[i].source == SPEC_SOURCE_CONTENT)
            kstr(o, "content", v[i].content);
        kstr(o, "environment", v[i].environment);
        kstr(o, "file", v[i].file);
        kstr(o, "name", v[i].name);
        out_map_close(o);
    }
    out_map_close(o);
}

char *spec_project_dump(const struct spec_project *p, bool json)
{
    struct spec_out o = {0};
    if (json)
        o.jw = m87_jw_new();
    else
        o.yw = m87_yw_new();
    out_map_open(&o);
    kstr(&o, "name", p->name);
    out_key(&o, "services");
    out_map_open(&o);
    for (size_t i = 0; i < p->n_services; i++)
        dump_service(&o, &p->services[i]);
    out_map_close(&o);
    if (p->n_networks) {
        out_key(&o, "networks");
        out_map_open(&o);
        for (size_t i = 0; i < p->n_networks; i++)
            dump_network(&o, &p->networks[i]);
        out_map_close(&o);
    }
    if (p->n_volumes) {
        out_key(&o, "volumes");
        out_map_open(&o);
        for (size_t i = 0; i < p->n_volumes; i++)
            dump_volume(&o, &p->volumes[i]);
        out_map_close(&o);
    }
    dump_configs(&o, "configs", p->configs, p->n_configs);
    dump_configs(&o, "secrets", p->secrets, p->n_secrets);
    out_map_close(&o);
    if (json) {
        char *text = m87_jw_finish(o.jw);
        char *nl = m87_xasprintf("%s\n", text);
        free(text);
        return nl;
    }
    return m87_yw_finish(o.yw);
}
