/* Private to the compose loader (src/spec/spec-compose-*.c).
 *
 * Loading runs in stages, as compose-go's does: each file is parsed and copied into a mutable
 * tree of `struct cnode` with its strings interpolated, and gets its services' extends and its
 * include (spec-compose-refs.h); the trees are merged (compose's per-field rules) and
 * de-duplicated; then the merged tree is read into the typed model, which checks every
 * field. Nodes keep the position where they were written, so that errors after a merge still
 * point into the file the value came from.
 */
#ifndef M87_SPEC_COMPOSE_INTERNAL_H
#define M87_SPEC_COMPOSE_INTERNAL_H

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-interp.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"

/* ---- the mutable tree (spec-compose-tree.c) -------------------------------------------------- */

struct cnode {
    enum m87_yaml_kind kind;
    const char *file; /* borrowed from the YAML document, alive for the whole load */
    size_t line;
    size_t column;
    char *key; /* set when the node is an entry of a mapping */
    size_t key_line;
    size_t key_column;
    /* scalars */
    char *text;
    enum m87_yaml_type type;         /* M87_YAML_STR once interpolated or made by the loader */
    const struct m87_yaml_node *src; /* the scalar as parsed, NULL when text differs from it */
    /* compose's merge tags */
    bool reset;    /* !reset: the key is removed */
    bool override; /* !override: the value replaces instead of merging */
    /* collections: sequence items or mapping entries, in order */
    struct cnode **items;
    size_t len;
    size_t cap;
};

/* Copy a parsed YAML node, interpolating every string scalar with ip. NULL with *err on an
 * interpolation error. */
struct cnode *spec_cnode_from_yaml(const struct m87_yaml_node *n, const struct spec_interp *ip,
                                   struct m87_error **err);
/* A new empty collection or a string scalar, placed where at is. */
struct cnode *spec_cnode_new(enum m87_yaml_kind kind, const struct cnode *at);
struct cnode *spec_cnode_new_str(const char *text, const struct cnode *at);
void spec_cnode_free(struct cnode *n);
static inline void spec_cnode_freep(struct cnode **n)
{
    spec_cnode_free(*n);
}
void spec_cnode_append(struct cnode *coll, struct cnode *child);
/* A deep copy of n, positions and tags included. */
struct cnode *spec_cnode_clone(const struct cnode *n);
/* Same shape, keys and texts (positions and tags aside). */
bool spec_cnode_equal(const struct cnode *a, const struct cnode *b);
/* Free and drop the entry key of a mapping, when there is one. */
void spec_cnode_remove(struct cnode *map, const char *key);
/* Give a mapping entry its key (copied) and the key's position. */
void spec_cnode_set_key(struct cnode *n, const char *key, const struct cnode *pos);

bool spec_cn_is_null(const struct cnode *n);
bool spec_cn_is_map(const struct cnode *n);
bool spec_cn_is_seq(const struct cnode *n);
bool spec_cn_is_scalar(const struct cnode *n); /* null included */
/* The entry of a mapping, or NULL. */
struct cnode *spec_cn_get(const struct cnode *map, const char *key);
/* Like spec_cn_get, but NULL also for a null value: "key: ~" reads as absent. */
struct cnode *spec_cn_val(const struct cnode *map, const char *key);

/* "FILE:LINE:COLUMN: " at the node (or at its key), then the message. Return -1. */
int spec_cn_error(const struct cnode *n, struct m87_error **err, const char *fmt, ...)
    M87_PRINTF(3, 4);
int spec_cn_key_error(const struct cnode *n, struct m87_error **err, const char *fmt, ...)
    M87_PRINTF(3, 4);
/* Prefix an existing error (from the units parsers) with "FILE:LINE:COLUMN: PATH: ". */
int spec_cn_wrap(const struct cnode *n, const char *path, struct m87_error **err);

/* Typed reads, all M87_E_INVAL "FILE:LINE:COLUMN: PATH: expected ..., got ...". */
int spec_cn_expect(const struct cnode *n, const char *path, enum m87_yaml_kind kind,
                   struct m87_error **err);
int spec_cn_str(const struct cnode *n, const char *path, const char **out, struct m87_error **err);
int spec_cn_bool(const struct cnode *n, const char *path, bool *out, struct m87_error **err);
/* An integer within [min, max]: "PATH: N is out of range (MIN to MAX)" otherwise. */
int spec_cn_int_range(const struct cnode *n, const char *path, int64_t min, int64_t max,
                      int64_t *out, struct m87_error **err);
/* A file mode: a YAML integer (0440 is octal there) or a string of octal digits. */
int spec_cn_mode(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err);
/* Bytes, durations (not negative) and cpus through the units parsers. */
int spec_cn_bytes(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err);
int spec_cn_duration(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err);
int spec_cn_cpus(const struct cnode *n, const char *path, int64_t *out, struct m87_error **err);
/* A string or a sequence of strings, appended to out; null adds nothing. */
int spec_cn_strings(const struct cnode *n, const char *path, struct m87_strv *out,
                    struct m87_error **err);

/* Readers of one entry of a list written in compose's two syntaxes: a mapping (the long syntax)
 * or a string (the short one, as text). ctx is the caller's; 0 or -1 with *err. */
typedef int (*cn_long_fn)(void *ctx, const struct cnode *e, const char *path,
                          struct m87_error **err);
typedef int (*cn_short_fn)(void *ctx, const struct cnode *e, const char *path, const char *text,
                           struct m87_error **err);
/* Check that n is a sequence (as spec_cn_expect), then read each entry with the reader of the
 * syntax it is written in, "PATH[I]" as its path; stop at the first error. */
int spec_cn_entries(const struct cnode *n, const char *path, void *ctx, cn_long_fn long_form,
                    cn_short_fn short_form, struct m87_error **err);

enum cn_kv_null {
    CN_KV_NULL,  /* a valueless key keeps a NULL value */
    CN_KV_EMPTY, /* it becomes "" */
    CN_KV_ERROR, /* it is an error */
};

/* A mapping of scalars, or a sequence of "KEY=VALUE" strings; set (last wins) into out. */
int spec_cn_kv(const struct cnode *n, const char *path, enum cn_kv_null nulls,
               struct m87_kvlist *out, struct m87_error **err);

/* Check that n is a mapping (as spec_cn_expect) and check its keys: every key must be in known,
 * else M87_E_INVAL "PATH: unknown field 'K'" or, when it is in unsupported, "PATH.K: unsupported
 * field 'K'", at the key. Keys starting with "x-" are extensions and pass. */
int spec_cn_keys(const struct cnode *n, const char *path, const char *const *known,
                 const char *const *unsupported, struct m87_error **err);

/* "PARENT.KEY" (KEY alone for an empty parent) and "PARENT[I]". Caller frees. */
char *spec_cn_path(const char *parent, const char *key);
char *spec_cn_path_i(const char *parent, size_t i);

/* ---- merging (spec-compose-merge.c) -----------------------------------------------------------
 */

/* Merge over into base (both document roots) with compose's rules; over is consumed. */
int spec_compose_merge(struct cnode *base, struct cnode *over, struct m87_error **err);
/* Merge the service definition over into *base (compose's rules for one service, as an override
 * file's; used by extends); over is consumed. path ("services.NAME") is for messages. */
int spec_compose_merge_service(struct cnode **base, struct cnode *over, const char *path,
                               struct m87_error **err);
/* Drop what !reset removed, then de-duplicate the sequences compose keeps unique (ports by
 * binding, volumes by target, environment and labels by key, ...): a later entry replaces an
 * earlier one at the earlier one's place. */
void spec_compose_normalize_tree(struct cnode *root);
/* The container path of a short volume entry, or NULL when it cannot be read. Caller frees. */
char *spec_compose_volume_target(const char *spec);

/* ---- the loader (spec-compose-load.c) ----------------------------------------------------------
 */

struct loader {
    const struct spec_load_options *opts;
    struct spec_project *p;
    struct m87_kvlist dotenv; /* the project's .env */
    struct m87_strv unset;    /* variables referenced while unset, for warnings */
    struct spec_interp ip;
    const struct cnode *root; /* the merged tree */
    const char *text;         /* spec_compose_parse: the one file's text, not read from disk */
    size_t text_len;
    struct m87_yaml_doc **docs; /* files read for extends and include, alive for the load */
    size_t n_docs;
    struct loader_file *files; /* the files extends read (spec-compose-refs.h) */
    size_t n_files;
};

/* ---- the loader's shared readers (spec-compose-loader.c) --------------------------------------
 */

/* The process's environment, or the caller's lookup when it gave one (ctx is the loader). */
const char *spec_loader_process_lookup(void *ctx, const char *name);
/* The project's environment: the process (or the caller's lookup), then .env. */
const char *spec_loader_lookup(void *ctx, const char *name);
/* Add a warning to the project, once per text. */
void spec_loader_warn(struct loader *l, const char *fmt, ...) M87_PRINTF(2, 3);
/* path made absolute against the project directory and cleaned lexically ("~" expanded from
 * HOME); NULL with *err at n when HOME is needed and unset. */
char *spec_loader_abspath(struct loader *l, const struct cnode *n, const char *path,
                          const char *where, struct m87_error **err);
/* path made absolute against the current directory and cleaned; NULL with *err (M87_E_IO) when
 * the current directory cannot be read. */
char *spec_loader_cwd_abs(const char *path, struct m87_error **err);
/* Lexical cleaning as Go's filepath.Clean of an absolute path, and of a relative one (leading
 * ".." kept, "." for nothing). Caller frees. */
char *spec_compose_clean_path(const char *path);
char *spec_compose_clean_relative(const char *path);
/* path cleaned, joined to dir first when it is relative. Caller frees. */
char *spec_compose_join_clean(const char *dir, const char *path);

/* ---- services (spec-compose-service.c; its parts in -svc.c, -process.c, -runtime.c, -host.c,
 * -links.c, -ports.c, -mounts.c)
 * ------------------------------------------------------------------------- */

/* The state of reading one service: its definition, and the path of the field last fetched. */
struct svc {
    struct loader *l;
    const struct cnode *def;
    const char *path; /* "services.NAME" */
    struct spec_service *s;
    struct m87_error **err;
    char *fpath; /* "services.NAME.FIELD" of the last spec_svc_get */
};

/* The value of a field of the service, NULL when absent or null; sets c->fpath
 * (spec-compose-svc.c, as spec_svc_str). */
const struct cnode *spec_svc_get(struct svc *c, const char *name);
/* Typed fields: absent leaves *out as it is. */
int spec_svc_str(struct svc *c, const char *name, char **out);
/* command, entrypoint, environment, env_file (spec-compose-process.c). */
int spec_svc_process(struct svc *c);
/* networks, network_mode, depends_on, configs, secrets (spec-compose-links.c). */
int spec_svc_links(struct svc *c);
/* restart, deploy, healthcheck, logging, ulimits, sysctls, labels, extra_hosts
 * (spec-compose-runtime.c). */
int spec_svc_runtime(struct svc *c);
/* group_add, device_cgroup_rules, runtime, oom_*, mem_swappiness, cpu_period, cpu_quota,
 * cpu_rt_*, storage_opt, mac_address, cgroup_parent, uts, userns_mode, cgroup; after
 * spec_svc_runtime, whose cpus it checks against (spec-compose-host.c). */
int spec_svc_host(struct svc *c);
/* One device request at e ({capabilities, count, device_ids, driver, options}), appended to the
 * service's; gpu adds the "gpu" capability and does not require capabilities
 * (spec-compose-host.c). */
int spec_svc_device_request(struct svc *c, const struct cnode *e, const char *path, bool gpu);

/* blkio_config (spec-compose-blkio.c). */
int spec_svc_blkio(struct svc *c);
void spec_compose_blkio_release(struct spec_service *s);

/* post_start and pre_stop (spec-compose-hooks.c). */
int spec_svc_hooks(struct svc *c);
void spec_compose_hooks_free(struct spec_hook *v, size_t n);

/* Read the service definition def (a mapping entry whose key is the name) into s, checking every
 * field. Top-level networks, volumes, configs and secrets are already in l->p. */
int spec_compose_service_parse(struct loader *l, const struct cnode *def, struct spec_service *s,
                               struct m87_error **err);
void spec_compose_service_init(struct spec_service *s);
void spec_compose_service_release(struct spec_service *s);

int spec_compose_ports_parse(const struct cnode *n, const char *path, struct spec_service *s,
                             struct m87_error **err);
int spec_compose_expose_parse(const struct cnode *n, const char *path, struct spec_service *s,
                              struct m87_error **err);
int spec_compose_volumes_parse(struct loader *l, const struct cnode *n, const char *path,
                               struct spec_service *s, struct m87_error **err);
int spec_compose_tmpfs_parse(const struct cnode *n, const char *path, struct spec_service *s,
                             struct m87_error **err);
int spec_compose_devices_parse(const struct cnode *n, const char *path, struct spec_service *s,
                               struct m87_error **err);

/* Split a command line into words with POSIX shell quoting (no expansions, no sh -c). -1 with a
 * static reason in *why on an unterminated quote or an unquoted shell operator. */
int spec_compose_split_words(const char *text, struct m87_strv *out, const char **why);

/* ---- top level (spec-compose-top.c) ------------------------------------------------------------
 */

/* networks, volumes, configs and secrets of the merged tree into l->p, all of them. */
int spec_compose_top_parse(struct loader *l, struct m87_error **err);
/* Cross-service checks once every service is read: depends_on targets, network_mode service:X,
 * cycles (services only holds enabled ones at this point, disabled names in p). */
int spec_compose_check_services(struct loader *l, struct m87_error **err);
/* Keep only the networks, volumes, configs and secrets that enabled services use, adding the
 * default network when one joins it. */
void spec_compose_prune_resources(struct loader *l);
void spec_compose_network_release(struct spec_network *n);
void spec_compose_volume_release(struct spec_volume *v);
void spec_compose_config_release(struct spec_config *c);

#endif
