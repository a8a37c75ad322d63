/* Remote access on the agent: shared by agent-remote*.c only.
 *
 * agent-remote.c       the daemon's side: check what the device allows, start a process per channel
 * agent-remote-run.c   that process: run the command (pipes, or a pseudo-terminal), pump its
 *                      streams through the server's channel, post its exit status
 * agent-remote-metrics.c  what "metrics" sends: the device's state now
 * agent-remote-cp.c    what "cp" runs: a tar stream unpacked from stdin or packed to stdout
 */
#ifndef M87_AGENT_AGENT_REMOTE_H
#define M87_AGENT_AGENT_REMOTE_H

#include <sys/types.h>

#include "agent/daemon.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json.h"

#define AGENT_REMOTE_POST_TIMEOUT_S 20L
#define AGENT_REMOTE_KILL_GRACE_MS 2000L /* after SIGHUP to a command whose channel broke */
#define AGENT_REMOTE_EXEC_FAILED 127     /* the command could not be started */

/* The device's state now as one line of JSON (docs/remote.md, "metrics"): cpu_percent (over
 * 250 ms), load_x100, memory, disk_root, disk_docker, network, temperature_mc, uptime_s,
 * containers; a part that cannot be read is null. Caller frees. */
char *agent_remote_metrics(const char *docker_host);

/* "cp": start the process of the copy the request's command says (["upload", PATH] or
 * ["download", ["-r",] PATH]; a relative PATH is the agent user's home's) as the channel's
 * command: *pid, and our ends of its stdin (upload only, else left), stdout and stderr. It
 * exits 0, or 1 after saying why on its stderr. 0, or -1 with M87_E_INVAL (a bad command) or
 * M87_E_IO. */
int agent_remote_cp_start(const struct m87_json *request, pid_t *pid, int *fd_in, int *fd_out,
                          int *fd_err, struct m87_error **err);

/* The process of one channel: never returns. request is the channel's request as the sync
 * answer gave it; refused, when not NULL, is why it may not run (only that is posted). */
M87_NORETURN void agent_remote_child(struct agent_daemon *d, const char *id,
                                     const struct m87_json *request, const char *refused);

#endif
