/* `berth serve --config FILE`: the router process. It owns the client-facing HTTP server (TLS and
 * authentication come from the http_config it is given), decides which component and copy answers
 * each request (router.c), and leaves the bytes to proxy.c and the processes to supervisor.c.
 * The path of a request: http.c -> router.c (component, copy) -> proxy.c -> worker socket. */
#ifndef BERTH_ROUTER_ROUTER_H
#define BERTH_ROUTER_ROUTER_H

#include <stddef.h>

#include "server/http/http.h"
#include "server/router/component_config.h"

typedef struct router router;

/* Starts the HTTP server on hc (its endpoints are replaced by cfg's endpoint) and the supervisor,
 * which launches the workers (exe serve ...). cfg is moved into the router. NULL with err. */
router *router_start(cc_config *cfg, const http_config *hc, const char *exe, char *err,
                     size_t errlen);
/* The bound TCP port. */
int router_port(const router *rt);
/* After SIGTERM: new requests get 503; returns the requests still in flight. */
void router_stop_accepting(router *rt);
int router_in_flight(router *rt);
/* Stops the workers (SIGTERM, SIGKILL after grace_s), then the HTTP server; frees. */
void router_free(router *rt, double grace_s);

#endif
