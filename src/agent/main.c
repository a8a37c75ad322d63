/* m87-agent: the device daemon and the native compose executor. */
#include "agent/agent-internal.h"
#include "m87/command-main.h"
#include "m87/command.h"
#include "m87/compiler.h"

static const struct m87_command commands[] = {
    {"compose", agent_cmd_compose, "apply a Docker Compose project through the Engine API"},
    {"run", agent_cmd_run, "the device daemon: sync with the server and apply its deployments"},
    {"apply", agent_cmd_apply, "bring this device to a run spec and exit"},
    {"status", agent_cmd_status, "show the jobs and steps of the state directory"},
    {"convert", agent_cmd_convert, "print a Docker Compose project as a run spec"},
};

static const struct m87_program program = {
    .name = "m87-agent",
    .summary = "Apply deployments on this device through the Docker Engine API.",
    .cmds = commands,
    .n = M87_ARRAY_LEN(commands),
    .column = 15,
    .help = "Run 'm87-agent <command> --help' for the options of a command.",
};

int main(int argc, char **argv)
{
    return m87_program_main(&program, argc, argv);
}
