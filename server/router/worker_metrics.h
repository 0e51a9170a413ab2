/* The workers' own Prometheus metrics (engine, KV cache, latencies) gathered over their Unix
 * sockets for the router's /metrics: every sample gains a copy="N" label (the workers already label
 * it model_name="<component>"), and each metric family is written once with all its samples.
 * Owns no worker and no route. */
#ifndef BERTH_ROUTER_WORKER_METRICS_H
#define BERTH_ROUTER_WORKER_METRICS_H

#include <stddef.h>

/* Asks each socket for GET /metrics (a worker that does not answer within a second is left out)
 * and returns the merged text (malloc'ed; "" when none answered), or NULL on OOM. */
char *wm_collect(const char *const *sockets, const int *copies, size_t n);

/* The merge alone (what wm_collect does with the answers): texts[i] (NULL = none) is a worker's
 * exposition text, copies[i] its copy number. Malloc'ed, or NULL on OOM. */
char *wm_merge(const char *const *texts, const int *copies, size_t n);

#endif
