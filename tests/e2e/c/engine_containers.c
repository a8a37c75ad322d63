/* End-to-end tests of the container, logs and archive calls against the real dockerd. */
#include <string.h>
#include <time.h>

#include "e2e-util.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-containers.h"
#include "m87/engine-exec.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

struct ctx {
    struct engine_client *c;
    const char *image;
};

static int setup(void **state)
{
    struct ctx *x = m87_xcalloc(1, sizeof(*x));
    x->c = e2e_client();
    x->image = e2e_env("M87_TEST_IMAGE_SMALL");
    e2e_ensure_image(x->c, x->image);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *x = *state;
    engine_client_free(x->c);
    free(x);
    return 0;
}

#define assert_fails_with(expr, errp, code, text)                                                  \
    do {                                                                                           \
        assert_int_equal((expr), -1);                                                              \
        assert_int_equal(m87_error_code(*(errp)), (code));                                         \
        if (strstr((*(errp))->msg, (text)) == NULL)                                                \
            fail_msg("'%s' not in '%s'", (text), (*(errp))->msg);                                  \
        m87_error_clear(errp);                                                                     \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *create_sh(struct ctx *x, const char *name, const char *script)
{
    const char *const argv[] = {"sh", "-c", script, NULL};
    return e2e_create(x->c, name, x->image, argv, NULL);
}

static void test_list_label_filter(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *n1 = e2e_name("list");
    _cleanup_free_ char *n2 = e2e_name("list");
    _cleanup_free_ char *value = m87_xasprintf("run-%d", (int)getpid());
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    m87_kvlist_add(&labels, "org.m87.e2e.list", value);
    _cleanup_free_ char *id1 = e2e_create(x->c, n1, x->image, NULL, &labels);
    _cleanup_free_ char *id2 = e2e_create(x->c, n2, x->image, NULL, NULL);

    struct m87_kvlist f;
    m87_kvlist_init(&f);
    _cleanup_free_ char *sel = m87_xasprintf("org.m87.e2e.list=%s", value);
    m87_kvlist_add(&f, "label", sel);
    struct engine_container_summary *v = NULL;
    size_t n = 0;
    /* created containers are listed only with all */
    assert_ok(engine_container_list(x->c, false, &f, &v, &n, &err), &err);
    assert_int_equal(n, 0);
    engine_container_summaries_free(v, n);
    assert_ok(engine_container_list(x->c, true, &f, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, id1);
    assert_string_equal(v[0].name, n1);
    assert_string_equal(v[0].state, "created");
    assert_string_equal(v[0].image, x->image);
    assert_int_equal(strncmp(v[0].image_id, "sha256:", 7), 0);
    assert_string_equal(m87_kvlist_get(&v[0].labels, "org.m87.e2e.list"), value);
    assert_true(v[0].created > 1700000000);
    engine_container_summaries_free(v, n);

    /* the unfiltered list has both */
    assert_ok(engine_container_list(x->c, true, NULL, &v, &n, &err), &err);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found += strcmp(v[i].id, id1) == 0 || strcmp(v[i].id, id2) == 0;
    assert_int_equal(found, 2);
    engine_container_summaries_free(v, n);

    m87_kvlist_release(&f);
    m87_kvlist_release(&labels);
    e2e_remove(x->c, id1);
    e2e_remove(x->c, id2);
}

static void test_inspect_fields(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("inspect");
    _cleanup_free_ char *body = m87_xasprintf(
        "{\"Image\":\"%s\",\"Tty\":true,\"Labels\":{\"org.m87.e2e\":\"inspect\"}}", x->image);
    _cleanup_free_ char *id = NULL;
    assert_ok(engine_container_create(x->c, name, NULL, body, &id, &err), &err);
    assert_int_equal(engine_container_start(x->c, id, &err), 0);

    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    assert_ok(engine_container_inspect(x->c, name, &info, &err), &err);
    assert_string_equal(info->id, id);
    assert_string_equal(info->name, name);
    assert_string_equal(info->status, "running");
    assert_true(info->running);
    assert_true(info->pid > 0);
    assert_true(info->tty);
    assert_null(info->health);
    assert_string_equal(info->config_image, x->image);
    assert_int_equal(strncmp(info->image_id, "sha256:", 7), 0);
    assert_string_not_equal(info->started_at, "0001-01-01T00:00:00Z");
    assert_string_equal(info->error, "");
    assert_string_equal(m87_kvlist_get(&info->labels, "org.m87.e2e"), "inspect");
    assert_int_equal(info->networks.len, 1);
    assert_string_equal(info->networks.items[0], "bridge");
    assert_string_equal(
        m87_json_str(m87_json_path(info->raw, "HostConfig", "NetworkMode", NULL), ""), "default");
    e2e_remove(x->c, id);
}

static int collect(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    (void)stream;
    m87_buf_append(ctx, data, len, NULL);
    return 0;
}

/* The test image says "started" once its TERM trap is set; a stop before that waits out the
 * grace period and kills it. */
static void wait_started(struct ctx *x, const char *id)
{
    for (int i = 0; i < 600; i++) {
        struct m87_error *err = NULL;
        struct m87_buf out;
        m87_buf_init(&out, 0);
        assert_ok(engine_container_logs(x->c, id, NULL, collect, &out, &err), &err);
        bool seen = out.len > 0 && memmem(out.data, out.len, " started\n", 9) != NULL;
        m87_buf_release(&out);
        if (seen)
            return;
        usleep(50000);
    }
    fail_msg("the container never said it started");
}

static void test_lifecycle(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("life");
    _cleanup_free_ char *id = e2e_create(x->c, name, x->image, NULL, NULL);
    assert_int_equal(engine_container_start(x->c, id, &err), 0);
    assert_int_equal(engine_container_start(x->c, id, &err), 1);
    wait_started(x, id);
    assert_int_equal(engine_container_stop(x->c, id, 5, &err), 0);
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    assert_ok(engine_container_inspect(x->c, id, &info, &err), &err);
    assert_false(info->running);
    assert_string_equal(info->status, "exited");
    /* the image exits 0 on SIGTERM */
    assert_int_equal(info->exit_code, 0);
    assert_int_equal(engine_container_stop(x->c, id, 5, &err), 1);
    assert_int_equal(engine_container_kill(x->c, id, NULL, &err), 1);
    assert_null(err);
    assert_ok(engine_container_remove(x->c, id, false, false, &err), &err);
    struct engine_container_info *gone = NULL;
    assert_fails_with(engine_container_inspect(x->c, id, &gone, &err), &err, M87_E_NOTFOUND,
                      "No such container");
    assert_fails_with(engine_container_remove(x->c, id, false, false, &err), &err, M87_E_NOTFOUND,
                      "remove container");
}

static void test_kill_and_remove_running(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("kill");
    _cleanup_free_ char *id = e2e_create(x->c, name, x->image, NULL, NULL);
    assert_int_equal(engine_container_start(x->c, id, &err), 0);
    assert_fails_with(engine_container_remove(x->c, id, false, false, &err), &err, M87_E_CONFLICT,
                      "cannot remove a running container");
    assert_int_equal(engine_container_kill(x->c, id, "SIGKILL", &err), 0);
    int code = -1;
    assert_ok(engine_container_wait(x->c, id, NULL, 30000, &code, &err), &err);
    assert_int_equal(code, 137);
    assert_ok(engine_container_start(x->c, id, &err), &err);
    assert_ok(engine_container_remove(x->c, id, true, true, &err), &err);
    struct engine_container_info *gone = NULL;
    assert_fails_with(engine_container_inspect(x->c, id, &gone, &err), &err, M87_E_NOTFOUND,
                      "No such container");
}

static void test_name_conflict(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("conflict");
    _cleanup_free_ char *id = e2e_create(x->c, name, x->image, NULL, NULL);
    _cleanup_free_ char *body = m87_xasprintf("{\"Image\":\"%s\"}", x->image);
    char *id2 = NULL;
    assert_int_equal(engine_container_create(x->c, name, NULL, body, &id2, &err), -1);
    assert_null(id2);
    assert_int_equal(err->http_status, 409);
    /* dockerd's own words, naming the container in the way */
    assert_non_null(strstr(err->msg, id));
    _cleanup_free_ char *want = m87_xasprintf("create container '%s': dockerd answered 409: "
                                              "Conflict. The container name \"/%s\" is already "
                                              "in use by container",
                                              name, name);
    assert_fails_with(-1, &err, M87_E_CONFLICT, want);
    e2e_remove(x->c, id);
}

static void test_inspect_missing(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("missing");
    struct engine_container_info *info = NULL;
    assert_int_equal(engine_container_inspect(x->c, name, &info, &err), -1);
    assert_null(info);
    assert_int_equal(err->http_status, 404);
    _cleanup_free_ char *want = m87_xasprintf("No such container: %s", name);
    assert_fails_with(-1, &err, M87_E_NOTFOUND, want);
}

static void test_rename(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("rename");
    _cleanup_free_ char *new_name = e2e_name("renamed");
    _cleanup_free_ char *id = e2e_create(x->c, name, x->image, NULL, NULL);
    assert_ok(engine_container_rename(x->c, id, new_name, &err), &err);
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    assert_ok(engine_container_inspect(x->c, new_name, &info, &err), &err);
    assert_string_equal(info->id, id);
    assert_string_equal(info->name, new_name);
    struct engine_container_info *old = NULL;
    assert_fails_with(engine_container_inspect(x->c, name, &old, &err), &err, M87_E_NOTFOUND,
                      "No such container");
    /* a rename onto a name in use is dockerd's conflict */
    _cleanup_free_ char *other = e2e_name("rename");
    _cleanup_free_ char *id2 = e2e_create(x->c, other, x->image, NULL, NULL);
    assert_fails_with(engine_container_rename(x->c, id2, new_name, &err), &err, M87_E_CONFLICT,
                      "rename container");
    e2e_remove(x->c, id);
    e2e_remove(x->c, id2);
}

static void test_wait_exit_code(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("wait");
    _cleanup_free_ char *id = create_sh(x, name, "exit 3");
    assert_int_equal(engine_container_start(x->c, id, &err), 0);
    int code = -1;
    assert_ok(engine_container_wait(x->c, id, "not-running", 0, &code, &err), &err);
    assert_int_equal(code, 3);
    e2e_remove(x->c, id);

    /* a bound that passes is a timeout, not a hang */
    _cleanup_free_ char *name2 = e2e_name("wait");
    _cleanup_free_ char *id2 = e2e_create(x->c, name2, x->image, NULL, NULL);
    assert_int_equal(engine_container_start(x->c, id2, &err), 0);
    double t0 = now_s();
    assert_fails_with(engine_container_wait(x->c, id2, NULL, 500, &code, &err), &err, M87_E_TIMEOUT,
                      "wait for container");
    assert_true(now_s() - t0 >= 0.4);
    e2e_remove(x->c, id2);
}

static void test_stop_ignoring_sigterm(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("stubborn");
    _cleanup_free_ char *id = create_sh(x, name, "trap '' TERM; while :; do sleep 1; done");
    assert_int_equal(engine_container_start(x->c, id, &err), 0);
    double t0 = now_s();
    assert_int_equal(engine_container_stop(x->c, id, 1, &err), 0);
    double took = now_s() - t0;
    /* the grace period was waited out, then SIGKILL */
    assert_true(took >= 0.9);
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    assert_ok(engine_container_inspect(x->c, id, &info, &err), &err);
    assert_false(info->running);
    assert_int_equal(info->exit_code, 137);
    e2e_remove(x->c, id);
}

/* ---- logs --------------------------------------------------------------------------------------
 */

struct captured {
    struct m87_buf streams[4];
    struct m87_buf order;
    size_t calls;
    /* follow: */
    struct engine_client *c;
    const char *id;
    size_t stop_at;
    bool all_live;
};

static void captured_init(struct captured *cap)
{
    memset(cap, 0, sizeof(*cap));
    for (int i = 0; i < 4; i++)
        m87_buf_init(&cap->streams[i], 0);
    m87_buf_init(&cap->order, 0);
}

static void captured_release(struct captured *cap)
{
    for (int i = 0; i < 4; i++)
        m87_buf_release(&cap->streams[i]);
    m87_buf_release(&cap->order);
}

static const char *text_of(const struct m87_buf *b)
{
    return b->data ? b->data : "";
}

static int on_output(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct captured *cap = ctx;
    m87_buf_append(&cap->streams[stream], data, len, NULL);
    m87_buf_append(&cap->streams[stream], "|", 1, NULL);
    cap->calls++;
    if (cap->c) {
        /* a followed line must arrive while the container still runs */
        struct m87_error *err = NULL;
        struct engine_container_info *info = NULL;
        assert_ok(engine_container_inspect(cap->c, cap->id, &info, &err), &err);
        cap->all_live = cap->all_live && info->running;
        engine_container_info_free(info);
    }
    return cap->stop_at && cap->calls >= cap->stop_at;
}

static void test_logs_demux(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("logs");
    _cleanup_free_ char *id =
        create_sh(x, name, "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf last");
    assert_int_equal(engine_container_start(x->c, id, &err), 0);
    int code = -1;
    assert_ok(engine_container_wait(x->c, id, NULL, 30000, &code, &err), &err);
    assert_int_equal(code, 0);

    struct captured cap;
    captured_init(&cap);
    struct engine_logs_options o = {.lines = true};
    assert_ok(engine_container_logs(x->c, id, &o, on_output, &cap, &err), &err);
    assert_string_equal(text_of(&cap.streams[ENGINE_STREAM_STDOUT]), "out1|out2|out3|last|");
    assert_string_equal(text_of(&cap.streams[ENGINE_STREAM_STDERR]), "err1|err2|err3|");
    assert_int_equal(cap.calls, 7);
    captured_release(&cap);

    /* one stream only (no tail here: dockerd counts it over both streams, whose relative
     * order in the log is not fixed) */
    captured_init(&cap);
    struct engine_logs_options o2 = {.lines = true, .no_stdout = true};
    assert_ok(engine_container_logs(x->c, id, &o2, on_output, &cap, &err), &err);
    assert_string_equal(text_of(&cap.streams[ENGINE_STREAM_STDERR]), "err1|err2|err3|");
    assert_int_equal(cap.calls, 3);
    captured_release(&cap);

    /* chunks as they come, both streams */
    captured_init(&cap);
    assert_ok(engine_container_logs(x->c, id, NULL, on_output, &cap, &err), &err);
    assert_string_equal(text_of(&cap.streams[ENGINE_STREAM_STDOUT]), "out1\n|out2\n|out3\n|last|");
    assert_string_equal(text_of(&cap.streams[ENGINE_STREAM_STDERR]), "err1\n|err2\n|err3\n|");
    captured_release(&cap);
    e2e_remove(x->c, id);
}

static void test_logs_follow(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("follow");
    _cleanup_free_ char *id =
        create_sh(x, name, "i=0; while :; do i=$((i+1)); echo line$i; sleep 1; done");
    assert_int_equal(engine_container_start(x->c, id, &err), 0);

    struct captured cap;
    captured_init(&cap);
    cap.c = x->c;
    cap.id = id;
    cap.stop_at = 4;
    cap.all_live = true;
    struct engine_logs_options o = {.follow = true, .lines = true};
    double t0 = now_s();
    assert_fails_with(engine_container_logs(x->c, id, &o, on_output, &cap, &err), &err,
                      M87_E_CANCELLED, "logs of container");
    assert_string_equal(text_of(&cap.streams[ENGINE_STREAM_STDOUT]), "line1|line2|line3|line4|");
    assert_true(cap.all_live);
    /* lines came as they were written, not after the container ended */
    assert_true(now_s() - t0 >= 0.5);
    captured_release(&cap);
    e2e_remove(x->c, id);
}

/* ---- archive ----------------------------------------------------------------------------------
 */

static void test_archive_put_then_exec_cat(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *name = e2e_name("archive");
    _cleanup_free_ char *id = e2e_create(x->c, name, x->image, NULL, NULL);

    unsigned char content[3000];
    for (size_t i = 0; i < sizeof(content); i++)
        content[i] = (unsigned char)(i * 7 + i / 256);
    struct m87_buf tar;
    m87_buf_init(&tar, 0);
    assert_ok(engine_tar_single_file("/etc/m87/data.bin", content, sizeof(content), 0600, 65534,
                                     65534, &tar, &err),
              &err);
    /* into a created, not started container */
    assert_ok(engine_container_archive_put(x->c, id, "/", tar.data, tar.len, &err), &err);
    assert_fails_with(
        engine_container_archive_put(x->c, id, "/no/such/dir", tar.data, tar.len, &err), &err,
        M87_E_NOTFOUND, "Could not find the file /no/such/dir");
    assert_int_equal(engine_container_start(x->c, id, &err), 0);

    struct m87_strv argv;
    m87_strv_init(&argv);
    m87_strv_add(&argv, "cat");
    m87_strv_add(&argv, "/etc/m87/data.bin");
    struct engine_exec_config cfg = {.argv = &argv};
    struct m87_buf out, errout;
    m87_buf_init(&out, 0);
    m87_buf_init(&errout, 0);
    int code = -1;
    assert_ok(engine_exec_run(x->c, id, &cfg, 1 << 20, &out, &errout, &code, &err), &err);
    assert_int_equal(code, 0);
    assert_int_equal(errout.len, 0);
    assert_int_equal(out.len, sizeof(content));
    assert_memory_equal(out.data, content, sizeof(content));

    m87_strv_release(&argv);
    m87_strv_init(&argv);
    m87_strv_add(&argv, "stat");
    m87_strv_add(&argv, "-c");
    m87_strv_add(&argv, "%a %u %g");
    m87_strv_add(&argv, "/etc/m87/data.bin");
    assert_ok(engine_exec_run(x->c, id, &cfg, 1024, &out, NULL, &code, &err), &err);
    assert_string_equal(out.data, "600 65534 65534\n");

    m87_strv_release(&argv);
    m87_buf_release(&out);
    m87_buf_release(&errout);
    m87_buf_release(&tar);
    e2e_remove(x->c, id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_label_filter),
        cmocka_unit_test(test_inspect_fields),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_kill_and_remove_running),
        cmocka_unit_test(test_name_conflict),
        cmocka_unit_test(test_inspect_missing),
        cmocka_unit_test(test_rename),
        cmocka_unit_test(test_wait_exit_code),
        cmocka_unit_test(test_stop_ignoring_sigterm),
        cmocka_unit_test(test_logs_demux),
        cmocka_unit_test(test_logs_follow),
        cmocka_unit_test(test_archive_put_then_exec_cat),
    };
    return cmocka_run_group_tests_name("engine_containers", tests, setup, teardown);
}
