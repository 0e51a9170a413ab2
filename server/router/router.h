/* `berth serve --config FILE`: the router process. It owns the client-facing HTTP server (TLS and
 * authentication come from the http_config it is given), decides which component and copy answers
 * each request (router.c), and leaves the bytes to proxy.c and the processes to supervisor.c.
 * The path of a request: http.c -> router.c (component, copy) -> proxy.c -> worker socket;
 * the admin API (runtime Create/Update/Delete/Describe/ListInferenceComponent) is admin.c. */
#ifndef BERTH_ROUTER_ROUTER_H
#define BERTH_ROUTER_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "server/auth/auth.h"
#include "server/http/http.h"
#include "server/router/component_config.h"

typedef struct router router;

typedef struct router_options {
    const char *exe;            /* the berth binary the workers run */
    int64_t share_capacity_mib; /* memory shares must add up within it; 0 = not checked */
    const char
        *share_capacity_what; /* what it is, for the error ("this machine's physical memory") */
    auth_ctx *auth;           /* key-store identities may call the admin API; may be NULL */
    const char *const *admin_keys; /* --admin-api-key: bearer keys for the admin API */
    size_t n_admin_keys;
    double drain_s; /* a deleted component's or retired copy's requests get this long to finish */
} router_options;

/* Starts the HTTP server on hc (its endpoints are replaced by cfg's endpoint) and the supervisor,
 * which launches the workers. cfg is moved into the router; o (and what it points to) must
 * outlive the router. NULL with err. */
router *router_start(cc_config *cfg, const http_config *hc, const router_options *o, char *err,
                     size_t errlen);
/* The bound TCP port. */
int router_port(const router *rt);
/* The client-facing server (SIGHUP re-reads its TLS pair). */
http_server *router_http_server(router *rt);
/* After SIGTERM: new requests get 503; returns the requests still in flight. */
void router_stop_accepting(router *rt);
int router_in_flight(router *rt);
/* Stops the workers (SIGTERM, SIGKILL after grace_s), then the HTTP server; frees. */
void router_free(router *rt, double grace_s);

#endif
