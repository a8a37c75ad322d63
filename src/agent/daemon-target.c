/* Target revisions: what the server's sync answer names, kept on disk as it came. */
#include <string.h>

#include "agent/daemon.h"
#include "agent/target.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"
#include "m87/spec-window.h"
#include "m87/state-file.h"

#define MAX_TARGET_FILE (2u * SPEC_RUNSPEC_MAX_FILE + 64u * 1024)

void agent_target_release(struct agent_target *t)
{
    free(t->hash);
    free(t->deployment);
    spec_runspec_free(t->rs);
    free(t->text);
    free(t->rollout.id);
    free(t->rollout.fleet);
    *t = (struct agent_target){0};
}

static bool hex64(const char *s)
{
    if (!s || strlen(s) != M87_SHA256_HEX_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* The policy fields (docs/api.md, "Policy"), each optional: a server without windows sends
 * none. A window rule this device cannot evaluate (a zone its tz database lacks) refuses the
 * target: applying it outside the window would break the promise the windows make. */
static int parse_policy(const struct m87_json *node, struct agent_target *t, struct m87_error **err)
{
    const struct m87_json *wins = m87_json_get(node, "windows");
    const struct m87_json *pf = m87_json_get(node, "prefetch");
    const struct m87_json *now = m87_json_get(node, "now");
    const struct m87_json *policy = m87_json_get(node, "policy");

    if (wins && m87_json_type(wins) != M87_JSON_ARRAY && m87_json_type(wins) != M87_JSON_NULL)
        return m87_error_set(err, M87_E_PARSE, 0, "target.windows: expected an array");
    if (m87_json_len(wins) > AGENT_MAX_WINDOWS)
        return m87_error_set(err, M87_E_PARSE, 0, "target.windows: more than %d windows",
                             AGENT_MAX_WINDOWS);
    for (size_t i = 0; m87_json_type(wins) == M87_JSON_ARRAY && i < m87_json_len(wins); i++) {
        const char *rule = m87_json_str(m87_json_at(wins, i), NULL);
        if (!rule)
            return m87_error_set(err, M87_E_PARSE, 0, "target.windows[%zu]: expected a string", i);
        if (spec_window_parse(rule, &t->windows[i], err) < 0)
            return m87_error_wrap(err, "target.windows[%zu]", i);
        t->n_windows = i + 1;
    }
    const char *pv = m87_json_str(pf, "always");
    if ((pf && m87_json_type(pf) != M87_JSON_STRING && m87_json_type(pf) != M87_JSON_NULL) ||
        (strcmp(pv, "always") != 0 && strcmp(pv, "window") != 0))
        return m87_error_set(err, M87_E_PARSE, 0, "target.prefetch: expected always or window");
    t->prefetch_window = strcmp(pv, "window") == 0;
    if (now && m87_json_type(now) != M87_JSON_BOOL && m87_json_type(now) != M87_JSON_NULL)
        return m87_error_set(err, M87_E_PARSE, 0, "target.now: expected true or false");
    t->now = m87_json_bool(now, false);
    t->has_policy = policy && m87_json_type(policy) == M87_JSON_NUMBER;
    t->policy = t->has_policy ? m87_json_int(policy, 0) : 0;
    if (t->has_policy && t->policy < 0)
        return m87_error_set(err, M87_E_PARSE, 0, "target.policy: expected an integer >= 0");
    return 0;
}

/* "rollout": {"id","fleet","release","health_window"}, or absent or null. */
static int parse_rollout(const struct m87_json *node, struct agent_target *t,
                         struct m87_error **err)
{
    const struct m87_json *r = m87_json_get(node, "rollout");
    int64_t release = -1, window = -1;

    if (!r || m87_json_type(r) == M87_JSON_NULL)
        return 0;
    if (m87_json_type(r) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "target.rollout: expected an object or null");
    const char *id = m87_json_str(m87_json_get(r, "id"), NULL);
    const char *fleet = m87_json_str(m87_json_get(r, "fleet"), NULL);
    if (!id || !*id || strlen(id) > AGENT_ROLLOUT_MAX_NAME)
        return m87_error_set(err, M87_E_PARSE, 0, "target.rollout.id: expected a rollout id");
    if (!fleet || !*fleet || strlen(fleet) > AGENT_ROLLOUT_MAX_NAME)
        return m87_error_set(err, M87_E_PARSE, 0, "target.rollout.fleet: expected a fleet name");
    if (m87_json_type(m87_json_get(r, "release")) == M87_JSON_NUMBER)
        release = m87_json_int(m87_json_get(r, "release"), -1);
    if (release < 0)
        return m87_error_set(err, M87_E_PARSE, 0,
                             "target.rollout.release: expected an integer >= 0");
    if (m87_json_type(m87_json_get(r, "health_window")) == M87_JSON_NUMBER)
        window = m87_json_int(m87_json_get(r, "health_window"), -1);
    if (window < 0 || window > AGENT_ROLLOUT_MAX_WINDOW_S)
        return m87_error_set(err, M87_E_PARSE, 0,
                             "target.rollout.health_window: expected seconds from 0 to %d",
                             AGENT_ROLLOUT_MAX_WINDOW_S);
    t->has_rollout = true;
    t->rollout =
        (struct agent_target_rollout){m87_xstrdup(id), m87_xstrdup(fleet), release, window};
    return 0;
}

static int parse_object(const struct m87_json *node, struct agent_target *t, struct m87_error **err)
{
    const char *hash = m87_json_str(m87_json_get(node, "hash"), NULL);
    const struct m87_json *spec = m87_json_get(node, "spec");

    if (!hex64(hash))
        return m87_error_set(err, M87_E_PARSE, 0, "target.hash: expected 64 hex digits");
    if (m87_json_type(spec) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "target.spec: expected an object");
    if (parse_policy(node, t, err) < 0 || parse_rollout(node, t, err) < 0)
        return -1;
    t->hash = m87_xstrdup(hash);
    t->deployment = m87_xstrdup(m87_json_str(m87_json_get(node, "deployment"), "-"));
    t->revision = m87_json_int(m87_json_get(node, "revision"), 0);
    struct m87_jw *w = m87_jw_new();
    m87_jw_node(w, spec);
    _cleanup_free_ char *text = m87_jw_finish(w);
    _cleanup_free_ char *file = m87_xasprintf("revision %.12s", hash);
    t->rs = spec_runspec_parse(text, strlen(text), file, err);
    return t->rs ? 0 : -1;
}

int agent_target_from_json(const struct m87_json *node, struct agent_target *t,
                           struct m87_error **err)
{
    *t = (struct agent_target){0};
    if (m87_json_type(node) == M87_JSON_NULL) {
        t->stop = true;
        t->rs = spec_runspec_parse("jobs: []", 8, "stop", err);
    } else if (m87_json_type(node) != M87_JSON_OBJECT) {
        m87_error_set(err, M87_E_PARSE, 0, "target: expected an object or null");
    } else {
        parse_object(node, t, err);
    }
    if (!t->rs) {
        agent_target_release(t);
        return -1;
    }
    struct m87_jw *w = m87_jw_new();
    m87_jw_node(w, node);
    t->text = m87_jw_finish(w);
    return 0;
}

int agent_target_load(const char *path, struct agent_target *t, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    int rc = m87_state_read_json(path, MAX_TARGET_FILE, &doc, err);

    if (rc <= 0)
        return rc;
    if (agent_target_from_json(doc, t, err) < 0)
        return m87_error_wrap(err, "read '%s'", path);
    return 1;
}

int agent_target_save(const char *path, const struct agent_target *t, struct m87_error **err)
{
    return m87_write_file_atomic(path, t->text, strlen(t->text), 0600, err);
}

bool agent_target_same_revision(const struct agent_target *a, const struct agent_target *b)
{
    if (a->stop || b->stop)
        return a->stop == b->stop;
    return strcmp(a->hash, b->hash) == 0;
}

char *agent_target_describe(const struct agent_target *t)
{
    if (t->stop)
        return m87_xstrdup("none (stop everything)");
    return m87_xasprintf("%lld (%.12s) of %s", (long long)t->revision, t->hash, t->deployment);
}

int agent_target_set_now(struct agent_target *t, bool now, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(t->text, strlen(t->text), err);
    if (!doc)
        return -1;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    for (size_t i = 0; i < m87_json_len(doc); i++) {
        const char *k = NULL;
        const struct m87_json *v = m87_json_member(doc, i, &k);
        if (strcmp(k, "windows") == 0 || strcmp(k, "now") == 0 || strcmp(k, "prefetch") == 0)
            continue;
        m87_jw_key(w, k);
        m87_jw_node(w, v);
    }
    m87_jw_kbool(w, "now", now);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    _cleanup_(m87_json_freep) struct m87_json *fixed = m87_json_parse(text, strlen(text), err);
    struct agent_target nt;
    if (!fixed || agent_target_from_json(fixed, &nt, err) < 0)
        return -1;
    agent_target_release(t);
    *t = nt;
    return 0;
}
