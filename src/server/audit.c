/* What goes into the audit trail (audit.h). */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "m87/alloc.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "server/audit.h"

void srv_audit_who(struct srv_req *r, char out[SRV_AUDIT_TOKEN_ID_LEN + 1])
{
    const char *auth = srv_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : "";
    char hash[M87_SHA256_HEX_LEN + 1];
    while (*token == ' ')
        token++;
    m87_sha256_hex(token, strlen(token), hash);
    memcpy(out, hash, SRV_AUDIT_TOKEN_ID_LEN);
    out[SRV_AUDIT_TOKEN_ID_LEN] = '\0';
}

char *srv_audit_json_without(const struct m87_json *obj, const char *const skip[])
{
    struct m87_jw *w = m87_jw_new();
    size_t kept = 0;
    m87_jw_obj_open(w);
    for (size_t i = 0; i < m87_json_len(obj); i++) {
        const char *key = NULL;
        const struct m87_json *v = m87_json_member(obj, i, &key);
        bool skipped = false;
        for (size_t k = 0; skip[k] && !skipped; k++)
            skipped = strcmp(key, skip[k]) == 0;
        if (!skipped) {
            m87_jw_key(w, key);
            m87_jw_node(w, v);
            kept++;
        }
    }
    m87_jw_obj_close(w);
    char *text = m87_jw_finish(w);
    if (kept == 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void jw_rev(struct m87_jw *w, const char *deployment, int64_t revision, const char *hash)
{
    m87_jw_kstr(w, "deployment", deployment);
    m87_jw_kint(w, "revision", revision);
    m87_jw_kstr(w, "hash", hash);
}

int srv_audit_deploy(struct srv_store *st, int64_t device_id, const char *who,
                     const struct srv_audit_rev *a, struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    jw_rev(w, a->deployment, a->revision, a->hash);
    m87_jw_kbool(w, "active", a->active);
    m87_jw_kbool(w, "now", a->now);
    m87_jw_kstr_opt(w, "fleet", a->fleet);
    if (a->release > 0)
        m87_jw_kint(w, "release", a->release);
    if (a->clone) {
        m87_jw_key(w, "clone");
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "deployment", a->clone);
        m87_jw_key(w, "revision");
        if (a->clone_revision > 0)
            m87_jw_int(w, a->clone_revision);
        else
            m87_jw_null(w); /* its newest */
        m87_jw_obj_close(w);
    }
    m87_jw_obj_close(w);
    _cleanup_free_ char *detail = m87_jw_finish(w);
    struct srv_audit_new row = {.kind = SRV_AUDIT_DEPLOY,
                                .ref = a->deployment,
                                .token = who,
                                .what = a->what,
                                .detail = detail};
    return srv_audit_record(st, device_id, &row, err);
}

int srv_audit_activate(struct srv_store *st, int64_t device_id, const char *who,
                       const struct srv_deployment *dep, const struct srv_deployment *prev,
                       bool now, struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    jw_rev(w, dep->public_id, dep->revision, dep->hash);
    m87_jw_kbool(w, "now", now);
    m87_jw_key(w, "previous");
    if (prev && prev->public_id) {
        m87_jw_obj_open(w);
        jw_rev(w, prev->public_id, prev->revision, prev->hash);
        m87_jw_obj_close(w);
    } else {
        m87_jw_null(w);
    }
    m87_jw_obj_close(w);
    _cleanup_free_ char *detail = m87_jw_finish(w);
    struct srv_audit_new row = {.kind = SRV_AUDIT_ACTIVATE,
                                .ref = dep->public_id,
                                .token = who,
                                .what = "activate",
                                .detail = detail};
    return srv_audit_record(st, device_id, &row, err);
}

int srv_audit_session(struct srv_store *st, const char *who, const struct srv_session *s,
                      struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *req =
        m87_json_parse(s->request, strlen(s->request), NULL);
    const char *command = m87_json_str(m87_json_get(req, "command"), "?");
    const struct m87_json *args = m87_json_get(req, "args");
    struct m87_jw *cw = m87_jw_new();
    m87_jw_arr_open(cw);
    m87_jw_str(cw, command);
    for (size_t i = 0; i < m87_json_len(args); i++)
        m87_jw_str(cw, m87_json_str(m87_json_at(args, i), ""));
    m87_jw_arr_close(cw);
    _cleanup_free_ char *cmd = m87_jw_finish(cw);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "project", m87_json_str(m87_json_path(req, "compose", "project", NULL), NULL));
    m87_jw_kbool(w, "signed", m87_json_get(req, "signature") != NULL);
    m87_jw_obj_close(w);
    _cleanup_free_ char *detail = m87_jw_finish(w);
    struct srv_audit_new row = {.kind = SRV_AUDIT_SESSION,
                                .ref = s->public_id,
                                .token = who,
                                .what = command,
                                .command = cmd,
                                .detail = detail};
    return srv_audit_record(st, s->device_id, &row, err);
}

int srv_audit_session_end(struct srv_store *st, const struct srv_session *s, struct m87_error **err)
{
    struct srv_audit_end e = {
        .exit_code = (int)s->exit_code,
        .message = s->message,
        .duration_ms = s->started && s->ended >= s->started ? (s->ended - s->started) * 1000 : -1,
        .bytes = {0, s->output_bytes, 0}};
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "state", s->state);
    m87_jw_obj_close(w);
    _cleanup_free_ char *detail = m87_jw_finish(w);
    e.detail = detail;
    return srv_audit_finish(st, s->device_id, SRV_AUDIT_SESSION, s->public_id, &e, err);
}
