/* The HostConfig members of a create body that tune the kernel's view of the container: groups,
 * device cgroup rules, runtime, OOM, swappiness, CPU periods, cgroup parent, the pid, ipc,
 * uts, user and cgroup namespaces, block IO weights and throttles, the volume driver; and those
 * that name other containers: VolumesFrom, Links. Only scalars and lists, each left out when unset,
 * so that the body (and the hash taken of it) of a service without them is what it was before they
 * existed. */
#include <stdlib.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/spec-service.h"

static void int_member(struct m87_jw *w, const char *key, int64_t v)
{
    if (v != SPEC_UNSET)
        m87_jw_kint(w, key, v);
}

static void strv_member(struct m87_jw *w, const char *key, const struct m87_strv *v)
{
    if (v->len == 0)
        return;
    m87_jw_key(w, key);
    m87_jw_strv(w, v);
}

/* The hash takes links as written: which containers a linked service has (its scale) is no
 * reason to recreate the one linking to it. */
static void write_links(struct m87_jw *w, const struct spec_service *s,
                        const struct compose_body_opts *o, const struct compose_instance *in)
{
    if (in && o && o->links) {
        strv_member(w, "Links", o->links);
        return;
    }
    if (s->links.len + s->external_links.len == 0)
        return;
    m87_jw_key(w, "Links");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < s->links.len; i++)
        m87_jw_str(w, s->links.items[i]);
    for (size_t i = 0; i < s->external_links.len; i++) {
        _cleanup_free_ char *e = m87_xasprintf("external:%s", s->external_links.items[i]);
        m87_jw_str(w, e);
    }
    m87_jw_arr_close(w);
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp((*(const struct m87_kv *const *)a)->key, (*(const struct m87_kv *const *)b)->key);
}

/* Sorted by key, so that the hash does not depend on the order the file has them in. */
static void write_sorted_map(struct m87_jw *w, const struct m87_kvlist *l)
{
    _cleanup_free_ const struct m87_kv **v = m87_xcalloc(l->len ? l->len : 1, sizeof(*v));
    for (size_t i = 0; i < l->len; i++)
        v[i] = &l->items[i];
    qsort(v, l->len, sizeof(*v), kv_cmp);
    m87_jw_obj_open(w);
    for (size_t i = 0; i < l->len; i++)
        m87_jw_kstr(w, v[i]->key, v[i]->value ? v[i]->value : "");
    m87_jw_obj_close(w);
}

/* As compose v2: [{Driver, Count, DeviceIDs, Capabilities: [[...]], Options}]. */
static void write_device_requests(struct m87_jw *w, const struct spec_service *s)
{
    if (s->n_device_requests == 0)
        return;
    m87_jw_key(w, "DeviceRequests");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < s->n_device_requests; i++) {
        const struct spec_device_request *d = &s->device_requests[i];
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "Driver", d->driver ? d->driver : "");
        m87_jw_kint(w, "Count", d->count);
        strv_member(w, "DeviceIDs", &d->device_ids);
        m87_jw_key(w, "Capabilities");
        m87_jw_arr_open(w);
        m87_jw_strv(w, &d->capabilities);
        m87_jw_arr_close(w);
        if (d->options.len > 0) {
            m87_jw_key(w, "Options");
            write_sorted_map(w, &d->options);
        }
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
}

/* HostConfig's members of blkio_config's lists, by enum spec_blkio_list. */
static const char *const blkio_members[SPEC_BLKIO_N] = {
    "BlkioWeightDevice",   "BlkioDeviceReadBps",   "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
};

static void write_blkio(struct m87_jw *w, const struct spec_service *s)
{
    int_member(w, "BlkioWeight", s->blkio_weight);
    for (int i = 0; i < SPEC_BLKIO_N; i++) {
        if (s->blkio[i].n == 0)
            continue;
        m87_jw_key(w, blkio_members[i]);
        m87_jw_arr_open(w);
        for (size_t j = 0; j < s->blkio[i].n; j++) {
            m87_jw_obj_open(w);
            m87_jw_kstr(w, "Path", s->blkio[i].v[j].path);
            m87_jw_kint(w, i == SPEC_BLKIO_WEIGHT_DEVICE ? "Weight" : "Rate",
                        s->blkio[i].v[j].value);
            m87_jw_obj_close(w);
        }
        m87_jw_arr_close(w);
    }
}

void compose_write_host_kernel(struct m87_jw *w, const struct spec_service *s,
                               const struct compose_body_opts *o, const struct compose_instance *in)
{
    if (o && o->volumes_from)
        strv_member(w, "VolumesFrom", o->volumes_from);
    else
        strv_member(w, "VolumesFrom", &s->volumes_from);
    write_links(w, s, o, in);
    write_device_requests(w, s);
    strv_member(w, "GroupAdd", &s->group_add);
    strv_member(w, "DeviceCgroupRules", &s->device_cgroup_rules);
    m87_jw_kstr_opt(w, "Runtime", s->runtime);
    int_member(w, "OomScoreAdj", s->oom_score_adj);
    if (s->oom_kill_disable >= 0)
        m87_jw_kbool(w, "OomKillDisable", s->oom_kill_disable != 0);
    int_member(w, "MemorySwappiness", s->mem_swappiness);
    int_member(w, "CpuPeriod", s->cpu_period);
    int_member(w, "CpuQuota", s->cpu_quota);
    int_member(w, "CpuRealtimePeriod", s->cpu_rt_period);
    int_member(w, "CpuRealtimeRuntime", s->cpu_rt_runtime);
    m87_jw_kstr_opt(w, "CgroupParent", s->cgroup_parent);
    m87_jw_kstr_opt(w, "PidMode", o && o->pid_mode ? o->pid_mode : s->pid);
    m87_jw_kstr_opt(w, "IpcMode", o && o->ipc_mode ? o->ipc_mode : s->ipc);
    m87_jw_kstr_opt(w, "UTSMode", s->uts);
    m87_jw_kstr_opt(w, "UsernsMode", s->userns_mode);
    m87_jw_kstr_opt(w, "CgroupnsMode", s->cgroup);
    write_blkio(w, s);
    m87_jw_kstr_opt(w, "VolumeDriver", s->volume_driver);
    if (s->annotations.len > 0) { /* API 1.43 */
        m87_jw_key(w, "Annotations");
        write_sorted_map(w, &s->annotations);
    }
}

/* The fields that need a newer Engine API than the lowest m87 speaks, with that version. */
static const char *needs_api(const struct spec_service *s, const char **field)
{
    if (s->has_healthcheck && !s->healthcheck.disable &&
        s->healthcheck.start_interval_ns != SPEC_UNSET) {
        *field = "healthcheck.start_interval";
        return "1.44";
    }
    if (s->annotations.len > 0) {
        *field = "annotations";
        return "1.43";
    }
    return NULL;
}

int compose_check_api(const struct spec_project *p, const bool *selected, const char *api,
                      struct m87_error **err)
{
    for (size_t i = 0; i < p->n_services; i++) {
        const char *field = NULL;
        const char *need = selected && !selected[i] ? NULL : needs_api(&p->services[i], &field);
        if (need && (api == NULL || engine_version_cmp(api, need) < 0))
            return m87_error_set(err, M87_E_VERSION, 0,
                                 "service '%s': %s needs Engine API %s, and dockerd speaks %s",
                                 p->services[i].name, field, need, api ? api : "(unknown)");
    }
    return 0;
}

/* On a user-defined network dockerd keeps link aliases on the endpoint, where compose v2 sends
 * them (HostConfig.Links is dropped there); the hash has them in HostConfig. From API 1.44 the
 * MAC address goes on the primary endpoint, as v2 sends it (Config.MacAddress is deprecated). */
void compose_write_endpoint_more(struct m87_jw *w, const struct spec_service *s,
                                 const struct compose_body_opts *o,
                                 const struct compose_instance *in, bool primary)
{
    if (in == NULL || o == NULL)
        return;
    if (o->links)
        strv_member(w, "Links", o->links);
    if (primary && o->all_endpoints)
        m87_jw_kstr_opt(w, "MacAddress", s->mac_address);
}
