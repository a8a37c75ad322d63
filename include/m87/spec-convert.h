/* The conversion of a Compose project (spec-project.h) into one run-spec job
 * (spec-runspec.h), with the local files it needs inline or in a bundle (spec-bundle.h).
 */
#ifndef M87_SPEC_CONVERT_H
#define M87_SPEC_CONVERT_H

#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-bundle.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"

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
 * directory: the compose files (always inline in `files`), the files read through extends and
 * include (spec_project.extra_files), the project's .env, env_file files,
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

#endif
