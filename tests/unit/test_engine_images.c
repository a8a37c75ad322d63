/* Images and the pull stream, against answers recorded from dockerd 20.10 (fixtures/engine/
 * images-*.txt, pull-*.txt) and a capturing transport for what the replay cannot check: the
 * headers and the call's time bounds. */
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"
#include "unit-util.h"

#define REG "127.0.0.1:47955"
#define LAYERS REG "/m87test/layers"
#define LAYERS_DIGEST "sha256:7a37d4b72a39ebc4d9b8689ddf14e12c44e75ee8679f1b03c34af62a49056208"
#define LAYERS_ID "sha256:71af7223cb56a8aff341405da652582a056ba38a4e7c95d4ed95b8f74cbc9960"
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- what a pull callback saw ---------------------------------------------------------------- */

#define MAX_LAYERS 16

struct layer_seen {
    char id[64];
    int fs_layer;
    int downloading;
    int complete;
    int already;
};

struct seen {
    struct m87_buf log; /* "id|status|current|total\n" per message */
    size_t n;
    size_t stop_after; /* 0: never stop */
    struct layer_seen layers[MAX_LAYERS];
    size_t n_layers;
    int bad_progress; /* Downloading messages with current > total or missing */
    char first_status[128];
    char last_status[256];
    bool digest_line;
};

static struct layer_seen *layer_of(struct seen *s, const char *id)
{
    for (size_t i = 0; i < s->n_layers; i++)
        if (strcmp(s->layers[i].id, id) == 0)
            return &s->layers[i];
    assert_true(s->n_layers < MAX_LAYERS);
    struct layer_seen *l = &s->layers[s->n_layers++];
    snprintf(l->id, sizeof(l->id), "%s", id);
    return l;
}

static int on_msg(void *ctx, const struct engine_pull_msg *m)
{
    struct seen *s = ctx;
    assert_non_null(m->status);
    m87_buf_appendf(&s->log, NULL, "%s|%s|%lld|%lld\n", m->id ? m->id : "-", m->status,
                    (long long)m->current, (long long)m->total);
    if (s->n++ == 0)
        snprintf(s->first_status, sizeof(s->first_status), "%s", m->status);
    snprintf(s->last_status, sizeof(s->last_status), "%s", m->status);
    if (m->id == NULL) {
        s->digest_line |= strncmp(m->status, "Digest: sha256:", 15) == 0;
    } else if (strcmp(m->status, "Pulling fs layer") == 0) {
        layer_of(s, m->id)->fs_layer++;
    } else if (strcmp(m->status, "Downloading") == 0) {
        layer_of(s, m->id)->downloading++;
        if (m->current < 0 || m->total <= 0 || m->current > m->total)
            s->bad_progress++;
    } else if (strcmp(m->status, "Pull complete") == 0) {
        layer_of(s, m->id)->complete++;
    } else if (strcmp(m->status, "Already exists") == 0) {
        layer_of(s, m->id)->already++;
    }
    return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    m87_buf_init(&s->log, 0);
}

/* ---- replayed pulls -------------------------------------------------------------------------- */

static int pull_replay(const char *fixture, size_t chunk, const char *ref, struct seen *s,
                       struct m87_error **err)
{
    struct engine_client *c = unit_replay_client(fixture, chunk);
    int r = engine_image_pull(c, ref, NULL, on_msg, s, err);
    assert_int_equal(unit_replay_left(c), 0);
    engine_client_free(c);
    return r;
}

static void test_pull_stream_any_chunking(void **state)
{
    (void)state;
    static const size_t chunks[] = {0, 1, 2, 7, 64};
    _cleanup_free_ char *whole = NULL;
    for (size_t i = 0; i < M87_ARRAY_LEN(chunks); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        assert_ok(pull_replay("pull-layers.txt", chunks[i], LAYERS ":4x1048576", &s, &err), &err);
        /* 49 objects in the recording: 1 "Pulling from", 5 layers, Digest and Status */
        assert_int_equal(s.n, 49);
        assert_string_equal(s.first_status, "Pulling from m87test/layers");
        assert_string_equal(s.last_status,
                            "Status: Downloaded newer image for " LAYERS ":4x1048576");
        assert_true(s.digest_line);
        assert_int_equal(s.n_layers, 5);
        for (size_t j = 0; j < s.n_layers; j++) {
            assert_int_equal(s.layers[j].fs_layer, 1);
            assert_true(s.layers[j].downloading >= 1);
            assert_int_equal(s.layers[j].complete, 1);
        }
        assert_int_equal(s.bad_progress, 0);
        if (whole == NULL)
            whole = m87_buf_steal(&s.log);
        else
            assert_string_equal(s.log.data, whole);
        m87_buf_release(&s.log);
    }
    /* progressDetail became numbers, {} became -1 */
    assert_non_null(strstr(whole, "b99a171770ba|Downloading|36412|1036226\n"));
    assert_non_null(strstr(whole, "b99a171770ba|Pull complete|-1|-1\n"));
    assert_non_null(strstr(whole, "4x1048576|Pulling from m87test/layers|-1|-1\n"));
    assert_non_null(strstr(whole, "-|Digest: " LAYERS_DIGEST "|-1|-1\n"));
}

static void test_pull_without_callback(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct engine_client *c = unit_replay_client("pull-layers.txt", 7);
    assert_ok(engine_image_pull(c, LAYERS ":4x1048576", NULL, NULL, NULL, &err), &err);
    assert_int_equal(unit_replay_left(c), 0);
    engine_client_free(c);
}

static void test_pull_error_in_stream(void **state)
{
    (void)state;
    static const size_t chunks[] = {0, 1, 7};
    for (size_t i = 0; i < M87_ARRAY_LEN(chunks); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        assert_int_equal(
            pull_replay("pull-error-stream.txt", chunks[i], LAYERS ":broken", &s, &err), -1);
        assert_int_equal(m87_error_code(err), M87_E_PULL);
        assert_string_equal(err->msg, "pull image '" LAYERS ":broken': unknown blob");
        assert_int_equal(s.n, 7);
        /* the layer whose blob is missing got a Downloading without progressDetail */
        assert_non_null(strstr(s.log.data, "6ae5e70c7f38|Downloading|-1|-1\n"));
        m87_buf_release(&s.log);
        m87_error_clear(&err);
    }
}

static void test_pull_stops_at_first_error(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    assert_int_equal(pull_replay("pull-error-midstream.txt", 3, LAYERS ":broken", &s, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_PULL);
    assert_string_equal(err->msg, "pull image '" LAYERS ":broken': unknown blob");
    assert_int_equal(s.n, 7);
    assert_false(s.digest_line);
    assert_null(strstr(s.log.data, "Pull complete"));
    m87_buf_release(&s.log);
    m87_error_clear(&err);
}

static void test_pull_without_final_status(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    assert_ok(pull_replay("pull-no-status.txt", 64, LAYERS ":4x1048576", &s, &err), &err);
    assert_int_equal(s.n, 47);
    assert_false(s.digest_line);
    assert_string_equal(s.last_status, "Pull complete");
    m87_buf_release(&s.log);
}

static void test_pull_garbage_line(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    assert_int_equal(pull_replay("pull-garbage.txt", 2, LAYERS ":4x1048576", &s, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_PARSE);
    assert_non_null(strstr(err->msg, "pull image '" LAYERS ":4x1048576': bad line in the "
                                     "progress stream"));
    assert_int_equal(s.n, 3);
    m87_buf_release(&s.log);
    m87_error_clear(&err);
}

static void test_pull_cancelled_by_callback(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    s.stop_after = 4;
    assert_int_equal(pull_replay("pull-layers.txt", 64, LAYERS ":4x1048576", &s, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_CANCELLED);
    assert_string_equal(err->msg, "pull image '" LAYERS ":4x1048576': cancelled by the caller");
    assert_int_equal(s.n, 4);
    m87_buf_release(&s.log);
    m87_error_clear(&err);
}

static void test_pull_http_errors_before_stream(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    assert_int_equal(pull_replay("pull-missing.txt", 0, LAYERS ":nope", &s, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    assert_int_equal(err->http_status, 404);
    assert_string_equal(err->msg, "pull image '" LAYERS ":nope': dockerd answered 404: manifest "
                                  "for " LAYERS ":nope not found: manifest unknown: manifest "
                                  "unknown");
    assert_int_equal(s.n, 0);
    m87_error_clear(&err);

    struct engine_client *c = unit_replay_client("pull-badplatform.txt", 0);
    struct engine_pull_options opts = {.platform = "bogus/x/y/z"};
    assert_int_equal(engine_image_pull(c, LAYERS ":4x1048576", &opts, on_msg, &s, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_HTTP);
    assert_int_equal(err->http_status, 400);
    assert_non_null(strstr(err->msg, "cannot parse platform specifier"));
    assert_int_equal(s.n, 0);
    assert_int_equal(unit_replay_left(c), 0);
    engine_client_free(c);
    m87_error_clear(&err);
}

/* A pull by digest: tag=sha256:..., and the image then has a digest but no tag. */
static void test_pull_by_digest_then_inspect(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    struct engine_client *c = unit_replay_client("pull-digest.txt", 64);
    const char *ref = LAYERS "@" LAYERS_DIGEST;
    assert_ok(engine_image_pull(c, ref, NULL, on_msg, &s, &err), &err);
    assert_int_equal(s.n_layers, 5);
    for (size_t j = 0; j < s.n_layers; j++)
        assert_int_equal(s.layers[j].complete, 1);
    assert_string_equal(s.last_status,
                        "Status: Downloaded newer image for " LAYERS "@" LAYERS_DIGEST);
    struct engine_image_info *info = NULL;
    assert_ok(engine_image_inspect(c, ref, &info, &err), &err);
    assert_string_equal(info->id, LAYERS_ID);
    assert_int_equal(info->repo_tags.len, 0);
    assert_int_equal(info->repo_digests.len, 1);
    assert_string_equal(info->repo_digests.items[0], ref);
    engine_image_info_free(info);
    assert_int_equal(unit_replay_left(c), 0);
    engine_client_free(c);
    m87_buf_release(&s.log);
}

static void test_pull_bad_ref_sends_nothing(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    /* an empty exchange list: any request would fail the test */
    struct engine_client *c = unit_replay_client("pull-missing.txt", 0);
    assert_int_equal(engine_image_pull(c, "Upper/Case:1", NULL, NULL, NULL, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_INVAL);
    assert_string_equal(err->msg, "pull image 'Upper/Case:1': image reference 'Upper/Case:1': "
                                  "invalid repository name");
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 1);
    engine_client_free(c);
}

/* ---- a transport that records the request ---------------------------------------------------- */

struct capture {
    char path[512];
    char method[16];
    char auth[512];
    bool has_auth;
    long timeout_ms;
    long stall_ms;
    bool streamed;
};

static int capture_request(void *tctx, const struct engine_request *req,
                           struct engine_response *resp, struct m87_error **err)
{
    (void)err;
    struct capture *cap = tctx;
    resp->status = 200;
    if (strcmp(req->path, "/_ping") == 0) {
        resp->api_version = m87_xstrdup("1.41");
        return 0;
    }
    snprintf(cap->path, sizeof(cap->path), "%s", req->path);
    snprintf(cap->method, sizeof(cap->method), "%s", req->method);
    const char *auth = req->headers ? m87_kvlist_get(req->headers, "X-Registry-Auth") : NULL;
    cap->has_auth = auth != NULL;
    snprintf(cap->auth, sizeof(cap->auth), "%s", auth ? auth : "");
    cap->timeout_ms = req->timeout_ms;
    cap->stall_ms = req->stall_ms;
    cap->streamed = req->on_data != NULL;
    return 0;
}

static void capture_free(void *tctx)
{
    (void)tctx;
}

static const struct engine_transport capture_transport = {
    .request = capture_request,
    .free = capture_free,
};

static void capture_pull(struct capture *cap, const char *ref,
                         const struct engine_pull_options *opts)
{
    struct m87_error *err = NULL;
    memset(cap, 0, sizeof(*cap));
    struct engine_client *c = engine_client_new_with_transport(&capture_transport, cap, 0);
    assert_ok(engine_image_pull(c, ref, opts, NULL, NULL, &err), &err);
    engine_client_free(c);
}

static void test_pull_query_string(void **state)
{
    (void)state;
    struct capture cap;
    capture_pull(&cap, "busybox", NULL);
    assert_string_equal(cap.method, "POST");
    assert_string_equal(cap.path, "/v1.41/images/create?fromImage=busybox&tag=latest");
    capture_pull(&cap, "127.0.0.1:5000/a/b:1", NULL);
    assert_string_equal(cap.path, "/v1.41/images/create?fromImage=127.0.0.1%3A5000%2Fa%2Fb&tag=1");
    capture_pull(&cap, "repo:1@sha256:" HEX64, NULL);
    assert_string_equal(cap.path, "/v1.41/images/create?fromImage=repo&tag=sha256%3A" HEX64);
    struct engine_pull_options opts = {.platform = "linux/arm64/v8"};
    capture_pull(&cap, "docker.io/library/alpine:3.19", &opts);
    assert_string_equal(cap.path, "/v1.41/images/create?fromImage=docker.io%2Flibrary%2Falpine"
                                  "&tag=3.19&platform=linux%2Farm64%2Fv8");
}

static void test_pull_time_bounds(void **state)
{
    (void)state;
    struct capture cap;
    capture_pull(&cap, "busybox:1", NULL);
    assert_true(cap.streamed);
    assert_int_equal(cap.timeout_ms, 0);    /* no bound on the whole pull */
    assert_int_equal(cap.stall_ms, 300000); /* only the 5-minute stall watchdog */
    struct engine_pull_options opts = {.stall_ms = 3000};
    capture_pull(&cap, "busybox:1", &opts);
    assert_int_equal(cap.timeout_ms, 0);
    assert_int_equal(cap.stall_ms, 3000);
}

static void test_pull_auth_header(void **state)
{
    (void)state;
    struct capture cap;
    capture_pull(&cap, "busybox:1", NULL);
    assert_false(cap.has_auth);

    /* expected values from Python's base64.urlsafe_b64encode of the same JSON text */
    struct engine_auth auth = {
        .username = "m87user", .password = "x?>?>?>?", .server_address = "127.0.0.1:5000"};
    struct engine_pull_options opts = {.auth = &auth};
    capture_pull(&cap, "127.0.0.1:5000/a:1", &opts);
    assert_true(cap.has_auth);
    assert_string_equal(cap.auth, "eyJ1c2VybmFtZSI6Im04N3VzZXIiLCJwYXNzd29yZCI6Ing_Pj8-Pz4_Iiwic2"
                                  "VydmVyYWRkcmVzcyI6IjEyNy4wLjAuMTo1MDAwIn0=");

    struct engine_auth token = {.identity_token = "tok?>~"};
    opts.auth = &token;
    capture_pull(&cap, "127.0.0.1:5000/a:1", &opts);
    assert_string_equal(cap.auth, "eyJpZGVudGl0eXRva2VuIjoidG9rPz5-In0=");
}

/* ---- engine_ref_split ------------------------------------------------------------------------ */

static void split_ok(const char *ref, const char *repo, const char *tag)
{
    struct m87_error *err = NULL;
    char *r = NULL, *t = NULL;
    if (engine_ref_split(ref, &r, &t, &err) < 0)
        fail_msg("split '%s': %s", ref, err->msg);
    assert_string_equal(r, repo);
    assert_string_equal(t, tag);
    free(r);
    free(t);
}

static void split_bad(const char *ref, const char *why)
{
    struct m87_error *err = NULL;
    char *r = NULL, *t = NULL;
    if (engine_ref_split(ref, &r, &t, &err) == 0)
        fail_msg("split '%s' gave '%s' '%s'", ref, r, t);
    assert_int_equal(m87_error_code(err), M87_E_INVAL);
    assert_null(r);
    assert_null(t);
    if (strstr(err->msg, why) == NULL)
        fail_msg("split '%s': '%s' does not say '%s'", ref, err->msg, why);
    m87_error_clear(&err);
}

static void test_ref_split(void **state)
{
    (void)state;
    split_ok("x", "x", "latest");
    split_ok("x:1", "x", "1");
    split_ok("docker.io/library/x", "docker.io/library/x", "latest");
    split_ok("docker.io/library/x:1.2-rc_3", "docker.io/library/x", "1.2-rc_3");
    split_ok("host:5000/x", "host:5000/x", "latest");
    split_ok("host:5000/x:1", "host:5000/x", "1");
    split_ok("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b", "1");
    split_ok("localhost/a__b/c-d.e", "localhost/a__b/c-d.e", "latest");
    split_ok("x@sha256:" HEX64, "x", "sha256:" HEX64);
    split_ok("x:1@sha256:" HEX64, "x", "sha256:" HEX64);
    split_ok("host:5000/x:1@sha256:" HEX64, "host:5000/x", "sha256:" HEX64);
    split_ok("My.Registry:443/x:TAG", "My.Registry:443/x", "TAG");
    split_ok("[::1]:5000/x:1", "[::1]:5000/x", "1");

    split_bad("", "empty");
    split_bad(NULL, "empty");
    split_bad(":1", "no repository name");
    split_bad("x:", "invalid tag");
    split_bad("x:-1", "invalid tag");
    split_bad("x:a/b", "invalid repository name");
    split_bad("Upper", "invalid repository name");
    split_bad("x//y", "invalid repository name");
    split_bad("x/", "invalid repository name");
    split_bad("/x", "invalid repository name");
    split_bad("a-/b", "invalid repository name");
    split_bad("x y", "invalid repository name");
    split_bad("host:port/x", "invalid repository name");
    split_bad("x@", "invalid digest");
    split_bad("x@sha256:abc", "invalid digest");
    split_bad("x@sha256:" HEX64 "00", "invalid digest");
    split_bad("x@sha256:" HEX64 "@sha256:" HEX64, "invalid digest");
    split_bad("x@md5:0123", "invalid digest");
    char long_tag[140];
    memset(long_tag, 'a', sizeof(long_tag));
    long_tag[0] = 'x';
    long_tag[1] = ':';
    long_tag[sizeof(long_tag) - 1] = '\0';
    split_bad(long_tag, "invalid tag");
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name));
    long_name[sizeof(long_name) - 1] = '\0';
    split_bad(long_name, "longer than 255");
}

/* ---- inspect, list, remove ------------------------------------------------------------------- */

static void test_image_inspect(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct engine_client *c = unit_replay_client("images-inspect.txt", 0);
    struct engine_image_info *info = NULL;
    assert_ok(engine_image_inspect(c, LAYERS ":4x1048576", &info, &err), &err);
    assert_string_equal(info->id, LAYERS_ID);
    assert_int_equal(info->repo_tags.len, 1);
    assert_string_equal(info->repo_tags.items[0], LAYERS ":4x1048576");
    assert_int_equal(info->repo_digests.len, 1);
    assert_string_equal(info->repo_digests.items[0], LAYERS "@" LAYERS_DIGEST);
    assert_string_equal(info->created, "2024-01-01T00:00:00Z");
    assert_string_equal(info->os, "linux");
    assert_non_null(info->architecture);
    assert_true(info->size > 4 * 1024 * 1024);
    assert_string_equal(m87_kvlist_get(&info->labels, "org.m87.test.layers"), "5");
    assert_string_equal(m87_kvlist_get(&info->labels, "org.m87.test.image"), "layers");
    engine_image_info_free(info);

    info = NULL;
    assert_int_equal(engine_image_inspect(c, "m87test/nope:1", &info, &err), -1);
    assert_null(info);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    assert_string_equal(err->msg, "inspect image 'm87test/nope:1': dockerd answered 404: no such "
                                  "image: m87test/nope:1: No such image: m87test/nope:1");
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);
    engine_client_free(c);
}

static void test_image_list(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct engine_client *c = unit_replay_client("images-list.txt", 0);
    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "reference", REG "/m87test/small:1");
    struct engine_image_info *v = NULL;
    size_t n = 0;
    assert_ok(engine_image_list(c, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id,
                        "sha256:1b08c167e1fa3fe61c109ca626084c9c6ff44df63c01d7d3d6d9748e600b0d86");
    assert_int_equal(v[0].repo_tags.len, 1);
    assert_string_equal(v[0].repo_tags.items[0], REG "/m87test/small:1");
    assert_int_equal(v[0].repo_digests.len, 0); /* "RepoDigests": null */
    assert_int_equal(v[0].size, 1984279);
    assert_string_equal(m87_kvlist_get(&v[0].labels, "org.m87.test.version"), "1");
    assert_null(v[0].created);
    assert_null(v[0].os);
    engine_image_infos_free(v, n);

    /* an untagged image: the <none> placeholders are dropped, as inspect shows it */
    m87_kvlist_release(&filters);
    m87_kvlist_add(&filters, "dangling", "true");
    assert_ok(engine_image_list(c, &filters, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].repo_tags.len, 0);
    assert_int_equal(v[0].repo_digests.len, 0);
    assert_int_equal(v[0].labels.len, 0);
    assert_int_equal(v[0].size, 2);
    engine_image_infos_free(v, n);
    m87_kvlist_release(&filters);
    assert_int_equal(unit_replay_left(c), 0);
    engine_client_free(c);
}

static void test_image_remove(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct engine_client *c = unit_replay_client("images-remove.txt", 0);
    const char *ref = REG "/m87test/small:1";
    assert_int_equal(engine_image_remove(c, ref, false, false, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_CONFLICT);
    assert_int_equal(err->http_status, 409);
    assert_non_null(strstr(err->msg, "remove image '" REG "/m87test/small:1': dockerd answered "
                                     "409: conflict: unable to remove repository reference"));
    assert_non_null(strstr(err->msg, "is using its referenced image"));
    m87_error_clear(&err);
    assert_ok(engine_image_remove(c, ref, true, false, &err), &err);
    assert_int_equal(engine_image_remove(c, "m87test/nope:1", false, false, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_NOTFOUND);
    m87_error_clear(&err);
    assert_int_equal(unit_replay_left(c), 0);
    engine_client_free(c);
}

/* The reference goes into the path with '/', ':' and '@' kept and the rest escaped. */
static void test_image_paths(void **state)
{
    (void)state;
    struct capture cap;
    struct m87_error *err = NULL;
    memset(&cap, 0, sizeof(cap));
    struct engine_client *c = engine_client_new_with_transport(&capture_transport, &cap, 0);
    struct engine_image_info *info = NULL;
    /* the capture answers 200 with no body: inspect then fails to parse, which is fine here */
    assert_int_equal(engine_image_inspect(c, "a b/c%d:1", &info, &err), -1);
    m87_error_clear(&err);
    assert_string_equal(cap.path, "/v1.41/images/a%20b/c%25d:1/json");
    assert_ok(engine_image_remove(c, "127.0.0.1:5000/a@sha256:" HEX64, true, true, &err), &err);
    assert_string_equal(cap.method, "DELETE");
    assert_string_equal(cap.path,
                        "/v1.41/images/127.0.0.1:5000/a@sha256:" HEX64 "?force=1&noprune=1");
    /* nothing is sent for these: the capture would record the path */
    cap.path[0] = '\0';
    static const char *const unusable[] = {"", "../containers/x", "a/./b", "a/..", ".."};
    for (size_t i = 0; i < M87_ARRAY_LEN(unusable); i++) {
        assert_int_equal(engine_image_inspect(c, unusable[i], &info, &err), -1);
        assert_int_equal(m87_error_code(err), M87_E_INVAL);
        m87_error_clear(&err);
        assert_int_equal(engine_image_remove(c, unusable[i], false, false, &err), -1);
        assert_int_equal(m87_error_code(err), M87_E_INVAL);
        m87_error_clear(&err);
    }
    assert_string_equal(cap.path, "");
    /* dots inside a segment are ordinary */
    assert_ok(engine_image_remove(c, "a/..b/c.:1.0", false, false, &err), &err);
    assert_string_equal(cap.path, "/v1.41/images/a/..b/c.:1.0");
    engine_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_stream_any_chunking),
        cmocka_unit_test(test_pull_without_callback),
        cmocka_unit_test(test_pull_error_in_stream),
        cmocka_unit_test(test_pull_stops_at_first_error),
        cmocka_unit_test(test_pull_without_final_status),
        cmocka_unit_test(test_pull_garbage_line),
        cmocka_unit_test(test_pull_cancelled_by_callback),
        cmocka_unit_test(test_pull_http_errors_before_stream),
        cmocka_unit_test(test_pull_by_digest_then_inspect),
        cmocka_unit_test(test_pull_bad_ref_sends_nothing),
        cmocka_unit_test(test_pull_query_string),
        cmocka_unit_test(test_pull_time_bounds),
        cmocka_unit_test(test_pull_auth_header),
        cmocka_unit_test(test_ref_split),
        cmocka_unit_test(test_image_inspect),
        cmocka_unit_test(test_image_list),
        cmocka_unit_test(test_image_remove),
        cmocka_unit_test(test_image_paths),
    };
    return cmocka_run_group_tests_name("engine images", tests, NULL, NULL);
}
