/* Sync execution, the daemon's side: each session of a sync answer runs in a forked child of its
 * own, which talks to the server over its own connection; the daemon only starts and reaps them,
 * so that a command streaming for an hour never holds its loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/agent-session.h"
#include "agent/daemon.h"
#include "agent/sessions.h"
#include "agent/trust.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/spec-runspec.h"

struct agent_session_slot {
    char *id;
    pid_t pid;
};

struct agent_sessions {
    struct agent_session_slot slots[AGENT_SESSION_MAX];
    size_t n;
};

void agent_session_req_release(struct agent_session_req *q)
{
    free(q->id);
    free(q->command);
    free(q->project);
    free(q->refused);
    m87_strv_release(&q->args);
    m87_strv_release(&q->files);
    spec_runspec_free(q->rs);
    *q = (struct agent_session_req){0};
}

/* The job of a compose session, checked as a run spec job (the server did so too). */
static int parse_job(const struct m87_json *job, struct agent_session_req *q,
                     struct m87_error **err)
{
    q->rs = spec_runspec_parse_job(job, "job", err);
    return q->rs ? 0 : -1;
}

int agent_session_req_parse(const struct m87_json *node, struct agent_session_req *q,
                            struct m87_error **err)
{
    const struct m87_json *req = m87_json_get(node, "request");
    const char *id = m87_json_str(m87_json_get(node, "id"), NULL);
    const char *cmd = m87_json_str(m87_json_get(req, "command"), NULL);

    m87_strv_init(&q->args);
    m87_strv_init(&q->files);
    if (!id || !cmd || strchr(id, '/') || id[0] == '.')
        return m87_error_set(err, M87_E_PARSE, 0, "a session without an id or a command");
    q->id = m87_xstrdup(id);
    q->command = m87_xstrdup(cmd);
    m87_json_to_strv(m87_json_get(req, "args"), &q->args);
    const struct m87_json *c = m87_json_get(req, "compose");
    const char *project = m87_json_str(m87_json_get(c, "project"), NULL);
    q->project = project ? m87_xstrdup(project) : NULL;
    m87_json_to_strv(m87_json_get(c, "files"), &q->files);
    if (strcmp(cmd, "compose") == 0 && (!q->project || q->args.len == 0))
        return m87_error_set(err, M87_E_PARSE, 0,
                             "session %s: compose without a project or a "
                             "command",
                             id);
    const struct m87_json *job = m87_json_get(req, "job");
    return job && m87_json_type(job) == M87_JSON_OBJECT ? parse_job(job, q, err) : 0;
}

static bool running(const struct agent_sessions *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->slots[i].id, id) == 0)
            return true;
    return false;
}

static void start(struct agent_daemon *d, const struct agent_session_req *q)
{
    struct agent_sessions *s = d->sessions;

    if (s->n == AGENT_SESSION_MAX) {
        m87_log(M87_LOG_WARN, "session %s: %d sessions run already; it waits", q->id,
                AGENT_SESSION_MAX);
        return;
    }
    if (!q->refused)
        m87_log(M87_LOG_INFO, "session %s: %s %s", q->id, q->command,
                q->args.len ? q->args.items[0] : "");
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        agent_session_child(d, q, parent);
    if (pid < 0) {
        m87_log(M87_LOG_ERR, "session %s: fork: %s", q->id, strerror(errno));
        return;
    }
    s->slots[s->n].id = m87_xstrdup(q->id);
    s->slots[s->n++].pid = pid;
}

void agent_sessions_take(struct agent_daemon *d, const struct m87_json *list)
{
    if (!d->sessions)
        d->sessions = m87_xcalloc(1, sizeof(*d->sessions));
    for (size_t i = 0; i < m87_json_len(list); i++) {
        _cleanup_error_ struct m87_error *err = NULL;
        struct agent_session_req q = {0};
        const struct m87_json *node = m87_json_at(list, i);
        const char *id = m87_json_str(m87_json_get(node, "id"), "?");
        char *why = NULL;
        if (running(d->sessions, id)) {
            continue; /* sent again before its child said it started */
        } else if (agent_session_req_parse(node, &q, &err) < 0) {
            m87_log(M87_LOG_ERR, "session %s refused: %s", id, err->msg);
        } else if (agent_trust_session(d, node, &why) < 0) {
            /* its child tells the server, which tells the user */
            m87_log(M87_LOG_ERR, "session %s refused: %s", id, why);
            q.refused = m87_xasprintf("session refused: %s", why);
            free(why);
            start(d, &q);
        } else {
            start(d, &q);
        }
        agent_session_req_release(&q);
    }
}

static void forget(struct agent_sessions *s, size_t i)
{
    free(s->slots[i].id);
    s->slots[i] = s->slots[--s->n];
}

bool agent_sessions_running(const struct agent_daemon *d)
{
    return d->sessions && d->sessions->n > 0;
}

void agent_sessions_reap(struct agent_daemon *d)
{
    struct agent_sessions *s = d->sessions;
    int status = 0;

    for (size_t i = 0; s && i < s->n;) {
        if (waitpid(s->slots[i].pid, &status, WNOHANG) == s->slots[i].pid) {
            m87_log(M87_LOG_INFO, "session %s ended", s->slots[i].id);
            forget(s, i);
        } else {
            i++;
        }
    }
}

void agent_sessions_stop(struct agent_daemon *d)
{
    struct agent_sessions *s = d->sessions;

    for (size_t i = 0; s && i < s->n; i++)
        kill(s->slots[i].pid, SIGTERM);
    while (s && s->n) {
        waitpid(s->slots[0].pid, NULL, 0);
        forget(s, 0);
    }
    free(s);
    d->sessions = NULL;
}
