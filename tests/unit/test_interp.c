/* Unit tests of compose interpolation (src/spec/spec-interp.c) and the dotenv reader
 * (src/spec/spec-dotenv.c). */
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"
#include "m87/spec-interp.h"
#include "unit-util.h"

/* The environment of these tests: SET=value, EMPTY="", NESTED=${SET} (not re-expanded), and
 * every lookup counted. */
struct env {
    const struct m87_kvlist *vars;
    size_t lookups;
};

static const char *env_lookup(void *ctx, const char *name)
{
    struct env *e = ctx;
    e->lookups++;
    for (size_t i = 0; i < e->vars->len; i++)
        if (strcmp(e->vars->items[i].key, name) == 0)
            return e->vars->items[i].value ? e->vars->items[i].value : "";
    return NULL;
}

static void test_env(struct m87_kvlist *vars)
{
    m87_kvlist_init(vars);
    m87_kvlist_add(vars, "SET", "value");
    m87_kvlist_add(vars, "EMPTY", "");
    m87_kvlist_add(vars, "NESTED", "${SET}");
    m87_kvlist_add(vars, "lower_1", "low");
    m87_kvlist_add(vars, "MSG", "set me");
}

static void test_forms(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"plain text", "plain text"},
        {"", ""},
        {"$SET", "value"},
        {"${SET}", "value"},
        {"a${SET}b", "avalueb"},
        {"$SET.txt", "value.txt"},
        {"$SET-x", "value-x"},
        {"$SETX", ""},
        {"${lower_1}", "low"},
        {"$lower_1!", "low!"},
        {"$UNSET", ""},
        {"${UNSET}", ""},
        {"${NESTED}", "${SET}"},
        {"$$", "$"},
        {"$$SET", "$SET"},
        {"$${SET}", "${SET}"},
        {"a $$ b", "a $ b"},
        {"$$$SET", "$value"},
        {"}", "}"},
        {"{SET}", "{SET}"},
        /* :- and - */
        {"${SET:-d}", "value"},
        {"${EMPTY:-d}", "d"},
        {"${UNSET:-d}", "d"},
        {"${SET-d}", "value"},
        {"${EMPTY-d}", ""},
        {"${UNSET-d}", "d"},
        {"${UNSET:-}", ""},
        {"${UNSET:-a b c}", "a b c"},
        {"${UNSET:-x:y-z}", "x:y-z"},
        {"${UNSET:-$$}", "$"},
        {"${UNSET:-{x}}", "{x}"},
        /* :+ and + */
        {"${SET:+alt}", "alt"},
        {"${EMPTY:+alt}", ""},
        {"${UNSET:+alt}", ""},
        {"${SET+alt}", "alt"},
        {"${EMPTY+alt}", "alt"},
        {"${UNSET+alt}", ""},
        /* :? and ? when satisfied */
        {"${SET:?err}", "value"},
        {"${SET?err}", "value"},
        {"${EMPTY?err}", ""},
        /* nesting */
        {"${UNSET:-${SET}}", "value"},
        {"${UNSET:-${UNSET2:-x}}", "x"},
        {"${A:-${B:-${C:-deep}}}", "deep"},
        {"${UNSET:-pre-${SET}-post}", "pre-value-post"},
        {"${SET:+[${SET}]}", "[value]"},
        {"${UNSET:-$SET}", "value"},
        {"${SET:-${UNSET:?never evaluated}}", "value"},
        {"${UNSET:+${UNSET2:?never evaluated}}", ""},
        {"${UNSET:-a}${SET}${UNSET:-b}", "avalueb"},
        {"x${UNSET:-{}}y", "x{}y"},
    };
    struct m87_kvlist vars;
    test_env(&vars);
    struct env e = {&vars, 0};
    struct spec_interp ip = {env_lookup, &e, NULL};
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct m87_error *err = NULL;
        _cleanup_free_ char *got = spec_interpolate(&ip, cases[i].text, "c.yml", 3, 7, &err);
        if (got == NULL)
            fail_msg("'%s': %s", cases[i].text, err->msg);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("'%s' gave '%s', want '%s'", cases[i].text, got, cases[i].want);
    }
    m87_kvlist_release(&vars);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum m87_errcode code;
        const char *msg;
    } cases[] = {
        {"${UNSET:?set it please}", M87_E_INVAL, "c.yml:3:7: set it please"},
        {"${EMPTY:?must not be empty}", M87_E_INVAL, "c.yml:3:7: must not be empty"},
        {"${UNSET?gone}", M87_E_INVAL, "c.yml:3:7: gone"},
        {"${UNSET:?}", M87_E_INVAL, "c.yml:3:7: required variable UNSET is missing a value"},
        {"${UNSET?}", M87_E_INVAL, "c.yml:3:7: required variable UNSET is missing a value"},
        {"${EMPTY:?}", M87_E_INVAL, "c.yml:3:7: required variable EMPTY is missing a value"},
        {"${UNSET:?$MSG ($SET)}", M87_E_INVAL, "c.yml:3:7: set me (value)"},
        {"${UNSET:-${UNSET2:?inner}}", M87_E_INVAL, "c.yml:3:7: inner"},
        {"$", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '$': you may need to escape any $ with "
         "another $"},
        {"price $5", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in 'price $5': you may need to escape any $ "
         "with another $"},
        {"a $ b", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in 'a $ b': you may need to escape any $ with "
         "another $"},
        {"${}", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${}': you may need to escape any $ with "
         "another $"},
        {"${SET", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${SET': you may need to escape any $ with "
         "another $"},
        {"${SET:-x", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${SET:-x': you may need to escape any $ "
         "with another $"},
        {"${A B}", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${A B}': you may need to escape any $ with "
         "another $"},
        {"${SET:x}", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${SET:x}': you may need to escape any $ "
         "with another $"},
        {"${SET:}", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${SET:}': you may need to escape any $ "
         "with another $"},
        {"${1A}", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${1A}': you may need to escape any $ with "
         "another $"},
        {"${A.B}", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${A.B}': you may need to escape any $ with "
         "another $"},
        /* an unused branch still has its syntax checked */
        {"${SET:-$5}", M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in '${SET:-$5}': you may need to escape any $ "
         "with another $"},
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx$",
         M87_E_PARSE,
         "c.yml:3:7: invalid interpolation format in "
         "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...': "
         "you may need to escape any $ with another $"},
    };
    struct m87_kvlist vars;
    test_env(&vars);
    struct env e = {&vars, 0};
    struct spec_interp ip = {env_lookup, &e, NULL};
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct m87_error *err = NULL;
        char *got = spec_interpolate(&ip, cases[i].text, "c.yml", 3, 7, &err);
        if (got != NULL)
            fail_msg("'%s' gave '%s', must fail", cases[i].text, got);
        assert_string_equal(err->msg, cases[i].msg);
        assert_int_equal(err->code, cases[i].code);
        m87_error_clear(&err);
    }
    /* without a column the position is FILE:LINE */
    struct m87_error *err = NULL;
    assert_null(spec_interpolate(&ip, "${X:?no}", ".env", 12, 0, &err));
    assert_string_equal(err->msg, ".env:12: no");
    m87_error_clear(&err);
    m87_kvlist_release(&vars);
}

static void test_unset_list_and_lookups(void **state)
{
    (void)state;
    struct m87_kvlist vars;
    test_env(&vars);
    struct env e = {&vars, 0};
    struct m87_strv unset;
    m87_strv_init(&unset);
    struct spec_interp ip = {env_lookup, &e, &unset};
    struct m87_error *err = NULL;
    _cleanup_free_ char *got =
        spec_interpolate(&ip, "$A ${B} $A ${C:-x} ${D-y} ${E:+z} $SET ${EMPTY}", "f", 1, 1, &err);
    assert_non_null(got);
    assert_string_equal(got, "   x y  value ");
    assert_int_equal(unset.len, 2);
    assert_string_equal(unset.items[0], "A");
    assert_string_equal(unset.items[1], "B");
    m87_strv_release(&unset);
    /* no text, no lookup; text without $ never calls back */
    e.lookups = 0;
    _cleanup_free_ char *plain = spec_interpolate(&ip, "no variables here", "f", 1, 1, &err);
    assert_string_equal(plain, "no variables here");
    assert_int_equal(e.lookups, 0);
    /* a NULL spec or lookup: everything is unset */
    _cleanup_free_ char *none = spec_interpolate(NULL, "${X:-dflt}$Y", "f", 1, 1, &err);
    assert_string_equal(none, "dflt");
    struct spec_interp nolookup = {NULL, NULL, NULL};
    _cleanup_free_ char *none2 = spec_interpolate(&nolookup, "${X-d}", "f", 1, 1, &err);
    assert_string_equal(none2, "d");
    assert_null(err);
    m87_kvlist_release(&vars);
}

static void test_caps(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    /* 32 nested ${ are fine, 33 are refused */
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (int i = 0; i < 32; i++)
        m87_buf_append(&b, "${U:-", 5, NULL);
    m87_buf_append(&b, "end", 3, NULL);
    for (int i = 0; i < 32; i++)
        m87_buf_append(&b, "}", 1, NULL);
    _cleanup_free_ char *ok = spec_interpolate(NULL, b.data, "f", 1, 2, &err);
    assert_non_null(ok);
    assert_string_equal(ok, "end");
    m87_buf_reset(&b);
    for (int i = 0; i < 33; i++)
        m87_buf_append(&b, "${U:-", 5, NULL);
    for (int i = 0; i < 33; i++)
        m87_buf_append(&b, "}", 1, NULL);
    assert_null(spec_interpolate(NULL, b.data, "f", 1, 2, &err));
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_string_equal(err->msg, "f:1:2: interpolation nested deeper than 32 levels");
    m87_error_clear(&err);

    /* output past SPEC_INTERP_MAX */
    _cleanup_free_ char *big = m87_xmalloc(512 * 1024 + 1);
    memset(big, 'x', 512 * 1024);
    big[512 * 1024] = '\0';
    struct m87_kvlist vars;
    m87_kvlist_init(&vars);
    m87_kvlist_add(&vars, "BIG", big);
    struct env e = {&vars, 0};
    struct spec_interp ip = {env_lookup, &e, NULL};
    _cleanup_free_ char *two = spec_interpolate(&ip, "$BIG$BIG", "f", 1, 2, &err);
    assert_non_null(two);
    assert_int_equal(strlen(two), 1024 * 1024);
    assert_null(spec_interpolate(&ip, "$BIG$BIG.", "f", 1, 2, &err));
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_string_equal(err->msg, "f:1:2: interpolated value exceeds the limit of 1048576 bytes");
    m87_error_clear(&err);
    m87_kvlist_release(&vars);
    m87_buf_release(&b);
}

/* ---- dotenv ---------------------------------------------------------------------------------- */

static void expect_env(const struct m87_kvlist *got, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n / 2 && i < got->len; i++) {
        if (strcmp(got->items[i].key, want[2 * i]) != 0 ||
            strcmp(got->items[i].value, want[2 * i + 1]) != 0)
            fail_msg("item %zu: got %s='%s', want %s='%s'", i, got->items[i].key,
                     got->items[i].value, want[2 * i], want[2 * i + 1]);
    }
    assert_int_equal(got->len, n / 2);
}

/* Every form of the dotenv dialect, and what it gives with env_lookup over HOME_DIR,
 * OVERRIDDEN and INHERITED. */
static const char dotenv_text[] = "\xef\xbb\xbf# a comment\n"
                                  "\n"
                                  "PLAIN=value\n"
                                  "  INDENTED = spaced out  \n"
                                  "export EXPORTED=yes\n"
                                  "export\tTABBED=1\n"
                                  "export=not a prefix\n"
                                  "EMPTY=\n"
                                  "COMMENTED=value # a comment\n"
                                  "HASH=a#b\n"
                                  "LEADHASH=#kept\n"
                                  "TABHASH=v\t# gone\n"
                                  "SINGLE='literal $PLAIN \\n ${X:?no}'\n"
                                  "SINGLE_HASH='a # b' # comment\n"
                                  "DOUBLE=\"line1\\nline2\\ttab \\\"q\\\" \\\\ \\$PLAIN \\x\"\n"
                                  "DOUBLE_VAR=\"${PLAIN}-$EXPORTED\"\n"
                                  "MULTI=\"first\n"
                                  "second\"\n"
                                  "MULTI_SINGLE='a\n"
                                  "b'\n"
                                  "REF=$PLAIN/${MISSING:-dflt}\n"
                                  "FROM_ENV=${HOME_DIR}\n"
                                  "OVERRIDDEN=from file\n"
                                  "USES_OVERRIDDEN=$OVERRIDDEN\n"
                                  "YAMLISH: colon value\n"
                                  "dotted.key-name[0]=ok\n"
                                  "CRLF=windows\r\n"
                                  "INHERITED\n"
                                  "NOT_IN_ENV\n"
                                  "PLAIN=second wins\n"
                                  "DOLLARS=$$PLAIN\n"
                                  "LAST=no newline";
static const char *const dotenv_want[] = {
    "PLAIN",
    "second wins",
    "INDENTED",
    "spaced out",
    "EXPORTED",
    "yes",
    "TABBED",
    "1",
    "export",
    "not a prefix",
    "EMPTY",
    "",
    "COMMENTED",
    "value",
    "HASH",
    "a#b",
    "LEADHASH",
    "#kept",
    "TABHASH",
    "v",
    "SINGLE",
    "literal $PLAIN \\n ${X:?no}",
    "SINGLE_HASH",
    "a # b",
    "DOUBLE",
    "line1\nline2\ttab \"q\" \\ $PLAIN x",
    "DOUBLE_VAR",
    "value-yes",
    "MULTI",
    "first\nsecond",
    "MULTI_SINGLE",
    "a\nb",
    "REF",
    "value/dflt",
    "FROM_ENV",
    "/home/u",
    "OVERRIDDEN",
    "from file",
    "USES_OVERRIDDEN",
    "from env",
    "YAMLISH",
    "colon value",
    "dotted.key-name[0]",
    "ok",
    "CRLF",
    "windows",
    "INHERITED",
    "inherited value",
    "DOLLARS",
    "$PLAIN",
    "LAST",
    "no newline",
};

static void test_dotenv_forms(void **state)
{
    (void)state;
    struct m87_kvlist env;
    m87_kvlist_init(&env);
    m87_kvlist_add(&env, "HOME_DIR", "/home/u");
    m87_kvlist_add(&env, "OVERRIDDEN", "from env");
    m87_kvlist_add(&env, "INHERITED", "inherited value");
    struct env e = {&env, 0};
    struct m87_kvlist out;
    m87_kvlist_init(&out);
    struct m87_error *err = NULL;
    assert_ok(
        spec_dotenv_parse(dotenv_text, sizeof(dotenv_text) - 1, ".env", env_lookup, &e, &out, &err),
        &err);
    expect_env(&out, dotenv_want, M87_ARRAY_LEN(dotenv_want));
    m87_kvlist_release(&out);
    m87_kvlist_release(&env);
}

/* Keys already in *out are seen by interpolation; an empty file adds nothing. */
static void test_dotenv_layering(void **state)
{
    (void)state;
    struct m87_kvlist out;
    m87_kvlist_init(&out);
    m87_kvlist_add(&out, "BASE", "/srv");
    struct m87_error *err = NULL;
    const char *text = "DATA=${BASE}/data\n";
    assert_ok(spec_dotenv_parse(text, strlen(text), "b.env", NULL, NULL, &out, &err), &err);
    static const char *const want[] = {"BASE", "/srv", "DATA", "/srv/data"};
    expect_env(&out, want, M87_ARRAY_LEN(want));
    assert_ok(spec_dotenv_parse("", 0, "empty.env", NULL, NULL, &out, &err), &err);
    assert_ok(spec_dotenv_parse("# only\n\n  \n", 11, "c.env", NULL, NULL, &out, &err), &err);
    assert_int_equal(out.len, 2);
    m87_kvlist_release(&out);
}

static const char *key_lookup(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "K.-[]") == 0 ? "found" : NULL;
}

/* A bare key made of punctuation key characters at the very end of the input, without a newline:
 * the key ends at the end of the text (found by the fuzzer: '\0' was taken for a key character). */
static void test_dotenv_key_at_end(void **state)
{
    (void)state;
    struct m87_kvlist out;
    m87_kvlist_init(&out);
    struct m87_error *err = NULL;
    const char *text = "A=1\nK.-[]";
    assert_ok(spec_dotenv_parse(text, strlen(text), "k.env", key_lookup, NULL, &out, &err), &err);
    static const char *const want[] = {"A", "1", "K.-[]", "found"};
    expect_env(&out, want, M87_ARRAY_LEN(want));
    m87_kvlist_release(&out);
}

static void test_dotenv_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum m87_errcode code;
        const char *msg;
    } cases[] = {
        {"A=1\nB C=2\n", M87_E_PARSE, "x.env:2: variable name must not contain a space"},
        {"A=1\n\n%X=1\n", M87_E_PARSE, "x.env:3: unexpected character '%' in variable name"},
        {"A-$=1\n", M87_E_PARSE, "x.env:1: unexpected character '$' in variable name"},
        {"K\xc3\xa9=1\n", M87_E_PARSE, "x.env:1: unexpected character 0xc3 in variable name"},
        {"=value\n", M87_E_PARSE, "x.env:1: missing variable name before '='"},
        {"1ABC=x\n", M87_E_PARSE, "x.env:1: variable name '1ABC' must not start with a digit"},
        {"A=1\nB=\"open\nstill open\n", M87_E_PARSE, "x.env:2: unterminated quoted value"},
        {"A='open\n", M87_E_PARSE, "x.env:1: unterminated quoted value"},
        {"A=\"x\\\"\n", M87_E_PARSE, "x.env:1: unterminated quoted value"},
        {"A=\"x\"y\n", M87_E_PARSE, "x.env:1: unexpected character 'y' after the closing quote"},
        {"A='x' 'y'\n", M87_E_PARSE, "x.env:1: unexpected character ''' after the closing quote"},
        {"M=\"a\nb\"\nC=${NOPE:?C needs NOPE}\n", M87_E_INVAL, "x.env:3: C needs NOPE"},
        {"A=$5\n", M87_E_PARSE,
         "x.env:1: invalid interpolation format in '$5': you may need to escape any $ with "
         "another $"},
        {"A=\"${X\"\n", M87_E_PARSE,
         "x.env:1: invalid interpolation format in '${X': you may need to escape any $ with "
         "another $"},
        {"A=1\nB=2\0C=3\n", M87_E_PARSE, "x.env:2: NUL character"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct m87_kvlist out;
        m87_kvlist_init(&out);
        struct m87_error *err = NULL;
        size_t len = strlen(cases[i].text);
        if (strstr(cases[i].msg, "NUL"))
            len = 12;
        if (spec_dotenv_parse(cases[i].text, len, "x.env", NULL, NULL, &out, &err) == 0)
            fail_msg("case %zu parsed, must fail", i);
        assert_string_equal(err->msg, cases[i].msg);
        assert_int_equal(err->code, cases[i].code);
        m87_error_clear(&err);
        m87_kvlist_release(&out);
    }
}

static void test_dotenv_caps_and_load(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct m87_kvlist out;
    m87_kvlist_init(&out);
    /* doubling values: each is capped by SPEC_INTERP_MAX long before memory runs out */
    struct m87_buf b;
    m87_buf_init(&b, 0);
    m87_buf_appendf(&b, NULL, "V0=%s\n",
                    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    for (int i = 1; i < 40; i++)
        m87_buf_appendf(&b, NULL, "V%d=${V%d}${V%d}\n", i, i - 1, i - 1);
    assert_int_equal(spec_dotenv_parse(b.data, b.len, "big.env", NULL, NULL, &out, &err), -1);
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_string_equal(err->msg,
                        "big.env:16: interpolated value exceeds the limit of 1048576 bytes");
    assert_int_equal(out.len, 15); /* what was set before the error stays */
    m87_error_clear(&err);
    m87_kvlist_release(&out);
    /* many values of 512 KiB each: the total is capped */
    m87_buf_reset(&b);
    _cleanup_free_ char *half = m87_xmalloc(512 * 1024 + 1);
    memset(half, 'y', 512 * 1024);
    half[512 * 1024] = '\0';
    m87_buf_appendf(&b, NULL, "V0=%s\n", half);
    for (int i = 1; i < 20; i++)
        m87_buf_appendf(&b, NULL, "V%d=$V0\n", i);
    m87_kvlist_init(&out);
    assert_int_equal(spec_dotenv_parse(b.data, b.len, "many.env", NULL, NULL, &out, &err), -1);
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_string_equal(err->msg, "many.env:8: variables exceed the limit of 4194304 bytes");
    m87_error_clear(&err);
    m87_kvlist_release(&out);
    m87_buf_release(&b);

    _cleanup_free_ char *huge = m87_xmalloc(SPEC_DOTENV_MAX_FILE + 1);
    memset(huge, '#', SPEC_DOTENV_MAX_FILE + 1);
    assert_int_equal(
        spec_dotenv_parse(huge, SPEC_DOTENV_MAX_FILE + 1, "h.env", NULL, NULL, &out, &err), -1);
    assert_string_equal(err->msg, "h.env: file exceeds the limit of 1048576 bytes");
    m87_error_clear(&err);

    char path[] = "/tmp/m87-dotenv-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "A=1\nB='two'\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    m87_kvlist_init(&out);
    assert_ok(spec_dotenv_load(path, NULL, NULL, &out, &err), &err);
    static const char *const want[] = {"A", "1", "B", "two"};
    expect_env(&out, want, M87_ARRAY_LEN(want));
    m87_kvlist_release(&out);
    FILE *f = fopen(path, "w");
    fputs("A=1\nB=\"\n", f);
    fclose(f);
    assert_int_equal(spec_dotenv_load(path, NULL, NULL, &out, &err), -1);
    _cleanup_free_ char *want_msg = m87_xasprintf("%s:2: unterminated quoted value", path);
    assert_string_equal(err->msg, want_msg);
    m87_error_clear(&err);
    m87_kvlist_release(&out);
    unlink(path);
    assert_int_equal(spec_dotenv_load(path, NULL, NULL, &out, &err), -1);
    assert_int_equal(err->code, M87_E_IO);
    m87_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unset_list_and_lookups),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_dotenv_forms),
        cmocka_unit_test(test_dotenv_layering),
        cmocka_unit_test(test_dotenv_key_at_end),
        cmocka_unit_test(test_dotenv_errors),
        cmocka_unit_test(test_dotenv_caps_and_load),
    };
    return cmocka_run_group_tests_name("interp", tests, NULL, NULL);
}
