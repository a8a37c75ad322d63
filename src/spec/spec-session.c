/* What a session signature covers (include/m87/spec-session.h): a canonical JSON text written
 * from the fields of the request that decide what runs on the device. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/json-write.h"
#include "m87/spec-runspec.h"
#include "m87/spec-session.h"

static void strings(struct m87_jw *w, const char *key, const struct m87_json *v)
{
    m87_jw_key(w, key);
    m87_jw_arr_open(w);
    for (size_t i = 0; i < m87_json_len(v); i++)
        m87_jw_str(w, m87_json_str(m87_json_at(v, i), ""));
    m87_jw_arr_close(w);
}

char *spec_session_payload(const struct m87_json *request, const char *device, const char *nonce,
                           int64_t expires, struct m87_error **err)
{
    const struct m87_json *compose = m87_json_get(request, "compose");
    const struct m87_json *job = m87_json_get(request, "job");
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;

    if (job && m87_json_type(job) != M87_JSON_NULL) {
        rs = spec_runspec_parse_job(job, "job", err);
        if (rs == NULL)
            return NULL;
    }
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "device", device);
    m87_jw_kstr(w, "nonce", nonce);
    m87_jw_kint(w, "expires", expires);
    m87_jw_kstr(w, "command", m87_json_str(m87_json_get(request, "command"), ""));
    strings(w, "args", m87_json_get(request, "args"));
    m87_jw_key(w, "project");
    m87_jw_str(w, m87_json_str(m87_json_get(compose, "project"), NULL));
    strings(w, "files", m87_json_get(compose, "files"));
    m87_jw_key(w, "job");
    m87_jw_str(w, rs ? rs->jobs[0].hash : NULL);
    m87_jw_obj_close(w);
    _cleanup_free_ char *json = m87_jw_finish(w);
    return m87_xasprintf("%s%s", SPEC_SESSION_SIG_PREFIX, json);
}

char *spec_remote_payload(const struct m87_json *request, const char *device, const char *nonce,
                          int64_t expires, struct m87_error **err)
{
    (void)err;
    const char *workdir = m87_json_str(m87_json_get(request, "workdir"), NULL);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "device", device);
    m87_jw_kstr(w, "nonce", nonce);
    m87_jw_kint(w, "expires", expires);
    m87_jw_kstr(w, "what", m87_json_str(m87_json_get(request, "what"), ""));
    strings(w, "command", m87_json_get(request, "command"));
    strings(w, "env", m87_json_get(request, "env"));
    m87_jw_key(w, "workdir");
    m87_jw_str(w, workdir);
    m87_jw_kbool(w, "stdin", m87_json_bool(m87_json_get(request, "stdin"), false));
    m87_jw_kbool(w, "tty", m87_json_bool(m87_json_get(request, "tty"), false));
    m87_jw_key(w, "host");
    m87_jw_str(w, m87_json_str(m87_json_get(request, "host"), NULL));
    m87_jw_kint(w, "port", m87_json_int(m87_json_get(request, "port"), 0));
    /* only when given: the grants of the requests before UDP forwards read as they did */
    m87_jw_kstr_opt(w, "protocol", m87_json_str(m87_json_get(request, "protocol"), NULL));
    m87_jw_obj_close(w);
    _cleanup_free_ char *json = m87_jw_finish(w);
    return m87_xasprintf("%s%s", SPEC_REMOTE_SIG_PREFIX, json);
}
