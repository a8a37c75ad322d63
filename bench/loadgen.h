/* What the load tools of bench/ share (loadgen.c): many simulated clients of one m87-server over
 * loopback, each a keep-alive connection driven by one epoll loop, and a blocking connection
 * for the admin's setup calls.
 *
 * HTTP here is the minimum the tools need against our own server (Content-Length bodies,
 * keep-alive), written over raw non-blocking sockets so that 10,000 connections cost the tool
 * little; JSON goes through the common helpers. */
#ifndef M87_BENCH_LOADGEN_H
#define M87_BENCH_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>

#include "m87/buf.h"
#include "m87/compiler.h"

/* One client connection: a request out, its answer in, done called with the answer. */
struct lg_conn {
    int fd; /* -1 until the first request */
    struct m87_buf out;
    size_t out_off;
    struct m87_buf in;
    bool busy;
    double sent;
    void *owner;
    bool to_other; /* connect to lg_other_server()'s address instead of --server's */
    unsigned failures; /* connection failures in a row of the request in flight */
    double retry_at;   /* when it is sent again on a new connection; 0 when not waiting */
    void (*done)(struct lg_conn *c, int status, const char *body, size_t len);
};

/* Parse "IPv4:PORT", raise the open-file limit, ignore SIGPIPE, make the epoll set. */
void lg_init(const char *server, const char *admin_token);
/* A second server (IPv4:PORT, e.g. another replica on the same database) that connections
 * with to_other set go to; dies on a malformed address. */
void lg_other_server(const char *option, const char *server);
/* Monotonic seconds. */
double lg_now(void);
M87_NORETURN void lg_die(const char *fmt, ...) M87_PRINTF(1, 2);
void lg_conn_init(struct lg_conn *c, void *owner,
                  void (*done)(struct lg_conn *c, int status, const char *body, size_t len));
/* A blocking admin request on a kept-alive connection; the status, *resp the body (caller
 * frees; resp may be NULL). Dies when the server does not answer. */
int lg_admin_call(const char *method, const char *path, const char *body, char **resp);
/* The string member key of a JSON body; NULL when absent. Caller frees. */
char *lg_json_field(const char *body, const char *key);
/* Send a request on c (connecting it first when needed); its answer goes to c->done. */
void lg_send(struct lg_conn *c, const char *method, const char *path, const char *token,
             const char *body);
/* Run the loop for seconds, calling tick (may be NULL) after each turn (at most 5 ms apart).
 *
 * A connection that fails with a request in flight (refused, reset, closed before the answer)
 * is retried as the agent retries a failed sync (docs/agent.md, "Back-off"): on a new
 * connection, after a wait drawn at random in [0, min(60 s, 1 s x 2^(failures - 1))]. Under a
 * connect storm larger than a server's listen backlog the kernel resets connections the server
 * never accepted: a real fleet comes back like this, not all at once. */
void lg_run(double seconds, void (*tick)(void));
/* Connection failures retried so far. */
unsigned long lg_failures(void);
/* VmRSS of pid in KiB; -1 when unknown. */
long lg_rss_kb(int pid);
/* The p-quantile (0..1) of n sorted values. */
double lg_quantile(const double *sorted, size_t n, double p);
int lg_cmp_double(const void *a, const void *b);

#endif
