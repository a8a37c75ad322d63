/* What a session's grandchild runs, printing to the session: `compose ...` through the same front
 * end as `m87-agent compose` (with the interactive label added to what `up` makes), `docker ps`
 * and `docker logs` over the Engine API. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent-internal.h"
#include "agent/agent-session.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine-containers.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner.h"
#include "m87/spec-project.h"
#include "m87/yaml-write.h"

#define OVERRIDE_FILE ".m87-interactive.yml"

/* ---- compose ----------------------------------------------------------------------------------
 */

/* A compose file over the project's that puts the interactive label on every service: the
 * executor then writes it on each container and takes it into the config hash. */
static int write_override(const struct spec_project *p, const char *path, struct m87_error **err)
{
    struct m87_yw *w = m87_yw_new();
    m87_yw_map_open(w);
    m87_yw_key(w, "services");
    m87_yw_map_open(w);
    for (size_t i = 0; i < p->n_services + p->disabled_services.len; i++) {
        m87_yw_key(w, i < p->n_services ? p->services[i].name
                                        : p->disabled_services.items[i - p->n_services]);
        m87_yw_map_open(w);
        m87_yw_key(w, "labels");
        m87_yw_map_open(w);
        m87_yw_kstr(w, AGENT_INTERACTIVE_LABEL, "true");
        m87_yw_map_close(w);
        m87_yw_map_close(w);
    }
    m87_yw_map_close(w);
    m87_yw_map_close(w);
    _cleanup_free_ char *text = m87_yw_finish(w);
    return m87_write_file_atomic(path, text, strlen(text), 0644, err);
}

/* The compose files of the project as loaded in dir, absolute, plus the override. */
static int up_files(const struct agent_session_req *q, const char *dir, struct m87_strv *files)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(spec_project_freep) struct spec_project *p = NULL;
    struct spec_load_options lo = {.files = (const char *const *)q->files.items,
                                   .n_files = q->files.len,
                                   .project_name = q->project,
                                   .project_dir = dir};

    p = spec_compose_load(&lo, &err);
    if (!p) {
        agent_print_error(err);
        return AGENT_EXIT_USAGE;
    }
    _cleanup_free_ char *override = m87_xasprintf("%s/%s", dir, OVERRIDE_FILE);
    if (write_override(p, override, &err) < 0) {
        agent_print_error(err);
        return AGENT_EXIT_FAILED;
    }
    for (size_t i = 0; i < p->config_files.len; i++)
        m87_strv_add(files, p->config_files.items[i]);
    m87_strv_add(files, override);
    return AGENT_EXIT_OK;
}

static bool changes_containers(const char *sub)
{
    static const char *const subs[] = {"up", "down", "stop", "start", "restart", NULL};
    for (size_t i = 0; subs[i]; i++)
        if (strcmp(sub, subs[i]) == 0)
            return true;
    return false;
}

/* The containers, stopped ones too, of project (of every project when NULL), only those a
 * session started when interactive. */
static int list_containers(struct engine_client *c, const char *project, bool interactive,
                           struct engine_container_summary **v, size_t *n, struct m87_error **err)
{
    _cleanup_free_ char *label =
        project ? m87_xasprintf("com.docker.compose.project=%s", project) : NULL;
    struct m87_kvlist filters;

    m87_kvlist_init(&filters);
    if (label)
        m87_kvlist_add(&filters, "label", label);
    if (interactive)
        m87_kvlist_add(&filters, "label", AGENT_INTERACTIVE_LABEL "=true");
    int rc = engine_container_list(c, true, &filters, v, n, err);
    m87_kvlist_release(&filters);
    return rc;
}

/* Containers of the project that a deployment made (no interactive label) are not a session's
 * to change: the two would fight over them. */
static int check_not_deployed(const char *project)
{
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    struct engine_container_summary *v = NULL;
    size_t n = 0;
    int rc = agent_open_client(&c);

    if (rc != AGENT_EXIT_OK)
        return rc;
    if (list_containers(c, project, false, &v, &n, &err) < 0) {
        agent_print_error(err);
        return AGENT_EXIT_FAILED;
    }
    size_t deployed = 0;
    for (size_t i = 0; i < n; i++)
        deployed += !m87_kvlist_has(&v[i].labels, AGENT_INTERACTIVE_LABEL);
    engine_container_summaries_free(v, n);
    if (deployed == 0)
        return AGENT_EXIT_OK;
    fprintf(stderr,
            "m87-agent: project '%s' belongs to a deployment of this device (%zu of its containers "
            "are not interactive); give the interactive stack another name with -p\n",
            project, deployed);
    return AGENT_EXIT_FAILED;
}

static int run_compose(const struct agent_session_req *q, const char *dir)
{
    struct m87_strv argv, files;
    const char *sub = q->args.items[0];

    m87_strv_init(&argv);
    m87_strv_init(&files);
    int rc = changes_containers(sub) ? check_not_deployed(q->project) : AGENT_EXIT_OK;
    if (rc == AGENT_EXIT_OK && strcmp(sub, "up") == 0)
        rc = up_files(q, dir, &files);
    else
        for (size_t i = 0; i < q->files.len; i++)
            m87_strv_add(&files, q->files.items[i]);
    if (rc != AGENT_EXIT_OK) {
        m87_strv_release(&files);
        return rc;
    }
    const char *head[] = {"compose", "--progress", "plain", "-p", q->project};
    for (size_t i = 0; i < M87_ARRAY_LEN(head); i++)
        m87_strv_add(&argv, head[i]);
    for (size_t i = 0; i < files.len; i++) {
        m87_strv_add(&argv, "-f");
        m87_strv_add(&argv, files.items[i]);
    }
    for (size_t i = 0; i < q->args.len; i++)
        m87_strv_add(&argv, q->args.items[i]);
    optind = 0; /* glibc: a fresh getopt for the compose front end */
    rc = agent_cmd_compose((int)argv.len, argv.items);
    m87_strv_release(&argv);
    m87_strv_release(&files);
    return rc;
}

static void write_container(struct m87_jw *w, const struct engine_container_summary *c)
{
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", c->id);
    m87_jw_kstr(w, "name", c->name);
    m87_jw_kstr(w, "service", m87_kvlist_get(&c->labels, "com.docker.compose.service"));
    m87_jw_kstr(w, "image", c->image);
    m87_jw_kstr(w, "state", c->state);
    m87_jw_kstr(w, "status", c->status);
    m87_jw_obj_close(w);
}

/* list_containers of the interactive ones, on a client of its own for docker_host. */
static int list_interactive(const char *docker_host, const char *project,
                            struct engine_container_summary **v, size_t *n)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct engine_client_options co = {.host = docker_host};
    _cleanup_(engine_client_freep) struct engine_client *c = engine_client_new(&co, &err);

    if (!c)
        return -1;
    return list_containers(c, project, true, v, n, &err);
}

char *agent_session_interactive(const char *docker_host, const char *project)
{
    struct engine_container_summary *v = NULL;
    size_t n = 0;

    if (list_interactive(docker_host, project, &v, &n) < 0)
        return NULL;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "project", project);
    m87_jw_key(w, "containers");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        write_container(w, &v[i]);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    engine_container_summaries_free(v, n);
    return m87_jw_finish(w);
}

/* The working directories of the interactive containers: session directories still in use
 * (their bind mounts, their compose files). */
static int interactive_dirs(const char *docker_host, struct m87_strv *dirs)
{
    struct engine_container_summary *v = NULL;
    size_t n = 0;
    int rc = list_interactive(docker_host, NULL, &v, &n);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *wd = m87_kvlist_get(&v[i].labels, "com.docker.compose.project.working_dir");
        if (wd)
            m87_strv_add(dirs, wd);
    }
    engine_container_summaries_free(v, n);
    return rc;
}

void agent_session_prune_dirs(const char *state_dir, const char *docker_host)
{
    _cleanup_free_ char *root = m87_xasprintf("%s/sessions", state_dir);
    struct m87_strv used;
    DIR *dh = opendir(root);
    time_t now = time(NULL);

    m87_strv_init(&used);
    if (!dh || interactive_dirs(docker_host, &used) < 0) {
        if (dh)
            closedir(dh);
        m87_strv_release(&used);
        return;
    }
    for (struct dirent *e; (e = readdir(dh)) != NULL;) {
        _cleanup_error_ struct m87_error *err = NULL;
        _cleanup_free_ char *path = m87_xasprintf("%s/%s", root, e->d_name);
        struct stat st;
        bool keep = e->d_name[0] == '.' || lstat(path, &st) < 0 ||
                    now - st.st_mtime < AGENT_SESSION_DIR_KEEP_S;
        for (size_t i = 0; i < used.len && !keep; i++)
            keep = strcmp(used.items[i], path) == 0;
        if (!keep && m87_remove_tree(path, &err) < 0)
            m87_log(M87_LOG_WARN, "%s", err->msg);
    }
    closedir(dh);
    m87_strv_release(&used);
}

/* ---- docker ps --------------------------------------------------------------------------------
 */

static int ps_parse(int argc, char **argv, bool *all)
{
    static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {0}};
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":a", opts, NULL)) != -1) {
        if (ch != 'a')
            return agent_bad_option("docker ps", argv, ch);
        *all = true;
    }
    return agent_no_operands("docker ps", argc, argv);
}

static void ps_print(const struct engine_container_summary *v, size_t n)
{
    int w_image = 5, w_status = 6;
    for (size_t i = 0; i < n; i++) {
        int a = (int)strlen(v[i].image ? v[i].image : ""), b = (int)strlen(v[i].status);
        w_image = a > w_image ? a : w_image;
        w_status = b > w_status ? b : w_status;
    }
    printf("%-12s  %-*s  %-*s  %-11s  %s\n", "CONTAINER ID", w_image, "IMAGE", w_status, "STATUS",
           "INTERACTIVE", "NAMES");
    for (size_t i = 0; i < n; i++) {
        bool inter = m87_kvlist_has(&v[i].labels, AGENT_INTERACTIVE_LABEL);
        printf("%-12.12s  %-*s  %-*s  %-11s  %s\n", v[i].id, w_image, v[i].image ? v[i].image : "",
               w_status, v[i].status ? v[i].status : "", inter ? "yes" : "-", v[i].name);
    }
}

static int docker_ps(int argc, char **argv)
{
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    struct engine_container_summary *v = NULL;
    size_t n = 0;
    bool all = false;
    int rc = ps_parse(argc, argv, &all);

    if (rc == AGENT_EXIT_OK)
        rc = agent_open_client(&c);
    if (rc != AGENT_EXIT_OK)
        return rc;
    if (engine_container_list(c, all, NULL, &v, &n, &err) < 0) {
        agent_print_error(err);
        return AGENT_EXIT_FAILED;
    }
    ps_print(v, n);
    engine_container_summaries_free(v, n);
    return AGENT_EXIT_OK;
}

/* ---- docker logs ------------------------------------------------------------------------------
 */

static int on_log(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    (void)ctx;
    FILE *out = stream == ENGINE_STREAM_STDERR ? stderr : stdout;
    fwrite(data, 1, len, out);
    fputc('\n', out);
    fflush(out);
    return 0;
}

static int logs_parse(int argc, char **argv, struct engine_logs_options *o)
{
    static const struct option opts[] = {{"follow", no_argument, NULL, 'f'},
                                         {"timestamps", no_argument, NULL, 't'},
                                         {"tail", required_argument, NULL, 'n'},
                                         {0}};
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":ftn:", opts, NULL)) != -1) {
        if (ch == 'f')
            o->follow = true;
        else if (ch == 't')
            o->timestamps = true;
        else if (ch == 'n')
            o->tail = optarg;
        else
            return agent_bad_option("docker logs", argv, ch);
    }
    if (argc - optind != 1) {
        fprintf(stderr, "m87-agent: docker logs: expected one container\n");
        return AGENT_EXIT_USAGE;
    }
    return AGENT_EXIT_OK;
}

static int docker_logs(int argc, char **argv)
{
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    struct engine_logs_options o = {.lines = true};
    int rc = logs_parse(argc, argv, &o);

    if (rc == AGENT_EXIT_OK)
        rc = agent_open_client(&c);
    if (rc != AGENT_EXIT_OK)
        return rc;
    if (engine_container_logs(c, argv[optind], &o, on_log, NULL, &err) < 0) {
        agent_print_error(err);
        return m87_error_code(err) == M87_E_NOTFOUND ? AGENT_EXIT_USAGE : AGENT_EXIT_FAILED;
    }
    return AGENT_EXIT_OK;
}

int agent_session_command(const struct agent_session_req *q, const char *dir)
{
    if (strcmp(q->command, "compose") == 0)
        return run_compose(q, dir);
    struct m87_strv argv;
    m87_strv_init(&argv);
    m87_strv_add(&argv, q->command);
    for (size_t i = 0; i < q->args.len; i++)
        m87_strv_add(&argv, q->args.items[i]);
    int rc = strcmp(q->command, "ps") == 0 ? docker_ps((int)argv.len, argv.items)
                                           : docker_logs((int)argv.len, argv.items);
    m87_strv_release(&argv);
    return rc;
}
