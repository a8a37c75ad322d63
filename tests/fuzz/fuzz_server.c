/* libFuzzer harness: the server's request handling, end to end. One m87-server runs inside the
 * fuzzer process (libmicrohttpd on 127.0.0.1, an ephemeral port, its database on tmpfs, no
 * long-poll holding); each input is sent as raw bytes on a fresh TCP connection, the write side
 * is shut, and the answer read until the server closes.
 *
 * Tokens and ids are random per run, so the input names them with placeholders that are replaced
 * before sending: @A the admin token, @D the device token of device "gw", @P the id of gw's active
 * deployment, @B the digest of a stored bundle. Seeds in fixtures/fuzz/server/ are requests to
 * every route.
 *
 * Checked beyond memory safety: every answer starts with an HTTP/1.x status line, and no answer
 * is a 500 (an internal error is a bug here: the store is on tmpfs and nothing else fails). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fuzz-util.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json.h"
#include "m87/log.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/longpoll.h"
#include "server/remote.h"
#include "server/rollout.h"
#include "server/serve.h"
#include "server/store-sessions.h"
#include "server/store.h"

/* libmicrohttpd does not always close a connection whose client shut its write side: an answer
 * is taken as whole after this much silence once it began, and no answer after the first. */
#define FIRST_BYTE_MS 250
#define SILENCE_MS 30
#define SETUP_MS                                                                                   \
    30000 /* the harness's own requests: they must be answered, even on a busy machine */
#define MAX_ANSWER (1024 * 1024)

static struct srv server;
static uint16_t port;
static char *admin_token;
static char *device_token;
static char *deployment_id;
static char *bundle_digest;

/* One raw exchange: the bytes out, the whole answer back into out (NUL-terminated). */
static void exchange(const void *data, size_t size, int first_byte_ms, struct m87_buf *out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("connect to the server under test");
        abort();
    }
    for (size_t done = 0; done < size;) {
        ssize_t w = send(fd, (const char *)data + done, size - done, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server answered early and closed: read what it said */
        done += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char buf[16384];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, out->len ? SILENCE_MS : first_byte_ms) <= 0)
            break;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        if (out->len < MAX_ANSWER)
            m87_buf_append(out, buf, (size_t)n, NULL);
    }
    close(fd);
    m87_buf_append(out, "", 1, NULL);
    out->len--;
}

/* A request made by the harness itself; its body's JSON value at key, or abort. */
static char *setup_call(const char *method, const char *path, const char *type, const char *body,
                        const char *key)
{
    _cleanup_free_ char *req = m87_xasprintf(
        "%s %s HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
        method, path, admin_token, type, strlen(body), body);
    struct m87_buf out;
    m87_buf_init(&out, 0);
    exchange(req, strlen(req), SETUP_MS, &out);
    const char *json = strstr(out.data ? out.data : "", "\r\n\r\n");
    _cleanup_(m87_json_freep) struct m87_json *doc =
        json ? m87_json_parse(json + 4, strlen(json + 4), NULL) : NULL;
    const char *v = m87_json_str(m87_json_get(doc, key), NULL);
    if (!v) {
        fprintf(stderr, "fuzz_server setup: %s %s: %s\n", method, path, out.data);
        abort();
    }
    char *copy = m87_xstrdup(v);
    m87_buf_release(&out);
    return copy;
}

static void start_server(void)
{
    _cleanup_error_ struct m87_error *err = NULL;
    const char *dir = fuzz_scratch_dir("server");

    m87_log_setup(M87_LOG_ERR, false); /* one line per request would drown the fuzzer's output */
    if (srv_init(dir, NULL, &admin_token, &err) < 0)
        goto fail;
    server.data_dir = m87_xstrdup(dir);
    server.bundle_dir = m87_xasprintf("%s/%s", dir, SRV_BUNDLE_DIR);
    server.longpoll_max = 0; /* a held sync would stall the fuzzer for its whole wait */
    server.session_retention = SRV_SESSION_RETENTION;
    atomic_init(&server.stopping, false);
    atomic_init(&server.in_flight, 0);
    if (srv_store_open(dir, false, &server.store, &err) < 0)
        goto fail;
    server.lp = srv_longpoll_new(SRV_MAX_HELD_PER_DEVICE);
    /* as srv_serve sets them up: the rollout driver and remote access's channels */
    server.rollouts = srv_rollouts_start(&server);
    server.remote = srv_remote_new();
    if (srv_http_start(&server, "127.0.0.1:0", NULL, NULL, &err) < 0)
        goto fail;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : 0;
    return;
fail:
    fprintf(stderr, "fuzz_server: start the server: %s\n", err->msg);
    abort();
}

/* Device gw with its token and active deployment. */
static void make_device(void)
{
    const char *json = "application/json";
    free(device_token);
    free(deployment_id);
    device_token = setup_call("POST", "/v1/devices", json, "{\"name\":\"gw\"}", "token");
    deployment_id =
        setup_call("POST", "/v1/devices/gw/deployments", json, "{\"active\":true}", "id");
}

/* The objects the seeds name: a device, its active deployment, a bundle it references. */
static void make_world(void)
{
    make_device();
    free(setup_call("POST", "/v1/devices", "application/json", "{\"name\":\"other\"}", "token"));
    const char blob[] = "\x1f\x8b not a real archive: the server only hashes it";
    char hex[M87_SHA256_HEX_LEN + 1];
    m87_sha256_hex(blob, sizeof(blob) - 1, hex);
    bundle_digest = m87_xasprintf("sha256:%s", hex);
    _cleanup_free_ char *path = m87_xasprintf("/v1/bundles/%s", bundle_digest);
    free(setup_call("PUT", path, "application/gzip", blob, "digest"));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    start_server();
    make_world();
    return 0;
}

/* The input with its placeholders replaced, and "Connection: close" after its first line so that
 * the server ends the exchange itself. */
static void expand(const uint8_t *data, size_t size, struct m87_buf *out)
{
    bool closed = false;
    for (size_t i = 0; i < size; i++) {
        if (!closed && data[i] == '\n') {
            m87_buf_append(out, "\nConnection: close\r", 20, NULL);
            closed = true;
        }
        const char *with = NULL;
        if (data[i] == '@' && i + 1 < size) {
            switch (data[i + 1]) {
            case 'A':
                with = admin_token;
                break;
            case 'D':
                with = device_token;
                break;
            case 'P':
                with = deployment_id;
                break;
            case 'B':
                with = bundle_digest;
                break;
            }
        }
        if (with) {
            m87_buf_append(out, with, strlen(with), NULL);
            i++;
        } else {
            m87_buf_append(out, (const char *)&data[i], 1, NULL);
        }
    }
}

/* An input may have removed gw or changed its token: without them later inputs would only ever
 * meet 401s. Looked at only after inputs that could have (a quick test of the bytes). */
static void repair_world(const struct m87_buf *req)
{
    if (!req->data ||
        (!memmem(req->data, req->len, "DELETE", 6) && !memmem(req->data, req->len, "token", 5)))
        return;
    _cleanup_free_ char *probe =
        m87_xasprintf("POST /v1/agent/sync HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n"
                      "Authorization: Bearer %s\r\nContent-Length: 11\r\n\r\n{\"wait\": 0}",
                      device_token);
    struct m87_buf out;
    m87_buf_init(&out, 0);
    exchange(probe, strlen(probe), SETUP_MS, &out);
    bool ok = out.data && strncmp(out.data, "HTTP/1.1 200", 12) == 0;
    m87_buf_release(&out);
    if (ok)
        return;
    _cleanup_free_ char *del =
        m87_xasprintf("DELETE /v1/devices/gw HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n"
                      "Authorization: Bearer %s\r\n\r\n",
                      admin_token);
    m87_buf_init(&out, 0);
    exchange(del, strlen(del), SETUP_MS, &out);
    m87_buf_release(&out);
    make_device();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct m87_buf req, answer;

    m87_buf_init(&req, 0);
    m87_buf_init(&answer, 0);
    expand(data, size, &req);
    exchange(req.data ? req.data : "", req.len, FIRST_BYTE_MS, &answer);
    const char *a = answer.data ? answer.data : "";
    /* no answer at all is fine (a request cut before its head ended); a wrong one is not */
    if (answer.len > 0 && strncmp(a, "HTTP/1.", 7) != 0) {
        fprintf(stderr, "fuzz_server: not an HTTP answer: %.200s\n", a);
        abort();
    }
    /* the first answer, or any later one of pipelined requests */
    if ((answer.len >= 12 && strncmp(a + 9, "500", 3) == 0) || strstr(a, "\nHTTP/1.1 500 ")) {
        fprintf(stderr, "fuzz_server: internal error: %.2000s\n", a);
        abort();
    }
    repair_world(&req);
    m87_buf_release(&req);
    m87_buf_release(&answer);
    return 0;
}
