/* What trusted keys are checked against besides the signature (docs/security.md): the device's
 * own name, pinned in the state directory the first time the server says it, and the newest
 * revision taken of each deployment with the time of the newest signature taken, so that a
 * server cannot send an older signed revision again. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/trust.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/log.h"

#define MAX_NAME 256
#define MAX_SEEN_FILE (1024u * 1024)

static char *state_file(const struct agent_daemon *d, const char *name)
{
    return m87_xasprintf("%s/%s", d->cfg->state_dir, name);
}

/* A device name as the server allows them: no '/', no newline, not empty. */
static bool plausible_name(const char *s)
{
    return s && *s && strlen(s) < MAX_NAME && !strpbrk(s, "/\n\r");
}

const char *agent_trust_device_name(struct agent_daemon *d)
{
    if (d->device_name)
        return d->device_name;
    _cleanup_free_ char *path = state_file(d, AGENT_DEVICE_NAME_FILE);
    _cleanup_error_ struct m87_error *err = NULL;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, MAX_NAME, &len, &err);
    if (!text)
        return NULL;
    text[strcspn(text, "\n")] = '\0';
    if (plausible_name(text))
        d->device_name = m87_xstrdup(text);
    else
        m87_log(M87_LOG_ERR, "'%s' does not hold a device name", path);
    return d->device_name;
}

void agent_trust_device(struct agent_daemon *d, const char *name)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (d->cfg->n_trust_keys == 0 || !plausible_name(name))
        return;
    const char *pinned = agent_trust_device_name(d);
    if (pinned) {
        if (strcmp(pinned, name) != 0 && !d->device_name_warned) {
            m87_log(M87_LOG_ERR,
                    "the server calls this device '%.64s', its pinned name is '%s': signatures "
                    "are checked for '%s'",
                    name, pinned, pinned);
            d->device_name_warned = true;
        }
        return;
    }
    _cleanup_free_ char *path = state_file(d, AGENT_DEVICE_NAME_FILE);
    _cleanup_free_ char *line = m87_xasprintf("%s\n", name);
    if (m87_write_file_atomic(path, line, strlen(line), 0600, &err) < 0) {
        m87_log(M87_LOG_ERR, "pin the device name: %s", err->msg);
        return;
    }
    d->device_name = m87_xstrdup(name);
    m87_log(M87_LOG_INFO, "device name '%s' pinned in %s: signatures must name it", name, path);
}

struct m87_json *agent_trust_seen_load(const struct agent_daemon *d)
{
    _cleanup_free_ char *path = state_file(d, AGENT_TRUST_SEEN_FILE);
    _cleanup_error_ struct m87_error *err = NULL;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, MAX_SEEN_FILE, &len, &err);
    struct m87_json *doc = text ? m87_json_parse(text, len, &err) : NULL;
    if (!doc && err && err->sys_errno != ENOENT)
        m87_log(M87_LOG_ERR, "%s: %s", path, err->msg);
    return doc;
}

int agent_trust_seen_check(struct agent_daemon *d, const char *deployment, int64_t number,
                           const char *hash, int64_t time, char **why)
{
    _cleanup_(m87_json_freep) struct m87_json *seen = agent_trust_seen_load(d);
    const struct m87_json *entry = m87_json_path(seen, "deployments", deployment, NULL);
    int64_t last = m87_json_int(m87_json_at(entry, 0), 0);
    const char *last_hash = m87_json_str(m87_json_at(entry, 1), "");
    int64_t newest = m87_json_int(m87_json_get(seen, "time"), 0);
    const char *current = m87_json_str(m87_json_get(seen, "deployment"), "");

    if (entry && number < last) {
        *why = m87_xasprintf("revision %" PRId64 " of %s is older than revision %" PRId64
                             ", which this device took already (a replay; to go back, make a new "
                             "revision with `m87 DEVICE deployment clone`)",
                             number, deployment, last);
        return -1;
    }
    if (entry && number == last && strcmp(hash, last_hash) != 0) {
        *why = m87_xasprintf("revision %" PRId64 " of %s is not the one this device took", number,
                             deployment);
        return -1;
    }
    /* another deployment than the last taken: signed after it, so that an old one cannot come
     * back (activate signs anew) */
    if (strcmp(current, deployment) != 0 && time < newest) {
        _cleanup_free_ char *a = agent_window_time_text((time_t)time);
        _cleanup_free_ char *b = agent_window_time_text((time_t)newest);
        *why =
            m87_xasprintf("signed at %s, before the revision this device took last (signed at "
                          "%s; a replay; sign it again with `m87 DEVICE deployment activate %s`)",
                          a, b, deployment);
        return -1;
    }
    return 0;
}

void agent_trust_seen_add(struct agent_daemon *d, const char *deployment, int64_t number,
                          const char *hash, int64_t time)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *seen = agent_trust_seen_load(d);
    const struct m87_json *deps = m87_json_get(seen, "deployments");
    struct m87_jw *w = m87_jw_new();
    int64_t newest = m87_json_int(m87_json_get(seen, "time"), 0);

    m87_jw_obj_open(w);
    m87_jw_kstr(w, "deployment", deployment);
    m87_jw_kint(w, "time", time > newest ? time : newest);
    m87_jw_key(w, "deployments");
    m87_jw_obj_open(w);
    for (size_t i = 0; i < m87_json_len(deps); i++) {
        const char *k = NULL;
        const struct m87_json *v = m87_json_member(deps, i, &k);
        if (strcmp(k, deployment) == 0)
            continue;
        m87_jw_key(w, k);
        m87_jw_node(w, v);
    }
    m87_jw_key(w, deployment);
    m87_jw_arr_open(w);
    m87_jw_int(w, number);
    m87_jw_str(w, hash);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    if (m87_json_get(seen, "fleets")) {
        m87_jw_key(w, "fleets");
        m87_jw_node(w, m87_json_get(seen, "fleets"));
    }
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    _cleanup_free_ char *path = state_file(d, AGENT_TRUST_SEEN_FILE);
    if (m87_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        m87_log(M87_LOG_ERR, "remember revision %" PRId64 " of %s: %s", number, deployment,
                err->msg);
}

/* The highest release per fleet goes into "fleets": {"NAME": N}; the rest is kept as it is. */
void agent_trust_seen_add_fleets(struct agent_daemon *d, const struct m87_json *fleets)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *seen = agent_trust_seen_load(d);
    const struct m87_json *had = m87_json_get(seen, "fleets");
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    for (size_t i = 0; i < m87_json_len(seen); i++) {
        const char *k = NULL;
        const struct m87_json *v = m87_json_member(seen, i, &k);
        if (strcmp(k, "fleets") == 0)
            continue;
        m87_jw_key(w, k);
        m87_jw_node(w, v);
    }
    m87_jw_key(w, "fleets");
    m87_jw_obj_open(w);
    for (size_t i = 0; i < m87_json_len(had); i++) {
        const char *k = NULL;
        const struct m87_json *v = m87_json_member(had, i, &k);
        bool named = false;
        for (size_t j = 0; !named && j < m87_json_len(fleets); j++)
            named = strcmp(m87_json_str(m87_json_get(m87_json_at(fleets, j), "fleet"), ""), k) == 0;
        if (named)
            continue;
        m87_jw_key(w, k);
        m87_jw_node(w, v);
    }
    for (size_t j = 0; j < m87_json_len(fleets); j++) {
        const struct m87_json *e = m87_json_at(fleets, j);
        const char *name = m87_json_str(m87_json_get(e, "fleet"), "");
        int64_t release = m87_json_int(m87_json_get(e, "release"), 0);
        int64_t last = m87_json_int(m87_json_get(had, name), 0);
        m87_jw_kint(w, name, release > last ? release : last);
    }
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    _cleanup_free_ char *path = state_file(d, AGENT_TRUST_SEEN_FILE);
    if (m87_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        m87_log(M87_LOG_ERR, "remember the fleet releases taken: %s", err->msg);
}
