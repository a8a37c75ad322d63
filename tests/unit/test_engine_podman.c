/* Unit tests of what the engine layer does for Podman's Docker-compatible service, against
 * answers recorded from Debian's podman 4.3.1 (fixtures/engine/podman-health.txt): it is known
 * by its ping's Libpod-Api-Version header; an inspect of a running container whose check is due
 * runs the check through /v4.3.1/libpod/containers/ID/healthcheck (no systemd, no timers, no
 * checks otherwise); an empty State.Health.Status means no check; a check that ran recently
 * (the fixture's last End is set in 2099) or a stopped container runs nothing. Its errors are
 * 500 with a "cause" where dockerd answers 409 (fixtures/engine/podman-errors.txt). */
#include <stdio.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-networks.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "unit-util.h"

/* unit_replay_client pins 1.41 without a ping; these tests need the ping's header. */
static struct engine_client *unpinned_client(const char *fixture)
{
    struct engine_client *c = unit_replay_client(fixture, 0);
    free(c->api_version);
    c->api_version = NULL;
    return c;
}

static void inspect_health(struct engine_client *c, const char *name, const char *want)
{
    struct m87_error *err = NULL;
    _cleanup_(engine_container_info_freep) struct engine_container_info *v = NULL;
    assert_ok(engine_container_inspect(c, name, &v, &err), &err);
    if (want == NULL)
        assert_null(v->health);
    else
        assert_string_equal(v->health, want);
}

static void test_podman_known_by_ping(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = unpinned_client("podman-health.txt");
    struct m87_error *err = NULL;
    assert_false(engine_client_is_podman(c));
    assert_ok(engine_client_connect(c, &err), &err);
    assert_true(engine_client_is_podman(c));
    assert_string_equal(engine_client_api_version(c), "1.41");
    _cleanup_(engine_client_freep) struct engine_client *copy = engine_client_clone(c);
    assert_null(copy); /* a replay client has no socket to clone onto */
}

static void test_podman_health(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c = unpinned_client("podman-health.txt");
    /* "starting" with no log, started long ago: the check is due, run, and the container read
     * again for its status (the run answers its own result, not the container's) */
    inspect_health(c, "pmd-web-1", "healthy");
    /* a container without a check: Podman says Status "", which is no check at all */
    inspect_health(c, "pmd-plain-1", NULL);
    /* last run not an interval ago: nothing is run (the replay would fail on a request) */
    inspect_health(c, "pmd-web-1", "healthy");
    /* not running: nothing is run, the inspected status stays */
    inspect_health(c, "pmd-web-1", "starting");
    /* a failing check: the run answers "unhealthy" (that run's result), the container is still
     * "starting" with one failure of its 3 retries, and that is what counts */
    inspect_health(c, "pmd-sick-1", "starting");
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_dockerd_runs_no_check(void **state)
{
    (void)state;
    /* dockerd's own answer with a check: its ping has no Libpod header (the pinned client of
     * unit_replay_client has had none), so nothing but the inspect is asked */
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("containers-inspect.txt", 0);
    assert_false(engine_client_is_podman(c));
    struct m87_error *err = NULL;
    _cleanup_(engine_container_info_freep) struct engine_container_info *v = NULL;
    assert_ok(engine_container_inspect(c, "m87fx-web", &v, &err), &err);
    assert_string_equal(v->health, "healthy");
}

/* A network create that Podman refuses because a host interface went away while it looked for
 * a subnet (500 "route ip+net: no such network interface") is tried again; four such answers
 * in a row are an error (podman-netflap.txt). */
static void test_podman_network_create_retried(void **state)
{
    (void)state;
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("podman-netflap.txt", 0);
    struct m87_error *err = NULL;
    struct engine_network_config cfg = {.name = "pmflap"};
    char *id = NULL;
    assert_ok(engine_network_create(c, &cfg, &id, &err), &err);
    assert_string_equal(id, "pmflap");
    free(id);
    id = NULL;
    assert_int_equal(engine_network_create(c, &cfg, &id, &err), -1);
    assert_null(id);
    assert_int_equal(err->http_status, 500);
    assert_non_null(strstr(err->msg, "no such network interface"));
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);
}

static void test_podman_errors(void **state)
{
    (void)state;
    /* Podman answers 500 with a "cause" where dockerd answers 409 (podman-errors.txt) */
    _cleanup_(engine_client_freep) struct engine_client *c =
        unit_replay_client("podman-errors.txt", 0);
    struct m87_error *err = NULL;
    char *id = NULL;
    assert_int_equal(engine_container_create(c, "pmx", NULL, "{}", &id, &err), -1);
    assert_null(id);
    assert_int_equal(err->code, M87_E_CONFLICT);
    assert_int_equal(err->http_status, 500);
    assert_non_null(strstr(err->msg, "that name is already in use"));
    m87_error_clear(&err);
    /* a kill of a container that does not run is "already so", as dockerd's 409 */
    assert_int_equal(engine_container_kill(c, "pmx", NULL, &err), 1);
    assert_null(err);
    assert_int_equal(engine_container_remove(c, "pmx", false, false, &err), -1);
    assert_int_equal(err->code, M87_E_CONFLICT);
    m87_error_clear(&err);
    struct engine_network_config cfg = {.name = "pmn"};
    assert_int_equal(engine_network_create(c, &cfg, &id, &err), -1);
    assert_int_equal(err->code, M87_E_CONFLICT);
    m87_error_clear(&err);
    /* any other cause stays a plain HTTP error */
    assert_int_equal(engine_container_remove(c, "pmx", false, false, &err), -1);
    assert_int_equal(err->code, M87_E_HTTP);
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_podman_known_by_ping),          cmocka_unit_test(test_podman_health),
        cmocka_unit_test(test_dockerd_runs_no_check),         cmocka_unit_test(test_podman_errors),
        cmocka_unit_test(test_podman_network_create_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
