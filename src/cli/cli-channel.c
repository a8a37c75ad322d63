/* Remote channels as the CLI opens and joins them (docs/remote.md): shared by exec, shell and
 * forward. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/time.h"
#include "m87/version.h"

#define CHANNEL_END_WAIT_MS 30000L /* for the device's end once the streams ended */
#define CHANNEL_END_POLL_MS 20L

int cli_channel_open(struct cli_channel *ch, const struct cli_ctx *ctx, const char *device,
                     const char *body)
{
    _cleanup_free_ char *signed_body = NULL;
    int rc = cli_sign_remote(device, body, &signed_body); /* with signing.key only */
    if (rc != CLI_EXIT_OK)
        return rc;
    _cleanup_free_ char *dev = cli_escape(device);
    _cleanup_free_ char *path = m87_xasprintf("/v1/devices/%s/remote", dev);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    if (cli_http_json(ctx, "POST", path, signed_body ? signed_body : body, &doc, &err) < 0)
        return cli_report(err);
    *ch = (struct cli_channel){.ctx = ctx, .device = device};
    ch->id = m87_xstrdup(m87_json_str(m87_json_get(doc, "id"), ""));
    _cleanup_free_ char *auth = m87_xasprintf("Authorization: Bearer %s", ctx->token);
    ch->headers = curl_slist_append(NULL, auth);
    ch->headers = curl_slist_append(ch->headers, "Expect:");
    ch->headers = curl_slist_append(ch->headers, "Content-Type: application/octet-stream");
    return CLI_EXIT_OK;
}

void cli_channel_release(struct cli_channel *ch)
{
    free(ch->id);
    curl_slist_free_all(ch->headers);
    *ch = (struct cli_channel){0};
}

void *cli_channel_stream(struct cli_channel *ch, const char *stream)
{
    _cleanup_free_ char *dev = cli_escape(ch->device);
    _cleanup_free_ char *url =
        m87_xasprintf("%s/v1/devices/%s/remote/%s/%s", ch->ctx->server, dev, ch->id, stream);
    CURL *h = curl_easy_init();
    if (!h)
        m87_oom();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, ch->headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CLI_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "m87/" M87_VERSION);
    if (ch->ctx->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, ch->ctx->ca_file);
    return h;
}

int cli_channel_end(struct cli_channel *ch, const char *prefix)
{
    _cleanup_free_ char *dev = cli_escape(ch->device);
    _cleanup_free_ char *path = m87_xasprintf("/v1/devices/%s/remote/%s", dev, ch->id);
    int64_t until = m87_mono_ms() + CHANNEL_END_WAIT_MS;
    for (;;) {
        _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
        _cleanup_error_ struct m87_error *err = NULL;
        if (cli_http_json(ch->ctx, "GET", path, NULL, &doc, &err) < 0)
            return cli_report(err);
        const char *state = m87_json_str(m87_json_get(doc, "state"), "");
        int64_t code = m87_json_int(m87_json_get(doc, "exit_code"), -1);
        const char *msg = m87_json_str(m87_json_get(doc, "message"), NULL);
        if (strcmp(state, "ended") == 0 && code >= 0)
            return (int)code;
        if (strcmp(state, "ended") == 0 || strcmp(state, "broken") == 0) {
            fprintf(stderr, "m87: %s%s\n", prefix,
                    msg ? msg : "the channel ended without a status");
            return msg && strncmp(msg, "refused", 7) == 0 ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
        }
        if (m87_mono_ms() > until) {
            fprintf(stderr, "m87: %sthe device did not send the end of the channel\n", prefix);
            return CLI_EXIT_FAILED;
        }
        m87_sleep_ms(CHANNEL_END_POLL_MS);
    }
}
