/* The pulls of `m87 DEVICE prefetch IMAGE`, in the prefetch child: each requested image that is
 * not on the device is pulled, and its progress goes to the server as "prefetch" records
 * ({"image","state","layers_done","layers_total","bytes_done","bytes_total","message"}), at most
 * one a PROGRESS_MS while it runs, and one at its end: state "pulling", "done" or "failed". */
#include <string.h>

#include "agent/agent-window.h"
#include "agent/clock.h"
#include "agent/daemon.h"
#include "agent/prefetch.h"
#include "agent/target.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine-creds.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/time.h"

#define PROGRESS_MS 1000L
#define PULL_STALL_MS 300000L
#define MAX_LAYERS 256

struct layer {
    char *id;
    bool done;
    int64_t current;
    int64_t total;
};

struct pull_state {
    struct runner_journal *journal;
    const struct engine_creds *creds;
    const char *image;
    const char *state;
    const char *message;
    struct layer layers[MAX_LAYERS];
    size_t n_layers;
    int64_t reported_at; /* monotonic ms */
};

static void prefetch_fill(struct m87_jw *w, const void *ctx)
{
    const struct pull_state *p = ctx;
    int64_t done = 0, cur = 0, total = 0;

    for (size_t i = 0; i < p->n_layers; i++) {
        done += p->layers[i].done;
        cur +=
            p->layers[i].done && p->layers[i].total > 0 ? p->layers[i].total : p->layers[i].current;
        total += p->layers[i].total;
    }
    m87_jw_kstr(w, "kind", "prefetch");
    m87_jw_kstr(w, "image", p->image);
    m87_jw_kstr(w, "state", p->state);
    m87_jw_kint(w, "layers_done", done);
    m87_jw_kint(w, "layers_total", (int64_t)p->n_layers);
    m87_jw_kint(w, "bytes_done", cur);
    m87_jw_kint(w, "bytes_total", total);
    m87_jw_kstr(w, "message", p->message);
}

static void report(struct pull_state *p, const char *state, const char *message)
{
    _cleanup_error_ struct m87_error *err = NULL;

    p->state = state;
    p->message = message;
    p->reported_at = m87_mono_ms();
    if (runner_journal_append(p->journal, prefetch_fill, p, NULL, &err) < 0)
        m87_log(M87_LOG_ERR, "%s", err->msg);
}

static struct layer *layer(struct pull_state *p, const char *id)
{
    for (size_t i = 0; i < p->n_layers; i++)
        if (strcmp(p->layers[i].id, id) == 0)
            return &p->layers[i];
    if (p->n_layers == MAX_LAYERS)
        return NULL;
    struct layer *l = &p->layers[p->n_layers++];
    *l = (struct layer){.id = m87_xstrdup(id)};
    return l;
}

/* Layer messages name a layer id; the others (the tag's "Pulling from", the digest, the final
 * status) say nothing countable. */
static int on_pull(void *ctx, const struct engine_pull_msg *msg)
{
    static const char *const layer_states[] = {
        "Pulling fs layer",  "Waiting",    "Downloading",   "Verifying Checksum",
        "Download complete", "Extracting", "Pull complete", "Already exists"};
    struct pull_state *p = ctx;
    bool known = false;

    for (size_t i = 0; msg->id && msg->status && i < M87_ARRAY_LEN(layer_states); i++)
        known = known || strcmp(msg->status, layer_states[i]) == 0;
    struct layer *l = known ? layer(p, msg->id) : NULL;
    if (!l)
        return 0;
    if (strcmp(msg->status, "Downloading") == 0 && msg->current >= 0) {
        l->current = msg->current;
        if (msg->total > 0)
            l->total = msg->total;
    }
    l->done = l->done || strcmp(msg->status, "Pull complete") == 0 ||
              strcmp(msg->status, "Already exists") == 0;
    if (m87_mono_ms() - p->reported_at >= PROGRESS_MS)
        report(p, "pulling", NULL);
    return 0;
}

static void layers_release(struct pull_state *p)
{
    for (size_t i = 0; i < p->n_layers; i++)
        free(p->layers[i].id);
    p->n_layers = 0;
}

/* One image: 0 present or pulled, -1 failed. */
static int pull_one(struct engine_client *ec, struct pull_state *p)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct engine_image_info *info = NULL;
    _cleanup_(engine_registry_auth_release) struct engine_registry_auth auth = {0};
    struct engine_pull_options po = {.stall_ms = PULL_STALL_MS};

    if (engine_image_inspect(ec, p->image, &info, NULL) == 0) {
        engine_image_info_free(info);
        report(p, "done", "already on the device");
        return 0;
    }
    m87_log(M87_LOG_INFO, "prefetch: pulling requested image %s", p->image);
    report(p, "pulling", NULL);
    int rc = agent_prefetch_pull(ec, p->creds, p->image, &po, &auth, on_pull, p, &err);
    if (rc < 0) {
        m87_log(M87_LOG_WARN, "prefetch: %s", err->msg);
        report(p, "failed", err->msg);
    } else {
        report(p, "done", "pulled");
    }
    layers_release(p);
    return rc;
}

int agent_prefetch_images_run(struct agent_daemon *d, const struct m87_strv *images,
                              const struct agent_target *policy)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *dir = m87_xasprintf("%s/reports", d->cfg->state_dir);
    struct engine_client_options eo = {.host = d->cfg->docker_host};
    _cleanup_(runner_journal_freep) struct runner_journal *j = runner_journal_open(dir, &err);
    _cleanup_(engine_client_freep) struct engine_client *ec =
        j ? engine_client_new(&eo, &err) : NULL;
    int rc = AGENT_PREFETCH_OK;

    if (!ec) {
        m87_log(M87_LOG_ERR, "prefetch: %s", err->msg);
        return AGENT_PREFETCH_FAILED;
    }
    _cleanup_(engine_creds_freep) struct engine_creds *creds = agent_prefetch_creds();
    struct pull_state *p = m87_xcalloc(1, sizeof(*p));
    p->journal = j;
    p->creds = creds;
    for (size_t i = 0; i < images->len; i++) {
        if (policy->prefetch_window && !agent_window_inside(policy, agent_clock_now())) {
            m87_log(M87_LOG_INFO, "prefetch: the window ended; the next pull waits for the next");
            rc = rc == AGENT_PREFETCH_OK ? AGENT_PREFETCH_ENDED : rc;
            break;
        }
        p->image = images->items[i];
        if (pull_one(ec, p) < 0)
            rc = AGENT_PREFETCH_FAILED; /* the others are still tried */
    }
    free(p);
    return rc;
}
