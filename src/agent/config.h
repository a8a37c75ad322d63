/* The daemon's configuration (daemon-config.c): flags of `m87-agent run` and the lines of its
 * configuration file, with their defaults. */
#ifndef M87_AGENT_CONFIG_H
#define M87_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/list.h"
#include "m87/sign.h"

#define AGENT_DEFAULT_CONFIG "/etc/m87/agent.conf"
#define AGENT_MAX_CONFIG (64u * 1024)
#define AGENT_JOURNAL_MAX_BYTES (16 * 1024 * 1024LL) /* journal cap: oldest log records go */
#define AGENT_MIN_FREE_BYTES (512 * 1024 * 1024LL)   /* free space kept beside the images */
#define AGENT_MAX_SERVERS 16
#define AGENT_KEEP_PREVIOUS 1                        /* revisions whose images pruning keeps */
#define AGENT_METRICS_INTERVAL_MS (5 * 60 * 1000LL)  /* metrics samples sent with the sync */

struct agent_config {
    char *server;            /* the first of servers */
    struct m87_strv servers; /* `server = URL1, URL2`: each without a trailing '/', in order */
    char *token;  /* --token; after agent_config_finish the token of the first source */
    char *token_file;      /* --token-file */
    char *file_token;      /* the config file's `token =` */
    char *file_token_file; /* the config file's `token-file =` */
    char *state_dir; /* absolute */
    char *docker_host;
    char *ca_file;
    bool insecure_http;
    bool insecure_http_set;
    int64_t journal_max_bytes; /* the journal's cap; log records go first */
    bool journal_max_bytes_set;
    int64_t min_free_bytes; /* free space an apply leaves where dockerd keeps images */
    bool min_free_bytes_set;
    int64_t keep_previous; /* earlier revisions whose images pruning keeps */
    bool keep_previous_set;
    struct m87_strv trust;            /* public key files (--trust, `trust = FILE`) */
    bool trust_set;                   /* given as flags: the file's lines are ignored */
    struct m87_sign_key **trust_keys; /* loaded by agent_config_finish */
    size_t n_trust_keys;
    struct m87_strv warnings; /* agent_config_finish's, for the log once it is set up */
    unsigned remote;          /* AGENT_REMOTE_* bits: the remote access the device allows */
    bool remote_set;
    int64_t metrics_interval_ms; /* a metrics sample with the sync this often; 0: none */
    bool metrics_interval_set;
};

/* Remote access (docs/remote.md) a device allows: `remote = exec, shell, forward, cp, metrics`
 * in its config file; none by default. */
#define AGENT_REMOTE_EXEC 1u
#define AGENT_REMOTE_SHELL 2u
#define AGENT_REMOTE_FORWARD 4u
#define AGENT_REMOTE_CP 8u
#define AGENT_REMOTE_METRICS 16u

/* The bit of one name (exec, shell, forward, cp, metrics), 0 for any other. */
unsigned agent_remote_bit(const char *name);
/* "exec, shell" for the bits of mask, "none" for none. Caller frees. */
char *agent_remote_names(unsigned mask);
/* A comma-separated list of names ("none" or empty: none) into *mask. -1 with M87_E_INVAL naming
 * the first unknown name. */
int agent_remote_parse(const char *text, unsigned *mask, struct m87_error **err);

/* `metrics-interval`: a duration (5m, 30s, 1h) of at least 1 s, at most 24 h, or 0 (no samples)
 * into *ms. -1 with M87_E_INVAL otherwise. */
int agent_metrics_interval_parse(const char *text, int64_t *ms, struct m87_error **err);

void agent_config_release(struct agent_config *c);

/* The field of a string setting (server, token, token-file, state-dir, docker-host, ca-file), NULL
 * for any other key: the flag's; the config file's token and token-file go to their own fields.
 * The field is c's, freed by agent_config_release. */
char **agent_config_string(struct agent_config *c, const char *key);

/* Read `key = value` lines ('#' comments, blank lines) from path into the fields of c that are
 * still unset (flags win). Keys: server, token, token-file, state-dir, docker-host, ca-file,
 * insecure-http (true/false), journal-max-bytes, min-free-bytes (sizes: 16MiB), keep-previous
 * (a count), trust (a public key file; repeatable, ignored when --trust was given), remote (what
 * remote access the device allows: agent_remote_parse), metrics-interval (a duration: 5m, 0 for
 * none; agent_metrics_interval_parse); '_' may
 * stand for '-' in a key. must_exist false: a missing file is no error. M87_E_INVAL "PATH:LINE:
 * ..." for an unknown key or a line without '='; M87_E_IO when it cannot be read. */
int agent_config_load(const char *path, bool must_exist, struct agent_config *c,
                      struct m87_error **err);

/* Defaults, and the checks: server present, http:// only with insecure_http, the state dir
 * made absolute, every trust file loaded into trust_keys. The token comes from the first of
 * --token, --token-file, env_token (M87_TOKEN; NULL or "" for none), the config file's
 * token-file, its token; a token file that cannot be read, is empty, holds more than one line
 * or a space or control character is an error (its trailing newline is dropped), and one that
 * group or others may open adds to c->warnings. M87_E_INVAL (M87_E_IO for a file that cannot
 * be read) with a message for people that never holds the token. */
int agent_config_finish(struct agent_config *c, const char *env_token, struct m87_error **err);

#endif
