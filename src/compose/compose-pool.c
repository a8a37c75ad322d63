/* The pool: a graph of services worked on by a bounded number of threads, each thread with a
 * client (and so a connection to dockerd) of its own.
 *
 * The calling thread is a worker too, with the run's own client; more workers are started
 * only while work is waiting and nobody is idle, so that a run with one thing to do starts no
 * thread at all. */
#include <malloc.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"

enum node_state {
    NODE_PENDING,   /* its turn has not come */
    NODE_PREPARING, /* prepare is running */
    NODE_ITEMS,     /* its items are being handed out */
    NODE_DONE,
};

#define UNIT_PREPARE SIZE_MAX

struct node {
    enum node_state state;
    bool forced; /* taken without its dependencies: a cycle */
    size_t n_items;
    size_t next_item;
    size_t items_left; /* handed out or not, not finished */
};

struct pool {
    struct compose_run *r;
    const struct compose_pool_ops *ops;
    void *ctx;
    size_t n;
    const size_t *order;
    struct node *nodes;
    bool *waits; /* n x n: waits[i * n + j] when node i waits for node j */
    size_t done;
    size_t running; /* units taken and not finished */
    size_t idle;    /* workers waiting for work */
    size_t max_threads;
    size_t n_threads;
    pthread_t threads[COMPOSE_PARALLEL];
    struct m87_error *first; /* the first failure: no unit is taken after it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct unit {
    size_t node;
    size_t item; /* UNIT_PREPARE for the node's prepare */
};

/* ---- choosing work (under mu) ------------------------------------------------------------- */

static bool ready(const struct pool *pl, size_t i)
{
    if (pl->nodes[i].state != NODE_PENDING)
        return false;
    if (pl->nodes[i].forced)
        return true;
    for (size_t j = 0; j < pl->n; j++)
        if (pl->waits[i * pl->n + j] && pl->nodes[j].state != NODE_DONE)
            return false;
    return true;
}

/* Items of nodes already under way first: they finish nodes, which frees their dependents. */
static bool take(struct pool *pl, struct unit *u)
{
    if (pl->first != NULL)
        return false;
    for (size_t k = 0; k < pl->n; k++) {
        struct node *nd = &pl->nodes[pl->order[k]];
        if (nd->state == NODE_ITEMS && nd->next_item < nd->n_items) {
            *u = (struct unit){.node = pl->order[k], .item = nd->next_item++};
            return true;
        }
    }
    for (size_t k = 0; k < pl->n; k++) {
        if (ready(pl, pl->order[k])) {
            pl->nodes[pl->order[k]].state = NODE_PREPARING;
            *u = (struct unit){.node = pl->order[k], .item = UNIT_PREPARE};
            return true;
        }
    }
    return false;
}

static size_t waiting_work(const struct pool *pl)
{
    size_t n = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const struct node *nd = &pl->nodes[i];
        n += nd->state == NODE_ITEMS ? nd->n_items - nd->next_item : ready(pl, i);
    }
    return n;
}

/* Nothing runs, nothing is ready, and nodes are left: they wait on each other. The loader
 * refuses cycles; should one get here, the first node in order goes, as compose_order does. */
static void break_cycle(struct pool *pl)
{
    for (size_t k = 0; k < pl->n; k++) {
        struct node *nd = &pl->nodes[pl->order[k]];
        if (nd->state == NODE_PENDING) {
            nd->forced = true;
            return;
        }
    }
}

static void finish(struct pool *pl, const struct unit *u, int rc, size_t n_items,
                   struct m87_error *e)
{
    struct node *nd = &pl->nodes[u->node];
    pl->running--;
    if (rc < 0) {
        if (pl->first == NULL)
            pl->first = e;
        else
            m87_error_free(e);
    } else if (u->item == UNIT_PREPARE) {
        nd->n_items = n_items;
        nd->items_left = n_items;
        nd->state = n_items > 0 ? NODE_ITEMS : NODE_DONE;
        pl->done += n_items == 0;
    } else if (--nd->items_left == 0) {
        nd->state = NODE_DONE;
        pl->done++;
    }
    pthread_cond_broadcast(&pl->cv);
}

/* ---- workers ------------------------------------------------------------------------------- */

static void *worker_main(void *arg);

static void maybe_spawn(struct pool *pl)
{
    if (pl->n_threads >= pl->max_threads || waiting_work(pl) <= pl->idle)
        return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, COMPOSE_STACK_SIZE);
    if (pthread_create(&pl->threads[pl->n_threads], &attr, worker_main, pl) == 0)
        pl->n_threads++;
    else
        pl->max_threads = pl->n_threads; /* go on with those there are */
    pthread_attr_destroy(&attr);
}

static int run_unit(struct pool *pl, struct compose_run *view, const struct unit *u,
                    size_t *n_items, struct m87_error **e)
{
    if (u->item == UNIT_PREPARE)
        return pl->ops->prepare(view, pl->ctx, u->node, n_items, e);
    return pl->ops->item(view, pl->ctx, u->node, u->item, e);
}

/* Take and run units until there are none left or a failure stops the run. The calling
 * thread (main) stays until nothing runs any more, so that no worker outlives the pool. */
static void work(struct pool *pl, struct compose_run *view, bool main)
{
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        struct unit u;
        if (take(pl, &u)) {
            pl->running++;
            maybe_spawn(pl);
            pthread_mutex_unlock(&pl->mu);
            size_t n_items = 0;
            struct m87_error *e = NULL;
            int rc = run_unit(pl, view, &u, &n_items, &e);
            pthread_mutex_lock(&pl->mu);
            finish(pl, &u, rc, n_items, e);
            continue;
        }
        bool over = pl->first != NULL || pl->done == pl->n;
        if (over && (!main || pl->running == 0))
            break;
        if (!over && pl->running == 0) {
            break_cycle(pl);
            continue;
        }
        pl->idle++;
        pthread_cond_wait(&pl->cv, &pl->mu);
        pl->idle--;
    }
    pthread_mutex_unlock(&pl->mu);
}

static void *worker_main(void *arg)
{
    struct pool *pl = arg;
    _cleanup_(engine_client_freep) struct engine_client *c = engine_client_clone(pl->r->c);
    if (c == NULL)
        return NULL;
    struct compose_run view;
    compose_run_view(pl->r, c, &view);
    work(pl, &view, false);
    return NULL;
}

/* ---- the run ------------------------------------------------------------------------------- */

static void pool_init(struct pool *pl, struct compose_run *r, size_t n, const size_t *order,
                      const bool *active, const struct compose_pool_ops *ops, void *ctx)
{
    memset(pl, 0, sizeof(*pl));
    pl->r = r;
    pl->ops = ops;
    pl->ctx = ctx;
    pl->n = n;
    pl->order = order;
    pl->nodes = m87_xcalloc(n ? n : 1, sizeof(*pl->nodes));
    pl->waits = m87_xcalloc(n ? n * n : 1, sizeof(*pl->waits));
    for (size_t i = 0; i < n; i++) {
        pl->nodes[i].state = active[i] ? NODE_PENDING : NODE_DONE;
        pl->done += !active[i];
        for (size_t j = 0; active[i] && j < n; j++)
            pl->waits[i * n + j] = j != i && active[j] && ops->waits(ctx, i, j);
    }
    /* a client that is not on a socket (the replay of the unit tests) cannot be cloned */
    pl->max_threads = engine_client_socket(r->c)[0] ? COMPOSE_PARALLEL - 1 : 0;
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->cv, NULL);
}

int compose_pool_run(struct compose_run *r, size_t n, const size_t *order, const bool *active,
                     const struct compose_pool_ops *ops, void *ctx, struct m87_error **err)
{
    struct pool pl;
    pool_init(&pl, r, n, order, active, ops, ctx);
    work(&pl, r, true);
    for (size_t i = 0; i < pl.n_threads; i++)
        pthread_join(pl.threads[i], NULL);
    pthread_cond_destroy(&pl.cv);
    pthread_mutex_destroy(&pl.mu);
    free(pl.nodes);
    free(pl.waits);
    if (pl.first == NULL)
        return 0;
    *err = pl.first;
    return -1;
}
