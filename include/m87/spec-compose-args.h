/* The global options of the compose command line, `compose [OPTIONS] COMMAND [ARGS...]`, read
 * once for every program that needs them (src/spec/spec-compose-args.c): the `m87-agent compose`
 * front end, the runner (which project a job's `up` started), prefetch (which images its `pull`
 * or `up` needs) and the CLI's `m87 DEVICE docker compose`, so that all of them see the same
 * project.
 *
 * The options and their spellings are those getopt_long accepts for them, without getopt's global
 * state (callers parse in the middle of other getopt loops and in forked children):
 *
 *   -f F, -fF, --file F, --file=F        a compose file; repeated, the files merge in order
 *   -p N, -pN, --project-name N, =N      the project name; the last one counts
 *   --project-directory D, =D            the project directory
 *   --env-file F, =F                     the variables file
 *   --profile P, =P                      a profile to enable; repeatable
 *   --progress M, =M                     auto, tty, plain or quiet
 *   -h, --help                           help: parsing stops there
 *
 * Long options may be shortened to any unique prefix (--proj-n, --env). Short options group
 * (-hf, -fF). Parsing stops at the first word that is not an option (the command), at "-" (a
 * command too) or after "--" (the next word is the command). A value is the next word whatever
 * it looks like (`-f -x` names the file "-x"), as getopt does. */
#ifndef M87_SPEC_COMPOSE_ARGS_H
#define M87_SPEC_COMPOSE_ARGS_H

#include <stdbool.h>

#include "m87/error.h"
#include "m87/list.h"

/* The options a caller accepts: any other is an unknown option (the CLI's sessions take only -f
 * and -p), and a shortened long option is matched only among these. */
enum spec_compose_args_opt {
    SPEC_COMPOSE_ARGS_FILE = 1u << 0,
    SPEC_COMPOSE_ARGS_PROJECT_NAME = 1u << 1,
    SPEC_COMPOSE_ARGS_PROJECT_DIR = 1u << 2,
    SPEC_COMPOSE_ARGS_ENV_FILE = 1u << 3,
    SPEC_COMPOSE_ARGS_PROFILE = 1u << 4,
    SPEC_COMPOSE_ARGS_PROGRESS = 1u << 5,
    SPEC_COMPOSE_ARGS_HELP = 1u << 6,
    SPEC_COMPOSE_ARGS_ALL = (1u << 7) - 1,
};

/* What the global options say. The strings are borrowed from the parsed argv (a value inside a
 * word, as in -pNAME, points into that word); the two lists hold copies. */
struct spec_compose_args {
    struct m87_strv files;    /* -f, in the order given; empty: compose's default files */
    struct m87_strv profiles; /* --profile, in the order given */
    const char *project_name; /* NULL: none given */
    const char *project_dir;  /* NULL: none given */
    const char *env_file;     /* NULL: none given */
    const char *progress;     /* NULL: none given; else one of the four modes */
    bool help;                /* -h or --help was met: the words after it were not read */
    int command;              /* index in argv of the command; argc when there is none */
};

/* Read the global options of argv, whose argv[0] is the word "compose" (or any program name: it
 * is skipped, as getopt skips it), into *a, which this initialises first. accept is a set of
 * SPEC_COMPOSE_ARGS_* bits. Returns 0, or -1 with M87_E_INVAL and a message naming the word at
 * fault: "unknown option '--bogus'", "unknown option '-x'", "option '-p' needs a value",
 * "option '--pro' is ambiguous (--project-name, --project-directory, --profile, --progress)",
 * "option '--help' takes no value", "invalid --progress 'loud' (auto, tty, plain or quiet)".
 * Release *a afterwards, failed or not. Pure: no I/O, no global state. */
int spec_compose_args_parse(struct spec_compose_args *a, int argc, char *const *argv,
                            unsigned accept, struct m87_error **err);

/* Free the lists; the struct may be parsed into again. */
void spec_compose_args_release(struct spec_compose_args *a);

#endif
