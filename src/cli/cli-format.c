/* Output for people: aligned tables, durations, relative times; and JSON for scripts. */
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

void cli_table_init(struct cli_table *t, size_t n_cols, const char *const *header)
{
    t->n_cols = n_cols;
    m87_strv_init(&t->cells);
    cli_table_add(t, header);
}

void cli_table_add(struct cli_table *t, const char *const *row)
{
    for (size_t i = 0; i < t->n_cols; i++)
        m87_strv_add(&t->cells, row[i] ? row[i] : "-");
}

void cli_table_release(struct cli_table *t)
{
    m87_strv_release(&t->cells);
}

void cli_table_print(struct cli_table *t)
{
    _cleanup_free_ char *text = cli_table_render(t);
    fputs(text, stdout);
    cli_table_release(t);
}

/* Width in characters, not bytes: a UTF-8 continuation byte adds nothing. */
static size_t text_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

char *cli_table_render(const struct cli_table *t)
{
    size_t n_rows = t->n_cols ? t->cells.len / t->n_cols : 0;
    _cleanup_free_ size_t *width = m87_xcalloc(t->n_cols ? t->n_cols : 1, sizeof(*width));
    struct m87_buf out;

    m87_buf_init(&out, 0);
    for (size_t i = 0; i < t->cells.len; i++) {
        size_t w = text_width(t->cells.items[i]);
        if (w > width[i % t->n_cols])
            width[i % t->n_cols] = w;
    }
    for (size_t r = 0; r < n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells.items[r * t->n_cols + c];
            m87_buf_append(&out, cell, strlen(cell), NULL);
            for (size_t k = text_width(cell); c + 1 < t->n_cols && k < width[c] + 2; k++)
                m87_buf_append(&out, " ", 1, NULL);
        }
        while (out.len && out.data[out.len - 1] == ' ')
            out.data[--out.len] = 0;
        m87_buf_append(&out, "\n", 1, NULL);
    }
    return m87_buf_steal(&out);
}

char *cli_format_ms(int64_t ms)
{
    if (ms < 0)
        return m87_xstrdup("-");
    if (ms < 1000)
        return m87_xasprintf("%lldms", (long long)ms);
    if (ms < 60000)
        return m87_xasprintf("%lld.%llds", (long long)(ms / 1000), (long long)(ms % 1000 / 100));
    int64_t s = ms / 1000;
    if (s < 3600)
        return m87_xasprintf("%lldm%llds", (long long)(s / 60), (long long)(s % 60));
    return m87_xasprintf("%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

int cli_parse_time(const char *text, time_t *out)
{
    struct tm tm = {0};
    const char *end;

    if (!text)
        return -1;
    end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || strcmp(end, "Z") != 0)
        return -1;
    *out = timegm(&tm);
    return 0;
}

char *cli_format_ago(const char *text, time_t now)
{
    time_t t;

    if (!text)
        return m87_xstrdup("never");
    if (cli_parse_time(text, &t) < 0)
        return m87_xstrdup(text);
    long long d = now > t ? (long long)(now - t) : 0;
    if (d < 60)
        return m87_xasprintf("%llds ago", d);
    if (d < 3600)
        return m87_xasprintf("%lldm ago", d / 60);
    if (d < 86400)
        return m87_xasprintf("%lldh ago", d / 3600);
    return m87_xasprintf("%lldd ago", d / 86400);
}

void cli_print_json(FILE *out, const struct m87_json *n)
{
    _cleanup_(m87_jw_freep) struct m87_jw *w = m87_jw_new();
    size_t len = 0;

    m87_jw_node(w, n);
    const char *text = m87_jw_text(w, &len);
    fwrite(text, 1, len, out);
    fputc('\n', out);
}

char *cli_format_local_time(time_t t)
{
    char buf[64];
    struct tm tm;

    if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M %Z", &tm) == 0)
        return m87_xstrdup("-");
    return m87_xstrdup(buf);
}

char *cli_format_local(const char *text)
{
    time_t t;

    if (!text)
        return m87_xstrdup("-");
    if (cli_parse_time(text, &t) < 0)
        return m87_xstrdup(text);
    return cli_format_local_time(t);
}

int cli_get_and_show(const struct cli_ctx *ctx, const char *cmd, const char *help, int argc,
                     char **argv, const char *path, const char *device,
                     bool (*print)(const char *device, const struct m87_json *doc))
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    bool json = false;
    int rc = cli_parse_simple(cmd, help, argc, argv, &json, 0, 0);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    return print(device, doc) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}
