/* End-to-end: version negotiation, version, info, free disk space and events against the real
 * dockerd. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>

#include "e2e-util.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-events.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

static void test_negotiation(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct engine_client_options opts = {.host = e2e_env("M87_TEST_DOCKER_HOST")};
    _cleanup_(engine_client_freep) struct engine_client *c = engine_client_new(&opts, &err);
    assert_non_null(c);
    assert_null(engine_client_api_version(c));
    assert_string_equal(engine_client_socket(c), opts.host + strlen("unix://"));

    /* the first call negotiates on its own */
    struct engine_version_info *v = NULL;
    assert_ok(engine_system_version(c, &v, &err), &err);
    _cleanup_free_ char *want = m87_xstrdup(
        engine_version_cmp(v->api_version, ENGINE_API_MAX) < 0 ? v->api_version : ENGINE_API_MAX);
    assert_string_equal(engine_client_api_version(c), want);
    if (strncmp(v->version, "20.10.", 6) == 0)
        assert_string_equal(engine_client_api_version(c), "1.41");
    engine_version_info_free(v);

    _cleanup_free_ char *ping = NULL;
    assert_ok(engine_system_ping(c, &ping, &err), &err);
    assert_non_null(ping);
    assert_true(engine_version_cmp(ping, ENGINE_API_MIN) >= 0);
    assert_ok(engine_client_connect(c, &err), &err);
    assert_string_equal(engine_client_api_version(c), want);
}

static void test_version_and_info(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    struct engine_version_info *v = NULL;
    assert_ok(engine_system_version(c, &v, &err), &err);
    assert_true(strlen(v->version) > 0);
    assert_true(engine_version_cmp(v->api_version, ENGINE_API_MIN) >= 0);
    assert_true(engine_version_cmp(v->min_api_version, v->api_version) <= 0);
    assert_string_equal(v->os, "linux");
    assert_true(strlen(v->arch) > 0);
    struct utsname u;
    assert_int_equal(uname(&u), 0);
    assert_string_equal(v->kernel_version, u.release);

    struct engine_system_info *info = NULL;
    assert_ok(engine_system_info(c, &info, &err), &err);
    assert_string_equal(info->server_version, v->version);
    assert_non_null(info->docker_root_dir);
    struct stat st;
    assert_int_equal(stat(info->docker_root_dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_true(info->ncpu > 0);
    assert_true(info->mem_total > 0);
    assert_true(info->containers >= info->containers_running);
    assert_true(strlen(info->driver) > 0);
    assert_true(strlen(info->name) > 0);
    engine_system_info_free(info);
    engine_version_info_free(v);
}

static void test_disk_free(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    uint64_t root = 0, slash = 0;
    assert_ok(engine_disk_free(c, NULL, &root, &err), &err);
    assert_true(root > 0);
    assert_ok(engine_disk_free(c, "/", &slash, &err), &err);
    assert_true(slash > 0);

    /* NULL means dockerd's data root, wherever the harness put it */
    struct engine_system_info *info = NULL;
    assert_ok(engine_system_info(c, &info, &err), &err);
    struct statvfs sv;
    assert_int_equal(statvfs(info->docker_root_dir, &sv), 0);
    uint64_t want = (uint64_t)sv.f_bavail * sv.f_frsize;
    assert_true(root + (256u << 20) > want && want + (256u << 20) > root);
    engine_system_info_free(info);

    uint64_t none = 0;
    assert_int_equal(engine_disk_free(c, "/nonexistent/m87-e2e", &none, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_IO);
    assert_non_null(strstr(err->msg, "'/nonexistent/m87-e2e'"));
    m87_error_clear(&err);
}

struct seen {
    const char *name;
    char actions[32][24];
    size_t n;
    size_t others;                /* events of other objects: the label filter must keep them out */
    size_t stop_after;            /* 0: never */
    struct engine_client *nested; /* when set, inspect the container from inside the callback */
};

static int on_event(void *ctx, const struct engine_event *ev)
{
    struct seen *s = ctx;
    const char *name = m87_kvlist_get(ev->attributes, "name");
    if (strcmp(ev->type, "container") != 0 || name == NULL || strcmp(name, s->name) != 0) {
        s->others++;
        return 0;
    }
    assert_true(ev->time > 0);
    assert_true(ev->time_nano / 1000000000 == ev->time);
    if (s->n < 32)
        snprintf(s->actions[s->n++], sizeof(s->actions[0]), "%s", ev->action);
    if (s->nested) {
        struct m87_error *err = NULL;
        struct engine_container_info *ci = NULL;
        assert_ok(engine_container_inspect(s->nested, ev->actor_id, &ci, &err), &err);
        assert_string_equal(ci->name, s->name);
        engine_container_info_free(ci);
    }
    return s->stop_after && s->n >= s->stop_after;
}

static ssize_t find_action(const struct seen *s, const char *action)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->actions[i], action) == 0)
            return (ssize_t)i;
    return -1;
}

static void test_events(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = e2e_client();
    struct m87_error *err = NULL;
    const char *image = e2e_env("M87_TEST_IMAGE_SMALL");
    e2e_ensure_image(c, image);

    _cleanup_free_ char *name = e2e_name("ev");
    _cleanup_free_ char *since = m87_xasprintf("%lld", (long long)time(NULL) - 1);
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    m87_kvlist_add(&labels, "m87.e2e.ev", name);
    _cleanup_free_ char *id = e2e_create(c, name, image, NULL, &labels);
    m87_kvlist_release(&labels);
    assert_ok(engine_container_start(c, id, &err), &err);
    assert_ok(engine_container_stop(c, id, 5, &err), &err);

    /* until bounds the stream: dockerd ends it by itself and the call cannot hang */
    _cleanup_free_ char *until = m87_xasprintf("%lld", (long long)time(NULL) + 1);
    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    _cleanup_free_ char *lf = m87_xasprintf("m87.e2e.ev=%s", name);
    m87_kvlist_add(&filters, "label", lf);
    m87_kvlist_add(&filters, "type", "container");
    struct engine_events_options opts = {.since = since, .until = until, .filters = &filters};
    struct seen s = {.name = name};
    assert_ok(engine_events(c, &opts, on_event, &s, &err), &err);
    assert_int_equal(s.others, 0);
    ssize_t create = find_action(&s, "create"), start = find_action(&s, "start"),
            die = find_action(&s, "die");
    if (create < 0 || start < 0 || die < 0)
        fail_msg("missing events: saw %zu, first '%s'", s.n, s.n ? s.actions[0] : "");
    assert_true(create < start);
    assert_true(start < die);

    /* without until the stream never ends; the callback ends it and that is success. It may
     * use the client while the stream holds its connection. */
    struct engine_events_options endless = {.since = since, .filters = &filters};
    struct seen first = {.name = name, .stop_after = 1, .nested = c};
    assert_int_equal(engine_events(c, &endless, on_event, &first, &err), 0);
    assert_null(err);
    assert_int_equal(first.n, 1);
    assert_string_equal(first.actions[0], "create");

    e2e_remove(c, id);
    m87_kvlist_release(&filters);
}

int main(void)
{
    /* a stream that never ends would hang the suite: give up loudly instead */
    alarm(300);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation),
        cmocka_unit_test(test_version_and_info),
        cmocka_unit_test(test_disk_free),
        cmocka_unit_test(test_events),
    };
    return cmocka_run_group_tests_name("engine system and events (e2e)", tests, NULL, NULL);
}
