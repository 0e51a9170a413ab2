/* What http.c (the public API: routes, requests, answers, streams) and http_loop.c (sockets,
 * epoll, deadlines, TLS) share: the server, request and stream structures and the calls between
 * the two. Not a public header: nothing outside server/http includes it. */
#ifndef BERTH_HTTP_INTERNAL_H
#define BERTH_HTTP_INTERNAL_H

#include "server/http/http.h"
#include "server/http/http_conn.h"
#include "server/http/http_pool.h"
#include "server/http/http_respond.h"
#include "server/http/http_tls.h"

#include <pthread.h>
#include <stdatomic.h>

#define HTTP_MAX_ROUTES 64
#define HTTP_NAME_MAX 63 /* SageMaker endpoint and component names are 1..63 chars */

typedef struct http_loop http_loop;
typedef struct http_loop_conn http_loop_conn;

struct route {
    int method;
    char path[128];
    int flags;
    http_handler_fn fn;
    void *ctx;
};

struct http_server {
    http_config cfg;
    char **endpoints;
    size_t n_endpoints;
    http_tls *tls;
    char *tls_priorities;
    struct route routes[HTTP_MAX_ROUTES];
    size_t n_routes;
    int port;
    char *unix_path; /* the socket file we created (unlinked on free) */
    http_loop *loop;
    http_pool *pool;
};

/* One request, from its parsed head to its answer. The I/O thread owns it except while its
 * handler runs on a worker (from http_server_dispatch until http_loop_done). */
struct http_request {
    http_server *srv;
    http_loop *loop;
    http_loop_conn *conn;
    http_head head;
    char *body;
    size_t len;
    char endpoint[HTTP_NAME_MAX + 1];
    char component[HTTP_NAME_MAX + 1];
    int has_endpoint, has_component;
    const struct route *hit; /* chosen, and authorized, from the head */
    int conn_hdr;            /* HTTP_CONN_HDR_* for answers */
    int chunked_ok;          /* HTTP/1.1: a stream can be chunked */
    int answered;
    http_buf resp; /* a complete answer (http_respond*), or empty for streams and deferred ones */
    /* Set by the handler's worker, read by the I/O thread while the handler may still run. */
    _Atomic(http_stream *) stream;
};

/* Shared by the producer and the request: freed at refs == 0. */
struct http_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    int deferred;
    int chunked;    /* framed as chunks (HTTP/1.1) */
    http_buf out;   /* bytes for the client, framed; for deferred answers the body */
    int closed;     /* the producer is done */
    int gone;       /* the client left */
    int cancelling; /* on_cancel is running: close waits so the producer's ctx stays alive */
    http_cancel_fn on_cancel;
    void *cancel_ctx;
    int status;
    int retry_after; /* deferred answers: a Retry-After header (seconds) when > 0 */
    char ctype[64];
    http_loop *loop;
    http_loop_conn *conn; /* NULL once the I/O thread let go of the stream */
};

/* ---- http.c, called by the loop on its I/O thread ---- */
/* Routing, method, authorization and endpoint name, from the head alone: either r->hit is set or
 * r->answered with the refusal in r->resp. */
void http_server_admit(http_request *r);
/* Runs r's handler on a worker; http_loop_done(r->loop, r->conn) when it returns. 1 when the
 * route is HTTP_ROUTE_INLINE: the handler ran here, on the calling (I/O) thread, and is done. -1
 * when no worker could be started (r answered with a 503). */
int http_server_dispatch(http_request *r);
/* Moves the stream's new bytes to out. Returns 1 when the producer has closed and every byte has
 * been moved (for deferred answers the complete answer is built then), 0 otherwise. */
int http_stream_take(http_stream *s, http_buf *out, int conn_hdr);
/* The I/O thread lets go of s: the client left (gone != 0: on_cancel once if still producing) or
 * the answer is complete. Drops the request's reference. */
void http_stream_detach(http_stream *s, int gone);
void http_request_free(http_request *r);

/* ---- http_loop.c ---- */
/* listen_fd: a bound, listening stream socket (TCP or Unix), owned from here on. */
http_loop *http_loop_new(http_server *s, int listen_fd, char *err, size_t errlen);
int http_loop_start(http_loop *l, char *err, size_t errlen);
/* Stops accepting, cancels every answer in progress, waits for running handlers, frees. */
void http_loop_free(http_loop *l);
/* Thread-safe: a stream of c has news (bytes, or its close). */
void http_loop_wake(http_loop *l, http_loop_conn *c);
/* Thread-safe: the handler of c's request returned. */
void http_loop_done(http_loop *l, http_loop_conn *c);

#endif
