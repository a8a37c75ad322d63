/* Exec in a running container (include/m87/engine.h has the contract of every call). */
#ifndef M87_ENGINE_EXEC_H
#define M87_ENGINE_EXEC_H

#include <stdbool.h>
#include "m87/buf.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

struct engine_exec_config {
    const struct m87_strv *argv; /* required */
    const struct m87_strv *env;  /* "K=V", may be NULL */
    const char *user;
    const char *working_dir;
    bool tty;
    bool privileged; /* sent only when true */
};

int engine_exec_create(struct engine_client *c, const char *container_id,
                       const struct engine_exec_config *cfg, char **exec_id,
                       struct m87_error **err);
/* Start attached and read its output to the end. fn may be NULL to discard output. */
int engine_exec_start(struct engine_client *c, const char *exec_id, bool tty, engine_output_fn fn,
                      void *ctx, struct m87_error **err);

struct engine_exec_info {
    bool running;
    int exit_code;
    int pid;
};

int engine_exec_inspect(struct engine_client *c, const char *exec_id, struct engine_exec_info *out,
                        struct m87_error **err);

/* After engine_exec_start returned: wait until dockerd has the exit code (the output can end a
 * moment before), polling inspect for at most the client's timeout (M87_E_TIMEOUT). */
int engine_exec_wait(struct engine_client *c, const char *exec_id, int *exit_code,
                     struct m87_error **err);

/* Create, start, wait: run argv in a container, collect stdout and stderr (each capped at
 * max_output bytes, extra output is an M87_E_TOOBIG error) and the exit code. out_stdout and
 * out_stderr may be NULL. */
int engine_exec_run(struct engine_client *c, const char *container_id,
                    const struct engine_exec_config *cfg, size_t max_output,
                    struct m87_buf *out_stdout, struct m87_buf *out_stderr, int *exit_code,
                    struct m87_error **err);

#endif
