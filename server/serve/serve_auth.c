#include "server/serve/serve_auth.h"

#include <time.h>

int serve_auth_authorize(void *ctx, const http_request *req, http_response_error *out)
{
    serve_auth *sa = ctx;
    /* SageMaker paths name their endpoint; an inference component is authorized through it. */
    const char *endpoint = http_request_endpoint(req);
    if (!endpoint) endpoint = sa->default_endpoint;
    auth_result r;
    int status = auth_check_request(sa->auth, http_request_header(req, "Authorization"), endpoint,
                                    (int64_t)time(NULL), &r);
    if (status == 200) return 0;
    /* Only the class goes back: the reason (bad signature, unknown key, ...) would help an attacker. */
    http_error_set(out, status, r.error_type, NULL, NULL, "%s", r.message);
    if (sa->metrics) metrics_count_request(sa->metrics, status);
    return 1;
}
