/* Private to the compose-to-run-spec converter (src/spec/spec-convert*.c). */
#ifndef M87_SPEC_CONVERT_INTERNAL_H
#define M87_SPEC_CONVERT_INTERNAL_H

#include "m87/list.h"
#include "m87/spec-pos.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"

/* A local file the project references. */
enum convert_ref_kind {
    CONVERT_REF_DOTENV,     /* the project's .env */
    CONVERT_REF_ENV_FILE,   /* services.NAME.env_file[INDEX] */
    CONVERT_REF_CONFIG,     /* configs.KEY.file */
    CONVERT_REF_SECRET,     /* secrets.KEY.file */
    CONVERT_REF_BIND,       /* a bind mount's source */
    CONVERT_REF_LOADED,     /* a compose or env file read through extends or include */
    CONVERT_REF_LABEL_FILE, /* services.NAME.label_file[INDEX] */
};

struct convert_ref {
    enum convert_ref_kind kind;
    const char *abs;                 /* borrowed from the project */
    const char *service;             /* ENV_FILE, LABEL_FILE, BIND: the service's name */
    size_t index;                    /* ENV_FILE: the index among the service's env files */
    const char *key;                 /* CONFIG, SECRET: the top-level key */
    const struct spec_pos *fallback; /* a position to use when the reference is not found */
};

/* "FILE:LINE:COLUMN: FIELD" of the reference in the compose files (the last file that defines it
 * wins, as in a merge), found again by reading the files: the loaded model keeps paths, not where
 * they were written. Falls back to the service's position, or to the field name alone. Caller
 * frees. */
char *spec_convert_ref_where(const struct spec_project *p, const struct spec_load_options *lo,
                             const struct convert_ref *r);

/* The inline files and bundle paths chosen for a project, and the job built from them. */
struct convert_plan {
    struct spec_job_file *files; /* compose files first, then the rest sorted by name */
    size_t n_files;
    size_t content;                /* bytes of inline contents */
    struct m87_strv bundle;        /* relative paths for the bundle */
    struct m87_strv compose_names; /* relative names of the compose files, in order */
    bool bundle_has_root;          /* the project directory itself is bundled */
};

/* Build the job (not yet validated) from the plan: id, steps, files, bundle digest (may be
 * NULL). The plan's files are moved into the job. */
void spec_convert_build_job(const struct spec_project *p, const char *id, struct convert_plan *plan,
                            const char *digest, struct spec_job *job);

#endif
