/* The server's paths of a device and of its deployments, and which deployment a command means
 * (the one named, or the device's active one). Below the commands that use them. */
#include <stdio.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"

char *cli_device_path(const char *device, const char *tail)
{
    _cleanup_free_ char *d = cli_escape(device);
    return m87_xasprintf("/v1/devices/%s%s", d, tail ? tail : "");
}

char *cli_deployment_path(const char *device, const char *id, const char *tail)
{
    _cleanup_free_ char *d = cli_escape(device);
    _cleanup_free_ char *i = cli_escape(id);
    return m87_xasprintf("/v1/devices/%s/deployments/%s%s", d, i, tail ? tail : "");
}

int cli_active_deployment(const struct cli_ctx *ctx, const char *device, char **id)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *path = cli_device_path(device, NULL);

    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    const char *active = m87_json_str(m87_json_path(doc, "active_deployment", "id", NULL), NULL);
    if (!active) {
        fprintf(stderr,
                "m87: device '%s' has no active deployment; run: m87 %s deployment new "
                "--active\n",
                device, device);
        return CLI_EXIT_USAGE;
    }
    *id = m87_xstrdup(active);
    return CLI_EXIT_OK;
}

int cli_deployment_id(const struct cli_ctx *ctx, const char *device, const char *given, char **id)
{
    if (!given)
        return cli_active_deployment(ctx, device, id);
    *id = m87_xstrdup(given);
    return CLI_EXIT_OK;
}
