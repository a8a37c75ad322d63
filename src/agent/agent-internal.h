/* Private declarations of the agent: its command handlers and the progress renderer. */
#ifndef M87_AGENT_INTERNAL_H
#define M87_AGENT_INTERNAL_H

#include <stdio.h>

#include "m87/alloc.h"
#include "m87/command.h"
#include "m87/compose.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/yaml-write.h"

/* Exit statuses of every m87-agent command. */
enum {
    AGENT_EXIT_OK = 0,
    AGENT_EXIT_FAILED = 1, /* the stack or dockerd failed */
    AGENT_EXIT_USAGE = 2,  /* bad input: options, compose files */
};

/* `m87-agent compose ...`: argv[0] is "compose". Returns an exit status. */
int agent_cmd_compose(int argc, char **argv);
/* `m87-agent apply SPEC` and `m87-agent status` (cmd-apply.c, cmd-status.c). */
int agent_cmd_apply(int argc, char **argv);
int agent_cmd_status(int argc, char **argv);
/* `m87-agent convert`: a compose project as a run spec (cmd-convert.c). */
int agent_cmd_convert(int argc, char **argv);
/* `m87-agent run`: the device daemon (cmd-run.c, daemon*.c). */
int agent_cmd_run(int argc, char **argv);

/* Renders compose executor events for people: on a terminal, one line per pulled layer and per
 * object redrawn in place (at most ten redraws a second for pull progress); otherwise plain
 * lines, pull progress at most twice a second per layer. */
struct agent_progress;

struct agent_progress *agent_progress_new(FILE *out, bool tty);
/* An compose_event_fn; ctx is the struct agent_progress. */
void agent_progress_event(void *ctx, const struct compose_event *ev);
/* Draw what a throttle held back. Call before printing anything else to the same stream. */
void agent_progress_flush(struct agent_progress *p);
void agent_progress_free(struct agent_progress *p);
static inline void agent_progress_freep(struct agent_progress **p)
{
    agent_progress_free(*p);
}

/* ---- compose front end (cmd-compose*.c) ------------------------------------------------------ */

struct spec_project;

/* The options before the subcommand, and what every subcommand shares. */
struct agent_compose {
    struct m87_strv files;
    const char *project_name;
    const char *project_dir;
    const char *env_file;
    struct m87_strv profiles;
    const char *progress_mode;       /* auto, tty, plain, quiet; NULL: auto */
    struct agent_progress *progress; /* NULL for quiet and for subcommands without events */
    struct engine_creds *creds;      /* registry credentials, for the subcommands that pull */
};

/* A loaded project, or one known only by its name (-p NAME without compose files). */
struct agent_project {
    struct spec_project *p;
    bool by_name;
};

/* ---- what the compose subcommands share (cmd-compose-project.c) ---- */

/* Load the project as the options say. by_name_ok: without compose files, -p NAME alone names
 * it. Prints what went wrong and returns an exit status. */
int agent_project_load(const struct agent_compose *g, bool by_name_ok, struct agent_project *out);
void agent_project_release(struct agent_project *ap);
/* AGENT_EXIT_USAGE, after saying so, when a name is not a service of the project. */
int agent_check_services(const struct agent_project *ap, char **names, int n);
/* A client for $DOCKER_HOST; prints and returns an exit status on failure. */
int agent_open_client(struct engine_client **out);
/* agent_project_load, agent_check_services and agent_open_client in turn; the first status
 * other than AGENT_EXIT_OK (after printing why), or AGENT_EXIT_OK with *ap and *c filled. The
 * caller releases both either way. */
int agent_project_open(const struct agent_compose *g, bool by_name_ok, char **services,
                       int n_services, struct agent_project *ap, struct engine_client **c);
/* Options with the services, no stop timeout (-1) and the progress renderer. */
void agent_options_init(const struct agent_compose *g, struct compose_options *o, char **services,
                        int n_services);
/* Select the services (all when n_services is 0) in options an agent_options_init made. */
void agent_options_services(struct compose_options *o, char **services, int n_services);

/* ---- what every command shares (cmd-common.c) ---- */

/* Print "m87-agent: MESSAGE" and the status an error maps to. */
void agent_print_error(const struct m87_error *err);
int agent_exit_for(const struct m87_error *err);
/* getopt_long's '?' or ':' for cmd ("compose up"): say so, return AGENT_EXIT_USAGE. */
static inline int agent_bad_option(const char *cmd, char **argv, int c)
{
    return m87_bad_option("m87-agent", cmd, argv, c);
}
/* After getopt_long: AGENT_EXIT_OK when no operand is left, else say
 * "m87-agent: CMD: unexpected argument 'ARG'" and return AGENT_EXIT_USAGE. */
int agent_no_operands(const char *cmd, int argc, char **argv);
/* A decimal in [min, max]; prints and returns -1 otherwise. */
int agent_parse_long(const char *cmd, const char *opt, const char *text, long min, long max,
                     long *out);

/* ---- the compose subcommands: an exit status each ---- */

/* cmd-compose-stack.c */
int agent_compose_up(struct agent_compose *g, int argc, char **argv);
int agent_compose_down(struct agent_compose *g, int argc, char **argv);
int agent_compose_pull(struct agent_compose *g, int argc, char **argv);
int agent_compose_stop(struct agent_compose *g, int argc, char **argv);
int agent_compose_start(struct agent_compose *g, int argc, char **argv);
int agent_compose_restart(struct agent_compose *g, int argc, char **argv);
int agent_compose_config(struct agent_compose *g, int argc, char **argv);
/* cmd-compose-show.c */
int agent_compose_ps(struct agent_compose *g, int argc, char **argv);
int agent_compose_logs(struct agent_compose *g, int argc, char **argv);
/* up without -d: follow the services' logs until they all stop or Ctrl-C, which stops them. */
int agent_compose_attach(struct agent_compose *g, char **services, int n_services);

/* "1.2MB" for 1234567 (decimal units, as docker prints transfer sizes). */
void agent_format_size(int64_t bytes, char *buf, size_t len);

#endif
