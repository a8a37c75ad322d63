/* `m87 keys generate|show`: the Ed25519 key that signs the revisions this CLI makes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/sign.h"

static const char keys_help[] =
    "usage: m87 keys <command> [<args>]\n"
    "\n"
    "commands:\n"
    "  generate [--force]  make the signing key pair (signing.key, signing.pub)\n"
    "  show                print the key id and where the key files are\n"
    "\n"
    "With a signing key, every revision this CLI makes (deploy, undeploy, deployment new,\n"
    "clone, activate) is signed; agents started with --trust signing.pub apply only signed\n"
    "revisions. See docs/security.md.\n";

static const char generate_help[] =
    "usage: m87 keys generate [--force]\n"
    "\n"
    "Make an Ed25519 key pair: $XDG_CONFIG_HOME/m87/signing.key (or\n"
    "~/.config/m87/signing.key, mode 0600) and signing.pub next to it. Give signing.pub to\n"
    "the agents: m87-agent run --trust signing.pub.\n"
    "\n"
    "options:\n"
    "  --force     replace an existing key (revisions it signed stay valid only on agents that\n"
    "              still trust its public key)\n"
    "  -h, --help  show this help\n";

static const char show_help[] = "usage: m87 keys show\n"
                                "\n"
                                "Print the signing key's id and the paths of its files.\n"
                                "\n"
                                "options:\n"
                                "  -h, --help  show this help\n";

struct key_paths {
    char *key;
    char *pub;
};

static void key_paths_release(struct key_paths *p)
{
    free(p->key);
    free(p->pub);
}

static int key_paths(struct key_paths *p)
{
    p->key = cli_config_file("signing.key");
    p->pub = cli_config_file("signing.pub");
    if (!p->key || !p->pub) {
        fprintf(stderr, "m87: keys: neither XDG_CONFIG_HOME nor HOME is set\n");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int write_pair(const struct key_paths *p, const struct m87_sign_key *k,
                      struct m87_error **err)
{
    _cleanup_free_ char *dir = m87_xstrdup(p->key);
    _cleanup_free_ char *priv = m87_sign_key_private_pem(k);
    _cleanup_free_ char *pub = m87_sign_key_public_pem(k);

    *strrchr(dir, '/') = 0;
    if (m87_mkdir_p(dir, 0700, err) < 0 ||
        m87_write_file_atomic(p->key, priv, strlen(priv), 0600, err) < 0)
        return -1;
    return m87_write_file_atomic(p->pub, pub, strlen(pub), 0644, err);
}

static int keys_generate(int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(key_paths_release) struct key_paths p = {0};
    bool force = false;
    const struct cli_option opts[] = {{"force", CLI_OPT_FLAG, &force, 0}};
    struct stat st;
    int rc =
        cli_parse_options("keys generate", generate_help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc == 0)
        rc = cli_operands("keys generate", argc, argv, 0, 0);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = key_paths(&p)) != CLI_EXIT_OK)
        return rc;
    if (!force && stat(p.key, &st) == 0)
        return cli_usage_error("keys generate",
                               "'%s' exists; pass --force to replace it (agents that trust only "
                               "its public key will refuse what the new one signs)",
                               p.key);
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k = m87_sign_key_generate(&err);
    if (!k || write_pair(&p, k, &err) < 0) {
        fprintf(stderr, "m87: keys generate: %s\n", err->msg);
        return CLI_EXIT_FAILED;
    }
    char id[M87_SIGN_KEY_ID_LEN + 1];
    m87_sign_key_id(k, id);
    printf("generated signing key %s\n"
           "private key: %s (keep it secret)\n"
           "public key:  %s\n"
           "Give the public key to the agents: m87-agent run --trust signing.pub ...\n",
           id, p.key, p.pub);
    return CLI_EXIT_OK;
}

static int keys_show(int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(key_paths_release) struct key_paths p = {0};
    int rc = cli_parse_simple("keys show", show_help, argc, argv, NULL, 0, 0);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = key_paths(&p)) != CLI_EXIT_OK)
        return rc;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *k = m87_sign_key_load(p.key, true, &err);
    if (!k) {
        fprintf(stderr, "m87: keys show: %s\n%s", err->msg,
                err->sys_errno == ENOENT ? "Make one with: m87 keys generate\n" : "");
        return CLI_EXIT_USAGE;
    }
    char id[M87_SIGN_KEY_ID_LEN + 1];
    m87_sign_key_id(k, id);
    printf("key id       %s\nprivate key  %s\npublic key   %s\n", id, p.key, p.pub);
    return CLI_EXIT_OK;
}

int cli_cmd_keys(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(keys_help, stdout);
        return CLI_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "generate") == 0)
        return keys_generate(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return keys_show(argc - 1, argv + 1);
    if (argc < 2)
        fprintf(stderr, "m87: keys: missing command\n");
    else
        fprintf(stderr, "m87: keys: unknown command '%s'\n", argv[1]);
    fputs(keys_help, stderr);
    return CLI_EXIT_USAGE;
}
