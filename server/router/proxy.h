/* The router-to-worker leg: forwards one HTTP request to a worker's Unix socket with libcurl and
 * answers the client with the worker's status and bytes unchanged, streaming SSE as it arrives.
 * A worker that fails before answering gives a 502 envelope, one that fails mid-stream an SSE error
 * event and the end of the stream. Owns no routing decision and no worker process. */
#ifndef BERTH_ROUTER_PROXY_H
#define BERTH_ROUTER_PROXY_H

#include "server/http/http.h"

/* Called once when the exchange is over (from the handler's thread, or from the proxy's own
 * thread for a stream): the status the client got, and 1 when the worker failed under it. */
typedef void (*proxy_done_fn)(void *ctx, int status, int worker_failed);

/* Forwards r's body as a POST to http://localhost{path} on socket_path and answers r. component
 * names the component in error messages. done (may be NULL) reports the outcome. */
void proxy_forward(http_request *r, const char *socket_path, const char *path,
                   const char *component, proxy_done_fn done, void *done_ctx);

/* Closes the idle connections kept to socket_path at once: its worker is retiring or gone, or a
 * new one is starting on that path (a copy's socket path outlives its workers). */
void proxy_forget_socket(const char *socket_path);
/* Idle worker connections kept for the next requests: to socket_path, or to every worker (NULL). */
int proxy_idle_connections(const char *socket_path);

#endif
