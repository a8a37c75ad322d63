/* One compose service read into struct spec_service: the field table, the simple fields and the
 * checks across fields; the other parts are read by the files named in spec-compose-internal.h. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-service.h"
#include "m87/units.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

static const char *const service_fields[] = {
    "annotations",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "depends_on",
    "deploy",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "net",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volume_driver",
    "volumes_from",
    "working_dir",
    NULL,
};

/* Fields of the compose specification that m87 refuses rather than ignores. */
static const char *const service_unsupported[] = {
    "attach",    "build",  "cpu_count", "cpu_percent",        "credential_spec", "develop",
    "isolation", "models", "provider",  "pull_refresh_after", "use_api_socket",  NULL,
};

/* ---- field access ------------------------------------------------------------------------------
 */

static int svc_bool(struct svc *c, const char *name, bool *out)
{
    const struct cnode *v = spec_svc_get(c, name);
    return v ? spec_cn_bool(v, c->fpath, out, c->err) : 0;
}

static int svc_bytes(struct svc *c, const char *name, int64_t *out)
{
    const struct cnode *v = spec_svc_get(c, name);
    return v ? spec_cn_bytes(v, c->fpath, out, c->err) : 0;
}

static int svc_strings(struct svc *c, const char *name, struct m87_strv *out)
{
    const struct cnode *v = spec_svc_get(c, name);
    return v ? spec_cn_strings(v, c->fpath, out, c->err) : 0;
}

/* "FILE:LINE:COLUMN: services.NAME.FIELD: message" at the field's value. */
static int svc_error(struct svc *c, const char *name, const char *fmt, ...) M87_PRINTF(3, 4);

static int svc_error(struct svc *c, const char *name, const char *fmt, ...)
{
    const struct cnode *at = spec_svc_get(c, name);
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    return spec_cn_error(at ? at : c->def, c->err, "%s: %s", c->fpath, msg);
}

/* ---- simple fields -----------------------------------------------------------------------------
 */

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || ch == '-';
}

/* ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ as dockerd wants container names; service and profile names use
 * the same rule so that derived container names stay valid. */
static bool valid_name(const char *s, size_t min_len)
{
    if (strlen(s) < min_len || !name_char(*s) || *s == '_' || *s == '.' || *s == '-')
        return false;
    for (; *s; s++)
        if (!name_char(*s))
            return false;
    return true;
}

static int parse_pull_policy(struct svc *c)
{
    const struct cnode *v = spec_svc_get(c, "pull_policy");
    const char *s = NULL;
    if (v == NULL)
        return 0;
    if (spec_cn_str(v, c->fpath, &s, c->err) < 0)
        return -1;
    struct spec_service *svc = c->s;
    if (strcmp(s, "missing") == 0 || strcmp(s, "if_not_present") == 0)
        svc->pull_policy = SPEC_PULL_MISSING;
    else if (strcmp(s, "always") == 0)
        svc->pull_policy = SPEC_PULL_ALWAYS;
    else if (strcmp(s, "never") == 0 || strcmp(s, "build") == 0)
        svc->pull_policy = SPEC_PULL_NEVER;
    else if (strcmp(s, "daily") == 0)
        svc->pull_policy = SPEC_PULL_EVERY, svc->pull_every_ns = INT64_C(86400000000000);
    else if (strcmp(s, "weekly") == 0)
        svc->pull_policy = SPEC_PULL_EVERY, svc->pull_every_ns = INT64_C(604800000000000);
    else if (strncmp(s, "every_", 6) == 0 &&
             m87_parse_duration(s + 6, &svc->pull_every_ns, NULL) == 0 && svc->pull_every_ns > 0)
        svc->pull_policy = SPEC_PULL_EVERY;
    else
        return spec_cn_error(v, c->err, "%s: invalid pull policy '%s'", c->fpath, s);
    return 0;
}

static int parse_names(struct svc *c)
{
    struct spec_service *s = c->s;
    if (spec_svc_str(c, "container_name", &s->container_name) < 0)
        return -1;
    if (s->container_name) {
        const char *name = s->container_name + (s->container_name[0] == '/');
        if (!valid_name(name, 2))
            return svc_error(c, "container_name", "invalid container name '%s'", s->container_name);
        memmove(s->container_name, name, strlen(name) + 1);
    }
    if (svc_strings(c, "profiles", &s->profiles) < 0)
        return -1;
    for (size_t i = 0; i < s->profiles.len; i++)
        if (!valid_name(s->profiles.items[i], 1))
            return svc_error(c, "profiles", "invalid profile name '%s'", s->profiles.items[i]);
    if (spec_svc_str(c, "working_dir", &s->working_dir) < 0)
        return -1;
    if (s->working_dir && s->working_dir[0] != '/')
        return svc_error(c, "working_dir", "path '%s' must be absolute", s->working_dir);
    if (spec_svc_str(c, "platform", &s->platform) < 0)
        return -1;
    if (s->platform && (*s->platform == '\0' || strpbrk(s->platform, " \t:") != NULL))
        return svc_error(c, "platform", "invalid platform '%s'", s->platform);
    return 0;
}

/* security_opt seccomp=FILE: dockerd wants the profile itself, so it is read here, relative to
 * the project directory, and must be JSON; "unconfined" and inline JSON pass as they are. */
static int read_seccomp(struct svc *c)
{
    const struct cnode *n = spec_svc_get(c, "security_opt");
    struct m87_strv *v = &c->s->security_opt;
    for (size_t i = 0; n && i < v->len && i < n->len; i++) {
        const char *opt = v->items[i];
        if (strncmp(opt, "seccomp", 7) != 0 || (opt[7] != '=' && opt[7] != ':'))
            continue;
        const char *file = opt + 8;
        if (strcmp(file, "unconfined") == 0 || file[0] == '{')
            continue;
        _cleanup_free_ char *ip = spec_cn_path_i(c->fpath, i);
        _cleanup_free_ char *abs = spec_loader_abspath(c->l, n->items[i], file, ip, c->err);
        if (abs == NULL)
            return -1;
        struct m87_error *e = NULL;
        size_t len = 0;
        _cleanup_free_ char *json = m87_read_file(abs, 1 << 20, &len, &e);
        _cleanup_(m87_json_freep) struct m87_json *doc =
            json ? m87_json_parse(json, len, &e) : NULL;
        if (doc == NULL) {
            int rc = e->sys_errno ? spec_cn_error(n->items[i], c->err,
                                                  "%s: cannot read seccomp profile '%s': %s", ip,
                                                  file, strerror(e->sys_errno))
                                  : spec_cn_error(n->items[i], c->err,
                                                  "%s: seccomp profile '%s': %s", ip, file, e->msg);
            m87_error_clear(&e);
            return rc;
        }
        free(v->items[i]);
        v->items[i] = m87_xasprintf("seccomp=%s", json);
        m87_strv_add(&c->s->seccomp_files, abs);
    }
    return 0;
}

static int parse_simple(struct svc *c)
{
    struct spec_service *s = c->s;
    if (spec_svc_str(c, "image", &s->image) < 0 || spec_svc_str(c, "user", &s->user) < 0 ||
        spec_svc_str(c, "hostname", &s->hostname) < 0 ||
        spec_svc_str(c, "domainname", &s->domainname) < 0 ||
        spec_svc_str(c, "stop_signal", &s->stop_signal) < 0 ||
        spec_svc_str(c, "cpuset", &s->cpuset) < 0 ||
        spec_svc_str(c, "volume_driver", &s->volume_driver) < 0 ||
        svc_bool(c, "read_only", &s->read_only) < 0 ||
        svc_bool(c, "privileged", &s->privileged) < 0 || svc_bool(c, "tty", &s->tty) < 0 ||
        svc_bool(c, "stdin_open", &s->stdin_open) < 0 ||
        svc_strings(c, "cap_add", &s->cap_add) < 0 ||
        svc_strings(c, "cap_drop", &s->cap_drop) < 0 ||
        svc_strings(c, "security_opt", &s->security_opt) < 0 ||
        svc_strings(c, "dns", &s->dns) < 0 || svc_strings(c, "dns_search", &s->dns_search) < 0 ||
        svc_strings(c, "dns_opt", &s->dns_opt) < 0 || parse_pull_policy(c) < 0 ||
        parse_names(c) < 0)
        return -1;
    if (s->image && *s->image == '\0')
        return svc_error(c, "image", "must not be empty");
    bool init;
    const struct cnode *v = spec_svc_get(c, "init");
    if (v) {
        if (spec_cn_bool(v, c->fpath, &init, c->err) < 0)
            return -1;
        s->init = init;
    }
    if ((v = spec_svc_get(c, "stop_grace_period")) &&
        spec_cn_duration(v, c->fpath, &s->stop_grace_ns, c->err) < 0)
        return -1;
    return 0;
}

static int parse_resources(struct svc *c)
{
    struct spec_service *s = c->s;
    const struct cnode *v;
    if (svc_bytes(c, "mem_limit", &s->mem_limit) < 0 ||
        svc_bytes(c, "mem_reservation", &s->mem_reservation) < 0 ||
        svc_bytes(c, "shm_size", &s->shm_size) < 0)
        return -1;
    if ((v = spec_svc_get(c, "memswap_limit"))) {
        if (v->type == M87_YAML_INT && strcmp(v->text, "-1") == 0)
            s->memswap_limit = -1;
        else if (spec_cn_bytes(v, c->fpath, &s->memswap_limit, c->err) < 0)
            return -1;
    }
    if ((v = spec_svc_get(c, "cpus")) && spec_cn_cpus(v, c->fpath, &s->nano_cpus, c->err) < 0)
        return -1;
    if ((v = spec_svc_get(c, "cpu_shares")) &&
        spec_cn_int_range(v, c->fpath, 0, 262144, &s->cpu_shares, c->err) < 0)
        return -1;
    if ((v = spec_svc_get(c, "pids_limit")) &&
        spec_cn_int_range(v, c->fpath, -1, INT64_MAX, &s->pids_limit, c->err) < 0)
        return -1;
    if ((v = spec_svc_get(c, "scale")) &&
        spec_cn_int_range(v, c->fpath, 0, SPEC_MAX_REPLICAS, &s->replicas, c->err) < 0)
        return -1;
    return 0;
}

/* ---- checks across fields ----------------------------------------------------------------------
 */

static int check_memory(struct svc *c)
{
    const struct spec_service *s = c->s;
    if (s->memswap_limit == SPEC_UNSET || s->memswap_limit == -1)
        return 0;
    const struct cnode *v = spec_svc_get(c, "memswap_limit");
    if (v == NULL)
        v = c->def;
    if (s->mem_limit == SPEC_UNSET)
        return spec_cn_error(v, c->err, "%s.memswap_limit: needs a memory limit (mem_limit)",
                             c->path);
    if (s->memswap_limit < s->mem_limit)
        return spec_cn_error(
            v, c->err, "%s.memswap_limit: must be at least the memory limit (%lld bytes), or -1",
            c->path, (long long)s->mem_limit);
    return 0;
}

static int check_service(struct svc *c)
{
    const struct spec_service *s = c->s;
    if (s->image == NULL)
        return spec_cn_key_error(c->def, c->err, "%s: missing required field 'image'", c->path);
    if (s->container_name && s->replicas > 1)
        return svc_error(c, "container_name", "a fixed container name allows one replica, not %lld",
                         (long long)s->replicas);
    return check_memory(c);
}

/* ---- the service -------------------------------------------------------------------------------
 */

void spec_compose_service_init(struct spec_service *s)
{
    memset(s, 0, sizeof(*s));
    m87_strv_init(&s->command);
    m87_strv_init(&s->entrypoint);
    m87_kvlist_init(&s->environment);
    m87_strv_init(&s->env_files);
    m87_strv_init(&s->expose);
    m87_kvlist_init(&s->tmpfs);
    m87_kvlist_init(&s->labels);
    m87_strv_init(&s->label_files);
    m87_kvlist_init(&s->annotations);
    m87_strv_init(&s->cap_add);
    m87_strv_init(&s->cap_drop);
    m87_strv_init(&s->security_opt);
    m87_strv_init(&s->seccomp_files);
    m87_kvlist_init(&s->sysctls);
    m87_kvlist_init(&s->log_options);
    m87_strv_init(&s->extra_hosts);
    m87_strv_init(&s->dns);
    m87_strv_init(&s->dns_search);
    m87_strv_init(&s->dns_opt);
    m87_strv_init(&s->profiles);
    m87_strv_init(&s->healthcheck.test);
    m87_strv_init(&s->group_add);
    m87_strv_init(&s->device_cgroup_rules);
    m87_kvlist_init(&s->storage_opt);
    m87_strv_init(&s->volumes_from);
    m87_strv_init(&s->links);
    m87_strv_init(&s->external_links);
    s->replicas = 1;
    s->mem_limit = s->memswap_limit = s->mem_reservation = SPEC_UNSET;
    s->nano_cpus = s->cpu_shares = s->pids_limit = s->shm_size = SPEC_UNSET;
    s->healthcheck.interval_ns = s->healthcheck.timeout_ns = SPEC_UNSET;
    s->healthcheck.start_period_ns = s->healthcheck.retries = SPEC_UNSET;
    s->healthcheck.start_interval_ns = SPEC_UNSET;
    s->init = -1;
    s->stop_grace_ns = SPEC_UNSET;
    s->oom_score_adj = s->mem_swappiness = SPEC_UNSET;
    s->cpu_period = s->cpu_quota = s->cpu_rt_period = s->cpu_rt_runtime = SPEC_UNSET;
    s->oom_kill_disable = -1;
    s->blkio_weight = SPEC_UNSET;
}

int spec_compose_service_parse(struct loader *l, const struct cnode *def, struct spec_service *s,
                               struct m87_error **err)
{
    _cleanup_free_ char *path = spec_cn_path("services", def->key);
    s->name = m87_xstrdup(def->key);
    s->pos.file = m87_xstrdup(def->file);
    s->pos.line = def->key_line;
    s->pos.column = def->key_column;
    if (!valid_name(def->key, 1))
        return spec_cn_key_error(def, err, "services: invalid service name '%s'", def->key);
    if (spec_cn_keys(def, path, service_fields, service_unsupported, err) < 0)
        return -1;
    struct svc c = {.l = l, .def = def, .path = path, .s = s, .err = err};
    int rc = -1;
    if (parse_simple(&c) == 0 && parse_resources(&c) == 0 && spec_svc_process(&c) == 0 &&
        spec_svc_runtime(&c) == 0 && spec_svc_host(&c) == 0 && spec_svc_links(&c) == 0 &&
        spec_svc_hooks(&c) == 0 && spec_svc_blkio(&c) == 0 && read_seccomp(&c) == 0)
        rc = 0;
    const struct cnode *v;
    if (rc == 0 && (v = spec_svc_get(&c, "ports")))
        rc = spec_compose_ports_parse(v, c.fpath, s, err);
    if (rc == 0 && (v = spec_svc_get(&c, "expose")))
        rc = spec_compose_expose_parse(v, c.fpath, s, err);
    if (rc == 0 && (v = spec_svc_get(&c, "volumes")))
        rc = spec_compose_volumes_parse(l, v, c.fpath, s, err);
    if (rc == 0 && (v = spec_svc_get(&c, "tmpfs")))
        rc = spec_compose_tmpfs_parse(v, c.fpath, s, err);
    if (rc == 0 && (v = spec_svc_get(&c, "devices")))
        rc = spec_compose_devices_parse(v, c.fpath, s, err);
    if (rc == 0)
        rc = check_service(&c);
    free(c.fpath);
    return rc;
}

static void ports_free(struct spec_port *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].published);
        free(v[i].host_ip);
        free(v[i].protocol);
        free(v[i].mode);
        free(v[i].name);
        free(v[i].app_protocol);
    }
    free(v);
}

static void refs_free(struct spec_file_ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].source);
        free(v[i].target);
        free(v[i].uid);
        free(v[i].gid);
    }
    free(v);
}

static void release_lists(struct spec_service *s)
{
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].source);
        free(s->mounts[i].target);
        free(s->mounts[i].selinux);
        free(s->mounts[i].propagation);
    }
    free(s->mounts);
    for (size_t i = 0; i < s->n_networks; i++) {
        free(s->networks[i].key);
        m87_strv_release(&s->networks[i].aliases);
        free(s->networks[i].ipv4_address);
        free(s->networks[i].ipv6_address);
    }
    free(s->networks);
    for (size_t i = 0; i < s->n_depends; i++)
        free(s->depends[i].service);
    free(s->depends);
    for (size_t i = 0; i < s->n_ulimits; i++)
        free(s->ulimits[i].name);
    free(s->ulimits);
    for (size_t i = 0; i < s->n_devices; i++) {
        free(s->devices[i].host_path);
        free(s->devices[i].container_path);
        free(s->devices[i].permissions);
    }
    free(s->devices);
    for (size_t i = 0; i < s->n_device_requests; i++) {
        free(s->device_requests[i].driver);
        m87_strv_release(&s->device_requests[i].device_ids);
        m87_strv_release(&s->device_requests[i].capabilities);
        m87_kvlist_release(&s->device_requests[i].options);
    }
    free(s->device_requests);
    spec_compose_hooks_free(s->post_start, s->n_post_start);
    spec_compose_hooks_free(s->pre_stop, s->n_pre_stop);
    spec_compose_blkio_release(s);
    ports_free(s->ports, s->n_ports);
    refs_free(s->configs, s->n_configs);
    refs_free(s->secrets, s->n_secrets);
}

void spec_compose_service_release(struct spec_service *s)
{
    release_lists(s);
    char **strs[] = {
        &s->name,        &s->pos.file,      &s->image,        &s->platform,       &s->network_mode,
        &s->restart,     &s->cpuset,        &s->user,         &s->working_dir,    &s->hostname,
        &s->domainname,  &s->log_driver,    &s->stop_signal,  &s->container_name, &s->runtime,
        &s->mac_address, &s->cgroup_parent, &s->uts,          &s->userns_mode,    &s->cgroup,
        &s->pid,         &s->ipc,           &s->volume_driver};
    for (size_t i = 0; i < M87_ARRAY_LEN(strs); i++)
        free(*strs[i]);
    struct m87_strv *strvs[] = {&s->command,        &s->entrypoint,
                                &s->env_files,      &s->expose,
                                &s->cap_add,        &s->cap_drop,
                                &s->security_opt,   &s->seccomp_files,
                                &s->extra_hosts,    &s->dns,
                                &s->dns_search,     &s->dns_opt,
                                &s->profiles,       &s->healthcheck.test,
                                &s->group_add,      &s->device_cgroup_rules,
                                &s->volumes_from,   &s->links,
                                &s->external_links, &s->label_files};
    for (size_t i = 0; i < M87_ARRAY_LEN(strvs); i++)
        m87_strv_release(strvs[i]);
    struct m87_kvlist *kvs[] = {&s->environment, &s->tmpfs,       &s->labels,     &s->sysctls,
                                &s->log_options, &s->storage_opt, &s->annotations};
    for (size_t i = 0; i < M87_ARRAY_LEN(kvs); i++)
        m87_kvlist_release(kvs[i]);
    spec_compose_service_init(s);
}
