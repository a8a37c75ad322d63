/* Unit tests of the container, logs, archive and exec calls against answers recorded from
 * dockerd 20.10 (fixtures/engine/containers-*.txt and exec-*.txt). The replay checks every
 * request's method, path and query; a spy in front of it checks the time bounds. */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/archive-lib.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-containers.h"
#include "m87/engine-exec.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "unit-util.h"

/* ---- a spy on the requests, in front of the replay ------------------------------------------- */

struct spy {
    const struct engine_transport *ops;
    void *tctx;
    long timeouts[32];
    const char *content_types[32];
    char *bodies[32]; /* copies, NULL for none */
    size_t n;
};

static int spy_request(void *tctx, const struct engine_request *req, struct engine_response *resp,
                       struct m87_error **err)
{
    struct spy *s = tctx;
    if (s->n < M87_ARRAY_LEN(s->timeouts)) {
        s->timeouts[s->n] = req->timeout_ms;
        s->content_types[s->n] = req->content_type;
        s->bodies[s->n] = req->body ? m87_xstrndup(req->body, req->body_len) : NULL;
        s->n++;
    }
    return s->ops->request(s->tctx, req, resp, err);
}

static void spy_free(void *tctx)
{
    struct spy *s = tctx;
    s->ops->free(s->tctx);
    for (size_t i = 0; i < s->n; i++)
        free(s->bodies[i]);
    free(s);
}

static const struct engine_transport spy_transport = {.request = spy_request, .free = spy_free};

/* A replay client whose requests are also recorded in *spy (owned by the client). */
static struct engine_client *spied_client(const char *fixture, size_t chunk, struct spy **spy)
{
    struct engine_client *c = unit_replay_client(fixture, chunk);
    struct spy *s = m87_xcalloc(1, sizeof(*s));
    s->ops = c->ops;
    s->tctx = c->tctx;
    c->ops = &spy_transport;
    c->tctx = s;
    *spy = s;
    return c;
}

static size_t replay_left(struct engine_client *c, struct spy *s)
{
    void *mine = c->tctx;
    c->tctx = s->tctx;
    size_t left = unit_replay_left(c);
    c->tctx = mine;
    return left;
}

#define assert_fails_with(expr, errp, code, text)                                                  \
    do {                                                                                           \
        assert_int_equal((expr), -1);                                                              \
        assert_int_equal(m87_error_code(*(errp)), (code));                                         \
        if (strstr((*(errp))->msg, (text)) == NULL)                                                \
            fail_msg("'%s' not in '%s'", (text), (*(errp))->msg);                                  \
        m87_error_clear(errp);                                                                     \
    } while (0)

/* ---- list and inspect ------------------------------------------------------------------------ */

static void test_list(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("containers-list.txt", 0);
    struct engine_container_summary *v = NULL;
    size_t n = 0;

    struct m87_kvlist f;
    m87_kvlist_init(&f);
    m87_kvlist_add(&f, "label", "m87.test=list");
    assert_ok(engine_container_list(c, true, &f, &v, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "m87fx-idle");
    assert_string_equal(v[0].state, "created");
    assert_string_equal(v[0].status, "Created");
    assert_string_equal(v[0].id,
                        "aea17858dbcf1957e34c5a678061b2b6f356b2462fd475d70249990c0e0a6d52");
    assert_string_equal(v[0].image, "127.0.0.1:60461/m87test/small:1");
    assert_string_equal(v[0].image_id, "sha256:1b08c167e1fa3fe61c109ca626084c9c6ff44df63c01d7d3d"
                                       "6d9748e600b0d86");
    assert_int_equal(v[0].created, 1795432816);
    assert_string_equal(m87_kvlist_get(&v[0].labels, "m87.test"), "list");
    assert_int_equal(v[0].labels.len, 3);
    assert_string_equal(v[1].name, "m87fx-web");
    assert_string_equal(v[1].state, "running");
    assert_string_equal(v[1].status, "Up 2 seconds (healthy)");
    assert_string_equal(m87_kvlist_get(&v[1].labels, "com.example.role"), "web");
    engine_container_summaries_free(v, n);

    /* a repeated name becomes one list, names in first-seen order; no all=1 */
    m87_kvlist_add(&f, "status", "running");
    m87_kvlist_add(&f, "label", "com.example.role");
    assert_ok(engine_container_list(c, false, &f, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "m87fx-web");
    engine_container_summaries_free(v, n);
    m87_kvlist_release(&f);

    m87_kvlist_init(&f);
    m87_kvlist_add(&f, "label", "m87.test=none");
    assert_ok(engine_container_list(c, true, &f, &v, &n, &err), &err);
    assert_int_equal(n, 0);
    engine_container_summaries_free(v, n);
    m87_kvlist_release(&f);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_inspect(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("containers-inspect.txt", 0);
    _cleanup_(engine_container_info_freep) struct engine_container_info *web = NULL;
    assert_ok(engine_container_inspect(c, "m87fx-web", &web, &err), &err);
    assert_string_equal(web->id,
                        "893df3685f8c49713da7fe19a97ca3a21a651dd21310cf842f57048332847fb1");
    assert_string_equal(web->name, "m87fx-web");
    assert_string_equal(web->status, "running");
    assert_true(web->running);
    assert_false(web->restarting);
    assert_false(web->oom_killed);
    assert_true(web->pid > 0);
    assert_true(web->tty);
    assert_string_equal(web->health, "healthy");
    assert_string_equal(web->config_image, "127.0.0.1:60461/m87test/small:1");
    assert_string_equal(web->image_id, "sha256:1b08c167e1fa3fe61c109ca626084c9c6ff44df63c01d7d3d6d"
                                       "9748e600b0d86");
    assert_string_equal(web->finished_at, "0001-01-01T00:00:00Z");
    assert_int_equal(strncmp(web->started_at, "20", 2), 0);
    assert_string_equal(web->error, "");
    assert_int_equal(web->restart_count, 0);
    assert_string_equal(m87_kvlist_get(&web->labels, "com.example.role"), "web");
    assert_int_equal(web->networks.len, 1);
    assert_string_equal(web->networks.items[0], "bridge");
    assert_int_equal(m87_json_int(m87_json_path(web->raw, "Config", "StopTimeout", NULL), 0), 7);

    _cleanup_(engine_container_info_freep) struct engine_container_info *idle = NULL;
    assert_ok(engine_container_inspect(c, "m87fx-idle", &idle, &err), &err);
    assert_string_equal(idle->status, "created");
    assert_false(idle->running);
    assert_false(idle->tty);
    assert_null(idle->health);
    assert_int_equal(idle->pid, 0);

    struct engine_container_info *none = NULL;
    assert_int_equal(engine_container_inspect(c, "m87fx-missing", &none, &err), -1);
    assert_null(none);
    assert_int_equal(err->http_status, 404);
    assert_fails_with(-1, &err, M87_E_NOTFOUND,
                      "inspect container 'm87fx-missing': dockerd answered 404: "
                      "No such container: m87fx-missing");
    assert_int_equal(unit_replay_left(c), 0);
}

/* ---- state changes -----------------------------------------------------------------------------
 */

/* Settings dockerd accepted and dropped come back as the answer's Warnings. */
static void test_create_warnings(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("containers-create-warnings.txt", 0);
    struct m87_strv warned;
    m87_strv_init(&warned);
    _cleanup_free_ char *id = NULL;
    assert_ok(engine_container_create_warned(c, "m87fx-blkio", NULL, "{}", &id, &warned, &err),
              &err);
    assert_int_equal(warned.len, 2);
    assert_non_null(strstr(warned.items[0], "Block I/O weight"));
    assert_non_null(strstr(warned.items[1], "Weight-device discarded"));
    m87_strv_release(&warned);
}

static void test_lifecycle(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spy *spy = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        spied_client("containers-lifecycle.txt", 0, &spy);
    const char *body = "{\"Image\":\"127.0.0.1:60461/m87test/small:1\"}";
    _cleanup_free_ char *id = NULL;
    assert_ok(engine_container_create(c, "m87fx-life", NULL, body, &id, &err), &err);
    assert_string_equal(id, "2821a581985c9ab4a63e438dc80d2433fe2aa5134aa85d74b5b8939602870347");
    char *id2 = NULL;
    assert_fails_with(engine_container_create(c, "m87fx-life", NULL, body, &id2, &err), &err,
                      M87_E_CONFLICT,
                      "create container 'm87fx-life': dockerd answered 409: Conflict. The "
                      "container name \"/m87fx-life\" is already in use");
    assert_null(id2);

    assert_int_equal(engine_container_start(c, "m87fx-life", &err), 0);
    assert_int_equal(engine_container_start(c, "m87fx-life", &err), 1);
    assert_fails_with(engine_container_remove(c, "m87fx-life", false, false, &err), &err,
                      M87_E_CONFLICT, "You cannot remove a running container");
    assert_int_equal(engine_container_stop(c, "m87fx-life", 5, &err), 0);
    assert_int_equal(engine_container_stop(c, "m87fx-life", 5, &err), 1);
    /* dockerd's 409 "is not running" for a kill is the "already so" answer */
    assert_int_equal(engine_container_kill(c, "m87fx-life", NULL, &err), 1);
    assert_null(err);
    assert_int_equal(engine_container_start(c, "m87fx-life", &err), 0);
    assert_int_equal(engine_container_kill(c, "m87fx-life", "SIGTERM", &err), 0);
    assert_ok(engine_container_rename(c, "m87fx-life", "m87fx-life2", &err), &err);
    assert_fails_with(engine_container_start(c, "m87fx-missing", &err), &err, M87_E_NOTFOUND,
                      "start container 'm87fx-missing': dockerd answered 404: No such container");
    assert_ok(engine_container_remove(c, "m87fx-life2", true, true, &err), &err);
    assert_int_equal(replay_left(c, spy), 0);

    /* ordinary calls use the client's bound; a stop is bounded by t + 30 s */
    assert_int_equal(spy->n, 13);
    assert_int_equal(spy->timeouts[0], 60000);
    assert_int_equal(spy->timeouts[5], 35000);
    assert_int_equal(spy->timeouts[6], 35000);
    assert_int_equal(spy->timeouts[7], 60000);
}

static void test_stop_default_timeout(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spy *spy = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        spied_client("containers-stop-default.txt", 0, &spy);
    /* StopTimeout 7 from the inspect becomes t=7 */
    assert_int_equal(engine_container_stop(c, "m87fx-web", -1, &err), 0);
    /* no StopTimeout: dockerd's default of 10; a created container answers 304 */
    assert_int_equal(engine_container_stop(c, "m87fx-idle", -1, &err), 1);
    assert_fails_with(engine_container_stop(c, "m87fx-missing", -1, &err), &err, M87_E_NOTFOUND,
                      "stop container 'm87fx-missing': inspect container 'm87fx-missing': "
                      "dockerd answered 404");
    assert_int_equal(replay_left(c, spy), 0);
    assert_int_equal(spy->timeouts[1], 37000);
    assert_int_equal(spy->timeouts[3], 40000);
}

static void test_wait(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spy *spy = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        spied_client("containers-wait.txt", 0, &spy);
    int code = -1;
    assert_ok(engine_container_wait(c, "m87fx-exit3", NULL, 0, &code, &err), &err);
    assert_int_equal(code, 3);
    assert_fails_with(engine_container_wait(c, "m87fx-missing", "next-exit", 1500, &code, &err),
                      &err, M87_E_NOTFOUND, "wait for container 'm87fx-missing'");
    assert_int_equal(replay_left(c, spy), 0);
    /* 0 is no bound at all, not the client's */
    assert_int_equal(spy->timeouts[0], 0);
    assert_int_equal(spy->timeouts[1], 1500);
}

/* ---- logs -------------------------------------------------------------------------------------
 */

struct lines_seen {
    struct m87_buf log;
    size_t calls;
};

static int on_line(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct lines_seen *s = ctx;
    m87_buf_appendf(&s->log, NULL, "%d:", (int)stream);
    m87_buf_append(&s->log, data, len, NULL);
    m87_buf_append(&s->log, "|", 1, NULL);
    s->calls++;
    return 0;
}

static void test_logs_tty(void **state)
{
    (void)state;
    const size_t chunks[] = {1, 3, 7, 0};
    for (size_t i = 0; i < M87_ARRAY_LEN(chunks); i++) {
        struct m87_error *err = NULL;
        struct spy *spy = NULL;
        _cleanup_(engine_client_freep) struct engine_client *c =
            spied_client("containers-logs-tty.txt", chunks[i], &spy);
        struct lines_seen s = {.calls = 0};
        m87_buf_init(&s.log, 0);
        struct engine_logs_options o = {.lines = true};
        assert_ok(engine_container_logs(c, "m87fx-ttylog", &o, on_line, &s, &err), &err);
        /* Config.Tty from the inspect: raw bytes, stderr included, all as stdout */
        assert_string_equal(s.log.data, "1:one|1:two|1:three|");
        assert_int_equal(replay_left(c, spy), 0);
        assert_int_equal(spy->timeouts[1], 60000);
        m87_buf_release(&s.log);
    }
}

static void test_logs_query_and_follow(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spy *spy = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        spied_client("containers-logs-query.txt", 0, &spy);
    struct lines_seen s = {.calls = 0};
    m87_buf_init(&s.log, 0);
    struct engine_logs_options o = {
        .follow = true,
        .no_stderr = true,
        .timestamps = true,
        .since = "1700000000.5",
        .tail = "2",
        .lines = true,
    };
    assert_ok(engine_container_logs(c, "m87fx-ttylog", &o, on_line, &s, &err), &err);
    assert_string_equal(s.log.data, "1:2026-11-23T11:23:16.863031947Z two|"
                                    "1:2026-11-23T11:23:17.035792515Z three|");
    assert_int_equal(spy->timeouts[1], 0);
    struct engine_logs_options none = {.no_stdout = true, .no_stderr = true};
    assert_fails_with(engine_container_logs(c, "m87fx-ttylog", &none, on_line, &s, &err), &err,
                      M87_E_INVAL, "no stream asked for");
    assert_fails_with(engine_container_logs(c, "m87fx-missing", NULL, on_line, &s, &err), &err,
                      M87_E_NOTFOUND, "logs of container 'm87fx-missing'");
    assert_int_equal(replay_left(c, spy), 0);
    m87_buf_release(&s.log);
}

/* ---- archive ------------------------------------------------------------------------------------
 */

static void test_tar_single_file(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_buf tar;
    m87_buf_init(&tar, 0);
    m87_buf_append(&tar, "old", 3, NULL);
    static const char content[] = "line one\nline two\n";
    time_t before = time(NULL);
    assert_ok(engine_tar_single_file("/etc/m87/app.conf", content, sizeof(content) - 1, 0640, 1000,
                                     1001, &tar, &err),
              &err);
    time_t after = time(NULL);
    assert_true(tar.len >= 1536 && tar.len % 512 == 0);

    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, tar.data, tar.len), ARCHIVE_OK);
    struct archive_entry *e = NULL;
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    assert_string_equal(archive_entry_pathname(e), "etc/m87/app.conf");
    assert_int_equal(archive_entry_filetype(e), AE_IFREG);
    assert_int_equal(archive_entry_perm(e), 0640);
    assert_int_equal(archive_entry_uid(e), 1000);
    assert_int_equal(archive_entry_gid(e), 1001);
    assert_int_equal(archive_entry_size(e), sizeof(content) - 1);
    /* the time of the tar, through the library's own time type (armhf: archive-lib.h) */
    const struct m87_archive_lib *la = m87_archive_lib(&err);
    assert_non_null(la);
    int64_t mtime = m87_archive_entry_mtime(la, e);
    if (mtime < (int64_t)before || mtime > (int64_t)after)
        fail_msg("mtime %lld, want %lld..%lld", (long long)mtime, (long long)before,
                 (long long)after);
    char got[64] = "";
    assert_int_equal(archive_read_data(a, got, sizeof(got)), sizeof(content) - 1);
    assert_memory_equal(got, content, sizeof(content) - 1);
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_EOF);
    archive_read_free(a);

    /* the caller's cap holds */
    struct m87_buf small;
    m87_buf_init(&small, 600);
    assert_fails_with(
        engine_tar_single_file("f", content, sizeof(content) - 1, 0644, 0, 0, &small, &err), &err,
        M87_E_TOOBIG, "tar of 'f'");
    assert_fails_with(engine_tar_single_file("//", "", 0, 0644, 0, 0, &tar, &err), &err,
                      M87_E_INVAL, "no file name");
    m87_buf_release(&small);
    m87_buf_release(&tar);
}

static void test_archive_put(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spy *spy = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        spied_client("containers-archive.txt", 0, &spy);
    struct m87_buf tar;
    m87_buf_init(&tar, 0);
    assert_ok(engine_tar_single_file("m87/greeting.txt", "hello\n", 6, 0644, 0, 0, &tar, &err),
              &err);
    assert_ok(engine_container_archive_put(c, "m87fx-idle", "/etc", tar.data, tar.len, &err), &err);
    assert_string_equal(spy->content_types[0], "application/x-tar");
    assert_fails_with(
        engine_container_archive_put(c, "m87fx-idle", "/nonexistent", tar.data, tar.len, &err),
        &err, M87_E_NOTFOUND, "Could not find the file /nonexistent in container m87fx-idle");
    assert_fails_with(engine_container_archive_put(c, "m87fx-idle", "/etc", "", 0, &err), &err,
                      M87_E_INVAL, "empty archive");
    assert_int_equal(replay_left(c, spy), 0);
    m87_buf_release(&tar);
}

/* ---- exec --------------------------------------------------------------------------------------
 */

static void test_exec_run_tty(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spy *spy = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        spied_client("exec-run-tty.txt", 3, &spy);
    struct m87_strv argv;
    m87_strv_init(&argv);
    m87_strv_add(&argv, "sh");
    m87_strv_add(&argv, "-c");
    m87_strv_add(&argv, "echo hi; echo there >&2; exit 5");
    struct engine_exec_config cfg = {.argv = &argv, .tty = true};
    struct m87_buf out, errout;
    m87_buf_init(&out, 0);
    m87_buf_init(&errout, 0);
    int code = -1;
    assert_ok(engine_exec_run(c, "m87fx-web", &cfg, 1024, &out, &errout, &code, &err), &err);
    assert_int_equal(code, 5);
    /* a TTY merges the streams */
    assert_string_equal(out.data, "hi\r\nthere\r\n");
    assert_int_equal(errout.len, 0);
    assert_int_equal(replay_left(c, spy), 0);
    /* the hijacked stream is read with no time bound */
    assert_int_equal(spy->timeouts[1], 0);
    /* Privileged is sent only when asked for */
    assert_null(strstr(spy->bodies[0], "Privileged"));
    _cleanup_(engine_client_freep) struct engine_client *c3 =
        spied_client("exec-run-tty.txt", 3, &spy);
    cfg.privileged = true;
    assert_ok(engine_exec_run(c3, "m87fx-web", &cfg, 1024, &out, &errout, &code, &err), &err);
    assert_non_null(strstr(spy->bodies[0], "\"Privileged\":true"));
    cfg.privileged = false;

    /* output past max_output stops the run */
    _cleanup_(engine_client_freep) struct engine_client *c2 =
        unit_replay_client("exec-run-tty.txt", 3);
    assert_fails_with(engine_exec_run(c2, "m87fx-web", &cfg, 4, &out, NULL, &code, &err), &err,
                      M87_E_TOOBIG,
                      "exec 'sh' in container 'm87fx-web': stdout of the command "
                      "is over 4 bytes");
    assert_int_equal(out.len, 3);
    assert_int_equal(unit_replay_left(c2), 1);
    m87_buf_release(&out);
    m87_buf_release(&errout);
    m87_strv_release(&argv);
}

static void test_exec_errors(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("exec-errors.txt", 0);
    struct m87_strv argv;
    m87_strv_init(&argv);
    m87_strv_add(&argv, "true");
    struct engine_exec_config cfg = {.argv = &argv};
    char *id = NULL;
    assert_fails_with(engine_exec_create(c, "m87fx-idle", &cfg, &id, &err), &err, M87_E_CONFLICT,
                      "exec 'true' in container 'm87fx-idle': dockerd answered 409: Container "
                      "aea17858dbcf1957e34c5a678061b2b6f356b2462fd475d70249990c0e0a6d52 is not "
                      "running");
    assert_null(id);
    assert_fails_with(
        engine_exec_start(c, "0000000000000000000000000000000000000000000000000000000000000000",
                          false, NULL, NULL, &err),
        &err, M87_E_NOTFOUND, "No such exec instance");
    struct m87_strv empty;
    m87_strv_init(&empty);
    struct engine_exec_config bad = {.argv = &empty};
    assert_fails_with(engine_exec_create(c, "m87fx-idle", &bad, &id, &err), &err, M87_E_INVAL,
                      "no command");
    assert_int_equal(unit_replay_left(c), 0);
    m87_strv_release(&argv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_inspect),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_create_warnings),
        cmocka_unit_test(test_stop_default_timeout),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_logs_tty),
        cmocka_unit_test(test_logs_query_and_follow),
        cmocka_unit_test(test_tar_single_file),
        cmocka_unit_test(test_archive_put),
        cmocka_unit_test(test_exec_run_tty),
        cmocka_unit_test(test_exec_errors),
    };
    return cmocka_run_group_tests_name("engine_containers", tests, NULL, NULL);
}
