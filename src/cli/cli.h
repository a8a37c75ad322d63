/* Private declarations of the m87 command: command handlers, the server connection, output
 * helpers. Nothing outside src/cli includes this. */
#ifndef M87_CLI_H
#define M87_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/command.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"
#include "m87/units.h"
#include "m87/version.h"
#include "m87/yaml.h"

struct spec_runspec;

/* Exit statuses of every m87 command. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1, /* the thing asked about failed: a failed job, a server error */
    CLI_EXIT_USAGE = 2,  /* usage, bad input, auth, network */
};

#define CLI_MAX_RESPONSE (64u * 1024 * 1024) /* bytes of one answer of the server */
#define CLI_MAX_CONFIG (64u * 1024)          /* bytes of the config file */
#define CLI_CONNECT_TIMEOUT_MS 10000L
#define CLI_REQUEST_TIMEOUT_MS 120000L /* JSON calls; uploads use a low-speed limit instead */
#define CLI_FOLLOW_PERIOD_S 2

/* ---- commands (argv[0] is the command's own name) ----------------------------------------- */

int cli_cmd_login(int argc, char **argv);
int cli_cmd_devices(int argc, char **argv);
/* `m87 fleets add|list|show|rm` (cli-fleets.c). */
int cli_cmd_fleets(int argc, char **argv);
/* `m87 fleet NAME deploy|rollouts|rollout|pause|resume|abort|status` (cli-fleet.c). */
int cli_cmd_fleet(int argc, char **argv);
/* "DEVICE joins fleet F" for each of doc's "fleets_joined", then "DEVICE leaves fleet F" for each
 * of its "fleets_left" (the answer of a change of the device's labels), on stdout. */
void cli_print_fleet_moves(const char *device, const struct m87_json *doc);
int cli_cmd_deployment(const char *device, int argc, char **argv);
/* `m87 DEVICE status [--quiet|--short|--json]` (cli-device-status.c). */
int cli_cmd_status(const char *device, int argc, char **argv);
int cli_cmd_deploy(const char *device, int argc, char **argv);
int cli_cmd_undeploy(const char *device, int argc, char **argv);
int cli_cmd_window(const char *device, int argc, char **argv);
int cli_cmd_prefetch_policy(const char *device, int argc, char **argv);
/* `m87 DEVICE prefetch IMAGE...|status|clear` (cli-prefetch.c). */
int cli_cmd_prefetch(const char *device, int argc, char **argv);
/* One image's progress from an entry of "prefetch_images": "pending", "pulling: 3 of 5 layers,
 * 1.2 MiB of 4.0 MiB", "done: pulled", "failed: MESSAGE". Caller frees. */
char *cli_prefetch_progress(const struct m87_json *entry);
/* Sync execution (cli-remote*.c): `DEVICE docker ...` and `DEVICE sessions [show ID]`. */
int cli_cmd_docker(const char *device, int argc, char **argv);
int cli_cmd_sessions(const char *device, int argc, char **argv);
/* Remote access (cli-exec.c, docs/remote.md): `DEVICE exec` and `DEVICE shell`. */
int cli_cmd_exec(const char *device, int argc, char **argv);
int cli_cmd_shell(const char *device, int argc, char **argv);
/* `cp [-r] SRC DEVICE:DST`, `cp [-r] DEVICE:SRC DST` (cli-cp.c): files and trees as a tar. */
int cli_cmd_cp(int argc, char **argv);
/* `DEVICE forward` (cli-forward.c): local TCP ports to ports the device reaches. */
int cli_cmd_forward(const char *device, int argc, char **argv);
/* `DEVICE metrics` (cli-metrics.c): the device's state now. */
int cli_cmd_metrics(const char *device, int argc, char **argv);
/* `DEVICE audit` (cli-audit.c): the audit trail of remote access. */
int cli_cmd_audit(const char *device, int argc, char **argv);
struct cli_ctx;
/* Create the session of the JSON request body on the device, print its output as it comes and
 * return the exit status (docs/cli.md, "Sync execution"). wait_ms < 0: the default wait for an
 * offline device. */
int cli_remote_run(const struct cli_ctx *ctx, const char *device, const char *body,
                   int64_t wait_ms);
/* The "interactive" stacks of a status answer under their own heading (nothing when none). */
void cli_print_interactive(const char *device, const struct m87_json *st);
int cli_cmd_keys(int argc, char **argv);
/* `m87 registries add|list|rm` (cli-registries.c). */
int cli_cmd_registries(int argc, char **argv);

struct cli_ctx;
/* `deployment status` (cli-status.c) and `deployment show` (cli-show.c). */
int cli_deployment_status(const struct cli_ctx *ctx, const char *device, int argc, char **argv);
int cli_deployment_show(const struct cli_ctx *ctx, const char *device, int argc, char **argv);
extern const char cli_status_help[];
extern const char cli_show_help[];

/* ---- option parsing (cli-args.c) ----------------------------------------------------------- */

/* Print what getopt_long found wrong (c is '?' or ':') and how to get help; returns
 * CLI_EXIT_USAGE. cmd is the command as typed, e.g. "devices add". */
static inline int cli_bad_option(const char *cmd, char **argv, int c)
{
    return m87_bad_option("m87", cmd, argv, c);
}
/* Print a command's help on stdout and return 1, which option parsers use for "help shown". */
int cli_help(const char *help);
/* Print "m87: CMD: MESSAGE" and the help hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) M87_PRINTF(2, 3);
/* Check that exactly n operands remain after the options; prints and returns CLI_EXIT_USAGE
 * otherwise, 0 when they match. min..max operands allowed. */
int cli_operands(const char *cmd, int argc, char **argv, int min, int max);

/* "d-1234abcd" or "d-1234abcd@3": the id into *id (caller frees) and the revision into *rev
 * (0 when none). -1 with M87_E_INVAL naming the problem for an empty id or a revision that is not
 * a positive integer. */
int cli_parse_clone_ref(const char *text, char **id, int64_t *rev, struct m87_error **err);
/* What an option of cli_parse_options sets through its out pointer. */
enum cli_option_kind {
    CLI_OPT_FLAG,     /* --NAME: bool, set to true */
    CLI_OPT_STRING,   /* --NAME VALUE: const char *, the last value given (borrowed from argv) */
    CLI_OPT_POSITIVE, /* --NAME N: int64_t, a positive integer, else "--NAME 'N' is not a positive
                       * integer" */
    CLI_OPT_DURATION, /* --NAME DURATION: int64_t nanoseconds above 0 ("5m"), else "--NAME:
                       * invalid duration 'DURATION'" */
    CLI_OPT_STRINGS,  /* --NAME VALUE, repeatable: struct m87_strv, each value appended */
};

#define CLI_MAX_OPTIONS 8 /* options of one command, --help aside */

/* An option of a command: --NAME, and -SHORT when short_name is not 0. out NULL: the command
 * refuses it as "unknown option '--NAME'" (a table shared with a command that takes it). */
struct cli_option {
    const char *name;
    enum cli_option_kind kind;
    void *out;
    char short_name;
};

/* Parse the options of argv (argv[0] is the command) by the n (at most CLI_MAX_OPTIONS) options
 * of opts, and --help/-h, which prints help. 1: the help was printed, 0: go on with optind at the
 * first operand, else the exit status after printing what was wrong with the options. */
int cli_parse_options(const char *cmd, const char *help, int argc, char **argv,
                      const struct cli_option *opts, size_t n);
/* Options of a subcommand that takes only --json (when json is not NULL) and --help, and
 * min..max operands. 1: the help was printed, 0: go on, else an exit status. */
int cli_parse_simple(const char *cmd, const char *help, int argc, char **argv, bool *json, int min,
                     int max);
/* True when --help or -h is among argv[1..] before a "--": help works before any login. */
bool cli_wants_help(int argc, char **argv);
struct cli_ctx;

/* A subcommand: fn gets the loaded context, the device (NULL for `devices`) and its own argv. */
struct cli_sub {
    const char *name;
    int (*fn)(const struct cli_ctx *ctx, const char *device, int argc, char **argv);
    const char *help;
};

/* Run the subcommand argv[1] of group (e.g. "devices", "gw-1 deployment"; cli-run.c): its help
 * without logging in, else with the context loaded. Unknown or missing subcommands print group_help
 * to stderr and return CLI_EXIT_USAGE. */
int cli_dispatch(const char *group, const char *group_help, const struct cli_sub *subs, size_t n,
                 const char *device, int argc, char **argv);
/* Run one command (cli-run.c): its help without logging in, else fn with the context loaded. */
int cli_run(const struct cli_sub *sub, const char *device, int argc, char **argv);

/* A positive decimal integer that takes the whole text; -1 otherwise. */
int cli_parse_positive(const char *text, int64_t *out);

/* ---- labels (cli-labels.c) ------------------------------------------------------------------ */

/* The "labels" object of a device as "k=v,k2=v2" (by key, as the server sends them); NULL when
 * it has none. Caller frees. */
char *cli_labels_text(const struct m87_json *labels);
/* "labels": {...} of args ("KEY=VALUE", and "KEY-" as null when removals) into the open object
 * of w, each checked as spec-label.h says before anything is sent. 0, or the exit status after
 * printing "m87: CMD: WHAT: WHY" (what: "--label 'X'" or "'X'", per option). */
int cli_labels_write(const char *cmd, const char *option, const struct m87_strv *args,
                     bool removals, struct m87_jw *w);
/* `m87 devices label NAME KEY=VALUE|KEY-... [--json]`. */
int cli_devices_label(const struct cli_ctx *ctx, const char *device, int argc, char **argv);
extern const char cli_label_help[];

/* ---- configuration and login (cli-config.c) -------------------------------------------------- */

struct cli_ctx {
    char *server; /* base URL without a trailing '/' */
    char *token;
    char *ca_file; /* NULL: the system's CAs */
    /* a plain http:// server is allowed */
    bool insecure_http;
};

/* $XDG_CONFIG_HOME/m87/config or $HOME/.config/m87/config; NULL when neither is set. */
char *cli_config_path(void);
/* The file name in the same directory (signing.key); NULL when neither is set. */
char *cli_config_file(const char *name);
/* Fill ctx from the config file and M87_SERVER, M87_TOKEN, M87_CA_FILE (which win). Prints what
 * is missing (how to log in) and returns CLI_EXIT_USAGE, else CLI_EXIT_OK. */
int cli_ctx_load(struct cli_ctx *ctx);
void cli_ctx_release(struct cli_ctx *ctx);

/* ---- HTTP to the server (cli-http.c) ------------------------------------------------------- */

/* Send method path (the part after the base URL, segments already escaped) with an optional JSON
 * body. On a 2xx answer 0 and *out the parsed JSON (NULL for an empty body); out may be NULL.
 * Otherwise -1 and *err: M87_E_CONNECT / M87_E_TIMEOUT ("cannot reach the server at URL: ...;
 * check `m87 login`"), or M87_E_HTTP / M87_E_NOTFOUND / M87_E_CONFLICT with http_status set and
 * the server's error message, or M87_E_PARSE for an answer that is not JSON. */
int cli_http_json(const struct cli_ctx *ctx, const char *method, const char *path, const char *body,
                  struct m87_json **out, struct m87_error **err);
/* The same with one more request header ("Name: value"; NULL: none). */
int cli_http_json_header(const struct cli_ctx *ctx, const char *method, const char *path,
                         const char *body, const char *header, struct m87_json **out,
                         struct m87_error **err);
/* PUT the file at file_path to path as application/gzip; as cli_http_json otherwise. */
int cli_http_put_file(const struct cli_ctx *ctx, const char *path, const char *file_path,
                      struct m87_json **out, struct m87_error **err);
/* A path segment escaped for a URL; caller frees. */
char *cli_escape(const char *segment);
/* Print "m87: MESSAGE" (with a hint for auth failures) and return the exit status for err. */
int cli_report(const struct m87_error *err);

/* ---- output (cli-format.c) ------------------------------------------------------------------ */

/* Columns of text aligned for people: every column as wide as its widest cell, two spaces
 * between columns, the last column not padded, no trailing blanks. */
struct cli_table {
    size_t n_cols;
    struct m87_strv cells; /* row-major, the header first */
};

void cli_table_init(struct cli_table *t, size_t n_cols, const char *const *header);
/* Append a row of n_cols cells; a NULL cell is written as "-". */
void cli_table_add(struct cli_table *t, const char *const *row);
/* The table as text, each line ending in '\n'. Caller frees. */
char *cli_table_render(const struct cli_table *t);
void cli_table_release(struct cli_table *t);
/* Print the table on stdout, then release it. */
void cli_table_print(struct cli_table *t);

/* A duration in milliseconds for people: "850ms", "5.1s", "2m3s", "1h2m". Caller frees. */
char *cli_format_ms(int64_t ms);
/* Parse an RFC 3339 UTC time ("2026-11-23T12:30:00Z"); -1 when it is not one. */
int cli_parse_time(const char *text, time_t *out);
/* How long before now text was: "12s ago", "4m ago", "3h ago", "2d ago"; "never" for NULL and
 * the text itself when it does not parse. Caller frees. */
char *cli_format_ago(const char *text, time_t now);

/* An instant in the local time zone for people: "2026-11-28 01:00 CET". Caller frees. */
char *cli_format_local_time(time_t t);
/* An RFC 3339 UTC time (NULL: "-") as cli_format_local_time; text that does not parse is given
 * back as it is. Caller frees. */
char *cli_format_local(const char *text);

/* Print a parsed JSON value on one line followed by a newline. */
void cli_print_json(FILE *out, const struct m87_json *n);
/* A subcommand that takes only --json and --help and shows what GET path answers: the JSON with
 * --json, else print(device, answer), whose true result gives CLI_EXIT_FAILED. */
int cli_get_and_show(const struct cli_ctx *ctx, const char *cmd, const char *help, int argc,
                     char **argv, const char *path, const char *device,
                     bool (*print)(const char *device, const struct m87_json *doc));

/* ---- deploy helpers (cli-deploy.c) --------------------------------------------------------- */

enum cli_file_kind {
    CLI_FILE_RUNSPEC,
    CLI_FILE_COMPOSE,
};

/* Which kind of file text is: a compose file is a mapping with `services:` and no `jobs:`;
 * everything else goes to the run-spec parser (which names what is wrong). -1 with *err for
 * YAML that does not parse ("FILE:LINE:COLUMN: ..."). */
int cli_file_kind(const char *text, size_t len, const char *file, enum cli_file_kind *kind,
                  struct m87_error **err);

/* A bundle packed for upload: a temporary directory holding it. */
struct cli_bundle {
    char *dir;    /* NULL: no bundle */
    char *path;   /* dir/sha256-HEX.tar.gz */
    char *digest; /* "sha256:HEX" */
};

/* Convert the compose file at path into a run spec of one job (id: name, or the converter's
 * default); when the job needs a bundle it is packed into a new temporary directory described
 * by *bundle. NULL with *err (the compose loader's FILE:LINE:COLUMN messages). */
struct spec_runspec *cli_compose_job(const char *path, const char *name, struct cli_bundle *bundle,
                                     struct m87_error **err);
/* The same for a project loaded as load says (several -f files, -p NAME). */
struct spec_load_options;
struct spec_runspec *cli_compose_job_load(const struct spec_load_options *load, const char *name,
                                          struct cli_bundle *bundle, struct m87_error **err);
/* FILE of `deploy` (a run spec, or a compose file converted into one job, its bundle packed into
 * *bundle) into *out, the job renamed name when not NULL; else prints why and returns the exit
 * status (the bundle released). */
int cli_load_jobs(const char *file, const char *name, struct cli_bundle *bundle,
                  struct spec_runspec **out);
/* PUT the bundle to the server (nothing when there is none); prints what failed and returns
 * the exit status. */
int cli_bundle_upload(const struct cli_ctx *ctx, const struct cli_bundle *bundle);
/* Remove the temporary directory and free the fields. */
void cli_bundle_release(struct cli_bundle *bundle);

/* ---- signing revisions (cli-sign.c, docs/security.md) ------------------------------------------
 * With a signing key configured (cli_config_file("signing.key")), each command that makes or
 * activates a revision computes the revision hash and number the server will make, signs them
 * with the device, the deployment and the time (format v2) and sends
 * `M87-Signature: v2 HASH REVISION TIME NOW KEYID SIG` with the request. Each function gives the
 * header in *header (NULL when no key is configured: nothing is fetched then), or prints what
 * failed and returns its exit status. */

/* deploy: the newest revision of deployment dep with add's jobs merged in. */
int cli_sign_jobs(const struct cli_ctx *ctx, const char *device, const char *dep,
                  const struct spec_runspec *add, bool now, char **header);
/* undeploy: the newest revision of dep without job (no header when it has no such job). */
int cli_sign_undeploy(const struct cli_ctx *ctx, const char *device, const char *dep,
                      const char *job, bool now, char **header);
/* new (src NULL: no jobs) and clone, as revision 1 of the new deployment new_id; activate
 * (new_id NULL): the newest revision of src. The jobs are those of deployment src at revision rev
 * (0: its newest). */
int cli_sign_copy(const struct cli_ctx *ctx, const char *device, const char *src, int64_t rev,
                  const char *new_id, bool now, char **header);
/* ---- remote channels (cli-channel.c, docs/remote.md) --------------------------------------- */

struct curl_slist;
struct cli_channel {
    const struct cli_ctx *ctx;
    const char *device;
    char *id;
    struct curl_slist *headers;
};
/* POST the request body (signed with signing.key when there is one) to open a channel on device.
 * CLI_EXIT_OK, or the exit status after printing why (offline, bad input). */
int cli_channel_open(struct cli_channel *ch, const struct cli_ctx *ctx, const char *device,
                     const char *body);
void cli_channel_release(struct cli_channel *ch);
/* A libcurl handle (CURL *) for stream of the channel (stdin, stdout, stderr, resize), ready for
 * m87_pump_add. */
void *cli_channel_stream(struct cli_channel *ch, const char *stream);
/* Wait for the channel's end: the exit code; or print "m87: PREFIXMESSAGE" and return 2 (the
 * device refused) or 1 (it broke). */
int cli_channel_end(struct cli_channel *ch, const char *prefix);

/* A session request (m87/spec-session.h) signed for device, in *signed_body (NULL when no key is
 * configured: send body as it is). */
int cli_sign_session(const char *device, const char *body, char **signed_body);
/* A fleet's next release (rs's jobs; release number: the fleet's newest + 1, asked of the server)
 * signed once for every member: `M87-Release-Signature: v1 HASH RELEASE TIME KEYID SIG` in
 * *header (NULL when no key is configured). */
int cli_sign_release(const struct cli_ctx *ctx, const char *fleet, const struct spec_runspec *rs,
                     char **header);
/* The same for the body of a remote request (POST /v1/devices/NAME/remote): its grant. */
int cli_sign_remote(const char *device, const char *body, char **signed_body);

/* 0 when select is a label selector (m87/spec-selector.h); else the usage error printed for cmd,
 * with the column (cli-args.c). */
int cli_check_selector(const char *cmd, const char *select);

/* ---- devices and deployments (cli-device.c) ------------------------------------------------ */

/* "/v1/devices/DEVICE" followed by tail (NULL: nothing), the device escaped for a URL. Caller
 * frees. */
char *cli_device_path(const char *device, const char *tail);
/* "/v1/devices/DEVICE/deployments/ID" followed by tail (NULL: nothing), both escaped. Caller
 * frees. */
char *cli_deployment_path(const char *device, const char *id, const char *tail);
/* The id of the device's active deployment into *id (caller frees); when it has none, prints the
 * next step to take and returns CLI_EXIT_USAGE. Any other failure is reported and its exit
 * status returned. */
int cli_active_deployment(const struct cli_ctx *ctx, const char *device, char **id);
/* The deployment a command means into *id (caller frees): given when it is not NULL, else the
 * device's active one (as cli_active_deployment, whose exit status it returns). */
int cli_deployment_id(const struct cli_ctx *ctx, const char *device, const char *given, char **id);

#endif
