
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/spec-pos.h"
#include "m87/spec-runspec.h"
#include "m87/yaml.h"
/* Private to the run spec parser (src/spec/spec-runspec*.c): the checks and value readers that
 * spec-runspec-check.c gives the walk of spec-runspec.c. Every reader takes the node, its PATH
 * for messages ("jobs[0].steps[1]", "" at the root) and fills *err as "FILE:LINE:COLUMN: PATH:
 * message" on failure. Nothing outside src/spec includes this. */
#ifndef M87_SPEC_RUNSPEC_INTERNAL_H
#define M87_SPEC_RUNSPEC_INTERNAL_H


/* The error at n, with "PATH: " before the message unless path is ""; returns -1. */
int rs_error(const struct m87_yaml_node *n, struct m87_error **err, enum m87_errcode code,
             const char *path, const char *fmt, ...) M87_PRINTF(5, 6);
/* User text for a message: control characters escaped, cut after 60 bytes. Caller frees. */
char *rs_shorten(const char *s);
/* What a node is, for "expected X, got Y". Caller frees. */
char *rs_got(const struct m87_yaml_node *n);
/* 0 when n is of kind (a mapping or a sequence), else -1 with M87_E_INVAL. */
int rs_want_kind(const struct m87_yaml_node *n, enum m87_yaml_kind kind, const char *path,
                 struct m87_error **err);
/* "PATH.FIELD", or "FIELD" at the root. Caller frees. */
char *rs_child_path(const char *path, const char *field);
/* A mapping whose keys are all in allowed (NULL-terminated); else -1 with M87_E_INVAL. */
int rs_check_fields(const struct m87_yaml_node *map, const char *path, const char *const *allowed,
                    struct m87_error **err);
/* The key node of field in map (for positions), or NULL. */
const struct m87_yaml_node *rs_key_of(const struct m87_yaml_node *map, const char *field);
/* The value of field in map, or NULL with M87_E_INVAL "missing required field". */
const struct m87_yaml_node *rs_required(const struct m87_yaml_node *map, const char *path,
                                        const char *field, struct m87_error **err);
/* pos takes n's file (a copy), line and column. */
void rs_set_pos(struct spec_pos *pos, const struct m87_yaml_node *n);

/* A string that problem accepts (it returns NULL, else why not), *out a copy; else M87_E_INVAL
 * "invalid WHAT 'TEXT': WHY" with the text shortened. */
int rs_read_checked(const struct m87_yaml_node *n, const char *path, const char *what,
                    const char *(*problem)(const char *s), char **out, struct m87_error **err);
/* A name spec_runspec_safe_name accepts; *out a copy, what names it in the message. */
int rs_read_safe_name(const struct m87_yaml_node *n, const char *path, const char *what, char **out,
                      struct m87_error **err);
/* One of names (NULL-terminated), its index in *out; expect says which, for the message. */
int rs_read_enum(const struct m87_yaml_node *n, const char *path, const char *const *names,
                 const char *expect, int *out, struct m87_error **err);
/* A duration in nanoseconds in (0, SPEC_RUNSPEC_MAX_DURATION], or from 0 when zero_ok. */
int rs_read_duration(const struct m87_yaml_node *n, const char *path, bool zero_ok, int64_t *out,
                     struct m87_error **err);
/* An integer in [min, max]. */
int rs_read_int_range(const struct m87_yaml_node *n, const char *path, int64_t min, int64_t max,
                      int64_t *out, struct m87_error **err);
/* Why s is not an acceptable file name (relative) or workdir path (absolute), or NULL. */
const char *rs_path_problem(const char *s, bool absolute);
/* An environment variable's name: a letter or '_', then letters, digits and '_'. */
bool rs_env_name(const char *s);

#endif
