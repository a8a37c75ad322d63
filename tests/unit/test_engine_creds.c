/* Registry credentials: registries of references and keys, which entry or helper serves a
 * registry, auths entries, helpers' answers, and a helper run for real (a shell script). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/engine-creds.h"
#include "m87/error.h"
#include "m87/file.h"
#include "unit-util.h"

static void check_str(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_ref_registry(void **state)
{
    (void)state;
    check_str(engine_ref_registry("nginx"), "docker.io");
    check_str(engine_ref_registry("nginx:1.25"), "docker.io");
    check_str(engine_ref_registry("library/nginx@sha256:ab"), "docker.io");
    check_str(engine_ref_registry("docker.io/library/nginx"), "docker.io");
    check_str(engine_ref_registry("index.docker.io/x/y:1"), "docker.io");
    check_str(engine_ref_registry("registry-1.docker.io/x/y"), "docker.io");
    check_str(engine_ref_registry("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
    check_str(engine_ref_registry("ghcr.io/o/i"), "ghcr.io");
    check_str(engine_ref_registry("localhost/i"), "localhost");
    check_str(engine_ref_registry("localhost:5000/i"), "localhost:5000");
    check_str(engine_ref_registry("someuser/i"), "docker.io");
}

static void test_registry_of_key(void **state)
{
    (void)state;
    check_str(engine_creds_registry_of_key("https://index.docker.io/v1/"), "docker.io");
    check_str(engine_creds_registry_of_key("index.docker.io"), "docker.io");
    check_str(engine_creds_registry_of_key("registry-1.docker.io"), "docker.io");
    check_str(engine_creds_registry_of_key("https://host:5000/v2/"), "host:5000");
    check_str(engine_creds_registry_of_key("http://host:5000"), "host:5000");
    check_str(engine_creds_registry_of_key("https://u:p@host.example/x"), "host.example");
    check_str(engine_creds_registry_of_key("host:5000/"), "host:5000");
    check_str(engine_creds_registry_of_key("host:5000"), "host:5000");
    check_str(engine_creds_registry_of_key("ghcr.io"), "ghcr.io");
}

#define CONFIG                                                                                     \
    "{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"                  \
    " \"https://reg.example:5000/v2/\": {\"auth\": \"dTpwOnc=\"},"                                 \
    " \"tok.example\": {\"identitytoken\": \"idtok\"},"                                            \
    " \"empty.example\": {},"                                                                      \
    " \"bad.example\": {\"auth\": \"bm9jb2xvbg==\"},"                                              \
    " \"helped.example\": {\"auth\": \"aDpw\"}},"                                                  \
    " \"credHelpers\": {\"helped.example\": \"one\", \"https://other.example/\": \"two\","         \
    " \"skip.example\": \"\"}}"

static struct engine_creds *parse(const char *text)
{
    struct m87_error *err = NULL;
    struct engine_creds *c = engine_creds_parse(text, strlen(text), "/x/config.json", &err);
    assert_ok(c ? 0 : -1, &err);
    return c;
}

static void test_choose(void **state)
{
    (void)state;
    struct engine_creds *c = parse(CONFIG);
    struct engine_creds_choice ch;
    engine_creds_choose(c, "docker.io", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_AUTHS);
    assert_string_equal(ch.key, "https://index.docker.io/v1/");
    engine_creds_choose(c, "reg.example:5000", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_AUTHS);
    assert_string_equal(ch.key, "https://reg.example:5000/v2/");
    engine_creds_choose(c, "reg.example", &ch); /* another port is another registry */
    assert_int_equal(ch.source, ENGINE_CREDS_NONE);
    engine_creds_choose(c, "helped.example", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_HELPER);
    assert_string_equal(ch.helper, "one");
    engine_creds_choose(c, "other.example", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_HELPER);
    assert_string_equal(ch.helper, "two");
    engine_creds_free(c);

    /* credsStore serves every registry without a credHelpers entry, auths or not */
    c = parse("{\"credsStore\": \"st\", \"credHelpers\": {\"skip.example\": \"\"},"
              " \"auths\": {\"skip.example\": {\"auth\": \"aDpw\"}, \"a.example\": {}}}");
    engine_creds_choose(c, "a.example", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_HELPER);
    assert_string_equal(ch.helper, "st");
    engine_creds_choose(c, "docker.io", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_HELPER);
    engine_creds_choose(c, "skip.example", &ch); /* an empty helper: back to the auths */
    assert_int_equal(ch.source, ENGINE_CREDS_AUTHS);
    engine_creds_free(c);
    engine_creds_choose(NULL, "docker.io", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_NONE);
}

static void lookup(const struct engine_creds *c, const char *ref, struct engine_registry_auth *a)
{
    struct m87_error *err = NULL;
    assert_ok(engine_creds_lookup(c, ref, a, &err), &err);
}

static void test_auths(void **state)
{
    (void)state;
    struct engine_creds *c = parse(CONFIG);
    struct engine_registry_auth a;
    lookup(c, "busybox:1", &a);
    assert_true(a.found);
    assert_string_equal(a.auth.username, "hub");
    assert_string_equal(a.auth.password, "hubpw");
    assert_string_equal(a.auth.server_address, "https://index.docker.io/v1/");
    assert_string_equal(a.registry, "docker.io");
    assert_string_equal(a.source, "auths of '/x/config.json'");
    engine_registry_auth_release(&a);

    lookup(c, "reg.example:5000/team/app:2", &a);
    assert_true(a.found);
    assert_string_equal(a.auth.username, "u");
    assert_string_equal(a.auth.password, "p:w"); /* split at the first ':' */
    engine_registry_auth_release(&a);

    lookup(c, "tok.example/app", &a);
    assert_true(a.found);
    assert_null(a.auth.username);
    assert_string_equal(a.auth.identity_token, "idtok");
    engine_registry_auth_release(&a);

    lookup(c, "empty.example/app", &a);
    assert_false(a.found);
    engine_registry_auth_release(&a);
    lookup(c, "nowhere.example/app", &a);
    assert_false(a.found);
    assert_string_equal(a.registry, "nowhere.example");
    engine_registry_auth_release(&a);

    struct m87_error *err = NULL;
    assert_int_equal(engine_creds_lookup(c, "bad.example/app", &a, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_PARSE);
    assert_string_equal(err->msg, "credentials of registry 'bad.example': auths entry "
                                  "'bad.example' of '/x/config.json': auth is not base64 of "
                                  "USER:PASSWORD");
    m87_error_clear(&err);
    engine_registry_auth_release(&a);
    engine_creds_free(c);
}

/* The m87 server's entries come first: they win over a helper and an auths entry of the same
 * registry, and leave the others to the config. */
static void test_server_entries(void **state)
{
    (void)state;
    static const char server[] =
        "{\"digest\": \"x\", \"registries\": ["
        " {\"host\": \"helped.example\", \"username\": \"srv\", \"password\": \"srvpw\"},"
        " {\"host\": \"index.docker.io\", \"username\": \"<token>\", \"password\": \"tk\"}]}";
    struct m87_error *err = NULL;
    struct engine_creds *c = parse(CONFIG);
    struct engine_registry_auth a;
    struct engine_creds_choice ch;
    assert_ok(engine_creds_parse_server(c, server, strlen(server), "/s/registries.json", &err),
              &err);
    engine_creds_choose(c, "helped.example", &ch);
    assert_int_equal(ch.source, ENGINE_CREDS_SERVER);
    lookup(c, "helped.example/app", &a);
    assert_true(a.found);
    assert_string_equal(a.auth.username, "srv");
    assert_string_equal(a.auth.password, "srvpw");
    assert_string_equal(a.source, "the m87 server ('/s/registries.json')");
    engine_registry_auth_release(&a);
    lookup(c, "busybox", &a); /* Docker Hub by another of its names */
    assert_string_equal(a.auth.identity_token, "tk");
    assert_null(a.auth.username);
    engine_registry_auth_release(&a);
    lookup(c, "reg.example:5000/team/app:2", &a); /* not the server's: config.json */
    assert_string_equal(a.auth.username, "u");
    engine_registry_auth_release(&a);

    static const char bad[] = "{\"registries\": [{\"host\": \"a\", \"password\": \"secret\"}]}";
    assert_int_equal(engine_creds_parse_server(c, bad, strlen(bad), "/s/r.json", &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_PARSE);
    assert_null(strstr(err->msg, "secret"));
    m87_error_clear(&err);
    engine_creds_free(c);
}

static void test_auth_failure(void **state)
{
    (void)state;
    assert_int_equal(engine_pull_auth_status("dockerd answered 500: Head \"x\": no basic auth "
                                             "credentials"),
                     401);
    assert_int_equal(engine_pull_auth_status("unauthorized: authentication required"), 401);
    assert_int_equal(engine_pull_auth_status("pull access denied for x, repository does not "
                                             "exist or may require 'docker login'"),
                     403);
    assert_int_equal(engine_pull_auth_status("manifest unknown"), 0);
    struct engine_registry_auth a = {.registry = "r.example:5000"};
    struct m87_error *err = NULL;
    m87_error_set(&err, M87_E_HTTP, 0,
                  "pull image 'r.example:5000/a': dockerd answered 500: "
                  "unauthorized: authentication required");
    assert_int_equal(engine_registry_auth_wrap(&err, &a), -1);
    assert_string_equal(err->msg, "registry 'r.example:5000' (no credentials): pull image "
                                  "'r.example:5000/a': dockerd answered 500: unauthorized: "
                                  "authentication required (authentication failed: registry "
                                  "'r.example:5000' answered HTTP 401)");
    m87_error_clear(&err);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"[]", "/x/config.json: the file is not an object"},
        {"{\"auths\": []}", "/x/config.json: auths is not an object"},
        {"{\"credHelpers\": 1}", "/x/config.json: credHelpers is not an object"},
        {"{\"credsStore\": {}}", "/x/config.json: credsStore is not a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct m87_error *err = NULL;
        assert_null(engine_creds_parse(bad[i][0], strlen(bad[i][0]), "/x/config.json", &err));
        assert_int_equal(m87_error_code(err), M87_E_PARSE);
        assert_string_equal(err->msg, bad[i][1]);
        m87_error_clear(&err);
    }
    /* the parser's message never shows the text around the error, where a secret may be */
    const char *near = "{\"auths\": {\"h\": {\"auth\": \"U0VDUkVUWFla\" x}}}";
    struct m87_error *err = NULL;
    assert_null(engine_creds_parse(near, strlen(near), "/x/config.json", &err));
    assert_null(strstr(err->msg, "U0VDUkVUWFla"));
    assert_null(strchr(err->msg, '\n'));
    m87_error_clear(&err);
}

static void test_helper_answer(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct engine_registry_auth a = {0};
    const char *ok = "{\"ServerURL\":\"h\",\"Username\":\"bob\",\"Secret\":\"s3\"}";
    assert_ok(engine_creds_helper_answer(ok, strlen(ok), "x", "h", &a, &err), &err);
    assert_true(a.found);
    assert_string_equal(a.auth.username, "bob");
    assert_string_equal(a.auth.password, "s3");
    assert_string_equal(a.auth.server_address, "h");
    assert_string_equal(a.source, "docker-credential-x");
    engine_registry_auth_release(&a);
    const char *tok = "{\"Username\":\"<token>\",\"Secret\":\"t0k\"}";
    assert_ok(engine_creds_helper_answer(tok, strlen(tok), "x", "h", &a, &err), &err);
    assert_null(a.auth.username);
    assert_string_equal(a.auth.identity_token, "t0k");
    engine_registry_auth_release(&a);
    const char *bad = "{\"Username\":\"bob\",\"Password\":\"leaked\"}";
    assert_int_equal(engine_creds_helper_answer(bad, strlen(bad), "x", "h", &a, &err), -1);
    assert_null(strstr(err->msg, "leaked"));
    m87_error_clear(&err);
    engine_registry_auth_release(&a);
}

/* A helper script in a temporary directory put first on PATH. */
static char *helper_dir(const char *name, const char *script)
{
    char tmpl[] = "/tmp/m87-creds-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *path = m87_xasprintf("%s/docker-credential-%s", tmpl, name);
    struct m87_error *err = NULL;
    assert_ok(m87_write_file_atomic(path, script, strlen(script), 0755, &err), &err);
    free(path);
    char *old = getenv("PATH");
    char *env = m87_xasprintf("%s:%s", tmpl, old ? old : "/usr/bin:/bin");
    setenv("PATH", env, 1);
    free(env);
    return m87_xstrdup(tmpl);
}

static void test_helper_run(void **state)
{
    (void)state;
    char *dir =
        helper_dir("unit", "#!/bin/sh\n"
                           "[ \"$1\" = get ] || exit 3\n"
                           "read host\n"
                           "case \"$host\" in\n"
                           "h.example) echo '{\"Username\":\"u1\",\"Secret\":\"p1\"}';;\n"
                           "t.example) echo '{\"Username\":\"<token>\",\"Secret\":\"t1\"}';;\n"
                           "https://index.docker.io/v1/) echo '{\"Username\":\"hu\","
                           "\"Secret\":\"hp\"}';;\n"
                           "broken.example) echo 'keychain locked'; exit 1;;\n"
                           "*) echo 'credentials not found in native keychain'; exit 1;;\n"
                           "esac\n");
    struct engine_creds *c = parse("{\"credsStore\": \"unit\", \"credHelpers\": "
                                   "{\"gone.example\": \"absent-helper\"}}");
    struct engine_registry_auth a;
    lookup(c, "h.example/app:1", &a);
    assert_true(a.found);
    assert_string_equal(a.auth.username, "u1");
    assert_string_equal(a.auth.password, "p1");
    assert_string_equal(a.source, "docker-credential-unit");
    engine_registry_auth_release(&a);
    lookup(c, "t.example/app", &a);
    assert_string_equal(a.auth.identity_token, "t1");
    engine_registry_auth_release(&a);
    lookup(c, "index.docker.io/library/busybox", &a);
    assert_string_equal(a.auth.username, "hu");
    engine_registry_auth_release(&a);
    lookup(c, "none.example/app", &a);
    assert_false(a.found);
    engine_registry_auth_release(&a);

    struct m87_error *err = NULL;
    assert_int_equal(engine_creds_lookup(c, "broken.example/app", &a, &err), -1);
    assert_string_equal(err->msg, "credentials of registry 'broken.example': credential helper "
                                  "docker-credential-unit: it failed (exit status 1): "
                                  "'keychain locked'");
    m87_error_clear(&err);
    engine_registry_auth_release(&a);
    assert_int_equal(engine_creds_lookup(c, "gone.example/app", &a, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_IO);
    assert_non_null(strstr(err->msg, "is docker-credential-absent-helper on PATH?"));
    m87_error_clear(&err);
    engine_registry_auth_release(&a);
    engine_creds_free(c);
    assert_ok(m87_remove_tree(dir, &err), &err);
    free(dir);
}

static void test_load(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    char tmpl[] = "/tmp/m87-creds-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    struct engine_creds *c = engine_creds_load(tmpl, &err); /* no file: no credentials */
    assert_ok(c ? 0 : -1, &err);
    struct engine_registry_auth a;
    lookup(c, "busybox", &a);
    assert_false(a.found);
    engine_registry_auth_release(&a);
    engine_creds_free(c);

    char *path = m87_xasprintf("%s/config.json", tmpl);
    assert_ok(m87_write_file_atomic(path, CONFIG, strlen(CONFIG), 0600, &err), &err);
    setenv("DOCKER_CONFIG", tmpl, 1);
    c = engine_creds_load(NULL, &err);
    assert_ok(c ? 0 : -1, &err);
    assert_string_equal(engine_creds_path(c), path);
    lookup(c, "docker.io/library/busybox", &a);
    assert_string_equal(a.auth.password, "hubpw");
    engine_registry_auth_release(&a);
    engine_creds_free(c);
    unsetenv("DOCKER_CONFIG");
    free(path);
    assert_ok(m87_remove_tree(tmpl, &err), &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_registry),   cmocka_unit_test(test_registry_of_key),
        cmocka_unit_test(test_choose),         cmocka_unit_test(test_auths),
        cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_helper_answer),
        cmocka_unit_test(test_helper_run),     cmocka_unit_test(test_load),
        cmocka_unit_test(test_server_entries), cmocka_unit_test(test_auth_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
