/* The HTTP layer: berth's own event-driven HTTP/1.1 server with a route table (plain, /v1 and
 * SageMaker endpoint paths), body limits, an auth hook, JSON responses, SSE streams fed from another
 * thread, and TLS. It knows no OpenAI field and no engine: handlers get bytes and names, and answer
 * with bytes. */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include <stddef.h>

typedef struct http_server http_server;
typedef struct http_request http_request;
typedef struct http_stream http_stream;

/* An error answered in the OpenAI envelope {"error":{"message","type","param","code"}}.
 * Empty param/code are written as null; retry_after > 0 adds a Retry-After header (seconds). */
typedef struct http_response_error {
    int status;
    char type[48];
    char param[64];
    char code[48];
    char message[512];
    int retry_after;
} http_response_error;

/* Fills e; param and code may be NULL (null in the JSON). */
void http_error_set(http_response_error *e, int status, const char *type, const char *param,
                    const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

enum http_method { HTTP_GET = 1, HTTP_POST = 2, HTTP_DELETE = 4 };

/* Where a route's path is matched (flags may be combined). For HTTP_ROUTE_OPENAI the path is the
 * suffix after ".../v1", e.g. "/chat/completions", matched at /v1/chat/completions,
 * /endpoints/{endpoint}/openai/v1/chat/completions and
 * /endpoints/{endpoint}/inference-components/{component}/openai/v1/chat/completions. */
enum http_route_flags {
    HTTP_ROUTE_ROOT = 1,     /* the path as given */
    HTTP_ROUTE_OPENAI = 2,   /* /v1 + path and both SageMaker endpoint prefixes + /v1 + path */
    HTTP_ROUTE_NO_AUTH = 4,  /* the authorize hook is skipped (always for root /ping and /health) */
    HTTP_ROUTE_COMPONENT = 8, /* the path after /endpoints/{endpoint}/inference-components/{component},
                                 e.g. "/health" (a component's own routes outside openai/v1) */
    HTTP_ROUTE_INLINE = 16,   /* the handler is quick and never blocks: it runs on the I/O thread
                                 right after its request is read, with no hand-off to a worker */
};

/* A handler answers exactly once: http_respond_*, or it hands the request to another thread with
 * http_respond_stream / http_respond_deferred. It runs on a worker thread and may block; the answer
 * is written once it returns (a stream's bytes as they are pushed). A route flagged
 * HTTP_ROUTE_INLINE runs its handler on the I/O thread instead: it must not block (no engine, no
 * socket, no lock that a thread may hold for long, no waiting for another thread), since every
 * connection waits while it runs; in exchange it costs no thread wake-ups (/ping, /health). */
typedef void (*http_handler_fn)(void *ctx, http_request *req);

/* Returns 0 to let the request through, or non-zero with *out filled (401/403). */
typedef int (*http_authorize_fn)(void *ctx, const http_request *req, http_response_error *out);

/* Called once, from the server's I/O thread, when the client goes away before the producer closed
 * its stream: the producer should stop and then close the stream as usual. It must not block (every
 * connection waits while it runs) and must not call http_stream_close itself. */
typedef void (*http_cancel_fn)(void *ctx);

typedef struct http_config {
    const char *host;             /* NULL or "" = all interfaces */
    int port;                     /* 0 = any free port (see http_server_port) */
    size_t max_body_bytes;        /* larger bodies get 413; 0 = 6 MiB (SageMaker's limit) */
    unsigned connection_limit;    /* 0 = 4096 (RLIMIT_NOFILE is raised to fit at start) */
    unsigned connection_limit_per_ip; /* 0 = no per-address limit */
    unsigned header_timeout_s;    /* a new connection must complete its request line and headers
                                     this long after it opens, a later request this long after its
                                     first byte (0 = 10) */
    unsigned min_body_rate;       /* bytes/s a body must average once header_timeout_s of grace
                                     has passed, or the connection is closed; 0 = 1024 */
    unsigned keepalive_ms;        /* SSE comment after this much silence; 0 = 15000 */
    unsigned idle_timeout_s;      /* close a connection silent this long while no request of it
                                     is being answered (idle keep-alive, a stalled upload);
                                     0 = 60 */
    const char *unix_socket_path; /* listen on this Unix socket instead of host:port (created, and
                                     any stale socket file there replaced); NULL = TCP */
    const char *tls_cert_path;    /* PEM files; both NULL = plain HTTP */
    const char *tls_key_path;
    const char *tls_priorities;   /* GnuTLS priority string; NULL = HTTP_TLS_DEFAULT_PRIORITIES */
    const char *const *endpoints; /* names accepted in /endpoints/{endpoint}/...; others are 404 */
    size_t n_endpoints;
    http_authorize_fn authorize;  /* NULL = no authentication */
    void *authorize_ctx;
} http_config;

/* Creates a server (not listening yet). NULL with err filled on a bad configuration. */
http_server *http_server_new(const http_config *cfg, char *err, size_t errlen);
/* Adds a route; method is one enum http_method value. 0 or -1 with err (table full, bad path). */
int http_server_route(http_server *s, int method, const char *path, int flags, http_handler_fn fn,
                      void *ctx, char *err, size_t errlen);
/* Starts listening (and the TLS handshake setup). 0 or -1 with err naming the cause. */
int http_server_start(http_server *s, char *err, size_t errlen);
/* The bound TCP port (useful with port 0). */
int http_server_port(const http_server *s);
/* Re-reads the TLS certificate and key files (SIGHUP): new handshakes get the new pair, open
 * connections keep theirs. 0; 1 when the server has no TLS; -1 with err (the old pair stays). */
int http_server_reload_tls(http_server *s, char *err, size_t errlen);
/* The GnuTLS priority string in force (for the start-up log); NULL without TLS. */
const char *http_server_tls_priorities(const http_server *s);
/* Stops listening, closes every connection (on_cancel for answers in progress), waits for running
 * handlers, frees everything. NULL is fine. */
void http_server_free(http_server *s);

/* ---- request accessors (valid until the request answers / completes) ---- */
const char *http_request_method(const http_request *r);
const char *http_request_path(const http_request *r);
/* Case-insensitive header lookup; NULL when absent. */
const char *http_request_header(const http_request *r, const char *name);
/* The body (always NUL-terminated; *len without the NUL). */
const char *http_request_body(const http_request *r, size_t *len);
/* The {endpoint} / {component} of a SageMaker path; NULL on /v1 and plain paths. */
const char *http_request_endpoint(const http_request *r);
const char *http_request_component(const http_request *r);

/* ---- answering ---- */
int http_respond(http_request *r, int status, const char *content_type, const char *body, size_t len);
/* http_respond with a Retry-After header of retry_after_s seconds when it is > 0 (a proxied 429
 * or 503 keeps its worker's advice). */
int http_respond_retry_after(http_request *r, int status, const char *content_type, const char *body,
                             size_t len, int retry_after_s);
int http_respond_json(http_request *r, int status, const char *json);
int http_respond_error(http_request *r, const http_response_error *e);
/* Writes the OpenAI error envelope of e into a malloc'ed string (NULL on OOM). */
char *http_error_json(const http_response_error *e);

/* Starts a 200 text/event-stream answer. Another thread feeds it with http_stream_push and ends it
 * with http_stream_close. on_cancel (may be NULL) is called if the client leaves first. NULL on OOM. */
http_stream *http_respond_stream(http_request *r, http_cancel_fn on_cancel, void *cancel_ctx);
/* Answers later with one complete body: the producer ends with http_stream_complete. The I/O
 * thread watches the socket meanwhile, so a client that leaves is noticed (on_cancel) while waiting. */
http_stream *http_respond_deferred(http_request *r, http_cancel_fn on_cancel, void *cancel_ctx);

/* Queues bytes for the client. 0, or -1 once the client is gone (keep calling close). */
int http_stream_push(http_stream *s, const char *data, size_t len);
/* The producer is done with a stream; it must not touch s afterwards. */
void http_stream_close(http_stream *s);
/* For deferred answers: the status and body, then as http_stream_close. */
void http_stream_complete(http_stream *s, int status, const char *content_type, const char *body,
                          size_t len);
/* http_stream_complete with a Retry-After header of retry_after_s seconds when it is > 0 (a proxied
 * 429 or 503 keeps its worker's advice). */
void http_stream_complete_retry_after(http_stream *s, int status, const char *content_type,
                                      const char *body, size_t len, int retry_after_s);
/* For deferred answers: an error envelope (with Retry-After when e->retry_after > 0), then as
 * http_stream_close. */
void http_stream_complete_error(http_stream *s, const http_response_error *e);

#endif
