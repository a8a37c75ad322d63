/* Unit tests of src/common: errors, buffers, lists, JSON, the line splitter, base64url. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/base64.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/lines.h"
#include "m87/list.h"
#include "unit-util.h"

static void test_error_set_and_wrap(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    assert_int_equal(m87_error_set(&err, M87_E_IO, 2, "open '%s'", "/x"), -1);
    assert_int_equal(m87_error_code(err), M87_E_IO);
    assert_string_equal(err->msg, "open '/x': No such file or directory");
    /* a second failure does not replace the first */
    m87_error_set(&err, M87_E_PARSE, 0, "later");
    assert_int_equal(err->code, M87_E_IO);
    assert_int_equal(m87_error_wrap(&err, "load '%s'", "cfg"), -1);
    assert_string_equal(err->msg, "load 'cfg': open '/x': No such file or directory");
    m87_error_clear(&err);
    assert_null(err);
    assert_int_equal(m87_error_code(NULL), M87_E_OK);
    assert_string_equal(m87_strerror(M87_E_NOTFOUND), "not found");
    assert_string_equal(m87_strerror((enum m87_errcode)999), "unknown error");
    /* NULL err is allowed: the failure is only returned */
    assert_int_equal(m87_error_set(NULL, M87_E_IO, 0, "x"), -1);
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_buf b;
    m87_buf_init(&b, 8);
    assert_int_equal(m87_buf_append(&b, "abcd", 4, &err), 0);
    assert_int_equal(m87_buf_appendf(&b, &err, "%d", 1234), 0);
    assert_string_equal(b.data, "abcd1234");
    assert_int_equal(m87_buf_append(&b, "x", 1, &err), -1);
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_int_equal(b.len, 8);
    m87_error_clear(&err);
    m87_buf_consume(&b, 3);
    assert_string_equal(b.data, "d1234");
    char *s = m87_buf_steal(&b);
    assert_string_equal(s, "d1234");
    free(s);
    assert_null(b.data);
    s = m87_buf_steal(&b);
    assert_string_equal(s, "");
    free(s);
    m87_buf_release(&b);
}

static void test_kvlist_strv(void **state)
{
    (void)state;
    struct m87_kvlist l;
    m87_kvlist_init(&l);
    m87_kvlist_add(&l, "a", "1");
    m87_kvlist_add(&l, "b", NULL);
    m87_kvlist_set(&l, "a", "2");
    m87_kvlist_set(&l, "c", "3");
    assert_int_equal(l.len, 3);
    assert_string_equal(m87_kvlist_get(&l, "a"), "2");
    assert_null(m87_kvlist_get(&l, "b"));
    assert_true(m87_kvlist_has(&l, "b"));
    assert_false(m87_kvlist_has(&l, "z"));
    m87_kvlist_release(&l);
    assert_int_equal(l.len, 0);

    struct m87_strv v;
    m87_strv_init(&v);
    for (int i = 0; i < 20; i++)
        m87_strv_add(&v, "x");
    assert_int_equal(v.len, 20);
    assert_null(v.items[20]);
    m87_strv_release(&v);
}

static void test_json_read(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const char *text = "{\"Id\":\"abc\",\"State\":{\"Health\":{\"Status\":\"healthy\"},\"Pid\":42,"
                       "\"Running\":true},\"Names\":[\"/a\",\"/b\",3],\"Labels\":{\"k\":\"v\","
                       "\"n\":1},\"F\":1.5,\"N\":null}";
    struct m87_json *doc = m87_json_parse(text, strlen(text), &err);
    assert_non_null(doc);
    assert_string_equal(m87_json_str(m87_json_get(doc, "Id"), NULL), "abc");
    assert_string_equal(m87_json_str(m87_json_path(doc, "State", "Health", "Status", NULL), ""),
                        "healthy");
    assert_int_equal(m87_json_int(m87_json_path(doc, "State", "Pid", NULL), -1), 42);
    assert_true(m87_json_bool(m87_json_path(doc, "State", "Running", NULL), false));
    assert_null(m87_json_path(doc, "State", "Nope", "Deeper", NULL));
    assert_string_equal(m87_json_str(m87_json_get(doc, "Id"), NULL), "abc");
    assert_int_equal(m87_json_int(m87_json_get(doc, "Id"), -7), -7);
    assert_true(m87_json_double(m87_json_get(doc, "F"), 0) == 1.5);
    assert_int_equal(m87_json_type(m87_json_get(doc, "N")), M87_JSON_NULL);
    assert_int_equal(m87_json_type(m87_json_get(doc, "Names")), M87_JSON_ARRAY);
    assert_int_equal(m87_json_len(m87_json_get(doc, "Names")), 3);

    struct m87_strv names;
    m87_strv_init(&names);
    m87_json_to_strv(m87_json_get(doc, "Names"), &names);
    assert_int_equal(names.len, 2);
    assert_string_equal(names.items[1], "/b");
    m87_strv_release(&names);

    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    m87_json_to_kvlist(m87_json_get(doc, "Labels"), &labels);
    assert_int_equal(labels.len, 1);
    assert_string_equal(m87_kvlist_get(&labels, "k"), "v");
    m87_kvlist_release(&labels);
    m87_json_free(doc);
}

static void test_json_bad(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    assert_null(m87_json_parse("{\"a\":", 5, &err));
    assert_int_equal(err->code, M87_E_PARSE);
    assert_non_null(strstr(err->msg, "invalid json"));
    assert_null(strchr(err->msg, '\n'));
    m87_error_clear(&err);
    assert_null(m87_json_parse("{}\0{}", 5, &err));
    assert_int_equal(err->code, M87_E_PARSE);
    m87_error_clear(&err);
    /* only the given length is parsed */
    struct m87_json *doc = m87_json_parse("[1]garbage", 3, &err);
    assert_non_null(doc);
    m87_json_free(doc);
}

static void test_json_depth(void **state)
{
    (void)state;
    assert_int_equal(m87_json_depth("{}", 2, 32), 1);
    assert_int_equal(m87_json_depth("{\"a\":[[1]]}", 11, 32), 3);
    /* brackets inside strings, escaped quotes included, do not count */
    const char *s = "{\"a\":\"[[[\\\"[[[\"}";
    assert_int_equal(m87_json_depth(s, strlen(s), 32), 1);
    /* a megabyte of '[' is refused before yajl builds (and recursively frees) a tree */
    size_t n = 1024 * 1024;
    char *deep = m87_xmalloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    assert_int_equal(m87_json_depth(deep, 2 * n, 32), 33);
    struct m87_error *err = NULL;
    assert_null(m87_json_parse(deep, 2 * n, &err));
    assert_int_equal(err->code, M87_E_PARSE);
    assert_string_equal(err->msg, "invalid json: nested deeper than 64 levels");
    m87_error_clear(&err);
    /* exactly at the limit is fine */
    const size_t lim = M87_JSON_MAX_DEPTH;
    struct m87_json *doc = m87_json_parse(deep + n - lim, 2 * lim, &err);
    assert_non_null(doc);
    m87_json_free(doc);
    assert_null(m87_json_parse_max(deep + n - lim, 2 * lim, 10, &err));
    assert_string_equal(err->msg, "invalid json: nested deeper than 10 levels");
    m87_error_clear(&err);
    free(deep);
}

static void test_json_write_roundtrip(void **state)
{
    (void)state;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "path", "/a/b \"q\"\n\t\x01");
    m87_jw_kint(w, "big", INT64_MAX);
    m87_jw_kbool(w, "t", true);
    m87_jw_key(w, "none");
    m87_jw_str(w, NULL);
    struct m87_kvlist l;
    m87_kvlist_init(&l);
    m87_kvlist_add(&l, "x", "y");
    m87_kvlist_add(&l, "empty", NULL);
    m87_jw_key(w, "labels");
    m87_jw_kvlist(w, &l);
    m87_kvlist_release(&l);
    m87_jw_obj_close(w);
    char *text = m87_jw_finish(w);
    assert_non_null(strstr(text, "\"/a/b"));

    struct m87_error *err = NULL;
    struct m87_json *doc = m87_json_parse(text, strlen(text), &err);
    assert_non_null(doc);
    assert_string_equal(m87_json_str(m87_json_get(doc, "path"), ""), "/a/b \"q\"\n\t\x01");
    assert_int_equal(m87_json_int(m87_json_get(doc, "big"), 0), INT64_MAX);
    assert_string_equal(m87_json_str(m87_json_path(doc, "labels", "empty", NULL), "?"), "");

    /* copying a parsed tree gives the same text */
    struct m87_jw *w2 = m87_jw_new();
    m87_jw_node(w2, doc);
    char *text2 = m87_jw_finish(w2);
    assert_string_equal(text, text2);
    free(text2);
    free(text);
    m87_json_free(doc);
}

struct collected {
    char lines[8][64];
    int n;
    int stop_at;
};

static int collect_line(void *ctx, const char *line, size_t len)
{
    struct collected *c = ctx;
    assert_true(c->n < 8 && len < 64);
    memcpy(c->lines[c->n], line, len);
    c->lines[c->n][len] = '\0';
    c->n++;
    return c->n == c->stop_at ? 7 : 0;
}

static void test_lines_any_chunking(void **state)
{
    (void)state;
    const char *text = "one\r\ntwo\n\nfour\nlast";
    for (size_t chunk = 1; chunk <= strlen(text); chunk++) {
        struct collected c = {.n = 0};
        struct m87_lines l;
        struct m87_error *err = NULL;
        m87_lines_init(&l, 32, collect_line, &c);
        for (size_t off = 0; off < strlen(text); off += chunk) {
            size_t n = strlen(text) - off < chunk ? strlen(text) - off : chunk;
            assert_int_equal(m87_lines_feed(&l, text + off, n, &err), 0);
        }
        assert_int_equal(c.n, 4);
        assert_int_equal(m87_lines_finish(&l, &err), 0);
        m87_lines_release(&l);
        assert_int_equal(c.n, 5);
        assert_string_equal(c.lines[0], "one");
        assert_string_equal(c.lines[1], "two");
        assert_string_equal(c.lines[2], "");
        assert_string_equal(c.lines[3], "four");
        assert_string_equal(c.lines[4], "last");
    }
}

static void test_lines_cap_and_stop(void **state)
{
    (void)state;
    struct collected c = {.n = 0, .stop_at = 2};
    struct m87_lines l;
    struct m87_error *err = NULL;
    m87_lines_init(&l, 4, collect_line, &c);
    assert_int_equal(m87_lines_feed(&l, "ab\ncd\nef\n", 9, &err), 7);
    assert_int_equal(c.n, 2);
    m87_lines_release(&l);

    c.n = 0;
    c.stop_at = 0;
    m87_lines_init(&l, 4, collect_line, &c);
    assert_int_equal(m87_lines_feed(&l, "abc", 3, &err), 0);
    assert_int_equal(m87_lines_feed(&l, "def", 3, &err), -1);
    assert_int_equal(err->code, M87_E_TOOBIG);
    m87_error_clear(&err);
    m87_lines_release(&l);

    m87_lines_init(&l, 4, collect_line, &c);
    assert_int_equal(m87_lines_feed(&l, "abcdef\n", 7, &err), -1);
    assert_int_equal(err->code, M87_E_TOOBIG);
    m87_error_clear(&err);
    m87_lines_release(&l);
}

static void test_base64url(void **state)
{
    (void)state;
    char *s = m87_base64url_encode("\xfb\xff\xfe", 3);
    assert_string_equal(s, "-__-");
    free(s);
    s = m87_base64url_encode("ab", 2);
    assert_string_equal(s, "YWI=");
    free(s);
    s = m87_base64url_encode("", 0);
    assert_string_equal(s, "");
    free(s);
}

static void test_base64_decode(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    size_t n = 0;
    char *s = m87_base64_decode("dXNlcjpwYXNz", 12, &n, &err);
    assert_non_null(s);
    assert_string_equal(s, "user:pass");
    assert_int_equal(n, 9);
    free(s);
    s = m87_base64_decode("YWI=", 4, &n, &err);
    assert_string_equal(s, "ab");
    assert_int_equal(n, 2);
    free(s);
    s = m87_base64_decode("YQ==", 4, &n, &err);
    assert_string_equal(s, "a");
    assert_int_equal(n, 1);
    free(s);
    s = m87_base64_decode("", 0, &n, &err);
    assert_string_equal(s, "");
    assert_int_equal(n, 0);
    free(s);
    static const char *const bad[] = {"YWI", "-__-", "Y=WI", "YW I", "c2VjcmV0cGFzc3dvcmQ"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(m87_base64_decode(bad[i], strlen(bad[i]), NULL, &err));
        assert_int_equal(m87_error_code(err), M87_E_PARSE);
        assert_null(strstr(err->msg, bad[i]));
        m87_error_clear(&err);
    }
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[M87_SHA256_HEX_LEN + 1];
    /* FIPS 180-2 test vectors */
    m87_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    m87_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* streaming in pieces gives the one-shot digest */
    struct m87_sha256 *h = m87_sha256_new();
    m87_sha256_update(h, "abcdbcdecdefdefgefghfghighij", 28);
    m87_sha256_update(h, "hijkijkljklmklmnlmnomnopnopq", 28);
    m87_sha256_final(h, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    m87_sha256_abort(NULL);
}

static void test_memeq_ct(void **state)
{
    (void)state;
    assert_int_equal(m87_memeq_ct("abcd", "abcd", 4), 0);
    assert_int_not_equal(m87_memeq_ct("abcd", "abce", 4), 0);
    assert_int_not_equal(m87_memeq_ct("xbcd", "abcd", 4), 0);
    assert_int_equal(m87_memeq_ct("", "", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_and_wrap),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_kvlist_strv),
        cmocka_unit_test(test_json_read),
        cmocka_unit_test(test_json_bad),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_json_write_roundtrip),
        cmocka_unit_test(test_lines_any_chunking),
        cmocka_unit_test(test_lines_cap_and_stop),
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_base64_decode),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_memeq_ct),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
