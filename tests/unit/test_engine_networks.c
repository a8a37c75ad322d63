/* Unit tests of the network and volume calls against recorded dockerd 20.10 answers. */
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/engine-networks.h"
#include "m87/engine-volumes.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "unit-util.h"

#define NET_ID "026b8d9cbe2b166a5d6531ef5b4b3a56ef3386e1644e7bf3c1173818a65a4346"
#define CONTAINER_ID "f3b00474b37292a4865819d638aa355e9488a75e3261cc1bf54c1abdede874be"

/* The replay checks method and path only; request bodies are what these calls are about, so
 * every body sent is kept here by a thin layer over the replay transport. */
static const struct engine_transport *replay_ops;
static struct m87_strv sent_bodies;

static int capture_request(void *tctx, const struct engine_request *req,
                           struct engine_response *resp, struct m87_error **err)
{
    _cleanup_free_ char *body = m87_xstrndup(req->body ? req->body : "", req->body_len);
    m87_strv_add(&sent_bodies, body);
    return replay_ops->request(tctx, req, resp, err);
}

static void capture_free(void *tctx)
{
    replay_ops->free(tctx);
}

static const struct engine_transport capture_transport = {
    .request = capture_request,
    .free = capture_free,
};

static struct engine_client *capture_client(const char *fixture)
{
    struct engine_client *c = unit_replay_client(fixture, 0);
    replay_ops = c->ops;
    c->ops = &capture_transport;
    m87_strv_release(&sent_bodies);
    m87_strv_init(&sent_bodies);
    return c;
}

/* The n-th body sent, parsed. */
static struct m87_json *sent_json(size_t n)
{
    assert_true(n < sent_bodies.len);
    struct m87_error *err = NULL;
    struct m87_json *doc = m87_json_parse(sent_bodies.items[n], strlen(sent_bodies.items[n]), &err);
    if (doc == NULL)
        fail_msg("body %zu is not JSON: %s", n, err->msg);
    return doc;
}

static void test_network_create(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = capture_client("networks-create.txt");
    struct m87_error *err = NULL;
    struct m87_kvlist labels, opts;
    m87_kvlist_init(&labels);
    m87_kvlist_add(&labels, "m87.test", "yes");
    m87_kvlist_add(&labels, "tier", "front");
    m87_kvlist_init(&opts);
    m87_kvlist_add(&opts, "com.docker.network.bridge.enable_icc", "true");
    struct engine_ipam_pool pool = {
        .subnet = "172.29.7.0/24", .ip_range = "172.29.7.128/25", .gateway = "172.29.7.1"};
    struct engine_network_config cfg = {
        .name = "rec-net",
        .attachable = true,
        .options = &opts,
        .labels = &labels,
        .pools = &pool,
        .n_pools = 1,
    };
    _cleanup_free_ char *id = NULL;
    assert_ok(engine_network_create(c, &cfg, &id, &err), &err);
    assert_string_equal(id, NET_ID);

    _cleanup_(m87_json_freep) struct m87_json *body = sent_json(0);
    assert_string_equal(m87_json_str(m87_json_get(body, "Name"), ""), "rec-net");
    assert_true(m87_json_bool(m87_json_get(body, "CheckDuplicate"), false));
    assert_string_equal(m87_json_str(m87_json_get(body, "Driver"), ""), "bridge");
    assert_true(m87_json_bool(m87_json_get(body, "Attachable"), false));
    assert_false(m87_json_bool(m87_json_get(body, "Internal"), true));
    assert_false(m87_json_bool(m87_json_get(body, "EnableIPv6"), true));
    assert_string_equal(m87_json_str(m87_json_path(body, "IPAM", "Driver", NULL), ""), "default");
    const struct m87_json *pools = m87_json_path(body, "IPAM", "Config", NULL);
    assert_int_equal(m87_json_len(pools), 1);
    const struct m87_json *p0 = m87_json_at(pools, 0);
    assert_string_equal(m87_json_str(m87_json_get(p0, "Subnet"), ""), "172.29.7.0/24");
    assert_string_equal(m87_json_str(m87_json_get(p0, "IPRange"), ""), "172.29.7.128/25");
    assert_string_equal(m87_json_str(m87_json_get(p0, "Gateway"), ""), "172.29.7.1");
    assert_string_equal(m87_json_str(m87_json_path(body, "Labels", "tier", NULL), ""), "front");
    assert_string_equal(
        m87_json_str(m87_json_path(body, "Options", "com.docker.network.bridge.enable_icc", NULL),
                     ""),
        "true");

    /* the same name again: dockerd's 409 becomes M87_E_CONFLICT */
    struct engine_network_config again = {.name = "rec-net", .driver = "bridge"};
    _cleanup_free_ char *id2 = NULL;
    assert_int_equal(engine_network_create(c, &again, &id2, &err), -1);
    assert_int_equal(err->code, M87_E_CONFLICT);
    assert_int_equal(err->http_status, 409);
    assert_string_equal(err->msg, "create network 'rec-net': dockerd answered 409: network with "
                                  "name rec-net already exists");
    assert_null(id2);
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);

    /* a nameless network is refused before anything is sent */
    struct engine_network_config nameless = {.driver = "bridge"};
    assert_int_equal(engine_network_create(c, &nameless, &id2, &err), -1);
    assert_int_equal(err->code, M87_E_INVAL);
    m87_error_clear(&err);
    m87_kvlist_release(&labels);
    m87_kvlist_release(&opts);
    m87_strv_release(&sent_bodies);
}

static void test_network_inspect(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("networks-inspect.txt", 0);
    struct m87_error *err = NULL;
    struct engine_network_info *n = NULL;
    assert_ok(engine_network_inspect(c, "rec-net", &n, &err), &err);
    assert_string_equal(n->id, NET_ID);
    assert_string_equal(n->name, "rec-net");
    assert_string_equal(n->driver, "bridge");
    assert_string_equal(n->scope, "local");
    assert_false(n->internal);
    assert_int_equal(n->labels.len, 2);
    assert_string_equal(m87_kvlist_get(&n->labels, "m87.test"), "yes");
    assert_string_equal(m87_kvlist_get(&n->labels, "tier"), "front");
    assert_int_equal(n->containers.len, 0);
    engine_network_info_free(n);

    n = NULL;
    assert_ok(engine_network_inspect(c, NET_ID, &n, &err), &err);
    assert_string_equal(n->name, "rec-net");
    engine_network_info_free(n);

    /* dockerd found the network by an ID prefix: not the network named "026b8d" */
    n = NULL;
    assert_int_equal(engine_network_inspect(c, "026b8d", &n, &err), -1);
    assert_null(n);
    assert_int_equal(err->code, M87_E_NOTFOUND);
    assert_non_null(strstr(err->msg, "inspect network '026b8d'"));
    m87_error_clear(&err);

    assert_int_equal(engine_network_inspect(c, "nonexist", &n, &err), -1);
    assert_int_equal(err->code, M87_E_NOTFOUND);
    assert_int_equal(err->http_status, 404);
    assert_string_equal(err->msg, "inspect network 'nonexist': dockerd answered 404: network "
                                  "nonexist not found");
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);
    engine_network_info_free(NULL);
}

static void test_network_list(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("networks-list.txt", 0);
    struct m87_error *err = NULL;
    struct engine_network_info *v = NULL;
    size_t n = 0;
    assert_ok(engine_network_list(c, NULL, &v, &n, &err), &err);
    assert_int_equal(n, 4);
    assert_string_equal(v[0].name, "none");
    assert_string_equal(v[0].driver, "null");
    assert_string_equal(v[2].name, "bridge");
    assert_int_equal(v[2].labels.len, 0);
    assert_string_equal(v[3].name, "rec-net");
    assert_string_equal(v[3].id, NET_ID);
    assert_string_equal(m87_kvlist_get(&v[3].labels, "tier"), "front");
    engine_network_infos_free(v, n);

    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "m87.test=yes");
    assert_ok(engine_network_list(c, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "rec-net");
    engine_network_infos_free(v, n);
    m87_kvlist_release(&filters);

    /* two values of one name go into one list: {"label":["a=b","c"]} */
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "a=b");
    m87_kvlist_add(&filters, "label", "c");
    assert_ok(engine_network_list(c, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 0);
    engine_network_infos_free(v, n);
    m87_kvlist_release(&filters);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_network_connect_remove(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = capture_client("networks-connect.txt");
    struct m87_error *err = NULL;
    struct m87_strv aliases;
    m87_strv_init(&aliases);
    m87_strv_add(&aliases, "web");
    m87_strv_add(&aliases, "www");
    struct engine_endpoint_config ep = {.aliases = &aliases, .ipv4_address = "172.29.7.200"};
    assert_ok(engine_network_connect(c, NET_ID, "rec-c1", &ep, &err), &err);
    m87_strv_release(&aliases);

    struct engine_network_info *n = NULL;
    assert_ok(engine_network_inspect(c, NET_ID, &n, &err), &err);
    assert_int_equal(n->containers.len, 1);
    assert_string_equal(n->containers.items[0], CONTAINER_ID);
    engine_network_info_free(n);

    assert_int_equal(engine_network_remove(c, NET_ID, &err), -1);
    assert_int_equal(err->code, M87_E_HTTP);
    assert_int_equal(err->http_status, 403);
    assert_non_null(strstr(err->msg, "has active endpoints"));
    assert_non_null(strstr(err->msg, "remove network '" NET_ID "'"));
    m87_error_clear(&err);

    assert_ok(engine_network_disconnect(c, NET_ID, "rec-c1", false, &err), &err);
    assert_ok(engine_network_remove(c, NET_ID, &err), &err);
    assert_int_equal(engine_network_remove(c, NET_ID, &err), -1);
    assert_int_equal(err->code, M87_E_NOTFOUND);
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);

    _cleanup_(m87_json_freep) struct m87_json *conn = sent_json(0);
    assert_string_equal(m87_json_str(m87_json_get(conn, "Container"), ""), "rec-c1");
    const struct m87_json *epj = m87_json_get(conn, "EndpointConfig");
    assert_int_equal(m87_json_len(m87_json_get(epj, "Aliases")), 2);
    assert_string_equal(m87_json_str(m87_json_at(m87_json_get(epj, "Aliases"), 1), ""), "www");
    assert_string_equal(m87_json_str(m87_json_path(epj, "IPAMConfig", "IPv4Address", NULL), ""),
                        "172.29.7.200");
    assert_null(m87_json_path(epj, "IPAMConfig", "IPv6Address", NULL));
    assert_null(m87_json_get(epj, "Links"));
    _cleanup_(m87_json_freep) struct m87_json *disc = sent_json(3);
    assert_string_equal(m87_json_str(m87_json_get(disc, "Container"), ""), "rec-c1");
    assert_int_equal(m87_json_type(m87_json_get(disc, "Force")), M87_JSON_BOOL);
    assert_false(m87_json_bool(m87_json_get(disc, "Force"), true));
    m87_strv_release(&sent_bodies);
}

static void test_volume_create(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = capture_client("volumes-create.txt");
    struct m87_error *err = NULL;
    struct m87_kvlist labels, opts;
    m87_kvlist_init(&labels);
    m87_kvlist_add(&labels, "m87.test", "yes");
    m87_kvlist_init(&opts);
    m87_kvlist_add(&opts, "type", "tmpfs");
    m87_kvlist_add(&opts, "device", "tmpfs");
    m87_kvlist_add(&opts, "o", "size=1m");
    struct engine_volume_config cfg = {.name = "rec-vol", .driver_opts = &opts, .labels = &labels};
    struct engine_volume_info *v = NULL;
    assert_ok(engine_volume_create(c, &cfg, &v, &err), &err);
    assert_string_equal(v->name, "rec-vol");
    assert_string_equal(v->driver, "local");
    assert_string_equal(v->scope, "local");
    assert_string_equal(v->mountpoint, "/tmp/dk.HWxe/data/volumes/rec-vol/_data");
    assert_string_equal(m87_kvlist_get(&v->labels, "m87.test"), "yes");
    assert_string_equal(m87_kvlist_get(&v->options, "o"), "size=1m");
    assert_int_equal(v->options.len, 3);
    engine_volume_info_free(v);

    /* idempotent: dockerd hands back the existing volume, its labels unchanged; out may be NULL */
    struct m87_kvlist other;
    m87_kvlist_init(&other);
    m87_kvlist_add(&other, "other", "x");
    struct engine_volume_config again = {.name = "rec-vol", .driver = "local", .labels = &other};
    assert_ok(engine_volume_create(c, &again, NULL, &err), &err);

    struct engine_volume_config bad = {.name = "rec-vol", .driver = "other"};
    v = NULL;
    assert_int_equal(engine_volume_create(c, &bad, &v, &err), -1);
    assert_null(v);
    assert_int_equal(err->code, M87_E_NOTFOUND);
    assert_non_null(strstr(err->msg, "create volume 'rec-vol': dockerd answered 404: "));
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);

    _cleanup_(m87_json_freep) struct m87_json *b0 = sent_json(0);
    assert_string_equal(m87_json_str(m87_json_get(b0, "Name"), ""), "rec-vol");
    assert_string_equal(m87_json_str(m87_json_get(b0, "Driver"), ""), "local");
    assert_string_equal(m87_json_str(m87_json_path(b0, "DriverOpts", "type", NULL), ""), "tmpfs");
    assert_string_equal(m87_json_str(m87_json_path(b0, "Labels", "m87.test", NULL), ""), "yes");
    _cleanup_(m87_json_freep) struct m87_json *b2 = sent_json(2);
    assert_string_equal(m87_json_str(m87_json_get(b2, "Driver"), ""), "other");
    assert_null(m87_json_get(b2, "DriverOpts"));
    m87_kvlist_release(&labels);
    m87_kvlist_release(&opts);
    m87_kvlist_release(&other);
    m87_strv_release(&sent_bodies);
}

static void test_volume_inspect_list(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("volumes-inspect.txt", 0);
    struct engine_volume_info *v = NULL;
    assert_ok(engine_volume_inspect(c, "rec-vol", &v, &err), &err);
    assert_string_equal(v->name, "rec-vol");
    assert_string_equal(m87_kvlist_get(&v->options, "type"), "tmpfs");
    engine_volume_info_free(v);
    v = NULL;
    assert_int_equal(engine_volume_inspect(c, "nonexist", &v, &err), -1);
    assert_null(v);
    assert_int_equal(err->code, M87_E_NOTFOUND);
    assert_string_equal(err->msg,
                        "inspect volume 'nonexist': dockerd answered 404: get nonexist: no such "
                        "volume");
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);

    _cleanup_(engine_client_freep) struct engine_client *l =
        unit_replay_client("volumes-list.txt", 0);
    size_t n = 0;
    assert_ok(engine_volume_list(l, NULL, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "rec-vol");
    assert_string_equal(m87_kvlist_get(&v[0].labels, "m87.test"), "yes");
    engine_volume_infos_free(v, n);
    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "m87.test=no");
    n = 99;
    assert_ok(engine_volume_list(l, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 0);
    engine_volume_infos_free(v, n);
    /* "Volumes": null, as older daemons send for none */
    n = 99;
    assert_ok(engine_volume_list(l, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 0);
    engine_volume_infos_free(v, n);
    m87_kvlist_release(&filters);
    assert_int_equal(unit_replay_left(l), 0);
}

static void test_volume_remove(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("volumes-remove.txt", 0);
    assert_int_equal(engine_volume_remove(c, "rec-vol", false, &err), -1);
    assert_int_equal(err->code, M87_E_CONFLICT);
    assert_non_null(strstr(err->msg, "remove volume 'rec-vol': dockerd answered 409: "));
    assert_non_null(strstr(err->msg, "volume is in use"));
    m87_error_clear(&err);
    /* force does not take a volume away from a container */
    assert_int_equal(engine_volume_remove(c, "rec-vol", true, &err), -1);
    assert_int_equal(err->code, M87_E_CONFLICT);
    m87_error_clear(&err);
    assert_ok(engine_volume_remove(c, "rec-vol", false, &err), &err);
    assert_int_equal(engine_volume_remove(c, "rec-vol", false, &err), -1);
    assert_int_equal(err->code, M87_E_NOTFOUND);
    m87_error_clear(&err);
    /* with force a missing volume is no error */
    assert_ok(engine_volume_remove(c, "rec-vol", true, &err), &err);
    assert_int_equal(unit_replay_left(c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_create), cmocka_unit_test(test_network_inspect),
        cmocka_unit_test(test_network_list),   cmocka_unit_test(test_network_connect_remove),
        cmocka_unit_test(test_volume_create),  cmocka_unit_test(test_volume_inspect_list),
        cmocka_unit_test(test_volume_remove),
    };
    return cmocka_run_group_tests_name("engine networks and volumes", tests, NULL, NULL);
}
