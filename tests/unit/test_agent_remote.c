/* Unit tests of remote access's pure parts: the agent's `remote =` setting (daemon-config.c) and
 * what a remote grant's signature covers (spec_remote_payload). The channel itself is tested end
 * to end in tests/e2e/test_remote_exec.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/spec-session.h"
#include "unit-util.h"

static void test_remote_names(void **state)
{
    (void)state;
    unsigned mask = 99;
    struct m87_error *err = NULL;

    assert_int_equal(agent_remote_parse("exec, shell", &mask, &err), 0);
    assert_int_equal(mask, AGENT_REMOTE_EXEC | AGENT_REMOTE_SHELL);
    char *names = agent_remote_names(mask);
    assert_string_equal(names, "exec, shell");
    free(names);
    assert_int_equal(agent_remote_parse(" metrics ,cp,forward,exec,shell ", &mask, &err), 0);
    assert_int_equal(mask, AGENT_REMOTE_EXEC | AGENT_REMOTE_SHELL | AGENT_REMOTE_FORWARD |
                               AGENT_REMOTE_CP | AGENT_REMOTE_METRICS);
    assert_int_equal(agent_remote_parse("none", &mask, &err), 0);
    assert_int_equal(mask, 0);
    names = agent_remote_names(0);
    assert_string_equal(names, "none");
    free(names);
    assert_int_equal(agent_remote_parse("", &mask, &err), 0);
    assert_int_equal(mask, 0);

    mask = 5;
    assert_int_equal(agent_remote_parse("exec, ssh", &mask, &err), -1);
    assert_int_equal(mask, 5); /* a bad list changes nothing */
    assert_string_equal(err->msg,
                        "unknown access 'ssh' (exec, shell, forward, cp, metrics or none)");
    m87_error_free(err);
    assert_int_equal(agent_remote_bit("shell"), AGENT_REMOTE_SHELL);
    assert_int_equal(agent_remote_bit("Shell"), 0);
}

/* The config file's line: read once, the first line wins, a bad one names its place. */
static void test_remote_config_line(void **state)
{
    (void)state;
    char path[] = "/tmp/m87-unit-remote-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# remote access\nremote = exec\nremote_ = shell\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct agent_config c = {0};
    struct m87_error *err = NULL;
    assert_int_equal(agent_config_load(path, true, &c, &err), -1);
    char *want = m87_xasprintf("%s:3: unknown key 'remote_'", path);
    assert_string_equal(err->msg, want);
    free(want);
    m87_error_free(err);
    err = NULL;
    agent_config_release(&c);

    FILE *f = fopen(path, "w");
    fputs("remote = exec\nremote = shell, cp\n", f);
    fclose(f);
    assert_int_equal(agent_config_load(path, true, &c, &err), 0);
    assert_int_equal(c.remote, AGENT_REMOTE_EXEC);
    assert_true(c.remote_set);
    agent_config_release(&c);

    f = fopen(path, "w");
    fputs("remote = exec, telnet\n", f);
    fclose(f);
    assert_int_equal(agent_config_load(path, true, &c, &err), -1);
    want = m87_xasprintf("%s:1: remote: unknown access 'telnet' (exec, shell, forward, cp, "
                         "metrics or none)",
                         path);
    assert_string_equal(err->msg, want);
    free(want);
    m87_error_free(err);
    agent_config_release(&c);
    unlink(path);
}

/* What a grant covers: every field that decides what runs, in one canonical text. */
static void test_remote_payload(void **state)
{
    (void)state;
    const char *req_text =
        "{\"tty\":true,\"what\":\"exec\",\"command\":[\"sh\",\"-c\",\"id\"],\"env\":[\"A=1\"],"
        "\"workdir\":\"/srv\",\"stdin\":true,\"rows\":24,\"signature\":{\"key\":\"x\"}}";
    struct m87_json *req = m87_json_parse(req_text, strlen(req_text), NULL);
    assert_non_null(req);
    char *p =
        spec_remote_payload(req, "gw-1", "00112233445566778899aabbccddeeff", 1800000000, NULL);
    assert_string_equal(p, "m87-remote-grant-v1\n"
                           "{\"device\":\"gw-1\",\"nonce\":\"00112233445566778899aabbccddeeff\","
                           "\"expires\":1800000000,\"what\":\"exec\",\"command\":[\"sh\",\"-c\","
                           "\"id\"],\"env\":[\"A=1\"],\"workdir\":\"/srv\",\"stdin\":true,"
                           "\"tty\":true,\"host\":null,\"port\":0}");
    free(p);
    m87_json_free(req);
    const char *shell = "{\"what\":\"shell\"}";
    req = m87_json_parse(shell, strlen(shell), NULL);
    p = spec_remote_payload(req, "gw-1", "n", 1, NULL);
    assert_string_equal(p, "m87-remote-grant-v1\n"
                           "{\"device\":\"gw-1\",\"nonce\":\"n\",\"expires\":1,\"what\":\"shell\","
                           "\"command\":[],\"env\":[],\"workdir\":null,\"stdin\":false,"
                           "\"tty\":false,\"host\":null,\"port\":0}");
    free(p);
    m87_json_free(req);
    const char *udp = "{\"what\":\"forward\",\"host\":\"10.0.0.5\",\"port\":53,"
                      "\"protocol\":\"udp\"}";
    req = m87_json_parse(udp, strlen(udp), NULL);
    p = spec_remote_payload(req, "gw-1", "n", 1, NULL);
    assert_string_equal(p,
                        "m87-remote-grant-v1\n"
                        "{\"device\":\"gw-1\",\"nonce\":\"n\",\"expires\":1,\"what\":\"forward\","
                        "\"command\":[],\"env\":[],\"workdir\":null,\"stdin\":false,"
                        "\"tty\":false,\"host\":\"10.0.0.5\",\"port\":53,\"protocol\":\"udp\"}");
    free(p);
    m87_json_free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_names),
        cmocka_unit_test(test_remote_config_line),
        cmocka_unit_test(test_remote_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
