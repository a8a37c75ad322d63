/* Unit tests of the top of a program (src/common/command-main.c): dispatch, help, version, the
 * exit status of a usage error, and the usage text made from the command table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m87/command-main.h"
#include "m87/command.h"
#include "m87/compiler.h"
#include "unit-util.h"

static int run_calls;

static int cmd_run(int argc, char **argv)
{
    (void)argv;
    run_calls++;
    return 40 + argc;
}

static const struct m87_command cmds[] = {
    {"run", cmd_run, "run it"},
    {"stop", cmd_run, "stop it"},
};

static const struct m87_program prog = {
    .name = "prog",
    .summary = "Do things.",
    .cmds = cmds,
    .n = M87_ARRAY_LEN(cmds),
    .column = 8,
    .help = "Run 'prog COMMAND --help' for a command's options.",
};

static int call(int argc, char **argv)
{
    run_calls = 0;
    return m87_program_main(&prog, argc, argv);
}

static void test_program_main(void **state)
{
    (void)state;
    char *none[] = {"prog", NULL};
    char *run[] = {"prog", "run", "x", NULL};
    char *help[] = {"prog", "-h", NULL};
    char *version[] = {"prog", "--version", NULL};
    char *bogus[] = {"prog", "bogus", NULL};

    assert_int_equal(call(1, none), M87_EXIT_USAGE);
    assert_int_equal(call(3, run), 42);
    assert_int_equal(run_calls, 1);
    assert_int_equal(call(2, help), 0);
    assert_int_equal(call(2, version), 0);
    assert_int_equal(call(2, bogus), M87_EXIT_USAGE);
    assert_int_equal(run_calls, 0);
}

static void test_program_usage(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    m87_program_usage(&prog, f);
    fclose(f);
    assert_non_null(strstr(text, "usage: prog [--help] [--version] <command> [<args>]\n\n"
                                 "Do things.\n\ncommands:\n"));
    assert_non_null(strstr(text, "  run   run it\n  stop  stop it\n"));
    assert_non_null(strstr(text, "Run 'prog COMMAND --help' for a command's options.\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_main),
        cmocka_unit_test(test_program_usage),
    };
    return cmocka_run_group_tests_name("program", tests, NULL, NULL);
}
