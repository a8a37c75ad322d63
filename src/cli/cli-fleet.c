/* `m87 fleet NAME deploy|rollouts|rollout|pause|resume|abort|status`: a fleet's releases and
 * their rollouts (docs/fleets.md). The rollout runs on the server; these commands start it, show
 * it and steer it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"

#define BAR_WIDTH 30

static const char fleet_help[] =
    "usage: m87 fleet NAME <command> [<args>]\n"
    "\n"
    "A fleet's releases and their staged rollouts (docs/fleets.md).\n"
    "\n"
    "commands:\n"
    "  deploy FILE [options]    make the fleet's next release of FILE and roll it out\n"
    "  rollouts [--json]        list the fleet's rollouts, newest first\n"
    "  rollout show ID [--follow] [--json]\n"
    "                           the waves of a rollout and the state of each device\n"
    "  pause ID                 stop starting waves (devices keep what they got)\n"
    "  resume ID                start waves again\n"
    "  abort ID [--rollback]    end a rollout; --rollback: the devices it changed get their\n"
    "                           previous revision back\n"
    "  status [--json]          the members by release, applied, healthy, failing, offline\n"
    "\n"
    "Run 'm87 fleet NAME <command> --help' for the options of a command.\n";

static const char deploy_help[] =
    "usage: m87 fleet NAME deploy FILE [--waves LIST] [--health-window DURATION]\n"
    "                      [--max-failed N|P%] [--offline wait|skip] [--wave-timeout DURATION]\n"
    "                      [--rollback on-failure|never] [--now] [--json]\n"
    "\n"
    "Make the fleet's next release of the jobs of FILE (a run spec, or a Docker Compose file\n"
    "converted into one job, as 'm87 DEVICE deploy' does) and start its rollout: each member\n"
    "device, wave by wave, gets the release's jobs in its active deployment as a new revision\n"
    "(the jobs of the fleet's previous release that the new one lacks are removed). A wave\n"
    "starts when every device of the one before is healthy: every job applied and, for the\n"
    "health window after, every container running, healthy and not restarted. With a signing\n"
    "key configured the release is signed once for all members.\n"
    "\n"
    "options:\n"
    "  --waves LIST            cumulative counts or percentages of the members, ordered by\n"
    "                          name (default 1,10%,50%,100%; the last wave takes the rest)\n"
    "  --health-window DURATION  how long a device must stay healthy (default 5m)\n"
    "  --max-failed N|P%       devices of a wave that may fail before the rollout halts\n"
    "                          (default 0)\n"
    "  --offline wait|skip     wait for members offline when their wave starts (until the\n"
    "                          wave timeout), or skip them: they get the release when back\n"
    "                          (default wait)\n"
    "  --wave-timeout DURATION  how long a wave may take (default 2h); members not healthy\n"
    "                          by then count as failed\n"
    "  --rollback on-failure|never  on a halt, put every device the rollout changed back on\n"
    "                          its previous revision (default on-failure)\n"
    "  --now                   apply outside the devices' maintenance windows\n"
    "  --json                  print the server's {\"release\",\"rollout\"}\n"
    "  -h, --help              show this help\n";

static const char rollouts_help[] = "usage: m87 fleet NAME rollouts [--json]\n"
                                    "\n"
                                    "List the fleet's rollouts, newest first.\n"
                                    "\n"
                                    "options:\n"
                                    "  --json      print the server's {\"rollouts\":[...]}\n"
                                    "  -h, --help  show this help\n";

static const char rollout_help[] =
    "usage: m87 fleet NAME rollout show|pause|resume|abort ID [<args>]\n"
    "\n"
    "commands:\n"
    "  show ID [--follow] [--json]  the waves and the state of each device\n"
    "  pause ID                     stop starting waves\n"
    "  resume ID                    start waves again\n"
    "  abort ID [--rollback]        end it (and roll back the devices it changed)\n";

static const char show_help[] =
    "usage: m87 fleet NAME rollout show ID [--follow] [--json]\n"
    "\n"
    "Show a rollout: its release, state and options, then each wave with its devices pending,\n"
    "applying, healthy, failed, offline or rolled back (with a progress bar on a terminal).\n"
    "Exit status: 0 running, paused or done; 1 halted, aborted or rolled back.\n"
    "\n"
    "options:\n"
    "  --follow    show it again every 2 s until it is no longer running\n"
    "  --json      print the server's rollout with its \"devices\"\n"
    "  -h, --help  show this help\n";

static const char pause_help[] = "usage: m87 fleet NAME pause ID [--json]\n"
                                 "\n"
                                 "Pause a running rollout: no wave starts until it is resumed;\n"
                                 "the devices keep what they got and are still watched.\n"
                                 "\n"
                                 "options:\n"
                                 "  --json      print the server's rollout\n"
                                 "  -h, --help  show this help\n";

static const char resume_help[] = "usage: m87 fleet NAME resume ID [--json]\n"
                                  "\n"
                                  "Resume a paused rollout (its wave's timeout starts again).\n"
                                  "\n"
                                  "options:\n"
                                  "  --json      print the server's rollout\n"
                                  "  -h, --help  show this help\n";

static const char abort_help[] =
    "usage: m87 fleet NAME abort ID [--rollback] [--json]\n"
    "\n"
    "Abort a running or paused rollout: no wave starts any more. With --rollback every device\n"
    "the rollout changed gets its previous revision back (also for a halted rollout).\n"
    "\n"
    "options:\n"
    "  --rollback  roll back the devices the rollout changed\n"
    "  --json      print the server's rollout\n"
    "  -h, --help  show this help\n";

static const char status_help[] =
    "usage: m87 fleet NAME status [--json]\n"
    "\n"
    "The members of the fleet: the release each runs, whether it applied it, its health,\n"
    "whether it is online or waits for a maintenance window.\n"
    "Exit status: 0 when every online member runs the current release healthy, 1 otherwise,\n"
    "2 when the command itself failed.\n"
    "\n"
    "options:\n"
    "  --json      print the server's {\"fleet\",\"release\",\"rollout\",\"members\"}\n"
    "  -h, --help  show this help\n";

static char *fleet_path(const char *fleet, const char *tail)
{
    _cleanup_free_ char *f = cli_escape(fleet);
    return m87_xasprintf("/v1/fleets/%s%s", f, tail ? tail : "");
}

static char *rollout_path(const char *fleet, const char *id, const char *tail)
{
    _cleanup_free_ char *i = cli_escape(id);
    _cleanup_free_ char *t = m87_xasprintf("/rollouts/%s%s", i, tail ? tail : "");
    return fleet_path(fleet, t);
}

struct deploy_opts {
    const char *waves;
    int64_t health_window; /* ns, 0: the server's default */
    const char *max_failed;
    const char *offline;
    int64_t wave_timeout;
    const char *rollback;
    bool now;
    bool json;
};

static int check_deploy_opts(const struct deploy_opts *o)
{
    if (o->offline && strcmp(o->offline, "wait") != 0 && strcmp(o->offline, "skip") != 0)
        return cli_usage_error("fleet deploy", "--offline: expected 'wait' or 'skip', not '%s'",
                               o->offline);
    if (o->rollback && strcmp(o->rollback, "on-failure") != 0 && strcmp(o->rollback, "never") != 0)
        return cli_usage_error(
            "fleet deploy", "--rollback: expected 'on-failure' or 'never', not '%s'", o->rollback);
    return 0;
}

/* The body of POST /v1/fleets/NAME/releases. */
static char *deploy_body(const struct spec_runspec *rs, const struct deploy_opts *o)
{
    _cleanup_free_ char *spec = spec_runspec_dump(rs, true);
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(spec, strlen(spec), NULL);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_key(w, "spec");
    m87_jw_node(w, doc);
    if (o->waves)
        m87_jw_kstr(w, "waves", o->waves);
    if (o->health_window)
        m87_jw_kint(w, "health_window", (o->health_window + 999999999) / 1000000000);
    if (o->max_failed)
        m87_jw_kstr(w, "max_failed", o->max_failed);
    if (o->offline)
        m87_jw_kstr(w, "offline", o->offline);
    if (o->wave_timeout)
        m87_jw_kint(w, "wave_timeout", (o->wave_timeout + 999999999) / 1000000000);
    if (o->rollback)
        m87_jw_kstr(w, "rollback", o->rollback);
    m87_jw_kbool(w, "now", o->now);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

static int deploy(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    struct cli_bundle bundle = {0};
    struct deploy_opts o = {0};
    const struct cli_option opts[] = {
        {"waves", CLI_OPT_STRING, &o.waves, 0},
        {"health-window", CLI_OPT_DURATION, &o.health_window, 0},
        {"max-failed", CLI_OPT_STRING, &o.max_failed, 0},
        {"offline", CLI_OPT_STRING, &o.offline, 0},
        {"wave-timeout", CLI_OPT_DURATION, &o.wave_timeout, 0},
        {"rollback", CLI_OPT_STRING, &o.rollback, 0},
        {"now", CLI_OPT_FLAG, &o.now, 0},
        {"json", CLI_OPT_FLAG, &o.json, 0},
    };
    int rc = cli_parse_options("fleet deploy", deploy_help, argc, argv, opts, M87_ARRAY_LEN(opts));
    if (rc == 0)
        rc = cli_operands("fleet deploy", argc, argv, 1, 1);
    if (rc == 0)
        rc = check_deploy_opts(&o);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = cli_load_jobs(argv[optind], NULL, &bundle, &rs)) != CLI_EXIT_OK)
        return rc;
    _cleanup_free_ char *sig = NULL;
    _cleanup_free_ char *body = deploy_body(rs, &o);
    _cleanup_free_ char *path = fleet_path(fleet, "/releases");
    rc = cli_bundle_upload(ctx, &bundle);
    if (rc == CLI_EXIT_OK)
        rc = cli_sign_release(ctx, fleet, rs, &sig);
    cli_bundle_release(&bundle);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (cli_http_json_header(ctx, "POST", path, body, sig, &doc, &err) < 0)
        return cli_report(err);
    if (o.json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    const struct m87_json *rel = m87_json_get(doc, "release");
    const struct m87_json *ro = m87_json_get(doc, "rollout");
    const char *id = m87_json_str(m87_json_get(ro, "id"), "?");
    printf("release %lld of fleet %s (hash %.12s%s)\n",
           (long long)m87_json_int(m87_json_get(rel, "release"), 0), fleet,
           m87_json_str(m87_json_get(rel, "hash"), "-"),
           m87_json_bool(m87_json_get(rel, "signed"), false) ? ", signed" : "");
    printf("rollout %s started: %zu wave(s)\n", id, m87_json_len(m87_json_get(ro, "waves")));
    printf("follow it with: m87 fleet %s rollout show %s --follow\n", fleet, id);
    return CLI_EXIT_OK;
}

static int rollouts(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    bool json = false;
    int rc = cli_parse_simple("fleet rollouts", rollouts_help, argc, argv, &json, 0, 0);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = fleet_path(fleet, "/rollouts");
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    static const char *const header[] = {"ID", "RELEASE", "STATE", "WAVE", "CREATED", "MESSAGE"};
    struct cli_table t;
    cli_table_init(&t, 6, header);
    const struct m87_json *v = m87_json_get(doc, "rollouts");
    for (size_t i = 0; i < m87_json_len(v); i++) {
        const struct m87_json *ro = m87_json_at(v, i);
        _cleanup_free_ char *rel =
            m87_xasprintf("%lld", (long long)m87_json_int(m87_json_get(ro, "release"), 0));
        _cleanup_free_ char *wave =
            m87_xasprintf("%lld/%zu", (long long)m87_json_int(m87_json_get(ro, "wave"), 0),
                          m87_json_len(m87_json_get(ro, "waves")));
        _cleanup_free_ char *created =
            cli_format_local(m87_json_str(m87_json_get(ro, "created"), NULL));
        const char *row[] = {m87_json_str(m87_json_get(ro, "id"), "?"),
                             rel,
                             m87_json_str(m87_json_get(ro, "state"), "?"),
                             wave,
                             created,
                             m87_json_str(m87_json_get(ro, "message"), NULL)};
        cli_table_add(&t, row);
    }
    cli_table_print(&t);
    return CLI_EXIT_OK;
}

/* "[#####-----] 3 of 10 healthy" */
static void print_bar(const struct m87_json *devices)
{
    size_t n = m87_json_len(devices), healthy = 0;
    for (size_t i = 0; i < n; i++)
        healthy += strcmp(m87_json_str(m87_json_get(m87_json_at(devices, i), "state"), ""),
                          "healthy") == 0;
    size_t fill = n ? healthy * BAR_WIDTH / n : 0;
    char bar[BAR_WIDTH + 1];
    for (size_t i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    printf("[%s] %zu of %zu healthy\n", bar, healthy, n);
}

/* One wave's devices: name, state and message in aligned columns, no trailing blanks. */
static void print_wave(const struct m87_json *devices, int64_t wave, int width)
{
    for (size_t i = 0; i < m87_json_len(devices); i++) {
        const struct m87_json *d = m87_json_at(devices, i);
        if (m87_json_int(m87_json_get(d, "wave"), 0) != wave)
            continue;
        const char *dm = m87_json_str(m87_json_get(d, "message"), NULL);
        const char *state = m87_json_str(m87_json_get(d, "state"), "?");
        printf("  %-*s  ", width, m87_json_str(m87_json_get(d, "device"), "?"));
        if (dm)
            printf("%-11s  %s\n", state, dm);
        else
            printf("%s\n", state);
    }
}

static void print_rollout(const char *fleet, const struct m87_json *ro, bool tty)
{
    const struct m87_json *waves = m87_json_get(ro, "waves");
    const struct m87_json *devices = m87_json_get(ro, "devices");
    const char *msg = m87_json_str(m87_json_get(ro, "message"), NULL);
    _cleanup_free_ char *window =
        cli_format_ms(m87_json_int(m87_json_get(ro, "health_window"), 0) * 1000);
    _cleanup_free_ char *timeout =
        cli_format_ms(m87_json_int(m87_json_get(ro, "wave_timeout"), 0) * 1000);
    printf("rollout %s of fleet %s: release %lld, %s, wave %lld of %zu\n",
           m87_json_str(m87_json_get(ro, "id"), "?"), fleet,
           (long long)m87_json_int(m87_json_get(ro, "release"), 0),
           m87_json_str(m87_json_get(ro, "state"), "?"),
           (long long)m87_json_int(m87_json_get(ro, "wave"), 0), m87_json_len(waves));
    if (msg)
        printf("message: %s\n", msg);
    printf("options: health window %s, max failed %s, offline %s, wave timeout %s, rollback %s%s\n",
           window, m87_json_str(m87_json_get(ro, "max_failed"), "0"),
           m87_json_str(m87_json_get(ro, "offline"), "wait"), timeout,
           m87_json_str(m87_json_get(ro, "rollback"), "on-failure"),
           m87_json_bool(m87_json_get(ro, "now"), false) ? ", now" : "");
    if (tty)
        print_bar(devices);
    int width = 0;
    for (size_t i = 0; i < m87_json_len(devices); i++) {
        int len = (int)strlen(m87_json_str(m87_json_get(m87_json_at(devices, i), "device"), "?"));
        width = len > width ? len : width;
    }
    for (size_t w = 0; w < m87_json_len(waves); w++) {
        size_t count = 0;
        for (size_t i = 0; i < m87_json_len(devices); i++)
            count +=
                m87_json_int(m87_json_get(m87_json_at(devices, i), "wave"), 0) == (int64_t)w + 1;
        printf("wave %zu (%zu device%s):\n", w + 1, count, count == 1 ? "" : "s");
        print_wave(devices, (int64_t)w + 1, width);
    }
}

static bool rollout_bad(const struct m87_json *ro)
{
    const char *state = m87_json_str(m87_json_get(ro, "state"), "");
    return strcmp(state, "halted") == 0 || strcmp(state, "aborted") == 0 ||
           strcmp(state, "rolled-back") == 0;
}

static int show(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv)
{
    bool json = false, follow = false;
    const struct cli_option opts[] = {
        {"follow", CLI_OPT_FLAG, &follow, 0},
        {"json", CLI_OPT_FLAG, &json, 0},
    };
    int rc =
        cli_parse_options("fleet rollout show", show_help, argc, argv, opts, M87_ARRAY_LEN(opts));
    if (rc == 0)
        rc = cli_operands("fleet rollout show", argc, argv, 1, 1);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = rollout_path(fleet, argv[optind], NULL);
    bool tty = isatty(STDOUT_FILENO);
    for (;;) {
        _cleanup_error_ struct m87_error *err = NULL;
        _cleanup_(m87_json_freep) struct m87_json *ro = NULL;
        if (cli_http_json(ctx, "GET", path, NULL, &ro, &err) < 0)
            return cli_report(err);
        if (json)
            cli_print_json(stdout, ro);
        else
            print_rollout(fleet, ro, tty);
        bool running = strcmp(m87_json_str(m87_json_get(ro, "state"), ""), "running") == 0;
        if (!follow || !running)
            return rollout_bad(ro) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        fflush(stdout);
        sleep(CLI_FOLLOW_PERIOD_S);
        if (!json)
            printf("\n");
    }
}

static int steer(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv,
                 const char *action, const char *help)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *ro = NULL;
    bool json = false, rollback = false;
    _cleanup_free_ char *cmd = m87_xasprintf("fleet %s", action);
    const struct cli_option opts[] = {
        {"json", CLI_OPT_FLAG, &json, 0},
        {"rollback", CLI_OPT_FLAG, strcmp(action, "abort") == 0 ? &rollback : NULL, 0},
    };
    int rc = cli_parse_options(cmd, help, argc, argv, opts, M87_ARRAY_LEN(opts));
    if (rc == 0)
        rc = cli_operands(cmd, argc, argv, 1, 1);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *tail = m87_xasprintf("/%s", action);
    _cleanup_free_ char *path = rollout_path(fleet, argv[optind], tail);
    const char *body = rollback ? "{\"rollback\":true}" : "{}";
    if (cli_http_json(ctx, "POST", path, body, &ro, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, ro);
        return CLI_EXIT_OK;
    }
    printf("rollout %s is %s%s\n", argv[optind], m87_json_str(m87_json_get(ro, "state"), "?"),
           rollback ? ": the devices it changed get their previous revision back" : "");
    return CLI_EXIT_OK;
}

static int pause_cmd(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv)
{
    return steer(ctx, fleet, argc, argv, "pause", pause_help);
}

static int resume_cmd(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv)
{
    return steer(ctx, fleet, argc, argv, "resume", resume_help);
}

static int abort_cmd(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv)
{
    return steer(ctx, fleet, argc, argv, "abort", abort_help);
}

/* Whether the member runs release (> 0) applied and healthy. */
static bool member_good(const struct m87_json *m, int64_t release)
{
    return release > 0 && m87_json_int(m87_json_get(m, "release"), 0) == release &&
           m87_json_bool(m87_json_get(m, "applied"), false) &&
           strcmp(m87_json_str(m87_json_get(m87_json_get(m, "health"), "state"), ""), "ok") == 0;
}

static int status(const struct cli_ctx *ctx, const char *fleet, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    bool json = false;
    int rc = cli_parse_simple("fleet status", status_help, argc, argv, &json, 0, 0);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = fleet_path(fleet, "/status");
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    int64_t release = m87_json_int(m87_json_get(doc, "release"), 0);
    const struct m87_json *members = m87_json_get(doc, "members");
    size_t good = 0, failing = 0, offline = 0, waiting = 0, bad_online = 0;
    for (size_t i = 0; i < m87_json_len(members); i++) {
        const struct m87_json *m = m87_json_at(members, i);
        bool online = m87_json_bool(m87_json_get(m, "online"), false);
        bool ok = member_good(m, release);
        good += ok;
        offline += !online;
        waiting += m87_json_bool(m87_json_get(m, "waiting_for_window"), false);
        failing += strcmp(m87_json_str(m87_json_get(m87_json_get(m, "health"), "state"), ""),
                          "failing") == 0;
        bad_online += online && !ok;
    }
    rc = release > 0 && bad_online == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    if (json) {
        cli_print_json(stdout, doc);
        return rc;
    }
    const struct m87_json *ro = m87_json_get(doc, "rollout");
    if (release > 0)
        printf("fleet %s: release %lld", fleet, (long long)release);
    else
        printf("fleet %s: no release yet", fleet);
    if (ro && m87_json_type(ro) == M87_JSON_OBJECT)
        printf(" (rollout %s %s)", m87_json_str(m87_json_get(ro, "id"), "?"),
               m87_json_str(m87_json_get(ro, "state"), "?"));
    printf("\n");
    static const char *const header[] = {"DEVICE",  "ONLINE", "RELEASE",
                                         "APPLIED", "HEALTH", "ROLLOUT"};
    struct cli_table t;
    cli_table_init(&t, 6, header);
    for (size_t i = 0; i < m87_json_len(members); i++) {
        const struct m87_json *m = m87_json_at(members, i);
        int64_t r = m87_json_int(m87_json_get(m, "release"), 0);
        _cleanup_free_ char *rel = r ? m87_xasprintf("%lld", (long long)r) : NULL;
        bool wait = m87_json_bool(m87_json_get(m, "waiting_for_window"), false);
        const char *row[] = {
            m87_json_str(m87_json_get(m, "device"), "?"),
            m87_json_bool(m87_json_get(m, "online"), false) ? "yes" : "no",
            rel,
            wait                                               ? "waiting for a window"
            : m87_json_bool(m87_json_get(m, "applied"), false) ? "yes"
                                                               : "no",
            m87_json_str(m87_json_get(m87_json_get(m, "health"), "state"), NULL),
            m87_json_str(m87_json_get(m, "rollout_state"), NULL),
        };
        cli_table_add(&t, row);
    }
    cli_table_print(&t);
    printf("%zu member%s: %zu on the current release and healthy, %zu failing, %zu offline, "
           "%zu waiting for a window\n",
           m87_json_len(members), m87_json_len(members) == 1 ? "" : "s", good, failing, offline,
           waiting);
    return rc;
}

static const struct cli_sub rollout_subs[] = {
    {"show", show, show_help},
    {"pause", pause_cmd, pause_help},
    {"resume", resume_cmd, resume_help},
    {"abort", abort_cmd, abort_help},
};

int cli_cmd_fleet(int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"deploy", deploy, deploy_help},  {"rollouts", rollouts, rollouts_help},
        {"pause", pause_cmd, pause_help}, {"resume", resume_cmd, resume_help},
        {"abort", abort_cmd, abort_help}, {"status", status, status_help},
    };
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(fleet_help, stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2) {
        fprintf(stderr, "m87: fleet: missing fleet name\n");
        fputs(fleet_help, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *fleet = argv[1];
    _cleanup_free_ char *group = m87_xasprintf("fleet %s", fleet);
    if (argc >= 3 && strcmp(argv[2], "rollout") == 0) {
        /* `rollout show|pause|resume|abort`: one more level, help without a login */
        if (argc == 3)
            fprintf(stderr, "m87: fleet %s rollout: missing command\n", fleet);
        if (argc == 3 || strcmp(argv[3], "--help") == 0 || strcmp(argv[3], "-h") == 0) {
            fputs(rollout_help, argc == 3 ? stderr : stdout);
            return argc == 3 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
        }
        return cli_dispatch(group, rollout_help, rollout_subs, M87_ARRAY_LEN(rollout_subs), fleet,
                            argc - 2, argv + 2);
    }
    return cli_dispatch(group, fleet_help, subs, M87_ARRAY_LEN(subs), fleet, argc - 1, argv + 1);
}
