/* Unit tests of the run spec (src/spec/spec-runspec.c, spec-runspec-out.c).
 *
 * fixtures/runspec/good/NAME.yml (or .json) is parsed under the name "NAME.yml" and must give
 * NAME.out (the YAML dump), NAME.hash ("ID HASH" a job a line) and NAME.canon (the canonical JSON
 * a job a line; the hashes were checked against `sha256sum` of "m87-job-v1\n" + that line when
 * the fixtures were written). fixtures/runspec/bad/NAME.yml must fail with exactly NAME.err. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-runspec.h"
#include "unit-util.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static struct spec_runspec *parse_str(const char *text, struct m87_error **err)
{
    return spec_runspec_parse(text, strlen(text), "t.yml", err);
}

static struct spec_runspec *must_parse(const char *text)
{
    struct m87_error *err = NULL;
    struct spec_runspec *rs = parse_str(text, &err);
    if (rs == NULL)
        fail_msg("parse failed: %s\n%s", err->msg, text);
    return rs;
}

/* The message of a parse that must fail, checked against want and code. */
static void must_fail(const char *text, enum m87_errcode code, const char *want)
{
    struct m87_error *err = NULL;
    struct spec_runspec *rs = parse_str(text, &err);
    if (rs != NULL)
        fail_msg("parsed, but must fail with: %s", want);
    if (strcmp(err->msg, want) != 0)
        fail_msg("message differs:\n got: %s\nwant: %s", err->msg, want);
    assert_int_equal(err->code, code);
    m87_error_clear(&err);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of dir's *.yml and *.json files, sorted. */
static void list_specs(const char *dir, bool json_too, struct m87_strv *out)
{
    _cleanup_free_ char *path = unit_fixture_path(dir);
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("cannot open %s", path);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot && (strcmp(dot, ".yml") == 0 || (json_too && strcmp(dot, ".json") == 0)))
            m87_strv_add(out, e->d_name);
    }
    closedir(d);
    qsort(out->items, out->len, sizeof(char *), cmp_strp);
}

/* The expectation file beside NAME.EXT. */
static char *expected(const char *dir, const char *name, const char *ext)
{
    const char *dot = strrchr(name, '.');
    _cleanup_free_ char *rel = m87_xasprintf("%s/%.*s%s", dir, (int)(dot - name), name, ext);
    return unit_read_fixture(rel, NULL);
}

static void assert_text(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("%s differs:\n--- got\n%s\n--- want\n%s", what, got, want);
}

/* "ID HASH\n" for every job, and the canonical JSON lines. */
static char *hash_lines(const struct spec_runspec *rs, bool canonical)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < rs->n_jobs; i++) {
        if (canonical) {
            _cleanup_free_ char *c = spec_job_canonical_json(&rs->jobs[i]);
            m87_buf_appendf(&b, NULL, "%s\n", c);
        } else {
            m87_buf_appendf(&b, NULL, "%s %s\n", rs->jobs[i].id, rs->jobs[i].hash);
        }
    }
    return m87_buf_steal(&b);
}

/* Dump, parse the dump again, and check that nothing moved: same hashes, same YAML dump. */
static void check_round_trip(const char *name, const struct spec_runspec *rs, bool json)
{
    struct m87_error *err = NULL;
    _cleanup_free_ char *text = spec_runspec_dump(rs, json);
    _cleanup_(spec_runspec_freep) struct spec_runspec *again =
        spec_runspec_parse(text, strlen(text), "dump", &err);
    if (again == NULL)
        fail_msg("%s: %s dump does not parse: %s\n%s", name, json ? "JSON" : "YAML", err->msg,
                 text);
    _cleanup_free_ char *h1 = hash_lines(rs, false), *h2 = hash_lines(again, false);
    assert_text(name, h2, h1);
    _cleanup_free_ char *d1 = spec_runspec_dump(rs, false), *d2 = spec_runspec_dump(again, false);
    assert_text(name, d2, d1);
    for (size_t i = 0; i < rs->n_jobs; i++)
        assert_int_equal(again->jobs[i].enabled, rs->jobs[i].enabled);
}

/* ---- data-driven fixtures -------------------------------------------------------------------- */

static void check_good(const char *name)
{
    struct m87_error *err = NULL;
    _cleanup_free_ char *rel = m87_xasprintf("runspec/good/%s", name);
    size_t len;
    _cleanup_free_ char *text = unit_read_fixture(rel, &len);
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs =
        spec_runspec_parse(text, len, name, &err);
    if (rs == NULL)
        fail_msg("%s: %s", name, err->msg);
    _cleanup_free_ char *dump = spec_runspec_dump(rs, false);
    _cleanup_free_ char *want_dump = expected("runspec/good", name, ".out");
    assert_text(name, dump, want_dump);
    _cleanup_free_ char *hashes = hash_lines(rs, false), *canon = hash_lines(rs, true);
    _cleanup_free_ char *want_hashes = expected("runspec/good", name, ".hash");
    _cleanup_free_ char *want_canon = expected("runspec/good", name, ".canon");
    assert_text(name, hashes, want_hashes);
    assert_text(name, canon, want_canon);
    for (size_t i = 0; i < rs->n_jobs; i++) {
        char h[SPEC_JOB_HASH_LEN + 1];
        spec_job_hash(&rs->jobs[i], h);
        assert_string_equal(h, rs->jobs[i].hash);
        assert_int_equal(rs->jobs[i].index, i);
        assert_string_equal(rs->jobs[i].pos.file, name);
    }
    check_round_trip(name, rs, false);
    check_round_trip(name, rs, true);
}

static void test_good_fixtures(void **state)
{
    (void)state;
    struct m87_strv names;
    m87_strv_init(&names);
    list_specs("runspec/good", true, &names);
    assert_true(names.len >= 8);
    for (size_t i = 0; i < names.len; i++)
        check_good(names.items[i]);
    m87_strv_release(&names);
}

static enum m87_errcode bad_code(const char *name)
{
    if (strncmp(name, "too-many-", 9) == 0)
        return M87_E_TOOBIG;
    if (strncmp(name, "yaml-", 5) == 0 || strcmp(name, "json-trailing-garbage.yml") == 0)
        return M87_E_PARSE;
    return M87_E_INVAL;
}

static void test_bad_fixtures(void **state)
{
    (void)state;
    struct m87_strv names;
    m87_strv_init(&names);
    list_specs("runspec/bad", false, &names);
    assert_true(names.len >= 100);
    for (size_t i = 0; i < names.len; i++) {
        struct m87_error *err = NULL;
        _cleanup_free_ char *rel = m87_xasprintf("runspec/bad/%s", names.items[i]);
        size_t len;
        _cleanup_free_ char *text = unit_read_fixture(rel, &len);
        struct spec_runspec *rs = spec_runspec_parse(text, len, names.items[i], &err);
        if (rs != NULL)
            fail_msg("%s: parsed, but must fail", names.items[i]);
        _cleanup_free_ char *want = expected("runspec/bad", names.items[i], ".err");
        size_t wlen = strlen(want);
        if (wlen && want[wlen - 1] == '\n')
            want[wlen - 1] = '\0';
        if (strcmp(err->msg, want) != 0)
            fail_msg("%s: message differs:\n got: %s\nwant: %s", names.items[i], err->msg, want);
        if (err->code != bad_code(names.items[i]))
            fail_msg("%s: code %d, want %d", names.items[i], err->code, bad_code(names.items[i]));
        m87_error_clear(&err);
    }
    m87_strv_release(&names);
}

/* ---- the model ------------------------------------------------------------------------------- */

static const char seed_compose[] = "services:\n"
                                   "  web:\n"
                                   "    image: nginx:alpine\n"
                                   "    ports:\n"
                                   "      - \"80:80\"\n"
                                   "    restart: always\n";

static void assert_default_retry(const struct spec_step *s)
{
    assert_int_equal(s->retry.attempts, 1);
    assert_int_equal(s->retry.backoff_ns, 5000000000LL);
    assert_int_equal(s->retry.n_on_exit_codes, 0);
}

static void assert_shell(const struct spec_run *run, const char *text)
{
    assert_true(run->shell);
    assert_string_equal(run->text, text);
    assert_int_equal(run->argv.len, 0);
}

static void test_seed_model(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *path = unit_fixture_path("runspec/good/seed.yml");
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = spec_runspec_load(path, &err);
    assert_ok(rs ? 0 : -1, &err);
    assert_int_equal(rs->n_jobs, 1);
    const struct spec_job *j = &rs->jobs[0];
    assert_ptr_equal(spec_runspec_job(rs, "app"), j);
    assert_null(spec_runspec_job(rs, "App"));
    assert_string_equal(j->id, "app");
    assert_string_equal(j->pos.file, path);
    assert_int_equal(j->pos.line, 3);
    assert_int_equal(j->pos.column, 5);
    assert_int_equal(j->index, 0);
    assert_int_equal(j->type, SPEC_JOB_SERVICE);
    assert_true(j->enabled);
    assert_int_equal(j->workdir_mode, SPEC_WORKDIR_EPHEMERAL);
    assert_null(j->workdir_path);
    assert_int_equal(j->n_files, 1);
    assert_string_equal(j->files[0].name, "docker-compose.yml");
    assert_string_equal(j->files[0].content, seed_compose);
    assert_int_equal(j->env.len, 0);
    assert_int_equal(j->n_steps, 2);
    const struct spec_step *pull = &j->steps[0], *up = &j->steps[1], *down = &j->stop_steps[0];
    assert_string_equal(pull->name, "pull");
    assert_int_equal(pull->pos.line, 17);
    assert_shell(&pull->run, "docker compose pull");
    assert_int_equal(pull->timeout_ns, 15LL * 60 * 1000000000);
    assert_default_retry(pull);
    assert_false(pull->has_undo);
    assert_string_equal(up->name, "up");
    assert_shell(&up->run, "docker compose up -d --remove-orphans");
    assert_int_equal(up->timeout_ns, 10LL * 60 * 1000000000);
    assert_default_retry(up);
    assert_true(up->has_undo);
    assert_shell(&up->undo, "docker compose down --remove-orphans");
    assert_int_equal(up->undo_timeout_ns, 5LL * 60 * 1000000000);
    assert_int_equal(j->on_failure_undo, SPEC_UNDO_EXECUTED_STEPS);
    assert_int_equal(j->n_stop_steps, 1);
    assert_string_equal(down->name, "down");
    assert_shell(&down->run, "docker compose down --remove-orphans");
    assert_int_equal(down->timeout_ns, 5LL * 60 * 1000000000);
    assert_default_retry(down);
    assert_false(down->has_undo);
    assert_string_equal(j->hash,
                        "8de054ed931c34910ec7b7896e9a4699a417bd9e91c3b84387e077800721e145");
}

static void test_full_model(void **state)
{
    (void)state;
    _cleanup_free_ char *text = unit_read_fixture("runspec/good/full.yml", NULL);
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse(text);
    assert_int_equal(rs->n_jobs, 3);
    const struct spec_job *app = &rs->jobs[0], *backup = &rs->jobs[1], *z = &rs->jobs[2];
    assert_string_equal(app->workdir_path, "/srv/m87/app");
    assert_int_equal(app->workdir_mode, SPEC_WORKDIR_PERSISTENT);
    assert_int_equal(app->n_files, 4);
    assert_string_equal(app->files[1].name, "config/web.env");
    assert_string_equal(app->files[1].content, "GREETING=hello\n");
    assert_string_equal(app->files[3].content, "");
    assert_int_equal(app->env.len, 4);
    assert_string_equal(app->env.items[0].key, "DB_URL");
    assert_string_equal(m87_kvlist_get(&app->env, "PORT"), "8080");
    assert_string_equal(m87_kvlist_get(&app->env, "DEBUG"), "false");
    const struct spec_step *pull = &app->steps[0], *migrate = &app->steps[1];
    assert_int_equal(pull->retry.attempts, 3);
    assert_int_equal(pull->retry.backoff_ns, 15000000000LL);
    assert_int_equal(pull->retry.n_on_exit_codes, 2); /* [1, 18, 1]: sorted, unique */
    assert_int_equal(pull->retry.on_exit_codes[0], 1);
    assert_int_equal(pull->retry.on_exit_codes[1], 18);
    assert_false(migrate->run.shell);
    assert_null(migrate->run.text);
    assert_int_equal(migrate->run.argv.len, 3);
    assert_string_equal(migrate->run.argv.items[2], "--verbose");
    assert_int_equal(migrate->timeout_ns, 5400LL * 1000000000);
    assert_int_equal(migrate->undo_timeout_ns, 300LL * 1000000000);
    assert_false(migrate->undo.shell);
    assert_int_equal(app->steps[2].undo_timeout_ns, 150LL * 1000000000);
    assert_int_equal(app->on_failure_undo, SPEC_UNDO_NONE);
    assert_int_equal(app->stop_steps[0].retry.backoff_ns, 500000000);
    assert_string_equal(backup->id, "backup.nightly_1");
    assert_int_equal(backup->index, 1);
    assert_int_equal(backup->type, SPEC_JOB_JOB);
    assert_false(backup->enabled);
    assert_int_equal(backup->steps[0].retry.backoff_ns, 0);
    assert_int_equal(backup->steps[0].timeout_ns, SPEC_RUNSPEC_DEFAULT_TIMEOUT);
    assert_int_equal(backup->n_stop_steps, 0);
    assert_int_equal(z->steps[1].run.argv.len, 3);
    assert_string_equal(z->steps[1].run.argv.items[1], "");
    assert_int_equal(z->n_stop_steps, 0);
}

/* ---- the hash -------------------------------------------------------------------------------- */

static void test_form_independent(void **state)
{
    (void)state;
    _cleanup_free_ char *a = unit_read_fixture("runspec/good/form-a.yml", NULL);
    _cleanup_free_ char *b = unit_read_fixture("runspec/good/form-b.yml", NULL);
    _cleanup_(spec_runspec_freep) struct spec_runspec *ra = must_parse(a);
    _cleanup_(spec_runspec_freep) struct spec_runspec *rb = must_parse(b);
    assert_int_equal(ra->n_jobs, 2);
    assert_int_equal(rb->n_jobs, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(ra->jobs[i].hash, rb->jobs[i].hash);
        _cleanup_free_ char *ca = spec_job_canonical_json(&ra->jobs[i]);
        _cleanup_free_ char *cb = spec_job_canonical_json(&rb->jobs[i]);
        assert_string_equal(ca, cb);
    }
    assert_string_not_equal(ra->jobs[0].hash, ra->jobs[1].hash);
}

/* The job every mutation starts from. */
static const char base_job[] = "jobs:\n"
                               "  - id: app\n"
                               "    files:\n"
                               "      compose.yml: 'services: {}'\n"
                               "      conf/a.txt: alpha\n"
                               "    env: {A: '1', B: two}\n"
                               "    steps:\n"
                               "      - name: pull\n"
                               "        run: docker compose pull\n"
                               "        retry: {attempts: 2, on_exit_codes: [1]}\n"
                               "      - name: up\n"
                               "        run: [docker, compose, up]\n"
                               "        undo: {run: docker compose down}\n"
                               "    stop:\n"
                               "      steps: [{name: down, run: docker compose down}]\n";

#define BUNDLE_A "0000000000000000000000000000000000000000000000000000000000000000"
#define BUNDLE_B "0000000000000000000000000000000000000000000000000000000000000001"

/* Text substitutions that change what the runner would do: each must change the hash. */
static const char *const changes[][2] = {
    {"'services: {}'", "'services: {a: {}}'"}, /* file content */
    {"alpha", "'alpha '"},                     /* file content, whitespace only */
    {"conf/a.txt", "conf/b.txt"},              /* file name */
    {"      conf/a.txt: alpha\n", "      conf/a.txt: alpha\n      x: ''\n"}, /* file added */
    {"B: two", "B: three"},                                                  /* env value */
    {"{A: '1', B: two}", "{A: '1', B: two, C: ''}"},                         /* env added */
    {"{A: '1', B: two}", "{A: '1', b: two}"},                                /* env key case */
    {"docker compose pull", "docker compose pull -q"},                       /* command */
    {"[docker, compose, up]", "docker compose up"},                          /* argv -> shell */
    {"[docker, compose, up]", "[docker, compose, up, -d]"},                  /* argv item */
    {"attempts: 2", "attempts: 3"},                                          /* retry attempts */
    {"attempts: 2,", "attempts: 2, backoff: 1s,"},                           /* retry backoff */
    {"on_exit_codes: [1]", "on_exit_codes: [1, 2]"},                         /* retry exit codes */
    {"on_exit_codes: [1]", "on_exit_codes: []"},                             /* any non-zero */
    {"run: docker compose pull\n", "run: docker compose pull\n        timeout: 59m\n"},
    {"{run: docker compose down}", "{run: docker compose down -v}"}, /* undo command */
    {"{run: docker compose down}", "{run: docker compose down, timeout: 6m}"},
    {"        retry:", "        undo: {run: x}\n        retry:"}, /* undo added */
    {"name: pull", "name: fetch"},                                /* step name */
    {"  - id: app\n", "  - id: app\n    type: job\n"},
    {"  - id: app\n", "  - id: app\n    workdir: {mode: persistent}\n"},
    {"  - id: app\n", "  - id: app\n    workdir: {mode: persistent, path: /srv/app}\n"},
    {"  - id: app\n", "  - id: app\n    on_failure: {undo: none}\n"},
    {"{name: down, run: docker compose down}", "{name: down, run: docker compose stop}"},
    {"{name: down, run: docker compose down}",
     "{name: down, run: docker compose down, retry: {attempts: 2}}"},
    {"steps: [{name: down, run: docker compose down}]",
     "steps: [{name: down, run: docker compose down}, {name: rm, run: x}]"},
    {"id: app", "id: app2"},
    {"  - id: app\n", "  - id: app\n    bundle: sha256:" BUNDLE_A "\n"}, /* bundle added */
    {"  - id: app\n", "  - id: app\n    bundle: sha256:" BUNDLE_B "\n"}, /* another bundle */
};

/* Text substitutions that change nothing the runner does: the hash must stay. */
static const char *const same[][2] = {
    {"  - id: app\n", "  - id: app\n    enabled: false\n"},
    {"  - id: app\n", "  - id: app # the web app\n    type: service\n    enabled: true\n"},
    {"run: docker compose pull\n", "run: \"docker compose pull\"\n        timeout: 3600s\n"},
    {"{A: '1', B: two}", "{B: two, A: 1}"},
    {"on_exit_codes: [1]", "on_exit_codes: [1, 1]"},
    {"{run: docker compose down}", "{timeout: 300s, run: 'docker compose down'}"},
    {"[docker, compose, up]", "\n          - docker\n          - \"compose\"\n          - up"},
};

static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (at == NULL)
        fail_msg("'%s' not in the base job", from);
    return m87_xasprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

static void test_hash_changes(void **state)
{
    (void)state;
    _cleanup_(spec_runspec_freep) struct spec_runspec *base = must_parse(base_job);
    size_t n = M87_ARRAY_LEN(changes);
    char(*seen)[SPEC_JOB_HASH_LEN + 1] = m87_xcalloc(n, sizeof(*seen));
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *text = replace(base_job, changes[i][0], changes[i][1]);
        _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse(text);
        if (strcmp(rs->jobs[0].hash, base->jobs[0].hash) == 0)
            fail_msg("change %zu kept the hash:\n%s", i, text);
        for (size_t j = 0; j < i; j++)
            if (strcmp(seen[j], rs->jobs[0].hash) == 0)
                fail_msg("changes %zu and %zu give the same hash", j, i);
        memcpy(seen[i], rs->jobs[0].hash, sizeof(seen[i]));
    }
    free(seen);
    for (size_t i = 0; i < M87_ARRAY_LEN(same); i++) {
        _cleanup_free_ char *text = replace(base_job, same[i][0], same[i][1]);
        _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse(text);
        if (strcmp(rs->jobs[0].hash, base->jobs[0].hash) != 0)
            fail_msg("form change %zu changed the hash:\n%s", i, text);
    }
}

/* A job built by hand, as the compose converter will, hashes like the same job parsed. */
static void test_job_by_hand(void **state)
{
    (void)state;
    struct spec_job job;
    memset(&job, 0, sizeof(job));
    job.id = m87_xstrdup("app");
    job.enabled = true;
    job.n_files = 1;
    job.files = m87_xcalloc(1, sizeof(*job.files));
    job.files[0].name = m87_xstrdup("docker-compose.yml");
    job.files[0].content = m87_xstrdup(seed_compose);
    job.n_steps = 2;
    job.steps = m87_xcalloc(2, sizeof(*job.steps));
    const char *names[] = {"pull", "up"};
    const char *runs[] = {"docker compose pull", "docker compose up -d --remove-orphans"};
    const int64_t minutes[] = {15, 10};
    for (size_t i = 0; i < 2; i++) {
        job.steps[i].name = m87_xstrdup(names[i]);
        job.steps[i].run.shell = true;
        job.steps[i].run.text = m87_xstrdup(runs[i]);
        job.steps[i].timeout_ns = minutes[i] * 60 * 1000000000;
        job.steps[i].retry.attempts = 1;
        job.steps[i].retry.backoff_ns = SPEC_RUNSPEC_DEFAULT_BACKOFF;
    }
    job.steps[1].has_undo = true;
    job.steps[1].undo.shell = true;
    job.steps[1].undo.text = m87_xstrdup("docker compose down --remove-orphans");
    job.steps[1].undo_timeout_ns = SPEC_RUNSPEC_DEFAULT_UNDO_TIMEOUT;
    job.n_stop_steps = 1;
    job.stop_steps = m87_xcalloc(1, sizeof(*job.stop_steps));
    job.stop_steps[0].name = m87_xstrdup("down");
    job.stop_steps[0].run.shell = true;
    job.stop_steps[0].run.text = m87_xstrdup("docker compose down --remove-orphans");
    job.stop_steps[0].timeout_ns = 5 * 60 * INT64_C(1000000000);
    job.stop_steps[0].retry.attempts = 1;
    job.stop_steps[0].retry.backoff_ns = SPEC_RUNSPEC_DEFAULT_BACKOFF;
    spec_job_hash(&job, job.hash);
    assert_string_equal(job.hash,
                        "8de054ed931c34910ec7b7896e9a4699a417bd9e91c3b84387e077800721e145");
    struct spec_runspec rs = {&job, 1};
    _cleanup_free_ char *dump = spec_runspec_dump(&rs, false);
    _cleanup_free_ char *want = unit_read_fixture("runspec/good/seed.out", NULL);
    assert_string_equal(dump, want);
    spec_job_release(&job);
    assert_null(job.id);
    assert_int_equal(job.n_steps, 0);
}

/* ---- dumps ----------------------------------------------------------------------------------- */

static void test_dump_durations(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"3600s", "1h"},     {"7200s", "2h"},     {"5400s", "1h30m"}, {"3605s", "1h0m5s"},
        {"3661s", "1h1m1s"}, {"60.5s", "1m0.5s"}, {"90s", "1m30s"},   {"1ns", "1ns"},
        {"1500us", "1.5ms"}, {"8760h", "8760h"},  {"1d", "24h"},      {"1h0m0s", "1h"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        _cleanup_free_ char *text = m87_xasprintf(
            "jobs: [{id: a, steps: [{name: s, run: x, timeout: %s}]}]\n", cases[i][0]);
        _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse(text);
        _cleanup_free_ char *json = spec_runspec_dump(rs, true);
        _cleanup_free_ char *want = m87_xasprintf("\"timeout\":\"%s\"", cases[i][1]);
        if (strstr(json, want) == NULL)
            fail_msg("%s: %s not in %s", cases[i][0], want, json);
    }
}

static void test_dump_json(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *text = unit_read_fixture("runspec/good/full.yml", NULL);
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse(text);
    _cleanup_free_ char *json = spec_runspec_dump(rs, true);
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(json, strlen(json), &err);
    assert_ok(doc ? 0 : -1, &err);
    const struct m87_json *jobs = m87_json_get(doc, "jobs");
    assert_int_equal(m87_json_len(jobs), 3);
    const struct m87_json *app = m87_json_at(jobs, 0);
    assert_string_equal(m87_json_str(m87_json_path(app, "workdir", "path", NULL), ""),
                        "/srv/m87/app");
    const struct m87_json *pull = m87_json_at(m87_json_get(app, "steps"), 0);
    assert_string_equal(m87_json_str(m87_json_get(pull, "timeout"), ""), "15m");
    assert_int_equal(m87_json_int(m87_json_path(pull, "retry", "attempts", NULL), 0), 3);
    assert_int_equal(m87_json_len(m87_json_path(pull, "retry", "on_exit_codes", NULL)), 2);
    const struct m87_json *backup = m87_json_at(jobs, 1);
    assert_false(m87_json_bool(m87_json_get(backup, "enabled"), true));
    assert_null(m87_json_path(backup, "workdir", "path", NULL));
    assert_int_equal(m87_json_type(m87_json_get(backup, "files")), M87_JSON_OBJECT);
    /* the canonical JSON is JSON too, with durations in nanoseconds and no `enabled` */
    _cleanup_free_ char *canon = spec_job_canonical_json(&rs->jobs[1]);
    _cleanup_(m87_json_freep) struct m87_json *c = m87_json_parse(canon, strlen(canon), &err);
    assert_ok(c ? 0 : -1, &err);
    assert_null(m87_json_get(c, "enabled"));
    assert_int_equal(m87_json_type(m87_json_path(c, "workdir", "path", NULL)), M87_JSON_NULL);
    const struct m87_json *dump = m87_json_at(m87_json_get(c, "steps"), 0);
    assert_int_equal(m87_json_int(m87_json_get(dump, "timeout_ns"), 0), 3600000000000LL);
}

static void test_empty_dump(void **state)
{
    (void)state;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse("jobs: []");
    assert_int_equal(rs->n_jobs, 0);
    assert_null(spec_runspec_job(rs, "x"));
    _cleanup_free_ char *y = spec_runspec_dump(rs, false), *j = spec_runspec_dump(rs, true);
    assert_string_equal(y, "jobs: []\n");
    assert_string_equal(j, "{\"jobs\":[]}");
}

/* ---- limits ---------------------------------------------------------------------------------- */

/* A job with a file of n bytes of 'x' under name (flow scalar, so no line of its own). */
static char *job_with_file(size_t n)
{
    char *content = m87_xmalloc(n + 1);
    memset(content, 'x', n);
    content[n] = '\0';
    char *text = m87_xasprintf("jobs:\n  - id: a\n    files:\n      big: %s\n      small: yz\n"
                               "    steps: [{name: s, run: x}]\n",
                               content);
    free(content);
    return text;
}

static void test_content_cap(void **state)
{
    (void)state;
    _cleanup_free_ char *fits = job_with_file(SPEC_RUNSPEC_MAX_CONTENT - 2);
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse(fits);
    assert_int_equal(strlen(rs->jobs[0].files[0].content), SPEC_RUNSPEC_MAX_CONTENT - 2);
    _cleanup_free_ char *over = job_with_file(SPEC_RUNSPEC_MAX_CONTENT - 1);
    must_fail(over, M87_E_TOOBIG,
              "t.yml:5:14: jobs[0].files.small: file contents exceed the limit of 2097152 bytes "
              "per job");
}

static void test_input_cap(void **state)
{
    (void)state;
    size_t n = SPEC_RUNSPEC_MAX_FILE + 1;
    char *text = m87_xmalloc(n + 1);
    memset(text, '#', n);
    text[n] = '\0';
    struct m87_error *err = NULL;
    assert_null(spec_runspec_parse(text, n, "big.yml", &err));
    assert_int_equal(err->code, M87_E_TOOBIG);
    assert_string_equal(err->msg, "big.yml: run spec exceeds the limit of 4194304 bytes");
    m87_error_clear(&err);
    /* a comment of exactly the cap is read (and lacks jobs) */
    assert_null(spec_runspec_parse(text, n - 1, "big.yml", &err));
    assert_string_equal(err->msg, "big.yml:1:1: expected a mapping, got null");
    m87_error_clear(&err);
    free(text);
}

/* n flow items produced by fmt (which takes the index) joined by ", ". */
static char *items(size_t n, const char *fmt)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            m87_buf_append(&b, ", ", 2, NULL);
        m87_buf_appendf(&b, NULL, fmt, i);
    }
    return m87_buf_steal(&b);
}

static void test_limits_reached(void **state)
{
    (void)state;
    _cleanup_free_ char *jobs =
        items(SPEC_RUNSPEC_MAX_JOBS, "{id: j%zu, steps: [{name: s, run: x}]}");
    _cleanup_free_ char *t1 = m87_xasprintf("jobs: [%s]", jobs);
    _cleanup_(spec_runspec_freep) struct spec_runspec *r1 = must_parse(t1);
    assert_int_equal(r1->n_jobs, SPEC_RUNSPEC_MAX_JOBS);
    assert_string_equal(r1->jobs[255].id, "j255");
    assert_int_equal(r1->jobs[255].index, 255);

    _cleanup_free_ char *steps = items(SPEC_RUNSPEC_MAX_STEPS, "{name: s%zu, run: x}");
    _cleanup_free_ char *files = items(SPEC_RUNSPEC_MAX_FILES, "d/f%zu: x");
    _cleanup_free_ char *env = items(SPEC_RUNSPEC_MAX_ENV, "V%zu: x");
    _cleanup_free_ char *t2 = m87_xasprintf("jobs: [{id: a, files: {%s}, env: {%s}, steps: [%s], "
                                            "stop: {steps: [%s]}}]",
                                            files, env, steps, steps);
    _cleanup_(spec_runspec_freep) struct spec_runspec *r2 = must_parse(t2);
    assert_int_equal(r2->jobs[0].n_steps, SPEC_RUNSPEC_MAX_STEPS);
    assert_int_equal(r2->jobs[0].n_stop_steps, SPEC_RUNSPEC_MAX_STEPS);
    assert_int_equal(r2->jobs[0].n_files, SPEC_RUNSPEC_MAX_FILES);
    assert_int_equal(r2->jobs[0].env.len, SPEC_RUNSPEC_MAX_ENV);
}

static void test_value_bounds(void **state)
{
    (void)state;
    char id[64], comp[256], longpath[SPEC_RUNSPEC_MAX_PATH + 1], envname[257];
    memset(id, 'i', 63), id[63] = '\0';
    memset(comp, 'c', 255), comp[255] = '\0';
    memset(longpath, 'p', sizeof(longpath) - 1), longpath[sizeof(longpath) - 1] = '\0';
    for (size_t i = 100; i < sizeof(longpath) - 1; i += 100)
        longpath[i] = '/';
    memset(envname, 'E', 256), envname[256] = '\0';
    _cleanup_free_ char *text = m87_xasprintf(
        "jobs:\n  - id: %s\n    workdir: {mode: persistent, path: /%s}\n"
        "    files: {%s: x, %s: y}\n"
        "    env: {%s: v}\n    steps:\n      - name: %s\n        run: x\n        timeout: 8760h\n"
        "        retry: {attempts: 100, backoff: 8760h, on_exit_codes: [255, 1]}\n",
        id, longpath + 1, comp, longpath, envname, id);
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = must_parse(text);
    const struct spec_job *j = &rs->jobs[0];
    assert_string_equal(j->id, id);
    assert_int_equal(strlen(j->workdir_path), SPEC_RUNSPEC_MAX_PATH);
    assert_int_equal(strlen(j->files[1].name), SPEC_RUNSPEC_MAX_PATH);
    assert_int_equal(j->steps[0].timeout_ns, SPEC_RUNSPEC_MAX_DURATION);
    assert_int_equal(j->steps[0].retry.attempts, SPEC_RUNSPEC_MAX_ATTEMPTS);
    assert_int_equal(j->steps[0].retry.on_exit_codes[1], 255);
    /* one more byte on the workdir path is refused */
    _cleanup_free_ char *over = m87_xasprintf("jobs: [{id: a, workdir: {path: /%sp}, "
                                              "steps: [{name: s, run: x}]}]",
                                              longpath + 1);
    _cleanup_free_ char *want = m87_xasprintf(
        "t.yml:1:32: jobs[0].workdir.path: invalid path '/%.59s...': must not be longer than 512 "
        "bytes",
        longpath + 1);
    must_fail(over, M87_E_INVAL, want);
}

/* An ephemeral workdir at a path is refused, but a record an earlier version stored with one
 * still loads, so that the runner can stop that job. */
static void test_stored_ephemeral_path(void **state)
{
    (void)state;
    static const char text[] = "{\"jobs\":[{\"id\":\"a\",\"workdir\":{\"mode\":\"ephemeral\","
                               "\"path\":\"/srv/a\"},\"steps\":[{\"name\":\"s\",\"run\":\"x\"}]}]}";
    must_fail(text, M87_E_INVAL,
              "t.yml:1:57: jobs[0].workdir.path: an ephemeral workdir is created by the agent; a "
              "path needs mode persistent");
    struct m87_error *err = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs =
        spec_runspec_parse_stored(text, strlen(text), "t.yml", &err);
    assert_non_null(rs);
    assert_int_equal(rs->jobs[0].workdir_mode, SPEC_WORKDIR_EPHEMERAL);
    assert_string_equal(rs->jobs[0].workdir_path, "/srv/a");
}

/* ---- files ----------------------------------------------------------------------------------- */

static void test_load_errors(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    assert_null(spec_runspec_load("/nonexistent/m87/spec.yml", &err));
    assert_int_equal(err->code, M87_E_IO);
    assert_string_equal(err->msg, "open '/nonexistent/m87/spec.yml': No such file or directory");
    m87_error_clear(&err);

    char dir[] = "/tmp/m87-runspec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = m87_xasprintf("%s/big.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i <= SPEC_RUNSPEC_MAX_FILE; i++)
        fputc('#', f);
    fclose(f);
    assert_null(spec_runspec_load(path, &err));
    assert_int_equal(err->code, M87_E_TOOBIG);
    _cleanup_free_ char *want =
        m87_xasprintf("%s: run spec exceeds the limit of 4194304 bytes", path);
    assert_string_equal(err->msg, want);
    m87_error_clear(&err);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_fixtures),    cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_seed_model),       cmocka_unit_test(test_full_model),
        cmocka_unit_test(test_form_independent), cmocka_unit_test(test_hash_changes),
        cmocka_unit_test(test_job_by_hand),      cmocka_unit_test(test_dump_durations),
        cmocka_unit_test(test_dump_json),        cmocka_unit_test(test_empty_dump),
        cmocka_unit_test(test_content_cap),      cmocka_unit_test(test_input_cap),
        cmocka_unit_test(test_limits_reached),   cmocka_unit_test(test_value_bounds),
        cmocka_unit_test(test_load_errors),      cmocka_unit_test(test_stored_ephemeral_path),
    };
    return cmocka_run_group_tests_name("runspec", tests, NULL, NULL);
}
