/* End-to-end tests of the compose executor against the real dockerd: up of a project with a
 * healthy and a completed dependency, a content config, two networks and a volume; a no-op up;
 * recreate of only what changed; orphans; down; crash safety (duplicates, temporary names, a
 * name in the way); --wait failures quoting logs; logs, ps, stop/start/restart. Projects are
 * built by hand so that this suite does not depend on the loader. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compose/compose-internal.h"
#include "e2e-util.h"
#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-containers.h"
#include "m87/engine-exec.h"
#include "m87/engine-images.h"
#include "m87/engine-logs.h"
#include "m87/engine-networks.h"
#include "m87/engine-volumes.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

/* ---- projects by hand ---------------------------------------------------------------------- */

#define MAX_SERVICES 8

struct proj {
    struct spec_project p;
    void **arena;
    size_t n_arena;
};

static void *keep(struct proj *x, void *ptr)
{
    x->arena = m87_xrealloc(x->arena, (x->n_arena + 1) * sizeof(*x->arena));
    x->arena[x->n_arena++] = ptr;
    return ptr;
}

static char *S(struct proj *x, const char *s)
{
    return keep(x, m87_xstrdup(s));
}

static void *A(struct proj *x, size_t n, size_t size)
{
    return keep(x, m87_xcalloc(n ? n : 1, size));
}

static struct proj *proj_new(const char *tag)
{
    struct proj *x = m87_xcalloc(1, sizeof(*x));
    x->p.name = keep(x, m87_xasprintf("m87e2e%d%s", (int)getpid(), tag));
    x->p.working_dir = S(x, e2e_env("M87_TEST_TMPDIR"));
    m87_strv_add(&x->p.config_files, "/nonexistent/compose.yml");
    x->p.services = A(x, MAX_SERVICES, sizeof(*x->p.services));
    return x;
}

static struct spec_service *svc_add(struct proj *x, const char *name, const char *script)
{
    assert_true(x->p.n_services < MAX_SERVICES);
    struct spec_service *s = &x->p.services[x->p.n_services++];
    memset(s, 0, sizeof(*s));
    s->name = S(x, name);
    s->image = S(x, e2e_env("M87_TEST_IMAGE_SMALL"));
    s->replicas = 1;
    s->mem_limit = s->memswap_limit = s->mem_reservation = SPEC_UNSET;
    s->nano_cpus = s->cpu_shares = s->pids_limit = s->shm_size = SPEC_UNSET;
    s->healthcheck.interval_ns = s->healthcheck.timeout_ns = SPEC_UNSET;
    s->healthcheck.start_period_ns = s->healthcheck.retries = SPEC_UNSET;
    s->healthcheck.start_interval_ns = s->blkio_weight = SPEC_UNSET;
    s->init = -1;
    s->stop_grace_ns = 2LL * 1000000000;
    if (script) {
        s->has_command = true;
        m87_strv_add(&s->command, "sh");
        m87_strv_add(&s->command, "-c");
        m87_strv_add(&s->command, script);
    }
    return s;
}

static void svc_health(struct proj *x, struct spec_service *s, const char *check)
{
    (void)x;
    s->has_healthcheck = true;
    m87_strv_add(&s->healthcheck.test, "CMD-SHELL");
    m87_strv_add(&s->healthcheck.test, check);
    s->healthcheck.interval_ns = 500LL * 1000000;
    s->healthcheck.timeout_ns = 2LL * 1000000000;
    s->healthcheck.retries = 2;
}

static void svc_depends(struct proj *x, struct spec_service *s, const char *on,
                        enum spec_depends_condition cond)
{
    struct spec_depends *d = A(x, s->n_depends + 1, sizeof(*d));
    if (s->n_depends)
        memcpy(d, s->depends, s->n_depends * sizeof(*d));
    d[s->n_depends++] =
        (struct spec_depends){.service = S(x, on), .condition = cond, .required = true};
    s->depends = d;
}

static void proj_free(struct proj *x)
{
    for (size_t i = 0; i < x->p.n_services; i++) {
        struct spec_service *s = &x->p.services[i];
        m87_strv_release(&s->command);
        m87_kvlist_release(&s->environment);
        m87_strv_release(&s->healthcheck.test);
        m87_kvlist_release(&s->labels);
        for (size_t j = 0; j < s->n_networks; j++)
            m87_strv_release(&s->networks[j].aliases);
    }
    m87_strv_release(&x->p.config_files);
    m87_strv_release(&x->p.disabled_services);
    for (size_t i = 0; i < x->n_arena; i++)
        free(x->arena[i]);
    free(x->arena);
    free(x);
}

/* ---- events and the run ---------------------------------------------------------------------- */

static const char *const kinds[] = {"pull", "pulled", "network", "volume", "container", "warning"};

static void on_event(void *ctx, const struct compose_event *ev)
{
    struct m87_strv *log = ctx;
    if (ev->kind == COMPOSE_PULL)
        return;
    _cleanup_free_ char *line =
        m87_xasprintf("%s %s %s %s %s", kinds[ev->kind], ev->service ? ev->service : "-",
                      ev->object ? ev->object : "-", ev->action ? ev->action : "-",
                      ev->detail ? ev->detail : "-");
    m87_strv_add(log, line);
}

/* Index of the first event starting with prefix, or -1. */
static ssize_t event_at(const struct m87_strv *log, const char *prefix)
{
    for (size_t i = 0; i < log->len; i++)
        if (strncmp(log->items[i], prefix, strlen(prefix)) == 0)
            return (ssize_t)i;
    return -1;
}

static size_t events_with(const struct m87_strv *log, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < log->len; i++)
        n += strstr(log->items[i], needle) != NULL;
    return n;
}

static void dump_events(const struct m87_strv *log)
{
    for (size_t i = 0; i < log->len; i++)
        print_message("  event: %s\n", log->items[i]);
}

struct ctx {
    struct engine_client *c;
    struct proj *x;
    struct m87_strv events;
};

static struct compose_options opts_for(struct ctx *t)
{
    m87_strv_release(&t->events);
    m87_strv_init(&t->events);
    return (struct compose_options){.timeout_s = -1, .on_event = on_event, .ctx = &t->events};
}

static void up_ok(struct ctx *t, struct compose_options *o)
{
    struct m87_error *err = NULL;
    if (compose_up(t->c, &t->x->p, o, &err) < 0) {
        dump_events(&t->events);
        fail_msg("up failed: %s", err->msg);
    }
}

static int setup(void **state)
{
    struct ctx *t = m87_xcalloc(1, sizeof(*t));
    t->c = e2e_client();
    e2e_ensure_image(t->c, e2e_env("M87_TEST_IMAGE_SMALL"));
    *state = t;
    return 0;
}

/* Whatever a test left: down -v by labels alone. */
static int teardown(void **state)
{
    struct ctx *t = *state;
    if (t->x) {
        struct spec_project bare = {.name = t->x->p.name};
        struct compose_options o = {.timeout_s = 0, .volumes = true, .remove_orphans = true};
        struct m87_error *err = NULL;
        if (compose_down(t->c, &bare, &o, &err) < 0) {
            print_message("teardown down: %s\n", err->msg);
            m87_error_clear(&err);
        }
        proj_free(t->x);
    }
    m87_strv_release(&t->events);
    engine_client_free(t->c);
    free(t);
    return 0;
}

/* ---- looking at the result --------------------------------------------------------------------
 */

static struct compose_container *ps(struct ctx *t, size_t *n)
{
    struct m87_error *err = NULL;
    struct compose_container *v = NULL;
    struct compose_options o = {.timeout_s = -1};
    assert_ok(compose_ps(t->c, &t->x->p, &o, &v, n, &err), &err);
    return v;
}

/* The ID of the one container named name; fails when there is not exactly one. */
static char *id_of(struct ctx *t, const char *name)
{
    size_t n = 0;
    struct compose_container *v = ps(t, &n);
    char *id = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            assert_null(id);
            id = m87_xstrdup(v[i].id);
        }
    }
    compose_containers_free(v, n);
    if (id == NULL)
        fail_msg("no container named %s", name);
    return id;
}

static struct engine_container_info *inspect(struct ctx *t, const char *name)
{
    struct m87_error *err = NULL;
    struct engine_container_info *info = NULL;
    assert_ok(engine_container_inspect(t->c, name, &info, &err), &err);
    return info;
}

static char *exec_out(struct ctx *t, const char *name, const char *script)
{
    struct m87_error *err = NULL;
    struct m87_strv argv;
    m87_strv_init(&argv);
    m87_strv_add(&argv, "sh");
    m87_strv_add(&argv, "-c");
    m87_strv_add(&argv, script);
    struct engine_exec_config cfg = {.argv = &argv};
    struct m87_buf out;
    m87_buf_init(&out, 0);
    int code = -1;
    assert_ok(engine_exec_run(t->c, name, &cfg, 65536, &out, NULL, &code, &err), &err);
    m87_strv_release(&argv);
    assert_int_equal(code, 0);
    return m87_buf_steal(&out);
}

static bool has_network(const struct engine_container_info *info, const char *net)
{
    for (size_t i = 0; i < info->networks.len; i++)
        if (strcmp(info->networks.items[i], net) == 0)
            return true;
    return false;
}

static char *pname(struct ctx *t, const char *fmt, const char *svc)
{
    return m87_xasprintf(fmt, t->x->p.name, svc);
}

/* ---- the three-service project ------------------------------------------------------------ */

#define DB_SCRIPT                                                                                  \
    "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while :; do sleep 1 & wait $!; done"

/* db (healthy after a second, volume data), migrate (writes into the volume and exits 0 once
 * db is healthy), web (after both; a content config, two networks, FOO in its environment). */
static struct proj *three_services(const char *tag)
{
    struct proj *x = proj_new(tag);
    struct spec_project *p = &x->p;
    p->n_networks = 2;
    p->networks = A(x, 2, sizeof(*p->networks));
    p->networks[0] = (struct spec_network){.key = S(x, "default"),
                                           .name = keep(x, m87_xasprintf("%s_default", p->name))};
    p->networks[1] = (struct spec_network){.key = S(x, "back"),
                                           .name = keep(x, m87_xasprintf("%s_back", p->name))};
    p->n_volumes = 1;
    p->volumes = A(x, 1, sizeof(*p->volumes));
    p->volumes[0] = (struct spec_volume){.key = S(x, "data"),
                                         .name = keep(x, m87_xasprintf("%s_data", p->name))};
    p->n_configs = 1;
    p->configs = A(x, 1, sizeof(*p->configs));
    p->configs[0] = (struct spec_config){
        .key = S(x, "motd"), .source = SPEC_SOURCE_CONTENT, .content = S(x, "hello from m87\n")};

    struct spec_service *db = svc_add(x, "db", DB_SCRIPT);
    svc_health(x, db, "test -f /tmp/ready");
    /* probes before the marker fail; two in a row would race it on a slow machine */
    db->healthcheck.retries = 30;
    db->n_mounts = 1;
    db->mounts = A(x, 1, sizeof(*db->mounts));
    db->mounts[0] = (struct spec_mount){.type = SPEC_MOUNT_VOLUME,
                                        .source = S(x, "data"),
                                        .target = S(x, "/data"),
                                        .create_host_path = true,
                                        .tmpfs_size = SPEC_UNSET,
                                        .tmpfs_mode = SPEC_UNSET};

    struct spec_service *mig = svc_add(x, "migrate", "echo migrated > /data/migrated");
    mig->n_mounts = 1;
    mig->mounts = db->mounts;
    svc_depends(x, mig, "db", SPEC_DEPENDS_HEALTHY);

    struct spec_service *web = svc_add(x, "web", NULL);
    m87_kvlist_add(&web->environment, "FOO", "1");
    svc_depends(x, web, "db", SPEC_DEPENDS_HEALTHY);
    svc_depends(x, web, "migrate", SPEC_DEPENDS_COMPLETED);
    web->n_networks = 2;
    web->networks = A(x, 2, sizeof(*web->networks));
    web->networks[0] = (struct spec_service_network){.key = S(x, "default")};
    web->networks[1] = (struct spec_service_network){.key = S(x, "back")};
    m87_strv_add(&web->networks[1].aliases, "web-back");
    web->n_configs = 1;
    web->configs = A(x, 1, sizeof(*web->configs));
    web->configs[0] = (struct spec_file_ref){
        .source = S(x, "motd"), .target = S(x, "/etc/motd"), .mode = SPEC_UNSET};
    return x;
}

static void test_up_three_services(void **state)
{
    struct ctx *t = *state;
    t->x = three_services("a");
    struct compose_options o = opts_for(t);
    up_ok(t, &o);

    size_t n = 0;
    struct compose_container *v = ps(t, &n);
    assert_int_equal(n, 3);
    /* ordered by service name, then number */
    _cleanup_free_ char *db = pname(t, "%s-%s-1", "db");
    _cleanup_free_ char *mig = pname(t, "%s-%s-1", "migrate");
    _cleanup_free_ char *web = pname(t, "%s-%s-1", "web");
    assert_string_equal(v[0].name, db);
    assert_string_equal(v[0].state, "running");
    assert_string_equal(v[0].health, "healthy");
    assert_string_equal(v[1].name, mig);
    assert_string_equal(v[1].state, "exited");
    assert_int_equal(v[1].exit_code, 0);
    assert_string_equal(v[2].name, web);
    assert_string_equal(v[2].state, "running");
    assert_null(v[2].health);
    assert_int_equal(v[2].number, 1);
    compose_containers_free(v, n);

    /* the dependency order shows in the events: web starts after migrate completed, which
     * started after db was healthy */
    _cleanup_free_ char *db_healthy = m87_xasprintf("container db %s healthy", db);
    _cleanup_free_ char *mig_started = m87_xasprintf("container migrate %s started", mig);
    _cleanup_free_ char *mig_done = m87_xasprintf("container migrate %s exited exit code 0", mig);
    _cleanup_free_ char *web_started = m87_xasprintf("container web %s started", web);
    ssize_t a = event_at(&t->events, db_healthy), b = event_at(&t->events, mig_started);
    ssize_t c = event_at(&t->events, mig_done), d = event_at(&t->events, web_started);
    if (a < 0 || b < 0 || c < 0 || d < 0 || !(a < b && b < c && c < d)) {
        dump_events(&t->events);
        fail_msg("wrong order: %zd %zd %zd %zd", a, b, c, d);
    }

    /* networks: both, the extra one connected before the start, with the alias */
    _cleanup_(engine_container_info_freep) struct engine_container_info *wi = inspect(t, web);
    _cleanup_free_ char *net_default = pname(t, "%s_%s", "default");
    _cleanup_free_ char *net_back = pname(t, "%s_%s", "back");
    assert_true(has_network(wi, net_default));
    assert_true(has_network(wi, net_back));
    const struct m87_json *aliases =
        m87_json_path(wi->raw, "NetworkSettings", "Networks", net_back, "Aliases", NULL);
    bool alias = false;
    for (size_t i = 0; i < m87_json_len(aliases); i++)
        alias = alias || strcmp(m87_json_str(m87_json_at(aliases, i), ""), "web-back") == 0;
    assert_true(alias);
    /* labels of the reference */
    assert_string_equal(m87_kvlist_get(&wi->labels, COMPOSE_L_PROJECT), t->x->p.name);
    assert_string_equal(m87_kvlist_get(&wi->labels, COMPOSE_L_SERVICE), "web");
    assert_string_equal(m87_kvlist_get(&wi->labels, COMPOSE_L_NUMBER), "1");
    assert_string_equal(m87_kvlist_get(&wi->labels, COMPOSE_L_ONEOFF), "False");
    assert_string_equal(m87_kvlist_get(&wi->labels, COMPOSE_L_IMAGE), wi->image_id);
    assert_string_equal(m87_kvlist_get(&wi->labels, COMPOSE_L_DEPENDS_ON),
                        "db:service_healthy:false,migrate:service_completed_successfully:false");
    assert_int_equal(strlen(m87_kvlist_get(&wi->labels, COMPOSE_L_HASH)), COMPOSE_HASH_HEX);

    /* the content config went in through the archive endpoint */
    _cleanup_free_ char *motd = exec_out(t, web, "cat /etc/motd; stat -c %a /etc/motd");
    assert_string_equal(motd, "hello from m87\n444\n");
    /* the one-shot wrote into the shared volume */
    _cleanup_free_ char *migrated = exec_out(t, db, "cat /data/migrated");
    assert_string_equal(migrated, "migrated\n");

    /* networks and volumes carry compose's labels */
    struct m87_error *err = NULL;
    struct engine_network_info *ni = NULL;
    assert_ok(engine_network_inspect(t->c, net_default, &ni, &err), &err);
    assert_string_equal(m87_kvlist_get(&ni->labels, COMPOSE_L_PROJECT), t->x->p.name);
    assert_string_equal(m87_kvlist_get(&ni->labels, COMPOSE_L_NETWORK), "default");
    engine_network_info_free(ni);
    struct engine_volume_info *vi = NULL;
    _cleanup_free_ char *vol = pname(t, "%s_%s", "data");
    assert_ok(engine_volume_inspect(t->c, vol, &vi, &err), &err);
    assert_string_equal(m87_kvlist_get(&vi->labels, COMPOSE_L_VOLUME), "data");
    engine_volume_info_free(vi);
}

static void test_second_up_and_change(void **state)
{
    struct ctx *t = *state;
    t->x = three_services("b");
    struct compose_options o = opts_for(t);
    up_ok(t, &o);
    _cleanup_free_ char *db = pname(t, "%s-%s-1", "db");
    _cleanup_free_ char *mig = pname(t, "%s-%s-1", "migrate");
    _cleanup_free_ char *web = pname(t, "%s-%s-1", "web");
    _cleanup_free_ char *db1 = id_of(t, db), *mig1 = id_of(t, mig), *web1 = id_of(t, web);

    /* nothing changed: nothing created, recreated or removed */
    o = opts_for(t);
    up_ok(t, &o);
    assert_int_equal(events_with(&t->events, " created"), 0);
    assert_int_equal(events_with(&t->events, " recreated"), 0);
    assert_int_equal(events_with(&t->events, " removed"), 0);
    _cleanup_free_ char *db2 = id_of(t, db), *mig2 = id_of(t, mig), *web2 = id_of(t, web);
    assert_string_equal(db1, db2);
    assert_string_equal(mig1, mig2);
    assert_string_equal(web1, web2);

    /* web's environment changes: only web is recreated, with the replace label */
    m87_kvlist_set(&t->x->p.services[2].environment, "FOO", "2");
    o = opts_for(t);
    up_ok(t, &o);
    _cleanup_free_ char *db3 = id_of(t, db), *mig3 = id_of(t, mig), *web3 = id_of(t, web);
    assert_string_equal(db1, db3);
    assert_string_equal(mig1, mig3);
    assert_string_not_equal(web1, web3);
    _cleanup_free_ char *ev =
        m87_xasprintf("container web %s recreated configuration changed", web);
    assert_true(event_at(&t->events, ev) >= 0);
    assert_int_equal(events_with(&t->events, " recreated"), 1);
    _cleanup_(engine_container_info_freep) struct engine_container_info *wi = inspect(t, web);
    assert_true(wi->running);
    assert_string_equal(m87_kvlist_get(&wi->labels, COMPOSE_L_REPLACE), web);
    _cleanup_free_ char *foo = exec_out(t, web, "echo $FOO; cat /etc/motd");
    assert_string_equal(foo, "2\nhello from m87\n");
    _cleanup_free_ char *net_back = pname(t, "%s_%s", "back");
    assert_true(has_network(wi, net_back));
    size_t n = 0;
    struct compose_container *v = ps(t, &n);
    assert_int_equal(n, 3); /* no temporary container left */
    compose_containers_free(v, n);
}

/* A converged project costs one list of containers and one inspect per image: no inspect per
 * container, and no list of networks (its running containers show them). */
static const struct engine_transport *real_ops;
static struct m87_strv *seen_paths;

static int counting_request(void *tctx, const struct engine_request *req,
                            struct engine_response *resp, struct m87_error **err)
{
    if (seen_paths) {
        _cleanup_free_ char *line = m87_xasprintf("%s %s", req->method, req->path);
        m87_strv_add(seen_paths, line);
    }
    return real_ops->request(tctx, req, resp, err);
}

static void counting_free(void *tctx)
{
    real_ops->free(tctx);
}

static const struct engine_transport counting_ops = {.request = counting_request,
                                                     .free = counting_free};

static void test_noop_up_cost(void **state)
{
    struct ctx *t = *state;
    t->x = proj_new("c");
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", i);
        svc_add(t->x, name, NULL);
    }
    t->x->p.services[4].replicas = 2;
    struct compose_options o = opts_for(t);
    up_ok(t, &o);
    assert_int_equal(events_with(&t->events, " started"), 6);

    struct m87_strv paths;
    m87_strv_init(&paths);
    real_ops = t->c->ops;
    t->c->ops = &counting_ops;
    seen_paths = &paths;
    o = opts_for(t);
    up_ok(t, &o);
    seen_paths = NULL;
    t->c->ops = real_ops;
    for (size_t i = 0; i < paths.len; i++)
        print_message("  call: %s\n", paths.items[i]);
    /* Podman gives no network IDs in a container's endpoints (its NetworkID is the name), so
     * the project's networks are listed for them: one call more */
    bool podman = engine_client_is_podman(t->c);
    assert_int_equal(paths.len, podman ? 3 : 2);
    assert_non_null(strstr(paths.items[0], "GET /v1.41/containers/json?all=1&filters="));
    assert_non_null(strstr(paths.items[1], "GET /v1.41/images/"));
    if (podman)
        assert_non_null(strstr(paths.items[2], "GET /v1.41/networks?filters="));
    assert_int_equal(events_with(&t->events, " running"), 6);
    m87_strv_release(&paths);
}

/* ---- orphans, scale, down -------------------------------------------------------------------- */

static void test_orphans_scale_down(void **state)
{
    struct ctx *t = *state;
    t->x = proj_new("d");
    svc_add(t->x, "keep", NULL);
    struct spec_service *gone = svc_add(t->x, "gone", NULL);
    gone->replicas = 2;
    struct compose_options o = opts_for(t);
    up_ok(t, &o);
    _cleanup_free_ char *g2 = pname(t, "%s-%s-2", "gone");
    _cleanup_free_ char *g2id = id_of(t, g2);

    /* scale down to one: the highest number goes */
    gone->replicas = 1;
    o = opts_for(t);
    up_ok(t, &o);
    size_t n = 0;
    struct compose_container *v = ps(t, &n);
    assert_int_equal(n, 2);
    compose_containers_free(v, n);

    /* the service leaves the file: its container is an orphan, kept with a warning */
    t->x->p.n_services = 1;
    o = opts_for(t);
    up_ok(t, &o);
    assert_true(event_at(&t->events, "warning - - - found orphan containers") >= 0);
    v = ps(t, &n);
    assert_int_equal(n, 2);
    compose_containers_free(v, n);
    /* a service left out by a profile is no orphan */
    m87_strv_add(&t->x->p.disabled_services, "gone");
    o = opts_for(t);
    o.remove_orphans = true;
    up_ok(t, &o);
    v = ps(t, &n);
    assert_int_equal(n, 2);
    compose_containers_free(v, n);
    m87_strv_release(&t->x->p.disabled_services);
    m87_strv_init(&t->x->p.disabled_services);
    o = opts_for(t);
    o.remove_orphans = true;
    up_ok(t, &o);
    v = ps(t, &n);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].service, "keep");
    compose_containers_free(v, n);

    /* down: containers and the network go; it works from labels alone too */
    t->x->p.n_services = 2;
    o = opts_for(t);
    up_ok(t, &o);
    struct spec_project bare = {.name = t->x->p.name};
    o = opts_for(t);
    o.timeout_s = 0;
    struct m87_error *err = NULL;
    assert_ok(compose_down(t->c, &bare, &o, &err), &err);
    v = ps(t, &n);
    assert_int_equal(n, 0);
    compose_containers_free(v, n);
    _cleanup_free_ char *net = pname(t, "%s_%s", "default");
    struct engine_network_info *ni = NULL;
    assert_int_equal(engine_network_inspect(t->c, net, &ni, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
    _cleanup_free_ char *ev = m87_xasprintf("network - %s removed", net);
    assert_true(event_at(&t->events, ev) >= 0);
}

static void test_down_volumes(void **state)
{
    struct ctx *t = *state;
    t->x = three_services("e");
    struct compose_options o = opts_for(t);
    up_ok(t, &o);
    _cleanup_free_ char *vol = pname(t, "%s_%s", "data");
    struct m87_error *err = NULL;
    o = opts_for(t);
    o.timeout_s = 1;
    assert_ok(compose_down(t->c, &t->x->p, &o, &err), &err);
    struct engine_volume_info *vi = NULL;
    assert_ok(engine_volume_inspect(t->c, vol, &vi, &err), &err); /* kept without -v */
    engine_volume_info_free(vi);
    o = opts_for(t);
    o.volumes = true;
    assert_ok(compose_down(t->c, &t->x->p, &o, &err), &err);
    assert_int_equal(engine_volume_inspect(t->c, vol, &vi, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
}

/* ---- crash safety ---------------------------------------------------------------------------- */

/* What an interrupted m87 leaves: replica n of s created (not started) under name, with the
 * body m87 itself would send, the given hash label (NULL: the right one) and, with as, the
 * labels of another service. */
static char *leftover(struct ctx *t, const struct spec_service *s, int n, const char *name,
                      const char *hash, const char *as)
{
    struct m87_error *err = NULL;
    struct compose_body_opts bo = {0};
    char right[COMPOSE_HASH_HEX + 1];
    compose_config_hash(&t->x->p, s, &bo, right);
    struct engine_image_info *img = NULL;
    assert_ok(engine_image_inspect(t->c, s->image, &img, &err), &err);
    _cleanup_free_ char *canonical = compose_container_name(&t->x->p, s, n);
    struct compose_instance in = {
        .number = n, .name = canonical, .image_id = img->id, .config_hash = hash ? hash : right};
    struct spec_service other = *s;
    if (as)
        other.name = (char *)as;
    _cleanup_free_ char *body = compose_create_body(&t->x->p, &other, &bo, &in);
    engine_image_info_free(img);
    char *id = NULL;
    assert_ok(engine_container_create(t->c, name, NULL, body, &id, &err), &err);
    return id;
}

static void assert_converged(struct ctx *t, int replicas)
{
    size_t n = 0;
    struct compose_container *v = ps(t, &n);
    assert_int_equal(n, (size_t)replicas);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *want = m87_xasprintf("%s-app-%zu", t->x->p.name, i + 1);
        assert_string_equal(v[i].name, want);
        assert_string_equal(v[i].state, "running");
        assert_int_equal(v[i].number, (int)i + 1);
    }
    compose_containers_free(v, n);
}

static void test_crash_duplicates_and_temp_names(void **state)
{
    struct ctx *t = *state;
    struct m87_error *err = NULL;
    t->x = proj_new("f");
    struct spec_service *app = svc_add(t->x, "app", NULL);
    app->replicas = 2;
    struct compose_options o = opts_for(t);
    up_ok(t, &o);
    _cleanup_free_ char *a1 = pname(t, "%s-%s-1", "app");
    _cleanup_free_ char *a2 = pname(t, "%s-%s-2", "app");
    _cleanup_free_ char *id1 = id_of(t, a1);
    _cleanup_free_ char *id2 = id_of(t, a2);

    /* 1. a half-made duplicate of replica 1 with the right hash under a temporary name: the
     *    running canonical one is kept, the duplicate removed */
    _cleanup_free_ char *tmp1 = m87_xasprintf("%.12s_%s", id1, a1);
    _cleanup_free_ char *dup = leftover(t, app, 1, tmp1, NULL, NULL);
    o = opts_for(t);
    up_ok(t, &o);
    assert_converged(t, 2);
    _cleanup_free_ char *id1b = id_of(t, a1);
    assert_string_equal(id1, id1b);
    _cleanup_free_ char *ev1 = m87_xasprintf("container app %s removed", tmp1);
    assert_true(event_at(&t->events, ev1) >= 0);

    /* 2. a recreate cut after the create: the canonical container (running) has an old hash,
     *    the temporary one the right hash: the new one is kept and takes the name */
    assert_ok(engine_container_remove(t->c, id2, true, false, &err), &err);
    _cleanup_free_ char *tmp2 = m87_xasprintf("%.12s_%s", id2, a2);
    _cleanup_free_ char *fresh = leftover(t, app, 2, tmp2, NULL, NULL);
    _cleanup_free_ char *old = leftover(t, app, 2, a2, "0000old", NULL);
    assert_ok(engine_container_start(t->c, old, &err), &err);
    o = opts_for(t);
    up_ok(t, &o);
    assert_converged(t, 2);
    _cleanup_free_ char *id2b = id_of(t, a2);
    assert_string_equal(id2b, fresh);

    /* 3. killed after the old one was removed: a lone temporary name is renamed back */
    assert_ok(engine_container_rename(t->c, fresh, tmp2, &err), &err);
    o = opts_for(t);
    up_ok(t, &o);
    assert_converged(t, 2);
    _cleanup_free_ char *id2c = id_of(t, a2);
    assert_string_equal(id2c, fresh);
    _cleanup_free_ char *ev3 = m87_xasprintf("container app %s renamed %s", a2, tmp2);
    assert_true(event_at(&t->events, ev3) >= 0);

    /* 4. the name is taken by a container of the project with another service's labels: the
     *    create meets a 409, the squatter is removed and the create retried */
    assert_ok(engine_container_remove(t->c, id1, true, false, &err), &err);
    _cleanup_free_ char *squat = leftover(t, app, 1, a1, NULL, "other");
    o = opts_for(t);
    up_ok(t, &o);
    assert_converged(t, 2);
    _cleanup_free_ char *id1c = id_of(t, a1);
    assert_string_not_equal(id1c, squat);
    _cleanup_free_ char *ev4 = m87_xasprintf("container app %s removed in the way", a1);
    assert_true(event_at(&t->events, ev4) >= 0);

    (void)dup;
}

/* ---- failures ---------------------------------------------------------------------------------
 */

static void test_wait_failure_quotes_logs(void **state)
{
    struct ctx *t = *state;
    t->x = proj_new("g");
    svc_add(t->x, "ok", NULL);
    svc_add(t->x, "bad", "echo boom-line-1; echo boom-line-2 >&2; sleep 1; exit 3");
    struct compose_options o = opts_for(t);
    o.wait = true;
    o.wait_timeout_ms = 60000;
    struct m87_error *err = NULL;
    assert_int_equal(compose_up(t->c, &t->x->p, &o, &err), -1);
    _cleanup_free_ char *bad = pname(t, "%s-%s-1", "bad");
    _cleanup_free_ char *want = m87_xasprintf("container '%s' exited with code 3", bad);
    if (strstr(err->msg, want) == NULL || strstr(err->msg, "boom-line-1") == NULL ||
        strstr(err->msg, "boom-line-2") == NULL)
        fail_msg("unexpected message: %s", err->msg);
    m87_error_clear(&err);
}

static void test_unhealthy_dependency_fails_fast(void **state)
{
    struct ctx *t = *state;
    t->x = proj_new("h");
    struct spec_service *db = svc_add(t->x, "db", NULL);
    svc_health(t->x, db, "echo probe-failed; exit 1");
    struct spec_service *web = svc_add(t->x, "web", NULL);
    svc_depends(t->x, web, "db", SPEC_DEPENDS_HEALTHY);
    struct compose_options o = opts_for(t);
    struct m87_error *err = NULL;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(compose_up(t->c, &t->x->p, &o, &err), -1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 30);
    _cleanup_free_ char *dbn = pname(t, "%s-%s-1", "db");
    _cleanup_free_ char *want = m87_xasprintf("service 'web': dependency failed to start: "
                                              "container '%s' is unhealthy",
                                              dbn);
    if (strstr(err->msg, want) == NULL)
        fail_msg("unexpected message: %s", err->msg);
    m87_error_clear(&err);
    /* web was created but never started */
    _cleanup_free_ char *webn = pname(t, "%s-%s-1", "web");
    _cleanup_(engine_container_info_freep) struct engine_container_info *wi = inspect(t, webn);
    assert_string_equal(wi->status, "created");

    /* a service_healthy dependency without a healthcheck is an error, not a hang */
    db->has_healthcheck = false;
    o = opts_for(t);
    assert_int_equal(compose_up(t->c, &t->x->p, &o, &err), -1);
    if (strstr(err->msg, "has no healthcheck configured") == NULL)
        fail_msg("unexpected message: %s", err->msg);
    m87_error_clear(&err);
}

static void test_completed_dependency_failure(void **state)
{
    struct ctx *t = *state;
    t->x = proj_new("i");
    svc_add(t->x, "init", "echo init-failed; exit 7");
    struct spec_service *app = svc_add(t->x, "app", NULL);
    svc_depends(t->x, app, "init", SPEC_DEPENDS_COMPLETED);
    struct compose_options o = opts_for(t);
    struct m87_error *err = NULL;
    assert_int_equal(compose_up(t->c, &t->x->p, &o, &err), -1);
    _cleanup_free_ char *in = pname(t, "%s-%s-1", "init");
    _cleanup_free_ char *want = m87_xasprintf("container '%s' exited with code 7", in);
    if (strstr(err->msg, want) == NULL || strstr(err->msg, "init-failed") == NULL)
        fail_msg("unexpected message: %s", err->msg);
    m87_error_clear(&err);
}

/* ---- network_mode, logs, stop/start/restart ----------------------------------------------------
 */

static void test_network_mode_service(void **state)
{
    struct ctx *t = *state;
    t->x = proj_new("j");
    svc_add(t->x, "main", NULL);
    struct spec_service *side = svc_add(t->x, "side", NULL);
    side->network_mode = S(t->x, "service:main");
    struct compose_options o = opts_for(t);
    up_ok(t, &o);
    _cleanup_free_ char *main1 = pname(t, "%s-%s-1", "main");
    _cleanup_free_ char *side1 = pname(t, "%s-%s-1", "side");
    _cleanup_free_ char *mid = id_of(t, main1);
    _cleanup_(engine_container_info_freep) struct engine_container_info *si = inspect(t, side1);
    _cleanup_free_ char *want = m87_xasprintf("container:%s", mid);
    assert_string_equal(m87_json_str(m87_json_path(si->raw, "HostConfig", "NetworkMode", NULL), ""),
                        want);
    assert_true(si->running);
}

struct log_seen {
    struct m87_strv lines;
    bool saw_a, saw_b;
};

static int on_log(void *ctx, const char *container, enum engine_stream stream, const char *line,
                  size_t len)
{
    struct log_seen *s = ctx;
    _cleanup_free_ char *text = m87_xasprintf("%s|%d|%.*s", container, (int)stream, (int)len, line);
    m87_strv_add(&s->lines, text);
    s->saw_a = s->saw_a || strstr(text, "from-a") != NULL;
    s->saw_b = s->saw_b || strstr(text, "from-b") != NULL;
    return s->saw_a && s->saw_b;
}

static void test_logs_and_lifecycle(void **state)
{
    struct ctx *t = *state;
    t->x = proj_new("k");
    svc_add(t->x, "a", "trap 'exit 0' TERM; echo from-a; while :; do sleep 1 & wait $!; done");
    svc_add(t->x, "b", "trap 'exit 0' TERM; echo from-b >&2; while :; do sleep 1 & wait $!; done");
    struct compose_options o = opts_for(t);
    up_ok(t, &o);
    _cleanup_free_ char *a1 = pname(t, "%s-%s-1", "a");
    _cleanup_free_ char *b1 = pname(t, "%s-%s-1", "b");

    /* follow two silent containers; the callback stops once it saw both lines */
    struct log_seen seen = {0};
    struct compose_logs_options lo = {.follow = true};
    struct m87_error *err = NULL;
    struct timespec ta, tb;
    clock_gettime(CLOCK_MONOTONIC, &ta);
    assert_ok(compose_logs(t->c, &t->x->p, &o, &lo, on_log, &seen, &err), &err);
    clock_gettime(CLOCK_MONOTONIC, &tb);
    assert_true(seen.saw_a && seen.saw_b);
    assert_true(tb.tv_sec - ta.tv_sec < 10);
    _cleanup_free_ char *la = m87_xasprintf("%s|1|from-a", a1);
    _cleanup_free_ char *lb = m87_xasprintf("%s|2|from-b", b1);
    bool fa = false, fb = false;
    for (size_t i = 0; i < seen.lines.len; i++) {
        fa = fa || strcmp(seen.lines.items[i], la) == 0;
        fb = fb || strcmp(seen.lines.items[i], lb) == 0;
    }
    assert_true(fa && fb);
    m87_strv_release(&seen.lines);

    /* stop: all stopped; logs without follow then end by themselves */
    o = opts_for(t);
    assert_ok(compose_stop(t->c, &t->x->p, &o, &err), &err);
    size_t n = 0;
    struct compose_container *v = ps(t, &n);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].state, "exited");
    assert_string_equal(v[1].state, "exited");
    compose_containers_free(v, n);
    struct log_seen all = {0};
    lo = (struct compose_logs_options){.tail = "1", .timestamps = true};
    assert_ok(compose_logs(t->c, &t->x->p, &o, &lo, on_log, &all, &err), &err);
    assert_true(all.lines.len >= 1);
    m87_strv_release(&all.lines);

    /* start, then restart: running again, same containers */
    _cleanup_free_ char *aid = id_of(t, a1);
    o = opts_for(t);
    assert_ok(compose_start(t->c, &t->x->p, &o, &err), &err);
    assert_int_equal(events_with(&t->events, " started"), 2);
    o = opts_for(t);
    assert_ok(compose_restart(t->c, &t->x->p, &o, &err), &err);
    assert_int_equal(events_with(&t->events, " stopped"), 2);
    assert_int_equal(events_with(&t->events, " started"), 2);
    v = ps(t, &n);
    assert_string_equal(v[0].state, "running");
    assert_string_equal(v[1].state, "running");
    assert_string_equal(v[0].id, aid);
    compose_containers_free(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_up_three_services, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_up_and_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noop_up_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_scale_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_down_volumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_duplicates_and_temp_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_failure_quotes_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unhealthy_dependency_fails_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_completed_dependency_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_network_mode_service, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_and_lifecycle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
