/* `m87-agent compose ps`, `logs`, and the attached part of `up` without -d. */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/spec-project.h"

enum {
    OPT_FORMAT = 256,
    OPT_TAIL,
    OPT_NO_PREFIX,
};

static bool selected(const char *service, char **services, int n)
{
    if (n <= 0)
        return true;
    for (int i = 0; i < n; i++)
        if (service && strcmp(service, services[i]) == 0)
            return true;
    return false;
}

static const char *str_or(const char *s, const char *fallback)
{
    return s ? s : fallback;
}

/* ---- ps ------------------------------------------------------------------------------------- */

static void ps_usage(FILE *out)
{
    fprintf(out, "usage: m87-agent compose ps [options] [SERVICE...]\n"
                 "\n"
                 "List the project's containers (running ones unless -a).\n"
                 "\n"
                 "options:\n"
                 "      --format FORMAT  table (default) or json (one object a line)\n"
                 "  -a, --all            also stopped and created containers\n"
                 "  -q, --quiet          only the IDs\n"
                 "  -h, --help           show this help\n");
}

static void ps_json(const struct compose_container *c, const char *project)
{
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    m87_jw_kstr(w, "ID", c->id);
    m87_jw_kstr(w, "Name", c->name);
    m87_jw_kstr(w, "Image", c->image);
    m87_jw_kstr(w, "Project", project);
    m87_jw_kstr(w, "Service", c->service);
    m87_jw_kint(w, "Number", c->number);
    m87_jw_kstr(w, "State", c->state);
    m87_jw_kstr(w, "Health", str_or(c->health, ""));
    m87_jw_kint(w, "ExitCode", c->exit_code);
    m87_jw_kstr(w, "Status", str_or(c->status, ""));
    m87_jw_kstr(w, "Ports", str_or(c->ports, ""));
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    printf("%s\n", text);
}

static void ps_table(const struct compose_container *v, const bool *show, size_t n)
{
    int wn = 4, wi = 5, ws = 7, wt = 6;

    for (size_t i = 0; i < n; i++) {
        if (!show[i])
            continue;
        wn = (int)(strlen(str_or(v[i].name, "")) > (size_t)wn ? strlen(v[i].name) : (size_t)wn);
        wi = (int)(strlen(str_or(v[i].image, "")) > (size_t)wi ? strlen(v[i].image) : (size_t)wi);
        ws = (int)(strlen(str_or(v[i].service, "")) > (size_t)ws ? strlen(v[i].service)
                                                                 : (size_t)ws);
        wt = (int)(strlen(str_or(v[i].status, "")) > (size_t)wt ? strlen(v[i].status) : (size_t)wt);
    }
    printf("%-*s   %-*s   %-*s   %-*s   %s\n", wn, "NAME", wi, "IMAGE", ws, "SERVICE", wt, "STATUS",
           "PORTS");
    for (size_t i = 0; i < n; i++)
        if (show[i])
            printf("%-*s   %-*s   %-*s   %-*s   %s\n", wn, str_or(v[i].name, ""), wi,
                   str_or(v[i].image, ""), ws, str_or(v[i].service, ""), wt,
                   str_or(v[i].status, ""), str_or(v[i].ports, ""));
}

static int ps_parse(int argc, char **argv, bool *json, bool *all, bool *quiet)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"all", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, ":aqh", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_FORMAT:
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
                fprintf(stderr,
                        "m87-agent: compose ps: invalid --format '%s' "
                        "(table or json)\n",
                        optarg);
                return AGENT_EXIT_USAGE;
            }
            *json = strcmp(optarg, "json") == 0;
            break;
        case 'a':
            *all = true;
            break;
        case 'q':
            *quiet = true;
            break;
        case 'h':
            ps_usage(stdout);
            return -1;
        default:
            return agent_bad_option("compose ps", argv, ch);
        }
    }
    return AGENT_EXIT_OK;
}

int agent_compose_ps(struct agent_compose *g, int argc, char **argv)
{
    bool json = false, all = false, quiet = false;
    int rc = ps_parse(argc, argv, &json, &all, &quiet);
    if (rc != AGENT_EXIT_OK)
        return rc < 0 ? AGENT_EXIT_OK : rc;

    char **services = argv + optind;
    int n_services = argc - optind;
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    struct compose_options o;
    struct compose_container *v = NULL;
    size_t n = 0;

    if ((rc = agent_project_open(g, true, services, n_services, &ap, &c)) != AGENT_EXIT_OK)
        return rc;
    agent_options_init(g, &o, services, n_services);
    if (compose_ps(c, ap.p, &o, &v, &n, &err) < 0) {
        agent_print_error(err);
        return agent_exit_for(err);
    }
    _cleanup_free_ bool *show = m87_xcalloc(n ? n : 1, sizeof(bool));
    for (size_t i = 0; i < n; i++)
        show[i] = selected(v[i].service, services, n_services) &&
                  (all || (v[i].state && (strcmp(v[i].state, "running") == 0 ||
                                          strcmp(v[i].state, "restarting") == 0)));
    for (size_t i = 0; i < n && (json || quiet); i++)
        if (show[i] && quiet)
            printf("%s\n", v[i].id);
        else if (show[i])
            ps_json(&v[i], ap.p->name);
    if (!json && !quiet)
        ps_table(v, show, n);
    compose_containers_free(v, n);
    return AGENT_EXIT_OK;
}

/* ---- logs -------------------------------------------------------------------------------------
 */

static const char *const colours[] = {"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"};

struct log_printer {
    pthread_mutex_t lock; /* the executor may follow several containers from several threads */
    bool prefix;
    bool colour;
    bool flush;
    int width;
    struct m87_strv seen; /* containers in order of their first line, for their colour */
};

static size_t colour_index(struct log_printer *lp, const char *name)
{
    for (size_t i = 0; i < lp->seen.len; i++)
        if (strcmp(lp->seen.items[i], name) == 0)
            return i % M87_ARRAY_LEN(colours);
    m87_strv_add(&lp->seen, name);
    return (lp->seen.len - 1) % M87_ARRAY_LEN(colours);
}

static int print_line(void *ctx, const char *container, enum engine_stream stream, const char *line,
                      size_t len)
{
    struct log_printer *lp = ctx;
    FILE *out = stream == ENGINE_STREAM_SYSTEM ? stderr : stdout;
    const char *name = container ? container : "";

    pthread_mutex_lock(&lp->lock);
    if (lp->prefix && lp->colour)
        fprintf(out, "\x1b[%sm%-*s |\x1b[0m ", colours[colour_index(lp, name)], lp->width, name);
    else if (lp->prefix)
        fprintf(out, "%-*s | ", lp->width, name);
    fwrite(line, 1, len, out);
    fputc('\n', out);
    if (lp->flush)
        fflush(out);
    pthread_mutex_unlock(&lp->lock);
    return 0;
}

/* Pad the prefixes to the longest container name, as compose does; also tells which
 * containers there are, for `up`'s "Attaching to". */
static int name_width(struct engine_client *c, const struct spec_project *p,
                      const struct compose_options *o, char **services, int n_services,
                      struct m87_strv *names)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct compose_container *v = NULL;
    size_t n = 0;
    int w = 0;

    if (compose_ps(c, p, o, &v, &n, &err) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!selected(v[i].service, services, n_services) || !v[i].name)
            continue;
        if ((int)strlen(v[i].name) > w)
            w = (int)strlen(v[i].name);
        if (names)
            m87_strv_add(names, v[i].name);
    }
    compose_containers_free(v, n);
    return w + 1;
}

static int show_logs(struct engine_client *c, const struct spec_project *p, char **services,
                     int n_services, const struct compose_logs_options *lo, bool prefix,
                     bool attaching)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct compose_options o = {
        .services = n_services > 0 ? (const char *const *)services : NULL,
        .n_services = n_services > 0 ? (size_t)n_services : 0,
        .timeout_s = -1,
    };
    struct log_printer lp = {
        .prefix = prefix,
        .colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL,
        .flush = lo->follow,
    };
    struct m87_strv names;

    m87_strv_init(&names);
    m87_strv_init(&lp.seen);
    pthread_mutex_init(&lp.lock, NULL);
    lp.width = prefix ? name_width(c, p, &o, services, n_services, &names) : 0;
    if (attaching) {
        fprintf(stderr, "Attaching to ");
        for (size_t i = 0; i < names.len; i++)
            fprintf(stderr, "%s%s", i ? ", " : "", names.items[i]);
        fprintf(stderr, "\n");
    }
    int rc = compose_logs(c, p, &o, lo, print_line, &lp, &err);
    fflush(stdout);
    if (rc < 0)
        agent_print_error(err);
    pthread_mutex_destroy(&lp.lock);
    m87_strv_release(&lp.seen);
    m87_strv_release(&names);
    return rc < 0 ? agent_exit_for(err) : AGENT_EXIT_OK;
}

static void logs_usage(FILE *out)
{
    fprintf(out, "usage: m87-agent compose logs [options] [SERVICE...]\n"
                 "\n"
                 "Show the output of the services' containers, each line prefixed with the\n"
                 "container's name.\n"
                 "\n"
                 "options:\n"
                 "  -f, --follow         keep following new output\n"
                 "      --tail N         only the last N lines of each container (or all)\n"
                 "  -t, --timestamps     show timestamps\n"
                 "      --no-log-prefix  do not prefix lines with the container name\n"
                 "  -h, --help           show this help\n");
}

static int logs_parse(int argc, char **argv, struct compose_logs_options *lo, bool *prefix)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},     {"tail", required_argument, NULL, OPT_TAIL},
        {"timestamps", no_argument, NULL, 't'}, {"no-log-prefix", no_argument, NULL, OPT_NO_PREFIX},
        {"help", no_argument, NULL, 'h'},       {0},
    };
    long tail;
    int ch;

    while ((ch = getopt_long(argc, argv, ":fth", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            lo->follow = true;
            break;
        case OPT_TAIL:
            if (strcmp(optarg, "all") != 0 &&
                agent_parse_long("compose logs", "--tail", optarg, 0, LONG_MAX, &tail) < 0)
                return AGENT_EXIT_USAGE;
            lo->tail = optarg;
            break;
        case 't':
            lo->timestamps = true;
            break;
        case OPT_NO_PREFIX:
            *prefix = false;
            break;
        case 'h':
            logs_usage(stdout);
            return -1;
        default:
            return agent_bad_option("compose logs", argv, ch);
        }
    }
    return AGENT_EXIT_OK;
}

int agent_compose_logs(struct agent_compose *g, int argc, char **argv)
{
    struct compose_logs_options lo = {0};
    bool prefix = true;
    int rc = logs_parse(argc, argv, &lo, &prefix);
    if (rc != AGENT_EXIT_OK)
        return rc < 0 ? AGENT_EXIT_OK : rc;

    char **services = argv + optind;
    int n_services = argc - optind;
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;

    if ((rc = agent_project_open(g, true, services, n_services, &ap, &c)) != AGENT_EXIT_OK)
        return rc;
    return show_logs(c, ap.p, services, n_services, &lo, prefix, false);
}

/* ---- up without -d ------------------------------------------------------------------------------
 */

/* The logs are followed in a child process so that the parent can wait for Ctrl-C with
 * sigwait while the child blocks in the stream; the child ends by itself when every container
 * has stopped. */
static void attach_child(struct agent_compose *g, char **services, int n_services,
                         const sigset_t *old)
{
    struct compose_logs_options lo = {.follow = true};
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;

    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_SETMASK, old, NULL);
    int rc = agent_project_open(g, false, NULL, 0, &ap, &c);
    if (rc == AGENT_EXIT_OK)
        rc = show_logs(c, ap.p, services, n_services, &lo, true, true);
    fflush(NULL);
    _exit(rc);
}

static int attach_stop(struct agent_compose *g, char **services, int n_services)
{
    struct compose_options o;

    fprintf(stderr, "Gracefully stopping... (press Ctrl+C again to force)\n");
    agent_options_init(g, &o, services, n_services);
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = agent_project_open(g, false, NULL, 0, &ap, &c);
    if (rc != AGENT_EXIT_OK)
        return rc;
    if (compose_stop(c, ap.p, &o, &err) < 0) {
        agent_progress_flush(g->progress);
        agent_print_error(err);
        return agent_exit_for(err);
    }
    agent_progress_flush(g->progress);
    return AGENT_EXIT_OK;
}

int agent_compose_attach(struct agent_compose *g, char **services, int n_services)
{
    sigset_t set, old;
    int sig = 0, status = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("m87-agent: fork");
        sigprocmask(SIG_SETMASK, &old, NULL);
        return AGENT_EXIT_FAILED;
    }
    if (pid == 0)
        attach_child(g, services, n_services, &old);
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGCHLD)
            break;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            return WIFEXITED(status) ? WEXITSTATUS(status) : AGENT_EXIT_FAILED;
        }
    }
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    /* A second Ctrl-C during the stop ends m87-agent at once. */
    sigprocmask(SIG_SETMASK, &old, NULL);
    return attach_stop(g, services, n_services);
}
