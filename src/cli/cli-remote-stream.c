/* A session from the CLI's side: create it, print its output as the device sends it (a
 * long-poll of the output after the last seq seen), cancel it on Ctrl-C, and end with the
 * command's exit status. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/time.h"

#define POLL_WAIT_S 2              /* the server's hold of one output read: Ctrl-C is seen within */
#define PICKUP_OFFLINE_MS 3000L    /* an unconnected device that did not take the command */
#define PICKUP_CONNECTED_MS 20000L /* a connected one (its agent may be between two syncs) */
#define PICKUP_DELIVERED_MS 3000L  /* handed to the device, not started: the device is gone */
#define CANCEL_GRACE_MS 45000L     /* after Ctrl-C: how long the device has to confirm */
#define SERVER_GRACE_MS 30000L     /* the server not answering, before giving up */
#define EXIT_CANCELLED 130

static volatile sig_atomic_t interrupted; /* Ctrl-Cs so far */

static void on_interrupt(int sig)
{
    (void)sig;
    if (interrupted < 2)
        interrupted++;
}

struct follow {
    const struct cli_ctx *ctx;
    const char *device;
    char *base; /* /v1/devices/D/sessions/ID */
    char *id;
    int64_t after;
    int64_t pickup_deadline;
    int64_t delivered_at;    /* when the server was first seen to have handed it over; 0: not yet */
    bool waiting;            /* --wait: the device may come back, the server hands it over again */
    int64_t cancel_deadline; /* 0: no cancel sent */
    int64_t server_down_since;
};

static void print_chunks(const struct m87_json *doc)
{
    const struct m87_json *out = m87_json_get(doc, "output");

    for (size_t i = 0; i < m87_json_len(out); i++) {
        const struct m87_json *c = m87_json_at(out, i);
        const char *text = m87_json_str(m87_json_get(c, "text"), "");
        bool err = strcmp(m87_json_str(m87_json_get(c, "stream"), ""), "stderr") == 0;
        FILE *f = err ? stderr : stdout;
        fputs(text, f);
        fflush(f);
    }
}

/* The device did not take the command: say when it was last seen, and exit 2. */
static int offline(struct follow *f, const struct m87_json *doc)
{
    const char *seen = m87_json_str(m87_json_path(doc, "device", "last_seen", NULL), NULL);
    _cleanup_free_ char *ago = cli_format_ago(seen, time(NULL));
    _cleanup_free_ char *path = m87_xasprintf("%s/cancel", f->base);

    cli_http_json(f->ctx, "POST", path, NULL, NULL, NULL);
    if (seen)
        fprintf(stderr, "m87: device '%s' is offline: last seen %s (%s); the command was not run\n",
                f->device, ago, seen);
    else
        fprintf(stderr,
                "m87: device '%s' is offline: it never connected; the command was not "
                "run\n",
                f->device);
    fprintf(stderr, "Wait for it with: m87 %s docker --wait DURATION ...\n", f->device);
    return CLI_EXIT_USAGE;
}

static void send_cancel(struct follow *f)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = m87_xasprintf("%s/cancel", f->base);

    fprintf(stderr, "m87: cancelling %s on %s (Ctrl-C again: do not wait for it)\n", f->id,
            f->device);
    if (cli_http_json(f->ctx, "POST", path, NULL, NULL, &err) < 0)
        fprintf(stderr, "m87: cancel: %s\n", err->msg);
    f->cancel_deadline = m87_mono_ms() + CANCEL_GRACE_MS;
}

/* The exit status once the session ended, or -1 while it goes on. */
static int ended(struct follow *f, const struct m87_json *doc)
{
    const char *state = m87_json_str(m87_json_get(doc, "state"), "");
    const char *msg = m87_json_str(m87_json_get(doc, "message"), NULL);
    int64_t code = m87_json_int(m87_json_get(doc, "exit_code"), -1);

    if (m87_json_len(m87_json_get(doc, "output")) > 0)
        return -1; /* read on until the output is drained */
    if (strcmp(state, "exited") == 0)
        return code >= 0 ? (int)code : CLI_EXIT_FAILED;
    if (strcmp(state, "cancelled") == 0) {
        fprintf(stderr, "m87: %s on %s: %s\n", f->id, f->device, msg ? msg : "cancelled");
        return EXIT_CANCELLED;
    }
    if (strcmp(state, "lost") == 0) {
        fprintf(stderr, "m87: %s on %s: %s\n", f->id, f->device,
                msg ? msg : "the device went away");
        return CLI_EXIT_FAILED;
    }
    /* a live agent says it started within milliseconds of getting it: a session handed over
     * and not started went to a connection the device left (the server cannot tell those) */
    bool pending = strcmp(state, "pending") == 0;
    if (pending && !f->delivered_at && m87_json_str(m87_json_get(doc, "delivered"), NULL))
        f->delivered_at = m87_mono_ms();
    bool gone =
        !f->waiting && f->delivered_at && m87_mono_ms() - f->delivered_at > PICKUP_DELIVERED_MS;
    if (pending && !f->cancel_deadline && (m87_mono_ms() > f->pickup_deadline || gone))
        return offline(f, doc);
    if (f->cancel_deadline && m87_mono_ms() > f->cancel_deadline) {
        fprintf(stderr, "m87: the device did not confirm the cancel of %s\n", f->id);
        return EXIT_CANCELLED;
    }
    return -1;
}

/* One read of the output; -1 while it goes on, else the exit status. */
static int read_once(struct follow *f)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *path =
        m87_xasprintf("%s/output?after=%lld&wait=%d", f->base, (long long)f->after, POLL_WAIT_S);

    if (cli_http_json(f->ctx, "GET", path, NULL, &doc, &err) < 0) {
        bool transient = m87_error_code(err) == M87_E_CONNECT ||
                         m87_error_code(err) == M87_E_TIMEOUT || err->http_status >= 500;
        int64_t now = m87_mono_ms();
        if (!transient)
            return cli_report(err);
        if (!f->server_down_since)
            f->server_down_since = now;
        if (now - f->server_down_since > SERVER_GRACE_MS)
            return cli_report(err);
        fprintf(stderr, "m87: warning: %s; trying again\n", err->msg);
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        return -1;
    }
    f->server_down_since = 0;
    print_chunks(doc);
    f->after = m87_json_int(m87_json_get(doc, "next"), f->after);
    return ended(f, doc);
}

static int create(struct follow *f, const char *body, int64_t wait_ms)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *path = cli_device_path(f->device, "/sessions");

    if (cli_http_json(f->ctx, "POST", path, body, &doc, &err) < 0)
        return cli_report(err);
    f->id = m87_xstrdup(m87_json_str(m87_json_get(doc, "id"), "?"));
    f->base = m87_xasprintf("%s/%s", path, f->id);
    bool connected = m87_json_bool(m87_json_path(doc, "device", "connected", NULL), false);
    f->waiting = wait_ms >= 0;
    f->pickup_deadline = m87_mono_ms() + (wait_ms >= 0 ? wait_ms
                                          : connected  ? PICKUP_CONNECTED_MS
                                                       : PICKUP_OFFLINE_MS);
    if (!connected && wait_ms > 0)
        fprintf(stderr, "m87: device '%s' is offline; waiting for it\n", f->device);
    return 0;
}

int cli_remote_run(const struct cli_ctx *ctx, const char *device, const char *body, int64_t wait_ms)
{
    struct follow f = {.ctx = ctx, .device = device};
    struct sigaction sa = {.sa_handler = on_interrupt};

    _cleanup_free_ char *signed_body = NULL;
    int rc = cli_sign_session(device, body, &signed_body);
    if (rc != CLI_EXIT_OK)
        return rc;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = create(&f, signed_body ? signed_body : body, wait_ms);
    while (rc == 0) {
        if (interrupted && !f.cancel_deadline)
            send_cancel(&f);
        if (interrupted > 1) {
            fprintf(stderr, "m87: not waiting for %s to stop on %s\n", f.id, f.device);
            rc = EXIT_CANCELLED;
            break;
        }
        int end = read_once(&f);
        if (end >= 0) {
            rc = interrupted ? EXIT_CANCELLED : end;
            break;
        }
    }
    free(f.id);
    free(f.base);
    return rc;
}
