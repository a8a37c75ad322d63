/* Registry credentials, the pure part: config.json read as data, which entry or helper serves a
 * registry, a helper's answer. Running helpers and reading the file are engine-creds-lookup.c.
 *
 * The rules follow the docker CLI (cli/config/configfile and cli/config/credentials): credHelpers
 * before credsStore before auths, a key reduced to its host like ConvertToHostname, an "auth"
 * entry split at its first ':' with NULs trimmed from the password. One addition: Docker Hub's
 * names are one registry everywhere, where the CLI only knows https://index.docker.io/v1/. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/base64.h"
#include "m87/engine-creds.h"
#include "m87/error.h"
#include "m87/json.h"

struct engine_creds {
    char *path;
    struct m87_json *doc;
    const struct m87_json *auths;   /* object or NULL */
    const struct m87_json *helpers; /* object or NULL */
    const char *store;              /* credsStore, NULL or "" when none */
    char *server_path;              /* the m87 server's entries (engine_creds_add_server) */
    struct m87_json *server_doc;
    const struct m87_json *server; /* their array, or NULL */
};

static const char *const hub_names[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};

static char *hub_or(char *host)
{
    for (size_t i = 0; i < sizeof(hub_names) / sizeof(hub_names[0]); i++)
        if (strcmp(host, hub_names[i]) == 0) {
            free(host);
            return m87_xstrdup("docker.io");
        }
    return host;
}

char *engine_creds_registry_of_key(const char *key)
{
    const char *scheme = strstr(key, "://");
    if (scheme != NULL) {
        const char *host = scheme + 3;
        size_t len = strcspn(host, "/?#");
        const char *at = memchr(host, '@', len);
        if (at != NULL) {
            len -= (size_t)(at + 1 - host);
            host = at + 1;
        }
        if (len > 0)
            return hub_or(m87_xstrndup(host, len));
    }
    return hub_or(m87_xstrndup(key, strcspn(key, "/")));
}

char *engine_ref_registry(const char *ref)
{
    const char *slash = strchr(ref, '/');
    if (slash == NULL)
        return m87_xstrdup("docker.io");
    char *first = m87_xstrndup(ref, (size_t)(slash - ref));
    if (strpbrk(first, ".:") == NULL && strcmp(first, "localhost") != 0) {
        free(first);
        return m87_xstrdup("docker.io");
    }
    return hub_or(first);
}

struct engine_creds *engine_creds_parse(const char *text, size_t len, const char *path,
                                        struct m87_error **err)
{
    const char *where = path ? path : "";
    struct m87_error *local = NULL;
    struct m87_json *doc = m87_json_parse(text, len, &local);
    if (doc == NULL) {
        m87_error_set(err, M87_E_PARSE, 0, "%s: %s", where, local->msg);
        m87_error_free(local);
        return NULL;
    }
    const struct m87_json *auths = m87_json_get(doc, "auths");
    const struct m87_json *helpers = m87_json_get(doc, "credHelpers");
    const struct m87_json *store = m87_json_get(doc, "credsStore");
    const char *bad = m87_json_type(doc) != M87_JSON_OBJECT                  ? "the file"
                      : auths && m87_json_type(auths) != M87_JSON_OBJECT     ? "auths"
                      : helpers && m87_json_type(helpers) != M87_JSON_OBJECT ? "credHelpers"
                      : store && m87_json_type(store) != M87_JSON_STRING     ? "credsStore"
                                                                             : NULL;
    if (bad != NULL) {
        m87_json_free(doc);
        m87_error_set(err, M87_E_PARSE, 0, "%s: %s is not %s", where, bad,
                      strcmp(bad, "credsStore") == 0 ? "a string" : "an object");
        return NULL;
    }
    struct engine_creds *c = m87_xcalloc(1, sizeof(*c));
    c->path = m87_xstrdup(where);
    c->doc = doc;
    c->auths = auths;
    c->helpers = helpers;
    c->store = m87_json_str(store, NULL);
    return c;
}

const char *engine_creds_path(const struct engine_creds *c)
{
    return c->path;
}

void engine_creds_free(struct engine_creds *c)
{
    if (c == NULL)
        return;
    free(c->path);
    m87_json_free(c->doc);
    free(c->server_path);
    m87_json_free(c->server_doc);
    free(c);
}

/* The member of obj for registry: its config key itself first, then any key naming the same
 * registry. NULL when none; *key_out borrows the member's key. */
static const struct m87_json *match_key(const struct m87_json *obj, const char *registry,
                                        const char **key_out)
{
    const char *own = strcmp(registry, "docker.io") == 0 ? ENGINE_CREDS_HUB_KEY : registry;
    const char *key = NULL;
    for (size_t i = 0; i < m87_json_len(obj); i++) {
        const struct m87_json *v = m87_json_member(obj, i, &key);
        if (strcmp(key, own) == 0) {
            *key_out = key;
            return v;
        }
    }
    for (size_t i = 0; i < m87_json_len(obj); i++) {
        const struct m87_json *v = m87_json_member(obj, i, &key);
        _cleanup_free_ char *r = engine_creds_registry_of_key(key);
        if (strcmp(r, registry) == 0) {
            *key_out = key;
            return v;
        }
    }
    return NULL;
}

void engine_creds_choose(const struct engine_creds *c, const char *registry,
                         struct engine_creds_choice *out)
{
    *out = (struct engine_creds_choice){.source = ENGINE_CREDS_NONE};
    if (c == NULL)
        return;
    for (size_t i = 0; i < m87_json_len(c->server); i++) {
        const char *host = m87_json_str(m87_json_get(m87_json_at(c->server, i), "host"), "");
        _cleanup_free_ char *r = engine_creds_registry_of_key(host);
        if (strcmp(r, registry) == 0) {
            out->source = ENGINE_CREDS_SERVER;
            out->key = host;
            return;
        }
    }
    const char *key = NULL;
    const struct m87_json *helper = match_key(c->helpers, registry, &key);
    /* an empty credHelpers entry sends the registry to the auths, past credsStore */
    const char *name = helper ? m87_json_str(helper, "") : c->store;
    if (name != NULL && name[0] != '\0') {
        out->source = ENGINE_CREDS_HELPER;
        out->helper = name;
        return;
    }
    if (match_key(c->auths, registry, &key) != NULL) {
        out->source = ENGINE_CREDS_AUTHS;
        out->key = key;
    }
}

static void auth_point(struct engine_registry_auth *a)
{
    a->found = true;
    a->auth = (struct engine_auth){
        .username = a->username,
        .password = a->password,
        .server_address = a->server_address,
        .identity_token = a->identity_token,
    };
}

/* "auth": base64 of user:password; else "username" and "password" as they are. */
static int entry_userpass(const struct m87_json *entry, struct engine_registry_auth *out,
                          struct m87_error **err)
{
    const char *b64 = m87_json_str(m87_json_get(entry, "auth"), "");
    if (b64[0] == '\0') {
        const char *user = m87_json_str(m87_json_get(entry, "username"), NULL);
        const char *pass = m87_json_str(m87_json_get(entry, "password"), NULL);
        if (user && pass && user[0] != '\0') {
            out->username = m87_xstrdup(user);
            out->password = m87_xstrdup(pass);
        }
        return 0;
    }
    size_t n = 0;
    char *plain = m87_base64_decode(b64, strlen(b64), &n, err);
    if (plain == NULL)
        return -1;
    char *colon = memchr(plain, ':', n);
    if (colon == NULL || colon == plain || strlen(plain) != n) {
        explicit_bzero(plain, n);
        free(plain);
        return m87_error_set(err, M87_E_PARSE, 0, "auth is not base64 of USER:PASSWORD");
    }
    *colon = '\0';
    char *pass = colon + 1;
    size_t plen = strlen(pass);
    while (plen > 0 && pass[plen - 1] == '\0')
        plen--;
    out->username = m87_xstrdup(plain);
    out->password = m87_xstrndup(pass, plen);
    explicit_bzero(plain, n);
    free(plain);
    return 0;
}

int engine_creds_auths_entry(const struct engine_creds *c, const char *key,
                             struct engine_registry_auth *out, struct m87_error **err)
{
    const struct m87_json *entry = m87_json_get(c->auths, key);
    if (m87_json_type(entry) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "auths entry '%s' of '%s': not an object", key,
                             c->path);
    if (entry_userpass(entry, out, err) < 0)
        return m87_error_wrap(err, "auths entry '%s' of '%s'", key, c->path);
    const char *token = m87_json_str(m87_json_get(entry, "identitytoken"), "");
    if (token[0] != '\0')
        out->identity_token = m87_xstrdup(token);
    if (out->username == NULL && out->identity_token == NULL)
        return 0;
    out->server_address = m87_xstrdup(key);
    out->source = m87_xasprintf("auths of '%s'", c->path);
    auth_point(out);
    return 0;
}

int engine_creds_parse_server(struct engine_creds *c, const char *text, size_t len,
                              const char *path, struct m87_error **err)
{
    struct m87_json *doc = m87_json_parse(text, len, NULL);
    const struct m87_json *list = m87_json_get(doc, "registries");
    bool ok = m87_json_type(list) == M87_JSON_ARRAY;
    for (size_t i = 0; ok && i < m87_json_len(list); i++) {
        const struct m87_json *e = m87_json_at(list, i);
        ok = m87_json_str(m87_json_get(e, "host"), NULL) != NULL &&
             m87_json_str(m87_json_get(e, "username"), NULL) != NULL &&
             m87_json_str(m87_json_get(e, "password"), NULL) != NULL;
    }
    if (!ok) {
        m87_json_free(doc);
        return m87_error_set(err, M87_E_PARSE, 0,
                             "%s: expected {\"registries\":[{\"host\",\"username\",\"password\"}]}",
                             path);
    }
    free(c->server_path);
    m87_json_free(c->server_doc);
    c->server_path = m87_xstrdup(path);
    c->server_doc = doc;
    c->server = list;
    return 0;
}

void engine_creds_server_entry(const struct engine_creds *c, const char *host,
                               struct engine_registry_auth *out)
{
    for (size_t i = 0; i < m87_json_len(c->server); i++) {
        const struct m87_json *e = m87_json_at(c->server, i);
        if (strcmp(m87_json_str(m87_json_get(e, "host"), ""), host) != 0)
            continue;
        const char *user = m87_json_str(m87_json_get(e, "username"), "");
        const char *pass = m87_json_str(m87_json_get(e, "password"), "");
        if (strcmp(user, "<token>") == 0) {
            out->identity_token = m87_xstrdup(pass);
        } else {
            out->username = m87_xstrdup(user);
            out->password = m87_xstrdup(pass);
        }
        out->server_address = m87_xstrdup(host);
        out->source = m87_xasprintf("the m87 server ('%s')", c->server_path);
        auth_point(out);
        return;
    }
}

int engine_creds_helper_answer(const char *text, size_t len, const char *helper, const char *server,
                               struct engine_registry_auth *out, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(text, len, NULL);
    const char *secret = m87_json_str(m87_json_get(doc, "Secret"), NULL);
    const char *user = m87_json_str(m87_json_get(doc, "Username"), "");
    if (secret == NULL)
        return m87_error_set(err, M87_E_PARSE, 0,
                             "answer of docker-credential-%s: not a JSON object with a Secret",
                             helper);
    if (strcmp(user, "<token>") == 0) {
        out->identity_token = m87_xstrdup(secret);
    } else {
        out->username = m87_xstrdup(user);
        out->password = m87_xstrdup(secret);
    }
    out->server_address = m87_xstrdup(server);
    free(out->source);
    out->source = m87_xasprintf("docker-credential-%s", helper);
    auth_point(out);
    return 0;
}

/* The registry's answer when dockerd's words say it refused the credentials: 401 (none, or
 * wrong), 403 (these credentials may not pull this repository); 0 for any other failure. */
long engine_pull_auth_status(const char *msg)
{
    static const char *const unauthorized[] = {"unauthorized", "authentication required",
                                               "no basic auth credentials", "401 Unauthorized"};
    static const char *const denied[] = {"pull access denied", "denied: requested access",
                                         "403 Forbidden"};
    for (size_t i = 0; i < sizeof(unauthorized) / sizeof(unauthorized[0]); i++)
        if (strstr(msg, unauthorized[i]))
            return 401;
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
        if (strstr(msg, denied[i]))
            return 403;
    return 0;
}

int engine_registry_auth_wrap(struct m87_error **err, const struct engine_registry_auth *a)
{
    const char *registry = a->registry ? a->registry : "?";
    if (err == NULL || *err == NULL)
        return -1;
    long status = engine_pull_auth_status((*err)->msg);
    if (a->found)
        m87_error_wrap(err, "registry '%s' (credentials from %s)", registry, a->source);
    else
        m87_error_wrap(err, "registry '%s' (no credentials)", registry);
    if (status != 0) {
        char *msg = m87_xasprintf("%s (%s: registry '%s' answered HTTP %ld)", (*err)->msg,
                                  ENGINE_PULL_AUTH_FAILED, registry, status);
        free((*err)->msg);
        (*err)->msg = msg;
    }
    return -1;
}

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void engine_registry_auth_release(struct engine_registry_auth *a)
{
    free(a->registry);
    free(a->source);
    wipe_free(a->username);
    wipe_free(a->password);
    wipe_free(a->identity_token);
    free(a->server_address);
    memset(a, 0, sizeof(*a));
}
