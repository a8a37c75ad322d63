/* Unit tests of the compose-to-run-spec converter (src/spec/spec-convert*.c) over the projects
 * in fixtures/convert/ (real files; bundles are written under a mkdtemp directory).
 *
 * fixtures/convert/seed.out is the seed document's job as the converter must print it.
 * fixtures/convert/bad/NAME.yml must fail with NAME.err, where @DIR@ stands for the absolute
 * path of the fixtures directory. The environment is empty: nothing of the process leaks in. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/spec-bundle.h"
#include "m87/spec-convert.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/spec-runspec.h"
#include "unit-util.h"

/* ---- helpers --------------------------------------------------------------------------------- */

struct ctx {
    char tmp[64];
    char *fixtures; /* absolute */
    char *bundles;  /* tmp/bundles */
};

static const char *no_env(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL;
}

static int setup(void **state)
{
    struct ctx *c = m87_xcalloc(1, sizeof(*c));
    snprintf(c->tmp, sizeof(c->tmp), "/tmp/m87-test-convert-XXXXXX");
    assert_non_null(mkdtemp(c->tmp));
    _cleanup_free_ char *rel = unit_fixture_path("");
    char abs[PATH_MAX];
    assert_non_null(realpath(rel, abs));
    c->fixtures = m87_xstrdup(abs);
    c->bundles = m87_xasprintf("%s/bundles", c->tmp);
    assert_int_equal(mkdir(c->bundles, 0755), 0);
    umask(022);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    assert_int_equal(m87_remove_tree(c->tmp, NULL), 0);
    free(c->fixtures);
    free(c->bundles);
    free(c);
    return 0;
}

/* Convert the given files (NULL-terminated, absolute or relative to the cwd), or the project
 * directory's default file when files is empty. */
static struct spec_conversion *convert(const struct ctx *c, const char *const *files,
                                       const char *dir, const char *id, struct m87_error **err)
{
    size_t n = 0;
    while (files && files[n])
        n++;
    struct spec_convert_options o = {
        .load = {.files = n ? files : NULL, .n_files = n, .project_dir = dir, .lookup = no_env},
        .id = id,
        .bundle_dir = c->bundles,
    };
    return spec_convert_compose(&o, err);
}

static struct spec_conversion *must_convert(const struct ctx *c, const char *const *files,
                                            const char *dir, const char *id)
{
    struct m87_error *err = NULL;
    struct spec_conversion *conv = convert(c, files, dir, id, &err);
    if (conv == NULL)
        fail_msg("convert failed: %s", err->msg);
    assert_int_equal(conv->rs->n_jobs, 1);
    return conv;
}

static char *fixture_dir(const struct ctx *c, const char *name)
{
    return m87_xasprintf("%s/convert/%s", c->fixtures, name);
}

static char *read_text(const char *path)
{
    struct m87_error *err = NULL;
    char *s = m87_read_file(path, 16u * 1024 * 1024, NULL, &err);
    if (s == NULL)
        fail_msg("%s", err->msg);
    return s;
}

/* The job's files are exactly names (in this order), each with the content of DIR/NAME. */
static void assert_files(const struct spec_job *job, const char *dir, const char *const *names)
{
    size_t n = 0;
    for (; names[n]; n++) {
        if (n >= job->n_files)
            fail_msg("missing file '%s'", names[n]);
        assert_string_equal(job->files[n].name, names[n]);
        _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, names[n]);
        _cleanup_free_ char *want = read_text(path);
        assert_string_equal(job->files[n].content, want);
    }
    assert_int_equal(job->n_files, n);
}

static void assert_strv(const struct m87_strv *v, const char *const *want)
{
    size_t n = 0;
    for (; want[n]; n++) {
        if (n >= v->len)
            fail_msg("missing '%s'", want[n]);
        assert_string_equal(v->items[n], want[n]);
    }
    assert_int_equal(v->len, n);
}

static void put(const char *dir, const char *rel, const void *data, size_t len)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, rel);
    _cleanup_free_ char *parent = m87_xstrdup(path);
    *strrchr(parent, '/') = '\0';
    struct m87_error *err = NULL;
    assert_ok(m87_mkdir_p(parent, 0755, &err), &err);
    assert_ok(m87_write_file_atomic(path, data, len, 0644, &err), &err);
}

/* ---- the seed project ------------------------------------------------------------------------ */

static void test_seed(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = fixture_dir(c, "seed");
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, NULL, dir, NULL);
    _cleanup_free_ char *dump = spec_runspec_dump(a->rs, false);
    _cleanup_free_ char *want = unit_read_fixture("convert/seed.out", NULL);
    assert_string_equal(dump, want);
    assert_null(a->bundle_path);
    assert_null(a->rs->jobs[0].bundle);
    assert_int_equal(a->bundled.len, 0);
    /* converting again gives the same job */
    _cleanup_(spec_conversion_freep) struct spec_conversion *b = must_convert(c, NULL, dir, NULL);
    assert_string_equal(a->rs->jobs[0].hash, b->rs->jobs[0].hash);
    /* another id is another job, and the project name is then passed explicitly */
    _cleanup_(spec_conversion_freep) struct spec_conversion *o = must_convert(c, NULL, dir, "web");
    assert_string_equal(o->rs->jobs[0].id, "web");
    assert_string_not_equal(o->rs->jobs[0].hash, a->rs->jobs[0].hash);
    assert_string_equal(o->rs->jobs[0].steps[0].run.text, "docker compose -p seed pull");
    assert_string_equal(o->rs->jobs[0].stop_steps[0].run.text,
                        "docker compose -p seed down --remove-orphans");
}

/* ---- every kind of reference ----------------------------------------------------------------- */

static void test_full(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = fixture_dir(c, "full");
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, NULL, dir, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    assert_string_equal(job->id, "full");
    /* text inline, the compose file first, the rest sorted; optional.env does not exist */
    static const char *const want_files[] = {
        "compose.yaml",      ".env",      "app.env", "conf/nginx.conf",
        "conf/settings.ini", "token.txt", NULL};
    assert_files(job, dir, want_files);
    /* a binary file and the directories go into the bundle; the missing ./not-yet, the
     * docker socket and ../shared do not travel */
    static const char *const want_bundled[] = {"data", "logo.bin", NULL};
    assert_strv(&a->bundled, want_bundled);
    assert_non_null(job->bundle);
    assert_true(spec_bundle_digest_valid(job->bundle));
    struct m87_error *err = NULL;
    assert_ok(spec_bundle_verify(a->bundle_path, job->bundle, &err), &err);
    /* compose.yaml is found by docker compose itself: no -f */
    assert_string_equal(job->steps[1].run.text, "docker compose up -d --remove-orphans");
    /* the bundle holds the files as they are */
    _cleanup_free_ char *dest = m87_xasprintf("%s/dest", c->tmp);
    assert_int_equal(mkdir(dest, 0755), 0);
    assert_ok(spec_bundle_extract(a->bundle_path, dest, &err), &err);
    static const char *const bundled_files[] = {"logo.bin", "data/README", "data/sub/deep.txt"};
    for (size_t i = 0; i < M87_ARRAY_LEN(bundled_files); i++) {
        _cleanup_free_ char *p1 = m87_xasprintf("%s/%s", dir, bundled_files[i]);
        _cleanup_free_ char *p2 = m87_xasprintf("%s/%s", dest, bundled_files[i]);
        size_t l1 = 0, l2 = 0;
        _cleanup_free_ char *b1 = m87_read_file(p1, 1 << 20, &l1, &err);
        _cleanup_free_ char *b2 = m87_read_file(p2, 1 << 20, &l2, &err);
        assert_non_null(b1);
        assert_non_null(b2);
        assert_int_equal(l1, l2);
        assert_memory_equal(b1, b2, l1);
    }
    _cleanup_free_ char *unused = m87_xasprintf("%s/unused.txt", dest);
    assert_int_equal(access(unused, F_OK), -1);
    /* the same project converts to the same job and bundle */
    _cleanup_(spec_conversion_freep) struct spec_conversion *b = must_convert(c, NULL, dir, NULL);
    assert_string_equal(a->rs->jobs[0].hash, b->rs->jobs[0].hash);
    assert_string_equal(a->rs->jobs[0].bundle, b->rs->jobs[0].bundle);
}

static void test_multi_files(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = fixture_dir(c, "multi");
    _cleanup_free_ char *f1 = m87_xasprintf("%s/base.yml", dir);
    _cleanup_free_ char *f2 = m87_xasprintf("%s/override.yml", dir);
    const char *const files[] = {f1, f2, NULL};
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, files, NULL, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    assert_string_equal(job->id, "multi");
    static const char *const want_files[] = {"base.yml", "override.yml", "web.env", NULL};
    assert_files(job, dir, want_files);
    assert_null(job->bundle);
    assert_string_equal(job->steps[0].run.text, "docker compose -f base.yml -f override.yml pull");
    assert_int_equal(job->steps[0].retry.attempts, 3);
    assert_int_equal(job->steps[0].retry.backoff_ns, INT64_C(15000000000));
    assert_string_equal(job->steps[1].run.text,
                        "docker compose -f base.yml -f override.yml up -d --remove-orphans");
    assert_true(job->steps[1].has_undo);
    assert_string_equal(job->steps[1].undo.text,
                        "docker compose -f base.yml -f override.yml down --remove-orphans");
    assert_int_equal(job->steps[1].undo_timeout_ns, INT64_C(300000000000));
    assert_int_equal(job->n_stop_steps, 1);
    assert_int_equal(job->stop_steps[0].timeout_ns, INT64_C(300000000000));
}

/* A file name the shell would need quoted: the commands become argvs, which need no quoting. */
static void test_argv_form(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = m87_xasprintf("%s/my app", c->tmp);
    static const char compose[] = "services:\n  web:\n    image: busybox\n";
    put(dir, "my compose.yml", compose, strlen(compose));
    _cleanup_free_ char *f = m87_xasprintf("%s/my compose.yml", dir);
    const char *const files[] = {f, NULL};
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, files, NULL, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    assert_string_equal(job->id, "myapp");
    const struct spec_run *runs[] = {&job->steps[0].run, &job->steps[1].run, &job->steps[1].undo,
                                     &job->stop_steps[0].run};
    static const char *const last[] = {"pull", "--remove-orphans", "--remove-orphans",
                                       "--remove-orphans"};
    for (size_t i = 0; i < M87_ARRAY_LEN(runs); i++) {
        assert_false(runs[i]->shell);
        assert_string_equal(runs[i]->argv.items[0], "docker");
        assert_string_equal(runs[i]->argv.items[1], "compose");
        assert_string_equal(runs[i]->argv.items[2], "-f");
        assert_string_equal(runs[i]->argv.items[3], "my compose.yml");
        assert_string_equal(runs[i]->argv.items[runs[i]->argv.len - 1], last[i]);
    }
    assert_int_equal(job->steps[1].run.argv.len, 7); /* docker compose -f F up -d --remove... */
}

/* ---- what goes inline ------------------------------------------------------------------------ */

static void test_inline_rule(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = m87_xasprintf("%s/proj", c->tmp);
    static const char compose[] = "services:\n"
                                  "  app:\n"
                                  "    image: busybox\n"
                                  "    volumes:\n"
                                  "      - ./files:/files\n"
                                  "      - ./t/utf8.txt:/a\n"
                                  "      - ./t/exact.txt:/b\n"
                                  "      - ./t/over.txt:/c\n"
                                  "      - ./t/crlf.txt:/d\n"
                                  "      - ./t/nul.txt:/e\n"
                                  "      - ./t/latin1.txt:/f\n"
                                  "      - ./t/bom.txt:/g\n"
                                  "      - ./t/empty.txt:/h\n"
                                  "      - ./t/tabs.txt:/i\n";
    put(dir, "compose.yaml", compose, strlen(compose));
    put(dir, "files/a.txt", "a\n", 2);
    static const char utf8[] = "gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac \xf0\x9f\x98\x80\n";
    put(dir, "t/utf8.txt", utf8, strlen(utf8));
    char *big = m87_xmalloc(SPEC_CONVERT_MAX_INLINE + 1);
    memset(big, 'x', SPEC_CONVERT_MAX_INLINE + 1);
    put(dir, "t/exact.txt", big, SPEC_CONVERT_MAX_INLINE);
    put(dir, "t/over.txt", big, SPEC_CONVERT_MAX_INLINE + 1);
    free(big);
    put(dir, "t/crlf.txt", "a\r\nb\r\n", 6);
    put(dir, "t/nul.txt", "a\0b", 3);
    put(dir, "t/latin1.txt", "gr\xfc\xdf\n", 5);
    put(dir, "t/bom.txt", "\xef\xbb\xbfhello\n", 9);
    put(dir, "t/empty.txt", "", 0);
    put(dir, "t/tabs.txt", "\ta\tb\n", 5);
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, NULL, dir, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    static const char *const want_files[] = {"compose.yaml", "t/empty.txt", "t/exact.txt",
                                             "t/tabs.txt",   "t/utf8.txt",  NULL};
    assert_files(job, dir, want_files);
    static const char *const want_bundled[] = {
        "files", "t/bom.txt", "t/crlf.txt", "t/latin1.txt", "t/nul.txt", "t/over.txt", NULL};
    assert_strv(&a->bundled, want_bundled);
}

/* Even the compose file goes into the bundle when YAML could not carry it as it is (CRLF). */
static void test_compose_file_bundled(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = m87_xasprintf("%s/crlf", c->tmp);
    static const char compose[] = "services:\r\n  web:\r\n    image: busybox\r\n";
    put(dir, "docker-compose.yml", compose, strlen(compose));
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, NULL, dir, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    assert_int_equal(job->n_files, 0);
    static const char *const want_bundled[] = {"docker-compose.yml", NULL};
    assert_strv(&a->bundled, want_bundled);
    assert_string_equal(job->steps[0].run.text, "docker compose pull");
}

/* Past the run spec's 2 MiB of inline contents, further text files go into the bundle. */
static void test_inline_cap(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = m87_xasprintf("%s/proj", c->tmp);
    struct m87_buf y;
    m87_buf_init(&y, 0);
    m87_buf_appendf(&y, NULL, "services:\n  app:\n    image: busybox\n    env_file:\n");
    char *text = m87_xmalloc(60000);
    memset(text, '#', 60000);
    text[59999] = '\n';
    size_t n = SPEC_RUNSPEC_MAX_CONTENT / 60000 + 3;
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *name = m87_xasprintf("env/%03zu.env", i);
        put(dir, name, text, 60000);
        m87_buf_appendf(&y, NULL, "      - %s\n", name);
    }
    free(text);
    put(dir, "compose.yaml", y.data, y.len);
    m87_buf_release(&y);
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, NULL, dir, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    size_t total = 0;
    for (size_t i = 0; i < job->n_files; i++)
        total += strlen(job->files[i].content);
    assert_true(total <= SPEC_RUNSPEC_MAX_CONTENT);
    assert_int_equal(job->n_files - 1 + a->bundled.len, n);
    assert_true(a->bundled.len >= 3);
    /* the first names inline, the last ones bundled: the split follows the names */
    assert_string_equal(job->files[1].name, "env/000.env");
    _cleanup_free_ char *last = m87_xasprintf("env/%03zu.env", n - 1);
    assert_string_equal(a->bundled.items[a->bundled.len - 1], last);
}

/* The whole project directory bind-mounted: everything travels in the bundle, and -f is spelled
 * out since the bundle brings compose files along (here the override docker compose merged). */
static void test_bind_root(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = m87_xasprintf("%s/proj", c->tmp);
    static const char compose[] = "services:\n  app:\n    image: busybox\n    volumes: [.:/app]\n";
    put(dir, "docker-compose.yml", compose, strlen(compose));
    put(dir, "src/main.c", "int main(void) { return 0; }\n", 29);
    put(dir, "compose.override.yml", "services: {}\n", 13);
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, NULL, dir, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    static const char *const want_bundled[] = {"compose.override.yml", "docker-compose.yml", "src",
                                               NULL};
    assert_strv(&a->bundled, want_bundled);
    assert_string_equal(job->steps[0].run.text,
                        "docker compose -f docker-compose.yml -f compose.override.yml pull");
}

/* ---- refused references ---------------------------------------------------------------------- */

static char *replace_all(const char *text, const char *from, const char *to)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (const char *p = text, *at; *p; p = at + strlen(from)) {
        at = strstr(p, from);
        if (at == NULL) {
            m87_buf_append(&b, p, strlen(p), NULL);
            break;
        }
        m87_buf_append(&b, p, (size_t)(at - p), NULL);
        m87_buf_append(&b, to, strlen(to), NULL);
    }
    return m87_buf_steal(&b);
}

static void check_bad(const struct ctx *c, const char *name)
{
    _cleanup_free_ char *errpath = m87_xasprintf("%s/convert/bad/%.*s.err", c->fixtures,
                                                 (int)(strrchr(name, '.') - name), name);
    _cleanup_free_ char *raw = read_text(errpath);
    raw[strcspn(raw, "\n")] = '\0';
    _cleanup_free_ char *want = replace_all(raw, "@DIR@", c->fixtures);
    const char *const files[] = {name, NULL};
    struct m87_error *err = NULL;
    struct spec_conversion *conv = convert(c, files, NULL, NULL, &err);
    if (conv)
        fail_msg("%s converted, but must fail with: %s", name, want);
    if (strcmp(err->msg, want) != 0)
        fail_msg("%s: message differs:\n got: %s\nwant: %s", name, err->msg, want);
    m87_error_clear(&err);
}

static void test_bad_fixtures(void **state)
{
    struct ctx *c = *state;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    _cleanup_free_ char *dir = fixture_dir(c, "bad");
    assert_int_equal(chdir(dir), 0);
    static const char *const names[] = {"env-file-outside.yml", "config-outside.yml",
                                        "secret-outside.yml", "config-missing.yml",
                                        "env-file-dotdot-inside.yml"};
    for (size_t i = 0; i < M87_ARRAY_LEN(names); i++)
        check_bad(c, names[i]);
    assert_int_equal(chdir(cwd), 0);
    /* nothing was written for a refused project */
    assert_int_equal(rmdir(c->bundles), 0);
    assert_int_equal(mkdir(c->bundles, 0755), 0);
}

static void test_refusals(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = m87_xasprintf("%s/proj", c->tmp);
    static const char compose[] = "services:\n  app:\n    image: busybox\n    volumes:\n"
                                  "      - ./data:/data\n";
    put(dir, "compose.yaml", compose, strlen(compose));
    put(dir, "data/ok.txt", "ok\n", 3);
    _cleanup_free_ char *link = m87_xasprintf("%s/data/passwd", dir);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    struct m87_error *err = NULL;
    assert_null(convert(c, NULL, dir, NULL, &err));
    _cleanup_free_ char *want = m87_xasprintf(
        "bundle: '%s/data/passwd' is a symbolic link: only regular files and directories can be "
        "bundled",
        dir);
    assert_string_equal(err->msg, want);
    m87_error_clear(&err);
    unlink(link);
    /* a bad id */
    assert_null(convert(c, NULL, dir, "-bad", &err));
    assert_int_equal(err->code, M87_E_INVAL);
    assert_string_equal(err->msg, "invalid job id '-bad': use 1 to 63 letters, digits, '_', '.' "
                                  "or '-', starting with a letter or digit");
    m87_error_clear(&err);
    /* a compose error is the loader's, with its position */
    put(dir, "compose.yaml", "services:\n  app:\n    imag: busybox\n", 33);
    assert_null(convert(c, NULL, dir, NULL, &err));
    assert_int_equal(err->code, M87_E_INVAL);
    assert_non_null(strstr(err->msg, "compose.yaml:3:5: "));
    m87_error_clear(&err);
}

/* extends and include: the files they read travel with the job, and the project loads from the
 * shipped files alone; a file outside the project directory is refused. */
static void test_extends_include(void **state)
{
    struct ctx *c = *state;
    _cleanup_free_ char *dir = m87_xasprintf("%s/proj", c->tmp);
    static const char compose[] = "include:\n  - inc/compose.yml\nservices:\n  web:\n"
                                  "    extends: {file: common/base.yml, service: base}\n"
                                  "    depends_on: [db]\n";
    static const char base[] = "services:\n  base:\n    image: busybox\n"
                               "    env_file: app.env\n";
    static const char inc[] = "services:\n  db:\n    image: busybox:${TAG}\n";
    put(dir, "compose.yaml", compose, strlen(compose));
    put(dir, "common/base.yml", base, strlen(base));
    put(dir, "common/app.env", "A=1\n", 4);
    put(dir, "inc/compose.yml", inc, strlen(inc));
    put(dir, "inc/.env", "TAG=1.36\n", 9);
    _cleanup_(spec_conversion_freep) struct spec_conversion *a = must_convert(c, NULL, dir, NULL);
    const struct spec_job *job = &a->rs->jobs[0];
    static const char *const want[] = {"compose.yaml", "common/app.env", "common/base.yml",
                                       "inc/.env",     "inc/compose.yml", NULL};
    assert_files(job, dir, want);
    assert_null(job->bundle);

    /* the device's workdir: only what the job carries */
    _cleanup_free_ char *dev = m87_xasprintf("%s/device", c->tmp);
    for (size_t i = 0; i < job->n_files; i++)
        put(dev, job->files[i].name, job->files[i].content, strlen(job->files[i].content));
    struct m87_error *err = NULL;
    struct spec_load_options lo = {.project_dir = dev, .lookup = no_env};
    struct spec_project *p = spec_compose_load(&lo, &err);
    if (p == NULL)
        fail_msg("load the shipped files: %s", err->msg);
    assert_int_equal(p->n_services, 2);
    const struct spec_service *web = spec_project_service(p, "web");
    assert_non_null(web);
    assert_string_equal(web->image, "busybox");
    assert_string_equal(m87_kvlist_get(&web->environment, "A"), "1");
    assert_string_equal(spec_project_service(p, "db")->image, "busybox:1.36");
    spec_project_free(p);

    /* an included file outside the project directory cannot be shipped */
    _cleanup_free_ char *out = m87_xasprintf("%s/proj2", c->tmp);
    static const char up[] = "include: [../proj/inc/compose.yml]\nservices:\n  app:\n"
                             "    image: busybox\n";
    put(out, "compose.yaml", up, strlen(up));
    assert_null(convert(c, NULL, out, NULL, &err));
    _cleanup_free_ char *msg = m87_xasprintf(
        "file read through extends or include: '%s/inc/.env' is outside the project directory "
        "'%s': it would not exist on the device",
        dir, out);
    assert_string_equal(err->msg, msg);
    m87_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compose_file_bundled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extends_include, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
