/* The daemon's settings: flags first, then `key = value` lines of the config file, then
 * defaults. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/daemon.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/runner-journal.h"
#include "m87/runner.h"
#include "m87/sign.h"
#include "m87/token.h"
#include "m87/units.h"

/* The settings that are one string each: the key (also the flag of `m87-agent run`), the field. */
static const struct {
    const char *key;
    size_t offset;
} string_settings[] = {
    {"server", offsetof(struct agent_config, server)},
    {"token", offsetof(struct agent_config, token)},
    {"token-file", offsetof(struct agent_config, token_file)},
    {"state-dir", offsetof(struct agent_config, state_dir)},
    {"docker-host", offsetof(struct agent_config, docker_host)},
    {"ca-file", offsetof(struct agent_config, ca_file)},
};

char **agent_config_string(struct agent_config *c, const char *key)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(string_settings); i++)
        if (strcmp(key, string_settings[i].key) == 0)
            return (char **)((char *)c + string_settings[i].offset);
    return NULL;
}

void agent_config_release(struct agent_config *c)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(string_settings); i++)
        free(*agent_config_string(c, string_settings[i].key));
    free(c->file_token);
    free(c->file_token_file);
    m87_strv_release(&c->warnings);
    m87_strv_release(&c->trust);
    m87_strv_release(&c->servers);
    for (size_t i = 0; i < c->n_trust_keys; i++)
        m87_sign_key_free(c->trust_keys[i]);
    free(c->trust_keys);
    *c = (struct agent_config){0};
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static void set_once(char **field, const char *value)
{
    if (!*field)
        *field = m87_xstrdup(value);
}

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return -1;
    return 0;
}

/* The field of a numeric key, and whether it was set already (flags win, then the first line). */
static int64_t *number_key(struct agent_config *c, const char *key)
{
    if (strcmp(key, "journal-max-bytes") == 0)
        return &c->journal_max_bytes;
    if (strcmp(key, "min-free-bytes") == 0)
        return &c->min_free_bytes;
    if (strcmp(key, "keep-previous") == 0)
        return &c->keep_previous;
    return NULL;
}

static int set_number(struct agent_config *c, const char *key, const char *value, const char *path,
                      size_t no, struct m87_error **err)
{
    int64_t v = 0;
    bool *set = strcmp(key, "journal-max-bytes") == 0 ? &c->journal_max_bytes_set
                : strcmp(key, "min-free-bytes") == 0  ? &c->min_free_bytes_set
                                                      : &c->keep_previous_set;
    bool count = strcmp(key, "keep-previous") == 0;
    char *end = NULL;

    if (count) {
        v = strtoll(value, &end, 10);
        if (end == value || *end || v < 0 || v > 100)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "%s:%zu: keep-previous: expected a count from 0 to 100", path, no);
    } else if (m87_parse_bytes(value, &v, NULL) < 0) {
        return m87_error_set(err, M87_E_INVAL, 0, "%s:%zu: %s: expected a size such as 512MiB",
                             path, no, key);
    }
    if (!*set)
        *number_key(c, key) = v;
    *set = true;
    return 0;
}

static const char *const remote_names[] = {"exec", "shell", "forward", "cp", "metrics"};

unsigned agent_remote_bit(const char *name)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(remote_names); i++)
        if (strcmp(name, remote_names[i]) == 0)
            return 1u << i;
    return 0;
}

char *agent_remote_names(unsigned mask)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < M87_ARRAY_LEN(remote_names); i++)
        if (mask & (1u << i))
            m87_buf_appendf(&b, NULL, "%s%s", b.len ? ", " : "", remote_names[i]);
    if (b.len == 0)
        m87_buf_appendf(&b, NULL, "none");
    return m87_buf_steal(&b);
}

int agent_remote_parse(const char *text, unsigned *mask, struct m87_error **err)
{
    _cleanup_free_ char *copy = m87_xstrdup(text);
    unsigned m = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        t = trim(t);
        unsigned bit = agent_remote_bit(t);
        if (bit == 0 && strcmp(t, "none") != 0)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "unknown access '%s' (exec, shell, forward, cp, metrics or none)",
                                 t);
        m |= bit;
    }
    *mask = m;
    return 0;
}

int agent_metrics_interval_parse(const char *text, int64_t *ms, struct m87_error **err)
{
    int64_t ns = 0;
    if (m87_parse_duration(text, &ns, NULL) < 0 || ns < 0 || (ns > 0 && ns < 1000000000LL) ||
        ns > 86400 * 1000000000LL)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "expected a duration from 1s to 24h such as 5m, or 0 for none, not "
                             "'%s'",
                             text);
    *ms = ns / 1000000;
    return 0;
}

static int config_line(struct agent_config *c, const char *path, size_t no, char *line,
                       struct m87_error **err)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return m87_error_set(err, M87_E_INVAL, 0, "%s:%zu: expected 'key = value'", path, no);
    *eq = '\0';
    const char *given = trim(line), *value = trim(eq + 1);
    _cleanup_free_ char *key = m87_xstrdup(given);
    for (char *u = key; *u; u++)
        if (*u == '_')
            *u = '-';
    char **field = strcmp(key, "token") == 0        ? &c->file_token
                   : strcmp(key, "token-file") == 0 ? &c->file_token_file
                                                    : agent_config_string(c, key);
    if (field) {
        set_once(field, value);
    } else if (strcmp(key, "insecure-http") == 0) {
        bool v = false;
        if (parse_bool(value, &v) < 0)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "%s:%zu: insecure-http: expected true or false", path, no);
        if (!c->insecure_http_set)
            c->insecure_http = v;
        c->insecure_http_set = true;
    } else if (strcmp(key, "trust") == 0) {
        if (!c->trust_set) /* repeatable; --trust flags replace the file's lines */
            m87_strv_add(&c->trust, value);
    } else if (strcmp(key, "remote") == 0) {
        unsigned mask = 0;
        if (agent_remote_parse(value, &mask, err) < 0)
            return m87_error_wrap(err, "%s:%zu: remote", path, no);
        if (!c->remote_set)
            c->remote = mask;
        c->remote_set = true;
    } else if (strcmp(key, "metrics-interval") == 0) {
        int64_t ms = 0;
        if (agent_metrics_interval_parse(value, &ms, err) < 0)
            return m87_error_wrap(err, "%s:%zu: metrics-interval", path, no);
        if (!c->metrics_interval_set)
            c->metrics_interval_ms = ms;
        c->metrics_interval_set = true;
    } else if (number_key(c, key) != NULL) {
        return set_number(c, key, value, path, no, err);
    } else {
        return m87_error_set(err, M87_E_INVAL, 0, "%s:%zu: unknown key '%s'", path, no, given);
    }
    return 0;
}

int agent_config_load(const char *path, bool must_exist, struct agent_config *c,
                      struct m87_error **err)
{
    _cleanup_error_ struct m87_error *e = NULL;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, AGENT_MAX_CONFIG, &len, &e);

    if (!text) {
        if (!must_exist && e->sys_errno == ENOENT)
            return 0;
        *err = M87_STEAL(e);
        return -1;
    }
    size_t no = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        no++;
        char *t = trim(line);
        if (*t && *t != '#' && config_line(c, path, no, t, err) < 0)
            return -1;
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* Every trusted key must load: a typo must not turn the check off. */
static int load_trust(struct agent_config *c, struct m87_error **err)
{
    c->trust_keys = m87_xcalloc(c->trust.len + 1, sizeof(*c->trust_keys));
    for (size_t i = 0; i < c->trust.len; i++) {
        c->trust_keys[i] = m87_sign_key_load(c->trust.items[i], false, err);
        if (!c->trust_keys[i])
            return m87_error_wrap(err, "trust");
        c->n_trust_keys++;
    }
    return 0;
}

/* A token file holds the token alone; one that others may open is a token others may have. */
static int read_token_file(struct agent_config *c, const char *path, struct m87_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) < 0)
        return m87_error_set(err, M87_E_IO, errno, "token file '%s'", path);
    if (!S_ISREG(st.st_mode))
        return m87_error_set(err, M87_E_INVAL, 0, "token file '%s' is not a regular file", path);
    _cleanup_free_ char *what = m87_xasprintf("token file '%s'", path);
    free(c->token);
    c->token = m87_token_read(fd, what, err);
    if (!c->token)
        return -1;
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        _cleanup_free_ char *w =
            m87_xasprintf("token file '%s' is open to group or others (mode %04o): chmod 600 it",
                          path, (unsigned)(st.st_mode & 07777));
        m87_strv_add(&c->warnings, w);
    }
    return 0;
}

/* The first source that gives a token wins: --token, --token-file, M87_TOKEN, the config file's
 * token-file, then its token. */
static int resolve_token(struct agent_config *c, const char *env_token, struct m87_error **err)
{
    if (c->token && *c->token)
        return m87_token_check(c->token, "--token", err);
    if (c->token_file)
        return read_token_file(c, c->token_file, err);
    if (env_token && *env_token) {
        free(c->token);
        c->token = m87_xstrdup(env_token);
        return m87_token_check(c->token, "M87_TOKEN", err);
    }
    if (c->file_token_file)
        return read_token_file(c, c->file_token_file, err);
    if (c->file_token && *c->file_token) {
        free(c->token);
        c->token = m87_xstrdup(c->file_token);
        return m87_token_check(c->token, "the config file's token", err);
    }
    return m87_error_set(err, M87_E_INVAL, 0,
                         "no token: give --token-file FILE, M87_TOKEN in the environment, or "
                         "'token-file = FILE' in the config file");
}

/* One URL of `server =`: trailing '/' dropped, https:// or (with insecure_http) http://. */
static int check_server(const struct agent_config *c, char *url, struct m87_error **err)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    bool https = strncmp(url, "https://", 8) == 0;
    bool http = strncmp(url, "http://", 7) == 0;
    if (!https && !http)
        return m87_error_set(err, M87_E_INVAL, 0, "server '%s' must start with https://", url);
    if (http && !c->insecure_http)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "server '%s' is plain http: the token would travel in clear text; "
                             "use https:// or pass --insecure-http",
                             url);
    return 0;
}

/* `server = URL1, URL2`: every URL into c->servers, in order; c->server stays the first. */
static int split_servers(struct agent_config *c, struct m87_error **err)
{
    _cleanup_free_ char *all = m87_xstrdup(c->server);
    char *save = NULL;

    m87_strv_release(&c->servers);
    for (char *tok = strtok_r(all, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
            tok[--n] = '\0';
        if (n == 0)
            return m87_error_set(err, M87_E_INVAL, 0, "server '%s': an empty URL in the list",
                                 c->server);
        if (check_server(c, tok, err) < 0)
            return -1;
        if (c->servers.len == AGENT_MAX_SERVERS)
            return m87_error_set(err, M87_E_INVAL, 0, "server: at most %d URLs", AGENT_MAX_SERVERS);
        m87_strv_add(&c->servers, tok);
    }
    if (c->servers.len == 0)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "no server: give --server URL or 'server = URL' in the config file");
    free(c->server);
    c->server = m87_xstrdup(c->servers.items[0]);
    return 0;
}

int agent_config_finish(struct agent_config *c, const char *env_token, struct m87_error **err)
{
    if (!c->server || !*c->server)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "no server: give --server URL or 'server = URL' in the config file");
    if (resolve_token(c, env_token, err) < 0)
        return -1;
    if (split_servers(c, err) < 0)
        return -1;
    if (!c->journal_max_bytes_set)
        c->journal_max_bytes = AGENT_JOURNAL_MAX_BYTES;
    if (c->journal_max_bytes < 4 * (int64_t)RUNNER_MAX_RECORD)
        return m87_error_set(err, M87_E_INVAL, 0, "journal-max-bytes must be at least %u",
                             4 * RUNNER_MAX_RECORD);
    if (!c->min_free_bytes_set)
        c->min_free_bytes = AGENT_MIN_FREE_BYTES;
    if (!c->keep_previous_set)
        c->keep_previous = AGENT_KEEP_PREVIOUS;
    if (!c->metrics_interval_set)
        c->metrics_interval_ms = AGENT_METRICS_INTERVAL_MS;
    if (load_trust(c, err) < 0)
        return -1;
    set_once(&c->state_dir, RUNNER_DEFAULT_STATE_DIR);
    if (c->state_dir[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof(cwd)))
            return m87_error_set(err, M87_E_IO, errno, "get the working directory");
        char *abs = m87_xasprintf("%s/%s", cwd, c->state_dir);
        free(c->state_dir);
        c->state_dir = abs;
    }
    return 0;
}
