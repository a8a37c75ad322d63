/* End-to-end tests of exec against the real dockerd: the hijacked output stream read through
 * libcurl to EOF, exit codes, stdout and stderr kept apart. */
#include <string.h>

#include "e2e-util.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-containers.h"
#include "m87/engine-exec.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

struct ctx {
    struct engine_client *c;
    char *id; /* one running container shared by the tests */
};

static int setup(void **state)
{
    struct m87_error *err = NULL;
    struct ctx *x = m87_xcalloc(1, sizeof(*x));
    x->c = e2e_client();
    const char *image = e2e_env("M87_TEST_IMAGE_SMALL");
    e2e_ensure_image(x->c, image);
    _cleanup_free_ char *name = e2e_name("exec");
    x->id = e2e_create(x->c, name, image, NULL, NULL);
    assert_ok(engine_container_start(x->c, x->id, &err), &err);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *x = *state;
    e2e_remove(x->c, x->id);
    free(x->id);
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

static void sh_argv(struct m87_strv *argv, const char *script)
{
    m87_strv_init(argv);
    m87_strv_add(argv, "sh");
    m87_strv_add(argv, "-c");
    m87_strv_add(argv, script);
}

static const char *text_of(const struct m87_buf *b)
{
    return b->data ? b->data : "";
}

static void test_exit_code(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    struct m87_strv argv;
    sh_argv(&argv, "exit 7");
    struct engine_exec_config cfg = {.argv = &argv};
    int code = -1;
    assert_ok(engine_exec_run(x->c, x->id, &cfg, 1024, NULL, NULL, &code, &err), &err);
    assert_int_equal(code, 7);
    m87_strv_release(&argv);

    /* a command that is not there: the runtime's message in the output and exit code 126 */
    m87_strv_init(&argv);
    m87_strv_add(&argv, "/no/such/binary");
    struct m87_buf out;
    m87_buf_init(&out, 0);
    assert_ok(engine_exec_run(x->c, x->id, &cfg, 4096, &out, NULL, &code, &err), &err);
    assert_int_equal(code, 126);
    assert_non_null(strstr(text_of(&out), "/no/such/binary"));
    m87_buf_release(&out);
    m87_strv_release(&argv);
}

static void test_run_streams_apart(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    struct m87_strv argv;
    sh_argv(&argv, "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 2");
    struct engine_exec_config cfg = {.argv = &argv};
    struct m87_buf out, errout;
    m87_buf_init(&out, 0);
    m87_buf_init(&errout, 0);
    int code = -1;
    assert_ok(engine_exec_run(x->c, x->id, &cfg, 1024, &out, &errout, &code, &err), &err);
    assert_int_equal(code, 2);
    assert_string_equal(text_of(&out), "out1\nout2\n");
    assert_string_equal(text_of(&errout), "err1\nerr2\n");

    /* env, working directory and user reach the process */
    struct m87_strv env;
    m87_strv_init(&env);
    m87_strv_add(&env, "M87_GREETING=hello there");
    m87_strv_release(&argv);
    sh_argv(&argv, "echo \"$M87_GREETING\"; pwd; id -u");
    struct engine_exec_config cfg2 = {
        .argv = &argv, .env = &env, .user = "nobody", .working_dir = "/tmp"};
    assert_ok(engine_exec_run(x->c, x->id, &cfg2, 1024, &out, &errout, &code, &err), &err);
    assert_int_equal(code, 0);
    assert_string_equal(text_of(&out), "hello there\n/tmp\n65534\n");
    assert_int_equal(errout.len, 0);

    m87_strv_release(&env);
    m87_strv_release(&argv);
    m87_buf_release(&out);
    m87_buf_release(&errout);
}

static void test_run_large_output_and_cap(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    struct m87_strv argv;
    /* many frames, several libcurl chunks each */
    sh_argv(&argv, "head -c 300000 /dev/zero | tr '\\0' a; echo done >&2");
    struct engine_exec_config cfg = {.argv = &argv};
    struct m87_buf out, errout;
    m87_buf_init(&out, 0);
    m87_buf_init(&errout, 0);
    int code = -1;
    assert_ok(engine_exec_run(x->c, x->id, &cfg, 1 << 20, &out, &errout, &code, &err), &err);
    assert_int_equal(code, 0);
    assert_int_equal(out.len, 300000);
    assert_int_equal(strspn(out.data, "a"), 300000);
    assert_string_equal(text_of(&errout), "done\n");

    assert_fails_with(engine_exec_run(x->c, x->id, &cfg, 1000, &out, &errout, &code, &err), &err,
                      M87_E_TOOBIG, "stdout of the command is over 1000 bytes");
    assert_true(out.len <= 1000);
    m87_strv_release(&argv);
    m87_buf_release(&out);
    m87_buf_release(&errout);
}

struct lines {
    struct m87_buf text;
    size_t calls;
    size_t stop_at;
};

static int on_chunk(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct lines *l = ctx;
    m87_buf_appendf(&l->text, NULL, "%d:", (int)stream);
    m87_buf_append(&l->text, data, len, NULL);
    l->calls++;
    return l->stop_at && l->calls >= l->stop_at;
}

static void test_create_start_inspect(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    struct m87_strv argv;
    sh_argv(&argv, "echo one; sleep 0.3; echo two >&2; exit 4");
    struct engine_exec_config cfg = {.argv = &argv};
    _cleanup_free_ char *exec_id = NULL;
    assert_ok(engine_exec_create(x->c, x->id, &cfg, &exec_id, &err), &err);
    struct engine_exec_info info = {.exit_code = -2};
    assert_ok(engine_exec_inspect(x->c, exec_id, &info, &err), &err);
    assert_false(info.running);

    struct lines l = {.calls = 0};
    m87_buf_init(&l.text, 0);
    assert_ok(engine_exec_start(x->c, exec_id, false, on_chunk, &l, &err), &err);
    assert_string_equal(text_of(&l.text), "1:one\n2:two\n");
    /* the exit code may trail the end of the output by a moment */
    for (int i = 0; i < 500; i++) {
        assert_ok(engine_exec_inspect(x->c, exec_id, &info, &err), &err);
        if (!info.running)
            break;
        usleep(20000);
    }
    assert_false(info.running);
    assert_int_equal(info.exit_code, 4);
    assert_true(info.pid > 0);
    m87_buf_release(&l.text);
    m87_strv_release(&argv);
}

static void test_tty(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    struct m87_strv argv;
    sh_argv(&argv, "echo out; echo err >&2");
    struct engine_exec_config cfg = {.argv = &argv, .tty = true};
    struct m87_buf out, errout;
    m87_buf_init(&out, 0);
    m87_buf_init(&errout, 0);
    int code = -1;
    assert_ok(engine_exec_run(x->c, x->id, &cfg, 1024, &out, &errout, &code, &err), &err);
    assert_int_equal(code, 0);
    /* one terminal: both on stdout, with its line ends */
    assert_string_equal(text_of(&out), "out\r\nerr\r\n");
    assert_int_equal(errout.len, 0);
    m87_strv_release(&argv);
    m87_buf_release(&out);
    m87_buf_release(&errout);
}

static void test_callback_stops(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    struct m87_strv argv;
    sh_argv(&argv, "i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo $i; sleep 0.1; done");
    struct engine_exec_config cfg = {.argv = &argv};
    _cleanup_free_ char *exec_id = NULL;
    assert_ok(engine_exec_create(x->c, x->id, &cfg, &exec_id, &err), &err);
    struct lines l = {.stop_at = 2};
    m87_buf_init(&l.text, 0);
    assert_fails_with(engine_exec_start(x->c, exec_id, false, on_chunk, &l, &err), &err,
                      M87_E_CANCELLED, "start exec");
    /* a slow machine may hand two lines over in one frame: what matters is
     * that no chunk came after the one that said stop, long before the end */
    assert_int_equal(l.calls, 2);
    assert_true(strncmp(text_of(&l.text), "1:1\n", 4) == 0);
    assert_null(strstr(text_of(&l.text), "50\n"));
    /* the client is still usable afterwards */
    struct engine_exec_info info;
    assert_ok(engine_exec_inspect(x->c, exec_id, &info, &err), &err);
    m87_buf_release(&l.text);
    m87_strv_release(&argv);
}

static void test_errors(void **state)
{
    struct ctx *x = *state;
    struct m87_error *err = NULL;
    struct m87_strv argv;
    sh_argv(&argv, "true");
    struct engine_exec_config cfg = {.argv = &argv};
    _cleanup_free_ char *name = e2e_name("exec-stopped");
    _cleanup_free_ char *stopped =
        e2e_create(x->c, name, e2e_env("M87_TEST_IMAGE_SMALL"), NULL, NULL);
    char *exec_id = NULL;
    assert_fails_with(engine_exec_create(x->c, stopped, &cfg, &exec_id, &err), &err, M87_E_CONFLICT,
                      "is not running");
    assert_null(exec_id);
    assert_fails_with(engine_exec_create(x->c, name + 1, &cfg, &exec_id, &err), &err,
                      M87_E_NOTFOUND, "No such container");
    assert_fails_with(engine_exec_start(x->c, "m87nosuchexec", false, NULL, NULL, &err), &err,
                      M87_E_NOTFOUND, "No such exec instance");
    struct engine_exec_info info;
    assert_fails_with(engine_exec_inspect(x->c, "m87nosuchexec", &info, &err), &err, M87_E_NOTFOUND,
                      "inspect exec");
    e2e_remove(x->c, stopped);
    m87_strv_release(&argv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code),
        cmocka_unit_test(test_run_streams_apart),
        cmocka_unit_test(test_run_large_output_and_cap),
        cmocka_unit_test(test_create_start_inspect),
        cmocka_unit_test(test_tty),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("engine_exec", tests, setup, teardown);
}
