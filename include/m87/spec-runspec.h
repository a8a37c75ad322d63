/* The m87 run spec (docs/runspec.md): jobs of files and steps, parsed and validated with every
 * default filled, their canonical JSON and hash, and the normalised dump. Errors about input
 * files read "FILE:LINE:COLUMN: PATH: message".
 */
#ifndef M87_SPEC_RUNSPEC_H
#define M87_SPEC_RUNSPEC_H

#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-bundle.h"
#include "m87/spec-pos.h"
#include "m87/yaml.h"

/* The m87 run-spec format (docs/runspec.md): a document `jobs: [...]`, each job a set of files
 * written into a workdir and steps run there. Parsing validates everything and fills every
 * default, so that the runner never guesses:
 *
 *   type service | job                default service
 *   enabled                           default true (not part of the hash: disabling = stopping)
 *   workdir.mode ephemeral | persistent  default ephemeral; workdir.path absolute or NULL,
 *                                     only with persistent (an ephemeral one is the agent's)
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
#define SPEC_RUNSPEC_MAX_FILE (4u * 1024 * 1024) /* input bytes (<= M87_YAML_MAX_FILE) */
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
#define SPEC_JOB_HASH_LEN 64                                          /* hex SHA-256 */
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
    char *text;           /* shell: the script, not empty */
    struct m87_strv argv; /* !shell: at least one item, the first not empty */
};

struct spec_retry {
    int64_t attempts;   /* total tries, 1 = no retry */
    int64_t backoff_ns; /* wait before the second try */
    int *on_exit_codes; /* sorted, unique, 1..255; none: any non-zero exit code */
    size_t n_on_exit_codes;
};

struct spec_step {
    char *name;
    struct spec_pos pos; /* of the step's mapping */
    struct spec_run run;
    int64_t timeout_ns; /* per attempt */
    struct spec_retry retry;
    bool has_undo; /* never for stop steps */
    struct spec_run undo;
    int64_t undo_timeout_ns;
};

struct spec_job_file {
    char *name;    /* relative path, checked as above */
    char *content; /* UTF-8 text without NUL bytes: what YAML can carry (binary files
                      belong in a bundle) */
};

struct spec_job {
    char *id;
    struct spec_pos pos; /* of the job's mapping */
    size_t index;        /* position in jobs[] */
    enum spec_job_type type;
    bool enabled;
    enum spec_workdir_mode workdir_mode;
    char *workdir_path;          /* NULL: the runner's state dir decides */
    struct spec_job_file *files; /* in document order */
    size_t n_files;
    char *bundle;            /* "sha256:HEX" of a tar.gz (spec_bundle_pack) extracted into the
                                workdir before `files` are written over it; NULL: none */
    struct m87_kvlist env;   /* in document order, no NULL values */
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

/* As spec_runspec_parse, for a run spec that an earlier m87 accepted and stored (the runner's
 * job records), so that what it started can still be stopped: the rules added since are not
 * applied. They are: an ephemeral workdir with a path. */
struct spec_runspec *spec_runspec_parse_stored(const char *text, size_t len, const char *file,
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

/* True for a safe name (job ids, step names): [A-Za-z0-9][A-Za-z0-9_.-]{0,62}. */
bool spec_runspec_safe_name(const char *s);

#endif
