/* Bundle pruning after a successful apply. STATE/bundles keeps the bundles that the applied
 * revision, the stored target and the job records name (a job's stop steps extract its bundle
 * again); the others, and partial downloads of them, go. A rollback to an older revision
 * downloads its bundle again. Not while a session runs: it may be downloading one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "agent/prune.h"
#include "agent/rollout.h"
#include "agent/sessions.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner-state.h"
#include "m87/spec-bundle.h"
#include "m87/spec-runspec.h"

static void keep_runspec(const struct spec_runspec *rs, struct m87_strv *keep)
{
    for (size_t i = 0; rs && i < rs->n_jobs; i++) {
        char name[SPEC_BUNDLE_FILE_LEN + 1];
        if (!rs->jobs[i].bundle)
            continue;
        spec_bundle_file_name(rs->jobs[i].bundle, name);
        m87_strv_add(keep, name);
    }
}

/* The bundles of every job record (stopping, failed or not): -1 when one cannot be read. */
static int keep_records(const char *state_dir, struct m87_strv *keep, struct m87_error **err)
{
    struct m87_strv ids;
    int rc;

    m87_strv_init(&ids);
    rc = runner_state_list(state_dir, &ids, err);
    for (size_t i = 0; rc >= 0 && i < ids.len; i++) {
        struct runner_record rec = {0};
        rc = runner_record_load(state_dir, ids.items[i], &rec, err);
        if (rc > 0) {
            struct spec_runspec *rs = runner_record_job(&rec, err);
            rc = rs ? 0 : -1;
            keep_runspec(rs, keep);
            spec_runspec_free(rs);
        }
        runner_record_release(&rec);
    }
    m87_strv_release(&ids);
    return rc < 0 ? -1 : 0;
}

static bool kept(const struct m87_strv *keep, const char *name, size_t len)
{
    for (size_t i = 0; i < keep->len; i++)
        if (strlen(keep->items[i]) == len && strncmp(keep->items[i], name, len) == 0)
            return true;
    return false;
}

void agent_prune_bundles(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    static const char part[] = ".part";
    struct m87_strv keep;

    if (agent_sessions_running(d))
        return;
    m87_strv_init(&keep);
    if (d->has_applied)
        keep_runspec(d->applied.rs, &keep);
    if (d->has_target)
        keep_runspec(d->target.rs, &keep);
    if (agent_rollout_previous(d)) /* a rollback needs no download */
        keep_runspec(agent_rollout_previous(d)->rs, &keep);
    DIR *dh = keep_records(d->cfg->state_dir, &keep, &err) == 0 ? opendir(d->bundles_dir) : NULL;
    if (err)
        m87_log(M87_LOG_WARN, "prune bundles: %s", err->msg);
    for (struct dirent *e; dh && (e = readdir(dh)) != NULL;) {
        const char *n = e->d_name;
        size_t len = strlen(n), plen = sizeof(part) - 1;
        size_t base = len > plen && strcmp(n + len - plen, part) == 0 ? len - plen : len;
        if (strncmp(n, "sha256-", 7) != 0 || kept(&keep, n, base))
            continue;
        if (unlinkat(dirfd(dh), n, 0) == 0)
            m87_log(M87_LOG_INFO, "removed bundle %s: no revision or job kept uses it", n);
        else if (errno != ENOENT)
            m87_log(M87_LOG_WARN, "remove bundle %s: %s", n, strerror(errno));
    }
    if (dh)
        closedir(dh);
    m87_strv_release(&keep);
}
