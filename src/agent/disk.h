/* Disk space (agent-disk.c): an apply whose pulls would fill the disk is refused. */
#ifndef M87_AGENT_DISK_H
#define M87_AGENT_DISK_H

#include <stdbool.h>

#include "m87/error.h"
#include "m87/spec-runspec.h"


struct agent_daemon;

/* In the apply child, before the runner: refuse (1, with *message "not enough free space on DIR:
 * X free, Y needed") when the images dockerd keeps leave less than min_free_bytes free; 0 when
 * there is room or nothing to pull, -1 with *err when dockerd cannot be asked. */
int agent_disk_check(struct agent_daemon *d, const struct spec_runspec *rs, char **message,
                     struct m87_error **err);
/* Whether the runner will run job's steps: it is new, changed, or did not succeed. */
bool agent_disk_job_pending(const char *state_dir, const struct spec_job *job);

#endif
