/* /v1/registries: registry credentials the devices pull with (docs/api.md). The password is
 * sealed before it is stored and never written back by the API: only a device's sync answer
 * carries it, to that device, for the entries meant for it. A device learns of a change through
 * a digest: the agent sends the one of the entries it holds ("registries" in its sync), and the
 * answer carries the entries again only when the server's differs. A change wakes the held syncs
 * of the devices it concerns. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/request.h"
#include "server/secret.h"
#include "server/store-devices.h"
#include "m87/spec-selector.h"
#include "server/store-registries.h"

/* host[:port] as docker names a registry: letters, digits, '.', '-', one optional ":PORT". */
static bool valid_host(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SRV_MAX_REGISTRY_HOST || *s == '-' || *s == '.' || *s == ':')
        return false;
    const char *colon = strchr(s, ':');
    for (const char *p = s; *p; p++) {
        bool alnum =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (colon && p > colon && !(*p >= '0' && *p <= '9'))
            return false;
        if (!alnum && *p != '.' && *p != '-' && p != colon)
            return false;
    }
    return colon == NULL || (colon[1] != '\0' && strlen(colon + 1) <= 5);
}

static bool valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

struct reg_body {
    const char *host;
    const char *username;
    const char *password;
    const struct m87_json *devices; /* array or NULL */
    char *selector;                 /* canonical, or NULL */
};

/* A label selector of a request ("select"): its canonical text in *out; 400 with the column. */
static int read_selector(const char *text, char **out, struct m87_error **err)
{
    struct spec_selector sel;
    if (spec_selector_parse(text, &sel, err) < 0)
        return m87_error_wrap(err, "select");
    *out = spec_selector_format(&sel);
    spec_selector_release(&sel);
    return 0;
}

static int read_body(const struct m87_json *body, struct reg_body *b, struct m87_error **err)
{
    b->host = m87_json_str(m87_json_get(body, "host"), NULL);
    b->username = m87_json_str(m87_json_get(body, "username"), NULL);
    b->password = m87_json_str(m87_json_get(body, "password"), NULL);
    b->devices = m87_json_get(body, "devices");
    const struct m87_json *sel = m87_json_get(body, "select");
    if (b->host == NULL || !valid_host(b->host))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "host: expected a registry host like 'registry.example.com' or "
                             "'10.0.0.5:5000'");
    if (b->username == NULL || !valid_text(b->username, SRV_MAX_REGISTRY_USER))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "username: expected 1 to %d characters, no control characters",
                             SRV_MAX_REGISTRY_USER);
    /* the message never quotes the password */
    if (b->password == NULL || strlen(b->password) == 0 || strlen(b->password) > SRV_SECRET_MAX)
        return m87_error_set(err, M87_E_INVAL, 0, "password: expected 1 to %d bytes",
                             SRV_SECRET_MAX);
    if (b->devices && m87_json_type(b->devices) == M87_JSON_NULL)
        b->devices = NULL;
    if (b->devices && m87_json_type(b->devices) != M87_JSON_ARRAY)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "devices: expected an array of device names (none: every device)");
    for (size_t i = 0; b->devices && i < m87_json_len(b->devices); i++)
        if (m87_json_str(m87_json_at(b->devices, i), NULL) == NULL)
            return m87_error_set(err, M87_E_INVAL, 0, "devices[%zu]: expected a device name", i);
    if (sel && m87_json_type(sel) != M87_JSON_NULL) {
        if (m87_json_str(sel, NULL) == NULL)
            return m87_error_set(err, M87_E_INVAL, 0, "select: expected a label selector string");
        if (b->devices)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "select: give devices or a selector, not both");
        if (read_selector(m87_json_str(sel, ""), &b->selector, err) < 0)
            return -1;
        if (b->selector[0] == '\0') { /* selects every device: the every-device entry */
            free(b->selector);
            b->selector = NULL;
        }
    }
    return 0;
}

static void write_list(struct m87_jw *w, const struct srv_registry *v, size_t n)
{
    m87_jw_obj_open(w);
    srv_jw_rows(w, "registries", &srv_registry_row, v, n);
    m87_jw_obj_close(w);
}

static int answer_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct srv_registry *v = NULL;
    size_t n = 0;
    if (srv_registry_list(r->srv->store, &v, &n, err) < 0)
        return -1;
    write_list(w, v, n);
    srv_registries_free(v, n);
    return 0;
}

int srv_api_registries_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    return answer_list(r, w, err);
}

/* Every device named exists before anything is stored: nothing half-applied. */
static int put_all(struct srv_req *r, const struct reg_body *b, const char *sealed,
                   struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    size_t n = b->devices ? m87_json_len(b->devices) : 0;
    int64_t *ids = m87_xcalloc(n ? n : 1, sizeof(*ids));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        _cleanup_(srv_device_release) struct srv_device d = {0};
        rc = srv_device_find(st, m87_json_str(m87_json_at(b->devices, i), ""), &d, err);
        ids[i] = d.id;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct srv_reg_scope scope = {ids[i], NULL};
        rc = srv_registry_put(st, b->host, &scope, b->username, sealed, err);
    }
    if (rc == 0 && n == 0) {
        struct srv_reg_scope scope = {0, b->selector};
        rc = srv_registry_put(st, b->host, &scope, b->username, sealed, err);
    }
    if (n == 1)
        r->notify_device = ids[0];
    else
        r->notify_all = true;
    free(ids);
    return rc;
}

int srv_api_registries_put(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const fields[] = {"host", "username", "password", "devices", "select", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    struct reg_body b = {0};
    int rc = body ? read_body(body, &b, err) : -1;
    _cleanup_free_ char *sealed = rc == 0 ? srv_secret_seal(&r->srv->registry_key, b.password,
                                                            strlen(b.password), b.host, err)
                                          : NULL;
    if (rc == 0 && (sealed == NULL || put_all(r, &b, sealed, err) < 0))
        rc = -1;
    free(b.selector);
    return rc < 0 ? -1 : answer_list(r, w, err);
}

int srv_api_registries_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    (void)w;
    const char *host = srv_req_query(r, "host");
    const char *device = srv_req_query(r, "device");
    const char *select = srv_req_query(r, "select");
    _cleanup_(srv_device_release) struct srv_device d = {0};
    _cleanup_free_ char *selector = NULL;
    if (host == NULL || !valid_host(host))
        return m87_error_set(err, M87_E_INVAL, 0, "host: expected the registry host to remove");
    if (device && select)
        return m87_error_set(err, M87_E_INVAL, 0, "select: give device or select, not both");
    if (select && read_selector(select, &selector, err) < 0)
        return -1;
    if (device && srv_device_find(r->srv->store, device, &d, err) < 0)
        return -1;
    struct srv_reg_scope scope = {d.id, selector && *selector ? selector : NULL};
    if (srv_registry_remove(r->srv->store, host, &scope, err) < 0)
        return -1;
    if (d.id)
        r->notify_device = d.id;
    else
        r->notify_all = true;
    return 0;
}

/* The digest of a device's entries: what the agent echoes. A new seal has a new nonce, so an
 * entry written again has a new digest even with the same password. */
static void entries_digest(const struct srv_registry *v, size_t n, char out[M87_SHA256_HEX_LEN + 1])
{
    struct m87_sha256 *h = m87_sha256_new();
    for (size_t i = 0; i < n; i++) {
        m87_sha256_update(h, v[i].host, strlen(v[i].host) + 1);
        m87_sha256_update(h, v[i].username, strlen(v[i].username) + 1);
        m87_sha256_update(h, v[i].secret, strlen(v[i].secret) + 1);
    }
    m87_sha256_final(h, out);
}

static int write_entries(struct srv *s, struct m87_jw *w, const struct srv_registry *v, size_t n,
                         const char *digest, struct m87_error **err)
{
    struct m87_jw *part = m87_jw_new();
    m87_jw_obj_open(part);
    m87_jw_kstr(part, "digest", digest);
    m87_jw_key(part, "entries");
    m87_jw_arr_open(part);
    for (size_t i = 0; i < n; i++) {
        char *password = srv_secret_open(&s->registry_key, v[i].secret, v[i].host, err);
        if (password == NULL) {
            m87_error_wrap(err, "registry '%s'", v[i].host);
            m87_jw_free(part);
            return -1;
        }
        m87_jw_obj_open(part);
        m87_jw_kstr(part, "host", v[i].host);
        m87_jw_kstr(part, "username", v[i].username);
        m87_jw_kstr(part, "password", password);
        m87_jw_obj_close(part);
        explicit_bzero(password, strlen(password));
        free(password);
    }
    m87_jw_arr_close(part);
    m87_jw_obj_close(part);
    char *text = m87_jw_finish(part);
    m87_jw_key(w, "registries");
    srv_jw_raw(w, text);
    explicit_bzero(text, strlen(text));
    free(text);
    return 0;
}

int srv_jw_registries_sync(struct srv *s, struct m87_jw *w, int64_t device_id, const char *has,
                           bool *sent, struct m87_error **err)
{
    struct srv_registry *v = NULL;
    size_t n = 0;
    char digest[M87_SHA256_HEX_LEN + 1];
    *sent = false;
    if (device_id == 0) /* removed while its sync was held */
        return 0;
    if (srv_registry_for_device(s->store, device_id, &v, &n, err) < 0)
        return -1;
    entries_digest(v, n, digest);
    if ((has == NULL && n > 0) || (has != NULL && strcmp(has, digest) != 0)) {
        _cleanup_error_ struct m87_error *e = NULL;
        if (write_entries(s, w, v, n, digest, &e) == 0)
            *sent = true;
        else /* the device keeps what it has; the sync goes on */
            m87_log(M87_LOG_ERR, "sync of device %lld: %s", (long long)device_id, e->msg);
    }
    srv_registries_free(v, n);
    return 0;
}
