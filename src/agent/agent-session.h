/* Sync execution on the agent (docs/agent.md, "Sessions"): shared by agent-session*.c only.
 *
 * agent-session.c       the daemon's side: start a child per session, reap it
 * agent-session-run.c   the child: prepare STATE/sessions/ID, run the command in a grandchild of
 *                       its own process group, stream its output to the server, post the end
 * agent-session-cmd.c   what the grandchild runs: the compose front end, docker ps, docker logs
 */
#ifndef M87_AGENT_SESSION_H
#define M87_AGENT_SESSION_H

#include "agent/daemon.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-runspec.h"

#define AGENT_SESSION_POST_MS 100L         /* output goes up in batches this often */
#define AGENT_SESSION_HEARTBEAT_MS 2000L   /* a post at least this often: alive, cancelled? */
#define AGENT_SESSION_KILL_GRACE_MS 30000L /* after a cancel's SIGTERM, before SIGKILL */
#define AGENT_SESSION_POST_TIMEOUT_S 20L
#define AGENT_SESSION_MAX_PENDING (1024u * 1024) /* output kept while the server is away */
#define AGENT_SESSION_BATCH (256u * 1024)        /* of output text per post */
#define AGENT_SESSION_MAX 16                     /* sessions running at once */
#define AGENT_SESSION_FINAL_TRIES 30             /* posts of the end, 1 s apart */
#define AGENT_SESSION_DIR_KEEP_S 3600 /* a session directory no container uses: kept this long */

/* A session as the sync answer hands it over. */
struct agent_session_req {
    char *id;
    char *command; /* compose, ps, logs */
    struct m87_strv args;
    char *project;           /* compose: the project name */
    struct m87_strv files;   /* compose: the compose files, relative to the session's directory */
    struct spec_runspec *rs; /* compose: one job whose files and bundle make the directory */
    char *refused;           /* why it may not run (trust.h): its child only reports that */
};

void agent_session_req_release(struct agent_session_req *q);
/* Parse {"id","request":{"command","args","compose":{"files","project"},"job"}}. */
int agent_session_req_parse(const struct m87_json *node, struct agent_session_req *q,
                            struct m87_error **err);

/* The child of one session: never returns. */
M87_NORETURN void agent_session_child(struct agent_daemon *d, const struct agent_session_req *q,
                                      pid_t parent);

/* {"project","containers":[{"id","name","service","image","state","status"}]}: the interactive
 * containers of the project as dockerd has them now, for the server's list of interactive stacks;
 * NULL when dockerd cannot be asked. */
char *agent_session_interactive(const char *docker_host, const char *project);

/* Remove the directories under STATE/sessions older than AGENT_SESSION_DIR_KEEP_S that no
 * interactive container works in (after `compose up`, the containers' bind mounts point there).
 * Nothing is removed when dockerd cannot be asked. */
void agent_session_prune_dirs(const char *state_dir, const char *docker_host);

/* What the grandchild runs, with stdout and stderr going to the session: an exit status. dir is
 * the session's directory (the working directory already). */
int agent_session_command(const struct agent_session_req *q, const char *dir);

#endif
