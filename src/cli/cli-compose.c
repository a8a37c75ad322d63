/* `m87 DEVICE deploy docker-compose.yml`: the compose file as a job, its files as a bundle. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json.h"
#include "m87/spec-convert.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"

static char *make_temp_dir(struct m87_error **err)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = m87_xasprintf("%s/m87-deploy.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");

    if (!mkdtemp(dir)) {
        m87_error_set(err, M87_E_IO, errno, "create a directory like '%s'", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

struct spec_runspec *cli_compose_job(const char *path, const char *name, struct cli_bundle *bundle,
                                     struct m87_error **err)
{
    const char *files[] = {path};
    struct spec_load_options load = {.files = files, .n_files = 1};

    return cli_compose_job_load(&load, name, bundle, err);
}

struct spec_runspec *cli_compose_job_load(const struct spec_load_options *load, const char *name,
                                          struct cli_bundle *bundle, struct m87_error **err)
{
    struct spec_convert_options o = {
        .load = *load,
        .id = name,
    };
    _cleanup_(spec_conversion_freep) struct spec_conversion *conv = NULL;

    *bundle = (struct cli_bundle){0};
    bundle->dir = make_temp_dir(err);
    if (!bundle->dir)
        return NULL;
    o.bundle_dir = bundle->dir;
    conv = spec_convert_compose(&o, err);
    if (!conv)
        return NULL;
    for (size_t i = 0; i < conv->warnings.len; i++)
        fprintf(stderr, "m87: warning: %s\n", conv->warnings.items[i]);
    if (conv->bundle_path) {
        bundle->path = m87_xstrdup(conv->bundle_path);
        bundle->digest = m87_xstrdup(conv->rs->jobs[0].bundle);
        fprintf(stderr, "m87: bundling %zu path%s with the job:", conv->bundled.len,
                conv->bundled.len == 1 ? "" : "s");
        for (size_t i = 0; i < conv->bundled.len; i++)
            fprintf(stderr, " %s", conv->bundled.items[i]);
        fprintf(stderr, "\n");
    }
    return M87_STEAL(conv->rs);
}

int cli_bundle_upload(const struct cli_ctx *ctx, const struct cli_bundle *bundle)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;

    if (!bundle->path)
        return CLI_EXIT_OK;
    _cleanup_free_ char *path = m87_xasprintf("/v1/bundles/%s", bundle->digest);
    if (cli_http_put_file(ctx, path, bundle->path, &doc, &err) < 0) {
        m87_error_wrap(&err, "upload bundle '%s'", bundle->digest);
        return cli_report(err);
    }
    return CLI_EXIT_OK;
}

void cli_bundle_release(struct cli_bundle *bundle)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (bundle->dir && m87_remove_tree(bundle->dir, &err) < 0)
        fprintf(stderr, "m87: warning: %s\n", err->msg);
    free(bundle->dir);
    free(bundle->path);
    free(bundle->digest);
    *bundle = (struct cli_bundle){0};
}
