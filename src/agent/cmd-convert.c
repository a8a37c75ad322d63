/* `m87-agent convert`: a compose project as a run spec on stdout, its bundle in a directory. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/spec-convert.h"
#include "m87/spec-runspec.h"

enum {
    OPT_PROJECT_DIR = 256,
    OPT_ID,
    OPT_BUNDLE_DIR,
    OPT_FORMAT,
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: m87-agent convert [-f FILE]... [-p NAME] [--project-directory DIR] [--id ID]\n"
            "                         [--bundle-dir DIR] [--format yaml|json]\n"
            "\n"
            "Print a Docker Compose project as an m87 run spec (one job, as `m87 deploy` uploads\n"
            "it). The compose files and the local files they reference (.env, env_file, config\n"
            "and secret files, bind-mount sources inside the project directory) travel with the\n"
            "job: text files inline, everything else in a bundle written as\n"
            "DIR/sha256-HEX.tar.gz.\n"
            "\n"
            "options:\n"
            "  -f, --file FILE            compose file (repeatable; default: compose.yaml,\n"
            "                             compose.yml, docker-compose.yml, docker-compose.yaml)\n"
            "  -p, --project-name NAME    project name\n"
            "      --project-directory DIR  project directory (default: the first file's)\n"
            "      --id ID                job id (default: the project name)\n"
            "      --bundle-dir DIR       where the bundle is written, created when missing\n"
            "                             (default: .)\n"
            "      --format yaml|json     output format (default: yaml)\n"
            "  -h, --help                 show this help\n");
}

struct convert_args {
    struct m87_strv files;
    struct spec_convert_options o;
    bool json;
};

/* 0 to go on, or an exit status (+ 1, so that AGENT_EXIT_OK can be told apart) when done. */
static int parse_args(int argc, char **argv, struct convert_args *a)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'},
        {"project-name", required_argument, NULL, 'p'},
        {"project-directory", required_argument, NULL, OPT_PROJECT_DIR},
        {"id", required_argument, NULL, OPT_ID},
        {"bundle-dir", required_argument, NULL, OPT_BUNDLE_DIR},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "+:f:p:h", longopts, NULL)) != -1;) {
        switch (c) {
        case 'f':
            m87_strv_add(&a->files, optarg);
            break;
        case 'p':
            a->o.load.project_name = optarg;
            break;
        case OPT_PROJECT_DIR:
            a->o.load.project_dir = optarg;
            break;
        case OPT_ID:
            a->o.id = optarg;
            break;
        case OPT_BUNDLE_DIR:
            a->o.bundle_dir = optarg;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "yaml") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr,
                        "m87-agent: convert: invalid value '%s' for --format: use yaml "
                        "or json\n",
                        optarg);
                return AGENT_EXIT_USAGE + 1;
            }
            a->json = strcmp(optarg, "json") == 0;
            break;
        case 'h':
            usage(stdout);
            return AGENT_EXIT_OK + 1;
        default:
            return agent_bad_option("convert", argv, c) + 1;
        }
    }
    return agent_no_operands("convert", argc, argv) == AGENT_EXIT_OK ? 0 : AGENT_EXIT_USAGE + 1;
}

int agent_cmd_convert(int argc, char **argv)
{
    struct convert_args a = {0};
    int done = parse_args(argc, argv, &a);
    if (done) {
        m87_strv_release(&a.files);
        return done - 1;
    }
    a.o.load.files = (const char *const *)a.files.items;
    a.o.load.n_files = a.files.len;
    if (a.o.bundle_dir == NULL)
        a.o.bundle_dir = ".";
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(spec_conversion_freep) struct spec_conversion *conv = NULL;
    if (m87_mkdir_p(a.o.bundle_dir, 0755, &err) == 0)
        conv = spec_convert_compose(&a.o, &err);
    m87_strv_release(&a.files);
    if (conv == NULL) {
        agent_print_error(err);
        return m87_error_code(err) == M87_E_INTERNAL ? AGENT_EXIT_FAILED : AGENT_EXIT_USAGE;
    }
    for (size_t i = 0; i < conv->warnings.len; i++)
        fprintf(stderr, "m87-agent: warning: %s\n", conv->warnings.items[i]);
    _cleanup_free_ char *text = spec_runspec_dump(conv->rs, a.json);
    fputs(text, stdout);
    if (a.json)
        fputc('\n', stdout);
    if (conv->bundle_path) {
        fprintf(stderr, "m87-agent: wrote bundle %s (%s) with", conv->bundle_path,
                conv->rs->jobs[0].bundle);
        for (size_t i = 0; i < conv->bundled.len; i++)
            fprintf(stderr, " %s", conv->bundled.items[i]);
        fputc('\n', stderr);
    }
    return fflush(stdout) == 0 ? AGENT_EXIT_OK : AGENT_EXIT_FAILED;
}
