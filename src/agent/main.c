/* m87-agent: the device daemon and the native compose executor. */
#include <stdio.h>
#include <string.h>

#include "m87/common.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: m87-agent [--help] [--version] <command> [<args>]\n"
                 "\n"
                 "Apply deployments on this device through the Docker Engine API.\n"
                 "\n"
                 "options:\n"
                 "  -h, --help     show this help\n"
                 "  -V, --version  print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("m87-agent %s\n", M87_VERSION);
        return 0;
    }
    fprintf(stderr, "m87-agent: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
