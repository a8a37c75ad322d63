/* Images and pulls against the real dockerd and registry, with faults from m87-faultproxy
 * placed between dockerd and the registry. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "e2e-util.h"
#include "m87/alloc.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

/* The layers image is pushed with 1 MiB layers (harness DEFAULT_LAYERS): a cut after 256 KiB
 * lands inside every layer. */
#define CUT_BYTES 262144
#define MAX_LAYERS 32

/* ---- progress bookkeeping -------------------------------------------------------------------- */

struct layer_state {
    char id[80];
    bool done; /* "Pull complete" or "Already exists" */
};

struct progress {
    struct layer_state layers[MAX_LAYERS];
    size_t n_layers;
    size_t messages;
    size_t downloading;
    size_t bad_progress; /* Downloading with current > total */
    size_t retrying;
    bool final_status;
    /* fault proxy control from inside the callback */
    const char *proxy_ctl;
    const char *on_retry;    /* command to send at the first "Retrying in" */
    const char *on_download; /* command to send at the first "Downloading" */
};

static struct layer_state *layer_find(struct progress *p, const char *id, bool add)
{
    for (size_t i = 0; i < p->n_layers; i++)
        if (strcmp(p->layers[i].id, id) == 0)
            return &p->layers[i];
    if (!add)
        return NULL;
    assert_true(p->n_layers < MAX_LAYERS);
    struct layer_state *l = &p->layers[p->n_layers++];
    snprintf(l->id, sizeof(l->id), "%s", id);
    return l;
}

static void proxy_command(const char *ctl, const char *cmd);

static int on_progress(void *ctx, const struct engine_pull_msg *m)
{
    struct progress *p = ctx;
    p->messages++;
    if (m->id == NULL) {
        p->final_status |= strncmp(m->status, "Status: ", 8) == 0;
        return 0;
    }
    if (strcmp(m->status, "Pulling fs layer") == 0)
        layer_find(p, m->id, true);
    else if (strcmp(m->status, "Already exists") == 0)
        layer_find(p, m->id, true)->done = true;
    else if (strcmp(m->status, "Pull complete") == 0)
        layer_find(p, m->id, true)->done = true;
    else if (strcmp(m->status, "Downloading") == 0) {
        p->downloading++;
        if (m->total >= 0 && m->current > m->total)
            p->bad_progress++;
        if (p->on_download) {
            proxy_command(p->proxy_ctl, p->on_download);
            p->on_download = NULL;
        }
    } else if (strncmp(m->status, "Retrying in ", 12) == 0) {
        p->retrying++;
        if (p->on_retry) {
            proxy_command(p->proxy_ctl, p->on_retry);
            p->on_retry = NULL;
        }
    }
    return 0;
}

static void assert_all_layers_done(const struct progress *p)
{
    long want = strtol(e2e_env("M87_TEST_IMAGE_LAYERS_COUNT"), NULL, 10);
    assert_int_equal(p->n_layers, want);
    for (size_t i = 0; i < p->n_layers; i++)
        if (!p->layers[i].done)
            fail_msg("layer %s never reached Pull complete or Already exists", p->layers[i].id);
    assert_int_equal(p->bad_progress, 0);
    assert_true(p->final_status);
}

/* ---- image helpers --------------------------------------------------------------------------- */

static struct engine_client *client;

/* Remove an image with every name it has, so that its layers are really downloaded again
 * (layers shared with other images, like the busybox base, may stay). */
static void image_purge(const char *ref)
{
    struct m87_error *err = NULL;
    struct engine_image_info *info = NULL;
    if (engine_image_inspect(client, ref, &info, &err) < 0) {
        assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
        m87_error_clear(&err);
        return;
    }
    assert_ok(engine_image_remove(client, info->id, true, false, &err), &err);
    engine_image_info_free(info);
}

static void pull_ok(const char *ref, struct progress *p)
{
    struct m87_error *err = NULL;
    assert_ok(engine_image_pull(client, ref, NULL, on_progress, p, &err), &err);
}

static void expect_error(int r, struct m87_error **err, enum m87_errcode code)
{
    assert_int_equal(r, -1);
    if (m87_error_code(*err) != code)
        fail_msg("expected %s, got %s: %s", m87_strerror(code), m87_strerror((*err)->code),
                 (*err)->msg);
}

/* ---- the fault proxy ------------------------------------------------------------------------- */

struct proxy {
    pid_t pid;
    char ctl[108];
    char port[16];
};

static void proxy_start(struct proxy *px)
{
    const char *bin = e2e_env("M87_FAULTPROXY");
    const char *registry = e2e_env("M87_TEST_REGISTRY");
    snprintf(px->ctl, sizeof(px->ctl), "%s/imgs-fp-%d.sock", e2e_env("M87_TEST_TMPDIR"),
             (int)getpid());
    unlink(px->ctl);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    px->pid = fork();
    assert_true(px->pid >= 0);
    if (px->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--target", registry, "--control", px->ctl,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    assert_non_null(out);
    char line[512] = "";
    if (fgets(line, sizeof(line), out) == NULL)
        fail_msg("%s printed no banner", bin);
    fclose(out);
    /* "listening 127.0.0.1:PORT control PATH" */
    char addr[128] = "";
    if (sscanf(line, "listening %127s", addr) != 1 || strrchr(addr, ':') == NULL)
        fail_msg("unexpected banner '%s'", line);
    snprintf(px->port, sizeof(px->port), "%s", strrchr(addr, ':') + 1);
}

static void proxy_command(const char *ctl, const char *cmd)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        fail_msg("connect to the fault proxy at %s: %s", ctl, strerror(errno));
    char line[64];
    int n = snprintf(line, sizeof(line), "%s\n", cmd);
    assert_int_equal(write(fd, line, (size_t)n), n);
    char answer[256] = "";
    size_t got = 0;
    while (got < sizeof(answer) - 1 && strchr(answer, '\n') == NULL) {
        ssize_t r = read(fd, answer + got, sizeof(answer) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (strncmp(answer, "ok", 2) != 0)
        fail_msg("fault proxy answered '%s' to '%s'", answer, cmd);
}

static void proxy_stop(struct proxy *px)
{
    if (px->pid <= 0)
        return;
    kill(px->pid, SIGTERM);
    int status;
    waitpid(px->pid, &status, 0);
    px->pid = 0;
    unlink(px->ctl);
}

/* The layers image by way of the proxy: 127.0.0.1:PROXYPORT/m87test/layers:TAG. */
static char *via_proxy(const struct proxy *px)
{
    const char *ref = e2e_env("M87_TEST_IMAGE_LAYERS");
    const char *path = strchr(ref, '/');
    assert_non_null(path);
    return m87_xasprintf("127.0.0.1:%s%s", px->port, path);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_pull_layers_progress(void **state)
{
    (void)state;
    const char *ref = e2e_env("M87_TEST_IMAGE_LAYERS");
    image_purge(ref);
    struct progress p = {0};
    pull_ok(ref, &p);
    assert_all_layers_done(&p);
    /* the random layers are new to dockerd, so their bytes were really downloaded */
    assert_true(p.downloading > 0);

    /* a second pull finds everything in place */
    struct progress again = {0};
    pull_ok(ref, &again);
    assert_int_equal(again.downloading, 0);
    assert_true(again.final_status);
}

static void test_inspect_after_pull(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const char *ref = e2e_env("M87_TEST_IMAGE_LAYERS");
    e2e_ensure_image(client, ref);
    struct engine_image_info *info = NULL;
    assert_ok(engine_image_inspect(client, ref, &info, &err), &err);
    assert_int_equal(strncmp(info->id, "sha256:", 7), 0);
    assert_int_equal(strlen(info->id), 71);
    bool tagged = false;
    for (size_t i = 0; i < info->repo_tags.len; i++)
        tagged |= strcmp(info->repo_tags.items[i], ref) == 0;
    assert_true(tagged);
    assert_true(info->repo_digests.len >= 1);
    _cleanup_free_ char *repo = NULL, *tag = NULL;
    assert_ok(engine_ref_split(ref, &repo, &tag, &err), &err);
    _cleanup_free_ char *prefix = m87_xasprintf("%s@sha256:", repo);
    assert_int_equal(strncmp(info->repo_digests.items[0], prefix, strlen(prefix)), 0);
    assert_string_equal(info->os, "linux");
    assert_non_null(info->created);
    assert_true(info->size > 4 * 1024 * 1024);
    assert_string_equal(m87_kvlist_get(&info->labels, "org.m87.test.image"), "layers");
    engine_image_info_free(info);
}

static void test_pull_by_digest(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const char *ref = e2e_env("M87_TEST_IMAGE_LAYERS");
    e2e_ensure_image(client, ref);
    struct engine_image_info *info = NULL;
    assert_ok(engine_image_inspect(client, ref, &info, &err), &err);
    assert_true(info->repo_digests.len >= 1);
    _cleanup_free_ char *by_digest = m87_xstrdup(info->repo_digests.items[0]);
    _cleanup_free_ char *id = m87_xstrdup(info->id);
    engine_image_info_free(info);

    image_purge(ref);
    struct progress p = {0};
    pull_ok(by_digest, &p);
    assert_all_layers_done(&p);

    info = NULL;
    assert_ok(engine_image_inspect(client, by_digest, &info, &err), &err);
    assert_string_equal(info->id, id);
    assert_int_equal(info->repo_tags.len, 0); /* a pull by digest tags nothing */
    assert_int_equal(info->repo_digests.len, 1);
    assert_string_equal(info->repo_digests.items[0], by_digest);
    engine_image_info_free(info);

    /* the tag is not there until pulled by tag */
    expect_error(engine_image_inspect(client, ref, &info, &err), &err, M87_E_NOTFOUND);
    m87_error_clear(&err);
    pull_ok(ref, &(struct progress){0});
}

static void test_pull_missing_tag(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    _cleanup_free_ char *ref =
        m87_xasprintf("%s/m87test/layers:m87-no-such-tag", e2e_env("M87_TEST_REGISTRY"));
    struct progress p = {0};
    expect_error(engine_image_pull(client, ref, NULL, on_progress, &p, &err), &err, M87_E_NOTFOUND);
    assert_int_equal(err->http_status, 404);
    _cleanup_free_ char *head = m87_xasprintf("pull image '%s': ", ref);
    assert_int_equal(strncmp(err->msg, head, strlen(head)), 0);
    assert_non_null(strstr(err->msg, "manifest unknown"));
    assert_non_null(strstr(err->msg, ref + strlen(e2e_env("M87_TEST_REGISTRY"))));
    assert_int_equal(p.messages, 0);
    m87_error_clear(&err);

    /* a repository that does not exist at all */
    _cleanup_free_ char *nothing =
        m87_xasprintf("%s/m87test/no-such-repo:1", e2e_env("M87_TEST_REGISTRY"));
    expect_error(engine_image_pull(client, nothing, NULL, NULL, NULL, &err), &err, M87_E_NOTFOUND);
    assert_non_null(strstr(err->msg, "no-such-repo"));
    m87_error_clear(&err);
}

static void test_remove_in_use(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const char *ref = e2e_env("M87_TEST_IMAGE_LAYERS");
    e2e_ensure_image(client, ref);
    _cleanup_free_ char *name = e2e_name("imgs");
    _cleanup_free_ char *cid = e2e_create(client, name, ref, NULL, NULL);

    expect_error(engine_image_remove(client, ref, false, false, &err), &err, M87_E_CONFLICT);
    assert_int_equal(err->http_status, 409);
    _cleanup_free_ char *head = m87_xasprintf("remove image '%s': ", ref);
    assert_int_equal(strncmp(err->msg, head, strlen(head)), 0);
    assert_non_null(strstr(err->msg, "must force"));
    m87_error_clear(&err);
    struct engine_image_info *info = NULL;
    assert_ok(engine_image_inspect(client, ref, &info, &err), &err);
    engine_image_info_free(info);

    assert_ok(engine_image_remove(client, ref, true, false, &err), &err);
    info = NULL;
    expect_error(engine_image_inspect(client, ref, &info, &err), &err, M87_E_NOTFOUND);
    m87_error_clear(&err);
    e2e_remove(client, cid);

    expect_error(engine_image_remove(client, ref, false, false, &err), &err, M87_E_NOTFOUND);
    m87_error_clear(&err);
    pull_ok(ref, &(struct progress){0});
}

static void test_list_reference_filter(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const char *ref = e2e_env("M87_TEST_IMAGE_LAYERS");
    e2e_ensure_image(client, ref);
    struct engine_image_info *want = NULL;
    assert_ok(engine_image_inspect(client, ref, &want, &err), &err);

    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "reference", ref);
    struct engine_image_info *v = NULL;
    size_t n = 0;
    assert_ok(engine_image_list(client, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, want->id);
    assert_int_equal(v[0].repo_tags.len, 1);
    assert_string_equal(v[0].repo_tags.items[0], ref);
    assert_int_equal(v[0].size, want->size);
    assert_string_equal(m87_kvlist_get(&v[0].labels, "org.m87.test.image"), "layers");
    engine_image_infos_free(v, n);

    m87_kvlist_release(&filters);
    _cleanup_free_ char *none =
        m87_xasprintf("%s/m87test/layers:m87-no-such-tag", e2e_env("M87_TEST_REGISTRY"));
    m87_kvlist_add(&filters, "reference", none);
    assert_ok(engine_image_list(client, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 0);
    engine_image_infos_free(v, n);

    /* without filters the image is among all the others */
    bool found = false;
    assert_ok(engine_image_list(client, NULL, &v, &n, &err), &err);
    for (size_t i = 0; i < n; i++)
        found |= strcmp(v[i].id, want->id) == 0;
    assert_true(found);
    engine_image_infos_free(v, n);
    m87_kvlist_release(&filters);
    engine_image_info_free(want);
}

/* Every connection to the registry is cut inside a layer. dockerd retries the layer
 * ("Retrying in N seconds"); when the path heals during the wait, the pull completes. */
static void test_fault_cut_then_heal(void **state)
{
    (void)state;
    struct proxy px = {0};
    proxy_start(&px);
    _cleanup_free_ char *ref = via_proxy(&px);
    image_purge(e2e_env("M87_TEST_IMAGE_LAYERS"));
    image_purge(ref);
    char cut[32];
    snprintf(cut, sizeof(cut), "cut %d", CUT_BYTES);
    proxy_command(px.ctl, cut);

    struct progress p = {.proxy_ctl = px.ctl, .on_retry = "pass"};
    pull_ok(ref, &p);
    assert_true(p.retrying > 0); /* the cut really hit a layer */
    assert_null(p.on_retry);     /* and the proxy was healed during the retry */
    assert_all_layers_done(&p);
    image_purge(ref);
    proxy_stop(&px);
}

/* The same cut left in place: dockerd gives up after its own retries, and the error we
 * return carries dockerd's words ("unexpected EOF"). */
static void test_fault_cut_for_good(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct proxy px = {0};
    proxy_start(&px);
    _cleanup_free_ char *ref = via_proxy(&px);
    image_purge(e2e_env("M87_TEST_IMAGE_LAYERS"));
    image_purge(ref);
    /* smaller than the 256 KiB above: a resumed layer gains too little per attempt to
     * finish within dockerd's retries */
    proxy_command(px.ctl, "cut 65536");

    struct progress p = {0};
    expect_error(engine_image_pull(client, ref, NULL, on_progress, &p, &err), &err, M87_E_PULL);
    assert_true(p.retrying > 0);
    assert_false(p.final_status);
    _cleanup_free_ char *want = m87_xasprintf("pull image '%s': unexpected EOF", ref);
    assert_string_equal(err->msg, want);
    m87_error_clear(&err);
    struct engine_image_info *info = NULL;
    expect_error(engine_image_inspect(client, ref, &info, &err), &err, M87_E_NOTFOUND);
    m87_error_clear(&err);
    proxy_stop(&px);
}

/* The registry goes silent in the middle of a layer. dockerd has no read deadline of its own,
 * so only our watchdog ends the pull. */
static void test_fault_stall(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct proxy px = {0};
    proxy_start(&px);
    _cleanup_free_ char *ref = via_proxy(&px);
    image_purge(e2e_env("M87_TEST_IMAGE_LAYERS"));
    image_purge(ref);
    /* slow enough that the first Downloading message arrives long before a layer is done */
    proxy_command(px.ctl, "throttle 100000");

    struct progress p = {.proxy_ctl = px.ctl, .on_download = "stall"};
    struct engine_pull_options opts = {.stall_ms = 3000};
    double t0 = now_s();
    expect_error(engine_image_pull(client, ref, &opts, on_progress, &p, &err), &err, M87_E_STALLED);
    double took = now_s() - t0;
    assert_null(p.on_download); /* the stall began mid-download */
    assert_true(took >= 3.0);
    _cleanup_free_ char *head = m87_xasprintf("pull image '%s': ", ref);
    assert_int_equal(strncmp(err->msg, head, strlen(head)), 0);
    assert_non_null(strstr(err->msg, "3000 ms"));
    m87_error_clear(&err);
    proxy_command(px.ctl, "pass");
    proxy_stop(&px);
    image_purge(ref);
}

static int group_setup(void **state)
{
    (void)state;
    client = e2e_client();
    return 0;
}

/* Leave the layers image in dockerd as the harness pushed it, for the suites after us. */
static int group_teardown(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    int r = engine_image_pull(client, e2e_env("M87_TEST_IMAGE_LAYERS"), NULL, NULL, NULL, &err);
    if (r < 0)
        fprintf(stderr, "restore layers image: %s\n", err->msg);
    m87_error_clear(&err);
    engine_client_free(client);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_layers_progress), cmocka_unit_test(test_inspect_after_pull),
        cmocka_unit_test(test_pull_by_digest),       cmocka_unit_test(test_pull_missing_tag),
        cmocka_unit_test(test_remove_in_use),        cmocka_unit_test(test_list_reference_filter),
        cmocka_unit_test(test_fault_cut_then_heal),  cmocka_unit_test(test_fault_cut_for_good),
        cmocka_unit_test(test_fault_stall),
    };
    return cmocka_run_group_tests_name("engine images e2e", tests, group_setup, group_teardown);
}
