/* Unit tests of the compose executor's pure parts: the create body built from a service (every
 * field of the mapping), Binds versus Mounts, ports, units, labels, the endpoints at create,
 * the canonical config hash, dependency order and the names, and the pool's scheduling (with
 * units that make no call). Projects are built by hand here so that these tests do not depend
 * on the loader. */
#include <string.h>
#include <time.h>

#include "compose/compose-internal.h"
#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "unit-util.h"

/* ---- building projects by hand --------------------------------------------------------------- */

/* Everything a test project allocates is remembered here and freed at the end of the test. */
static void **arena;
static size_t arena_len;

static void *keep(void *p)
{
    arena = m87_xrealloc(arena, (arena_len + 1) * sizeof(*arena));
    arena[arena_len++] = p;
    return p;
}

static char *S(const char *s)
{
    return keep(m87_xstrdup(s));
}

static void *A(size_t n, size_t size)
{
    return keep(m87_xcalloc(n ? n : 1, size));
}

static void strv_of(struct m87_strv *v, const char *const *items)
{
    m87_strv_init(v);
    for (size_t i = 0; items[i]; i++)
        m87_strv_add(v, items[i]);
}

static void service_init(struct spec_service *s, const char *name, const char *image)
{
    memset(s, 0, sizeof(*s));
    s->name = S(name);
    s->image = image ? S(image) : NULL;
    s->replicas = 1;
    s->mem_limit = s->memswap_limit = s->mem_reservation = SPEC_UNSET;
    s->nano_cpus = s->cpu_shares = s->pids_limit = s->shm_size = SPEC_UNSET;
    s->healthcheck.interval_ns = s->healthcheck.timeout_ns = SPEC_UNSET;
    s->healthcheck.start_period_ns = s->healthcheck.retries = SPEC_UNSET;
    s->init = -1;
    s->stop_grace_ns = SPEC_UNSET;
    s->oom_score_adj = s->mem_swappiness = SPEC_UNSET;
    s->cpu_period = s->cpu_quota = s->cpu_rt_period = s->cpu_rt_runtime = SPEC_UNSET;
    s->blkio_weight = SPEC_UNSET;
    s->healthcheck.start_interval_ns = SPEC_UNSET;
    s->oom_kill_disable = -1;
}

static void service_release(struct spec_service *s)
{
    m87_strv_release(&s->command);
    m87_strv_release(&s->entrypoint);
    m87_kvlist_release(&s->environment);
    m87_strv_release(&s->env_files);
    m87_strv_release(&s->expose);
    m87_kvlist_release(&s->tmpfs);
    for (size_t i = 0; i < s->n_networks; i++)
        m87_strv_release(&s->networks[i].aliases);
    m87_strv_release(&s->healthcheck.test);
    m87_kvlist_release(&s->labels);
    m87_strv_release(&s->cap_add);
    m87_strv_release(&s->cap_drop);
    m87_strv_release(&s->security_opt);
    m87_kvlist_release(&s->sysctls);
    m87_kvlist_release(&s->log_options);
    m87_strv_release(&s->extra_hosts);
    m87_strv_release(&s->dns);
    m87_strv_release(&s->dns_search);
    m87_strv_release(&s->dns_opt);
    m87_strv_release(&s->profiles);
}

static void project_release(struct spec_project *p)
{
    for (size_t i = 0; i < p->n_services; i++)
        service_release(&p->services[i]);
    m87_strv_release(&p->config_files);
    m87_strv_release(&p->disabled_services);
    m87_strv_release(&p->warnings);
    for (size_t i = 0; i < p->n_networks; i++) {
        m87_kvlist_release(&p->networks[i].labels);
        m87_kvlist_release(&p->networks[i].driver_opts);
        m87_kvlist_release(&p->networks[i].ipam_options);
    }
    for (size_t i = 0; i < p->n_volumes; i++) {
        m87_kvlist_release(&p->volumes[i].labels);
        m87_kvlist_release(&p->volumes[i].driver_opts);
    }
    for (size_t i = 0; i < arena_len; i++)
        free(arena[i]);
    free(arena);
    arena = NULL;
    arena_len = 0;
}

static void rich_ports(struct spec_service *s)
{
    s->n_ports = 5;
    s->ports = A(s->n_ports, sizeof(*s->ports));
    s->ports[0] = (struct spec_port){.target = 80, .published = S("8080"), .publish = true};
    s->ports[1] = (struct spec_port){.target = 90,
                                     .published = S("9090"),
                                     .publish = true,
                                     .host_ip = S("127.0.0.1"),
                                     .protocol = S("udp")};
    s->ports[2] = (struct spec_port){
        .target = 80, .published = S("8081"), .publish = true, .protocol = S("tcp")};
    s->ports[3] = (struct spec_port){.target = 3000, .publish = true};
    s->ports[4] = (struct spec_port){.target = 4000};
    const char *const expose[] = {"5000-5001/tcp", "4000/tcp", NULL};
    strv_of(&s->expose, expose);
}

static void rich_mounts(struct spec_service *s)
{
    s->n_mounts = 8;
    struct spec_mount *m = s->mounts = A(s->n_mounts, sizeof(*m));
    for (size_t i = 0; i < s->n_mounts; i++) {
        m[i].create_host_path = true;
        m[i].tmpfs_size = m[i].tmpfs_mode = SPEC_UNSET;
    }
    m[0].type = SPEC_MOUNT_BIND, m[0].source = S("/srv/data"), m[0].target = S("/data");
    m[1].type = SPEC_MOUNT_BIND, m[1].source = S("/srv/ro"), m[1].target = S("/ro");
    m[1].read_only = true, m[1].selinux = S("z"), m[1].long_syntax = true;
    m[2].type = SPEC_MOUNT_BIND, m[2].source = S("/srv/shared"), m[2].target = S("/shared");
    m[2].propagation = S("rshared"), m[2].long_syntax = true;
    m[3].type = SPEC_MOUNT_BIND, m[3].source = S("/srv/must"), m[3].target = S("/must");
    m[3].create_host_path = false, m[3].long_syntax = true;
    m[4].type = SPEC_MOUNT_VOLUME, m[4].source = S("dbdata"), m[4].target = S("/var/lib/db");
    m[5].type = SPEC_MOUNT_VOLUME, m[5].source = S("dbdata"), m[5].target = S("/nocopy");
    m[5].nocopy = true, m[5].read_only = true, m[5].long_syntax = true;
    m[6].type = SPEC_MOUNT_ANON, m[6].target = S("/cache");
    m[7].type = SPEC_MOUNT_TMPFS, m[7].target = S("/scratch");
    m[7].tmpfs_size = 64 * 1024 * 1024, m[7].tmpfs_mode = 01777;
    m87_kvlist_add(&s->tmpfs, "/run", "");
    m87_kvlist_add(&s->tmpfs, "/tmp", "size=64m");
}

static void rich_runtime(struct spec_service *s)
{
    s->restart = S("on-failure");
    s->restart_max = 3;
    s->mem_limit = 512LL << 20;
    s->memswap_limit = 1LL << 30;
    s->mem_reservation = 256LL << 20;
    s->nano_cpus = 1500000000LL;
    s->cpu_shares = 512;
    s->cpuset = S("0-1");
    s->pids_limit = 100;
    s->shm_size = 64LL << 20;
    s->has_healthcheck = true;
    const char *const test[] = {"CMD-SHELL", "test -f /ready", NULL};
    strv_of(&s->healthcheck.test, test);
    s->healthcheck.interval_ns = 30LL * 1000000000;
    s->healthcheck.timeout_ns = 5LL * 1000000000;
    s->healthcheck.start_period_ns = 1500LL * 1000000;
    s->healthcheck.retries = 3;
    s->n_ulimits = 1;
    s->ulimits = A(1, sizeof(*s->ulimits));
    s->ulimits[0] = (struct spec_ulimit){.name = S("nofile"), .soft = 1024, .hard = 2048};
    s->n_devices = 1;
    s->devices = A(1, sizeof(*s->devices));
    s->devices[0] = (struct spec_device){
        .host_path = S("/dev/fuse"), .container_path = S("/dev/fuse"), .permissions = S("rwm")};
    m87_kvlist_add(&s->sysctls, "net.core.somaxconn", "1024");
    s->log_driver = S("json-file");
    m87_kvlist_add(&s->log_options, "max-size", "10m");
    const char *const hosts[] = {"db.local:10.0.0.1", NULL};
    strv_of(&s->extra_hosts, hosts);
    const char *const dns[] = {"10.0.0.53", NULL};
    strv_of(&s->dns, dns);
    const char *const search[] = {"example.org", NULL};
    strv_of(&s->dns_search, search);
    const char *const dnsopt[] = {"ndots:2", NULL};
    strv_of(&s->dns_opt, dnsopt);
    s->init = 1;
    s->stop_signal = S("SIGINT");
    s->stop_grace_ns = 12500LL * 1000000; /* 12.5 s: StopTimeout is whole seconds */
    const char *const capadd[] = {"NET_ADMIN", NULL};
    strv_of(&s->cap_add, capadd);
    const char *const capdrop[] = {"ALL", NULL};
    strv_of(&s->cap_drop, capdrop);
    const char *const secopt[] = {"no-new-privileges:true", NULL};
    strv_of(&s->security_opt, secopt);
    s->read_only = false;
    s->tty = true;
    s->stdin_open = true;
}

static void rich_service(struct spec_service *s)
{
    service_init(s, "web", "registry.example/app:1.2");
    s->has_command = true;
    const char *const cmd[] = {"sh", "-c", "echo hi", NULL};
    strv_of(&s->command, cmd);
    s->has_entrypoint = true;
    const char *const ep[] = {"/bin/tini", "--", NULL};
    strv_of(&s->entrypoint, ep);
    m87_kvlist_add(&s->environment, "B", "2");
    m87_kvlist_add(&s->environment, "A", "1");
    m87_kvlist_add(&s->environment, "BARE", NULL);
    rich_ports(s);
    rich_mounts(s);
    s->n_networks = 2;
    s->networks = A(2, sizeof(*s->networks));
    s->networks[0] = (struct spec_service_network){
        .key = S("front"), .priority = 10, .ipv4_address = S("10.5.0.5")};
    const char *const aliases[] = {"web-alias", NULL};
    strv_of(&s->networks[0].aliases, aliases);
    s->networks[1] = (struct spec_service_network){.key = S("back")};
    rich_runtime(s);
    m87_kvlist_add(&s->labels, "x.b", "2");
    m87_kvlist_add(&s->labels, "x.a", "1");
    m87_kvlist_add(&s->labels, COMPOSE_L_PROJECT, "not-this");
    s->user = S("1000:1000");
    s->working_dir = S("/app");
    s->hostname = S("web");
    s->domainname = S("example.org");
    s->n_depends = 1;
    s->depends = A(1, sizeof(*s->depends));
    s->depends[0] = (struct spec_depends){
        .service = S("db"), .condition = SPEC_DEPENDS_HEALTHY, .restart = true, .required = true};
    s->n_configs = 2;
    s->configs = A(2, sizeof(*s->configs));
    s->configs[0] = (struct spec_file_ref){
        .source = S("app.conf"), .target = S("/etc/app.conf"), .mode = SPEC_UNSET};
    s->configs[1] = (struct spec_file_ref){
        .source = S("motd"), .target = S("/etc/motd"), .uid = S("1000"), .mode = 0440};
    s->n_secrets = 1;
    s->secrets = A(1, sizeof(*s->secrets));
    s->secrets[0] = (struct spec_file_ref){
        .source = S("token"), .target = S("/run/secrets/token"), .mode = SPEC_UNSET};
}

/* Project "proj": web (rich), db, and a one-shot migrate; networks front (proj_front) and back
 * (named custom-back), volume dbdata, a file and a content config, a file secret. */
static void rich_project(struct spec_project *p)
{
    memset(p, 0, sizeof(*p));
    p->name = S("proj");
    p->working_dir = S("/srv/proj");
    const char *const files[] = {"/srv/proj/compose.yml", "/srv/proj/override.yml", NULL};
    strv_of(&p->config_files, files);
    p->n_services = 3;
    p->services = A(3, sizeof(*p->services));
    rich_service(&p->services[0]);
    service_init(&p->services[1], "db", "db:1");
    service_init(&p->services[2], "migrate", "db:1");
    p->n_networks = 2;
    p->networks = A(2, sizeof(*p->networks));
    p->networks[0] = (struct spec_network){.key = S("front"), .name = S("proj_front")};
    p->networks[1] = (struct spec_network){.key = S("back"), .name = S("custom-back")};
    p->n_volumes = 1;
    p->volumes = A(1, sizeof(*p->volumes));
    p->volumes[0] = (struct spec_volume){.key = S("dbdata"), .name = S("proj_dbdata")};
    p->n_configs = 2;
    p->configs = A(2, sizeof(*p->configs));
    p->configs[0] = (struct spec_config){
        .key = S("app.conf"), .source = SPEC_SOURCE_FILE, .file = S("/srv/proj/app.conf")};
    p->configs[1] = (struct spec_config){
        .key = S("motd"), .source = SPEC_SOURCE_CONTENT, .content = S("hello\n")};
    p->n_secrets = 1;
    p->secrets = A(1, sizeof(*p->secrets));
    p->secrets[0] = (struct spec_config){
        .key = S("token"), .source = SPEC_SOURCE_FILE, .file = S("/srv/proj/token.txt")};
}

/* ---- helpers ------------------------------------------------------------------------------------
 */

static const struct compose_instance web1 = {
    .number = 1,
    .name = "proj-web-1",
    .image_id = "sha256:1111",
    .config_hash = "abcd",
};

static struct m87_json *body_of(const struct spec_project *p, const struct spec_service *s,
                                const struct compose_body_opts *o,
                                const struct compose_instance *in)
{
    _cleanup_free_ char *body = compose_create_body(p, s, o, in);
    struct m87_error *err = NULL;
    struct m87_json *doc = m87_json_parse(body, strlen(body), &err);
    if (doc == NULL)
        fail_msg("body is not JSON: %s\n%s", err->msg, body);
    return doc;
}

#define J(doc, ...) m87_json_path((doc), __VA_ARGS__, NULL)
#define assert_jstr(node, want) assert_string_equal(m87_json_str((node), "(missing)"), (want))
#define assert_jint(node, want)                                                                    \
    do {                                                                                           \
        assert_int_equal(m87_json_type(node), M87_JSON_NUMBER);                                    \
        assert_int_equal(m87_json_int((node), -1), (want));                                        \
    } while (0)
#define assert_jbool(node, want)                                                                   \
    do {                                                                                           \
        assert_int_equal(m87_json_type(node), M87_JSON_BOOL);                                      \
        assert_int_equal(m87_json_bool((node), !(want)), (want));                                  \
    } while (0)

static void assert_strings(const struct m87_json *arr, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    if (m87_json_len(arr) != n)
        fail_msg("array has %zu items, expected %zu", m87_json_len(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_jstr(m87_json_at(arr, i), want[i]);
}

static void hash_of(const struct spec_project *p, const struct spec_service *s,
                    char out[COMPOSE_HASH_HEX + 1])
{
    struct compose_body_opts o = {0};
    compose_config_hash(p, s, &o, out);
    assert_int_equal(strlen(out), COMPOSE_HASH_HEX);
}

/* ---- the body -----------------------------------------------------------------------------------
 */

static void test_body_config(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[0], NULL, &web1);
    assert_jstr(J(doc, "Image"), "registry.example/app:1.2");
    assert_strings(J(doc, "Cmd"), (const char *const[]){"sh", "-c", "echo hi", NULL});
    assert_strings(J(doc, "Entrypoint"), (const char *const[]){"/bin/tini", "--", NULL});
    /* sorted by name; an unresolved bare name is sent alone */
    assert_strings(J(doc, "Env"), (const char *const[]){"A=1", "B=2", "BARE", NULL});
    assert_jstr(J(doc, "User"), "1000:1000");
    assert_jstr(J(doc, "WorkingDir"), "/app");
    assert_jstr(J(doc, "Hostname"), "web");
    assert_jstr(J(doc, "Domainname"), "example.org");
    assert_jstr(J(doc, "StopSignal"), "SIGINT");
    assert_jint(J(doc, "StopTimeout"), 12);
    assert_jbool(J(doc, "Tty"), true);
    assert_jbool(J(doc, "OpenStdin"), true);
    /* integer nanoseconds */
    assert_strings(J(doc, "Healthcheck", "Test"),
                   (const char *const[]){"CMD-SHELL", "test -f /ready", NULL});
    assert_jint(J(doc, "Healthcheck", "Interval"), 30000000000LL);
    assert_jint(J(doc, "Healthcheck", "Timeout"), 5000000000LL);
    assert_jint(J(doc, "Healthcheck", "StartPeriod"), 1500000000LL);
    assert_jint(J(doc, "Healthcheck", "Retries"), 3);
    project_release(&p);
}

static void test_body_host_config(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[0], NULL, &web1);
    const struct m87_json *hc = J(doc, "HostConfig");
    assert_jstr(J(hc, "RestartPolicy", "Name"), "on-failure");
    assert_jint(J(hc, "RestartPolicy", "MaximumRetryCount"), 3);
    assert_jint(J(hc, "Memory"), 536870912);
    assert_jint(J(hc, "MemorySwap"), 1073741824);
    assert_jint(J(hc, "MemoryReservation"), 268435456);
    assert_jint(J(hc, "NanoCpus"), 1500000000);
    assert_jint(J(hc, "CpuShares"), 512);
    assert_jstr(J(hc, "CpusetCpus"), "0-1");
    assert_jint(J(hc, "PidsLimit"), 100);
    assert_jint(J(hc, "ShmSize"), 67108864);
    assert_jstr(J(m87_json_at(J(hc, "Ulimits"), 0), "Name"), "nofile");
    assert_jint(J(m87_json_at(J(hc, "Ulimits"), 0), "Soft"), 1024);
    assert_jint(J(m87_json_at(J(hc, "Ulimits"), 0), "Hard"), 2048);
    assert_jstr(J(m87_json_at(J(hc, "Devices"), 0), "PathOnHost"), "/dev/fuse");
    assert_jstr(J(m87_json_at(J(hc, "Devices"), 0), "PathInContainer"), "/dev/fuse");
    assert_jstr(J(m87_json_at(J(hc, "Devices"), 0), "CgroupPermissions"), "rwm");
    assert_jstr(J(hc, "Sysctls", "net.core.somaxconn"), "1024");
    assert_jstr(J(hc, "LogConfig", "Type"), "json-file");
    assert_jstr(J(hc, "LogConfig", "Config", "max-size"), "10m");
    assert_strings(J(hc, "ExtraHosts"), (const char *const[]){"db.local:10.0.0.1", NULL});
    assert_strings(J(hc, "Dns"), (const char *const[]){"10.0.0.53", NULL});
    assert_strings(J(hc, "DnsSearch"), (const char *const[]){"example.org", NULL});
    assert_strings(J(hc, "DnsOptions"), (const char *const[]){"ndots:2", NULL});
    assert_jbool(J(hc, "Init"), true);
    assert_strings(J(hc, "CapAdd"), (const char *const[]){"NET_ADMIN", NULL});
    assert_strings(J(hc, "CapDrop"), (const char *const[]){"ALL", NULL});
    assert_strings(J(hc, "SecurityOpt"), (const char *const[]){"no-new-privileges:true", NULL});
    assert_jbool(J(hc, "ReadonlyRootfs"), false);
    assert_jbool(J(hc, "Privileged"), false);
    assert_jstr(J(hc, "Tmpfs", "/run"), "");
    assert_jstr(J(hc, "Tmpfs", "/tmp"), "size=64m");
    assert_jstr(J(hc, "NetworkMode"), "proj_front");
    project_release(&p);
}

static void test_body_unset_fields_left_out(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    /* db is a bare service: only what must be there */
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[1], NULL, &web1);
    static const char *const absent[] = {"Cmd",        "Entrypoint",   "Env",
                                         "User",       "Healthcheck",  "StopTimeout",
                                         "StopSignal", "ExposedPorts", NULL};
    for (size_t i = 0; absent[i]; i++)
        if (m87_json_get(doc, absent[i]) != NULL)
            fail_msg("%s should be left out", absent[i]);
    static const char *const absent_hc[] = {"Memory",       "NanoCpus",  "RestartPolicy",
                                            "Init",         "Binds",     "Mounts",
                                            "PortBindings", "LogConfig", NULL};
    for (size_t i = 0; absent_hc[i]; i++)
        if (J(doc, "HostConfig", absent_hc[i]) != NULL)
            fail_msg("HostConfig.%s should be left out", absent_hc[i]);
    /* no networks and no network_mode: the default network */
    assert_jstr(J(doc, "HostConfig", "NetworkMode"), "proj_default");
    assert_non_null(J(doc, "NetworkingConfig", "EndpointsConfig", "proj_default"));
    project_release(&p);
}

static void test_body_healthcheck_disable_and_command_clear(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[1];
    s->has_healthcheck = true;
    s->healthcheck.disable = true;
    s->has_entrypoint = true; /* entrypoint: [] clears the image's */
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, s, NULL, &web1);
    assert_strings(J(doc, "Healthcheck", "Test"), (const char *const[]){"NONE", NULL});
    assert_null(J(doc, "Healthcheck", "Interval"));
    assert_int_equal(m87_json_type(J(doc, "Entrypoint")), M87_JSON_ARRAY);
    assert_int_equal(m87_json_len(J(doc, "Entrypoint")), 0);
    project_release(&p);
}

static void test_body_ports(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[0], NULL, &web1);
    const struct m87_json *exp = J(doc, "ExposedPorts");
    static const char *const keys[] = {"3000/tcp", "4000/tcp", "5000/tcp", "5001/tcp",
                                       "80/tcp",   "90/udp",   NULL};
    assert_int_equal(m87_json_len(exp), 6);
    for (size_t i = 0; keys[i]; i++) {
        const char *k = NULL;
        m87_json_member(exp, i, &k);
        assert_string_equal(k, keys[i]);
    }
    const struct m87_json *pb = J(doc, "HostConfig", "PortBindings");
    assert_int_equal(m87_json_len(pb), 3); /* 4000 and the exposes are not published */
    /* one container port published twice: two bindings under one key */
    assert_int_equal(m87_json_len(J(pb, "80/tcp")), 2);
    assert_jstr(J(m87_json_at(J(pb, "80/tcp"), 0), "HostPort"), "8080");
    assert_jstr(J(m87_json_at(J(pb, "80/tcp"), 0), "HostIp"), "");
    assert_jstr(J(m87_json_at(J(pb, "80/tcp"), 1), "HostPort"), "8081");
    assert_jstr(J(m87_json_at(J(pb, "90/udp"), 0), "HostIp"), "127.0.0.1");
    assert_jstr(J(m87_json_at(J(pb, "90/udp"), 0), "HostPort"), "9090");
    /* published without a host port: dockerd picks one */
    assert_jstr(J(m87_json_at(J(pb, "3000/tcp"), 0), "HostPort"), "");
    project_release(&p);
}

static void test_body_binds_and_mounts(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[0], NULL, &web1);
    const struct m87_json *hc = J(doc, "HostConfig");
    /* short binds, a long bind with only read_only/selinux, a named volume: legacy Binds */
    assert_strings(J(hc, "Binds"), (const char *const[]){"/srv/data:/data:rw", "/srv/ro:/ro:ro,z",
                                                         "proj_dbdata:/var/lib/db:rw", NULL});
    const struct m87_json *m = J(hc, "Mounts");
    assert_int_equal(m87_json_len(m), 7);
    /* propagation needs the Mount API */
    assert_jstr(J(m87_json_at(m, 0), "Type"), "bind");
    assert_jstr(J(m87_json_at(m, 0), "Source"), "/srv/shared");
    assert_jstr(J(m87_json_at(m, 0), "BindOptions", "Propagation"), "rshared");
    /* create_host_path: false: the Mount API fails on a missing source, as wanted */
    assert_jstr(J(m87_json_at(m, 1), "Source"), "/srv/must");
    assert_jstr(J(m87_json_at(m, 1), "Target"), "/must");
    /* nocopy */
    assert_jstr(J(m87_json_at(m, 2), "Type"), "volume");
    assert_jstr(J(m87_json_at(m, 2), "Source"), "proj_dbdata");
    assert_jbool(J(m87_json_at(m, 2), "ReadOnly"), true);
    assert_jbool(J(m87_json_at(m, 2), "VolumeOptions", "NoCopy"), true);
    /* anonymous: no source */
    assert_jstr(J(m87_json_at(m, 3), "Type"), "volume");
    assert_null(J(m87_json_at(m, 3), "Source"));
    assert_jstr(J(m87_json_at(m, 3), "Target"), "/cache");
    assert_jstr(J(m87_json_at(m, 4), "Type"), "tmpfs");
    assert_jint(J(m87_json_at(m, 4), "TmpfsOptions", "SizeBytes"), 67108864);
    assert_jint(J(m87_json_at(m, 4), "TmpfsOptions", "Mode"), 01777);
    /* file config and file secret: read-only binds; the content config is not a mount */
    assert_jstr(J(m87_json_at(m, 5), "Source"), "/srv/proj/app.conf");
    assert_jstr(J(m87_json_at(m, 5), "Target"), "/etc/app.conf");
    assert_jbool(J(m87_json_at(m, 5), "ReadOnly"), true);
    assert_jstr(J(m87_json_at(m, 6), "Source"), "/srv/proj/token.txt");
    assert_jstr(J(m87_json_at(m, 6), "Target"), "/run/secrets/token");
    project_release(&p);
}

static void test_body_anon_volume_kept(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct m87_kvlist kept;
    m87_kvlist_init(&kept);
    m87_kvlist_add(&kept, "/cache", "0123abcd");
    struct compose_instance in = web1;
    in.anon_volumes = &kept;
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[0], NULL, &in);
    assert_jstr(J(m87_json_at(J(doc, "HostConfig", "Mounts"), 3), "Source"), "0123abcd");
    m87_kvlist_release(&kept);
    project_release(&p);
}

static void test_body_labels(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    p.env_file = S("/srv/proj/.env");
    struct compose_instance in = web1;
    in.replace = "proj-web-1";
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[0], NULL, &in);
    const struct m87_json *l = J(doc, "Labels");
    assert_jstr(J(l, "x.a"), "1");
    assert_jstr(J(l, "x.b"), "2");
    /* ours win over a user's attempt */
    assert_jstr(J(l, COMPOSE_L_PROJECT), "proj");
    assert_jstr(J(l, COMPOSE_L_SERVICE), "web");
    assert_jstr(J(l, COMPOSE_L_NUMBER), "1");
    assert_jstr(J(l, COMPOSE_L_ONEOFF), "False");
    assert_jstr(J(l, COMPOSE_L_HASH), "abcd");
    assert_jstr(J(l, COMPOSE_L_VERSION), COMPOSE_VERSION_VALUE);
    assert_jstr(J(l, COMPOSE_L_WORKING_DIR), "/srv/proj");
    assert_jstr(J(l, COMPOSE_L_CONFIG_FILES), "/srv/proj/compose.yml,/srv/proj/override.yml");
    assert_jstr(J(l, COMPOSE_L_ENV_FILE), "/srv/proj/.env");
    assert_jstr(J(l, COMPOSE_L_DEPENDS_ON), "db:service_healthy:true");
    assert_jstr(J(l, COMPOSE_L_IMAGE), "sha256:1111");
    assert_jstr(J(l, COMPOSE_L_REPLACE), "proj-web-1");
    /* sorted */
    const char *prev = "";
    for (size_t i = 0; i < m87_json_len(l); i++) {
        const char *k = NULL;
        m87_json_member(l, i, &k);
        assert_true(strcmp(prev, k) < 0);
        prev = k;
    }
    /* not a replacement: no replace label */
    _cleanup_(m87_json_freep) struct m87_json *d2 = body_of(&p, &p.services[1], NULL, &web1);
    assert_null(J(d2, "Labels", COMPOSE_L_REPLACE));
    assert_jstr(J(d2, "Labels", COMPOSE_L_DEPENDS_ON), "");
    project_release(&p);
}

static void test_body_endpoints(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    /* API < 1.44: the primary network only; the others are connected before start */
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, &p.services[0], NULL, &web1);
    const struct m87_json *eps = J(doc, "NetworkingConfig", "EndpointsConfig");
    assert_int_equal(m87_json_len(eps), 1);
    const struct m87_json *front = J(eps, "proj_front");
    assert_strings(J(front, "Aliases"),
                   (const char *const[]){"proj-web-1", "web", "web-alias", NULL});
    assert_jstr(J(front, "IPAMConfig", "IPv4Address"), "10.5.0.5");
    /* 1.44 and later take them all at create */
    struct compose_body_opts all = {.all_endpoints = true};
    _cleanup_(m87_json_freep) struct m87_json *d2 = body_of(&p, &p.services[0], &all, &web1);
    eps = J(d2, "NetworkingConfig", "EndpointsConfig");
    assert_int_equal(m87_json_len(eps), 2);
    assert_strings(J(eps, "custom-back", "Aliases"),
                   (const char *const[]){"proj-web-1", "web", NULL});
    project_release(&p);
}

static void test_body_network_mode(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[2];
    s->network_mode = S("service:db");
    struct compose_body_opts o = {.network_mode = "container:0123456789ab"};
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, s, &o, &web1);
    assert_jstr(J(doc, "HostConfig", "NetworkMode"), "container:0123456789ab");
    assert_null(J(doc, "NetworkingConfig"));
    s->network_mode = S("host");
    _cleanup_(m87_json_freep) struct m87_json *d2 = body_of(&p, s, NULL, &web1);
    assert_jstr(J(d2, "HostConfig", "NetworkMode"), "host");
    assert_null(J(d2, "NetworkingConfig"));
    project_release(&p);
}

static void test_body_kernel_fields(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[2];
    char base[COMPOSE_HASH_HEX + 1], h[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, base);
    _cleanup_(m87_json_freep) struct m87_json *bare = body_of(&p, s, NULL, &web1);
    static const char *const members[] = {"GroupAdd",          "DeviceCgroupRules",
                                          "Runtime",           "OomScoreAdj",
                                          "OomKillDisable",    "MemorySwappiness",
                                          "CpuPeriod",         "CpuQuota",
                                          "CpuRealtimePeriod", "CpuRealtimeRuntime",
                                          "StorageOpt",        "CgroupParent",
                                          "PidMode",           "IpcMode",
                                          "UTSMode",           "UsernsMode",
                                          "CgroupnsMode",      NULL};
    for (size_t i = 0; members[i]; i++)
        if (J(bare, "HostConfig", members[i]) != NULL)
            fail_msg("HostConfig.%s should be left out", members[i]);
    assert_null(J(bare, "MacAddress"));

    const char *const groups[] = {"audio", "1234", NULL};
    strv_of(&s->group_add, groups);
    const char *const rules[] = {"c 1:3 mr", NULL};
    strv_of(&s->device_cgroup_rules, rules);
    s->runtime = S("runc");
    s->oom_score_adj = 0;
    s->oom_kill_disable = 0;
    s->mem_swappiness = 10;
    s->cpu_period = 100000;
    s->cpu_quota = 50000;
    s->cpu_rt_period = 1000000;
    s->cpu_rt_runtime = 950000;
    m87_kvlist_add(&s->storage_opt, "size", "1G");
    s->mac_address = S("02:42:ac:11:00:02");
    s->cgroup_parent = S("edge.slice");
    s->pid = S("service:db");
    s->ipc = S("host");
    s->uts = S("host");
    s->userns_mode = S("host");
    s->cgroup = S("private");
    struct compose_body_opts o = {.pid_mode = "container:0123"};
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, s, &o, &web1);
    const struct m87_json *hc = J(doc, "HostConfig");
    assert_strings(J(hc, "GroupAdd"), groups);
    assert_strings(J(hc, "DeviceCgroupRules"), rules);
    assert_jstr(J(hc, "Runtime"), "runc");
    assert_jint(J(hc, "OomScoreAdj"), 0); /* set to 0 is sent: it is not the default */
    assert_jbool(J(hc, "OomKillDisable"), false);
    assert_jint(J(hc, "MemorySwappiness"), 10);
    assert_jint(J(hc, "CpuPeriod"), 100000);
    assert_jint(J(hc, "CpuQuota"), 50000);
    assert_jint(J(hc, "CpuRealtimePeriod"), 1000000);
    assert_jint(J(hc, "CpuRealtimeRuntime"), 950000);
    assert_jstr(J(hc, "StorageOpt", "size"), "1G");
    assert_jstr(J(hc, "CgroupParent"), "edge.slice");
    assert_jstr(J(hc, "PidMode"), "container:0123"); /* service:db as resolved */
    assert_jstr(J(hc, "IpcMode"), "host");
    assert_jstr(J(hc, "UTSMode"), "host");
    assert_jstr(J(hc, "UsernsMode"), "host");
    assert_jstr(J(hc, "CgroupnsMode"), "private");
    assert_jstr(J(doc, "MacAddress"), "02:42:ac:11:00:02");
    /* API >= 1.44: on the primary endpoint instead, and the hash is the same */
    struct compose_body_opts o44 = {.pid_mode = "container:0123", .all_endpoints = true};
    _cleanup_(m87_json_freep) struct m87_json *d44 = body_of(&p, s, &o44, &web1);
    assert_null(J(d44, "MacAddress"));
    const struct m87_json *eps = J(d44, "NetworkingConfig", "EndpointsConfig");
    assert_jstr(J(m87_json_at(eps, 0), "MacAddress"), "02:42:ac:11:00:02");
    char ha[COMPOSE_HASH_HEX + 1], hb[COMPOSE_HASH_HEX + 1];
    compose_config_hash(&p, s, &o, ha);
    compose_config_hash(&p, s, &o44, hb);
    assert_string_equal(ha, hb);

    /* each is in the hash, and a resolved namespace follows its container */
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    char h1[COMPOSE_HASH_HEX + 1], h2[COMPOSE_HASH_HEX + 1];
    struct compose_body_opts o1 = {.ipc_mode = "container:aaa"};
    struct compose_body_opts o2 = {.ipc_mode = "container:bbb"};
    compose_config_hash(&p, s, &o1, h1);
    compose_config_hash(&p, s, &o2, h2);
    assert_string_not_equal(h1, h2);
    hash_of(&p, s, base);
    s->cpu_quota = 60000;
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    s->cpu_quota = 50000;
    s->mac_address = S("02:42:ac:11:00:03");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    s->mac_address = S("02:42:ac:11:00:02");
    hash_of(&p, s, h);
    assert_string_equal(base, h);
    m87_strv_release(&s->group_add);
    m87_strv_release(&s->device_cgroup_rules);
    m87_kvlist_release(&s->storage_opt);
    project_release(&p);
}

/* blkio_config and volume_driver: HostConfig members, each left out when unset. */
static void test_body_blkio_and_volume_driver(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[0];
    char base[COMPOSE_HASH_HEX + 1], h[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, base);
    _cleanup_(m87_json_freep) struct m87_json *bare = body_of(&p, s, NULL, &web1);
    assert_null(J(bare, "HostConfig", "BlkioWeight"));
    assert_null(J(bare, "HostConfig", "BlkioDeviceReadBps"));
    assert_null(J(bare, "HostConfig", "VolumeDriver"));
    struct spec_blkio_device wd = {.path = S("/dev/vda"), .value = 400};
    struct spec_blkio_device rb = {.path = S("/dev/vda"), .value = 1048576};
    s->blkio_weight = 300;
    s->blkio[SPEC_BLKIO_WEIGHT_DEVICE] = (struct spec_blkio_devices){.v = &wd, .n = 1};
    s->blkio[SPEC_BLKIO_READ_BPS] = (struct spec_blkio_devices){.v = &rb, .n = 1};
    s->volume_driver = S("local");
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, s, NULL, &web1);
    assert_jint(J(doc, "HostConfig", "BlkioWeight"), 300);
    const struct m87_json *wdev = m87_json_at(J(doc, "HostConfig", "BlkioWeightDevice"), 0);
    assert_jstr(m87_json_get(wdev, "Path"), "/dev/vda");
    assert_jint(m87_json_get(wdev, "Weight"), 400);
    const struct m87_json *rbps = m87_json_at(J(doc, "HostConfig", "BlkioDeviceReadBps"), 0);
    assert_jint(m87_json_get(rbps, "Rate"), 1048576);
    assert_null(J(doc, "HostConfig", "BlkioDeviceWriteIOps"));
    assert_jstr(J(doc, "HostConfig", "VolumeDriver"), "local");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    s->blkio_weight = SPEC_UNSET;
    memset(s->blkio, 0, sizeof(s->blkio));
    s->volume_driver = NULL;
    project_release(&p);
}

/* annotations (1.43) and healthcheck.start_interval (1.44): in the body when set, and refused
 * before anything is done on an older API, naming the daemon's version. */
static void test_newer_api_fields(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[0];
    struct m87_error *err = NULL;
    assert_int_equal(compose_check_api(&p, NULL, "1.41", &err), 0);
    m87_kvlist_set(&s->annotations, "com.example.b", "2");
    m87_kvlist_set(&s->annotations, "com.example.a", "1");
    assert_int_equal(compose_check_api(&p, NULL, "1.42", &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_VERSION);
    _cleanup_free_ char *want1 = m87_xasprintf(
        "service '%s': annotations needs Engine API 1.43, and dockerd speaks 1.42", s->name);
    assert_string_equal(err->msg, want1);
    m87_error_clear(&err);
    assert_int_equal(compose_check_api(&p, NULL, "1.43", &err), 0);
    bool selected[8] = {false};
    assert_int_equal(compose_check_api(&p, selected, "1.41", &err), 0); /* not selected */
    s->has_healthcheck = true;
    s->healthcheck.start_interval_ns = 2000000000;
    assert_int_equal(compose_check_api(&p, NULL, "1.43", &err), -1);
    assert_non_null(strstr(err->msg, "healthcheck.start_interval needs Engine API 1.44, and "
                                     "dockerd speaks 1.43"));
    m87_error_clear(&err);
    assert_int_equal(compose_check_api(&p, NULL, "1.45", &err), 0);
    /* the body a 1.45 daemon gets */
    struct compose_body_opts o45 = {.all_endpoints = true};
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, s, &o45, &web1);
    assert_jstr(J(doc, "HostConfig", "Annotations", "com.example.a"), "1");
    assert_jstr(J(doc, "HostConfig", "Annotations", "com.example.b"), "2");
    assert_jint(J(doc, "Healthcheck", "StartInterval"), 2000000000);
    m87_kvlist_release(&s->annotations);
    s->healthcheck.start_interval_ns = SPEC_UNSET;
    project_release(&p);
}

/* post_start and pre_stop are not in the body (they run through exec) but are in the hash:
 * changing a hook recreates the container; a service without hooks keeps its old hash. */
static void test_hash_covers_hooks(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[0];
    char base[COMPOSE_HASH_HEX + 1], h[COMPOSE_HASH_HEX + 1], h2[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, base);
    _cleanup_free_ char *plain = compose_hash_input(&p, s, NULL);
    assert_null(strstr(plain, "PostStart"));
    struct spec_hook hook = {.user = S("root")};
    m87_strv_init(&hook.command);
    m87_strv_add(&hook.command, "sh");
    m87_kvlist_init(&hook.environment);
    s->post_start = &hook;
    s->n_post_start = 1;
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    _cleanup_(m87_json_freep) struct m87_json *body = body_of(&p, s, NULL, &web1);
    assert_null(J(body, "PostStart"));
    m87_kvlist_set(&hook.environment, "K", "V");
    hash_of(&p, s, h2);
    assert_string_not_equal(h, h2);
    s->post_start = NULL;
    s->n_post_start = 0;
    s->pre_stop = &hook;
    s->n_pre_stop = 1;
    hash_of(&p, s, h);
    assert_string_not_equal(h, h2); /* the same hook as pre_stop is another hash */
    s->pre_stop = NULL;
    s->n_pre_stop = 0;
    hash_of(&p, s, h);
    assert_string_equal(base, h);
    m87_strv_release(&hook.command);
    m87_kvlist_release(&hook.environment);
    project_release(&p);
}

static void test_body_volumes_from_and_links(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[2];
    char base[COMPOSE_HASH_HEX + 1], h[COMPOSE_HASH_HEX + 1];
    m87_strv_add(&s->volumes_from, "service:db:ro");
    m87_strv_add(&s->links, "db:store");
    m87_strv_add(&s->external_links, "redis");
    hash_of(&p, s, base);
    const char *const vf[] = {"0123:ro", NULL};
    const char *const links[] = {"proj-db-1:store", "proj-db-1:db-1", "redis:redis", NULL};
    struct m87_strv vfv, lv;
    strv_of(&vfv, vf);
    strv_of(&lv, links);
    struct compose_body_opts o = {.volumes_from = &vfv, .links = &lv};
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, s, &o, &web1);
    assert_strings(J(doc, "HostConfig", "VolumesFrom"), vf);
    assert_strings(J(doc, "HostConfig", "Links"), links);
    /* and on the endpoint, where dockerd keeps them on a user-defined network */
    const struct m87_json *eps = J(doc, "NetworkingConfig", "EndpointsConfig");
    assert_int_equal(m87_json_len(eps), 1);
    assert_strings(J(m87_json_at(eps, 0), "Links"), links);
    /* the hash follows the source container, and takes links as written */
    struct compose_body_opts o1 = {.volumes_from = &vfv, .links = &lv};
    compose_config_hash(&p, s, &o1, h);
    char other[COMPOSE_HASH_HEX + 1];
    free(vfv.items[0]);
    vfv.items[0] = m87_xstrdup("4567:ro");
    compose_config_hash(&p, s, &o1, other);
    assert_string_not_equal(h, other);
    m87_strv_add(&lv, "proj-db-2:store");
    struct compose_body_opts o2 = {.volumes_from = &vfv, .links = &lv};
    char scaled[COMPOSE_HASH_HEX + 1];
    compose_config_hash(&p, s, &o2, scaled);
    assert_string_equal(other, scaled);
    m87_strv_add(&s->external_links, "other:alias");
    compose_config_hash(&p, s, &o2, scaled);
    assert_string_not_equal(other, scaled);
    m87_strv_release(&vfv);
    m87_strv_release(&lv);
    m87_strv_release(&s->volumes_from);
    m87_strv_release(&s->links);
    m87_strv_release(&s->external_links);
    project_release(&p);
}

static void test_body_device_requests(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[2];
    char base[COMPOSE_HASH_HEX + 1], h[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, base);
    struct spec_device_request d[2] = {{.driver = S("nvidia"), .count = -1}, {.count = 0}};
    const char *const caps[] = {"compute", "gpu", NULL};
    strv_of(&d[0].capabilities, caps);
    m87_kvlist_init(&d[0].options);
    m87_kvlist_add(&d[0].options, "z", "1");
    m87_kvlist_add(&d[0].options, "a", "2");
    m87_strv_init(&d[0].device_ids);
    const char *const ids[] = {"GPU-0", NULL};
    strv_of(&d[1].device_ids, ids);
    const char *const tpu[] = {"tpu", NULL};
    strv_of(&d[1].capabilities, tpu);
    m87_kvlist_init(&d[1].options);
    s->device_requests = d;
    s->n_device_requests = 2;
    _cleanup_(m87_json_freep) struct m87_json *doc = body_of(&p, s, NULL, &web1);
    const struct m87_json *dr = J(doc, "HostConfig", "DeviceRequests");
    assert_int_equal(m87_json_len(dr), 2);
    const struct m87_json *a = m87_json_at(dr, 0), *b = m87_json_at(dr, 1);
    assert_jstr(J(a, "Driver"), "nvidia");
    assert_jint(J(a, "Count"), -1);
    assert_null(J(a, "DeviceIDs"));
    assert_int_equal(m87_json_len(J(a, "Capabilities")), 1); /* one set of capabilities */
    assert_strings(m87_json_at(J(a, "Capabilities"), 0), caps);
    assert_jstr(J(a, "Options", "a"), "2");
    assert_jstr(J(b, "Driver"), "");
    assert_jint(J(b, "Count"), 0);
    assert_strings(J(b, "DeviceIDs"), ids);
    assert_null(J(b, "Options"));
    /* in the hash; the order of the options is not */
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    char h2[COMPOSE_HASH_HEX + 1];
    m87_kvlist_release(&d[0].options);
    m87_kvlist_add(&d[0].options, "a", "2");
    m87_kvlist_add(&d[0].options, "z", "1");
    hash_of(&p, s, h2);
    assert_string_equal(h, h2);
    for (size_t i = 0; i < 2; i++) {
        m87_strv_release(&d[i].capabilities);
        m87_strv_release(&d[i].device_ids);
        m87_kvlist_release(&d[i].options);
    }
    s->device_requests = NULL;
    s->n_device_requests = 0;
    project_release(&p);
}

/* ---- the hash -----------------------------------------------------------------------------------
 */

static void test_hash_stable_and_canonical(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[0];
    char h1[COMPOSE_HASH_HEX + 1], h2[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, h1);
    hash_of(&p, s, h2);
    assert_string_equal(h1, h2);
    /* the order labels and variables were written in does not matter */
    m87_kvlist_release(&s->labels);
    m87_kvlist_add(&s->labels, COMPOSE_L_PROJECT, "not-this");
    m87_kvlist_add(&s->labels, "x.a", "1");
    m87_kvlist_add(&s->labels, "x.b", "2");
    m87_kvlist_release(&s->environment);
    m87_kvlist_add(&s->environment, "BARE", NULL);
    m87_kvlist_add(&s->environment, "A", "1");
    m87_kvlist_add(&s->environment, "B", "2");
    hash_of(&p, s, h2);
    assert_string_equal(h1, h2);
    /* the hash input carries no per-container part */
    _cleanup_free_ char *input = compose_hash_input(&p, s, NULL);
    assert_null(strstr(input, "proj-web-1"));
    assert_null(strstr(input, COMPOSE_LABEL_PREFIX));
    /* but every network, whatever the API version */
    assert_non_null(strstr(input, "custom-back"));
    project_release(&p);
}

static void test_hash_ignores_scheduling_fields(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[0];
    char h1[COMPOSE_HASH_HEX + 1], h2[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, h1);
    s->replicas = 5;
    s->n_depends = 0;
    const char *const prof[] = {"debug", NULL};
    strv_of(&s->profiles, prof);
    s->pull_policy = SPEC_PULL_ALWAYS;
    hash_of(&p, s, h2);
    assert_string_equal(h1, h2);
    /* nor what only compose's labels say about the project */
    p.config_files.items[0][0] = 'X';
    p.working_dir = S("/elsewhere");
    hash_of(&p, s, h2);
    assert_string_equal(h1, h2);
    project_release(&p);
}

static void test_hash_changes_with_config(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[0];
    char base[COMPOSE_HASH_HEX + 1], h[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, base);

    m87_kvlist_set(&s->environment, "A", "changed");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    m87_kvlist_set(&s->environment, "A", "1");
    hash_of(&p, s, h);
    assert_string_equal(base, h);

    s->image = S("registry.example/app:1.3");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    s->image = S("registry.example/app:1.2");

    s->nano_cpus = 500000000;
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    s->nano_cpus = 1500000000LL;

    m87_kvlist_set(&s->labels, "x.a", "other");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    m87_kvlist_set(&s->labels, "x.a", "1");

    /* the content of an injected config is covered */
    p.configs[1].content = S("hello again\n");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    p.configs[1].content = S("hello\n");

    s->platform = S("linux/arm64");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    s->platform = NULL;

    /* container_name is not in the body (it is the create's ?name=) but must recreate */
    s->container_name = S("the-web");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    char named[COMPOSE_HASH_HEX + 1];
    memcpy(named, h, sizeof(named));
    s->container_name = S("other-web");
    hash_of(&p, s, h);
    assert_string_not_equal(base, h);
    assert_string_not_equal(named, h);
    s->container_name = NULL;

    /* a service sharing another's namespace follows that container */
    struct compose_body_opts o1 = {.network_mode = "container:aaa"};
    struct compose_body_opts o2 = {.network_mode = "container:bbb"};
    char h1[COMPOSE_HASH_HEX + 1], h2[COMPOSE_HASH_HEX + 1];
    compose_config_hash(&p, s, &o1, h1);
    compose_config_hash(&p, s, &o2, h2);
    assert_string_not_equal(h1, h2);

    hash_of(&p, s, h);
    assert_string_equal(base, h);
    project_release(&p);
}

static void test_hash_format_is_versioned(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    struct spec_service *s = &p.services[1];
    char h[COMPOSE_HASH_HEX + 1], want[COMPOSE_HASH_HEX + 1];
    hash_of(&p, s, h);
    _cleanup_free_ char *input = compose_hash_input(&p, s, NULL);
    _cleanup_free_ char *text = m87_xasprintf("%s\n%s", COMPOSE_HASH_FORMAT, input);
    m87_sha256_hex(text, strlen(text), want);
    assert_string_equal(h, want);
    /* the sha256 itself */
    m87_sha256_hex("abc", 3, want);
    assert_string_equal(want, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    project_release(&p);
}

/* ---- names, labels of networks and volumes, order -----------------------------------------------
 */

static void test_names(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    _cleanup_free_ char *c1 = compose_container_name(&p, &p.services[0], 2);
    assert_string_equal(c1, "proj-web-2");
    p.services[1].container_name = S("the-db");
    _cleanup_free_ char *c2 = compose_container_name(&p, &p.services[1], 1);
    assert_string_equal(c2, "the-db");
    _cleanup_free_ char *n1 = compose_network_name(&p, "back");
    assert_string_equal(n1, "custom-back");
    _cleanup_free_ char *n2 = compose_network_name(&p, "default");
    assert_string_equal(n2, "proj_default");
    _cleanup_free_ char *v1 = compose_volume_name(&p, "dbdata");
    assert_string_equal(v1, "proj_dbdata");
    _cleanup_free_ char *v2 = compose_volume_name(&p, "other");
    assert_string_equal(v2, "proj_other");

    struct m87_kvlist l;
    m87_kvlist_init(&l);
    m87_kvlist_add(&p.networks[0].labels, "user", "x");
    compose_network_labels(&p, &p.networks[0], "front", &l);
    assert_string_equal(m87_kvlist_get(&l, "user"), "x");
    assert_string_equal(m87_kvlist_get(&l, COMPOSE_L_PROJECT), "proj");
    assert_string_equal(m87_kvlist_get(&l, COMPOSE_L_NETWORK), "front");
    assert_string_equal(m87_kvlist_get(&l, COMPOSE_L_VERSION), COMPOSE_VERSION_VALUE);
    m87_kvlist_release(&l);
    m87_kvlist_init(&l);
    compose_volume_labels(&p, &p.volumes[0], "dbdata", &l);
    assert_string_equal(m87_kvlist_get(&l, COMPOSE_L_VOLUME), "dbdata");
    assert_string_equal(m87_kvlist_get(&l, COMPOSE_L_PROJECT), "proj");
    m87_kvlist_release(&l);
    project_release(&p);
}

static void test_order_and_select(void **state)
{
    (void)state;
    struct spec_project p;
    rich_project(&p);
    /* web -> db (depends_on), migrate -> web (network_mode service:web) */
    p.services[2].network_mode = S("service:web");
    size_t order[3];
    compose_order(&p, order);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 2);

    bool sel[3];
    struct m87_error *err = NULL;
    const char *const only[] = {"web"};
    struct compose_options o = {.services = only, .n_services = 1};
    assert_ok(compose_select(&p, &o, true, sel, &err), &err);
    assert_true(sel[0] && sel[1] && !sel[2]);
    assert_ok(compose_select(&p, &o, false, sel, &err), &err);
    assert_true(sel[0] && !sel[1] && !sel[2]);
    const char *const bad[] = {"nope"};
    struct compose_options ob = {.services = bad, .n_services = 1};
    assert_int_equal(compose_select(&p, &ob, true, sel, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_INVAL);
    assert_string_equal(err->msg, "no such service: 'nope'");
    m87_error_clear(&err);
    project_release(&p);
}

/* ---- the pool ---------------------------------------------------------------------------------
 */

/* No unit of these tests makes a call. */
static int no_request(void *tctx, const struct engine_request *req, struct engine_response *resp,
                      struct m87_error **err)
{
    (void)tctx, (void)resp;
    return m87_error_set(err, M87_E_INVAL, 0, "unexpected request %s %s", req->method, req->path);
}

static const struct engine_transport no_io = {.request = no_request};

#define POOL_NODES 8
#define POOL_ITEMS 4

struct pool_log {
    pthread_mutex_t mu;
    bool waits[POOL_NODES][POOL_NODES];
    size_t items[POOL_NODES];
    int fail_node; /* its prepare fails; -1: none */
    struct engine_client *caller_client;
    pthread_t caller;
    size_t seq;
    size_t prepared[POOL_NODES];   /* times prepare ran */
    size_t prep_start[POOL_NODES]; /* sequence numbers, 0: never */
    size_t done_at[POOL_NODES];    /* end of the node's last unit */
    size_t item_runs[POOL_NODES][POOL_ITEMS];
    size_t running, max_running;
    size_t foreign;      /* units that ran on a worker thread */
    size_t wrong_client; /* units whose client was not their thread's own */
};

static size_t unit_begin(struct pool_log *l, struct compose_run *r)
{
    pthread_mutex_lock(&l->mu);
    size_t at = ++l->seq;
    if (++l->running > l->max_running)
        l->max_running = l->running;
    /* checked by the caller: cmocka's asserts must not jump out of a worker thread */
    if (!pthread_equal(pthread_self(), l->caller)) {
        l->foreign++;
        l->wrong_client +=
            r->c == l->caller_client ||
            strcmp(engine_client_socket(r->c), engine_client_socket(l->caller_client)) != 0;
    } else {
        l->wrong_client += r->c != l->caller_client;
    }
    pthread_mutex_unlock(&l->mu);
    /* long enough for the others to be taken meanwhile */
    struct timespec ts = {.tv_nsec = 2000000};
    nanosleep(&ts, NULL);
    return at;
}

static void unit_end(struct pool_log *l, size_t node)
{
    pthread_mutex_lock(&l->mu);
    l->running--;
    l->done_at[node] = ++l->seq;
    pthread_mutex_unlock(&l->mu);
}

static bool log_waits(void *ctx, size_t node, size_t other)
{
    return ((struct pool_log *)ctx)->waits[node][other];
}

static int log_prepare(struct compose_run *r, void *ctx, size_t node, size_t *n_items,
                       struct m87_error **err)
{
    struct pool_log *l = ctx;
    size_t at = unit_begin(l, r);
    pthread_mutex_lock(&l->mu);
    l->prepared[node]++;
    l->prep_start[node] = at;
    pthread_mutex_unlock(&l->mu);
    unit_end(l, node);
    if ((int)node == l->fail_node)
        return m87_error_set(err, M87_E_INVAL, 0, "node %zu failed", node);
    *n_items = l->items[node];
    return 0;
}

static int log_item(struct compose_run *r, void *ctx, size_t node, size_t item,
                    struct m87_error **err)
{
    (void)err;
    struct pool_log *l = ctx;
    unit_begin(l, r);
    pthread_mutex_lock(&l->mu);
    l->item_runs[node][item]++;
    pthread_mutex_unlock(&l->mu);
    unit_end(l, node);
    return 0;
}

static const struct compose_pool_ops log_ops = {
    .waits = log_waits,
    .prepare = log_prepare,
    .item = log_item,
};

/* A project of POOL_NODES services without dependencies (the order is the file order) and a
 * client that makes no call; on_socket gives it a socket path, so that the pool starts
 * workers (whose clients connect only at a first call, which never comes). */
static int pool_run(struct pool_log *l, bool on_socket, const bool *active, struct m87_error **err)
{
    static const char *const names[POOL_NODES] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"};
    struct spec_service sv[POOL_NODES];
    for (size_t i = 0; i < POOL_NODES; i++)
        service_init(&sv[i], names[i], "img");
    struct spec_project p = {.name = "pool", .services = sv, .n_services = POOL_NODES};
    struct engine_client *c = engine_client_new_with_transport(&no_io, NULL, 0);
    if (on_socket)
        c->socket_path = m87_xstrdup("/nonexistent/m87-unit.sock");
    struct compose_options o = {.timeout_s = -1};
    struct compose_run r;
    compose_run_init(&r, c, &p, &o);
    pthread_mutex_init(&l->mu, NULL);
    l->caller = pthread_self();
    l->caller_client = c;
    int rc = compose_pool_run(&r, POOL_NODES, r.order, active, &log_ops, l, err);
    assert_int_equal(l->running, 0); /* nothing outlives the run */
    assert_int_equal(l->wrong_client, 0);
    pthread_mutex_destroy(&l->mu);
    compose_run_release(&r);
    engine_client_free(c);
    return rc;
}

/* 0 1 2 free; 3 after 0; 4 after 0 and 1; 5 after 3 and 4; 6 after 5; 7 after 2 */
static void pool_graph(struct pool_log *l)
{
    memset(l, 0, sizeof(*l));
    l->fail_node = -1;
    l->waits[3][0] = l->waits[4][0] = l->waits[4][1] = true;
    l->waits[5][3] = l->waits[5][4] = l->waits[6][5] = l->waits[7][2] = true;
    for (size_t i = 0; i < POOL_NODES; i++)
        l->items[i] = i % POOL_ITEMS;
}

static void assert_pool_order(const struct pool_log *l, const bool *active)
{
    for (size_t i = 0; i < POOL_NODES; i++) {
        if (!active[i]) {
            assert_int_equal(l->prepared[i], 0);
            continue;
        }
        assert_int_equal(l->prepared[i], 1);
        for (size_t k = 0; k < POOL_ITEMS; k++)
            assert_int_equal(l->item_runs[i][k], k < l->items[i] ? 1 : 0);
        for (size_t j = 0; j < POOL_NODES; j++)
            if (l->waits[i][j] && active[j])
                assert_true(l->prep_start[i] > l->done_at[j]);
    }
    assert_true(l->max_running <= COMPOSE_PARALLEL);
}

static void test_pool_dependencies_and_bound(void **state)
{
    (void)state;
    struct pool_log l;
    bool active[POOL_NODES];
    for (size_t i = 0; i < POOL_NODES; i++)
        active[i] = true;
    struct m87_error *err = NULL;
    pool_graph(&l);
    assert_ok(pool_run(&l, true, active, &err), &err);
    assert_pool_order(&l, active);
    print_message("  %zu of the units ran on workers, at most %zu at a time\n", l.foreign,
                  l.max_running);

    /* inactive nodes are skipped, and do not hold up what waits for them */
    pool_graph(&l);
    active[4] = active[6] = false;
    assert_ok(pool_run(&l, true, active, &err), &err);
    assert_pool_order(&l, active);
}

static void test_pool_without_socket_runs_inline(void **state)
{
    (void)state;
    struct pool_log l;
    bool active[POOL_NODES];
    for (size_t i = 0; i < POOL_NODES; i++)
        active[i] = true;
    struct m87_error *err = NULL;
    pool_graph(&l);
    assert_ok(pool_run(&l, false, active, &err), &err);
    assert_pool_order(&l, active);
    assert_int_equal(l.foreign, 0);
    assert_int_equal(l.max_running, 1);
}

static void test_pool_failure_starts_no_dependent(void **state)
{
    (void)state;
    struct pool_log l;
    bool active[POOL_NODES];
    for (size_t i = 0; i < POOL_NODES; i++)
        active[i] = true;
    for (int on_socket = 0; on_socket < 2; on_socket++) {
        struct m87_error *err = NULL;
        pool_graph(&l);
        l.fail_node = 0;
        assert_int_equal(pool_run(&l, on_socket, active, &err), -1);
        assert_string_equal(err->msg, "node 0 failed");
        m87_error_clear(&err);
        /* 3 and 4 wait for 0, 5 and 6 for them */
        for (size_t i = 3; i <= 6; i++)
            assert_int_equal(l.prepared[i], 0);
    }
}

static void test_pool_cycle_ends(void **state)
{
    (void)state;
    struct pool_log l;
    bool active[POOL_NODES] = {true, true};
    struct m87_error *err = NULL;
    memset(&l, 0, sizeof(l));
    l.fail_node = -1;
    l.waits[0][1] = l.waits[1][0] = true;
    l.items[0] = l.items[1] = 2;
    assert_ok(pool_run(&l, true, active, &err), &err);
    assert_int_equal(l.prepared[0], 1);
    assert_int_equal(l.prepared[1], 1);
    /* the first in order goes first; the other waits for it */
    assert_true(l.prep_start[1] > l.done_at[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_config),
        cmocka_unit_test(test_body_host_config),
        cmocka_unit_test(test_body_unset_fields_left_out),
        cmocka_unit_test(test_body_healthcheck_disable_and_command_clear),
        cmocka_unit_test(test_body_ports),
        cmocka_unit_test(test_body_binds_and_mounts),
        cmocka_unit_test(test_body_anon_volume_kept),
        cmocka_unit_test(test_body_labels),
        cmocka_unit_test(test_body_endpoints),
        cmocka_unit_test(test_body_network_mode),
        cmocka_unit_test(test_body_kernel_fields),
        cmocka_unit_test(test_hash_covers_hooks),
        cmocka_unit_test(test_newer_api_fields),
        cmocka_unit_test(test_body_blkio_and_volume_driver),
        cmocka_unit_test(test_body_volumes_from_and_links),
        cmocka_unit_test(test_body_device_requests),
        cmocka_unit_test(test_hash_stable_and_canonical),
        cmocka_unit_test(test_hash_ignores_scheduling_fields),
        cmocka_unit_test(test_hash_changes_with_config),
        cmocka_unit_test(test_hash_format_is_versioned),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_order_and_select),
        cmocka_unit_test(test_pool_dependencies_and_bound),
        cmocka_unit_test(test_pool_without_socket_runs_inline),
        cmocka_unit_test(test_pool_failure_starts_no_dependent),
        cmocka_unit_test(test_pool_cycle_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
