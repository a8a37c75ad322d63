/* Registry credentials from the server: kept on disk for every pull, never logged. */
#include <stdlib.h>
#include <string.h>

#include "agent/daemon.h"
#include "agent/registries.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-creds.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/log.h"
#include "m87/state-file.h"

void agent_registries_init(struct agent_daemon *d)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    d->registries_path = m87_xasprintf("%s/%s", d->cfg->state_dir, AGENT_REGISTRIES_FILE);
    setenv(AGENT_REGISTRIES_ENV, d->registries_path, 1);
    d->registries_digest[0] = '\0';
    int rc = m87_state_read_json(d->registries_path, ENGINE_CREDS_CONFIG_MAX, &doc, &err);
    if (rc < 0) /* the message names the file, never its text */
        m87_log(M87_LOG_WARN, "registry credentials: %s; asking the server again", err->msg);
    const char *digest = rc > 0 ? m87_json_str(m87_json_get(doc, "digest"), "") : "";
    if (strlen(digest) == M87_SHA256_HEX_LEN)
        memcpy(d->registries_digest, digest, M87_SHA256_HEX_LEN + 1);
}

/* The hosts of entries, for the log: "a.io, b.io" or "none". Caller frees. */
static char *hosts_of(const struct m87_json *entries)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < m87_json_len(entries); i++)
        m87_buf_appendf(&b, NULL, "%s%s", i ? ", " : "",
                        m87_json_str(m87_json_get(m87_json_at(entries, i), "host"), "?"));
    if (b.len == 0)
        m87_buf_appendf(&b, NULL, "none");
    return m87_buf_steal(&b);
}

static int check(const struct m87_json *node, struct m87_error **err)
{
    const char *digest = m87_json_str(m87_json_get(node, "digest"), "");
    const struct m87_json *entries = m87_json_get(node, "entries");
    if (strlen(digest) != M87_SHA256_HEX_LEN || m87_json_type(entries) != M87_JSON_ARRAY ||
        m87_json_len(entries) > AGENT_MAX_REGISTRIES)
        return m87_error_set(err, M87_E_PARSE, 0,
                             "expected {\"digest\",\"entries\":[...]} of at most %u entries",
                             AGENT_MAX_REGISTRIES);
    for (size_t i = 0; i < m87_json_len(entries); i++) {
        const struct m87_json *e = m87_json_at(entries, i);
        if (m87_json_str(m87_json_get(e, "host"), NULL) == NULL ||
            m87_json_str(m87_json_get(e, "username"), NULL) == NULL ||
            m87_json_str(m87_json_get(e, "password"), NULL) == NULL)
            return m87_error_set(err, M87_E_PARSE, 0,
                                 "entries[%zu]: expected {\"host\",\"username\",\"password\"}", i);
    }
    return 0;
}

void agent_registries_take(struct agent_daemon *d, const struct m87_json *node)
{
    _cleanup_error_ struct m87_error *err = NULL;
    if (node == NULL || m87_json_type(node) == M87_JSON_NULL)
        return;
    if (check(node, &err) < 0) {
        m87_log(M87_LOG_ERR, "registry credentials from the server refused: %s", err->msg);
        return;
    }
    const struct m87_json *entries = m87_json_get(node, "entries");
    const char *digest = m87_json_str(m87_json_get(node, "digest"), "");
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "digest", digest);
    m87_jw_key(w, "registries");
    m87_jw_node(w, entries);
    m87_jw_obj_close(w);
    char *text = m87_jw_finish(w);
    int rc = m87_write_file_atomic(d->registries_path, text, strlen(text), 0600, &err);
    explicit_bzero(text, strlen(text));
    free(text);
    if (rc < 0) {
        m87_log(M87_LOG_ERR, "keep the registry credentials: %s", err->msg);
        return;
    }
    memcpy(d->registries_digest, digest, M87_SHA256_HEX_LEN + 1);
    _cleanup_free_ char *hosts = hosts_of(entries);
    m87_log(M87_LOG_INFO, "registry credentials from the server: %s", hosts);
}

struct engine_creds *agent_creds_load(struct m87_error **config_err, struct m87_error **server_err)
{
    struct engine_creds *c = engine_creds_load(NULL, config_err);
    if (c == NULL) {
        m87_error_wrap(config_err, "docker config");
        c = engine_creds_parse("{}", 2, NULL, NULL);
    }
    const char *path = getenv(AGENT_REGISTRIES_ENV);
    if (path != NULL && path[0] != '\0' && engine_creds_add_server(c, path, server_err) < 0)
        m87_error_wrap(server_err, "registry credentials of the m87 server");
    return c;
}
