/* Unit tests of the YAML document layer and writer (src/common/yaml.c, yaml-write.c).
 *
 * fixtures/yaml/good/NAME.yml is parsed and its tree dumped (one node a line, see dump_node)
 * and compared with NAME.out; fixtures/yaml/bad/NAME.yml must fail with exactly NAME.err. Both
 * are parsed under the name "NAME.yml" so that messages do not depend on the working directory. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/units.h"
#include "m87/yaml-write.h"
#include "m87/yaml.h"
#include "unit-util.h"

/* ---- tree dump ------------------------------------------------------------------------------- */

static const char *type_name(const struct m87_yaml_node *n)
{
    static const char *const names[] = {"null", "bool", "int", "float", "str"};
    return names[m87_yaml_type(n)];
}

static void dump_text(struct m87_buf *b, const char *s)
{
    m87_buf_append(b, "'", 1, NULL);
    for (; *s; s++) {
        if (*s == '\n')
            m87_buf_append(b, "\\n", 2, NULL);
        else if (*s == '\t')
            m87_buf_append(b, "\\t", 2, NULL);
        else if (*s == '\r')
            m87_buf_append(b, "\\r", 2, NULL);
        else
            m87_buf_append(b, s, 1, NULL);
    }
    m87_buf_append(b, "'", 1, NULL);
}

/* LINE:COL KIND [details], children indented by two spaces; mapping keys as "key TEXT". */
static void dump_node(struct m87_buf *b, const struct m87_yaml_node *n, int depth)
{
    m87_buf_appendf(b, NULL, "%*s%zu:%zu ", depth * 2, "", m87_yaml_line(n), m87_yaml_column(n));
    const char *tag = m87_yaml_tag(n);
    switch (m87_yaml_kind(n)) {
    case M87_YAML_SCALAR:
        m87_buf_appendf(b, NULL, "%s %s ", type_name(n), m87_yaml_is_plain(n) ? "plain" : "quoted");
        dump_text(b, m87_yaml_text(n));
        break;
    case M87_YAML_SEQUENCE:
        m87_buf_appendf(b, NULL, "seq %zu", m87_yaml_len(n));
        break;
    case M87_YAML_MAPPING:
        m87_buf_appendf(b, NULL, "map %zu", m87_yaml_len(n));
        break;
    }
    if (tag)
        m87_buf_appendf(b, NULL, " tag %s", tag);
    m87_buf_append(b, "\n", 1, NULL);
    for (size_t i = 0; i < m87_yaml_len(n); i++) {
        const struct m87_yaml_node *key = NULL;
        if (m87_yaml_kind(n) == M87_YAML_SEQUENCE) {
            dump_node(b, m87_yaml_at(n, i), depth + 1);
            continue;
        }
        const struct m87_yaml_node *value = m87_yaml_entry(n, i, &key);
        m87_buf_appendf(b, NULL, "%*skey ", depth * 2 + 2, "");
        dump_text(b, m87_yaml_text(key));
        m87_buf_appendf(b, NULL, " %zu:%zu\n", m87_yaml_line(key), m87_yaml_column(key));
        dump_node(b, value, depth + 2);
    }
}

static char *dump(const struct m87_yaml_doc *doc)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    dump_node(&b, m87_yaml_root(doc), 0);
    return m87_buf_steal(&b);
}

static struct m87_yaml_doc *parse_str(const char *text, struct m87_error **err)
{
    return m87_yaml_parse(text, strlen(text), "t.yml", err);
}

/* ---- data-driven fixtures ----------------------------------------------------------------------
 */

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of dir's *.yml files, sorted. */
static void list_yml(const char *dir, struct m87_strv *out)
{
    _cleanup_free_ char *path = unit_fixture_path(dir);
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("cannot open %s", path);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".yml") == 0)
            m87_strv_add(out, e->d_name);
    }
    closedir(d);
    qsort(out->items, out->len, sizeof(char *), cmp_strp);
}

/* The expectation file beside NAME.yml, without its final newline. */
static char *expected(const char *dir, const char *yml, const char *ext)
{
    _cleanup_free_ char *rel = m87_xasprintf("%s/%.*s%s", dir, (int)(strlen(yml) - 4), yml, ext);
    char *text = unit_read_fixture(rel, NULL);
    size_t len = strlen(text);
    if (len && text[len - 1] == '\n')
        text[len - 1] = '\0';
    return text;
}

static void test_good_fixtures(void **state)
{
    (void)state;
    struct m87_strv names;
    m87_strv_init(&names);
    list_yml("yaml/good", &names);
    assert_true(names.len >= 10);
    for (size_t i = 0; i < names.len; i++) {
        struct m87_error *err = NULL;
        _cleanup_free_ char *rel = m87_xasprintf("yaml/good/%s", names.items[i]);
        size_t len;
        _cleanup_free_ char *text = unit_read_fixture(rel, &len);
        struct m87_yaml_doc *doc = m87_yaml_parse(text, len, names.items[i], &err);
        if (doc == NULL)
            fail_msg("%s: %s", names.items[i], err->msg);
        _cleanup_free_ char *got = dump(doc);
        _cleanup_free_ char *want = expected("yaml/good", names.items[i], ".out");
        size_t glen = strlen(got);
        if (glen && got[glen - 1] == '\n')
            got[glen - 1] = '\0';
        if (strcmp(got, want) != 0)
            fail_msg("%s: dump differs:\n--- got\n%s\n--- want\n%s", names.items[i], got, want);
        m87_yaml_free(doc);
    }
    m87_strv_release(&names);
}

static void test_bad_fixtures(void **state)
{
    (void)state;
    struct m87_strv names;
    m87_strv_init(&names);
    list_yml("yaml/bad", &names);
    assert_true(names.len >= 15);
    for (size_t i = 0; i < names.len; i++) {
        struct m87_error *err = NULL;
        _cleanup_free_ char *rel = m87_xasprintf("yaml/bad/%s", names.items[i]);
        size_t len;
        _cleanup_free_ char *text = unit_read_fixture(rel, &len);
        struct m87_yaml_doc *doc = m87_yaml_parse(text, len, names.items[i], &err);
        if (doc != NULL)
            fail_msg("%s: parsed, but must fail", names.items[i]);
        _cleanup_free_ char *want = expected("yaml/bad", names.items[i], ".err");
        if (strcmp(err->msg, want) != 0)
            fail_msg("%s: message differs:\n got: %s\nwant: %s", names.items[i], err->msg, want);
        bool cap = strstr(names.items[i], "laughs") || strstr(names.items[i], "deep");
        assert_int_equal(err->code, cap ? M87_E_TOOBIG : M87_E_PARSE);
        m87_error_clear(&err);
    }
    m87_strv_release(&names);
}

/* ---- accessors and typed reads --------------------------------------------------------------- */

static void test_accessors(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_yaml_doc *doc = parse_str("m: {a: 1, b: [x, y]}\ns: text\n", &err);
    assert_non_null(doc);
    const struct m87_yaml_node *root = m87_yaml_root(doc), *key = NULL;
    const struct m87_yaml_node *m = m87_yaml_get(root, "m");
    assert_int_equal(m87_yaml_kind(m), M87_YAML_MAPPING);
    assert_string_equal(m87_yaml_file(m), "t.yml");
    assert_int_equal(m87_yaml_len(m), 2);
    assert_null(m87_yaml_get(m, "zz"));
    assert_null(m87_yaml_get(NULL, "a"));
    assert_null(m87_yaml_text(m));
    assert_null(m87_yaml_at(m, 0));
    const struct m87_yaml_node *b = m87_yaml_entry(m, 1, &key);
    assert_string_equal(m87_yaml_text(key), "b");
    assert_int_equal(m87_yaml_line(key), 1);
    assert_int_equal(m87_yaml_column(key), 11);
    assert_int_equal(m87_yaml_kind(b), M87_YAML_SEQUENCE);
    assert_null(m87_yaml_entry(m, 2, &key));
    assert_null(m87_yaml_entry(b, 0, &key));
    assert_string_equal(m87_yaml_text(m87_yaml_at(b, 1)), "y");
    assert_null(m87_yaml_at(b, 2));
    assert_null(m87_yaml_get(b, "x"));
    const struct m87_yaml_node *s = m87_yaml_get(root, "s");
    assert_int_equal(m87_yaml_len(s), 0);
    assert_null(m87_yaml_get(s, "x"));
    assert_false(m87_yaml_is_null(s));
    assert_false(m87_yaml_is_null(NULL));
    assert_int_equal(m87_yaml_type(m), M87_YAML_STR);
    m87_yaml_free(doc);
    m87_yaml_free(NULL);
}

/* Every key of a 5000-key mapping is found, and a duplicate far apart is still caught. */
static void test_large_mapping(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (int i = 0; i < 5000; i++)
        m87_buf_appendf(&b, NULL, "k%d: %d\n", (i * 7919) % 5000, i);
    struct m87_yaml_doc *doc = parse_str(b.data, &err);
    assert_non_null(doc);
    for (int i = 0; i < 5000; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        int64_t v;
        assert_ok(m87_yaml_read_int(m87_yaml_get(m87_yaml_root(doc), key), NULL, &v, &err), &err);
        assert_int_equal((v * 7919) % 5000, i);
    }
    m87_yaml_free(doc);
    m87_buf_append(&b, "k17: again\n", 11, NULL);
    assert_null(parse_str(b.data, &err));
    assert_string_equal(err->msg,
                        "t.yml:5001:1: duplicate key 'k17' (first defined at line 544, column 1)");
    m87_error_clear(&err);
    m87_buf_release(&b);
}

static void test_read_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "True", "yes", "YES",      "on",
                                      "On",   "y",    "Y",   "\"true\"", "'yes'"};
    static const char *const no[] = {"false", "FALSE", "no", "No",     "off",
                                     "OFF",   "n",     "N",  "\"off\""};
    struct m87_error *err = NULL;
    for (size_t i = 0; i < M87_ARRAY_LEN(yes) + M87_ARRAY_LEN(no); i++) {
        bool want = i < M87_ARRAY_LEN(yes);
        const char *text = want ? yes[i] : no[i - M87_ARRAY_LEN(yes)];
        _cleanup_free_ char *src = m87_xasprintf("v: %s\n", text);
        struct m87_yaml_doc *doc = parse_str(src, &err);
        bool v = !want;
        assert_ok(m87_yaml_read_bool(m87_yaml_get(m87_yaml_root(doc), "v"), "x", &v, &err), &err);
        if (v != want)
            fail_msg("%s read as %d", text, v);
        m87_yaml_free(doc);
    }
    struct m87_yaml_doc *doc = parse_str("a: maybe\nb: 1\nc:\nd: [x]\ne: {}\n", &err);
    const struct m87_yaml_node *root = m87_yaml_root(doc);
    bool v = true;
    assert_int_equal(m87_yaml_read_bool(m87_yaml_get(root, "a"), "read_only", &v, &err), -1);
    assert_int_equal(err->code, M87_E_INVAL);
    assert_string_equal(err->msg, "t.yml:1:4: read_only: expected a boolean, got 'maybe'");
    m87_error_clear(&err);
    assert_int_equal(m87_yaml_read_bool(m87_yaml_get(root, "b"), NULL, &v, &err), -1);
    assert_string_equal(err->msg, "t.yml:2:4: expected a boolean, got '1'");
    m87_error_clear(&err);
    assert_int_equal(m87_yaml_read_bool(m87_yaml_get(root, "c"), NULL, &v, &err), -1);
    assert_string_equal(err->msg, "t.yml:3:3: expected a boolean, got null");
    m87_error_clear(&err);
    assert_int_equal(m87_yaml_read_bool(m87_yaml_get(root, "d"), "tty", &v, &err), -1);
    assert_string_equal(err->msg, "t.yml:4:4: tty: expected a boolean, got a sequence");
    m87_error_clear(&err);
    assert_int_equal(m87_yaml_read_bool(m87_yaml_get(root, "e"), NULL, &v, &err), -1);
    assert_string_equal(err->msg, "t.yml:5:4: expected a boolean, got a mapping");
    m87_error_clear(&err);
    assert_true(v);
    m87_yaml_free(doc);

    /* the words alone, for readers with their own nodes */
    assert_true(m87_yaml_bool_word("Off", &v));
    assert_false(v);
    assert_true(m87_yaml_bool_word("Y", &v));
    assert_true(v);
    assert_false(m87_yaml_bool_word("1", &v));
    assert_false(m87_yaml_bool_word("", &v));
    assert_true(v);
}

static void test_read_int(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } good[] = {
        {"0", 0},
        {"42", 42},
        {"-7", -7},
        {"+3", 3},
        {"0x1F", 31},
        {"0o17", 15},
        {"0440", 288},
        {"0b101", 5},
        {"1_000", 1000},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"\"0440\"", 440},
        {"'-12'", -12},
        {"\"+5\"", 5},
        {"!!int 12", 12},
    };
    struct m87_error *err = NULL;
    for (size_t i = 0; i < M87_ARRAY_LEN(good); i++) {
        _cleanup_free_ char *src = m87_xasprintf("v: %s\n", good[i].text);
        struct m87_yaml_doc *doc = parse_str(src, &err);
        int64_t v = -1;
        assert_ok(m87_yaml_read_int(m87_yaml_get(m87_yaml_root(doc), "v"), NULL, &v, &err), &err);
        if (v != good[i].want)
            fail_msg("%s read as %lld", good[i].text, (long long)v);
        m87_yaml_free(doc);
    }
    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        {"1.5", "t.yml:1:4: pids_limit: expected an integer, got '1.5'"},
        {"08", "t.yml:1:4: pids_limit: expected an integer, got '08'"},
        {"\"0x10\"", "t.yml:1:4: pids_limit: expected an integer, got '0x10'"},
        {"\"1_000\"", "t.yml:1:4: pids_limit: expected an integer, got '1_000'"},
        {"abc", "t.yml:1:4: pids_limit: expected an integer, got 'abc'"},
        {"~", "t.yml:1:4: pids_limit: expected an integer, got null"},
        {"9223372036854775808", "t.yml:1:4: pids_limit: integer '9223372036854775808' is out of "
                                "range"},
        {"-9223372036854775809", "t.yml:1:4: pids_limit: integer '-9223372036854775809' is out "
                                 "of range"},
        {"0x10000000000000000", "t.yml:1:4: pids_limit: integer '0x10000000000000000' is out of "
                                "range"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(bad); i++) {
        _cleanup_free_ char *src = m87_xasprintf("v: %s\n", bad[i].text);
        struct m87_yaml_doc *doc = parse_str(src, &err);
        int64_t v = 77;
        assert_int_equal(
            m87_yaml_read_int(m87_yaml_get(m87_yaml_root(doc), "v"), "pids_limit", &v, &err), -1);
        assert_int_equal(err->code, M87_E_INVAL);
        assert_string_equal(err->msg, bad[i].msg);
        assert_int_equal(v, 77);
        m87_error_clear(&err);
        m87_yaml_free(doc);
    }
}

static void test_read_str(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_yaml_doc *doc = parse_str("a: 1.5\nb: ''\nc: null\nd: [1]\n"
                                         "e: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                         "xxxxé€yyyy\n",
                                         &err);
    const struct m87_yaml_node *root = m87_yaml_root(doc);
    const char *s = NULL;
    assert_ok(m87_yaml_read_str(m87_yaml_get(root, "a"), NULL, &s, &err), &err);
    assert_string_equal(s, "1.5");
    assert_ok(m87_yaml_read_str(m87_yaml_get(root, "b"), NULL, &s, &err), &err);
    assert_string_equal(s, "");
    assert_int_equal(m87_yaml_read_str(m87_yaml_get(root, "c"), "image", &s, &err), -1);
    assert_string_equal(err->msg, "t.yml:3:4: image: expected a string, got null");
    m87_error_clear(&err);
    assert_int_equal(m87_yaml_read_str(m87_yaml_get(root, "d"), "image", &s, &err), -1);
    assert_string_equal(err->msg, "t.yml:4:4: image: expected a string, got a sequence");
    m87_error_clear(&err);
    /* long text is cut on a character boundary in messages */
    bool b;
    assert_int_equal(m87_yaml_read_bool(m87_yaml_get(root, "e"), NULL, &b, &err), -1);
    assert_string_equal(err->msg,
                        "t.yml:5:4: expected a boolean, got "
                        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxé...'");
    m87_error_clear(&err);
    m87_yaml_free(doc);
}

static void test_error_and_wrap(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_yaml_doc *doc = parse_str("services:\n  web:\n    mem_limit: 12x\n", &err);
    const struct m87_yaml_node *n = m87_yaml_get(
        m87_yaml_get(m87_yaml_get(m87_yaml_root(doc), "services"), "web"), "mem_limit");
    assert_int_equal(m87_yaml_error(n, &err, M87_E_INVAL, "unknown field '%s'", "x"), -1);
    assert_string_equal(err->msg, "t.yml:3:16: unknown field 'x'");
    assert_int_equal(err->code, M87_E_INVAL);
    m87_error_clear(&err);
    int64_t bytes;
    assert_int_equal(m87_parse_bytes(m87_yaml_text(n), &bytes, &err), -1);
    assert_int_equal(m87_yaml_wrap(n, "services.web.mem_limit", &err), -1);
    assert_string_equal(err->msg, "t.yml:3:16: services.web.mem_limit: invalid size '12x'");
    m87_error_clear(&err);
    assert_int_equal(m87_parse_bytes("-1", &bytes, &err), -1);
    assert_int_equal(m87_yaml_wrap(n, NULL, &err), -1);
    assert_string_equal(err->msg, "t.yml:3:16: invalid size '-1'");
    m87_error_clear(&err);
    assert_int_equal(m87_yaml_wrap(n, NULL, &err), -1); /* nothing to wrap */
    assert_null(err);
    m87_yaml_free(doc);
}

/* An alias yields the anchored node itself; a later anchor of the same name wins for the
 * aliases after it; an anchor is usable as a key. */
static void test_alias_semantics(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_yaml_doc *doc =
        parse_str("a: &x one\nb: *x\nc: &x two\nd: *x\ne: {*x : keyed}\nf: &m {k: v}\n"
                  "g: *m\n",
                  &err);
    assert_non_null(doc);
    const struct m87_yaml_node *root = m87_yaml_root(doc);
    assert_ptr_equal(m87_yaml_get(root, "a"), m87_yaml_get(root, "b"));
    assert_string_equal(m87_yaml_text(m87_yaml_get(root, "d")), "two");
    assert_string_equal(m87_yaml_text(m87_yaml_get(m87_yaml_get(root, "e"), "two")), "keyed");
    assert_ptr_equal(m87_yaml_get(root, "f"), m87_yaml_get(root, "g"));
    m87_yaml_free(doc);
}

/* Lookups by key see merged entries, with the winners of the merge. */
static void test_merge_lookup(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    size_t len;
    _cleanup_free_ char *text = unit_read_fixture("yaml/good/merge.yml", &len);
    struct m87_yaml_doc *doc = m87_yaml_parse(text, len, "merge.yml", &err);
    assert_non_null(doc);
    const struct m87_yaml_node *list = m87_yaml_get(m87_yaml_root(doc), "list");
    static const char *const want[][2] = {
        {"a", "base-a"}, {"b", "extra-b"}, {"c", "base-c"}, {"d", "extra-d"}, {"e", "own-e"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(want); i++)
        assert_string_equal(m87_yaml_text(m87_yaml_get(list, want[i][0])), want[i][1]);
    assert_null(m87_yaml_get(list, "<<"));
    const struct m87_yaml_node *single = m87_yaml_get(m87_yaml_root(doc), "single");
    assert_string_equal(m87_yaml_text(m87_yaml_get(single, "b")), "own-b");
    assert_string_equal(m87_yaml_text(m87_yaml_get(single, "c")), "base-c");
    m87_yaml_free(doc);

    /* empty streams and empty documents are a null root */
    static const char *const empties[] = {"", "---\n", "# c\n\n", "--- ~\n...\n"};
    for (size_t i = 0; i < M87_ARRAY_LEN(empties); i++) {
        doc = parse_str(empties[i], &err);
        assert_non_null(doc);
        assert_true(m87_yaml_is_null(m87_yaml_root(doc)));
        m87_yaml_free(doc);
    }
}

/* A merge key's sources count against the node cap before they are copied. */
static void test_merge_bomb(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_buf b;
    m87_buf_init(&b, 0);
    m87_buf_append(&b, "m0: &m0 {", 9, NULL);
    for (int i = 0; i < 1000; i++)
        m87_buf_appendf(&b, NULL, "k%d: v, ", i);
    m87_buf_append(&b, "}\n", 2, NULL);
    m87_buf_append(&b, "list:\n", 6, NULL);
    for (int i = 0; i < 1000; i++)
        m87_buf_append(&b, "- {<<: [*m0, *m0]}\n", 19, NULL);
    assert_null(parse_str(b.data, &err));
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_non_null(strstr(err->msg, "document expands to more than 1000000 nodes"));
    m87_error_clear(&err);
    m87_buf_release(&b);
}

static void test_caps_and_files(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    size_t big = M87_YAML_MAX_FILE + 1;
    _cleanup_free_ char *text = m87_xmalloc(big + 1);
    memset(text, '#', big);
    text[big] = '\0';
    assert_null(m87_yaml_parse(text, big, "big.yml", &err));
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_string_equal(err->msg, "big.yml: file exceeds the limit of 4194304 bytes");
    m87_error_clear(&err);
    /* exactly at the cap is fine: comments only, a null document */
    struct m87_yaml_doc *doc = m87_yaml_parse(text, big - 1, "big.yml", &err);
    assert_non_null(doc);
    assert_true(m87_yaml_is_null(m87_yaml_root(doc)));
    m87_yaml_free(doc);

    char dir[] = "/tmp/m87-yaml-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = m87_xasprintf("%s/big.yml", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, big, f), big);
    fclose(f);
    assert_null(m87_yaml_load(path, &err));
    assert_int_equal(err->code, M87_E_TOOBIG);
    _cleanup_free_ char *want =
        m87_xasprintf("read '%s': file exceeds the limit of 4194304 bytes", path);
    assert_string_equal(err->msg, want);
    m87_error_clear(&err);

    f = fopen(path, "wb");
    fputs("a:\n  - 1\n  - [2, *nope]\n", f);
    fclose(f);
    assert_null(m87_yaml_load(path, &err));
    _cleanup_free_ char *want2 = m87_xasprintf("%s:3:9: undefined alias 'nope'", path);
    assert_string_equal(err->msg, want2);
    m87_error_clear(&err);
    f = fopen(path, "wb");
    fputs("a: 1\n", f);
    fclose(f);
    doc = m87_yaml_load(path, &err);
    assert_non_null(doc);
    assert_string_equal(m87_yaml_file(m87_yaml_root(doc)), path);
    m87_yaml_free(doc);
    unlink(path);
    rmdir(dir);

    assert_null(m87_yaml_load("/nonexistent/c.yml", &err));
    assert_int_equal(err->code, M87_E_IO);
    assert_string_equal(err->msg, "open '/nonexistent/c.yml': No such file or directory");
    m87_error_clear(&err);
}

/* ---- writer ---------------------------------------------------------------------------------- */

static void test_writer_text(void **state)
{
    (void)state;
    struct m87_yw *w = m87_yw_new();
    m87_yw_map_open(w);
    m87_yw_kstr(w, "name", "demo");
    m87_yw_key(w, "services");
    m87_yw_map_open(w);
    m87_yw_key(w, "web");
    m87_yw_map_open(w);
    m87_yw_key(w, "command");
    m87_yw_seq_open(w);
    m87_yw_str(w, "sh");
    m87_yw_str(w, "-c");
    m87_yw_str(w, "echo hi\nexit 0\n");
    m87_yw_seq_close(w);
    m87_yw_key(w, "cpus_nano");
    m87_yw_int(w, 1500000000);
    m87_yw_key(w, "tty");
    m87_yw_bool(w, true);
    m87_yw_kstr(w, "version", "3.8");
    m87_yw_kstr(w, "answer", "yes");
    m87_yw_kstr(w, "user", NULL);
    m87_yw_key(w, "labels");
    m87_yw_map_open(w);
    m87_yw_map_close(w);
    m87_yw_key(w, "ports");
    m87_yw_seq_open(w);
    m87_yw_seq_close(w);
    m87_yw_map_close(w);
    m87_yw_map_close(w);
    m87_yw_map_close(w);
    _cleanup_free_ char *text = m87_yw_finish(w);
    assert_string_equal(text, "name: demo\n"
                              "services:\n"
                              "  web:\n"
                              "    command:\n"
                              "    - sh\n"
                              "    - -c\n"
                              "    - |\n"
                              "      echo hi\n"
                              "      exit 0\n"
                              "    cpus_nano: 1500000000\n"
                              "    tty: true\n"
                              "    version: \"3.8\"\n"
                              "    answer: \"yes\"\n"
                              "    user: null\n"
                              "    labels: {}\n"
                              "    ports: []\n");
}

/* Strings that a careless writer would turn into something else. */
static const char *const tricky[] = {
    "",
    "~",
    "null",
    "NULL",
    "true",
    "False",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "0",
    "-1",
    "+1",
    "1.5",
    ".5",
    "1e3",
    "0x1F",
    "0o17",
    "0440",
    "1_000",
    "+___9_", /* found by the fuzzer: an int once its underscores are dropped */
    "-_1",
    "._5",
    "22:22",
    ".inf",
    "-.inf",
    ".nan",
    "<<",
    "=",
    "a: b",
    "- x",
    "-x",
    "#x",
    "x #y",
    "[x]",
    "{x}",
    "*x",
    "&x",
    "!x",
    "|",
    ">",
    "%x",
    "@x",
    "`x",
    "'x'",
    "\"x\"",
    " lead",
    "trail ",
    "tab\there",
    "a\nb",
    "a\n\nb\n",
    "\n",
    "trailing \nspace",
    "x\n  indented",
    "é€",
    "\x01\x7f",
    "./data",
    "80:80/tcp",
    "1.25-alpine",
    "nginx:1.25",
    "${VAR:-x}",
    "$$",
    "\\",
    "key: [a, b]",
    "?",
    "? x",
    ":",
    "x:",
    "-",
    "---",
    "...",
    "--- x",
    "\xf0\x9f\x98\x80",
};

/* Every tricky string written by the writer reads back as the same string. */
static void test_writer_roundtrip(void **state)
{
    (void)state;
    struct m87_yw *w = m87_yw_new();
    m87_yw_map_open(w);
    for (size_t i = 0; i < M87_ARRAY_LEN(tricky); i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%zu", i);
        m87_yw_kstr(w, key, tricky[i]);
    }
    m87_yw_key(w, "keys");
    m87_yw_map_open(w);
    for (size_t i = 0; i < M87_ARRAY_LEN(tricky); i++) {
        m87_yw_key(w, tricky[i]);
        m87_yw_int(w, (int64_t)i);
    }
    m87_yw_map_close(w);
    m87_yw_key(w, "min");
    m87_yw_int(w, INT64_MIN);
    m87_yw_key(w, "f");
    m87_yw_bool(w, false);
    m87_yw_key(w, "z");
    m87_yw_null(w);
    m87_yw_map_close(w);
    _cleanup_free_ char *text = m87_yw_finish(w);

    struct m87_error *err = NULL;
    struct m87_yaml_doc *doc = parse_str(text, &err);
    if (doc == NULL)
        fail_msg("%s\n%s", err->msg, text);
    const struct m87_yaml_node *root = m87_yaml_root(doc), *keys = m87_yaml_get(root, "keys");
    assert_int_equal(m87_yaml_len(keys), M87_ARRAY_LEN(tricky));
    for (size_t i = 0; i < M87_ARRAY_LEN(tricky); i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%zu", i);
        const struct m87_yaml_node *n = m87_yaml_get(root, key);
        if (m87_yaml_type(n) != M87_YAML_STR || strcmp(m87_yaml_text(n), tricky[i]) != 0)
            fail_msg("'%s' came back as '%s' (type %d)\n%s", tricky[i], m87_yaml_text(n),
                     m87_yaml_type(n), text);
        const struct m87_yaml_node *k = NULL;
        int64_t v;
        m87_yaml_entry(keys, i, &k);
        assert_string_equal(m87_yaml_text(k), tricky[i]);
        assert_ok(m87_yaml_read_int(m87_yaml_get(keys, tricky[i]), NULL, &v, &err), &err);
        assert_int_equal(v, i);
    }
    int64_t min;
    bool f = true;
    assert_ok(m87_yaml_read_int(m87_yaml_get(root, "min"), NULL, &min, &err), &err);
    assert_int_equal(min, INT64_MIN);
    assert_ok(m87_yaml_read_bool(m87_yaml_get(root, "f"), NULL, &f, &err), &err);
    assert_false(f);
    assert_true(m87_yaml_is_null(m87_yaml_get(root, "z")));
    m87_yaml_free(doc);
}

static void test_writer_invalid_utf8(void **state)
{
    (void)state;
    struct m87_yw *w = m87_yw_new();
    m87_yw_seq_open(w);
    m87_yw_str(w, "ab\xff\xc3(");
    /* overlong, surrogate, past U+10FFFF, truncated at the end */
    m87_yw_str(w, "\xc0\x80|\xe0\x80\x80|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82");
    m87_yw_str(w, "ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    m87_yw_seq_close(w);
    _cleanup_free_ char *text = m87_yw_finish(w);
#define R "\xef\xbf\xbd"
    assert_string_equal(text, "- ab" R R "(\n"
                              "- " R R "|" R R R "|" R R R "|" R R R R "|" R R "\n"
                              /* libyaml escapes characters beyond the BMP */
                              "- \"ok \xc3\xa9\xe2\x82\xac\\U0001F600\"\n");
#undef R
    struct m87_yw *s = m87_yw_new();
    m87_yw_str(s, "scalar root");
    _cleanup_free_ char *t2 = m87_yw_finish(s);
    assert_string_equal(t2, "scalar root\n");
    m87_yw_free(NULL);
    m87_yw_free(m87_yw_new()); /* freeing an unused writer */
}

/* Misuse is a bug: the writer aborts rather than emit broken YAML. */
static void expect_abort(void (*fn)(struct m87_yw *))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        struct m87_yw *w = m87_yw_new();
        fn(w);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void misuse_value_for_key(struct m87_yw *w)
{
    m87_yw_map_open(w);
    m87_yw_str(w, "v");
}

static void misuse_key_in_seq(struct m87_yw *w)
{
    m87_yw_seq_open(w);
    m87_yw_key(w, "k");
}

static void misuse_unbalanced(struct m87_yw *w)
{
    m87_yw_map_open(w);
    m87_yw_seq_close(w);
}

static void misuse_dangling_key(struct m87_yw *w)
{
    m87_yw_map_open(w);
    m87_yw_key(w, "k");
    m87_yw_map_close(w);
}

static void misuse_early_finish(struct m87_yw *w)
{
    m87_yw_map_open(w);
    free(m87_yw_finish(w));
}

static void misuse_two_roots(struct m87_yw *w)
{
    m87_yw_int(w, 1);
    m87_yw_int(w, 2);
}

static void test_writer_misuse(void **state)
{
    (void)state;
    expect_abort(misuse_value_for_key);
    expect_abort(misuse_key_in_seq);
    expect_abort(misuse_unbalanced);
    expect_abort(misuse_dangling_key);
    expect_abort(misuse_early_finish);
    expect_abort(misuse_two_roots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_fixtures),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_large_mapping),
        cmocka_unit_test(test_read_bool),
        cmocka_unit_test(test_read_int),
        cmocka_unit_test(test_read_str),
        cmocka_unit_test(test_error_and_wrap),
        cmocka_unit_test(test_alias_semantics),
        cmocka_unit_test(test_merge_bomb),
        cmocka_unit_test(test_merge_lookup),
        cmocka_unit_test(test_caps_and_files),
        cmocka_unit_test(test_writer_text),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_writer_invalid_utf8),
        cmocka_unit_test(test_writer_misuse),
    };
    return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
