/* Unit tests of the server's pure logic: route matching, Range headers, names, JSON nesting,
 * times, numbers, the revision hash and the job merge/remove that make revisions, and the waves
 * and max-failed options of a rollout. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/spec-runspec.h"
#include "m87/json.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/revision.h"
#include "server/secret.h"
#include "server/route.h"
#include "server/rollout.h"
#include "server/row.h"
#include "server/store-deployments.h"
#include "server/util.h"
#include "unit-util.h"

static void test_route_match(void **state)
{
    (void)state;
    struct srv_params p = {.n = 0};
    assert_true(srv_route_match("/v1/devices", "/v1/devices", &p));
    assert_int_equal(p.n, 0);
    assert_true(srv_route_match("/v1/devices/{}/deployments/{}/jobs/{}",
                                "/v1/devices/gw-1/deployments/d-0123abcd/jobs/app", &p));
    assert_int_equal(p.n, 3);
    assert_string_equal(p.v[0], "gw-1");
    assert_string_equal(p.v[1], "d-0123abcd");
    assert_string_equal(p.v[2], "app");
    srv_params_release(&p);
    assert_true(srv_route_match("/v1/bundles/{}", "/v1/bundles/sha256:ab", &p));
    assert_string_equal(p.v[0], "sha256:ab");
    srv_params_release(&p);

    static const char *const misses[][2] = {
        {"/v1/devices", "/v1/devices/"},
        {"/v1/devices", "/v1/device"},
        {"/v1/devices/{}", "/v1/devices/"},
        {"/v1/devices/{}", "/v1/devices//"},
        {"/v1/devices/{}", "/v1/devices/a/b"},
        {"/v1/devices/{}/status", "/v1/devices/a/statusx"},
        {"/v1/devices/{}/status", "/v1/devices//status"},
        {"/healthz", "/healthz/"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(misses); i++) {
        if (srv_route_match(misses[i][0], misses[i][1], &p))
            fail_msg("'%s' matched '%s'", misses[i][1], misses[i][0]);
        assert_int_equal(p.n, 0);
    }
    /* a segment longer than the cap does not match */
    char long_path[600] = "/v1/devices/";
    memset(long_path + strlen(long_path), 'a', 300);
    assert_false(srv_route_match("/v1/devices/{}", long_path, &p));
}

static void test_route_table(void **state)
{
    (void)state;
    /* every path of the table resolves to exactly one route per method */
    for (size_t i = 0; i < srv_n_routes; i++)
        for (size_t k = i + 1; k < srv_n_routes; k++)
            if (strcmp(srv_routes[i].method, srv_routes[k].method) == 0 &&
                strcmp(srv_routes[i].pattern, srv_routes[k].pattern) == 0)
                fail_msg("duplicate route %s %s", srv_routes[i].method, srv_routes[i].pattern);
}

static void test_range(void **state)
{
    (void)state;
    uint64_t a = 0, b = 0;
    assert_int_equal(srv_parse_range(NULL, 100, &a, &b), 0);
    assert_int_equal(srv_parse_range("bytes=10-", 100, &a, &b), 1);
    assert_int_equal(a, 10);
    assert_int_equal(b, 99);
    assert_int_equal(srv_parse_range("bytes=10-19", 100, &a, &b), 1);
    assert_int_equal(b, 19);
    assert_int_equal(srv_parse_range("bytes=10-500", 100, &a, &b), 1);
    assert_int_equal(b, 99);
    assert_int_equal(srv_parse_range("bytes=-30", 100, &a, &b), 1);
    assert_int_equal(a, 70);
    assert_int_equal(b, 99);
    assert_int_equal(srv_parse_range("bytes=-300", 100, &a, &b), 1);
    assert_int_equal(a, 0);
    assert_int_equal(srv_parse_range("bytes=100-", 100, &a, &b), -1);
    assert_int_equal(srv_parse_range("bytes=0-", 0, &a, &b), -1);
    assert_int_equal(srv_parse_range("bytes=-0", 100, &a, &b), -1);
    static const char *const ignored[] = {
        "bytes=",        "bytes=-",   "bytes=a-",  "bytes=1-a", "bytes=5-1",
        "bytes=0-1,3-4", "items=0-1", "bytes 0-1", "bytes=+1-", "bytes=99999999999999999999999-"};
    for (size_t i = 0; i < M87_ARRAY_LEN(ignored); i++)
        if (srv_parse_range(ignored[i], 100, &a, &b) != 0)
            fail_msg("'%s' was not ignored", ignored[i]);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(srv_valid_device_name("gw-1"));
    assert_true(srv_valid_device_name("0.a_b-c"));
    char max[64];
    memset(max, 'a', 63);
    max[63] = '\0';
    assert_true(srv_valid_device_name(max));
    static const char *const bad[] = {"", "Gw", "-a", ".a", "_a", "a/b", "a b", "a\n", "ä"};
    for (size_t i = 0; i < M87_ARRAY_LEN(bad); i++)
        assert_false(srv_valid_device_name(bad[i]));
    char over[65];
    memset(over, 'a', 64);
    over[64] = '\0';
    assert_false(srv_valid_device_name(over));

    assert_true(srv_valid_deployment_id("d-0123abcd"));
    assert_false(srv_valid_deployment_id("d-0123ABCD"));
    assert_false(srv_valid_deployment_id("d-0123abc"));
    assert_false(srv_valid_deployment_id("x-0123abcd"));
    assert_true(
        srv_valid_hex64("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(
        srv_valid_hex64("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF"));
    assert_false(srv_valid_hex64("abc"));
}

static void test_time_and_int(void **state)
{
    (void)state;
    char buf[32];
    srv_time_format(0, buf);
    assert_string_equal(buf, "");
    srv_time_format(1795437000, buf);
    assert_string_equal(buf, "2026-11-23T12:30:00Z");
    int64_t v = 0;
    assert_int_equal(srv_parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    static const char *const bad[] = {"",   " 1",  "1 ", "+1",
                                      "1x", "101", "-1", "99999999999999999999"};
    for (size_t i = 0; i < M87_ARRAY_LEN(bad); i++)
        if (srv_parse_int(bad[i], 0, 100, &v) == 0)
            fail_msg("'%s' parsed", bad[i]);
}

static struct spec_runspec *parse(const char *text)
{
    struct m87_error *err = NULL;
    struct spec_runspec *rs = spec_runspec_parse(text, strlen(text), "t", &err);
    if (rs == NULL)
        fail_msg("parse: %s", err->msg);
    return rs;
}

static void test_revision_hash(void **state)
{
    (void)state;
    char got[M87_SHA256_HEX_LEN + 1], want[M87_SHA256_HEX_LEN + 1];
    struct spec_runspec empty = {NULL, 0};
    srv_rev_hash(&empty, got);
    m87_sha256_hex("m87-rev-v1\n", 11, want);
    assert_string_equal(got, want);

    struct spec_runspec *rs =
        parse("{\"jobs\":[{\"id\":\"b\",\"enabled\":false,\"steps\":[{\"name\":"
              "\"s\",\"run\":\"x\"}]},{\"id\":\"a\",\"steps\":[{\"name\":"
              "\"s\",\"run\":\"y\"}]}]}");
    _cleanup_free_ char *text =
        m87_xasprintf("m87-rev-v1\na %s 1\nb %s 0\n", rs->jobs[1].hash, rs->jobs[0].hash);
    m87_sha256_hex(text, strlen(text), want);
    srv_rev_hash(rs, got);
    assert_string_equal(got, want);

    /* the order of jobs in the document does not matter, enabled does */
    struct spec_runspec *swapped = parse("{\"jobs\":[{\"id\":\"a\",\"steps\":[{\"name\":\"s\","
                                         "\"run\":\"y\"}]},{\"id\":\"b\",\"enabled\":false,"
                                         "\"steps\":[{\"name\":\"s\",\"run\":\"x\"}]}]}");
    srv_rev_hash(swapped, want);
    assert_string_equal(got, want);
    swapped->jobs[1].enabled = true;
    srv_rev_hash(swapped, want);
    assert_string_not_equal(got, want);
    spec_runspec_free(swapped);
    spec_runspec_free(rs);
}

static void test_merge_and_remove(void **state)
{
    (void)state;
    struct spec_runspec *base = parse("jobs:\n- {id: a, steps: [{name: s, run: x}]}\n"
                                      "- {id: b, steps: [{name: s, run: x}]}\n");
    struct spec_runspec *add = parse("jobs:\n- {id: c, steps: [{name: s, run: z}]}\n"
                                     "- {id: a, steps: [{name: s, run: new}]}\n");
    srv_rev_merge(base, add);
    assert_int_equal(add->n_jobs, 0);
    assert_int_equal(base->n_jobs, 3);
    assert_string_equal(base->jobs[0].id, "a"); /* replaced in place */
    assert_string_equal(base->jobs[0].steps[0].run.text, "new");
    assert_string_equal(base->jobs[1].id, "b");
    assert_string_equal(base->jobs[2].id, "c"); /* appended */
    assert_int_equal(base->jobs[2].index, 2);

    struct srv_rev_content c;
    srv_rev_content_from(base, &c);
    assert_string_equal(c.jobs, "[\"a\",\"b\",\"c\"]");
    /* the stored spec reads back to the same jobs and hash */
    struct m87_error *err = NULL;
    struct spec_runspec *back = srv_rev_parse_stored(c.spec, &err);
    assert_non_null(back);
    char h[M87_SHA256_HEX_LEN + 1];
    srv_rev_hash(back, h);
    assert_string_equal(h, c.hash);
    spec_runspec_free(back);
    srv_rev_content_release(&c);

    assert_true(srv_rev_remove(base, "b"));
    assert_false(srv_rev_remove(base, "b"));
    assert_int_equal(base->n_jobs, 2);
    assert_string_equal(base->jobs[1].id, "c");
    assert_int_equal(base->jobs[1].index, 1);
    spec_runspec_free(add);
    spec_runspec_free(base);
}

/* A deployment's column table writes its JSON in the documented order, and releases it. */
static void test_row_json(void **state)
{
    (void)state;
    struct srv_deployment d = {.id = 7,
                               .device_id = 3,
                               .public_id = m87_xstrdup("d-0011aabb"),
                               .active = true,
                               .created = 1700000000,
                               .revision = 2,
                               .hash = m87_xstrdup("abc"),
                               .jobs = m87_xstrdup("[\"a\"]")};
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    srv_jw_row(w, &srv_deployment_row, &d);
    m87_jw_obj_close(w);
    char *text = m87_jw_finish(w);
    assert_string_equal(text, "{\"id\":\"d-0011aabb\",\"active\":true,\"revision\":2,"
                              "\"hash\":\"abc\",\"created\":\"2023-11-14T22:13:20Z\","
                              "\"updated\":null,\"jobs\":[\"a\"]}");
    free(text);
    srv_deployment_release(&d);
    assert_null(d.public_id);
    assert_int_equal(d.id, 0);
}

/* A sealed secret opens with its key and host only; the key file is made once, mode 0600, and
 * refused when others can read it. */
static void test_secret(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    char dir[] = "/tmp/m87-secret-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct srv_secret_key k = {0}, again = {0}, other = {0};
    assert_ok(srv_secret_key_load(dir, true, &k, &err), &err);
    assert_ok(srv_secret_key_load(dir, false, &again, &err), &err);
    assert_memory_equal(k.bytes, again.bytes, SRV_SECRET_KEY_LEN);
    char *sealed = srv_secret_seal(&k, "pa ss", 5, "reg.example", &err);
    assert_non_null(sealed);
    assert_null(strstr(sealed, "pa ss"));
    char *plain = srv_secret_open(&again, sealed, "reg.example", &err);
    assert_non_null(plain);
    assert_string_equal(plain, "pa ss");
    free(plain);
    assert_null(srv_secret_open(&k, sealed, "other.example", &err));
    assert_int_equal(m87_error_code(err), M87_E_INVAL);
    m87_error_clear(&err);
    memset(other.bytes, 7, sizeof(other.bytes));
    other.loaded = true;
    assert_null(srv_secret_open(&other, sealed, "reg.example", &err));
    m87_error_clear(&err);
    sealed[0] = sealed[0] == 'a' ? 'b' : 'a';
    assert_null(srv_secret_open(&k, sealed, "reg.example", &err));
    m87_error_clear(&err);
    free(sealed);
    char *path = m87_xasprintf("%s/%s", dir, SRV_SECRET_KEY_FILE);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(srv_secret_key_load(dir, true, &again, &err), -1);
    assert_non_null(strstr(err->msg, "chmod 600"));
    m87_error_clear(&err);
    unlink(path);
    rmdir(dir);
    free(path);
    srv_secret_key_release(&k);
    srv_secret_key_release(&again);
}

static void check_waves(const char *text, int64_t n, const char *want)
{
    _cleanup_free_ char *got = NULL;
    struct m87_error *err = NULL;
    assert_int_equal(srv_waves_parse(text, n, &got, &err), 0);
    assert_string_equal(got, want);
}

static void check_waves_bad(const char *text, const char *msg)
{
    _cleanup_free_ char *got = NULL;
    struct m87_error *err = NULL;
    assert_int_equal(srv_waves_parse(text, 10, &got, &err), -1);
    assert_int_equal(err->code, M87_E_INVAL);
    assert_string_equal(err->msg, msg);
    assert_null(got);
    m87_error_free(err);
}

static void test_waves(void **state)
{
    (void)state;
    check_waves("1,10%,50%,100%", 3, "[1,2,3]");
    check_waves("1,10%,50%,100%", 20, "[1,2,10,20]");
    check_waves("1,50%,100%", 4, "[1,2,4]");
    check_waves("100%", 7, "[7]");
    check_waves("5", 3, "[3]");       /* more than the members: all of them */
    check_waves("1,2", 5, "[1,2,5]"); /* the last wave takes the rest */
    check_waves("3,1", 5, "[3,5]");   /* cumulative: a smaller count adds nothing */
    check_waves("1", 0, "[]");
    check_waves_bad("1,x", "waves: 'x' is not a count of devices (1 or more) or a percentage of "
                           "the fleet (1% to 100%)");
    check_waves_bad("0", "waves: '0' is not a count of devices (1 or more) or a percentage of "
                         "the fleet (1% to 100%)");
    check_waves_bad("101%", "waves: '101%' is not a count of devices (1 or more) or a "
                            "percentage of the fleet (1% to 100%)");
    check_waves_bad("1,,2", "waves: '' is not a count of devices (1 or more) or a percentage of "
                            "the fleet (1% to 100%)");
    check_waves_bad("-1", "waves: '-1' is not a count of devices (1 or more) or a percentage of "
                          "the fleet (1% to 100%)");
    struct m87_error *err = NULL;
    assert_int_equal(srv_max_failed_check("0", &err), 0);
    assert_int_equal(srv_max_failed_check("25%", &err), 0);
    assert_int_equal(srv_max_failed_check("3", &err), 0);
    assert_int_equal(srv_max_failed_check("x%", &err), -1);
    assert_string_equal(err->msg, "max_failed: 'x%' is not a count (0 or more) or a percentage "
                                  "of a wave (0% to 100%)");
    m87_error_free(err);
}

/* An audit row's detail: the request's members but those skipped, in their order; none left is
 * NULL. */
static void test_audit_detail(void **state)
{
    (void)state;
    static const char *const skip[] = {"what", "command", "env", "signature", NULL};
    static const char req[] = "{\"what\":\"forward\",\"host\":\"10.0.0.5\",\"port\":80,"
                              "\"env\":[\"SECRET=1\"],\"protocol\":\"udp\",\"signature\":{}}";
    struct m87_json *doc = m87_json_parse(req, strlen(req), NULL);
    char *out = srv_audit_json_without(doc, skip);
    assert_string_equal(out, "{\"host\":\"10.0.0.5\",\"port\":80,\"protocol\":\"udp\"}");
    free(out);
    m87_json_free(doc);
    static const char only[] = "{\"what\":\"exec\",\"command\":[\"ls\"],\"env\":[]}";
    doc = m87_json_parse(only, strlen(only), NULL);
    assert_null(srv_audit_json_without(doc, skip));
    m87_json_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_match),
        cmocka_unit_test(test_route_table),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_time_and_int),
        cmocka_unit_test(test_revision_hash),
        cmocka_unit_test(test_merge_and_remove),
        cmocka_unit_test(test_row_json),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_waves),
        cmocka_unit_test(test_audit_detail),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
