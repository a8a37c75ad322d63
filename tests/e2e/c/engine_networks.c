/* End-to-end: networks and volumes against the real dockerd. */
#include <stdio.h>
#include <string.h>

#include "e2e-util.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-containers.h"
#include "m87/engine-exec.h"
#include "m87/engine-networks.h"
#include "m87/engine-volumes.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

/* A /24 out of 172.29.0.0/16 per process and network, so that runs side by side and a network
 * left by a failed test do not collide; the harness gives dockerd 10.x pools for what it picks
 * itself. */
static void pick_subnet(char *subnet, size_t len, char *prefix, size_t plen)
{
    static unsigned counter;
    unsigned x = 16 + ((unsigned)getpid() % 56) * 4 + counter++ % 4;
    snprintf(prefix, plen, "172.29.%u.", x);
    snprintf(subnet, len, "172.29.%u.0/24", x);
}

static bool strv_has(const struct m87_strv *v, const char *s)
{
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->items[i], s) == 0)
            return true;
    return false;
}

struct test_net {
    char *name;
    char *id;
    char subnet[32];
    char prefix[24];
};

/* With own_subnet, a subnet picked here; without, dockerd picks one from the harness's pool,
 * the only addresses whose bridged traffic the harness lets through the host's firewall. */
static void net_create(struct engine_client *c, struct test_net *n, const char *prefix,
                       bool own_subnet)
{
    struct m87_error *err = NULL;
    n->name = e2e_name(prefix);
    pick_subnet(n->subnet, sizeof(n->subnet), n->prefix, sizeof(n->prefix));
    _cleanup_free_ char *gw = m87_xasprintf("%s1", n->prefix);
    struct engine_ipam_pool pool = {.subnet = n->subnet, .gateway = gw};
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    m87_kvlist_add(&labels, "m87.e2e.net", n->name);
    m87_kvlist_add(&labels, "tier", "front");
    struct engine_network_config cfg = {.name = n->name,
                                        .labels = &labels,
                                        .pools = &pool,
                                        .n_pools = own_subnet ? 1 : 0,
                                        .attachable = true};
    assert_ok(engine_network_create(c, &cfg, &n->id, &err), &err);
    m87_kvlist_release(&labels);
}

static void net_release(struct engine_client *c, struct test_net *n)
{
    struct m87_error *err = NULL;
    if (n->id && engine_network_remove(c, n->id, &err) < 0 && m87_error_code(err) != M87_E_NOTFOUND)
        fail_msg("remove network: %s", err->msg);
    m87_error_clear(&err);
    free(n->name);
    free(n->id);
}

static void test_network_create_inspect_list(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    struct test_net n = {0};
    net_create(c, &n, "net", true);
    assert_int_equal(strlen(n.id), 64);

    struct engine_network_info *info = NULL;
    assert_ok(engine_network_inspect(c, n.name, &info, &err), &err);
    assert_string_equal(info->id, n.id);
    assert_string_equal(info->name, n.name);
    assert_string_equal(info->driver, "bridge");
    assert_string_equal(info->scope, "local");
    assert_false(info->internal);
    assert_string_equal(m87_kvlist_get(&info->labels, "m87.e2e.net"), n.name);
    assert_string_equal(m87_kvlist_get(&info->labels, "tier"), "front");
    assert_int_equal(info->containers.len, 0);
    engine_network_info_free(info);

    info = NULL;
    assert_ok(engine_network_inspect(c, n.id, &info, &err), &err);
    assert_string_equal(info->name, n.name);
    engine_network_info_free(info);

    /* dockerd finds the network by this ID prefix; we do not take it for a name */
    char short_id[13];
    snprintf(short_id, sizeof(short_id), "%s", n.id);
    info = NULL;
    assert_int_equal(engine_network_inspect(c, short_id, &info, &err), -1);
    assert_null(info);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);

    /* CheckDuplicate makes a second network of the same name a conflict */
    struct engine_network_config again = {.name = n.name};
    _cleanup_free_ char *id2 = NULL;
    assert_int_equal(engine_network_create(c, &again, &id2, &err), -1);
    assert_null(id2);
    assert_int_equal(m87_error_code(err), M87_E_CONFLICT);
    assert_int_equal(err->http_status, 409);
    m87_error_clear(&err);

    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "tier=front");
    m87_kvlist_add(&filters, "label", "m87.e2e.net");
    struct engine_network_info *v = NULL;
    size_t count = 0;
    assert_ok(engine_network_list(c, &filters, &v, &count, &err), &err);
    bool found = false;
    for (size_t i = 0; i < count; i++) {
        assert_non_null(m87_kvlist_get(&v[i].labels, "m87.e2e.net"));
        found = found || strcmp(v[i].id, n.id) == 0;
    }
    assert_true(found);
    engine_network_infos_free(v, count);
    m87_kvlist_release(&filters);

    /* a label nobody has lists nothing */
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "m87.e2e.net=nobody-has-this");
    assert_ok(engine_network_list(c, &filters, &v, &count, &err), &err);
    assert_int_equal(count, 0);
    engine_network_infos_free(v, count);
    m87_kvlist_release(&filters);

    assert_ok(engine_network_remove(c, n.id, &err), &err);
    info = NULL;
    assert_int_equal(engine_network_inspect(c, n.id, &info, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
    net_release(c, &n);
}

static void test_network_connect_disconnect(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    const char *image = e2e_env("M87_TEST_IMAGE_SMALL");
    e2e_ensure_image(c, image);
    struct test_net n = {0};
    net_create(c, &n, "netc", true);
    _cleanup_free_ char *cname = e2e_name("netc-ctr");
    _cleanup_free_ char *cid = e2e_create(c, cname, image, NULL, NULL);

    struct m87_strv aliases;
    m87_strv_init(&aliases);
    m87_strv_add(&aliases, "web");
    _cleanup_free_ char *ip = m87_xasprintf("%s50", n.prefix);
    struct engine_endpoint_config ep = {.aliases = &aliases, .ipv4_address = ip};
    assert_ok(engine_network_connect(c, n.id, cid, &ep, &err), &err);
    m87_strv_release(&aliases);

    struct engine_container_info *ci = NULL;
    assert_ok(engine_container_inspect(c, cid, &ci, &err), &err);
    assert_true(strv_has(&ci->networks, n.name));
    const struct m87_json *epj =
        m87_json_path(ci->raw, "NetworkSettings", "Networks", n.name, NULL);
    assert_string_equal(m87_json_str(m87_json_path(epj, "IPAMConfig", "IPv4Address", NULL), ""),
                        ip);
    engine_container_info_free(ci);

    assert_ok(engine_container_start(c, cid, &err), &err);
    struct engine_network_info *info = NULL;
    assert_ok(engine_network_inspect(c, n.name, &info, &err), &err);
    assert_true(strv_has(&info->containers, cid));
    engine_network_info_free(info);

    assert_int_equal(engine_network_remove(c, n.id, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_HTTP);
    assert_int_equal(err->http_status, 403);
    m87_error_clear(&err);

    assert_ok(engine_network_disconnect(c, n.id, cid, false, &err), &err);
    ci = NULL;
    assert_ok(engine_container_inspect(c, cid, &ci, &err), &err);
    assert_false(strv_has(&ci->networks, n.name));
    engine_container_info_free(ci);
    /* disconnecting again: the container is no longer on it */
    assert_int_equal(engine_network_disconnect(c, n.id, cid, false, &err), -1);
    m87_error_clear(&err);

    assert_ok(engine_network_remove(c, n.id, &err), &err);
    e2e_remove(c, cid);
    net_release(c, &n);
}

static void test_volumes(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("vol");
    struct m87_kvlist labels, opts;
    m87_kvlist_init(&labels);
    m87_kvlist_add(&labels, "m87.e2e.vol", name);
    m87_kvlist_init(&opts);
    m87_kvlist_add(&opts, "type", "tmpfs");
    m87_kvlist_add(&opts, "device", "tmpfs");
    m87_kvlist_add(&opts, "o", "size=1m");
    struct engine_volume_config cfg = {.name = name, .driver_opts = &opts, .labels = &labels};
    struct engine_volume_info *v = NULL;
    assert_ok(engine_volume_create(c, &cfg, &v, &err), &err);
    assert_string_equal(v->name, name);
    assert_string_equal(v->driver, "local");
    assert_string_equal(m87_kvlist_get(&v->labels, "m87.e2e.vol"), name);
    assert_string_equal(m87_kvlist_get(&v->options, "o"), "size=1m");
    assert_non_null(strstr(v->mountpoint, name));
    engine_volume_info_free(v);

    /* the same name again hands back the volume as it is, labels not updated */
    struct m87_kvlist other;
    m87_kvlist_init(&other);
    m87_kvlist_add(&other, "m87.e2e.other", "x");
    struct engine_volume_config again = {.name = name, .labels = &other};
    v = NULL;
    assert_ok(engine_volume_create(c, &again, &v, &err), &err);
    assert_string_equal(m87_kvlist_get(&v->labels, "m87.e2e.vol"), name);
    assert_false(m87_kvlist_has(&v->labels, "m87.e2e.other"));
    engine_volume_info_free(v);
    m87_kvlist_release(&other);

    v = NULL;
    assert_ok(engine_volume_inspect(c, name, &v, &err), &err);
    assert_string_equal(m87_kvlist_get(&v->options, "type"), "tmpfs");
    engine_volume_info_free(v);

    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    _cleanup_free_ char *lf = m87_xasprintf("m87.e2e.vol=%s", name);
    m87_kvlist_add(&filters, "label", lf);
    size_t count = 0;
    assert_ok(engine_volume_list(c, &filters, &v, &count, &err), &err);
    assert_int_equal(count, 1);
    assert_string_equal(v[0].name, name);
    engine_volume_infos_free(v, count);
    m87_kvlist_release(&filters);

    /* in use by a container, even a stopped one: conflict, with and without force */
    const char *image = e2e_env("M87_TEST_IMAGE_SMALL");
    e2e_ensure_image(c, image);
    _cleanup_free_ char *bind = m87_xasprintf("%s:/data", name);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Image", image);
    m87_jw_key(w, "HostConfig");
    m87_jw_obj_open(w);
    m87_jw_key(w, "Binds");
    m87_jw_arr_open(w);
    m87_jw_str(w, bind);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *cname = e2e_name("vol-ctr");
    _cleanup_free_ char *cid = NULL;
    assert_ok(engine_container_create(c, cname, NULL, body, &cid, &err), &err);
    assert_int_equal(engine_volume_remove(c, name, false, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_CONFLICT);
    m87_error_clear(&err);
    assert_int_equal(engine_volume_remove(c, name, true, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_CONFLICT);
    m87_error_clear(&err);
    e2e_remove(c, cid);

    assert_ok(engine_volume_remove(c, name, false, &err), &err);
    v = NULL;
    assert_int_equal(engine_volume_inspect(c, name, &v, &err), -1);
    assert_null(v);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
    assert_int_equal(engine_volume_remove(c, name, false, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
    m87_kvlist_release(&labels);
    m87_kvlist_release(&opts);
}

static void test_missing(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    struct engine_network_info *n = NULL;
    assert_int_equal(engine_network_inspect(c, "m87e2e-no-such-network", &n, &err), -1);
    assert_null(n);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    assert_int_equal(err->http_status, 404);
    m87_error_clear(&err);
    struct engine_volume_info *v = NULL;
    assert_int_equal(engine_volume_inspect(c, "m87e2e-no-such-volume", &v, &err), -1);
    assert_null(v);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
    assert_int_equal(engine_network_remove(c, "m87e2e-no-such-network", &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
}

/* Last: it needs exec as well. Another container on the network reaches the first by alias. */
static void test_alias_resolves(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    const char *image = e2e_env("M87_TEST_IMAGE_SMALL");
    e2e_ensure_image(c, image);
    struct test_net n = {0};
    net_create(c, &n, "neta", false);
    _cleanup_free_ char *name1 = e2e_name("neta-web");
    _cleanup_free_ char *name2 = e2e_name("neta-cli");
    _cleanup_free_ char *id1 = e2e_create(c, name1, image, NULL, NULL);
    _cleanup_free_ char *id2 = e2e_create(c, name2, image, NULL, NULL);

    struct m87_strv aliases;
    m87_strv_init(&aliases);
    m87_strv_add(&aliases, "m87web");
    struct engine_endpoint_config ep = {.aliases = &aliases};
    assert_ok(engine_network_connect(c, n.name, id1, &ep, &err), &err);
    assert_ok(engine_network_connect(c, n.name, id2, NULL, &err), &err);
    m87_strv_release(&aliases);
    assert_ok(engine_container_start(c, id1, &err), &err);
    assert_ok(engine_container_start(c, id2, &err), &err);
    struct engine_container_info *ci = NULL;
    assert_ok(engine_container_inspect(c, id1, &ci, &err), &err);
    _cleanup_free_ char *ip = m87_xstrdup(m87_json_str(
        m87_json_path(ci->raw, "NetworkSettings", "Networks", n.name, "IPAddress", NULL), ""));
    engine_container_info_free(ci);
    assert_true(strlen(ip) > 0);

    /* busybox's nslookup asks the resolver in /etc/resolv.conf itself, dockerd's embedded DNS
     * here, where a static libc's getaddrinfo would not */
    struct m87_strv argv;
    m87_strv_init(&argv);
    m87_strv_add(&argv, "nslookup");
    m87_strv_add(&argv, "m87web");
    struct engine_exec_config xc = {.argv = &argv};
    struct m87_buf out, errout;
    m87_buf_init(&out, 0);
    m87_buf_init(&errout, 0);
    int code = -1;
    assert_ok(engine_exec_run(c, id2, &xc, 64 * 1024, &out, &errout, &code, &err), &err);
    if (code != 0 || strstr(out.data ? out.data : "", ip) == NULL)
        fail_msg("nslookup m87web: exit %d, stdout '%s', stderr '%s'", code,
                 out.data ? out.data : "", errout.data ? errout.data : "");
    m87_strv_release(&argv);

    /* and the address it resolves to answers over the network */
    m87_strv_init(&argv);
    m87_strv_add(&argv, "ping");
    m87_strv_add(&argv, "-c1");
    m87_strv_add(&argv, "-W5");
    m87_strv_add(&argv, ip);
    assert_ok(engine_exec_run(c, id2, &xc, 64 * 1024, &out, &errout, &code, &err), &err);
    if (code != 0)
        fail_msg("ping %s: exit %d, stdout '%s', stderr '%s'", ip, code, out.data ? out.data : "",
                 errout.data ? errout.data : "");
    m87_buf_release(&out);
    m87_buf_release(&errout);
    m87_strv_release(&argv);

    e2e_remove(c, id1);
    e2e_remove(c, id2);
    net_release(c, &n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_create_inspect_list),
        cmocka_unit_test(test_network_connect_disconnect),
        cmocka_unit_test(test_volumes),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_alias_resolves),
    };
    return cmocka_run_group_tests_name("engine networks and volumes (e2e)", tests, NULL, NULL);
}
