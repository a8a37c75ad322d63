/* Unit tests of the compose loader (src/spec/spec-compose-*.c).
 *
 * Data-driven: fixtures/compose/good/NAME.yml (with NAME.override.yml as a second file and
 * NAME.env as the .env when they exist) is loaded and dumped, and must equal NAME.config.yaml
 * and/or NAME.config.json; fixtures/compose/bad/NAME.yml must fail with exactly NAME.err. Files
 * are loaded from inside their directory, by base name, so that messages read "NAME.yml:L:C: ...";
 * absolute paths of the fixture directory are written as $DIR. The environment is the fixed
 * table below, never the process's. Set M87_UPDATE_FIXTURES=1 to rewrite the expected dumps
 * (then review the diff). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "unit-util.h"

/* ---- helpers ------------------------------------------------------------------------------------
 */

static const char *const base_env[] = {
    "HOME=/home/user", "TAG=1.25", "SECRET_TOKEN=s3cr3t", "CONFIG_VALUE=from the environment",
    "EMPTY=",          NULL,
};

static const char *kv_lookup(void *ctx, const char *name)
{
    const struct m87_kvlist *l = ctx;
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->items[i].key, name) == 0)
            return l->items[i].value;
    return NULL;
}

/* The base environment plus "K=V" extras (a later one replaces). */
static void env_init(struct m87_kvlist *env, const char *const *extra)
{
    m87_kvlist_init(env);
    for (size_t i = 0; base_env[i]; i++) {
        const char *eq = strchr(base_env[i], '=');
        _cleanup_free_ char *k = m87_xstrndup(base_env[i], (size_t)(eq - base_env[i]));
        m87_kvlist_set(env, k, eq + 1);
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        const char *eq = strchr(extra[i], '=');
        _cleanup_free_ char *k = m87_xstrndup(extra[i], (size_t)(eq - extra[i]));
        m87_kvlist_set(env, k, eq + 1);
    }
}

static char *fixture_dir(const char *rel)
{
    _cleanup_free_ char *p = unit_fixture_path(rel);
    char buf[PATH_MAX];
    if (realpath(p, buf) == NULL)
        fail_msg("realpath %s: %s", p, strerror(errno));
    return m87_xstrdup(buf);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Replace every occurrence of dir in text by "$DIR". */
static char *subst_dir(const char *text, const char *dir)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    size_t n = strlen(dir);
    for (const char *s = text; *s;) {
        const char *hit = strstr(s, dir);
        if (hit == NULL) {
            m87_buf_append(&b, s, strlen(s), NULL);
            break;
        }
        m87_buf_append(&b, s, (size_t)(hit - s), NULL);
        m87_buf_append(&b, "$DIR", 4, NULL);
        s = hit + n;
    }
    return m87_buf_steal(&b);
}

/* Load NAME.yml (and NAME.override.yml) from inside dir. */
static struct spec_project *load_in(const char *dir, const char *name, struct m87_kvlist *env,
                                    struct m87_error **err)
{
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    _cleanup_free_ char *base = m87_xasprintf("%s.yml", name);
    _cleanup_free_ char *over = m87_xasprintf("%s.override.yml", name);
    _cleanup_free_ char *envf = m87_xasprintf("%s.env", name);
    const char *files[] = {base, over};
    struct spec_load_options o = {
        .files = files,
        .n_files = exists(over) ? 2 : 1,
        .env_file = exists(envf) ? envf : NULL,
        .lookup = kv_lookup,
        .lookup_ctx = env,
    };
    struct spec_project *p = spec_compose_load(&o, err);
    assert_int_equal(chdir(cwd), 0);
    return p;
}

static struct spec_project *load_good(const char *name, const char *const *extra_env)
{
    _cleanup_free_ char *dir = fixture_dir("compose/good");
    struct m87_kvlist env;
    env_init(&env, extra_env);
    struct m87_error *err = NULL;
    struct spec_project *p = load_in(dir, name, &env, &err);
    m87_kvlist_release(&env);
    if (p == NULL)
        fail_msg("%s: %s", name, err->msg);
    return p;
}

/* A scratch directory holding files given as name, text, name, text, ..., NULL. */
static char *scratch(const char *first, ...)
{
    char tmpl[] = "/tmp/m87-compose-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    va_list ap;
    va_start(ap, first);
    for (const char *name = first; name; name = va_arg(ap, const char *)) {
        const char *text = va_arg(ap, const char *);
        _cleanup_free_ char *path = m87_xasprintf("%s/%s", tmpl, name);
        _cleanup_free_ char *parent = m87_xstrdup(path);
        *strrchr(parent, '/') = '\0';
        mkdir(parent, 0755);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
    va_end(ap);
    return m87_xstrdup(tmpl);
}

static void scratch_remove(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *p = m87_xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        if (S_ISDIR(st.st_mode))
            scratch_remove(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Load TEXT as compose.yml in a scratch directory named "proj" (so the default project name is
 * "proj"), with opts tweaked by the caller. */
static struct spec_project *load_text(const char *text, struct spec_load_options *o,
                                      struct m87_error **err)
{
    _cleanup_free_ char *dir = scratch("proj/compose.yml", text, NULL);
    _cleanup_free_ char *file = m87_xasprintf("%s/proj/compose.yml", dir);
    const char *files[] = {file};
    struct m87_kvlist env;
    env_init(&env, NULL);
    struct spec_load_options def = {.lookup = kv_lookup, .lookup_ctx = &env};
    if (o == NULL)
        o = &def;
    o->files = files;
    o->n_files = 1;
    struct spec_project *p = spec_compose_load(o, err);
    if (p == NULL && *err) {
        _cleanup_free_ char *prefix = m87_xasprintf("%s/proj/", dir);
        char *m = subst_dir((*err)->msg, prefix);
        free((*err)->msg);
        (*err)->msg = m;
    }
    m87_kvlist_release(&env);
    scratch_remove(dir);
    return p;
}

/* The error message of loading TEXT; the scratch path reads "$DIR". */
static char *load_error(const char *text)
{
    struct m87_error *err = NULL;
    struct spec_project *p = load_text(text, NULL, &err);
    if (p)
        fail_msg("loaded, expected an error: %s", text);
    char *msg = m87_xstrdup(err->msg);
    m87_error_free(err);
    return msg;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_inputs(const char *dir, struct m87_strv *out)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".yml") == 0 &&
            strstr(e->d_name, ".override.") == NULL)
            m87_strv_add(out, e->d_name);
    }
    closedir(d);
    qsort(out->items, out->len, sizeof(char *), cmp_strp);
}

static char *read_text(const char *path)
{
    struct m87_error *err = NULL;
    char *t = m87_read_file(path, 1 << 20, NULL, &err);
    if (t == NULL)
        fail_msg("%s", err->msg);
    return t;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- data-driven fixtures -----------------------------------------------------------------------
 */

static bool check_dump(const char *dir, const char *name, const struct spec_project *p, bool json)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/%s.config.%s", dir, name, json ? "json" : "yaml");
    bool update = getenv("M87_UPDATE_FIXTURES") != NULL;
    if (!exists(path) && (!update || json))
        return false;
    _cleanup_free_ char *raw = spec_project_dump(p, json);
    _cleanup_free_ char *got = subst_dir(raw, dir);
    if (update) {
        write_text(path, got);
        return true;
    }
    _cleanup_free_ char *want = read_text(path);
    if (strcmp(got, want) != 0)
        fail_msg("%s: %s dump differs:\n--- got\n%s--- want\n%s", name, json ? "JSON" : "YAML", got,
                 want);
    return true;
}

static void test_good_fixtures(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = fixture_dir("compose/good");
    struct m87_strv names;
    m87_strv_init(&names);
    list_inputs(dir, &names);
    assert_true(names.len >= 12);
    for (size_t i = 0; i < names.len; i++) {
        _cleanup_free_ char *name = m87_xstrndup(names.items[i], strlen(names.items[i]) - 4);
        const char *extra[] = {"COMPOSE_PROFILES=db", NULL};
        struct spec_project *p = load_good(name, strcmp(name, "full") == 0 ? extra : NULL);
        bool yaml = check_dump(dir, name, p, false);
        bool json = check_dump(dir, name, p, true);
        if (!yaml && !json)
            fail_msg("%s: no %s.config.yaml or %s.config.json", name, name, name);
        spec_project_free(p);
    }
    m87_strv_release(&names);
}

static void test_bad_fixtures(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = fixture_dir("compose/bad");
    struct m87_strv names;
    m87_strv_init(&names);
    list_inputs(dir, &names);
    assert_true(names.len >= 30);
    for (size_t i = 0; i < names.len; i++) {
        _cleanup_free_ char *name = m87_xstrndup(names.items[i], strlen(names.items[i]) - 4);
        struct m87_kvlist env;
        env_init(&env, NULL);
        struct m87_error *err = NULL;
        struct spec_project *p = load_in(dir, name, &env, &err);
        m87_kvlist_release(&env);
        if (p)
            fail_msg("%s: loaded, expected an error", name);
        _cleanup_free_ char *got = subst_dir(err->msg, dir);
        _cleanup_free_ char *path = m87_xasprintf("%s/%s.err", dir, name);
        _cleanup_free_ char *want = read_text(path);
        size_t len = strlen(want);
        if (len && want[len - 1] == '\n')
            want[len - 1] = '\0';
        if (strcmp(got, want) != 0)
            fail_msg("%s: message differs:\n got: %s\nwant: %s", name, got, want);
        enum m87_errcode code = m87_error_code(err);
        assert_true(code == M87_E_INVAL || code == M87_E_PARSE || code == M87_E_IO);
        m87_error_free(err);
    }
    m87_strv_release(&names);
}

/* ---- the rich file, field by field --------------------------------------------------------------
 */

static const struct spec_service *svc(const struct spec_project *p, const char *name)
{
    const struct spec_service *s = spec_project_service(p, name);
    if (s == NULL)
        fail_msg("no service %s", name);
    return s;
}

static const char *env_of(const struct spec_service *s, const char *key)
{
    assert_true(m87_kvlist_has(&s->environment, key));
    return m87_kvlist_get(&s->environment, key);
}

static void assert_strv(const struct m87_strv *v, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    if (v->len != n)
        fail_msg("%zu items, expected %zu (first %s)", v->len, n, v->len ? v->items[0] : "-");
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v->items[i], want[i]);
}

static void full_process(const struct spec_project *p, const char *dir)
{
    const struct spec_service *w = svc(p, "web");
    assert_string_equal(w->image, "registry.local/web:1.25");
    assert_string_equal(w->platform, "linux/amd64");
    assert_int_equal(w->pull_policy, SPEC_PULL_ALWAYS);
    assert_true(w->has_command);
    assert_strv(&w->command, (const char *[]){"./serve", "--name", "my app", "a b", "c d", NULL});
    assert_true(w->has_entrypoint);
    assert_strv(&w->entrypoint, (const char *[]){"/bin/tini", "--", NULL});
    assert_string_equal(env_of(w, "LOG_LEVEL"), "info");
    assert_string_equal(env_of(w, "FROM_FILE"), "file value");
    assert_string_equal(env_of(w, "OVERRIDDEN"), "from compose");
    assert_string_equal(env_of(w, "EXTRA"), "info-extra");
    assert_string_equal(env_of(w, "PLAIN"), "1");
    assert_string_equal(env_of(w, "TAG"), "1.25"); /* a bare name, from the environment */
    assert_null(env_of(w, "HOME_DIR"));
    assert_null(env_of(w, "NOT_SET"));
    assert_int_equal(w->env_files.len, 2);
    _cleanup_free_ char *f0 = m87_xasprintf("%s/conf/web.env", dir);
    assert_string_equal(w->env_files.items[0], f0);
    assert_string_equal(w->user, "1000:1000");
    assert_string_equal(w->working_dir, "/srv");
    assert_string_equal(w->hostname, "web");
    assert_string_equal(w->domainname, "example.com");
    assert_false(w->read_only); /* a read_only service cannot take the environment secret */
    assert_false(w->privileged);
    assert_true(w->tty);
    assert_true(w->stdin_open);
    assert_int_equal(w->init, 1);
    assert_string_equal(w->stop_signal, "SIGINT");
    assert_int_equal(w->stop_grace_ns, INT64_C(60000000000));
    assert_strv(&w->cap_add, (const char *[]){"NET_ADMIN", NULL});
    assert_strv(&w->cap_drop, (const char *[]){"ALL", NULL});
    assert_strv(&w->security_opt, (const char *[]){"no-new-privileges:true", NULL});
    assert_strv(&w->dns, (const char *[]){"8.8.8.8", NULL});
    assert_strv(&w->dns_search, (const char *[]){"example.com", NULL});
    assert_strv(&w->dns_opt, (const char *[]){"ndots:2", NULL});
    assert_strv(&w->extra_hosts,
                (const char *[]){"gateway:host-gateway", "db.local:10.0.0.5", NULL});
    assert_string_equal(m87_kvlist_get(&w->labels, "com.example.team"), "web");
    assert_string_equal(m87_kvlist_get(&w->labels, "com.example.empty"), "");
    assert_string_equal(m87_kvlist_get(&w->sysctls, "net.core.somaxconn"), "1024");
    assert_string_equal(w->log_driver, "json-file");
    assert_string_equal(m87_kvlist_get(&w->log_options, "max-size"), "10m");
    assert_string_equal(m87_kvlist_get(&w->log_options, "max-file"), "3");
    assert_int_equal(w->pos.line, 4);
    assert_int_equal(w->pos.column, 3);
    assert_string_equal(w->pos.file, "full.yml");
}

static void full_resources(const struct spec_project *p)
{
    const struct spec_service *w = svc(p, "web");
    assert_string_equal(w->restart, "on-failure");
    assert_int_equal(w->restart_max, 5);
    assert_int_equal(w->replicas, 2);
    assert_int_equal(w->mem_limit, INT64_C(1073741824));
    assert_int_equal(w->memswap_limit, INT64_C(2147483648));
    assert_int_equal(w->mem_reservation, INT64_C(268435456));
    assert_int_equal(w->nano_cpus, INT64_C(1500000000));
    assert_int_equal(w->pids_limit, 200);
    assert_int_equal(w->cpu_shares, 512);
    assert_string_equal(w->cpuset, "0,1");
    assert_int_equal(w->shm_size, INT64_C(134217728));
    assert_true(w->has_healthcheck);
    assert_false(w->healthcheck.disable);
    assert_strv(&w->healthcheck.test,
                (const char *[]){"CMD", "curl", "-f", "http://localhost/health", NULL});
    assert_int_equal(w->healthcheck.interval_ns, INT64_C(90000000000));
    assert_int_equal(w->healthcheck.timeout_ns, INT64_C(10000000000));
    assert_int_equal(w->healthcheck.start_period_ns, INT64_C(500000000));
    assert_int_equal(w->healthcheck.retries, 5);
    assert_int_equal(w->n_ulimits, 2);
    assert_string_equal(w->ulimits[0].name, "nofile");
    assert_int_equal(w->ulimits[0].soft, 1024);
    assert_int_equal(w->ulimits[0].hard, 2048);
    assert_string_equal(w->ulimits[1].name, "nproc");
    assert_int_equal(w->ulimits[1].soft, 512);
    assert_int_equal(w->ulimits[1].hard, 512);
    assert_int_equal(w->n_devices, 2);
    assert_string_equal(w->devices[0].host_path, "/dev/fuse");
    assert_string_equal(w->devices[0].container_path, "/dev/fuse");
    assert_string_equal(w->devices[0].permissions, "rwm");
    assert_string_equal(w->devices[1].container_path, "/dev/audio");
    assert_string_equal(w->devices[1].permissions, "rw");
    const struct spec_service *db = svc(p, "db");
    assert_strv(&db->healthcheck.test, (const char *[]){"CMD-SHELL", "pg_isready", NULL});
    assert_int_equal(db->healthcheck.interval_ns, SPEC_UNSET);
    assert_int_equal(db->healthcheck.retries, SPEC_UNSET);
    assert_null(db->restart);
    assert_int_equal(db->mem_limit, SPEC_UNSET);
    assert_int_equal(db->init, -1);
    assert_int_equal(db->replicas, 1);
    assert_string_equal(svc(p, "migrate")->restart, "no");
    assert_int_equal(svc(p, "cache")->replicas, 3);
}

static void full_ports(const struct spec_project *p)
{
    const struct spec_service *w = svc(p, "web");
    assert_int_equal(w->n_ports, 3);
    assert_int_equal(w->ports[0].target, 80);
    assert_string_equal(w->ports[0].published, "8080");
    assert_null(w->ports[0].host_ip);
    assert_string_equal(w->ports[0].protocol, "tcp");
    assert_true(w->ports[0].publish);
    assert_int_equal(w->ports[1].target, 443);
    assert_string_equal(w->ports[1].host_ip, "127.0.0.1");
    assert_string_equal(w->ports[1].protocol, "udp");
    assert_int_equal(w->ports[2].target, 9000);
    assert_string_equal(w->ports[2].published, "9000-9010");
    assert_string_equal(w->ports[2].mode, "host");
    assert_string_equal(w->ports[2].name, "admin");
    assert_string_equal(w->ports[2].app_protocol, "http");
    assert_strv(&w->expose, (const char *[]){"3000/tcp", "4000/udp", "4001/udp", NULL});
}

static void full_mounts(const struct spec_project *p, const char *dir)
{
    const struct spec_service *w = svc(p, "web");
    assert_int_equal(w->n_mounts, 6);
    const struct spec_mount *m = w->mounts;
    _cleanup_free_ char *data = m87_xasprintf("%s/data", dir);
    assert_int_equal(m[0].type, SPEC_MOUNT_BIND);
    assert_string_equal(m[0].source, data);
    assert_string_equal(m[0].target, "/srv/data");
    assert_true(m[0].read_only);
    assert_true(m[0].create_host_path);
    assert_false(m[0].long_syntax);
    assert_int_equal(m[1].type, SPEC_MOUNT_VOLUME);
    assert_string_equal(m[1].source, "cache");
    assert_true(m[1].nocopy);
    assert_int_equal(m[2].type, SPEC_MOUNT_ANON);
    assert_null(m[2].source);
    assert_string_equal(m[2].target, "/scratch");
    assert_string_equal(m[3].source, "/home/user/keys");
    assert_string_equal(m[3].selinux, "z");
    assert_string_equal(m[3].propagation, "rshared");
    assert_false(m[3].read_only);
    assert_true(m[4].long_syntax);
    assert_false(m[4].create_host_path);
    assert_string_equal(m[4].propagation, "rprivate");
    assert_int_equal(m[5].type, SPEC_MOUNT_TMPFS);
    assert_int_equal(m[5].tmpfs_size, INT64_C(67108864));
    assert_int_equal(m[5].tmpfs_mode, 01777);
    assert_int_equal(w->tmpfs.len, 2);
    assert_string_equal(m87_kvlist_get(&w->tmpfs, "/tmp"), "size=64m,mode=1777");
    assert_string_equal(m87_kvlist_get(&w->tmpfs, "/run"), "");
}

static void full_links(const struct spec_project *p)
{
    const struct spec_service *w = svc(p, "web");
    assert_int_equal(w->n_networks, 2);
    assert_string_equal(w->networks[0].key, "front");
    assert_int_equal(w->networks[0].priority, 100);
    assert_string_equal(w->networks[0].ipv4_address, "172.28.0.10");
    assert_strv(&w->networks[0].aliases, (const char *[]){"www", "web.local", NULL});
    assert_string_equal(w->networks[1].key, "back");
    assert_int_equal(w->networks[1].aliases.len, 0);
    assert_null(w->network_mode);
    assert_int_equal(w->n_depends, 3);
    assert_string_equal(w->depends[0].service, "db");
    assert_int_equal(w->depends[0].condition, SPEC_DEPENDS_HEALTHY);
    assert_true(w->depends[0].restart);
    assert_true(w->depends[0].required);
    assert_int_equal(w->depends[1].condition, SPEC_DEPENDS_COMPLETED);
    assert_false(w->depends[1].restart);
    assert_int_equal(w->depends[2].condition, SPEC_DEPENDS_STARTED);
    assert_false(w->depends[2].required);
    const struct spec_service *m = svc(p, "migrate");
    assert_string_equal(m->network_mode, "service:db");
    assert_int_equal(m->n_depends, 1); /* implied by network_mode */
    assert_string_equal(m->depends[0].service, "db");
    assert_int_equal(w->n_configs, 2);
    assert_string_equal(w->configs[0].source, "app_conf");
    assert_string_equal(w->configs[0].target, "/app_conf");
    assert_int_equal(w->configs[0].mode, SPEC_UNSET);
    assert_string_equal(w->configs[1].target, "/etc/app.conf");
    assert_int_equal(w->configs[1].mode, 0440);
    assert_int_equal(w->n_secrets, 2);
    assert_string_equal(w->secrets[0].target, "/run/secrets/token");
    assert_string_equal(w->secrets[1].target, "/etc/key");
    assert_string_equal(w->secrets[1].uid, "1000");
    assert_string_equal(w->secrets[1].gid, "1000");
    assert_int_equal(w->secrets[1].mode, 0400);
}

static void full_top(const struct spec_project *p, const char *dir)
{
    assert_string_equal(p->name, "full_stack");
    assert_string_equal(p->working_dir, dir);
    assert_int_equal(p->config_files.len, 1);
    _cleanup_free_ char *cf = m87_xasprintf("%s/full.yml", dir);
    assert_string_equal(p->config_files.items[0], cf);
    assert_null(p->env_file);
    assert_int_equal(p->n_services, 4);
    assert_int_equal(p->disabled_services.len, 0);
    /* unused networks, volumes and configs are dropped; no service joins "default" */
    assert_int_equal(p->n_networks, 2);
    const struct spec_network *front = spec_project_network(p, "front");
    assert_non_null(front);
    assert_string_equal(front->name, "full_stack_front");
    assert_string_equal(front->driver, "bridge");
    assert_int_equal(front->n_ipam_pools, 1);
    assert_string_equal(front->ipam_pools[0].subnet, "172.28.0.0/16");
    assert_string_equal(front->ipam_pools[0].gateway, "172.28.0.1");
    assert_true(spec_project_network(p, "back")->internal);
    assert_null(spec_project_network(p, "unused"));
    assert_null(spec_project_network(p, "default"));
    assert_int_equal(p->n_volumes, 1);
    const struct spec_volume *cache = spec_project_volume(p, "cache");
    assert_string_equal(cache->name, "full_stack_cache");
    assert_string_equal(m87_kvlist_get(&cache->labels, "com.example.purpose"), "cache");
    assert_int_equal(p->n_configs, 1);
    assert_string_equal(p->configs[0].key, "app_conf");
    assert_int_equal(p->configs[0].source, SPEC_SOURCE_FILE);
    _cleanup_free_ char *conf = m87_xasprintf("%s/conf/app.conf", dir);
    assert_string_equal(p->configs[0].file, conf);
    assert_int_equal(p->n_secrets, 2);
    assert_int_equal(p->secrets[1].source, SPEC_SOURCE_ENVIRONMENT);
    assert_string_equal(p->secrets[1].environment, "SECRET_TOKEN");
    assert_string_equal(p->secrets[1].content, "s3cr3t");
    assert_int_equal(p->warnings.len, 1);
    assert_string_equal(p->warnings.items[0], "services.web.configs[1]: uid, gid and mode are "
                                              "ignored for a file source (bind mount)");
}

static void test_full(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = fixture_dir("compose/good");
    struct spec_project *p = load_good("full", (const char *[]){"COMPOSE_PROFILES=db", NULL});
    full_process(p, dir);
    full_resources(p);
    full_ports(p);
    full_mounts(p, dir);
    full_links(p);
    full_top(p, dir);
    spec_project_free(p);
}

/* ---- extends and include ------------------------------------------------------------------------
 */

static void test_extends_include_files(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = fixture_dir("compose/good");
    struct spec_project *p = load_good("extends", NULL);
    assert_int_equal(p->extra_files.len, 1); /* read once for the chain through it */
    _cleanup_free_ char *base = m87_xasprintf("%s/extends/base.yml", dir);
    assert_string_equal(p->extra_files.items[0], base);
    const struct spec_service *w = svc(p, "worker");
    assert_int_equal(w->n_depends, 1); /* inherited, as compose v2 */
    assert_int_equal(w->n_ports, 0);   /* !reset in the extending service */
    spec_project_free(p);

    /* the environment wins over the included project's env file */
    p = load_good("include", (const char *[]){"CACHE_TAG=8", NULL});
    assert_string_equal(svc(p, "cache")->image, "redis:8");
    assert_string_equal(svc(p, "db")->image, "busybox:1.36");
    _cleanup_free_ char *f1 = m87_xasprintf("%s/include/db/.env", dir);
    _cleanup_free_ char *f2 = m87_xasprintf("%s/include/db/compose.yml", dir);
    _cleanup_free_ char *f3 = m87_xasprintf("%s/include/cache.env", dir);
    _cleanup_free_ char *f4 = m87_xasprintf("%s/include/cache.yml", dir);
    assert_strv(&p->extra_files, (const char *[]){f1, f2, f3, f4, NULL});
    spec_project_free(p);
}

/* Two included projects extend the same file, each with its own variables: each reads it with its
 * own. */
static void test_include_extends_own_env(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = scratch(
        "compose.yml", "include: [a/compose.yml, b/compose.yml]\n", "common.yml",
        "services:\n  base:\n    image: busybox:${V}\n", "a/compose.yml",
        "services:\n  sa:\n    extends: {file: ../common.yml, service: base}\n", "a/.env",
        "V=a\n", "b/compose.yml",
        "services:\n  sb:\n    extends: {file: ../common.yml, service: base}\n", "b/.env",
        "V=b\n", NULL);
    struct m87_kvlist env;
    env_init(&env, NULL);
    struct m87_error *err = NULL;
    struct spec_load_options o = {.project_dir = dir, .lookup = kv_lookup, .lookup_ctx = &env};
    struct spec_project *p = spec_compose_load(&o, &err);
    if (p == NULL)
        fail_msg("%s", err->msg);
    assert_string_equal(svc(p, "sa")->image, "busybox:a");
    assert_string_equal(svc(p, "sb")->image, "busybox:b");
    spec_project_free(p);
    m87_kvlist_release(&env);
    scratch_remove(dir);
}

/* ---- merging two files --------------------------------------------------------------------------
 */

static void test_merge(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = fixture_dir("compose/good");
    struct spec_project *p = load_good("merge", NULL);
    assert_int_equal(p->config_files.len, 2);
    const struct spec_service *w = svc(p, "web");
    assert_string_equal(w->image, "web:2");                               /* scalar */
    assert_strv(&w->command, (const char *[]){"serve", "--debug", NULL}); /* replaced */
    assert_string_equal(env_of(w, "A"), "base");                          /* by key */
    assert_string_equal(env_of(w, "B"), "override");
    assert_string_equal(env_of(w, "C"), "new");
    assert_string_equal(m87_kvlist_get(&w->labels, "tier"), "back");
    assert_string_equal(m87_kvlist_get(&w->labels, "keep"), "yes");
    assert_int_equal(w->n_ports, 3); /* appended, the repeated 8080:80 once */
    assert_string_equal(w->ports[0].published, "8080");
    assert_string_equal(w->ports[1].published, "9090");
    assert_string_equal(w->ports[2].published, "8443");
    assert_strv(&w->expose, (const char *[]){"3000/tcp", "3001/tcp", NULL});
    assert_int_equal(w->n_mounts, 2); /* /data replaced in place by target */
    _cleanup_free_ char *other = m87_xasprintf("%s/other", dir);
    assert_string_equal(w->mounts[0].source, other);
    assert_true(w->mounts[0].read_only);
    assert_string_equal(w->mounts[1].source, "logs");
    assert_int_equal(w->n_networks, 2);
    assert_string_equal(w->networks[0].key, "back");
    assert_string_equal(w->networks[1].key, "front");
    assert_strv(&w->networks[1].aliases, (const char *[]){"www", NULL});
    assert_int_equal(w->n_depends, 2);
    assert_string_equal(w->depends[0].service, "db");
    assert_int_equal(w->depends[0].condition, SPEC_DEPENDS_STARTED);
    assert_string_equal(w->depends[1].service, "cache");
    assert_int_equal(w->depends[1].condition, SPEC_DEPENDS_HEALTHY);
    assert_strv(&w->dns, (const char *[]){"1.1.1.1", "8.8.8.8", NULL});
    assert_strv(&w->cap_add, (const char *[]){"NET_ADMIN", "SYS_TIME", NULL});
    assert_string_equal(w->log_driver, "json-file"); /* same driver: options merged */
    assert_string_equal(m87_kvlist_get(&w->log_options, "max-size"), "1m");
    assert_string_equal(m87_kvlist_get(&w->log_options, "max-file"), "2");
    assert_int_equal(w->ulimits[0].soft, 300); /* replaced whole */
    assert_int_equal(w->ulimits[0].hard, 300);
    assert_strv(&w->healthcheck.test, (const char *[]){"CMD", "false", NULL});
    assert_int_equal(w->healthcheck.interval_ns, INT64_C(10000000000));
    assert_null(svc(p, "db")->restart); /* !reset */
    assert_non_null(spec_project_network(p, "back"));
    spec_project_free(p);
}

static void test_merge_logging_driver_change(void **state)
{
    (void)state;
    _cleanup_free_ char *dir =
        scratch("a.yml",
                "services:\n  s:\n    image: x\n    logging:\n"
                "      driver: json-file\n      options: {max-size: 1m}\n",
                "b.yml", "services:\n  s:\n    logging:\n      driver: syslog\n", NULL);
    _cleanup_free_ char *a = m87_xasprintf("%s/a.yml", dir);
    _cleanup_free_ char *b = m87_xasprintf("%s/b.yml", dir);
    const char *files[] = {a, b};
    struct m87_kvlist env;
    env_init(&env, NULL);
    struct spec_load_options o = {
        .files = files, .n_files = 2, .lookup = kv_lookup, .lookup_ctx = &env};
    struct m87_error *err = NULL;
    struct spec_project *p = spec_compose_load(&o, &err);
    assert_non_null(p);
    assert_string_equal(p->services[0].log_driver, "syslog");
    assert_int_equal(p->services[0].log_options.len, 0); /* another driver: replaced */
    spec_project_free(p);
    m87_kvlist_release(&env);
    scratch_remove(dir);
}

/* ipam pools merge by subnet: the same subnet merges its fields, another one is added. */
static void test_merge_ipam_pools(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = scratch("a.yml",
                                       "services:\n  s:\n    image: x\n    networks: [front]\n"
                                       "networks:\n  front:\n    ipam:\n      config:\n"
                                       "        - {subnet: 172.28.0.0/16, gateway: 172.28.0.1}\n",
                                       "b.yml",
                                       "networks:\n  front:\n    ipam:\n      config:\n"
                                       "        - {subnet: 172.28.0.0/16, gateway: 172.28.0.254}\n"
                                       "        - {subnet: 10.5.0.0/24}\n",
                                       NULL);
    _cleanup_free_ char *a = m87_xasprintf("%s/a.yml", dir);
    _cleanup_free_ char *b = m87_xasprintf("%s/b.yml", dir);
    const char *files[] = {a, b};
    struct m87_kvlist env;
    env_init(&env, NULL);
    struct spec_load_options o = {
        .files = files, .n_files = 2, .lookup = kv_lookup, .lookup_ctx = &env};
    struct m87_error *err = NULL;
    struct spec_project *p = spec_compose_load(&o, &err);
    if (p == NULL)
        fail_msg("%s", err->msg);
    const struct spec_network *front = spec_project_network(p, "front");
    assert_non_null(front);
    assert_int_equal(front->n_ipam_pools, 2);
    assert_string_equal(front->ipam_pools[0].subnet, "172.28.0.0/16");
    assert_string_equal(front->ipam_pools[0].gateway, "172.28.0.254");
    assert_string_equal(front->ipam_pools[1].subnet, "10.5.0.0/24");
    assert_null(front->ipam_pools[1].gateway);
    spec_project_free(p);
    m87_kvlist_release(&env);
    scratch_remove(dir);
}

/* ---- interpolation ------------------------------------------------------------------------------
 */

static void test_interpolation(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = fixture_dir("compose/good");
    struct spec_project *p = load_good("interpolation", NULL);
    _cleanup_free_ char *envf = m87_xasprintf("%s/interpolation.env", dir);
    assert_string_equal(p->env_file, envf);
    assert_string_equal(p->name, "interp");
    const struct spec_service *a = svc(p, "app");
    assert_string_equal(a->image, "busybox:1.25"); /* the environment wins over .env */
    assert_string_equal(env_of(a, "FROM_DOTENV"), "dotenv value");
    assert_string_equal(env_of(a, "PROCESS_WINS"), "1.25");
    assert_string_equal(env_of(a, "DEFAULTED"), "fallback");
    assert_string_equal(env_of(a, "EMPTY_DEFAULT"), "was empty");
    assert_string_equal(env_of(a, "EMPTY_DASH"), "");
    assert_string_equal(env_of(a, "ALT"), "has tag");
    assert_string_equal(env_of(a, "NESTED"), "dotenv value");
    assert_string_equal(env_of(a, "DOLLAR"), "$HOME");
    assert_string_equal(env_of(a, "BARE_FROM_DOTENV"), "bare");
    assert_string_equal(env_of(a, "PLAIN_UNSET"), "");
    assert_strv(&a->command, (const char *[]){"echo", "hello", "dotenv", "value", NULL});
    assert_string_equal(a->ports[0].published, "8081");
    assert_int_equal(a->mem_limit, 64 << 20);
    assert_int_equal(p->warnings.len, 1);
    assert_string_equal(p->warnings.items[0],
                        "the \"UNSET_PLAIN\" variable is not set, defaulting to a blank string");
    spec_project_free(p);

    /* from the environment: PROJECT and MEM set, a quoted number read as an integer */
    p = load_good("interpolation",
                  (const char *[]){"PROJECT=Other", "MEM=1g", "PORT=9000", "UNSET_PLAIN=x", NULL});
    assert_string_equal(p->name, "other");
    assert_int_equal(svc(p, "app")->mem_limit, INT64_C(1) << 30);
    assert_string_equal(svc(p, "app")->ports[0].published, "9000");
    assert_int_equal(p->warnings.len, 0);
    spec_project_free(p);
}

static void test_interpolated_types(void **state)
{
    (void)state;
    struct m87_kvlist env;
    env_init(&env, (const char *[]){"N=3", "B=true", "BAD=x", NULL});
    struct spec_load_options o = {.lookup = kv_lookup, .lookup_ctx = &env};
    struct m87_error *err = NULL;
    struct spec_project *p = load_text("services:\n  s:\n    image: x\n    scale: ${N}\n"
                                       "    tty: ${B}\n",
                                       &o, &err);
    assert_non_null(p);
    assert_int_equal(p->services[0].replicas, 3);
    assert_true(p->services[0].tty);
    spec_project_free(p);
    p = load_text("services:\n  s:\n    image: x\n    scale: ${BAD}\n", &o, &err);
    assert_null(p);
    assert_string_equal(err->msg,
                        "$DIRcompose.yml:4:12: services.s.scale: expected an integer, got 'x'");
    m87_error_clear(&err);
    m87_kvlist_release(&env);
}

/* ---- profiles -----------------------------------------------------------------------------------
 */

static void test_profiles(void **state)
{
    (void)state;
    struct spec_project *p = load_good("profiles", NULL);
    assert_int_equal(p->n_services, 2);
    assert_string_equal(p->services[0].name, "app");
    assert_string_equal(p->services[1].name, "tools_free");
    assert_strv(&p->disabled_services, (const char *[]){"debug", NULL});
    assert_int_equal(p->services[0].n_depends, 0); /* optional and disabled: dropped */
    assert_null(spec_project_network(p, "debugnet"));
    assert_non_null(spec_project_network(p, "default"));
    assert_int_equal(p->warnings.len, 1);
    spec_project_free(p);

    p = load_good("profiles", (const char *[]){"COMPOSE_PROFILES=other, debug", NULL});
    assert_int_equal(p->n_services, 3);
    assert_int_equal(p->disabled_services.len, 0);
    assert_int_equal(svc(p, "app")->n_depends, 1);
    assert_non_null(spec_project_network(p, "debugnet"));
    spec_project_free(p);

    p = load_good("profiles", (const char *[]){"COMPOSE_PROFILES=*", NULL});
    assert_int_equal(p->n_services, 3);
    spec_project_free(p);

    /* the option wins over COMPOSE_PROFILES */
    _cleanup_free_ char *dir = fixture_dir("compose/good");
    struct m87_kvlist env;
    env_init(&env, (const char *[]){"COMPOSE_PROFILES=debug", NULL});
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    const char *files[] = {"profiles.yml"};
    const char *profiles[] = {"nothing"};
    struct spec_load_options o = {.files = files,
                                  .n_files = 1,
                                  .profiles = profiles,
                                  .n_profiles = 1,
                                  .lookup = kv_lookup,
                                  .lookup_ctx = &env};
    struct m87_error *err = NULL;
    p = spec_compose_load(&o, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(p);
    assert_int_equal(p->n_services, 2);
    spec_project_free(p);
    m87_kvlist_release(&env);
}

static void test_profile_required_dependency(void **state)
{
    (void)state;
    _cleanup_free_ char *msg = load_error("services:\n  app:\n    image: x\n    depends_on: [db]\n"
                                          "  db:\n    image: x\n    profiles: [db]\n");
    assert_string_equal(msg, "$DIRcompose.yml:4:18: services.app.depends_on: service 'db' is "
                             "not enabled by the active profiles");
}

/* ---- dependency order ---------------------------------------------------------------------------
 */

static void test_order(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spec_project *p = load_text("services:\n"
                                       "  web:\n    image: x\n    depends_on: [api, cache]\n"
                                       "  api:\n    image: x\n    depends_on: [db]\n"
                                       "  lone:\n    image: x\n"
                                       "  cache:\n    image: x\n"
                                       "  db:\n    image: x\n"
                                       "  side:\n    image: x\n    network_mode: service:web\n",
                                       NULL, &err);
    assert_non_null(p);
    size_t order[6];
    spec_project_order(p, order);
    const char *want[] = {"lone", "cache", "db", "api", "web", "side"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(p->services[order[i]].name, want[i]);
    spec_project_free(p);
}

static void test_cycle(void **state)
{
    (void)state;
    _cleanup_free_ char *msg = load_error("services:\n"
                                          "  a:\n    image: x\n    depends_on: [b]\n"
                                          "  b:\n    image: x\n    depends_on: [c]\n"
                                          "  c:\n    image: x\n    depends_on: [a]\n");
    assert_string_equal(msg, "$DIRcompose.yml:4:18: services.a.depends_on: dependency cycle: "
                             "a -> b -> c -> a");
    _cleanup_free_ char *msg2 = load_error("services:\n"
                                           "  a:\n    image: x\n"
                                           "  b:\n    image: x\n    network_mode: service:c\n"
                                           "  c:\n    image: x\n    depends_on: [b]\n");
    assert_string_equal(msg2, "$DIRcompose.yml:6:19: services.b.depends_on: dependency cycle: "
                              "b -> c -> b");
}

/* ---- project name and files -------------------------------------------------------------------
 */

static void test_project_name(void **state)
{
    (void)state;
    struct m87_kvlist env;
    env_init(&env, NULL);
    struct spec_load_options o = {.lookup = kv_lookup, .lookup_ctx = &env};
    struct m87_error *err = NULL;
    const char *text = "name: From_File\nservices:\n  s:\n    image: x\n";
    struct spec_project *p = load_text("services:\n  s:\n    image: x\n", &o, &err);
    assert_string_equal(p->name, "proj"); /* the directory */
    assert_non_null(spec_project_network(p, "default"));
    assert_string_equal(spec_project_network(p, "default")->name, "proj_default");
    spec_project_free(p);
    p = load_text(text, &o, &err);
    assert_string_equal(p->name, "from_file");
    spec_project_free(p);
    m87_kvlist_set(&env, "COMPOSE_PROJECT_NAME", "from-env");
    p = load_text(text, &o, &err);
    assert_string_equal(p->name, "from-env");
    spec_project_free(p);
    o.project_name = "given_1";
    p = load_text(text, &o, &err);
    assert_string_equal(p->name, "given_1");
    spec_project_free(p);
    o.project_name = "Bad Name";
    assert_null(load_text(text, &o, &err));
    assert_string_equal(err->msg, "invalid project name 'Bad Name' (given): it must consist only "
                                  "of lower case letters, digits, '-' and '_', and start with a "
                                  "letter or digit");
    m87_error_clear(&err);
    m87_kvlist_release(&env);

    char *n = spec_normalize_project_name("__My.App-2_");
    assert_string_equal(n, "myapp-2_");
    free(n);
    n = spec_normalize_project_name("-_!");
    assert_string_equal(n, "");
    free(n);
}

static void test_discovery(void **state)
{
    (void)state;
    _cleanup_free_ char *dir =
        scratch("My Proj/docker-compose.yml", "services:\n  s:\n    image: base\n",
                "My Proj/compose.yaml", "services:\n  s:\n    image: winner\n",
                "My Proj/compose.override.yml", "services:\n  s:\n    tty: true\n", "My Proj/.env",
                "COMPOSE_PROJECT_NAME=\nX=1\n", "My Proj/sub/keep", "", NULL);
    struct m87_kvlist env;
    env_init(&env, NULL);
    _cleanup_free_ char *sub = m87_xasprintf("%s/My Proj/sub", dir);
    _cleanup_free_ char *top = m87_xasprintf("%s/My Proj", dir);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(sub), 0);
    struct spec_load_options o = {.lookup = kv_lookup, .lookup_ctx = &env};
    struct m87_error *err = NULL;
    struct spec_project *p = spec_compose_load(&o, &err);
    assert_int_equal(chdir(cwd), 0);
    if (p == NULL)
        fail_msg("%s", err->msg);
    assert_string_equal(p->name, "myproj");
    assert_string_equal(p->working_dir, top);
    assert_int_equal(p->config_files.len, 2);
    _cleanup_free_ char *f0 = m87_xasprintf("%s/compose.yaml", top);
    _cleanup_free_ char *f1 = m87_xasprintf("%s/compose.override.yml", top);
    assert_string_equal(p->config_files.items[0], f0);
    assert_string_equal(p->config_files.items[1], f1);
    assert_string_equal(p->services[0].image, "winner");
    assert_true(p->services[0].tty);
    _cleanup_free_ char *envf = m87_xasprintf("%s/.env", top);
    assert_string_equal(p->env_file, envf);
    assert_int_equal(p->warnings.len, 1); /* two default names */
    spec_project_free(p);

    /* project_dir given, nothing found up to / */
    o.project_dir = "/proc/self/fdinfo";
    assert_null(spec_compose_load(&o, &err));
    assert_int_equal(m87_error_code(err), M87_E_IO);
    assert_string_equal(err->msg, "no compose file (compose.yaml, compose.yml, docker-compose.yml,"
                                  " docker-compose.yaml) in '/proc/self/fdinfo' or its parents");
    m87_error_clear(&err);

    /* an explicit env file must exist */
    _cleanup_free_ char *file = m87_xasprintf("%s/compose.yaml", top);
    const char *files[] = {file};
    struct spec_load_options o2 = {.files = files,
                                   .n_files = 1,
                                   .env_file = "/nonexistent/.env",
                                   .lookup = kv_lookup,
                                   .lookup_ctx = &env};
    assert_null(spec_compose_load(&o2, &err));
    assert_int_equal(m87_error_code(err), M87_E_IO);
    assert_string_equal(err->msg, "open '/nonexistent/.env': No such file or directory");
    m87_error_clear(&err);
    m87_kvlist_release(&env);
    scratch_remove(dir);
}

/* ---- command words ------------------------------------------------------------------------------
 */

static void check_words(const char *yaml_value, const char *const *want)
{
    _cleanup_free_ char *text =
        m87_xasprintf("services:\n  s:\n    image: x\n    command: %s\n", yaml_value);
    struct m87_error *err = NULL;
    struct spec_project *p = load_text(text, NULL, &err);
    if (p == NULL)
        fail_msg("%s: %s", yaml_value, err->msg);
    assert_true(p->services[0].has_command);
    assert_strv(&p->services[0].command, want);
    spec_project_free(p);
}

static void test_command_words(void **state)
{
    (void)state;
    check_words("'echo  \"a  b\"   c'", (const char *[]){"echo", "a  b", "c", NULL});
    check_words("sh -c 'echo $$HOME; exit 1'",
                (const char *[]){"sh", "-c", "echo $HOME; exit 1", NULL});
    check_words("'a\\ b \"\" c'", (const char *[]){"a b", "", "c", NULL});
    check_words("'x\"y z\"w'", (const char *[]){"xy zw", NULL});
    check_words("'\"q\\\"d\\\\ \\n\"'", (const char *[]){"q\"d\\ \\n", NULL});
    check_words("\"''\"", (const char *[]){"", NULL});
    check_words("[]", (const char *[]){NULL});
    check_words("[\"a b\", c]", (const char *[]){"a b", "c", NULL});
    _cleanup_free_ char *m1 = load_error("services:\n  s:\n    image: x\n    command: a && b\n");
    assert_string_equal(m1, "$DIRcompose.yml:4:14: services.s.command: shell operator (use the "
                            "list form, or sh -c with the command as one word) in 'a && b'");
    _cleanup_free_ char *m2 =
        load_error("services:\n  s:\n    image: x\n    entrypoint: \"a 'b\"\n");
    assert_string_equal(m2, "$DIRcompose.yml:4:17: services.s.entrypoint: unterminated quote in "
                            "'a 'b'");
}

/* ---- odds and ends ------------------------------------------------------------------------------
 */

static void test_x_keys_and_nulls(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct spec_project *p =
        load_text("x-top: {a: 1}\nservices:\n  s:\n    image: x\n    x-mine: [1]\n"
                  "    command:\n    ports:\n    healthcheck:\n      x-note: 1\n      retries: 1\n"
                  "networks:\n  n:\n    x-n: 1\nvolumes:\n  v:\n",
                  NULL, &err);
    if (p == NULL)
        fail_msg("%s", err->msg);
    assert_false(p->services[0].has_command);
    assert_int_equal(p->services[0].n_ports, 0);
    assert_int_equal(p->services[0].healthcheck.retries, 1);
    spec_project_free(p);
}

static void test_warnings(void **state)
{
    (void)state;
    struct spec_project *p = load_good("deploy", NULL);
    const char *want[] = {
        "services.worker.mem_limit: overridden by services.worker.deploy.resources.limits.memory",
        "services.worker.deploy.resources.reservations.cpus: ignored, cpu reservations only apply "
        "to swarm",
        "services.worker.deploy.restart_policy.delay: ignored, the engine has no equivalent",
        "services.worker.deploy.restart_policy.window: ignored, the engine has no equivalent",
        NULL,
    };
    assert_strv(&p->warnings, want);
    const struct spec_service *w = svc(p, "worker");
    assert_string_equal(w->restart, "on-failure");
    assert_int_equal(w->restart_max, 4);
    assert_int_equal(w->replicas, 3);
    assert_int_equal(w->mem_limit, 128 << 20);
    assert_int_equal(w->nano_cpus, 250000000);
    assert_int_equal(w->pids_limit, 64);
    assert_string_equal(svc(p, "any")->restart, "always");
    assert_string_equal(svc(p, "none")->restart, "no");
    spec_project_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_fixtures),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_extends_include_files),
        cmocka_unit_test(test_include_extends_own_env),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_merge_logging_driver_change),
        cmocka_unit_test(test_merge_ipam_pools),
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_interpolated_types),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_profile_required_dependency),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_project_name),
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_command_words),
        cmocka_unit_test(test_x_keys_and_nulls),
        cmocka_unit_test(test_warnings),
    };
    return cmocka_run_group_tests_name("compose", tests, NULL, NULL);
}
