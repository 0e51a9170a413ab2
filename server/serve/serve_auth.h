/* The HTTP authorize hook of `berth serve`: picks the endpoint a request addresses, asks
 * auth_check_request, and turns a refusal into a 401/403 OpenAI envelope (counted in metrics).
 * Owns no credentials and no routing; never logs or echoes a header. */
#ifndef BERTH_SERVE_SERVE_AUTH_H
#define BERTH_SERVE_SERVE_AUTH_H

#include "server/auth/auth.h"
#include "server/http/http.h"
#include "server/serve/metrics.h"

typedef struct serve_auth {
    auth_ctx *auth;
    /* The endpoint name authorized for paths that carry none (/v1/..., /invocations, /metrics, ...):
     * the first --endpoint-name, so a policy for that endpoint's ARN covers the plain paths too. */
    const char *default_endpoint;
    metrics *metrics; /* NULL: refusals are not counted */
} serve_auth;

/* An http_authorize_fn; ctx is a serve_auth that outlives the server. */
int serve_auth_authorize(void *ctx, const http_request *req, http_response_error *out);

#endif
