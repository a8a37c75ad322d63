/* The free-space check before an apply pulls images: a pull that fills the disk where dockerd
 * keeps its images breaks the running workloads too, so an apply that has jobs to run is refused
 * while less than min-free-bytes are free there. The sizes of images not pulled yet are not
 * known without asking the registry, so the bound is the configured margin alone. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/daemon.h"
#include "agent/disk.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/runner-state.h"
#include "m87/spec-runspec.h"

bool agent_disk_job_pending(const char *state_dir, const struct spec_job *job)
{
    struct runner_record rec = {0};
    bool pending = true;

    if (runner_record_load(state_dir, job->id, &rec, NULL) > 0)
        pending = strcmp(rec.hash, job->hash) != 0 || strcmp(rec.state, RUNNER_SUCCEEDED) != 0;
    runner_record_release(&rec);
    return pending;
}

/* "1.5 GiB" and the like, for messages. Caller frees. */
static char *human_bytes(uint64_t n)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]))
        v /= 1024, u++;
    return u == 0 ? m87_xasprintf("%" PRIu64 " bytes", n) : m87_xasprintf("%.1f %s", v, units[u]);
}

int agent_disk_check(struct agent_daemon *d, const struct spec_runspec *rs, char **message,
                     struct m87_error **err)
{
    struct engine_client_options o = {.host = d->cfg->docker_host};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    struct engine_system_info *info = NULL;
    uint64_t free_bytes = 0;
    bool pending = false;

    for (size_t i = 0; i < rs->n_jobs && !pending; i++)
        pending = rs->jobs[i].enabled && agent_disk_job_pending(d->cfg->state_dir, &rs->jobs[i]);
    if (!pending || d->cfg->min_free_bytes <= 0)
        return 0;
    c = engine_client_new(&o, err);
    if (!c || engine_system_info(c, &info, err) < 0)
        return -1;
    int rc = info->docker_root_dir && *info->docker_root_dir
                 ? engine_disk_free(c, info->docker_root_dir, &free_bytes, err)
                 : engine_disk_free(c, NULL, &free_bytes, err);
    if (rc == 0 && free_bytes < (uint64_t)d->cfg->min_free_bytes) {
        _cleanup_free_ char *have = human_bytes(free_bytes);
        _cleanup_free_ char *want = human_bytes((uint64_t)d->cfg->min_free_bytes);
        *message = m87_xasprintf(
            "not enough free space on %s: %s free, %s needed",
            info->docker_root_dir ? info->docker_root_dir : "dockerd's data root", have, want);
        rc = 1;
    }
    engine_system_info_free(info);
    return rc;
}
