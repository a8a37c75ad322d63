/* m87-agent: the device daemon and the native compose executor. */
#include <stdio.h>

#include "agent/agent-internal.h"
#include "m87/command.h"
#include "m87/compiler.h"
#include "m87/program.h"

static const struct m87_command commands[] = {
    {"compose", agent_cmd_compose, "apply a Docker Compose project through the Engine API"},
    {"run", agent_cmd_run, "the device daemon: sync with the server and apply its deployments"},
    {"apply", agent_cmd_apply, "bring this device to a run spec and exit"},
    {"status", agent_cmd_status, "show the jobs and steps of the state directory"},
    {"convert", agent_cmd_convert, "print a Docker Compose project as a run spec"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: m87-agent [--help] [--version] <command> [<args>]\n"
                 "\n"
                 "Apply deployments on this device through the Docker Engine API.\n"
                 "\n"
                 "commands:\n");
    m87_command_usage(out, NULL, commands, M87_ARRAY_LEN(commands), 15);
    fprintf(out, "\n"
                 "options:\n"
                 "  -h, --help     show this help\n"
                 "  -V, --version  print the version\n"
                 "\n"
                 "Run 'm87-agent <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    return m87_program_main("m87-agent", commands, M87_ARRAY_LEN(commands), usage, argc, argv);
}
