/* m87-agent: the device daemon and the native compose executor. */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>

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

/* libssh2's flag (libssh2.h) for an init that leaves the crypto library alone. */
#define LIBSSH2_INIT_NO_CRYPTO 0x0001

/* libcurl's global init, made once here rather than by the first curl_easy_init().
 *
 * Debian's libcurl links libssh2 (scp://, sftp://: never used here: the server's handles allow
 * http and https only, the engine's URLs are http on its socket), and curl's global init calls
 * libssh2_init(0), which initialises libcrypto: its configuration file and providers, about
 * 1.7 MB of resident pages an idle agent would keep for nothing, as its TLS is GnuTLS
 * (docs/agent.md, Footprint). libssh2 sets up its crypto only in its first init and only when
 * that one does not say LIBSSH2_INIT_NO_CRYPTO: the agent makes that first init. libssh2 is
 * libcurl's dependency, not ours, so it is found by name; a libcurl without it leaves nothing
 * to do. */
static int global_init(void)
{
    int (*ssh2_init)(int) = NULL;
    *(void **)&ssh2_init = dlsym(RTLD_DEFAULT, "libssh2_init");
    if (ssh2_init != NULL)
        ssh2_init(LIBSSH2_INIT_NO_CRYPTO);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "m87-agent: libcurl failed to initialise\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (global_init() < 0)
        return 1;
    return m87_program_main(&program, argc, argv);
}
