/* Unit tests of the top of a program (src/common/program.c): dispatch, help, version and the
 * exit status of a usage error. */
#include <stdio.h>

#include "m87/command.h"
#include "m87/compiler.h"
#include "m87/program.h"
#include "unit-util.h"

static int usage_calls, run_calls;
static FILE *usage_out;

static void usage(FILE *out)
{
    usage_calls++;
    usage_out = out;
}

static int cmd_run(int argc, char **argv)
{
    (void)argv;
    run_calls++;
    return 40 + argc;
}

static const struct m87_command cmds[] = {
    {"run", cmd_run, "run it"},
};

static int call(int argc, char **argv)
{
    usage_calls = run_calls = 0;
    usage_out = NULL;
    return m87_program_main("prog", cmds, M87_ARRAY_LEN(cmds), usage, argc, argv);
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
    assert_int_equal(usage_calls, 1);
    assert_ptr_equal(usage_out, stderr);
    assert_int_equal(call(3, run), 42);
    assert_int_equal(run_calls, 1);
    assert_int_equal(usage_calls, 0);
    assert_int_equal(call(2, help), 0);
    assert_ptr_equal(usage_out, stdout);
    assert_int_equal(call(2, version), 0);
    assert_int_equal(usage_calls + run_calls, 0);
    assert_int_equal(call(2, bogus), M87_EXIT_USAGE);
    assert_ptr_equal(usage_out, stderr);
    assert_int_equal(run_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_main),
    };
    return cmocka_run_group_tests_name("program", tests, NULL, NULL);
}
