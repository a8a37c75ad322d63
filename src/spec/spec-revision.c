/* Revisions of a deployment: the hash of a run spec as a whole, and the edits that make the next
 * revision. One copy for the server (which makes revisions), the CLI (which signs the hash the
 * server will make) and the agent (which checks the hash of what it received). */
#include <string.h>
#include <sys/types.h>

#include "m87/alloc.h"
#include "m87/hash.h"
#include "m87/spec-revision.h"
#include "m87/spec-runspec.h"

static int cmp_job_ptr(const void *a, const void *b)
{
    const struct spec_job *x = *(const struct spec_job *const *)a;
    const struct spec_job *y = *(const struct spec_job *const *)b;
    return strcmp(x->id, y->id);
}

void spec_revision_hash(const struct spec_runspec *rs, char out[M87_SHA256_HEX_LEN + 1])
{
    _cleanup_free_ const struct spec_job **order =
        m87_xcalloc(rs->n_jobs ? rs->n_jobs : 1, sizeof(*order));
    for (size_t i = 0; i < rs->n_jobs; i++)
        order[i] = &rs->jobs[i];
    qsort(order, rs->n_jobs, sizeof(*order), cmp_job_ptr);

    struct m87_sha256 *h = m87_sha256_new();
    m87_sha256_update(h, SPEC_REVISION_HASH_PREFIX, strlen(SPEC_REVISION_HASH_PREFIX));
    for (size_t i = 0; i < rs->n_jobs; i++) {
        const struct spec_job *j = order[i];
        _cleanup_free_ char *line =
            m87_xasprintf("%s %s %s\n", j->id, j->hash, j->enabled ? "1" : "0");
        m87_sha256_update(h, line, strlen(line));
    }
    m87_sha256_final(h, out);
}

static ssize_t job_index(const struct spec_runspec *rs, const char *id)
{
    for (size_t i = 0; i < rs->n_jobs; i++)
        if (strcmp(rs->jobs[i].id, id) == 0)
            return (ssize_t)i;
    return -1;
}

void spec_runspec_merge(struct spec_runspec *base, struct spec_runspec *add)
{
    base->jobs = m87_xrealloc(base->jobs, (base->n_jobs + add->n_jobs + 1) * sizeof(*base->jobs));
    for (size_t i = 0; i < add->n_jobs; i++) {
        ssize_t at = job_index(base, add->jobs[i].id);
        if (at >= 0)
            spec_job_release(&base->jobs[at]);
        else
            at = (ssize_t)base->n_jobs++;
        base->jobs[at] = add->jobs[i];
        base->jobs[at].index = (size_t)at;
        memset(&add->jobs[i], 0, sizeof(add->jobs[i]));
    }
    add->n_jobs = 0;
}

bool spec_runspec_remove(struct spec_runspec *rs, const char *id)
{
    ssize_t at = job_index(rs, id);
    if (at < 0)
        return false;
    spec_job_release(&rs->jobs[at]);
    memmove(&rs->jobs[at], &rs->jobs[at + 1], (rs->n_jobs - (size_t)at - 1) * sizeof(*rs->jobs));
    rs->n_jobs--;
    for (size_t i = 0; i < rs->n_jobs; i++)
        rs->jobs[i].index = i;
    return true;
}
