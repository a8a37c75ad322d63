/* Unit tests of the agent's check of fleet release signatures (src/agent/agent-fleet-trust.c):
 * which targets a device with trusted keys takes on the strength of its fleet releases. The
 * daemon's use of it is tested end to end in tests/e2e/test_security_fleet_releases.py. */
#include <string.h>

#include "agent/fleet-trust.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/sign.h"
#include "m87/spec-revision.h"
#include "m87/spec-runspec.h"
#include "unit-util.h"

#define JOB(id, cmd) "{\"id\":\"" id "\",\"steps\":[{\"name\":\"up\",\"run\":\"" cmd "\"}]}"
#define TIME 1800000000

struct fixture {
    struct m87_sign_key *key;
    struct m87_sign_key *other; /* not trusted */
    struct spec_runspec *rs;    /* app, db (the fleet's), cfg (the device's own) */
    struct spec_runspec *stored;
};

static struct spec_runspec *spec(const char *json)
{
    struct m87_error *err = NULL;
    struct spec_runspec *rs = spec_runspec_parse(json, strlen(json), "test", &err);
    if (!rs)
        fail_msg("spec: %s", err->msg);
    return rs;
}

static int setup(void **state)
{
    struct fixture *f = m87_xcalloc(1, sizeof(*f));
    f->key = m87_sign_key_generate(NULL);
    f->other = m87_sign_key_generate(NULL);
    f->rs = spec("{\"jobs\":[" JOB("app", "echo 2") "," JOB("db", "echo db") "," JOB(
        "cfg", "echo cfg") "]}");
    f->stored = spec("{\"jobs\":[" JOB("app", "echo 1") "," JOB("cfg", "echo cfg") "]}");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    m87_sign_key_free(f->key);
    m87_sign_key_free(f->other);
    spec_runspec_free(f->rs);
    spec_runspec_free(f->stored);
    free(f);
    return 0;
}

/* The hash of the jobs of f->rs named (a NULL-ended list), as the CLI computes it. */
static void jobs_hash(const struct fixture *f, const char *const *ids, char out[65])
{
    struct spec_runspec sub = {m87_xcalloc(f->rs->n_jobs, sizeof(struct spec_job)), 0};
    for (size_t i = 0; ids[i]; i++)
        for (size_t k = 0; k < f->rs->n_jobs; k++)
            if (strcmp(f->rs->jobs[k].id, ids[i]) == 0)
                sub.jobs[sub.n_jobs++] = f->rs->jobs[k];
    spec_revision_hash(&sub, out);
    free(sub.jobs);
}

/* The "fleets" array of one release of fleet "edge" over ids, signed by key (NULL: unsigned). */
static struct m87_json *fleets(const struct fixture *f, const struct m87_sign_key *key,
                               int64_t release, const char *const *ids, const char *hash)
{
    char h[65];
    jobs_hash(f, ids, h);
    struct m87_sign_release_fields rf = {"edge", release, hash ? hash : h, TIME};
    struct m87_jw *w = m87_jw_new();
    m87_jw_arr_open(w);
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "fleet", "edge");
    m87_jw_kint(w, "release", release);
    m87_jw_kstr(w, "hash", rf.hash);
    m87_jw_key(w, "jobs");
    m87_jw_arr_open(w);
    for (size_t i = 0; ids[i]; i++)
        m87_jw_str(w, ids[i]);
    m87_jw_arr_close(w);
    if (key) {
        char id[M87_SIGN_KEY_ID_LEN + 1];
        _cleanup_free_ char *sig = m87_sign_release(key, &rf, NULL);
        m87_sign_key_id(key, id);
        m87_jw_key(w, "signature");
        m87_jw_obj_open(w);
        m87_jw_kint(w, "v", 1);
        m87_jw_kstr(w, "key", id);
        m87_jw_kstr(w, "sig", sig);
        m87_jw_kint(w, "time", TIME);
        m87_jw_obj_close(w);
    }
    m87_jw_obj_close(w);
    m87_jw_arr_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    return m87_json_parse(text, strlen(text), NULL);
}

/* The verdict for the fleets given, with f->key trusted, "edge" seen at release seen_at. */
static char *check(const struct fixture *f, const struct m87_json *fl, int64_t seen_at,
                   const struct spec_runspec *stored)
{
    _cleanup_free_ char *seen_text = m87_xasprintf("{\"edge\": %lld}", (long long)seen_at);
    _cleanup_(m87_json_freep) struct m87_json *seen =
        m87_json_parse(seen_text, strlen(seen_text), NULL);
    struct m87_sign_key *keys[] = {f->key};
    struct agent_fleet_check c = {keys, 1, f->rs, fl, seen, stored};
    return agent_fleet_verdict(&c);
}

static const char *const APP_DB[] = {"app", "db", NULL};

static void test_signed_release_is_taken(void **state)
{
    struct fixture *f = *state;
    _cleanup_(m87_json_freep) struct m87_json *fl = fleets(f, f->key, 5, APP_DB, NULL);
    _cleanup_free_ char *why = check(f, fl, 5, f->stored);
    assert_null(why);
    _cleanup_free_ char *newer = check(f, fl, 4, f->stored);
    assert_null(newer);
}

static void expect(char *why, const char *needle)
{
    if (!why || !strstr(why, needle))
        fail_msg("expected '%s', got '%s'", needle, why ? why : "(taken)");
    free(why);
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    static const char *const APP[] = {"app", NULL};
    static const char *const GHOST[] = {"app", "ghost", NULL};
    static const char ZERO[] = "0000000000000000000000000000000000000000000000000000000000000000";
    _cleanup_(m87_json_freep) struct m87_json *good = fleets(f, f->key, 5, APP_DB, NULL);
    _cleanup_(m87_json_freep) struct m87_json *unsigned_ = fleets(f, NULL, 5, APP_DB, NULL);
    _cleanup_(m87_json_freep) struct m87_json *untrusted = fleets(f, f->other, 5, APP_DB, NULL);
    _cleanup_(m87_json_freep) struct m87_json *wrong = fleets(f, f->key, 5, APP_DB, ZERO);
    _cleanup_(m87_json_freep) struct m87_json *only_app = fleets(f, f->key, 5, APP, NULL);
    _cleanup_(m87_json_freep) struct m87_json *ghost = fleets(f, f->key, 5, GHOST, NULL);

    expect(check(f, good, 6, f->stored), "release 5 of fleet edge is older than release 6");
    expect(check(f, unsigned_, 0, f->stored), "release 5 of fleet edge is unsigned");
    expect(check(f, untrusted, 0, f->stored), "signed with unknown key");
    /* a signature over other jobs: the hash signed is not that of the jobs sent */
    expect(check(f, wrong, 0, f->stored), "its jobs hash to");
    /* db is in no release and the device does not run it under a signature */
    expect(check(f, only_app, 0, f->stored), "job 'db' is in no fleet release and is not in");
    expect(check(f, ghost, 0, f->stored), "job 'ghost' is not in the revision");
    /* no stored target: cfg, the device's own job, cannot come without a device signature */
    expect(check(f, good, 0, NULL), "job 'cfg' is in no fleet release and is not in");
}

static void test_changed_device_job_is_refused(void **state)
{
    struct fixture *f = *state;
    _cleanup_(m87_json_freep) struct m87_json *fl = fleets(f, f->key, 5, APP_DB, NULL);
    struct spec_runspec *changed =
        spec("{\"jobs\":[" JOB("app", "echo 1") "," JOB("cfg", "echo other") "]}");
    expect(check(f, fl, 0, changed), "job 'cfg' is in no fleet release and differs from");
    spec_runspec_free(changed);
}

static void test_tampered_signature_is_refused(void **state)
{
    struct fixture *f = *state;
    _cleanup_(m87_json_freep) struct m87_json *fl = fleets(f, f->key, 5, APP_DB, NULL);
    /* the same signature with another release number */
    _cleanup_free_ char *text = NULL;
    {
        struct m87_jw *w = m87_jw_new();
        m87_jw_node(w, fl);
        text = m87_jw_finish(w);
    }
    char *at = strstr(text, "\"release\":5");
    assert_non_null(at);
    at[10] = '7';
    _cleanup_(m87_json_freep) struct m87_json *moved = m87_json_parse(text, strlen(text), NULL);
    assert_non_null(moved);
    expect(check(f, moved, 0, f->stored), "release 7 of fleet edge: bad signature");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signed_release_is_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_device_job_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_signature_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
