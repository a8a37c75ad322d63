/* The containers of the applied jobs, found by the compose label of their project's working
 * directory, and the daemon's engine client that lists them (for log shipping, health reports
 * and image pruning). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/containers.h"
#include "agent/daemon.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/runner-state.h"

#define WORKDIR_LABEL "com.docker.compose.project.working_dir"
#define SERVICE_LABEL "com.docker.compose.service"

struct engine_client *agent_daemon_engine(struct agent_daemon *d, struct m87_error **err)
{
    struct engine_client_options o = {.host = d->cfg->docker_host, .timeout_ms = 10000};

    if (!d->engine)
        d->engine = engine_client_new(&o, err);
    return d->engine;
}

void agent_containers_free(struct agent_container *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].name);
        free(v[i].job);
        free(v[i].job_hash);
        free(v[i].service);
        free(v[i].state);
        free(v[i].status);
        free(v[i].image);
        free(v[i].image_id);
    }
    free(v);
}

static bool inside(const char *dir, const char *workdir)
{
    size_t n = strlen(workdir);
    return dir && strncmp(dir, workdir, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

static void add_container(struct agent_container **out, size_t *n,
                          const struct engine_container_summary *s, const struct runner_record *rec)
{
    *out = m87_xrealloc(*out, (*n + 1) * sizeof(**out));
    (*out)[(*n)++] = (struct agent_container){
        .id = m87_xstrdup(s->id),
        .name = m87_xstrdup(s->name),
        .job = m87_xstrdup(rec->id),
        .job_hash = m87_xstrdup(rec->hash),
        .service = m87_xstrdup(m87_kvlist_get(&s->labels, SERVICE_LABEL)
                                   ? m87_kvlist_get(&s->labels, SERVICE_LABEL)
                                   : ""),
        .state = m87_xstrdup(s->state ? s->state : ""),
        .status = m87_xstrdup(s->status ? s->status : ""),
        .image = m87_xstrdup(s->image ? s->image : ""),
        .image_id = m87_xstrdup(s->image_id ? s->image_id : ""),
    };
}

/* The job records of the runner's state; jobs being stopped or stopped have no containers of
 * interest. */
static void load_records(struct agent_daemon *d, struct runner_record **recs, size_t *n)
{
    struct m87_strv ids;

    m87_strv_init(&ids);
    if (runner_state_list(d->cfg->state_dir, &ids, NULL) < 0)
        return;
    *recs = m87_xcalloc(ids.len + 1, sizeof(**recs));
    for (size_t i = 0; i < ids.len; i++) {
        struct runner_record rec = {0};
        if (runner_record_load(d->cfg->state_dir, ids.items[i], &rec, NULL) > 0 && rec.workdir &&
            strcmp(rec.state, RUNNER_STOPPED) != 0 && strcmp(rec.state, RUNNER_STOPPING) != 0)
            (*recs)[(*n)++] = rec;
        else
            runner_record_release(&rec);
    }
    m87_strv_release(&ids);
}

int agent_containers_list(struct agent_daemon *d, struct agent_container **out, size_t *n,
                          struct m87_error **err)
{
    struct engine_client *c = agent_daemon_engine(d, err);
    struct runner_record *recs = NULL;
    size_t n_recs = 0;
    struct engine_container_summary *list = NULL;
    size_t n_list = 0;
    struct m87_kvlist filters;

    *out = NULL;
    *n = 0;
    if (!c)
        return -1;
    load_records(d, &recs, &n_recs);
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", WORKDIR_LABEL);
    int rc = n_recs ? engine_container_list(c, true, &filters, &list, &n_list, err) : 0;
    m87_kvlist_release(&filters);
    for (size_t i = 0; rc == 0 && i < n_list; i++) {
        const char *dir = m87_kvlist_get(&list[i].labels, WORKDIR_LABEL);
        for (size_t k = 0; k < n_recs; k++)
            if (inside(dir, recs[k].workdir)) {
                add_container(out, n, &list[i], &recs[k]);
                break;
            }
    }
    engine_container_summaries_free(list, n_list);
    for (size_t k = 0; k < n_recs; k++)
        runner_record_release(&recs[k]);
    free(recs);
    return rc;
}
