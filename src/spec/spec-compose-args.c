/* The global options of the compose command line: one reading, with getopt_long's spellings and
 * without its global state, for the compose front end, the runner, prefetch and the CLI. */
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-compose-args.h"

struct option_def {
    const char *name; /* the long name, without "--" */
    char letter;      /* the short name; 0: none */
    unsigned bit;
    bool has_value;
};

static const struct option_def option_defs[] = {
    {"file", 'f', SPEC_COMPOSE_ARGS_FILE, true},
    {"project-name", 'p', SPEC_COMPOSE_ARGS_PROJECT_NAME, true},
    {"project-directory", 0, SPEC_COMPOSE_ARGS_PROJECT_DIR, true},
    {"env-file", 0, SPEC_COMPOSE_ARGS_ENV_FILE, true},
    {"profile", 0, SPEC_COMPOSE_ARGS_PROFILE, true},
    {"progress", 0, SPEC_COMPOSE_ARGS_PROGRESS, true},
    {"help", 'h', SPEC_COMPOSE_ARGS_HELP, false},
};

static const char *const progress_modes[] = {"auto", "tty", "plain", "quiet"};

static bool known_progress(const char *mode)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(progress_modes); i++)
        if (strcmp(mode, progress_modes[i]) == 0)
            return true;
    return false;
}

static int take(struct spec_compose_args *a, const struct option_def *o, const char *value,
                struct m87_error **err)
{
    switch (o->bit) {
    case SPEC_COMPOSE_ARGS_FILE:
        m87_strv_add(&a->files, value);
        break;
    case SPEC_COMPOSE_ARGS_PROJECT_NAME:
        a->project_name = value;
        break;
    case SPEC_COMPOSE_ARGS_PROJECT_DIR:
        a->project_dir = value;
        break;
    case SPEC_COMPOSE_ARGS_ENV_FILE:
        a->env_file = value;
        break;
    case SPEC_COMPOSE_ARGS_PROFILE:
        m87_strv_add(&a->profiles, value);
        break;
    case SPEC_COMPOSE_ARGS_PROGRESS:
        if (!known_progress(value))
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "invalid --progress '%s' (auto, tty, plain or quiet)", value);
        a->progress = value;
        break;
    default:
        a->help = true;
        break;
    }
    return 0;
}

/* The accepted option named by a long name or a unique prefix of one, as getopt_long finds it. */
static const struct option_def *find_long(const char *name, size_t len, unsigned accept,
                                          const char *word, struct m87_error **err)
{
    const struct option_def *found = NULL;
    size_t n = 0;

    for (size_t i = 0; i < M87_ARRAY_LEN(option_defs); i++) {
        const struct option_def *o = &option_defs[i];
        if (!(accept & o->bit) || strncmp(o->name, name, len) != 0)
            continue;
        if (o->name[len] == '\0')
            return o;
        found = found ? found : o;
        n++;
    }
    if (n == 1 && len > 0)
        return found;
    if (n == 0 || len == 0) {
        m87_error_set(err, M87_E_INVAL, 0, "unknown option '%s'", word);
        return NULL;
    }
    _cleanup_free_ char *names = NULL;
    for (size_t i = 0; i < M87_ARRAY_LEN(option_defs); i++) {
        const struct option_def *o = &option_defs[i];
        if (!(accept & o->bit) || strncmp(o->name, name, len) != 0)
            continue;
        char *more = m87_xasprintf("%s%s--%s", names ? names : "", names ? ", " : "", o->name);
        free(names);
        names = more;
    }
    m87_error_set(err, M87_E_INVAL, 0, "option '--%.*s' is ambiguous (%s)", (int)len, name, names);
    return NULL;
}

/* argv[*i], a word "--NAME" or "--NAME=VALUE"; a value in the next word moves *i on. */
static int parse_long(struct spec_compose_args *a, int argc, char *const *argv, int *i,
                      unsigned accept, struct m87_error **err)
{
    const char *word = argv[*i];
    const char *name = word + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct option_def *o = find_long(name, len, accept, word, err);

    if (!o)
        return -1;
    if (!o->has_value) {
        if (eq)
            return m87_error_set(err, M87_E_INVAL, 0, "option '--%s' takes no value", o->name);
        return take(a, o, NULL, err);
    }
    if (eq)
        return take(a, o, eq + 1, err);
    if (*i + 1 >= argc)
        return m87_error_set(err, M87_E_INVAL, 0, "option '%s' needs a value", word);
    return take(a, o, argv[++*i], err);
}

/* argv[*i], a group of short options ("-hf", "-fFILE", "-p"); a value in the next word moves *i
 * on. Stops after -h. */
static int parse_short(struct spec_compose_args *a, int argc, char *const *argv, int *i,
                       unsigned accept, struct m87_error **err)
{
    for (const char *c = argv[*i] + 1; *c && !a->help; c++) {
        const struct option_def *o = NULL;
        for (size_t k = 0; k < M87_ARRAY_LEN(option_defs) && !o; k++)
            if (option_defs[k].letter == *c && (accept & option_defs[k].bit))
                o = &option_defs[k];
        if (!o)
            return m87_error_set(err, M87_E_INVAL, 0, "unknown option '-%c'", *c);
        if (!o->has_value) {
            take(a, o, NULL, err);
            continue;
        }
        if (c[1])
            return take(a, o, c + 1, err);
        if (*i + 1 >= argc)
            return m87_error_set(err, M87_E_INVAL, 0, "option '-%c' needs a value", *c);
        return take(a, o, argv[++*i], err);
    }
    return 0;
}

int spec_compose_args_parse(struct spec_compose_args *a, int argc, char *const *argv,
                            unsigned accept, struct m87_error **err)
{
    int i = argc > 0 ? 1 : 0;

    *a = (struct spec_compose_args){0};
    m87_strv_init(&a->files);
    m87_strv_init(&a->profiles);
    for (; i < argc && !a->help; i++) {
        const char *word = argv[i];
        if (word[0] != '-' || word[1] == '\0')
            break;
        if (strcmp(word, "--") == 0) {
            i++;
            break;
        }
        int rc = word[1] == '-' ? parse_long(a, argc, argv, &i, accept, err)
                                : parse_short(a, argc, argv, &i, accept, err);
        if (rc < 0)
            return -1;
    }
    a->command = i < argc ? i : argc;
    return 0;
}

void spec_compose_args_release(struct spec_compose_args *a)
{
    m87_strv_release(&a->files);
    m87_strv_release(&a->profiles);
}
