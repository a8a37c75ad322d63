/* Unit tests of version negotiation, the system calls and the event stream against recorded
 * dockerd 20.10 answers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-call.h"
#include "m87/engine-events.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"
#include "unit-util.h"

#define EV_ID "2a03e38310a35c54eb82b3279e6573de4269b392a43924e98d8a3fe2c2c89f05"

/* unit_replay_client pins 1.41 so that most tests need no ping; negotiation tests undo that. */
static struct engine_client *unpinned_client(const char *fixture)
{
    struct engine_client *c = unit_replay_client(fixture, 0);
    free(c->api_version);
    c->api_version = NULL;
    return c;
}

static void test_version_cmp(void **state)
{
    (void)state;
    assert_true(engine_version_cmp("1.9", "1.41") < 0);
    assert_true(engine_version_cmp("1.41", "1.45") < 0);
    assert_true(engine_version_cmp("1.9", "1.45") < 0);
    assert_true(engine_version_cmp("1.45", "1.41") > 0);
    assert_int_equal(engine_version_cmp("1.41", "1.41.0"), 0);
    assert_int_equal(engine_version_cmp("1.41.0", "1.41"), 0);
    assert_true(engine_version_cmp("1.41.1", "1.41") > 0);
    assert_true(engine_version_cmp("2.0", "1.45") > 0);
    assert_true(engine_version_cmp("1.100", "1.45") > 0);
}

static void test_negotiate_too_old(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unpinned_client("system-ping-1.40.txt");
    struct m87_error *err = NULL;
    struct engine_version_info *v = NULL;
    /* first use negotiates, and a daemon below ENGINE_API_MIN stops the call there */
    assert_int_equal(engine_system_version(c, &v, &err), -1);
    assert_null(v);
    assert_int_equal(err->code, M87_E_VERSION);
    assert_non_null(strstr(err->msg, "dockerd speaks API 1.40; m87 needs 1.41 or newer"));
    m87_error_clear(&err);
    assert_null(engine_client_api_version(c));
    assert_int_equal(unit_replay_left(c), 0);

    _cleanup_(engine_client_freep) struct engine_client *none =
        unpinned_client("system-ping-none.txt");
    assert_int_equal(engine_client_connect(none, &err), -1);
    assert_int_equal(err->code, M87_E_VERSION);
    m87_error_clear(&err);
}

static void test_negotiate_uses_daemon_version(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unpinned_client("system-ping-1.43.txt");
    struct m87_error *err = NULL;
    struct engine_version_info *v = NULL;
    /* the fixture expects GET /v1.43/version after the ping */
    assert_ok(engine_system_version(c, &v, &err), &err);
    assert_string_equal(engine_client_api_version(c), "1.43");
    engine_version_info_free(v);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_negotiate_capped(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unpinned_client("system-ping-1.47.txt");
    struct m87_error *err = NULL;
    assert_ok(engine_client_connect(c, &err), &err);
    assert_string_equal(engine_client_api_version(c), ENGINE_API_MAX);
    struct engine_version_info *v = NULL;
    /* the fixture expects GET /v1.45/version */
    assert_ok(engine_system_version(c, &v, &err), &err);
    engine_version_info_free(v);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_system_version(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("system-version.txt", 0);
    struct m87_error *err = NULL;
    struct engine_version_info *v = NULL;
    assert_ok(engine_system_version(c, &v, &err), &err);
    assert_string_equal(v->version, "20.10.24+dfsg1");
    assert_string_equal(v->api_version, "1.41");
    assert_string_equal(v->min_api_version, "1.12");
    assert_string_equal(v->os, "linux");
    assert_string_equal(v->arch, "amd64");
    assert_string_equal(v->kernel_version, "6.18.44-fc-v769");
    engine_version_info_free(v);
    engine_version_info_free(NULL);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_system_info(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("system-info.txt", 0);
    struct m87_error *err = NULL;
    struct engine_system_info *v = NULL;
    assert_ok(engine_system_info(c, &v, &err), &err);
    assert_string_equal(v->name, "vm");
    assert_string_equal(v->server_version, "20.10.24+dfsg1");
    assert_string_equal(v->docker_root_dir, "/tmp/dk.HWxe/data");
    assert_string_equal(v->driver, "overlay2");
    assert_int_equal(v->ncpu, 2);
    assert_int_equal(v->mem_total, 25276026880LL);
    assert_int_equal(v->containers, 1);
    assert_int_equal(v->containers_running, 1);
    assert_int_equal(v->images, 1);
    engine_system_info_free(v);
    engine_system_info_free(NULL);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_disk_free(void **state)
{
    (void)state;
    /* the answers are a recorded /info with DockerRootDir set to "/" and to a missing path */
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("system-disk-free.txt", 0);
    struct m87_error *err = NULL;
    struct statvfs st;
    assert_int_equal(statvfs("/", &st), 0);
    uint64_t want = (uint64_t)st.f_bavail * st.f_frsize;
    uint64_t got = 0;
    assert_ok(engine_disk_free(c, NULL, &got, &err), &err);
    assert_true(got > 0);
    /* other processes write meanwhile: within 64 MiB is the same file system */
    assert_true(got + (64u << 20) > want && want + (64u << 20) > got);

    got = 0;
    assert_int_equal(engine_disk_free(c, NULL, &got, &err), -1);
    assert_int_equal(err->code, M87_E_IO);
    assert_string_equal(err->msg,
                        "statvfs '/nonexistent/m87-docker-root': No such file or directory");
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);

    /* a given path asks dockerd nothing */
    assert_ok(engine_disk_free(c, "/", &got, &err), &err);
    assert_true(got > 0);
    assert_int_equal(engine_disk_free(c, "/nonexistent/m87-x", &got, &err), -1);
    assert_int_equal(err->code, M87_E_IO);
    assert_int_equal(err->sys_errno, ENOENT);
    assert_non_null(strstr(err->msg, "'/nonexistent/m87-x'"));
    m87_error_clear(&err);
}

/* ---- events ---------------------------------------------------------------------------- */

struct seen {
    char actions[16][32];
    char names[16][32];
    int64_t times[16];
    int64_t nanos[16];
    size_t n;
    size_t stop_after; /* 0: never */
    char exit_code[8];
};

static int on_event(void *ctx, const struct engine_event *ev)
{
    struct seen *s = ctx;
    assert_true(s->n < 16);
    snprintf(s->actions[s->n], sizeof(s->actions[0]), "%s/%s", ev->type, ev->action);
    const char *name = m87_kvlist_get(ev->attributes, "name");
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name ? name : "");
    s->times[s->n] = ev->time;
    s->nanos[s->n] = ev->time_nano;
    if (strcmp(ev->action, "die") == 0) {
        assert_string_equal(ev->actor_id, EV_ID);
        snprintf(s->exit_code, sizeof(s->exit_code), "%s",
                 m87_kvlist_get(ev->attributes, "exitCode"));
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

/* Events have no time bound: the request must reach the transport without one. */
static const struct engine_transport *replay_ops;
static long seen_timeout = -2;

static int timeout_request(void *tctx, const struct engine_request *req,
                           struct engine_response *resp, struct m87_error **err)
{
    seen_timeout = req->timeout_ms;
    return replay_ops->request(tctx, req, resp, err);
}

static void timeout_free(void *tctx)
{
    replay_ops->free(tctx);
}

static const struct engine_transport timeout_transport = {
    .request = timeout_request,
    .free = timeout_free,
};

static void check_lifecycle(size_t chunk)
{
    struct engine_client *c = unit_replay_client("events-lifecycle.txt", chunk);
    replay_ops = c->ops;
    c->ops = &timeout_transport;
    seen_timeout = -2;
    struct m87_error *err = NULL;
    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "m87.ev=1");
    struct engine_events_options opts = {
        .since = "1795432685", .until = "1795432690", .filters = &filters};
    struct seen s = {0};
    assert_ok(engine_events(c, &opts, on_event, &s, &err), &err);
    assert_int_equal(seen_timeout, 0);
    static const char *const want[] = {"container/create", "container/start", "container/kill",
                                       "container/kill",   "container/die",   "container/stop",
                                       "container/destroy"};
    assert_int_equal(s.n, M87_ARRAY_LEN(want));
    for (size_t i = 0; i < s.n; i++) {
        assert_string_equal(s.actions[i], want[i]);
        assert_string_equal(s.names[i], "rec-ev");
    }
    assert_string_equal(s.exit_code, "137");
    assert_int_equal(s.times[0], 1795432686);
    assert_int_equal(s.nanos[0], 1795432686677566465LL);
    assert_int_equal(s.nanos[6], 1795432689333950330LL);
    assert_int_equal(unit_replay_left(c), 0);
    m87_kvlist_release(&filters);
    engine_client_free(c);
}

static void test_events_whole(void **state)
{
    (void)state;
    check_lifecycle(0);
}

static void test_events_5_byte_chunks(void **state)
{
    (void)state;
    check_lifecycle(5);
}

static void test_events_stop_is_success(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("events-mixed.txt", 7);
    struct m87_error *err = NULL;
    struct engine_events_options opts = {.since = "1795432685", .until = "1795432690"};
    struct seen s = {.stop_after = 2};
    assert_int_equal(engine_events(c, &opts, on_event, &s, &err), 0);
    assert_null(err);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.actions[1], "network/connect");
    assert_string_equal(s.names[1], "bridge");

    /* {"label":["a=b","c"]} in the query; dockerd ANDs them and nothing matches */
    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "a=b");
    m87_kvlist_add(&filters, "label", "c");
    opts.filters = &filters;
    struct seen none = {0};
    assert_ok(engine_events(c, &opts, on_event, &none, &err), &err);
    assert_int_equal(none.n, 0);
    m87_kvlist_release(&filters);

    struct engine_events_options bad = {.since = "xyz"};
    assert_int_equal(engine_events(c, &bad, on_event, &none, &err), -1);
    assert_int_equal(err->code, M87_E_HTTP);
    assert_int_equal(err->http_status, 500);
    assert_string_equal(err->msg, "read events: dockerd answered 500: strconv.ParseInt: parsing "
                                  "\"xyz\": invalid syntax");
    m87_error_clear(&err);

    /* a cut line is a parse error after the complete events before it were delivered */
    struct seen cut = {0};
    opts.filters = NULL;
    assert_int_equal(engine_events(c, &opts, on_event, &cut, &err), -1);
    assert_int_equal(err->code, M87_E_PARSE);
    assert_non_null(strstr(err->msg, "read events: event: invalid json"));
    assert_int_equal(cut.n, 1);
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_filters_encoding(void **state)
{
    (void)state;
    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", "a=b");
    m87_kvlist_add(&filters, "type", "container");
    m87_kvlist_add(&filters, "label", "c");
    struct m87_buf path;
    m87_buf_init(&path, 0);
    m87_buf_appendf(&path, NULL, "/events?since=1");
    engine_qs_filters(&path, &filters);
    /* {"label":["a=b","c"],"type":["container"]} */
    assert_string_equal(path.data, "/events?since=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%2C%22c"
                                   "%22%5D%2C%22type%22%3A%5B%22container%22%5D%7D");
    m87_buf_release(&path);
    m87_kvlist_release(&filters);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_cmp),
        cmocka_unit_test(test_negotiate_too_old),
        cmocka_unit_test(test_negotiate_uses_daemon_version),
        cmocka_unit_test(test_negotiate_capped),
        cmocka_unit_test(test_system_version),
        cmocka_unit_test(test_system_info),
        cmocka_unit_test(test_disk_free),
        cmocka_unit_test(test_events_whole),
        cmocka_unit_test(test_events_5_byte_chunks),
        cmocka_unit_test(test_events_stop_is_success),
        cmocka_unit_test(test_filters_encoding),
    };
    return cmocka_run_group_tests_name("engine system and events", tests, NULL, NULL);
}
