/* Unit tests of the compose command-line parser: every spelling getopt_long accepts for the global
 * options, "--" and "-", help, the errors with their exact messages, the options a caller does
 * not accept, and the command lines on which the four copies it replaces disagreed. */
#include <string.h>

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/spec-compose-args.h"
#include "unit-util.h"

#define MAX_WORDS 16

/* A command line "compose WORDS..." that the parser reads in place. */
struct line {
    char *argv[MAX_WORDS];
    int argc;
};

static struct line words(const char *const *w)
{
    struct line l = {.argc = 1};

    l.argv[0] = "compose";
    for (; *w; w++) {
        if (l.argc == MAX_WORDS)
            fail_msg("too many words in the test");
        l.argv[l.argc++] = (char *)*w;
    }
    return l;
}

#define LINE(...) words((const char *const[]){__VA_ARGS__, NULL})

/* Parse with every option accepted; the test fails on an error. */
static void parse_ok(struct spec_compose_args *a, const struct line *l)
{
    struct m87_error *err = NULL;

    if (spec_compose_args_parse(a, l->argc, l->argv, SPEC_COMPOSE_ARGS_ALL, &err) < 0)
        fail_msg("parse failed: %s", err->msg);
}

/* The command the parser found, or NULL when there is none. */
static const char *command(const struct spec_compose_args *a, const struct line *l)
{
    return a->command < l->argc ? l->argv[a->command] : NULL;
}

static void expect_error(unsigned accept, struct line l, const char *want)
{
    struct spec_compose_args a;
    struct m87_error *err = NULL;

    assert_int_equal(spec_compose_args_parse(&a, l.argc, l.argv, accept, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, M87_E_INVAL);
    assert_string_equal(err->msg, want);
    m87_error_clear(&err);
    spec_compose_args_release(&a);
}

static void expect_files(const struct spec_compose_args *a, const char *const *want, size_t n)
{
    assert_int_equal(a->files.len, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(a->files.items[i], want[i]);
}

static void test_project_name_spellings(void **state)
{
    (void)state;
    const struct line lines[] = {
        LINE("-pdemo", "up", "-d"),
        LINE("-p", "demo", "up", "-d"),
        LINE("--project-name", "demo", "up", "-d"),
        LINE("--project-name=demo", "up", "-d"),
        LINE("--project-n", "demo", "up", "-d"),
        LINE("--project-na=demo", "up", "-d"),
        LINE("-p", "other", "-pdemo", "up", "-d"),
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(lines); i++) {
        struct spec_compose_args a;
        parse_ok(&a, &lines[i]);
        assert_string_equal(a.project_name, "demo");
        assert_string_equal(command(&a, &lines[i]), "up");
        assert_int_equal(a.command, lines[i].argc - 2);
        assert_int_equal(a.files.len, 0);
        spec_compose_args_release(&a);
    }
}

static void test_file_spellings(void **state)
{
    (void)state;
    static const char *const one[] = {"a.yml"};
    const struct line lines[] = {
        LINE("-f", "a.yml", "pull"),  LINE("-fa.yml", "pull"),    LINE("--file", "a.yml", "pull"),
        LINE("--file=a.yml", "pull"), LINE("--fi=a.yml", "pull"),
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(lines); i++) {
        struct spec_compose_args a;
        parse_ok(&a, &lines[i]);
        expect_files(&a, one, 1);
        assert_string_equal(command(&a, &lines[i]), "pull");
        spec_compose_args_release(&a);
    }

    /* repeated, in every spelling: the order given */
    static const char *const four[] = {"a.yml", "b.yml", "c.yml", "d.yml"};
    struct line l = LINE("-f", "a.yml", "-fb.yml", "--file=c.yml", "--file", "d.yml", "up");
    struct spec_compose_args a;
    parse_ok(&a, &l);
    expect_files(&a, four, 4);
    assert_int_equal(a.command, 7);
    spec_compose_args_release(&a);
}

static void test_other_options(void **state)
{
    (void)state;
    struct line l = LINE("--project-directory", "/srv/app", "--env-file=prod.env", "--profile",
                         "web", "--profile=debug", "--progress", "plain", "ps");
    struct spec_compose_args a;

    parse_ok(&a, &l);
    assert_string_equal(a.project_dir, "/srv/app");
    assert_string_equal(a.env_file, "prod.env");
    assert_int_equal(a.profiles.len, 2);
    assert_string_equal(a.profiles.items[0], "web");
    assert_string_equal(a.profiles.items[1], "debug");
    assert_string_equal(a.progress, "plain");
    assert_null(a.project_name);
    assert_false(a.help);
    assert_string_equal(command(&a, &l), "ps");
    spec_compose_args_release(&a);

    l = LINE("--project-directory=d", "--env-file", "e", "--progress=quiet", "--env=f", "down");
    parse_ok(&a, &l);
    assert_string_equal(a.project_dir, "d");
    assert_string_equal(a.env_file, "f");
    assert_string_equal(a.progress, "quiet");
    assert_string_equal(command(&a, &l), "down");
    spec_compose_args_release(&a);
}

/* Values are the next word whatever it looks like, or the rest of the word, even empty. */
static void test_values(void **state)
{
    (void)state;
    struct line l = LINE("-f", "-x.yml", "-p", "--", "--env-file=", "up");
    struct spec_compose_args a;

    parse_ok(&a, &l);
    static const char *const want[] = {"-x.yml"};
    expect_files(&a, want, 1);
    assert_string_equal(a.project_name, "--");
    assert_string_equal(a.env_file, "");
    assert_string_equal(command(&a, &l), "up");
    spec_compose_args_release(&a);

    /* borrowed from argv, inside the word for -pNAME */
    l = LINE("-pdemo", "--project-directory=/d", "up");
    parse_ok(&a, &l);
    assert_ptr_equal(a.project_name, l.argv[1] + 2);
    assert_ptr_equal(a.project_dir, l.argv[2] + strlen("--project-directory="));
    spec_compose_args_release(&a);
}

static void test_end_of_options(void **state)
{
    (void)state;
    struct spec_compose_args a;

    struct line l = LINE("-p", "x", "--", "up");
    parse_ok(&a, &l);
    assert_int_equal(a.command, 4);
    spec_compose_args_release(&a);

    l = LINE("--", "-p", "x");
    parse_ok(&a, &l);
    assert_null(a.project_name);
    assert_string_equal(command(&a, &l), "-p");
    spec_compose_args_release(&a);

    l = LINE("-p", "x", "--");
    parse_ok(&a, &l);
    assert_int_equal(a.command, l.argc);
    spec_compose_args_release(&a);

    /* "-" alone is a word, not an option */
    l = LINE("-p", "x", "-", "up");
    parse_ok(&a, &l);
    assert_string_equal(command(&a, &l), "-");
    spec_compose_args_release(&a);

    /* no command at all */
    l = LINE("-f", "a.yml");
    parse_ok(&a, &l);
    assert_int_equal(a.command, l.argc);
    spec_compose_args_release(&a);

    struct line alone = {.argv = {"compose"}, .argc = 1};
    parse_ok(&a, &alone);
    assert_int_equal(a.command, 1);
    spec_compose_args_release(&a);
    assert_int_equal(spec_compose_args_parse(&a, 0, alone.argv, SPEC_COMPOSE_ARGS_ALL, NULL), 0);
    assert_int_equal(a.command, 0);
    spec_compose_args_release(&a);

    /* the options of the command are not read */
    l = LINE("up", "-p", "x", "--bogus");
    parse_ok(&a, &l);
    assert_int_equal(a.command, 1);
    assert_null(a.project_name);
    spec_compose_args_release(&a);
}

/* Help stops the reading: what follows, even a bad option, is not looked at. */
static void test_help(void **state)
{
    (void)state;
    const struct line lines[] = {
        LINE("-h", "--bogus"),      LINE("--help", "-x"), LINE("--he"),
        LINE("-f", "a.yml", "-hx"), LINE("-hf"),
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(lines); i++) {
        struct spec_compose_args a;
        parse_ok(&a, &lines[i]);
        assert_true(a.help);
        spec_compose_args_release(&a);
    }
}

static void test_errors(void **state)
{
    (void)state;
    const unsigned all = SPEC_COMPOSE_ARGS_ALL;

    expect_error(all, LINE("--bogus", "up"), "unknown option '--bogus'");
    expect_error(all, LINE("--bogus=1", "up"), "unknown option '--bogus=1'");
    expect_error(all, LINE("-x", "up"), "unknown option '-x'");
    expect_error(all, LINE("-fa.yml", "-px", "-qv", "up"), "unknown option '-q'");
    expect_error(all, LINE("--=x", "up"), "unknown option '--=x'");
    expect_error(all, LINE("-f"), "option '-f' needs a value");
    expect_error(all, LINE("-p"), "option '-p' needs a value");
    expect_error(all, LINE("--file"), "option '--file' needs a value");
}

static void test_more_errors(void **state)
{
    (void)state;
    const unsigned all = SPEC_COMPOSE_ARGS_ALL;

    expect_error(all, LINE("--project-dir"), "option '--project-dir' needs a value");
    expect_error(all, LINE("--pro", "x", "up"),
                 "option '--pro' is ambiguous (--project-name, --project-directory, --profile, "
                 "--progress)");
    expect_error(all, LINE("--project=x", "up"),
                 "option '--project' is ambiguous (--project-name, --project-directory)");
    expect_error(all, LINE("--help=yes"), "option '--help' takes no value");
    expect_error(all, LINE("--progress", "loud", "up"),
                 "invalid --progress 'loud' (auto, tty, plain or quiet)");
    expect_error(all, LINE("--progress=json", "up"),
                 "invalid --progress 'json' (auto, tty, plain or quiet)");
    /* compose has --ansi; m87-agent compose does not, so neither does the parser */
    expect_error(all, LINE("--ansi", "never", "up"), "unknown option '--ansi'");
}

/* The CLI's sessions take only -f and -p: the others are unknown there, and a shortened name is
 * matched only among those two. */
static void test_accept(void **state)
{
    (void)state;
    const unsigned cli = SPEC_COMPOSE_ARGS_FILE | SPEC_COMPOSE_ARGS_PROJECT_NAME;
    struct spec_compose_args a;
    struct line l = LINE("--pro", "x", "--f=a.yml", "up");

    assert_int_equal(spec_compose_args_parse(&a, l.argc, l.argv, cli, NULL), 0);
    assert_string_equal(a.project_name, "x");
    static const char *const want[] = {"a.yml"};
    expect_files(&a, want, 1);
    spec_compose_args_release(&a);

    expect_error(cli, LINE("--env-file", "e", "up"), "unknown option '--env-file'");
    expect_error(cli, LINE("--project-directory=d", "up"),
                 "unknown option '--project-directory=d'");
    expect_error(cli, LINE("--profile", "web", "up"), "unknown option '--profile'");
    expect_error(cli, LINE("--progress", "plain", "up"), "unknown option '--progress'");
    expect_error(cli, LINE("-h"), "unknown option '-h'");
    expect_error(cli, LINE("--help"), "unknown option '--help'");
}

/* Where the four old readings disagreed: the agent's front end (getopt_long), the runner's health
 * watch, prefetch and the CLI. Each line is read as the front end read it. */
static void test_old_disagreements(void **state)
{
    (void)state;
    struct spec_compose_args a;

    /* -fF and --file=F: the health watch missed both and prefetch -fF, loading the default
     * files instead */
    struct line l = LINE("-fprod.yml", "--file=extra.yml", "up", "-d");
    parse_ok(&a, &l);
    static const char *const files[] = {"prod.yml", "extra.yml"};
    expect_files(&a, files, 2);
    assert_string_equal(command(&a, &l), "up");
    spec_compose_args_release(&a);

    /* -pNAME: prefetch missed it */
    l = LINE("-pshop", "pull");
    parse_ok(&a, &l);
    assert_string_equal(a.project_name, "shop");
    spec_compose_args_release(&a);

    /* --project-directory=D and --env-file=F: the health watch missed them */
    l = LINE("--project-directory=app", "--env-file=app/.env.prod", "up");
    parse_ok(&a, &l);
    assert_string_equal(a.project_dir, "app");
    assert_string_equal(a.env_file, "app/.env.prod");
    spec_compose_args_release(&a);

    /* --profile: the health watch dropped the profiles */
    l = LINE("--profile", "web", "up");
    parse_ok(&a, &l);
    assert_int_equal(a.profiles.len, 1);
    assert_string_equal(a.profiles.items[0], "web");
    spec_compose_args_release(&a);

    /* a shortened long option: the health watch and prefetch skipped the word and took its
     * value for the command */
    l = LINE("--project-n", "shop", "up");
    parse_ok(&a, &l);
    assert_string_equal(a.project_name, "shop");
    assert_string_equal(command(&a, &l), "up");
    spec_compose_args_release(&a);

    /* an option the front end refuses: the health watch and prefetch took "never" for the
     * command; the step itself fails, and now so does every reading */
    expect_error(SPEC_COMPOSE_ARGS_ALL, LINE("--ansi", "never", "up"), "unknown option '--ansi'");
    /* -p with no value: the health watch ignored it */
    expect_error(SPEC_COMPOSE_ARGS_ALL, LINE("-f", "a.yml", "-p"), "option '-p' needs a value");

    /* a file named like an option: the health watch and prefetch agreed with getopt here */
    l = LINE("-f", "-odd.yml", "up");
    parse_ok(&a, &l);
    static const char *const odd[] = {"-odd.yml"};
    expect_files(&a, odd, 1);
    spec_compose_args_release(&a);

    /* the CLI read only -f and -p and still does (test_accept); the last -p wins everywhere */
    l = LINE("-p", "a", "--project-name=b", "up");
    parse_ok(&a, &l);
    assert_string_equal(a.project_name, "b");
    spec_compose_args_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_project_name_spellings),
        cmocka_unit_test(test_file_spellings),
        cmocka_unit_test(test_other_options),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_end_of_options),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_more_errors),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_old_disagreements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
