/* The registry credentials of the prefetch pulls: the server's, then the docker CLI's, found as
 * m87-agent compose finds them, so that an image prefetched is an image the job's pull step could
 * fetch. */
#include "agent/prefetch.h"
#include "agent/registries.h"
#include "m87/engine-creds.h"
#include "m87/engine-images.h"
#include "m87/error.h"
#include "m87/log.h"

struct engine_creds *agent_prefetch_creds(void)
{
    _cleanup_error_ struct m87_error *config = NULL;
    _cleanup_error_ struct m87_error *server = NULL;
    struct engine_creds *c = agent_creds_load(&config, &server);

    if (server != NULL)
        m87_log(M87_LOG_WARN, "prefetch: %s; they are not used", server->msg);
    if (config != NULL)
        m87_log(M87_LOG_WARN, "prefetch: %s; pulls are anonymous", config->msg);
    return c;
}

int agent_prefetch_pull(struct engine_client *ec, const struct engine_creds *creds,
                        const char *image, struct engine_pull_options *po,
                        struct engine_registry_auth *auth, engine_pull_fn fn, void *ctx,
                        struct m87_error **err)
{
    if (engine_creds_lookup(creds, image, auth, err) < 0)
        return m87_error_wrap(err, "pull image '%s'", image);
    po->auth = auth->found ? &auth->auth : NULL;
    if (engine_image_pull(ec, image, po, fn, ctx, err) < 0)
        return engine_registry_auth_wrap(err, auth);
    return 0;
}
