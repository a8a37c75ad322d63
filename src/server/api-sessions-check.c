/* What admins and agents send on sessions, checked before anything is stored: the request that
 * creates a session (its command, arguments, compose project and job) and an agent's post of
 * output, exit status and interactive containers. */
#include <stdbool.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/sign.h"
#include "m87/spec-session.h"
#include "m87/spec-runspec.h"
#include "server/api.h"
#include "server/json.h"
#include "server/util.h"

#define MAX_ARGS 256
#define MAX_ARG 4096
#define MAX_FILES 16
#define MAX_CHUNKS 1000

/* ---- the admin's request --------------------------------------------------------------------- */

static int check_strings(const struct m87_json *v, const char *what, size_t max_n,
                         struct m87_error **err)
{
    if (m87_json_type(v) != M87_JSON_ARRAY || m87_json_len(v) > max_n)
        return m87_error_set(err, M87_E_INVAL, 0, "%s: expected an array of at most %zu strings",
                             what, max_n);
    for (size_t i = 0; i < m87_json_len(v); i++) {
        const char *s = m87_json_str(m87_json_at(v, i), NULL);
        if (s == NULL || strlen(s) > MAX_ARG)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "%s[%zu]: expected a string of at most %d "
                                 "bytes",
                                 what, i, MAX_ARG);
    }
    return 0;
}

/* A compose project name as docker compose takes it: [a-z0-9][a-z0-9_-]*. */
static bool valid_project(const char *s)
{
    if (s == NULL || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')) || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* A relative path without "..": where the agent looks in the session's directory. */
static bool valid_relative(const char *s)
{
    if (s[0] == '\0' || s[0] == '/')
        return false;
    for (const char *p = s; p; p = strchr(p, '/')) {
        p += *p == '/';
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
            return false;
    }
    return true;
}

static int check_compose(const struct m87_json *c, struct m87_error **err)
{
    static const char *const fields[] = {"files", "project", NULL};
    if (m87_json_type(c) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_INVAL, 0, "compose: expected an object");
    if (srv_json_only(c, "compose", fields, err) < 0)
        return -1;
    if (!valid_project(m87_json_str(m87_json_get(c, "project"), NULL)))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "compose.project: must match [a-z0-9][a-z0-9_-]{0,62}");
    const struct m87_json *files = m87_json_get(c, "files");
    if (files == NULL)
        return 0;
    if (check_strings(files, "compose.files", MAX_FILES, err) < 0)
        return -1;
    for (size_t i = 0; i < m87_json_len(files); i++)
        if (!valid_relative(m87_json_str(m87_json_at(files, i), "")))
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "compose.files[%zu]: expected a relative path without '..'", i);
    return 0;
}

/* The job carrying the compose project's files: checked as a run spec job; its bundle out. */
static int check_job(const struct m87_json *job, char **bundle, struct m87_error **err)
{
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = spec_runspec_parse_job(job, "job", err);
    if (rs == NULL)
        return -1;
    *bundle = rs->jobs[0].bundle ? m87_xstrdup(rs->jobs[0].bundle) : NULL;
    return 0;
}

/* "signature": {"key", "sig", "nonce", "expires"} (m87/spec-session.h): its form only; the
 * device checks it. */
int srv_signature_check(const struct m87_json *v, struct m87_error **err)
{
    static const char *const fields[] = {"key", "sig", "nonce", "expires", NULL};
    static const char hex[] = "0123456789abcdef";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    int64_t expires = 0;
    if (m87_json_type(v) != M87_JSON_OBJECT || srv_json_only(v, "signature", fields, err) < 0 ||
        !srv_all_of(m87_json_str(m87_json_get(v, "key"), NULL), M87_SIGN_KEY_ID_LEN, hex) ||
        !srv_all_of(m87_json_str(m87_json_get(v, "sig"), NULL), M87_SIGN_SIG_TEXT_LEN, b64) ||
        !srv_all_of(m87_json_str(m87_json_get(v, "nonce"), NULL), SPEC_SESSION_NONCE_LEN, hex) ||
        !srv_json_is_int(m87_json_get(v, "expires"), &expires) || expires < 1) {
        m87_error_clear(err);
        return m87_error_set(err, M87_E_INVAL, 0,
                             "signature: expected {\"key\": %d hex digits, \"sig\": base64 of 64 "
                             "bytes, \"nonce\": %d hex digits, \"expires\": Unix seconds}",
                             M87_SIGN_KEY_ID_LEN, SPEC_SESSION_NONCE_LEN);
    }
    return 0;
}

int srv_session_check_request(const struct m87_json *body, char **bundle, struct m87_error **err)
{
    static const char *const fields[] = {"command", "args", "compose", "job", "signature", NULL};
    const char *cmd = m87_json_str(m87_json_get(body, "command"), "");
    bool compose = strcmp(cmd, "compose") == 0;
    const struct m87_json *args = m87_json_get(body, "args");

    *bundle = NULL;
    if (srv_json_only(body, NULL, fields, err) < 0)
        return -1;
    if (!compose && strcmp(cmd, "ps") != 0 && strcmp(cmd, "logs") != 0)
        return m87_error_set(err, M87_E_INVAL, 0, "command: must be compose, ps or logs");
    if (args == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "args: missing");
    if (check_strings(args, "args", MAX_ARGS, err) < 0)
        return -1;
    const struct m87_json *c = m87_json_get(body, "compose");
    const struct m87_json *job = m87_json_get(body, "job");
    if (compose && c == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "compose: missing (the command is compose)");
    if (!compose && (c || job))
        return m87_error_set(err, M87_E_INVAL, 0, "%s: only for the command compose",
                             c ? "compose" : "job");
    if (compose && check_compose(c, err) < 0)
        return -1;
    const struct m87_json *sig = m87_json_get(body, "signature");
    if (sig && srv_signature_check(sig, err) < 0)
        return -1;
    return job ? check_job(job, bundle, err) : 0;
}

/* ---- the agent's post ------------------------------------------------------------------------ */

/* "interactive": {"project", "containers": [{...}]}, the project's interactive containers as the
 * agent saw them after the command. */
static int check_interactive(const struct m87_json *v, struct m87_error **err)
{
    static const char *const fields[] = {"project", "containers", NULL};
    const struct m87_json *c = m87_json_get(v, "containers");
    if (m87_json_type(v) != M87_JSON_OBJECT || srv_json_only(v, "interactive", fields, err) < 0)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "interactive: expected {\"project\", "
                             "\"containers\"}");
    if (!valid_project(m87_json_str(m87_json_get(v, "project"), NULL)))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "interactive.project: must match [a-z0-9][a-z0-9_-]{0,62}");
    if (m87_json_type(c) != M87_JSON_ARRAY)
        return m87_error_set(err, M87_E_INVAL, 0, "interactive.containers: expected an array");
    for (size_t i = 0; i < m87_json_len(c); i++)
        if (m87_json_type(m87_json_at(c, i)) != M87_JSON_OBJECT)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "interactive.containers[%zu]: expected an object", i);
    return 0;
}

int srv_session_check_post(const struct m87_json *body, struct m87_error **err)
{
    static const char *const fields[] = {"output", "exit_code", "message", "interactive", NULL};
    static const char *const chunk_fields[] = {"stream", "text", NULL};
    int64_t code = 0;
    if (srv_json_only(body, NULL, fields, err) < 0)
        return -1;
    const struct m87_json *ec = m87_json_get(body, "exit_code");
    if (ec && m87_json_type(ec) != M87_JSON_NULL &&
        (!srv_json_is_int(ec, &code) || code < 0 || code > 255))
        return m87_error_set(err, M87_E_INVAL, 0, "exit_code: expected an integer from 0 to 255");
    const struct m87_json *msg = m87_json_get(body, "message");
    if (msg && m87_json_type(msg) != M87_JSON_NULL && m87_json_type(msg) != M87_JSON_STRING)
        return m87_error_set(err, M87_E_INVAL, 0, "message: expected a string");
    const struct m87_json *inter = m87_json_get(body, "interactive");
    if (inter && check_interactive(inter, err) < 0)
        return -1;
    const struct m87_json *out = m87_json_get(body, "output");
    if (out == NULL)
        return 0;
    if (m87_json_type(out) != M87_JSON_ARRAY || m87_json_len(out) > MAX_CHUNKS)
        return m87_error_set(err, M87_E_INVAL, 0, "output: expected an array of at most %d chunks",
                             MAX_CHUNKS);
    for (size_t i = 0; i < m87_json_len(out); i++) {
        const struct m87_json *c = m87_json_at(out, i);
        _cleanup_free_ char *what = m87_xasprintf("output[%zu]", i);
        if (m87_json_type(c) != M87_JSON_OBJECT)
            return m87_error_set(err, M87_E_INVAL, 0, "%s: expected an object", what);
        const char *stream = m87_json_str(m87_json_get(c, "stream"), "");
        if (srv_json_only(c, what, chunk_fields, err) < 0)
            return -1;
        if (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0)
            return m87_error_set(err, M87_E_INVAL, 0, "%s.stream: must be stdout or stderr", what);
        if (m87_json_str(m87_json_get(c, "text"), NULL) == NULL)
            return m87_error_set(err, M87_E_INVAL, 0, "%s.text: expected a string", what);
    }
    return 0;
}
