/* A service and a replica number -> the body of POST /containers/create, and the canonical
 * form of that body the config hash is taken of. One writer serves both, so that what the hash
 * covers cannot drift from what is sent.
 *
 * Why this file stays whole at about 600 lines: every part of the body (Config, HostConfig,
 * NetworkingConfig, the hash's own members) is written through the same file-local member
 * writers, which skip what is unset; a part moved to a file of its own would need them
 * exported to the whole module, where the next writer could bypass them. Names and labels,
 * which are not JSON, live in compose-names.c; scalars and lists in compose-create-host.c. */
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/sort.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

#define NS_PER_S 1000000000LL

/* ---- sorted writing -------------------------------------------------------------------------- */

static int kv_cmp(const void *a, const void *b)
{
    const struct m87_kv *x = *(const struct m87_kv *const *)a;
    const struct m87_kv *y = *(const struct m87_kv *const *)b;
    return strcmp(x->key, y->key);
}

/* Pointers to the items of l sorted by key; caller frees the array. */
static const struct m87_kv **kv_sorted(const struct m87_kvlist *l)
{
    const struct m87_kv **v = m87_xcalloc(l->len ? l->len : 1, sizeof(*v));
    for (size_t i = 0; i < l->len; i++)
        v[i] = &l->items[i];
    qsort(v, l->len, sizeof(*v), kv_cmp);
    return v;
}

static void write_map(struct m87_jw *w, const struct m87_kvlist *l)
{
    _cleanup_free_ const struct m87_kv **v = kv_sorted(l);
    m87_jw_obj_open(w);
    for (size_t i = 0; i < l->len; i++)
        m87_jw_kstr(w, v[i]->key, v[i]->value ? v[i]->value : "");
    m87_jw_obj_close(w);
}

static void write_map_member(struct m87_jw *w, const char *key, const struct m87_kvlist *l)
{
    if (l->len == 0)
        return;
    m87_jw_key(w, key);
    write_map(w, l);
}

static void write_strv_member(struct m87_jw *w, const char *key, const struct m87_strv *v)
{
    if (v->len == 0)
        return;
    m87_jw_key(w, key);
    m87_jw_strv(w, v);
}

static void write_int_member(struct m87_jw *w, const char *key, int64_t v)
{
    if (v != SPEC_UNSET)
        m87_jw_kint(w, key, v);
}

/* ---- Config ---------------------------------------------------------------------------------- */

static void write_env(struct m87_jw *w, const struct spec_service *s)
{
    if (s->environment.len == 0)
        return;
    _cleanup_free_ const struct m87_kv **v = kv_sorted(&s->environment);
    m87_jw_key(w, "Env");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < s->environment.len; i++) {
        /* an unresolved bare name goes as "NAME", which dockerd drops from the environment */
        if (v[i]->value == NULL) {
            m87_jw_str(w, v[i]->key);
            continue;
        }
        _cleanup_free_ char *kv = m87_xasprintf("%s=%s", v[i]->key, v[i]->value);
        m87_jw_str(w, kv);
    }
    m87_jw_arr_close(w);
}

static char *port_key(unsigned port, const char *protocol)
{
    return m87_xasprintf("%u/%s", port, protocol ? protocol : "tcp");
}

/* "3000/tcp" or "3000-3005/udp": one key per port. */
static void expose_keys(const char *e, struct m87_strv *out)
{
    char *end = NULL;
    unsigned long lo = strtoul(e, &end, 10);
    unsigned long hi = lo;
    if (*end == '-')
        hi = strtoul(end + 1, &end, 10);
    const char *proto = *end == '/' ? end + 1 : "tcp";
    if (hi < lo || hi - lo > 65535) {
        m87_strv_add(out, e);
        return;
    }
    for (unsigned long port = lo; port <= hi; port++) {
        _cleanup_free_ char *k = port_key((unsigned)port, proto);
        m87_strv_add(out, k);
    }
}

static bool port_published(const struct spec_port *pt)
{
    return pt->publish || pt->published != NULL;
}

/* The sorted, unique "PORT/PROTO" keys: of every port and expose entry when exposed, else of
 * the published ports. */
static void port_keys(const struct spec_service *s, bool exposed, struct m87_strv *keys)
{
    m87_strv_init(keys);
    for (size_t i = 0; i < s->n_ports; i++) {
        if (!exposed && !port_published(&s->ports[i]))
            continue;
        _cleanup_free_ char *k = port_key(s->ports[i].target, s->ports[i].protocol);
        m87_strv_add(keys, k);
    }
    for (size_t i = 0; exposed && i < s->expose.len; i++)
        expose_keys(s->expose.items[i], keys);
    m87_strv_sort_unique(keys);
}

/* The host side of every published port of key: [{HostIp, HostPort}, ...]. */
static void write_bindings(struct m87_jw *w, const struct spec_service *s, const char *key)
{
    m87_jw_arr_open(w);
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct spec_port *pt = &s->ports[i];
        _cleanup_free_ char *pk = port_key(pt->target, pt->protocol);
        if (!port_published(pt) || strcmp(pk, key) != 0)
            continue;
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "HostIp", pt->host_ip ? pt->host_ip : "");
        m87_jw_kstr(w, "HostPort", pt->published ? pt->published : "");
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
}

/* ExposedPorts ({"80/tcp": {}, ...}) when exposed, else PortBindings ({"80/tcp": [{HostIp,
 * HostPort}, ...], ...}); nothing when there are no such ports. */
static void write_ports(struct m87_jw *w, const struct spec_service *s, bool exposed)
{
    struct m87_strv keys;
    port_keys(s, exposed, &keys);
    if (keys.len > 0) {
        m87_jw_key(w, exposed ? "ExposedPorts" : "PortBindings");
        m87_jw_obj_open(w);
        for (size_t i = 0; i < keys.len; i++) {
            m87_jw_key(w, keys.items[i]);
            if (exposed) {
                m87_jw_obj_open(w);
                m87_jw_obj_close(w);
            } else {
                write_bindings(w, s, keys.items[i]);
            }
        }
        m87_jw_obj_close(w);
    }
    m87_strv_release(&keys);
}

static void write_healthcheck(struct m87_jw *w, const struct spec_service *s)
{
    if (!s->has_healthcheck)
        return;
    const struct spec_healthcheck *h = &s->healthcheck;
    m87_jw_key(w, "Healthcheck");
    m87_jw_obj_open(w);
    if (h->disable) {
        m87_jw_key(w, "Test");
        m87_jw_arr_open(w);
        m87_jw_str(w, "NONE");
        m87_jw_arr_close(w);
    } else {
        write_strv_member(w, "Test", &h->test);
        write_int_member(w, "Interval", h->interval_ns);
        write_int_member(w, "Timeout", h->timeout_ns);
        write_int_member(w, "StartPeriod", h->start_period_ns);
        write_int_member(w, "StartInterval", h->start_interval_ns); /* API 1.44 */
        write_int_member(w, "Retries", h->retries);
    }
    m87_jw_obj_close(w);
}

static void write_config(struct m87_jw *w, const struct spec_project *p,
                         const struct spec_service *s, const struct compose_body_opts *o,
                         const struct compose_instance *in)
{
    m87_jw_kstr(w, "Image", s->image);
    if (s->has_command) {
        m87_jw_key(w, "Cmd");
        m87_jw_strv(w, &s->command);
    }
    if (s->has_entrypoint) {
        m87_jw_key(w, "Entrypoint");
        m87_jw_strv(w, &s->entrypoint);
    }
    write_env(w, s);
    m87_jw_kstr_opt(w, "User", s->user);
    m87_jw_kstr_opt(w, "WorkingDir", s->working_dir);
    m87_jw_kstr_opt(w, "Hostname", s->hostname);
    m87_jw_kstr_opt(w, "Domainname", s->domainname);
    m87_jw_kstr_opt(w, "MacAddress", in && o && o->all_endpoints ? NULL : s->mac_address);
    write_ports(w, s, true);
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    compose_container_labels(p, s, in, &labels);
    write_map_member(w, "Labels", &labels);
    m87_kvlist_release(&labels);
    write_healthcheck(w, s);
    m87_jw_kstr_opt(w, "StopSignal", s->stop_signal);
    if (s->stop_grace_ns != SPEC_UNSET)
        m87_jw_kint(w, "StopTimeout", s->stop_grace_ns / NS_PER_S);
    m87_jw_kbool(w, "Tty", s->tty);
    m87_jw_kbool(w, "OpenStdin", s->stdin_open);
}

/* ---- HostConfig: storage -------------------------------------------------------------------- */

/* The legacy Binds string creates a missing host directory (as compose users expect); the
 * Mount API is needed for what Binds cannot say. */
static bool mount_is_bind_string(const struct spec_mount *m)
{
    switch (m->type) {
    case SPEC_MOUNT_BIND:
        return m->propagation == NULL && m->create_host_path;
    case SPEC_MOUNT_VOLUME:
        return !m->nocopy;
    default:
        return false;
    }
}

static void write_binds(struct m87_jw *w, const struct spec_project *p,
                        const struct spec_service *s)
{
    struct m87_strv binds;
    m87_strv_init(&binds);
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct spec_mount *m = &s->mounts[i];
        if (!mount_is_bind_string(m))
            continue;
        _cleanup_free_ char *src = m->type == SPEC_MOUNT_VOLUME ? compose_volume_name(p, m->source)
                                                                : m87_xstrdup(m->source);
        _cleanup_free_ char *b =
            m87_xasprintf("%s:%s:%s%s%s", src, m->target, m->read_only ? "ro" : "rw",
                          m->selinux ? "," : "", m->selinux ? m->selinux : "");
        m87_strv_add(&binds, b);
    }
    write_strv_member(w, "Binds", &binds);
    m87_strv_release(&binds);
}

static void write_mount(struct m87_jw *w, const struct spec_project *p, const struct spec_mount *m,
                        const struct compose_instance *in)
{
    static const char *const types[] = {
        [SPEC_MOUNT_BIND] = "bind",
        [SPEC_MOUNT_VOLUME] = "volume",
        [SPEC_MOUNT_ANON] = "volume",
        [SPEC_MOUNT_TMPFS] = "tmpfs",
    };
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Type", types[m->type]);
    if (m->type == SPEC_MOUNT_VOLUME) {
        _cleanup_free_ char *name = compose_volume_name(p, m->source);
        m87_jw_kstr(w, "Source", name);
    } else if (m->type == SPEC_MOUNT_BIND) {
        m87_jw_kstr(w, "Source", m->source);
    } else if (m->type == SPEC_MOUNT_ANON && in && in->anon_volumes) {
        /* the data of an anonymous volume survives a recreate, as in compose */
        m87_jw_kstr_opt(w, "Source", m87_kvlist_get(in->anon_volumes, m->target));
    }
    m87_jw_kstr(w, "Target", m->target);
    if (m->read_only)
        m87_jw_kbool(w, "ReadOnly", true);
    if (m->type == SPEC_MOUNT_BIND && m->propagation) {
        m87_jw_key(w, "BindOptions");
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "Propagation", m->propagation);
        m87_jw_obj_close(w);
    } else if (m->type == SPEC_MOUNT_VOLUME && m->nocopy) {
        m87_jw_key(w, "VolumeOptions");
        m87_jw_obj_open(w);
        m87_jw_kbool(w, "NoCopy", true);
        m87_jw_obj_close(w);
    } else if (m->type == SPEC_MOUNT_TMPFS &&
               (m->tmpfs_size != SPEC_UNSET || m->tmpfs_mode != SPEC_UNSET)) {
        m87_jw_key(w, "TmpfsOptions");
        m87_jw_obj_open(w);
        write_int_member(w, "SizeBytes", m->tmpfs_size);
        write_int_member(w, "Mode", m->tmpfs_mode);
        m87_jw_obj_close(w);
    }
    m87_jw_obj_close(w);
}

/* File-based configs and secrets are read-only bind mounts of the file. */
static size_t write_file_mounts(struct m87_jw *w, const struct spec_file_ref *refs, size_t n,
                                const struct spec_config *defs, size_t n_defs)
{
    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        const struct spec_config *d = compose_find_config(defs, n_defs, refs[i].source);
        if (d == NULL || d->source != SPEC_SOURCE_FILE || w == NULL) {
            written += d && d->source == SPEC_SOURCE_FILE;
            continue;
        }
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "Type", "bind");
        m87_jw_kstr(w, "Source", d->file);
        m87_jw_kstr(w, "Target", refs[i].target);
        m87_jw_kbool(w, "ReadOnly", true);
        m87_jw_obj_close(w);
        written++;
    }
    return written;
}

static void write_mounts(struct m87_jw *w, const struct spec_project *p,
                         const struct spec_service *s, const struct compose_instance *in)
{
    size_t n = write_file_mounts(NULL, s->configs, s->n_configs, p->configs, p->n_configs) +
               write_file_mounts(NULL, s->secrets, s->n_secrets, p->secrets, p->n_secrets);
    for (size_t i = 0; i < s->n_mounts; i++)
        n += !mount_is_bind_string(&s->mounts[i]);
    if (n == 0)
        return;
    m87_jw_key(w, "Mounts");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < s->n_mounts; i++)
        if (!mount_is_bind_string(&s->mounts[i]))
            write_mount(w, p, &s->mounts[i], in);
    write_file_mounts(w, s->configs, s->n_configs, p->configs, p->n_configs);
    write_file_mounts(w, s->secrets, s->n_secrets, p->secrets, p->n_secrets);
    m87_jw_arr_close(w);
}

/* ---- HostConfig: the rest ----------------------------------------------------------------- */

static void write_resources(struct m87_jw *w, const struct spec_service *s)
{
    write_int_member(w, "Memory", s->mem_limit);
    write_int_member(w, "MemorySwap", s->memswap_limit);
    write_int_member(w, "MemoryReservation", s->mem_reservation);
    write_int_member(w, "NanoCpus", s->nano_cpus);
    write_int_member(w, "CpuShares", s->cpu_shares);
    m87_jw_kstr_opt(w, "CpusetCpus", s->cpuset);
    write_int_member(w, "PidsLimit", s->pids_limit);
    write_int_member(w, "ShmSize", s->shm_size);
    if (s->n_ulimits > 0) {
        m87_jw_key(w, "Ulimits");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < s->n_ulimits; i++) {
            m87_jw_obj_open(w);
            m87_jw_kstr(w, "Name", s->ulimits[i].name);
            m87_jw_kint(w, "Soft", s->ulimits[i].soft);
            m87_jw_kint(w, "Hard", s->ulimits[i].hard);
            m87_jw_obj_close(w);
        }
        m87_jw_arr_close(w);
    }
    if (s->n_devices > 0) {
        m87_jw_key(w, "Devices");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < s->n_devices; i++) {
            const struct spec_device *d = &s->devices[i];
            m87_jw_obj_open(w);
            m87_jw_kstr(w, "PathOnHost", d->host_path);
            m87_jw_kstr(w, "PathInContainer", d->container_path ? d->container_path : d->host_path);
            m87_jw_kstr(w, "CgroupPermissions", d->permissions ? d->permissions : "rwm");
            m87_jw_obj_close(w);
        }
        m87_jw_arr_close(w);
    }
}

static void write_restart(struct m87_jw *w, const struct spec_service *s)
{
    if (s->restart == NULL)
        return;
    m87_jw_key(w, "RestartPolicy");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Name", s->restart);
    if (strcmp(s->restart, "on-failure") == 0)
        m87_jw_kint(w, "MaximumRetryCount", s->restart_max);
    m87_jw_obj_close(w);
}

static void write_logging(struct m87_jw *w, const struct spec_service *s)
{
    if (s->log_driver == NULL && s->log_options.len == 0)
        return;
    m87_jw_key(w, "LogConfig");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Type", s->log_driver ? s->log_driver : "");
    m87_jw_key(w, "Config");
    write_map(w, &s->log_options);
    m87_jw_obj_close(w);
}

static void write_network_mode(struct m87_jw *w, const struct spec_project *p,
                               const struct spec_service *s, const struct compose_body_opts *o)
{
    const char *keys[1];
    if (o && o->network_mode) {
        m87_jw_kstr(w, "NetworkMode", o->network_mode);
    } else if (s->network_mode) {
        m87_jw_kstr(w, "NetworkMode", s->network_mode);
    } else if (compose_service_networks(s, keys, 1) > 0) {
        _cleanup_free_ char *name = compose_network_name(p, keys[0]);
        m87_jw_kstr(w, "NetworkMode", name);
    }
}

static void write_host_config(struct m87_jw *w, const struct spec_project *p,
                              const struct spec_service *s, const struct compose_body_opts *o,
                              const struct compose_instance *in)
{
    m87_jw_key(w, "HostConfig");
    m87_jw_obj_open(w);
    write_binds(w, p, s);
    write_mounts(w, p, s, in);
    write_map_member(w, "Tmpfs", &s->tmpfs);
    write_ports(w, s, false);
    write_network_mode(w, p, s, o);
    write_restart(w, s);
    write_resources(w, s);
    write_map_member(w, "Sysctls", &s->sysctls);
    write_logging(w, s);
    write_strv_member(w, "ExtraHosts", &s->extra_hosts);
    write_strv_member(w, "Dns", &s->dns);
    write_strv_member(w, "DnsSearch", &s->dns_search);
    write_strv_member(w, "DnsOptions", &s->dns_opt);
    if (s->init >= 0)
        m87_jw_kbool(w, "Init", s->init != 0);
    write_strv_member(w, "CapAdd", &s->cap_add);
    write_strv_member(w, "CapDrop", &s->cap_drop);
    write_strv_member(w, "SecurityOpt", &s->security_opt);
    m87_jw_kbool(w, "ReadonlyRootfs", s->read_only);
    m87_jw_kbool(w, "Privileged", s->privileged);
    write_map_member(w, "StorageOpt", &s->storage_opt);
    compose_write_host_kernel(w, s, o, in);
    m87_jw_obj_close(w);
}

/* ---- NetworkingConfig ------------------------------------------------------------------------ */

static const struct spec_service_network *service_network(const struct spec_service *s,
                                                          const char *key)
{
    for (size_t i = 0; i < s->n_networks; i++)
        if (strcmp(s->networks[i].key, key) == 0)
            return &s->networks[i];
    return NULL;
}

/* Written for create and for the hash; the endpoint of a later connect is built from the same
 * parts in compose-up.c. Aliases as compose v2: the container's name, the service's, the
 * user's. */
static void write_endpoint(struct m87_jw *w, const struct spec_service *s, const char *key,
                           const struct compose_body_opts *o, const struct compose_instance *in,
                           bool primary)
{
    const struct spec_service_network *sn = service_network(s, key);
    m87_jw_obj_open(w);
    m87_jw_key(w, "Aliases");
    m87_jw_arr_open(w);
    if (in)
        m87_jw_str(w, in->name);
    m87_jw_str(w, s->name);
    for (size_t i = 0; sn && i < sn->aliases.len; i++)
        m87_jw_str(w, sn->aliases.items[i]);
    m87_jw_arr_close(w);
    if (sn && (sn->ipv4_address || sn->ipv6_address)) {
        m87_jw_key(w, "IPAMConfig");
        m87_jw_obj_open(w);
        m87_jw_kstr_opt(w, "IPv4Address", sn->ipv4_address);
        m87_jw_kstr_opt(w, "IPv6Address", sn->ipv6_address);
        m87_jw_obj_close(w);
    }
    compose_write_endpoint_more(w, s, o, in, primary);
    m87_jw_obj_close(w);
}

static void write_networking(struct m87_jw *w, const struct spec_project *p,
                             const struct spec_service *s, const struct compose_body_opts *o,
                             const struct compose_instance *in)
{
    const char *keys[64];
    size_t n = compose_service_networks(s, keys, M87_ARRAY_LEN(keys));
    if (n == 0)
        return;
    if (n > M87_ARRAY_LEN(keys))
        n = M87_ARRAY_LEN(keys);
    /* API < 1.44 takes one endpoint at create; the others are connected before the start */
    size_t at_create = in == NULL || (o && o->all_endpoints) ? n : 1;
    m87_jw_key(w, "NetworkingConfig");
    m87_jw_obj_open(w);
    m87_jw_key(w, "EndpointsConfig");
    m87_jw_obj_open(w);
    for (size_t i = 0; i < at_create; i++) {
        _cleanup_free_ char *name = compose_network_name(p, keys[i]);
        m87_jw_key(w, name);
        write_endpoint(w, s, keys[i], o, in, i == 0);
    }
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
}

/* ---- body and hash -------------------------------------------------------------------------- */

/* Leaves the object open: the hash adds members of its own. */
static void write_body(struct m87_jw *w, const struct spec_project *p, const struct spec_service *s,
                       const struct compose_body_opts *o, const struct compose_instance *in)
{
    m87_jw_obj_open(w);
    write_config(w, p, s, o, in);
    write_host_config(w, p, s, o, in);
    write_networking(w, p, s, o, in);
}

char *compose_create_body(const struct spec_project *p, const struct spec_service *s,
                          const struct compose_body_opts *o, const struct compose_instance *in)
{
    struct m87_jw *w = m87_jw_new();
    write_body(w, p, s, o, in);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

/* Injected files decide what the container sees, so their content is part of the hash (as a
 * digest: the text itself may be large or not UTF-8). */
static void write_injected(struct m87_jw *w, const char *kind, const struct spec_file_ref *refs,
                           size_t n, const struct spec_config *defs, size_t n_defs)
{
    for (size_t i = 0; i < n; i++) {
        const struct spec_config *d = compose_find_config(defs, n_defs, refs[i].source);
        if (d == NULL || d->source == SPEC_SOURCE_FILE)
            continue;
        const char *content = d->content ? d->content : "";
        char digest[COMPOSE_HASH_HEX + 1];
        m87_sha256_hex(content, strlen(content), digest);
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "Kind", kind);
        m87_jw_kstr(w, "Target", refs[i].target);
        m87_jw_kstr_opt(w, "Uid", refs[i].uid);
        m87_jw_kstr_opt(w, "Gid", refs[i].gid);
        write_int_member(w, "Mode", refs[i].mode);
        m87_jw_kstr(w, "Content", digest);
        m87_jw_obj_close(w);
    }
}

char *compose_hash_input(const struct spec_project *p, const struct spec_service *s,
                         const struct compose_body_opts *o)
{
    struct m87_jw *w = m87_jw_new();
    write_body(w, p, s, o, NULL);
    m87_jw_key(w, "m87");
    m87_jw_obj_open(w);
    m87_jw_kstr_opt(w, "Platform", s->platform);
    /* the name is the create's ?name=, not in the body; a changed container_name must still
     * replace the container, since a rename alone would leave its network aliases behind */
    m87_jw_kstr_opt(w, "ContainerName", s->container_name);
    m87_jw_key(w, "Files");
    m87_jw_arr_open(w);
    write_injected(w, "config", s->configs, s->n_configs, p->configs, p->n_configs);
    write_injected(w, "secret", s->secrets, s->n_secrets, p->secrets, p->n_secrets);
    m87_jw_arr_close(w);
    compose_write_hooks(w, s);
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

void compose_config_hash(const struct spec_project *p, const struct spec_service *s,
                         const struct compose_body_opts *o, char out[COMPOSE_HASH_HEX + 1])
{
    _cleanup_free_ char *body = compose_hash_input(p, s, o);
    _cleanup_free_ char *text = m87_xasprintf("%s\n%s", COMPOSE_HASH_FORMAT, body);
    m87_sha256_hex(text, strlen(text), out);
}
