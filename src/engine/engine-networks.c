/* Networks: create, inspect, list, connect, disconnect, remove. */
#include <string.h>
#include <unistd.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-call.h"
#include "m87/engine-networks.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"

static void write_pools(struct m87_jw *w, const struct engine_ipam_pool *pools, size_t n)
{
    m87_jw_key(w, "Config");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        m87_jw_obj_open(w);
        if (pools[i].subnet)
            m87_jw_kstr(w, "Subnet", pools[i].subnet);
        if (pools[i].ip_range)
            m87_jw_kstr(w, "IPRange", pools[i].ip_range);
        if (pools[i].gateway)
            m87_jw_kstr(w, "Gateway", pools[i].gateway);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
}

static void write_kvlist_member(struct m87_jw *w, const char *key, const struct m87_kvlist *l)
{
    if (l == NULL)
        return;
    m87_jw_key(w, key);
    m87_jw_kvlist(w, l);
}

#define NETWORK_CREATE_ATTEMPTS 4
#define NETWORK_CREATE_RETRY_US 200000

static char *network_create_body(const struct engine_network_config *cfg)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Name", cfg->name);
    /* without it dockerd 20.10 happily makes a second network of the same name */
    m87_jw_kbool(w, "CheckDuplicate", true);
    m87_jw_kstr(w, "Driver", cfg->driver ? cfg->driver : "bridge");
    m87_jw_kbool(w, "Internal", cfg->internal);
    m87_jw_kbool(w, "Attachable", cfg->attachable);
    m87_jw_kbool(w, "EnableIPv6", cfg->enable_ipv6);
    m87_jw_key(w, "IPAM");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Driver", cfg->ipam_driver ? cfg->ipam_driver : "default");
    write_pools(w, cfg->pools, cfg->n_pools);
    write_kvlist_member(w, "Options", cfg->ipam_options);
    m87_jw_obj_close(w);
    write_kvlist_member(w, "Options", cfg->options);
    write_kvlist_member(w, "Labels", cfg->labels);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

int engine_network_create(struct engine_client *c, const struct engine_network_config *cfg,
                          char **id, struct m87_error **err)
{
    if (cfg == NULL || cfg->name == NULL || cfg->name[0] == '\0')
        return m87_error_set(err, M87_E_INVAL, 0, "create network: a name is required");
    _cleanup_free_ char *body = network_create_body(cfg);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    /* Podman (netavark) lists the host's interfaces and their routes to choose a subnet, and
     * answers 500 "route ip+net: no such network interface" when one of them goes away in
     * between: a VPN or a modem's interface coming and going on a device, other engines' bridges
     * in the tests. That answer is retried, a few times. */
    for (int attempt = 1;; attempt++) {
        if (engine_send_json(c, "POST", "/networks/create", body, &doc, err) == 0)
            break;
        if (attempt < NETWORK_CREATE_ATTEMPTS && err && *err && (*err)->http_status == 500 &&
            (*err)->msg && strstr((*err)->msg, "no such network interface")) {
            m87_log(M87_LOG_INFO, "create network '%s': %s; trying again", cfg->name, (*err)->msg);
            m87_error_clear(err);
            usleep(NETWORK_CREATE_RETRY_US);
            continue;
        }
        return m87_error_wrap(err, "create network '%s'", cfg->name);
    }
    const char *new_id = m87_json_str(m87_json_get(doc, "Id"), NULL);
    if (new_id == NULL || new_id[0] == '\0')
        return m87_error_set(err, M87_E_PARSE, 0, "create network '%s': answer has no Id",
                             cfg->name);
    const char *warning = m87_json_str(m87_json_get(doc, "Warning"), "");
    if (warning[0] != '\0')
        m87_log(M87_LOG_WARN, "create network '%s': %s", cfg->name, warning);
    if (id)
        *id = m87_xstrdup(new_id);
    return 0;
}

#define NETWORK(member, kind, ...)                                                                 \
    ENGINE_FIELD(struct engine_network_info, member, kind, __VA_ARGS__)
static const struct engine_field network_v[] = {
    NETWORK(id, STR, "Id"),
    NETWORK(name, STR, "Name"),
    NETWORK(driver, STR, "Driver"),
    NETWORK(scope, STR, "Scope"),
    NETWORK(internal, BOOL, "Internal"),
    NETWORK(labels, LABELS, "Labels"),
    /* Containers maps container ID to its endpoint */
    NETWORK(containers, KEYS, "Containers"),
};
static const struct engine_fields network_fields = {sizeof(struct engine_network_info), network_v,
                                                    M87_ARRAY_LEN(network_v)};

int engine_network_inspect(struct engine_client *c, const char *id_or_name,
                           struct engine_network_info **out, struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/networks/", id_or_name, NULL);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_object(c, path, "network", id_or_name, &doc, err) < 0)
        return -1;
    /* dockerd falls back to ID-prefix matching: "web" may find a network whose ID starts with
     * "web" when none is named so, which is never what a caller naming a network means */
    const char *name = m87_json_str(m87_json_get(doc, "Name"), "");
    const char *nid = m87_json_str(m87_json_get(doc, "Id"), "");
    if (strcmp(name, id_or_name) != 0 && strcmp(nid, id_or_name) != 0)
        return m87_error_set(err, M87_E_NOTFOUND, 0,
                             "inspect network '%s': no such network (only the ID of '%s' "
                             "starts with it)",
                             id_or_name, name);
    *out = engine_fields_new(&network_fields, doc);
    return 0;
}

void engine_network_info_free(struct engine_network_info *v)
{
    engine_fields_free(&network_fields, v);
}

int engine_network_list(struct engine_client *c, const struct m87_kvlist *filters,
                        struct engine_network_info **out, size_t *n, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_list(c, "/networks", filters, M87_JSON_ARRAY, "networks", &doc, err) < 0)
        return -1;
    *out = engine_fields_array(&network_fields, doc, n);
    return 0;
}

void engine_network_infos_free(struct engine_network_info *v, size_t n)
{
    engine_fields_array_free(&network_fields, v, n);
}

static void write_endpoint(struct m87_jw *w, const struct engine_endpoint_config *ep)
{
    m87_jw_key(w, "EndpointConfig");
    m87_jw_obj_open(w);
    if (ep->aliases) {
        m87_jw_key(w, "Aliases");
        m87_jw_strv(w, ep->aliases);
    }
    if (ep->ipv4_address || ep->ipv6_address) {
        m87_jw_key(w, "IPAMConfig");
        m87_jw_obj_open(w);
        if (ep->ipv4_address)
            m87_jw_kstr(w, "IPv4Address", ep->ipv4_address);
        if (ep->ipv6_address)
            m87_jw_kstr(w, "IPv6Address", ep->ipv6_address);
        m87_jw_obj_close(w);
    }
    if (ep->links) {
        m87_jw_key(w, "Links");
        m87_jw_strv(w, ep->links);
    }
    write_kvlist_member(w, "DriverOpts", ep->driver_opts);
    m87_jw_obj_close(w);
}

int engine_network_connect(struct engine_client *c, const char *network, const char *container,
                           const struct engine_endpoint_config *ep, struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Container", container);
    if (ep)
        write_endpoint(w, ep);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *path = engine_path_seg("/networks/", network, "/connect");
    if (engine_send_json(c, "POST", path, body, NULL, err) < 0)
        return m87_error_wrap(err, "connect container '%s' to network '%s'", container, network);
    return 0;
}

int engine_network_disconnect(struct engine_client *c, const char *network, const char *container,
                              bool force, struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Container", container);
    m87_jw_kbool(w, "Force", force);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *path = engine_path_seg("/networks/", network, "/disconnect");
    if (engine_send_json(c, "POST", path, body, NULL, err) < 0)
        return m87_error_wrap(err, "disconnect container '%s' from network '%s'", container,
                              network);
    return 0;
}

int engine_network_remove(struct engine_client *c, const char *id, struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/networks/", id, NULL);
    if (engine_send_json(c, "DELETE", path, NULL, NULL, err) < 0)
        return m87_error_wrap(err, "remove network '%s'", id);
    return 0;
}
