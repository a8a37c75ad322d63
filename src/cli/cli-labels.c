/* Labels on the command line: `m87 devices label`, the --label arguments of `devices add`, and a
 * device's labels as text. Keys, values and arguments are checked by the spec layer's rules
 * (spec-label.h) before anything is sent; the server checks them again. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-label.h"

const char cli_label_help[] =
    "usage: m87 devices label NAME KEY=VALUE|KEY-... [--json]\n"
    "\n"
    "Set labels of a device (KEY=VALUE; VALUE may be empty) and remove them (KEY-), in one\n"
    "change; the other labels stay. Prints the device's labels after the change, then a line\n"
    "for each fleet it joins or leaves by it ('gw-1 joins fleet berlin').\n"
    "KEY: [PREFIX/]NAME, NAME 1 to 63 characters of [A-Za-z0-9_.-] starting and ending with a\n"
    "letter or digit, PREFIX a lower case DNS name; VALUE: empty or up to 63 characters like\n"
    "NAME. A device has at most 64 labels. See 'm87 devices list --help' for selectors.\n"
    "\n"
    "options:\n"
    "  --json      print the device as the server has it after the change\n"
    "  -h, --help  show this help\n";

char *cli_labels_text(const struct m87_json *labels)
{
    size_t n = m87_json_type(labels) == M87_JSON_OBJECT ? m87_json_len(labels) : 0;
    if (n == 0)
        return NULL;
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL;
        const struct m87_json *v = m87_json_member(labels, i, &key);
        m87_buf_appendf(&b, NULL, "%s%s=%s", i ? "," : "", key, m87_json_str(v, ""));
    }
    return m87_buf_steal(&b);
}

int cli_labels_write(const char *cmd, const char *option, const struct m87_strv *args,
                     bool removals, struct m87_jw *w)
{
    _cleanup_(m87_kvlist_release) struct m87_kvlist labels = {0};
    for (size_t i = 0; i < args->len; i++) {
        _cleanup_error_ struct m87_error *err = NULL;
        _cleanup_free_ char *key = NULL;
        _cleanup_free_ char *value = NULL;
        _cleanup_free_ char *q = m87_quote_excerpt(args->items[i], 80);
        if (spec_label_parse_arg(args->items[i], &key, &value, &err) < 0)
            return cli_usage_error(cmd, "%s%s%s: %s", option ? option : "", option ? " " : "", q,
                                   err->msg);
        if (value == NULL && !removals)
            return cli_usage_error(cmd, "%s%s%s: expected KEY=VALUE", option ? option : "",
                                   option ? " " : "", q);
        m87_kvlist_set(&labels, key, value);
    }
    size_t sets = 0;
    for (size_t i = 0; i < labels.len; i++)
        sets += labels.items[i].value != NULL;
    if (sets > SPEC_LABELS_MAX)
        return cli_usage_error(cmd, "a device has at most %d labels", SPEC_LABELS_MAX);
    m87_jw_key(w, "labels");
    m87_jw_obj_open(w);
    for (size_t i = 0; i < labels.len; i++) {
        m87_jw_key(w, labels.items[i].key);
        m87_jw_str(w, labels.items[i].value);
    }
    m87_jw_obj_close(w);
    return 0;
}

int cli_devices_label(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_(m87_strv_release) struct m87_strv args = {0};
    bool json = false;
    int rc = cli_parse_simple("devices label", cli_label_help, argc, argv, &json, 2, argc);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    const char *name = argv[optind];
    for (int i = optind + 1; i < argc; i++)
        m87_strv_add(&args, argv[i]);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    rc = cli_labels_write("devices label", NULL, &args, true, w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    if (rc)
        return rc;
    _cleanup_free_ char *path = cli_device_path(name, NULL);
    if (cli_http_json(ctx, "PATCH", path, body, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    _cleanup_free_ char *text = cli_labels_text(m87_json_get(doc, "labels"));
    printf("labels of '%s': %s\n", name, text ? text : "none");
    cli_print_fleet_moves(name, doc);
    return CLI_EXIT_OK;
}
