/* Image pruning after a successful apply. STATE/images.json remembers, per revision applied, the
 * images its jobs' containers were made from: {"revisions":[{"hash","images":[{"ref","id"}]}]},
 * oldest first, the applied revision and keep-previous before it. The images of a revision that
 * falls out of that list are removed unless a kept revision or any container (of a job or not)
 * uses them, so a rollback to a kept revision needs no pull, and images the agent never saw its
 * jobs use are left alone. */
#include <stdio.h>
#include <string.h>

#include "agent/containers.h"
#include "agent/daemon.h"
#include "agent/prune.h"
#include "agent/rollout.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"

#define MAX_IMAGES_FILE (4u * 1024 * 1024)

struct revision_images {
    char *hash;
    struct m87_kvlist images; /* ref -> image ID */
};

struct history {
    struct revision_images *revs;
    size_t n;
};

static void history_release(struct history *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->revs[i].hash);
        m87_kvlist_release(&h->revs[i].images);
    }
    free(h->revs);
    *h = (struct history){0};
}

static struct revision_images *history_add(struct history *h, const char *hash)
{
    h->revs = m87_xrealloc(h->revs, (h->n + 1) * sizeof(*h->revs));
    struct revision_images *r = &h->revs[h->n++];
    r->hash = m87_xstrdup(hash);
    m87_kvlist_init(&r->images);
    return r;
}

static void history_load(const char *path, struct history *h)
{
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, MAX_IMAGES_FILE, &len, NULL);
    _cleanup_(m87_json_freep) struct m87_json *doc = text ? m87_json_parse(text, len, NULL) : NULL;
    const struct m87_json *revs = m87_json_get(doc, "revisions");

    for (size_t i = 0; i < m87_json_len(revs); i++) {
        const struct m87_json *r = m87_json_at(revs, i);
        struct revision_images *ri = history_add(h, m87_json_str(m87_json_get(r, "hash"), ""));
        const struct m87_json *imgs = m87_json_get(r, "images");
        for (size_t k = 0; k < m87_json_len(imgs); k++) {
            const struct m87_json *im = m87_json_at(imgs, k);
            m87_kvlist_set(&ri->images, m87_json_str(m87_json_get(im, "ref"), ""),
                           m87_json_str(m87_json_get(im, "id"), ""));
        }
    }
}

static void history_save(const char *path, const struct history *h, size_t from)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    m87_jw_key(w, "revisions");
    m87_jw_arr_open(w);
    for (size_t i = from; i < h->n; i++) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "hash", h->revs[i].hash);
        m87_jw_key(w, "images");
        m87_jw_arr_open(w);
        for (size_t k = 0; k < h->revs[i].images.len; k++) {
            m87_jw_obj_open(w);
            m87_jw_kstr(w, "ref", h->revs[i].images.items[k].key);
            m87_jw_kstr(w, "id", h->revs[i].images.items[k].value);
            m87_jw_obj_close(w);
        }
        m87_jw_arr_close(w);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    if (m87_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        m87_log(M87_LOG_ERR, "%s", err->msg);
}

/* The images of the applied jobs' containers become the applied revision's entry. */
static int record_current(struct agent_daemon *d, const char *hash, struct history *h,
                          struct m87_error **err)
{
    struct agent_container *v = NULL;
    size_t n = 0;

    if (agent_containers_list(d, &v, &n, err) < 0)
        return -1;
    struct revision_images *cur = h->n && strcmp(h->revs[h->n - 1].hash, hash) == 0
                                      ? &h->revs[h->n - 1]
                                      : history_add(h, hash);
    m87_kvlist_release(&cur->images);
    m87_kvlist_init(&cur->images);
    for (size_t i = 0; i < n; i++)
        if (*v[i].image)
            m87_kvlist_set(&cur->images, v[i].image, v[i].image_id);
    agent_containers_free(v, n);
    return 0;
}

/* Image IDs and references that must stay: those of the kept revisions and of every container. */
static int needed_images(struct agent_daemon *d, const struct history *h, size_t from,
                         struct m87_strv *keep, struct m87_error **err)
{
    struct engine_container_summary *list = NULL;
    size_t n = 0;

    if (engine_container_list(agent_daemon_engine(d, err), true, NULL, &list, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        m87_strv_add(keep, list[i].image_id ? list[i].image_id : "");
        m87_strv_add(keep, list[i].image ? list[i].image : "");
    }
    engine_container_summaries_free(list, n);
    for (size_t i = from; i < h->n; i++)
        for (size_t k = 0; k < h->revs[i].images.len; k++) {
            m87_strv_add(keep, h->revs[i].images.items[k].key);
            m87_strv_add(keep, h->revs[i].images.items[k].value);
        }
    return 0;
}

static bool listed(const struct m87_strv *v, const char *s)
{
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->items[i], s) == 0)
            return true;
    return false;
}

static void remove_image(struct agent_daemon *d, const char *ref)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (engine_image_remove(agent_daemon_engine(d, NULL), ref, false, false, &err) == 0)
        m87_log(M87_LOG_INFO, "removed image %s: no kept revision uses it", ref);
    else if (m87_error_code(err) != M87_E_NOTFOUND)
        m87_log(M87_LOG_WARN, "remove image %s: %s", ref, err->msg);
}

void agent_prune_images(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = m87_xasprintf("%s/images.json", d->cfg->state_dir);
    const char *hash = agent_daemon_applied_hash(d);
    struct history h = {0};
    struct m87_strv keep;

    m87_strv_init(&keep);
    history_load(path, &h);
    if (!agent_daemon_engine(d, &err) || record_current(d, hash ? hash : "", &h, &err) < 0)
        goto out;
    size_t kept = (size_t)d->cfg->keep_previous + 1;
    size_t from = h.n > kept ? h.n - kept : 0;
    /* the revision a rollout's watch keeps to go back to stays, whatever keep-previous says */
    const struct agent_target *prev = agent_rollout_previous(d);
    for (size_t i = 0; prev && !prev->stop && i < from; i++)
        if (strcmp(h.revs[i].hash, prev->hash) == 0)
            from = i;
    if (from && needed_images(d, &h, from, &keep, &err) < 0)
        goto out;
    for (size_t i = 0; i < from; i++)
        for (size_t k = 0; k < h.revs[i].images.len; k++) {
            const struct m87_kv *im = &h.revs[i].images.items[k];
            if (!listed(&keep, im->key) && !listed(&keep, im->value))
                remove_image(d, im->key);
        }
    history_save(path, &h, from);
out:
    if (err)
        m87_log(M87_LOG_WARN, "prune images: %s", err->msg);
    m87_strv_release(&keep);
    history_release(&h);
}
