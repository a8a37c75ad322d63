/* Registry credentials found as the docker CLI finds them, for the X-Registry-Auth header of a
 * pull (struct engine_auth in engine-images.h).
 *
 * The docker config is $DOCKER_CONFIG/config.json, else ~/.docker/config.json ($HOME, else the
 * user's home in the password database). For the registry of an image (its host[:port], or
 * Docker Hub, whose names docker.io, index.docker.io, registry-1.docker.io and
 * https://index.docker.io/v1/ are one), the credentials come from, in this order:
 *   1. the credential helper credHelpers names for the registry,
 *   2. else the helper credsStore names (then the auths entries are not read, as with docker),
 *   3. else the auths entry of the registry: "auth" (base64 of user:password) or
 *      "identitytoken".
 * A key matches when it is the registry's own config key (the host, or
 * "https://index.docker.io/v1/" for Docker Hub), or when it names the same host once reduced
 * like the docker CLI's ConvertToHostname ("https://host:5000/v2/" is "host:5000").
 * A helper is the program docker-credential-NAME on PATH, run as `docker-credential-NAME get`
 * with the registry's config key on stdin; it answers {"Username","Secret"} on stdout, where the
 * Username "<token>" makes Secret an identity token, or fails with "credentials not found" when it
 * has none (no credentials, not an error).
 *
 * Entries of the m87 server (engine_creds_add_server) come before all of these: for a registry
 * they name, config.json is not read.
 *
 * Secrets never appear in an error message; a struct engine_registry_auth is wiped when released.
 */
#ifndef M87_ENGINE_CREDS_H
#define M87_ENGINE_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "m87/engine-images.h"
#include "m87/error.h"

/* Docker Hub's key in config.json and the address its helpers are asked for. */
#define ENGINE_CREDS_HUB_KEY "https://index.docker.io/v1/"
/* A config.json is a few kilobytes; a bigger file is the wrong file. */
#define ENGINE_CREDS_CONFIG_MAX (1024u * 1024u)
/* A helper's answer is one small JSON object or one line of error. */
#define ENGINE_CREDS_HELPER_MAX (64u * 1024u)
/* A helper that has not answered in this long is killed and the lookup fails. */
#define ENGINE_CREDS_HELPER_TIMEOUT_MS 30000L

/* A parsed docker config.json (the parts about credentials). */
struct engine_creds;

/* Parse config.json text; path names the file in messages. NULL with M87_E_PARSE
 * "PATH: ..." when the text is not a JSON object or auths, credHelpers or credsStore have the
 * wrong type. Entries are checked when used, not here. */
struct engine_creds *engine_creds_parse(const char *text, size_t len, const char *path,
                                        struct m87_error **err);

/* Read DIR/config.json; dir NULL: $DOCKER_CONFIG, else ~/.docker. A missing file (or no home
 * to find it in) is an empty config, no error. Errors: those of m87_read_file (M87_E_IO,
 * M87_E_TOOBIG past ENGINE_CREDS_CONFIG_MAX) and of engine_creds_parse. */
struct engine_creds *engine_creds_load(const char *dir, struct m87_error **err);

/* Put the m87 server's registry entries ahead of the config, from text of the form
 * {"registries":[{"host","username","password"}]} (the agent's STATE/registries.json; a username
 * "<token>" makes the password an identity token); path names it in messages and sources. A
 * host matches a registry as a config key does. M87_E_PARSE "PATH: expected ..." on any other
 * shape; the message never quotes the text. Replaces entries added before. */
int engine_creds_parse_server(struct engine_creds *c, const char *text, size_t len,
                              const char *path, struct m87_error **err);
/* engine_creds_parse_server on the file at path; a missing file adds nothing. The errors of
 * m87_read_file too. */
int engine_creds_add_server(struct engine_creds *c, const char *path, struct m87_error **err);

/* The file the config came from ("" for parsed text without a path); borrowed. */
const char *engine_creds_path(const struct engine_creds *c);

void engine_creds_free(struct engine_creds *c);
static inline void engine_creds_freep(struct engine_creds **c)
{
    engine_creds_free(*c);
}

/* The registry of an image reference: "docker.io" for Docker Hub ("nginx", "library/nginx",
 * "docker.io/x/y", "index.docker.io/x/y"), else the host[:port] before the first '/' when that
 * part has a '.' or a ':' or is "localhost". Caller frees. */
char *engine_ref_registry(const char *ref);

/* A config key reduced to the registry it names: scheme, path and user info dropped like the
 * docker CLI's ConvertToHostname ("https://host:5000/v2/" -> "host:5000"), and Docker Hub's names
 * -> "docker.io". Caller frees. */
char *engine_creds_registry_of_key(const char *key);

/* Where the credentials of registry (as engine_ref_registry names it) come from; pure: nothing
 * is run. The strings are borrowed from c. */
enum engine_creds_source {
    ENGINE_CREDS_NONE,   /* anonymous */
    ENGINE_CREDS_AUTHS,  /* auths entry: key */
    ENGINE_CREDS_HELPER, /* helper docker-credential-NAME, NAME in helper */
    ENGINE_CREDS_SERVER, /* an entry of the m87 server: key is its host */
};

struct engine_creds_choice {
    enum engine_creds_source source;
    const char *key;    /* the auths key (ENGINE_CREDS_AUTHS), the host (ENGINE_CREDS_SERVER) */
    const char *helper; /* the helper's NAME (ENGINE_CREDS_HELPER) */
};

void engine_creds_choose(const struct engine_creds *c, const char *registry,
                         struct engine_creds_choice *out);

/* Credentials for one pull. The strings are the struct's own; auth points into them and is
 * for engine_pull_options.auth when found is true. */
struct engine_registry_auth {
    char *registry; /* "docker.io", "127.0.0.1:5000": for messages */
    char *source;   /* where they came from, for messages ("auths of '/root/.docker/config.json'",
                       "docker-credential-pass"); NULL when none were found */
    bool found;
    char *username;
    char *password;
    char *identity_token;
    char *server_address;
    struct engine_auth auth;
};

/* Find the credentials of ref's registry in c (c may be NULL: anonymous), running a helper when
 * the config names one. 0 with out->found false when there are none. -1 on failure, with
 * M87_E_PARSE for a bad auths entry ("auths entry 'KEY' of 'PATH': ...") or a helper's
 * unreadable answer, M87_E_IO when a helper cannot be run, M87_E_TIMEOUT past
 * ENGINE_CREDS_HELPER_TIMEOUT_MS, M87_E_TOOBIG past ENGINE_CREDS_HELPER_MAX, M87_E_INVAL with
 * the helper's own message when it fails; each message names the registry and the helper, never
 * a secret. out is filled (registry at least) either way; release it. */
int engine_creds_lookup(const struct engine_creds *c, const char *ref,
                        struct engine_registry_auth *out, struct m87_error **err);

/* Read a helper's answer for server into out (username/password, or identity_token for the
 * Username "<token>"). Pure. M87_E_PARSE "answer of docker-credential-NAME: ..." on anything but
 * a JSON object with a string Secret; the message never quotes the answer. */
int engine_creds_helper_answer(const char *text, size_t len, const char *helper, const char *server,
                               struct engine_registry_auth *out, struct m87_error **err);

/* What marks a pull refused for its credentials in a message ("... (authentication failed:
 * registry 'R' answered HTTP 401)"), for the tools that show it. */
#define ENGINE_PULL_AUTH_FAILED "authentication failed"

/* Prefix *err with the registry of a pull and where its credentials came from, never the
 * credentials: "registry 'R' (credentials from SOURCE): ..." or "registry 'R' (no credentials):
 * ...". When dockerd's words say the registry refused the credentials (engine_pull_auth_status),
 * " (authentication failed: registry 'R' answered HTTP 401)" (or 403) is appended. Returns -1. */
int engine_registry_auth_wrap(struct m87_error **err, const struct engine_registry_auth *a);

/* 401 or 403 when a pull's error message says the registry refused the credentials (docker's
 * "unauthorized", "no basic auth credentials", "pull access denied"...), else 0. */
long engine_pull_auth_status(const char *msg);

/* Wipe and free the strings of a; a is left zeroed. */
void engine_registry_auth_release(struct engine_registry_auth *a);

#endif
