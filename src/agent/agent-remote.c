/* Remote access, the daemon's side: each channel of a sync answer gets a process of its own. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent-remote.h"
#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/remote.h"
#include "agent/trust.h"
#include "m87/alloc.h"
#include "m87/json.h"
#include "m87/log.h"

static bool valid_id(const char *id)
{
    if (!id || strncmp(id, "r-", 2) != 0 || strlen(id) > 64)
        return false;
    for (const char *p = id + 2; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return id[2] != '\0';
}

/* Why the channel may not run here, NULL when it may. Caller frees. */
static char *refusal(struct agent_daemon *d, const struct m87_json *node, const char *what)
{
    unsigned bit = agent_remote_bit(what);
    if (bit == 0)
        return m87_xasprintf("unknown remote request '%s'", what);
    if (!(d->cfg->remote & bit)) {
        _cleanup_free_ char *names = agent_remote_names(d->cfg->remote);
        return m87_xasprintf("%s is not allowed on this device (it allows: %s; the agent's "
                             "config sets it with `remote = %s`)",
                             what, names, what);
    }
    char *why = NULL;
    if (agent_trust_remote(d, node, &why) < 0) /* with trusted keys: its grant */
        return why;
    return NULL;
}

static void spawn(struct agent_daemon *d, const char *id, const struct m87_json *req,
                  const char *refused)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* the grandchild is nobody's to reap: the intermediate exits at once */
        if (fork() == 0)
            agent_remote_child(d, id, req, refused);
        _exit(0);
    }
    if (pid < 0) {
        m87_log(M87_LOG_ERR, "remote %s: fork: %s", id, strerror(errno));
        return;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

size_t agent_remote_take(struct agent_daemon *d, const struct m87_json *list)
{
    if (!list || m87_json_type(list) != M87_JSON_ARRAY)
        return 0;
    for (size_t i = 0; i < m87_json_len(list); i++) {
        const struct m87_json *node = m87_json_at(list, i);
        const char *id = m87_json_str(m87_json_get(node, "id"), NULL);
        const struct m87_json *req = m87_json_get(node, "request");
        if (!valid_id(id) || !req || m87_json_type(req) != M87_JSON_OBJECT) {
            m87_log(M87_LOG_ERR, "remote: a channel without a valid id or request ignored");
            continue;
        }
        const char *what = m87_json_str(m87_json_get(req, "what"), "?");
        _cleanup_free_ char *why = refusal(d, node, what);
        if (why)
            m87_log(M87_LOG_WARN, "remote %s: %s refused: %s", id, what, why);
        else
            m87_log(M87_LOG_INFO, "remote %s: %s", id, what);
        spawn(d, id, req, why);
    }
    return m87_json_len(list);
}
