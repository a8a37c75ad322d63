/* `m87 DEVICE prefetch IMAGE...`, `prefetch status`, `prefetch clear`: images the device pulls
 * ahead of any deployment, and how far it got. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"

#define MAX_IMAGES 64 /* the server's limit per device */

static const char prefetch_help[] =
    "usage: m87 DEVICE prefetch IMAGE... [--json]\n"
    "       m87 DEVICE prefetch status [--json]\n"
    "       m87 DEVICE prefetch clear\n"
    "\n"
    "Ask the device to pull images ahead of any deployment (before the next release, over a\n"
    "slow link), following its prefetch policy: at once ('always'), or only inside its\n"
    "maintenance windows ('window', see 'm87 DEVICE prefetch-policy'). The device keeps them\n"
    "pulled while they are asked for; 'prefetch status' and 'deployment status' show the\n"
    "progress, 'prefetch clear' forgets the list (the images stay on the device).\n"
    "\n"
    "options:\n"
    "  --json      print the server's {\"prefetch_images\":[...],\"prefetch\":...}\n"
    "  -h, --help  show this help\n";

static char *mib(int64_t bytes)
{
    return m87_xasprintf("%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

char *cli_prefetch_progress(const struct m87_json *entry)
{
    const char *state = m87_json_str(m87_json_get(entry, "state"), "pending");
    const char *msg = m87_json_str(m87_json_get(entry, "message"), NULL);
    int64_t ld = m87_json_int(m87_json_get(entry, "layers_done"), 0);
    int64_t lt = m87_json_int(m87_json_get(entry, "layers_total"), 0);

    if (strcmp(state, "pulling") == 0 && lt > 0) {
        _cleanup_free_ char *done = mib(m87_json_int(m87_json_get(entry, "bytes_done"), 0));
        _cleanup_free_ char *total = mib(m87_json_int(m87_json_get(entry, "bytes_total"), 0));
        return m87_xasprintf("pulling: %lld of %lld layers, %s of %s", (long long)ld, (long long)lt,
                             done, total);
    }
    if (msg && (strcmp(state, "failed") == 0 || strcmp(state, "done") == 0))
        return m87_xasprintf("%s: %s", state, msg);
    return m87_xstrdup(state);
}

/* The images and their progress; true when one failed. */
static bool print_images(const char *device, const struct m87_json *doc)
{
    static const char *const header[] = {"IMAGE", "REQUESTED", "STATE"};
    const struct m87_json *imgs = m87_json_get(doc, "prefetch_images");
    struct cli_table t;
    bool failed = false;

    if (m87_json_len(imgs) == 0) {
        printf("no images to prefetch on %s; ask with: m87 %s prefetch IMAGE\n", device, device);
        return false;
    }
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(imgs); i++) {
        const struct m87_json *e = m87_json_at(imgs, i);
        _cleanup_free_ char *when =
            cli_format_local(m87_json_str(m87_json_get(e, "requested"), NULL));
        _cleanup_free_ char *state = cli_prefetch_progress(e);
        const char *row[] = {m87_json_str(m87_json_get(e, "image"), "?"), when, state};
        cli_table_add(&t, row);
        failed = failed || strcmp(m87_json_str(m87_json_get(e, "state"), ""), "failed") == 0;
    }
    cli_table_print(&t);
    printf("prefetch policy: %s\n", m87_json_str(m87_json_get(doc, "prefetch"), "always"));
    return failed;
}

static int prefetch_add(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *path = cli_device_path(device, "/prefetch");
    bool json = false;
    int rc = cli_parse_simple("prefetch", prefetch_help, argc, argv, &json, 1, MAX_IMAGES);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_key(w, "images");
    m87_jw_arr_open(w);
    for (int i = optind; i < argc; i++)
        m87_jw_str(w, argv[i]);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    if (cli_http_json(ctx, "POST", path, body, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    printf("asked %s to prefetch %d image%s; see: m87 %s prefetch status\n", device, argc - optind,
           argc - optind == 1 ? "" : "s", device);
    return CLI_EXIT_OK;
}

static int prefetch_status(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_free_ char *path = cli_device_path(device, "/prefetch");
    return cli_get_and_show(ctx, "prefetch status", prefetch_help, argc, argv, path, device,
                            print_images);
}

static int prefetch_clear(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = cli_device_path(device, "/prefetch");
    int rc = cli_parse_simple("prefetch clear", prefetch_help, argc, argv, NULL, 0, 0);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if (cli_http_json(ctx, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_report(err);
    printf("cleared the prefetch list of %s\n", device);
    return CLI_EXIT_OK;
}

int cli_cmd_prefetch(const char *device, int argc, char **argv)
{
    static const struct cli_sub add = {"prefetch", prefetch_add, prefetch_help};
    static const struct cli_sub status = {"status", prefetch_status, prefetch_help};
    static const struct cli_sub clear = {"clear", prefetch_clear, prefetch_help};

    /* an image named "status" or "clear" is asked for as docker.io/library/status */
    if (argc >= 2 && strcmp(argv[1], "status") == 0)
        return cli_run(&status, device, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "clear") == 0)
        return cli_run(&clear, device, argc - 1, argv + 1);
    return cli_run(&add, device, argc, argv);
}
