/* The dashboard (docs/dashboard.md): the files of src/server/ui, built into the program by the
 * Makefile (scripts/gen-ui-assets.sh writes them as C, each with its gzip form), served at / and
 * /ui/NAME without a token: they hold no data; the page asks the API for it with the token the
 * operator types. */
#include <microhttpd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "m87/compiler.h"
#include "server/api.h"
#include "server/http.h"
#include "server/request.h"

struct ui_asset {
    const char *name;
    const unsigned char *raw;
    size_t raw_len;
    const unsigned char *gz;
    size_t gz_len;
    const char *etag;
};

#include "server/ui-assets.inc"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
};

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < M87_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const struct ui_asset *find(const char *name)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(ui_assets); i++)
        if (strcmp(ui_assets[i].name, name) == 0)
            return &ui_assets[i];
    return NULL;
}

/* Whether Accept-Encoding lists gzip without refusing it with q=0. */
static bool takes_gzip(const char *accept)
{
    for (const char *p = accept; p && *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, ",");
        if (strncasecmp(p, "gzip", 4) == 0 && (n == 4 || p[4] == ';' || p[4] == ' ')) {
            const char *q = memchr(p, '=', n);
            return q == NULL || strtod(q + 1, NULL) > 0;
        }
        p += n;
    }
    return false;
}

void srv_api_ui_get(struct srv_req *r)
{
    if (!r->srv->ui) {
        srv_reply_error(r, 404, "not_found", "the dashboard is turned off (--no-ui)");
        return;
    }
    const char *name = r->params.n ? r->params.v[0] : "index.html";
    const struct ui_asset *a = find(name);
    if (a == NULL) {
        srv_reply_error(r, 404, "not_found", "no such dashboard file: %s", name);
        return;
    }
    const char *inm = srv_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool gz = takes_gzip(srv_req_header(r, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    struct MHD_Response *resp;
    unsigned status = 200;
    if (inm && strcmp(inm, a->etag) == 0) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else {
        resp = MHD_create_response_from_buffer(
            gz ? a->gz_len : a->raw_len, (void *)(gz ? a->gz : a->raw), MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(a->name));
        if (gz)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    /* asked again each time (answered 304 while unchanged): a new server's page is never
     * mixed with an old one's modules */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    srv_reply_response(r, status, resp);
}
