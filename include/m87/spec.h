/* m87 spec module: the run spec and the Compose subset (parse, validate, interpolate, convert).
 *
 * Pure logic over common.h: nothing here talks to dockerd or the server. Errors about input files
 * read "FILE:LINE:COLUMN: message" (or "FILE:LINE: message" where there is no column).
 */
#ifndef M87_SPEC_H
#define M87_SPEC_H

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/units.h"
#include "m87/yaml-write.h"
#include "m87/yaml.h"

/* ---- interpolation --------------------------------------------------------------------------- */

/* Compose's variable syntax, as compose-go's template package reads it:
 *
 *   $VAR  ${VAR}            the value, "" when unset
 *   ${VAR:-word} ${VAR-word} word when VAR is unset or empty / unset
 *   ${VAR:+word} ${VAR+word} word when VAR is set and not empty / set, else ""
 *   ${VAR:?word} ${VAR?word} an error when VAR is unset or empty / unset
 *   $$                       a literal $
 *
 * Names are [A-Za-z_][A-Za-z0-9_]*. The word is itself interpolated, so defaults nest
 * (${A:-${B:-x}}); it extends to the matching '}', counting only "${" as an opening. Unlike
 * compose-go, a word is only evaluated when it is used (${A:-${B:?x}} with A set is no error), but
 * its syntax is always checked. A '$' followed by anything else ("$5", "$ ", a final "$",
 * "${A B}", "${}", an unclosed "${A") is a syntax error, as in compose.
 *
 * Errors are placed by the caller's position: FILE:LINE:COLUMN (":COLUMN" left out when column
 * is 0), then
 *   M87_E_PARSE  "invalid interpolation format in 'TEXT': you may need to escape any $ with
 *                another $"
 *   M87_E_INVAL  the word of ${VAR:?word} / ${VAR?word}, or "required variable VAR is missing a
 *                value" when the word is empty
 *   M87_E_TOOBIG "interpolation nested deeper than SPEC_INTERP_MAX_DEPTH levels", or
 *                "interpolated value exceeds the limit of SPEC_INTERP_MAX bytes" */
#define SPEC_INTERP_MAX (1024u * 1024)
#define SPEC_INTERP_MAX_DEPTH 32u

/* The value of name (borrowed; it must stay valid until the interpolation returns), or NULL when
 * it is unset. "" is a set, empty value. Called only for names the text references. */
typedef const char *(*spec_lookup_fn)(void *ctx, const char *name);

struct spec_interp {
    spec_lookup_fn lookup; /* may be NULL: every variable is unset */
    void *ctx;
    /* When not NULL, the names referenced as $VAR or ${VAR} (no operator) while unset are
     * appended, each once, so that the caller can warn as compose does. */
    struct m87_strv *unset;
};

/* Interpolate text. Returns a new string the caller frees, or NULL with *err as above. */
char *spec_interpolate(const struct spec_interp *ip, const char *text, const char *file,
                       size_t line, size_t column, struct m87_error **err);

/* ---- dotenv ---------------------------------------------------------------------------------- */

/* The .env and env_file format, as compose-go's dotenv package reads it, one statement at a time:
 *
 *   # comment                 blank lines and lines starting with # are skipped
 *   KEY=value                 unquoted: up to the end of the line, trailing blanks dropped; a #
 *                             preceded by a blank starts a comment (a#b stays a#b)
 *   export KEY=value          the "export " prefix is ignored
 *   KEY: value                the YAML-like separator works too; blanks around it are ignored
 *   KEY='literal $X'          single quotes: taken as is, no interpolation, may span lines
 *   KEY="a\nb ${X}"           double quotes: \n \r \t \\ \" are escapes, \$ is a literal $,
 *                             any other \c is c; then interpolated; may span lines
 *   KEY                       alone: the value of KEY from lookup, left out when it is unset
 *
 * After a closing quote only blanks and a # comment may follow. Keys are made of
 * [A-Za-z0-9_.[]-] and do not start with a digit. Unquoted and double-quoted values are
 * interpolated with the syntax of spec_interpolate; a name is looked up through lookup first
 * (the process environment overrides the file, as compose does), then in *out (keys set by
 * earlier lines, or by the caller before the call). A UTF-8 byte order mark is skipped.
 *
 * Keys and values are set into *out in file order (a repeated key keeps its last value, at its
 * first place). Errors are "FILE:LINE: message" with LINE where the statement starts: M87_E_PARSE
 * for a bad line ("unexpected character '%' in variable name", "unterminated quoted value",
 * "unexpected character 'x' after the closing quote", "variable name '1A' must not start with a
 * digit"), interpolation errors as above, M87_E_TOOBIG past SPEC_DOTENV_MAX_FILE bytes of input or
 * SPEC_DOTENV_MAX_TOTAL bytes of keys and values. *out keeps what was set before an error. */
#define SPEC_DOTENV_MAX_FILE (1024u * 1024)
#define SPEC_DOTENV_MAX_TOTAL (4u * 1024 * 1024)

int spec_dotenv_parse(const char *text, size_t len, const char *file, spec_lookup_fn lookup,
                      void *ctx, struct m87_kvlist *out, struct m87_error **err);

/* Read path (M87_E_IO "open 'PATH': ..." when it cannot) and parse it as above, with path as the
 * FILE of messages. */
int spec_dotenv_load(const char *path, spec_lookup_fn lookup, void *ctx, struct m87_kvlist *out,
                     struct m87_error **err);

/* ---- compose model ------------------------------------------------------------------------------ */

/* A Compose project after loading: files merged, variables interpolated, env files read, paths
 * made absolute, names resolved, every field checked. The executor (src/engine) applies it; the
 * converter (compose to run spec) bundles the local files it references. Everything is owned by
 * the project and freed with spec_project_free. Unset optional values are NULL strings, empty
 * lists, or the SPEC_UNSET sentinel for numbers. */
#define SPEC_UNSET INT64_MIN
#define SPEC_MAX_SERVICES 1000u
#define SPEC_MAX_REPLICAS 1000

/* Where a service or field came from, for messages after loading ("FILE:LINE:COLUMN"). */
struct spec_pos {
    char *file;
    size_t line;
    size_t column;
};

enum spec_pull_policy {
    SPEC_PULL_MISSING = 0, /* missing, if_not_present: the default */
    SPEC_PULL_ALWAYS,
    SPEC_PULL_NEVER,       /* never, build */
    SPEC_PULL_EVERY,       /* daily, weekly, every_<duration>: pull_every_ns */
};

/* One published or exposed container port. Short-form ranges are expanded: "8080-8081:80-81"
 * gives two ports. */
struct spec_port {
    unsigned target;     /* container port, 1..65535 */
    char *published;     /* host port or range as text; NULL: none published, or ephemeral
                            when publish is true */
    bool publish;        /* a host binding is wanted (HostPort may be "") */
    char *host_ip;       /* NULL: all addresses */
    char *protocol;      /* "tcp" (default), "udp", "sctp" */
    char *mode;          /* "host" / "ingress" (recorded, no engine effect) */
    char *name;
    char *app_protocol;
};

enum spec_mount_type {
    SPEC_MOUNT_BIND,
    SPEC_MOUNT_VOLUME,   /* named: source is the volume key of the project (or an external) */
    SPEC_MOUNT_ANON,     /* anonymous volume: no source */
    SPEC_MOUNT_TMPFS,
};

struct spec_mount {
    enum spec_mount_type type;
    char *source;        /* bind: absolute host path; volume: the project's volume key */
    char *target;        /* absolute container path */
    bool read_only;
    char *selinux;       /* NULL, "z" or "Z" */
    char *propagation;   /* bind: NULL or rprivate, private, rshared, shared, rslave, slave */
    bool create_host_path; /* bind: default true (legacy Binds create a missing dir) */
    bool nocopy;         /* volume */
    int64_t tmpfs_size;  /* bytes, SPEC_UNSET when not given */
    int64_t tmpfs_mode;  /* SPEC_UNSET when not given */
    bool long_syntax;    /* written in the long form (decides Binds vs Mounts with the above) */
};

struct spec_service_network {
    char *key;           /* the project's network key */
    struct m87_strv aliases;
    char *ipv4_address;
    char *ipv6_address;
    int64_t priority;    /* 0 when not given */
};

enum spec_depends_condition {
    SPEC_DEPENDS_STARTED = 0,
    SPEC_DEPENDS_HEALTHY,
    SPEC_DEPENDS_COMPLETED,
};

struct spec_depends {
    char *service;
    enum spec_depends_condition condition;
    bool restart;
    bool required;       /* default true */
};

struct spec_healthcheck {
    bool disable;        /* disable: true, or test: ["NONE"] */
    struct m87_strv test; /* ["CMD", ...] or ["CMD-SHELL", "..."]; empty: inherit the image's */
    int64_t interval_ns; /* SPEC_UNSET: inherit */
    int64_t timeout_ns;
    int64_t start_period_ns;
    int64_t retries;
};

struct spec_ulimit {
    char *name;
    int64_t soft;
    int64_t hard;
};

struct spec_device {
    char *host_path;
    char *container_path;
    char *permissions;   /* default "rwm" */
};

/* A service's use of a top-level config or secret. */
struct spec_file_ref {
    char *source;        /* the top-level key */
    char *target;        /* absolute path in the container, defaults applied */
    char *uid;           /* NULL when not given */
    char *gid;
    int64_t mode;        /* SPEC_UNSET: 0444 */
};

struct spec_service {
    char *name;
    struct spec_pos pos;
    char *image;
    char *platform;
    enum spec_pull_policy pull_policy;
    int64_t pull_every_ns;
    bool has_command;          /* command given (possibly empty: clears the image's CMD) */
    struct m87_strv command;
    bool has_entrypoint;
    struct m87_strv entrypoint;
    struct m87_kvlist environment; /* env_file entries then environment; a NULL value is a
                                      bare name left unresolved (sent as "NAME") */
    struct m87_strv env_files;     /* absolute paths, in order, for bundling */
    struct spec_port *ports;
    size_t n_ports;
    struct m87_strv expose;        /* "3000/tcp" */
    struct spec_mount *mounts;
    size_t n_mounts;
    struct m87_kvlist tmpfs;       /* path -> mount options ("" when none) */
    struct spec_service_network *networks; /* sorted: highest priority first, then by key */
    size_t n_networks;
    char *network_mode;            /* NULL, host, none, bridge, container:ID, service:NAME */
    struct spec_depends *depends;
    size_t n_depends;
    char *restart;                 /* NULL, "no", "always", "unless-stopped", "on-failure" */
    int64_t restart_max;           /* on-failure:N, deploy max_attempts; 0 when none */
    int64_t replicas;              /* scale / deploy.replicas, default 1 */
    int64_t mem_limit;             /* bytes or SPEC_UNSET (limits override the short keys) */
    int64_t memswap_limit;
    int64_t mem_reservation;
    int64_t nano_cpus;
    int64_t cpu_shares;
    char *cpuset;
    int64_t pids_limit;
    int64_t shm_size;
    struct spec_healthcheck healthcheck;
    bool has_healthcheck;
    struct m87_kvlist labels;
    char *user;
    char *working_dir;
    char *hostname;
    char *domainname;
    bool read_only;
    struct m87_strv cap_add;
    struct m87_strv cap_drop;
    struct m87_strv security_opt; /* a seccomp=FILE entry holds the file's JSON, as compose
                                     sends it; the file is in seccomp_files */
    struct m87_strv seccomp_files; /* absolute paths of the seccomp profiles read */
    bool privileged;
    struct spec_device *devices;
    size_t n_devices;
    struct m87_kvlist sysctls;
    struct spec_ulimit *ulimits;
    size_t n_ulimits;
    char *log_driver;
    struct m87_kvlist log_options;
    struct m87_strv extra_hosts;   /* "name:ip" */
    struct m87_strv dns;
    struct m87_strv dns_search;
    struct m87_strv dns_opt;
    int init;                      /* -1 unset, 0, 1 */
    char *stop_signal;
    int64_t stop_grace_ns;         /* SPEC_UNSET: the daemon's default */
    struct spec_file_ref *configs;
    size_t n_configs;
    struct spec_file_ref *secrets;
    size_t n_secrets;
    char *container_name;
    struct m87_strv profiles;
    bool tty;
    bool stdin_open;
};

struct spec_ipam_pool {
    char *subnet;
    char *ip_range;
    char *gateway;
    struct m87_kvlist aux_addresses;
};

struct spec_network {
    char *key;
    char *name;                    /* the real name: name:, or PROJECT_KEY, or key if external */
    bool external;
    char *driver;
    struct m87_kvlist driver_opts;
    char *ipam_driver;
    struct spec_ipam_pool *ipam_pools;
    size_t n_ipam_pools;
    struct m87_kvlist ipam_options;
    bool internal;
    bool attachable;
    bool enable_ipv6;
    struct m87_kvlist labels;
};

struct spec_volume {
    char *key;
    char *name;
    bool external;
    char *driver;
    struct m87_kvlist driver_opts;
    struct m87_kvlist labels;
};

enum spec_source {
    SPEC_SOURCE_FILE,
    SPEC_SOURCE_CONTENT,
    SPEC_SOURCE_ENVIRONMENT,
};

/* A top-level config or secret. */
struct spec_config {
    char *key;
    char *name;
    enum spec_source source;
    char *file;                    /* absolute path (SPEC_SOURCE_FILE) */
    char *content;                 /* the text (CONTENT, and ENVIRONMENT once resolved) */
    char *environment;             /* the variable's name (ENVIRONMENT) */
};

struct spec_project {
    char *name;                    /* normalised: lower case [a-z0-9_-], starting alnum */
    char *working_dir;             /* absolute project directory */
    struct m87_strv config_files;  /* absolute paths of the compose files, in order */
    char *env_file;                /* the .env read, NULL when none */
    struct spec_service *services; /* only the services of active profiles, in file order */
    size_t n_services;
    struct m87_strv disabled_services; /* names of services left out by profiles */
    struct spec_network *networks; /* those used by active services, plus "default" if used */
    size_t n_networks;
    struct spec_volume *volumes;
    size_t n_volumes;
    struct spec_config *configs;
    size_t n_configs;
    struct spec_config *secrets;
    size_t n_secrets;
    struct m87_strv warnings;      /* things accepted with no engine effect, each once */
};

struct spec_load_options {
    const char *const *files;      /* compose files; NULL/0: found in project_dir as docker
                                      compose does (compose.yaml, compose.yml,
                                      docker-compose.yml, docker-compose.yaml) */
    size_t n_files;
    const char *project_name;      /* NULL: "name:" of the file, else $COMPOSE_PROJECT_NAME,
                                      else the project directory's base name */
    const char *project_dir;       /* NULL: the directory of the first file */
    const char *env_file;          /* NULL: PROJECT_DIR/.env when it exists */
    const char *const *profiles;   /* active profiles; NULL: $COMPOSE_PROFILES */
    size_t n_profiles;
    spec_lookup_fn lookup;         /* the environment; NULL: the process environment */
    void *lookup_ctx;
};

/* Load a project. NULL with *err on any problem, every message placed "FILE:LINE:COLUMN: " and
 * naming the field: M87_E_PARSE for YAML syntax, M87_E_INVAL for a wrong type, an unknown or
 * unsupported field, a bad value (port, size, duration), a cycle in depends_on, a reference to a
 * missing service, network, volume, config or secret, an unset required variable; M87_E_IO for
 * a file that cannot be read. */
struct spec_project *spec_compose_load(const struct spec_load_options *opts,
                                       struct m87_error **err);
/* As spec_compose_load with one compose file whose len bytes of text are given: file names it in
 * messages and stands for its path (the project directory defaults to its directory; it is not
 * read and need not exist). opts->files and opts->n_files are ignored; env files and other files
 * the text references are read from disk as usual. */
struct spec_project *spec_compose_parse(const char *text, size_t len, const char *file,
                                        const struct spec_load_options *opts,
                                        struct m87_error **err);
void spec_project_free(struct spec_project *p);
static inline void spec_project_freep(struct spec_project **p)
{
    spec_project_free(*p);
}

/* The service named name, or NULL. */
const struct spec_service *spec_project_service(const struct spec_project *p, const char *name);
const struct spec_network *spec_project_network(const struct spec_project *p, const char *key);
const struct spec_volume *spec_project_volume(const struct spec_project *p, const char *key);

/* Services in dependency order (dependencies first; ties in file order). order gets n_services
 * indexes into p->services. */
void spec_project_order(const struct spec_project *p, size_t *order);

/* Normalise a project name as compose does: lower case, only [a-z0-9_-], leading '_'/'-'
 * dropped. Caller frees; "" when nothing is left. */
char *spec_normalize_project_name(const char *name);

/* The normalised model as YAML (json false) or JSON, for `compose config`. Caller frees. */
char *spec_project_dump(const struct spec_project *p, bool json);

/* ---- run spec ------------------------------------------------------------------------------- */

/* The m87 run-spec format (docs/runspec.md): a document `jobs: [...]`, each job a set of files
 * written into a workdir and steps run there. Parsing validates everything and fills every
 * default, so that the runner never guesses:
 *
 *   type service | job                default service
 *   enabled                           default true (not part of the hash: disabling = stopping)
 *   workdir.mode ephemeral | persistent  default ephemeral; workdir.path absolute or NULL
 *   steps[].timeout                   default 1h, > 0, at most SPEC_RUNSPEC_MAX_DURATION
 *   steps[].retry.attempts            default 1 (no retry), 1..SPEC_RUNSPEC_MAX_ATTEMPTS
 *   steps[].retry.backoff             default 5s, >= 0 (the first wait; doubled after each try)
 *   steps[].retry.on_exit_codes       default empty (any non-zero); 1..255, stored sorted, unique
 *   steps[].undo.timeout              default 5m
 *   on_failure.undo                   default executed_steps (none to opt out)
 *   stop.steps                        default empty; stop steps have no undo
 *
 * Ids and step names are safe names: [A-Za-z0-9][A-Za-z0-9_.-]{0,62}, unique (step names within
 * their list). File names are relative paths of '/'-separated components, none empty, "." or
 * "..", no control character, at most SPEC_RUNSPEC_MAX_PATH bytes (255 per component), and no
 * file is also the directory of another. Env keys are [A-Za-z_][A-Za-z0-9_]*. Scalars of any type
 * are taken as text where a string is due (`PORT: 8080`); null never is.
 *
 * Errors are "FILE:LINE:COLUMN: PATH: message" at the offending node, PATH naming the field
 * ("jobs[0].steps[1]: unknown field 'runn'"): M87_E_PARSE for YAML syntax, M87_E_INVAL for a
 * wrong type, an unknown or missing field, a bad value, a duplicate; M87_E_TOOBIG for a cap
 * ("FILE: run spec exceeds the limit of N bytes" for the input, which has no position). The exact
 * texts are pinned by fixtures/runspec/bad/. JSON is YAML, so the same parser reads a run spec
 * stored as JSON (spec_runspec_dump's JSON included), as long as the JSON escapes what YAML
 * refuses or folds when raw (see spec_runspec_dump). */
#define SPEC_RUNSPEC_MAX_FILE (4u * 1024 * 1024)    /* input bytes (<= M87_YAML_MAX_FILE) */
#define SPEC_RUNSPEC_MAX_JOBS 256u
#define SPEC_RUNSPEC_MAX_STEPS 100u                 /* per list: steps, stop.steps */
#define SPEC_RUNSPEC_MAX_FILES 256u                 /* per job */
#define SPEC_RUNSPEC_MAX_CONTENT (2u * 1024 * 1024) /* bytes of file contents per job */
#define SPEC_RUNSPEC_MAX_ENV 1000u                  /* variables per job */
#define SPEC_RUNSPEC_MAX_PATH 512u                  /* bytes of a file name or workdir path */
#define SPEC_RUNSPEC_MAX_ENV_NAME 256u              /* bytes of an env key */
#define SPEC_RUNSPEC_MAX_ATTEMPTS 100
#define SPEC_RUNSPEC_MAX_DURATION (INT64_C(8760) * 3600 * 1000000000) /* 365 days in ns */
#define SPEC_RUNSPEC_DEFAULT_TIMEOUT (INT64_C(3600) * 1000000000)     /* 1h */
#define SPEC_RUNSPEC_DEFAULT_UNDO_TIMEOUT (INT64_C(300) * 1000000000) /* 5m */
#define SPEC_RUNSPEC_DEFAULT_BACKOFF (INT64_C(5) * 1000000000)        /* 5s */
#define SPEC_JOB_HASH_LEN 64                        /* hex SHA-256 */
#define SPEC_JOB_HASH_PREFIX "m87-job-v1\n"

enum spec_job_type {
    SPEC_JOB_SERVICE = 0, /* kept running: the runner watches its containers */
    SPEC_JOB_JOB,         /* runs to completion */
};

enum spec_workdir_mode {
    SPEC_WORKDIR_EPHEMERAL = 0, /* removed when the job stops or is removed */
    SPEC_WORKDIR_PERSISTENT,
};

enum spec_undo_policy {
    SPEC_UNDO_EXECUTED_STEPS = 0, /* on failure, the undo of every step that ran (the failed one
                                     included), in reverse order */
    SPEC_UNDO_NONE,
};

/* A command: a string run by /bin/sh -c, or an argv run directly. */
struct spec_run {
    bool shell;
    char *text;            /* shell: the script, not empty */
    struct m87_strv argv;  /* !shell: at least one item, the first not empty */
};

struct spec_retry {
    int64_t attempts;      /* total tries, 1 = no retry */
    int64_t backoff_ns;    /* wait before the second try */
    int *on_exit_codes;    /* sorted, unique, 1..255; none: any non-zero exit code */
    size_t n_on_exit_codes;
};

struct spec_step {
    char *name;
    struct spec_pos pos;   /* of the step's mapping */
    struct spec_run run;
    int64_t timeout_ns;    /* per attempt */
    struct spec_retry retry;
    bool has_undo;         /* never for stop steps */
    struct spec_run undo;
    int64_t undo_timeout_ns;
};

struct spec_job_file {
    char *name;            /* relative path, checked as above */
    char *content;         /* UTF-8 text without NUL bytes: what YAML can carry (binary files
                              belong in a bundle) */
};

struct spec_job {
    char *id;
    struct spec_pos pos;   /* of the job's mapping */
    size_t index;          /* position in jobs[] */
    enum spec_job_type type;
    bool enabled;
    enum spec_workdir_mode workdir_mode;
    char *workdir_path;    /* NULL: the runner's state dir decides */
    struct spec_job_file *files; /* in document order */
    size_t n_files;
    char *bundle;          /* "sha256:HEX" of a tar.gz (spec_bundle_pack) extracted into the
                              workdir before `files` are written over it; NULL: none */
    struct m87_kvlist env; /* in document order, no NULL values */
    struct spec_step *steps; /* at least one */
    size_t n_steps;
    enum spec_undo_policy on_failure_undo;
    struct spec_step *stop_steps;
    size_t n_stop_steps;
    char hash[SPEC_JOB_HASH_LEN + 1]; /* spec_job_hash, filled by the parser */
};

struct spec_runspec {
    struct spec_job *jobs; /* in document order; ids unique */
    size_t n_jobs;
};

/* Parse and validate len bytes of YAML or JSON; file names the input in messages. The result is
 * owned by the caller (spec_runspec_free); every job's hash is filled. NULL with *err as above. */
struct spec_runspec *spec_runspec_parse(const char *text, size_t len, const char *file,
                                        struct m87_error **err);

/* Read path (M87_E_IO "open 'PATH': ..." when it cannot) and parse it as above, with path as the
 * FILE of messages. */
struct spec_runspec *spec_runspec_load(const char *path, struct m87_error **err);

/* One job given as a JSON node, parsed and validated as the run spec {"jobs":[job]} would be;
 * file names it in messages. */
struct spec_runspec *spec_runspec_parse_job(const struct m87_json *job, const char *file,
                                            struct m87_error **err);

/* Free the contents of a job (a job built by hand, e.g. by the converter, too). */
void spec_job_release(struct spec_job *job);
void spec_runspec_free(struct spec_runspec *rs);
static inline void spec_runspec_freep(struct spec_runspec **rs)
{
    spec_runspec_free(*rs);
}

/* The job with that id, or NULL. */
const struct spec_job *spec_runspec_job(const struct spec_runspec *rs, const char *id);

/* The canonical JSON of a job, what its hash is computed over, for storing and comparing. One
 * line, no spaces, keys in this fixed order with every default present:
 *   {"id","type","workdir":{"mode","path"},"files":{NAME:CONTENT},"bundle":null|"sha256:HEX",
 *    "env":{KEY:VALUE},"steps":[STEP],"on_failure":{"undo"},"stop":{"steps":[STEP]}}
 *   STEP = {"name","run","timeout_ns","retry":{"attempts","backoff_ns","on_exit_codes"},
 *           "undo":null|{"run","timeout_ns"}}
 * "run" is a string (shell) or an array (argv); "path" is null when not set; files and env
 * sorted by key (bytewise); durations in nanoseconds; `enabled` left out. Changing this text
 * changes every hash (and makes every device re-run every job): bump SPEC_JOB_HASH_PREFIX's
 * version when it must change. Caller frees. */
char *spec_job_canonical_json(const struct spec_job *job);

/* hex(SHA-256(SPEC_JOB_HASH_PREFIX + spec_job_canonical_json(job))) into out. Independent of key
 * order, quoting, comments and of defaults being written or not; changed by anything the runner
 * would do differently except `enabled`. */
void spec_job_hash(const struct spec_job *job, char out[SPEC_JOB_HASH_LEN + 1]);

/* The normalised run spec, every default written, durations as text ("15m", "1h30m"), files
 * and env in document order: YAML (json false) or JSON on one line, both read back by
 * spec_runspec_parse to the same jobs and hashes. The JSON escapes the characters YAML refuses or
 * folds when raw (DEL, C1 controls, U+2028/9, U+FEFF, U+FFFE/F) as \uXXXX. Caller frees. */
char *spec_runspec_dump(const struct spec_runspec *rs, bool json);

/* ---- revisions (spec-revision.c) -------------------------------------------------------------- */

#define SPEC_REVISION_HASH_PREFIX "m87-rev-v1\n"

/* The revision hash of docs/api.md: hex(SHA-256(SPEC_REVISION_HASH_PREFIX + for each job sorted
 * by id: "ID JOB_HASH ENABLED(1|0)\n")). The server makes it, the CLI signs it, the agent checks
 * it against the spec it received. */
void spec_revision_hash(const struct spec_runspec *rs, char out[M87_SHA256_HEX_LEN + 1]);
/* base with add's jobs replacing those of the same id in place and the others appended; add's
 * jobs are moved out (add is left with none). */
void spec_runspec_merge(struct spec_runspec *base, struct spec_runspec *add);
/* Remove job id from rs; false when it has none. */
bool spec_runspec_remove(struct spec_runspec *rs, const char *id);

/* ---- bundles --------------------------------------------------------------------------------- */

/* A bundle is a gzip-compressed tar of workdir files that do not belong inline in a run spec
 * (binary, large, whole directories). It is content-addressed: its name is "sha256:HEX", HEX the
 * lower-case SHA-256 of the .tar.gz bytes, and it is stored as "sha256-HEX.tar.gz".
 *
 * Packing is reproducible: the same files give the same bytes (entries sorted bytewise by path,
 * directories before their contents, mtime 0, uid/gid 0, no user or group names, mode 0755 for
 * directories and executable files and 0644 for the rest, pax-restricted tar, gzip header
 * without name or timestamp). Extraction trusts nothing: see spec_bundle_extract. */
#define SPEC_BUNDLE_DIGEST_LEN 71                    /* "sha256:" + 64 hex */
#define SPEC_BUNDLE_FILE_LEN 78                      /* "sha256-" + 64 hex + ".tar.gz" */
#define SPEC_BUNDLE_MAX_ENTRY (64u * 1024 * 1024)    /* bytes of one unpacked file */
#define SPEC_BUNDLE_MAX_ENTRIES 10000u               /* entries (files and directories) */
#define SPEC_BUNDLE_MAX_TOTAL (256u * 1024 * 1024)   /* bytes unpacked in all */
#define SPEC_BUNDLE_MAX_ARCHIVE (256u * 1024 * 1024) /* bytes of the .tar.gz itself */

/* True when s is "sha256:" followed by 64 lower-case hex digits. */
bool spec_bundle_digest_valid(const char *s);

/* The file name of a bundle, "sha256-HEX.tar.gz", from its digest "sha256:HEX" (which must be
 * valid) into out. */
void spec_bundle_file_name(const char *digest, char out[SPEC_BUNDLE_FILE_LEN + 1]);

/* Check that the file at path has the digest "sha256:HEX": M87_E_INVAL "bundle 'PATH': digest is
 * sha256:GOT, expected DIGEST" when not (a corrupt or wrong download), M87_E_IO when it cannot be
 * read. Extraction does not check the digest itself: call this first. */
int spec_bundle_verify(const char *path, const char *digest, struct m87_error **err);

/* Pack paths (relative to base_dir, files or directories, directories recursively; no absolute
 * path, no ".." component) into out_dir/sha256-HEX.tar.gz, written atomically (temporary file,
 * fsync, rename), and put "sha256:HEX" into digest. Only regular files and directories are
 * packed: a symlink, device, fifo or socket in the input is M87_E_INVAL naming it; the caps
 * above apply (M87_E_TOOBIG); M87_E_IO for a file that cannot be read or written, or when
 * libarchive cannot be loaded ("bundle: load 'libarchive.so.13': ..."). A path given
 * twice, or inside a directory also given, is packed once. */
int spec_bundle_pack(const char *base_dir, const struct m87_strv *paths, const char *out_dir,
                     char digest[SPEC_BUNDLE_DIGEST_LEN + 1], struct m87_error **err);

/* Extract the bundle at archive_path into dest_dir, which must exist. The whole archive is
 * checked in a first pass and nothing is written unless every entry passes: refused (M87_E_INVAL,
 * "bundle 'PATH': entry 'NAME': REASON") are absolute names, ".." components, symlinks and hard
 * links, devices, fifos and sockets, any other type but regular files and directories, a file
 * named twice or used as a directory, and an entry whose way in dest_dir goes through an existing
 * symlink or needs an existing directory replaced by a file; M87_E_TOOBIG for an entry over
 * SPEC_BUNDLE_MAX_ENTRY bytes, more than SPEC_BUNDLE_MAX_ENTRIES entries, more than
 * SPEC_BUNDLE_MAX_TOTAL bytes unpacked, or an archive file over SPEC_BUNDLE_MAX_ARCHIVE;
 * M87_E_PARSE for anything that is not a complete tar.gz ("not a tar.gz archive (no gzip)",
 * "not a complete tar.gz archive: REASON" for another format, a truncated or corrupt stream);
 * M87_E_IO when libarchive cannot be loaded ("bundle 'PATH': load 'libarchive.so.13': ...").
 * Existing files are replaced (an existing symlink at a file's own name is replaced, never
 * followed); other files in dest_dir are left alone. Files get mode 0755 when packed executable,
 * else 0644, minus the umask; owners and times are not restored. "./" prefixes are accepted. The
 * second pass runs with dest_dir as the process's working directory (restored before returning),
 * so that libarchive's own secure-extraction checks judge the entry names alone: do not call it
 * while another thread relies on the working directory. M87_E_IO for a system call that fails. */
int spec_bundle_extract(const char *archive_path, const char *dest_dir, struct m87_error **err);

/* ---- conversion: compose to run spec ------------------------------------------------------ */

/* A Compose project made into one run-spec job that reproduces it on a device (docs/runspec.md,
 * "Converting a compose project"): id (the project name unless given), type service, an
 * ephemeral workdir, steps `pull` (docker compose pull, 15m, 3 attempts 15s apart) and `up`
 * (docker compose up -d --remove-orphans, 10m, undo down --remove-orphans 5m), stop step `down`
 * (5m). With several compose files, or one whose name docker compose would not find by itself,
 * every command passes them with -f in order; when the first file lies below the project
 * directory, --project-directory . is passed; when the project name is not what the device would
 * derive from the workdir (normalised id), -p NAME is passed too. Commands are shell strings, or
 * argvs when a word (a file name with a blank) would need quoting.
 *
 * Every local file the project needs travels with the job, named relative to the project
 * directory: the compose files (always inline in `files`), the project's .env, env_file files,
 * config and secret `file:` sources, and bind-mount sources inside the project directory (files
 * or whole directories; a missing one is left for docker to create, as it would). A file of UTF-8
 * text without NUL or control characters (tab and newline aside) and at most
 * SPEC_CONVERT_MAX_INLINE bytes goes inline in `files` while the run spec's caps allow; anything
 * else (binary, bigger, directories) goes into one bundle (spec_bundle_pack) and the job gets
 * `bundle:`. Bind sources outside the project directory (/var/run/docker.sock, /dev/..., ../x)
 * stay as they are: they name things on the device. An env_file, config or secret file outside
 * the project directory cannot exist on the device: M87_E_INVAL "FILE:LINE:COLUMN: FIELD: 'PATH'
 * is outside the project directory 'DIR'", at the reference in the compose file. Symlinks among
 * the travelling files are refused (M87_E_INVAL naming them). The same project converts to the
 * same job, hash and bundle bytes every time. */
#define SPEC_CONVERT_MAX_INLINE (64u * 1024)

struct spec_convert_options {
    struct spec_load_options load; /* the compose files and environment, as spec_compose_load */
    const char *id;                /* NULL: the project name */
    const char *bundle_dir;        /* where sha256-HEX.tar.gz is written; must exist */
};

struct spec_conversion {
    struct spec_runspec *rs;  /* one job, parsed back from its dump: valid, hash filled */
    char *bundle_path;        /* the bundle written, NULL when the job needs none */
    struct m87_strv bundled;  /* the paths packed into the bundle, relative, sorted */
    struct m87_strv warnings; /* the project's warnings (fields without engine effect) */
};

/* Convert a compose project. NULL with *err: the loader's errors as spec_compose_load, the
 * reference errors above, M87_E_INVAL "invalid job id 'ID': ..." for an id that is not a safe
 * name, M87_E_IO for a file that cannot be read or a bundle that cannot be written, M87_E_TOOBIG
 * for a bundle over its caps. Caller frees with spec_conversion_free. */
struct spec_conversion *spec_convert_compose(const struct spec_convert_options *o,
                                             struct m87_error **err);
void spec_conversion_free(struct spec_conversion *c);
static inline void spec_conversion_freep(struct spec_conversion **c)
{
    spec_conversion_free(*c);
}

/* True for a safe name (job ids, step names): [A-Za-z0-9][A-Za-z0-9_.-]{0,62}. */
bool spec_runspec_safe_name(const char *s);

/* ---- maintenance windows --------------------------------------------------------------------- */

/* A maintenance window rule: "DAYS START-END [ZONE]", blanks between the parts.
 *
 *   DAYS   "daily", or a comma list of days and day ranges: mon tue wed thu fri sat sun (also
 *          the full names; any case), "mon-fri", "fri-mon" (ranges wrap), "sat,sun".
 *   START  HH:MM, 00:00 to 23:59, local time in ZONE. The window starts on each listed day.
 *   END    HH:MM, 00:00 to 24:00. An END at or before START crosses midnight: the window ends
 *          the next day ("mon-fri 22:00-02:00" runs from Friday 22:00 to Saturday 02:00 too).
 *          START equal to END is refused (a whole day is "00:00-24:00").
 *   ZONE   "UTC" (the default; also "Z"), a fixed offset "+HH:MM" / "-HH:MM" (up to 14:00), or an
 *          IANA name ("Europe/Berlin") whose file exists in the system's tz database ($TZDIR or
 *          /usr/share/zoneinfo).
 *
 * Times inside a zone's daylight-saving change follow the usual rule: a local time skipped by a
 * spring-forward gap is moved later by the gap (02:30 becomes 03:30); a local time that occurs
 * twice in autumn is the earlier one. */
#include <time.h>

#define SPEC_WINDOW_MAX_TEXT 256
#define SPEC_WINDOW_MAX_ZONE 64

struct spec_window {
    unsigned days; /* bit d set (d as struct tm's tm_wday, 0 = Sunday): a window starts that day */
    int start;     /* minutes after local midnight: 0..1439 */
    int end;       /* minutes after the start day's midnight: start + 1 .. start + 1440 */
    bool fixed;    /* zone is UTC or a fixed offset */
    int offset;    /* seconds east of UTC, when fixed */
    char zone[SPEC_WINDOW_MAX_ZONE + 1]; /* "UTC", "+02:00" or the IANA name */
};

/* Parse a rule into *out. -1 with M87_E_INVAL naming the bad part ("unknown day 'sa' ...",
 * "end time '25:00': ...", "unknown time zone 'Europe/Berln' ...", "unexpected 'x' after the
 * time zone"); M87_E_TOOBIG for a text over SPEC_WINDOW_MAX_TEXT bytes. */
int spec_window_parse(const char *text, struct spec_window *out, struct m87_error **err);

/* The canonical text of w, which spec_window_parse reads back to the same window: "daily" or
 * days in week order from Monday (runs of three or more as ranges: "mon-fri", "sat,sun",
 * "mon,wed-fri"), HH:MM-HH:MM (24:00 for an end at midnight that does not cross it), then the
 * zone unless it is UTC. Caller frees. */
char *spec_window_format(const struct spec_window *w);

/* Whether instant t lies in a window of w: start <= t < end. */
bool spec_window_contains(const struct spec_window *w, time_t t);
/* The first window start at or after t. */
time_t spec_window_next_start(const struct spec_window *w, time_t t);
/* The first window end after t: the end of the window holding t, else of the next one. */
time_t spec_window_next_end(const struct spec_window *w, time_t t);
/* Over n windows: any holds t; the earliest next start (t itself when n is 0: no windows means
 * no restriction). */
bool spec_windows_contain(const struct spec_window *v, size_t n, time_t t);
time_t spec_windows_next_start(const struct spec_window *v, size_t n, time_t t);

/* Evaluating an IANA zone points the process's TZ at it (setenv, tzset, localtime_r), under a
 * process-wide mutex, and restores TZ after: glibc has no per-call zone, and hand-written zone
 * rules would go stale with the tz database. Another thread calling localtime, mktime or getenv
 * at that moment could see the window's zone: windows are evaluated where no other thread
 * depends on the local zone (the agent's loop, the CLI). UTC and fixed offsets touch nothing. */

#endif
