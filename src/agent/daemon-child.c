/* What the daemon's children (the apply, the prefetch) share: letting go of what is the
 * daemon's alone after the fork, and the download of a target's bundles into STATE/bundles. */
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "agent/backoff.h"
#include "agent/daemon.h"
#include "agent/sync-http.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/spec-bundle.h"

/* Download one bundle, again and again while attempts make progress. */
int agent_apply_fetch_bundle(const struct agent_daemon *d, struct agent_http *h, const char *digest,
                             struct m87_error **err)
{
    char name[SPEC_BUNDLE_FILE_LEN + 1];
    unsigned fails = 0;

    spec_bundle_file_name(digest, name);
    _cleanup_free_ char *kept = m87_xasprintf("%s/%s", d->bundles_dir, name);
    if (spec_bundle_verify(kept, digest, NULL) == 0)
        return 0;
    m87_log(M87_LOG_INFO, "downloading bundle %s", digest);
    for (;;) {
        int64_t gained = 0;
        m87_error_clear(err);
        if (agent_http_bundle(h, digest, d->bundles_dir, &gained, err) == 0)
            return 0;
        fails = gained > 0 ? 1 : fails + 1;
        /* a 4xx, or bytes that do not hash to the digest (a bundle changed on the server): the
         * same download would give the same answer, so this apply ends (and is retried later) */
        bool refused = ((*err)->http_status >= 400 && (*err)->http_status < 500) ||
                       m87_error_code(*err) == M87_E_INVAL;
        if (refused || fails >= AGENT_FETCH_TRIES || m87_error_code(*err) == M87_E_CANCELLED)
            return -1;
        int64_t wait = agent_backoff_ms(fails, AGENT_BACKOFF_BASE_MS, agent_backoff_cap_ms());
        m87_log(M87_LOG_WARN, "%s (%lld bytes this time); trying again in %lld ms", (*err)->msg,
                (long long)gained, (long long)wait);
        poll(NULL, 0, (int)wait);
    }
}

void agent_child_detach(struct agent_daemon *d, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(AGENT_APPLY_NOT);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    close(d->sig_pipe[0]);
    close(d->sig_pipe[1]);
    close(d->lock_fd);
    agent_http_abandon(d->http); /* the connection stays the daemon's alone */
    /* the runner opens the journal anew, so that the lock it takes is this process's own */
    runner_journal_free(d->journal);
    d->journal = NULL;
}
