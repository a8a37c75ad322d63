/* The Compose project model and its loader (the compose files merged, interpolated and checked;
 * the services themselves are in spec-service.h), with lookups, dependency order and the dump of
 * `compose config`. Pure logic over common.h: errors about input files read
 * "FILE:LINE:COLUMN: message".
 */
#ifndef M87_SPEC_PROJECT_H
#define M87_SPEC_PROJECT_H

#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-interp.h"
#include "m87/spec-service.h"

/* A Compose project after loading: files merged, variables interpolated, env files read, paths
 * made absolute, names resolved, every field checked. The executor (src/compose) applies it; the
 * converter (compose to run spec) bundles the local files it references. Everything is owned by
 * the project and freed with spec_project_free. Unset optional values are NULL strings, empty
 * lists, or the SPEC_UNSET sentinel for numbers (spec-service.h). */
#define SPEC_MAX_SERVICES 1000u /* services in one project */

struct spec_ipam_pool {
    char *subnet;
    char *ip_range;
    char *gateway;
    struct m87_kvlist aux_addresses;
};

struct spec_network {
    char *key;
    char *name; /* the real name: name:, or PROJECT_KEY, or key if external */
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
    char *file;        /* absolute path (SPEC_SOURCE_FILE) */
    char *content;     /* the text (CONTENT, and ENVIRONMENT once resolved) */
    char *environment; /* the variable's name (ENVIRONMENT) */
};

struct spec_project {
    char *name;                    /* normalised: lower case [a-z0-9_-], starting alnum */
    char *working_dir;             /* absolute project directory */
    struct m87_strv config_files;  /* absolute paths of the compose files, in order */
    struct m87_strv extra_files;   /* absolute paths of the other files read: those named by
                                      extends and include, and included projects' env files */
    char *env_file;                /* the .env read, NULL when none */
    struct spec_service *services; /* only the services of active profiles, in file order */
    size_t n_services;
    struct m87_strv disabled_services; /* names of services left out by profiles */
    struct spec_network *networks;     /* those used by active services, plus "default" if used */
    size_t n_networks;
    struct spec_volume *volumes;
    size_t n_volumes;
    struct spec_config *configs;
    size_t n_configs;
    struct spec_config *secrets;
    size_t n_secrets;
    struct m87_strv warnings; /* things accepted with no engine effect, each once */
};

struct spec_load_options {
    const char *const *files; /* compose files; NULL/0: found in project_dir as docker
                                 compose does (compose.yaml, compose.yml,
                                 docker-compose.yml, docker-compose.yaml) */
    size_t n_files;
    const char *project_name;    /* NULL: "name:" of the file, else $COMPOSE_PROJECT_NAME,
                                    else the project directory's base name */
    const char *project_dir;     /* NULL: the directory of the first file */
    const char *env_file;        /* NULL: PROJECT_DIR/.env when it exists */
    const char *const *profiles; /* active profiles; NULL: $COMPOSE_PROFILES */
    size_t n_profiles;
    spec_lookup_fn lookup; /* the environment; NULL: the process environment */
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

#endif
