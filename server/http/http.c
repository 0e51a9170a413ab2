/* The public HTTP API over berth's own connection layer: the route table, request accessors,
 * answers, streams and deferred answers, and the server's lifecycle.
 *
 * Threading: one I/O thread (http_loop.c) owns every socket and parses every request; a request's
 * handler runs on a worker of http_pool, where it may block, unless its route is HTTP_ROUTE_INLINE
 * (quick and non-blocking: it runs on the I/O thread, without the hand-off). Answers are bytes
 * handed to the I/O thread, which writes them without blocking; streams and deferred answers are
 * filled from any thread and wake the I/O thread (docs/design/http-edge.md). */
#include "server/http/http_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define HTTP_WORKER_IDLE_EXIT_S 10 /* a handler thread idle this long exits */

/* ---- streams ------------------------------------------------------------------------------- */

static http_stream *stream_new(http_request *r, int deferred, http_cancel_fn fn, void *ctx)
{
    http_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->deferred = deferred;
    s->chunked = r->chunked_ok;
    s->on_cancel = fn;
    s->cancel_ctx = ctx;
    s->status = 200;
    s->loop = r->loop;
    s->conn = r->conn;
    s->refs = 2; /* producer, request */
    return s;
}

static void stream_release(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    http_buf_free(&s->out);
    free(s);
}

/* Called with s->mu held: tells the I/O thread there is something to look at. */
static void stream_wake(http_stream *s)
{
    if (s->conn) http_loop_wake(s->loop, s->conn);
}

int http_stream_push(http_stream *s, const char *data, size_t len)
{
    pthread_mutex_lock(&s->mu);
    if (s->gone || s->closed) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    int rc = 0;
    if (len) {
        rc = s->chunked && !s->deferred ? http_respond_build_chunk(&s->out, data, len)
                                        : http_buf_put(&s->out, data, len);
        stream_wake(s);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void http_stream_close(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->cancelling)
        pthread_cond_wait(&s->cv, &s->mu);
    s->closed = 1;
    stream_wake(s);
    pthread_mutex_unlock(&s->mu);
    stream_release(s);
}

void http_stream_complete_retry_after(http_stream *s, int status, const char *content_type,
                                      const char *body, size_t len, int retry_after_s)
{
    pthread_mutex_lock(&s->mu);
    s->status = status;
    s->retry_after = retry_after_s;
    snprintf(s->ctype, sizeof s->ctype, "%s", content_type);
    pthread_mutex_unlock(&s->mu);
    http_stream_push(s, body, len);
    http_stream_close(s);
}

void http_stream_complete(http_stream *s, int status, const char *content_type, const char *body,
                          size_t len)
{
    http_stream_complete_retry_after(s, status, content_type, body, len, 0);
}

void http_stream_complete_error(http_stream *s, const http_response_error *e)
{
    char *json = http_error_json(e);
    http_stream_complete_retry_after(s, e->status, "application/json", json ? json : "",
                                     json ? strlen(json) : 0, e->retry_after);
    free(json);
}

int http_stream_take(http_stream *s, http_buf *out, int conn_hdr)
{
    pthread_mutex_lock(&s->mu);
    int done = s->closed, rc = 0;
    if (s->deferred) {
        if (done)
            rc = http_respond_build(out, s->status, s->ctype, s->out.p ? s->out.p : "", s->out.len,
                                    conn_hdr, s->retry_after, NULL);
    } else {
        rc = http_buf_put(out, s->out.p, s->out.len);
        s->out.len = 0;
        if (done && !rc && s->chunked) rc = http_respond_build_chunk(out, NULL, 0);
    }
    pthread_mutex_unlock(&s->mu);
    return rc ? -1 : done;
}

void http_stream_detach(http_stream *s, int gone)
{
    pthread_mutex_lock(&s->mu);
    s->conn = NULL;
    int call = gone && !s->gone && !s->closed && s->on_cancel;
    if (gone) s->gone = 1;
    if (call) s->cancelling = 1;
    pthread_mutex_unlock(&s->mu);
    if (call) {
        s->on_cancel(s->cancel_ctx);
        pthread_mutex_lock(&s->mu);
        s->cancelling = 0;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    stream_release(s);
}

/* ---- answering ----------------------------------------------------------------------------- */

int http_respond_retry_after(http_request *r, int status, const char *content_type,
                             const char *body, size_t len, int retry_after_s)
{
    if (r->answered || r->stream) return -1;
    r->answered = 1;
    return http_respond_build(&r->resp, status, content_type, body, len, r->conn_hdr, retry_after_s,
                              NULL);
}

int http_respond(http_request *r, int status, const char *content_type, const char *body,
                 size_t len)
{
    return http_respond_retry_after(r, status, content_type, body, len, 0);
}

int http_respond_json(http_request *r, int status, const char *json)
{
    return http_respond(r, status, "application/json", json, strlen(json));
}

static int respond_error_allow(http_request *r, const http_response_error *e, const char *allow)
{
    if (r->answered || r->stream) return -1;
    r->answered = 1;
    return http_respond_build_error(&r->resp, e, r->conn_hdr, allow);
}

int http_respond_error(http_request *r, const http_response_error *e)
{
    return respond_error_allow(r, e, NULL);
}

http_stream *http_respond_stream(http_request *r, http_cancel_fn on_cancel, void *cancel_ctx)
{
    if (r->answered || r->stream) return NULL;
    http_stream *s = stream_new(r, 0, on_cancel, cancel_ctx);
    if (!s) return NULL;
    /* HTTP/1.0 has no chunks: the close ends the stream. */
    if (http_respond_build_stream_head(&s->out, s->chunked,
                                       s->chunked ? r->conn_hdr : HTTP_CONN_HDR_CLOSE)) {
        s->refs = 1;
        stream_release(s);
        return NULL;
    }
    r->answered = 1;
    pthread_mutex_lock(&s->mu);
    r->stream = s;
    stream_wake(s);
    pthread_mutex_unlock(&s->mu);
    return s;
}

http_stream *http_respond_deferred(http_request *r, http_cancel_fn on_cancel, void *cancel_ctx)
{
    if (r->answered || r->stream) return NULL;
    http_stream *s = stream_new(r, 1, on_cancel, cancel_ctx);
    if (!s) return NULL;
    snprintf(s->ctype, sizeof s->ctype, "application/json");
    r->answered = 1;
    r->stream = s;
    return s;
}

/* ---- requests ------------------------------------------------------------------------------ */

const char *http_request_method(const http_request *r)
{
    return r->head.method;
}
const char *http_request_path(const http_request *r)
{
    return r->head.path;
}
const char *http_request_endpoint(const http_request *r)
{
    return r->has_endpoint ? r->endpoint : NULL;
}
const char *http_request_component(const http_request *r)
{
    return r->has_component ? r->component : NULL;
}

const char *http_request_header(const http_request *r, const char *name)
{
    return http_head_field(&r->head, name);
}

const char *http_request_body(const http_request *r, size_t *len)
{
    if (len) *len = r->len;
    return r->body ? r->body : "";
}

void http_request_free(http_request *r)
{
    if (!r) return;
    http_head_free(&r->head);
    http_buf_free(&r->resp);
    free(r->body);
    free(r);
}

static int method_bit(const char *m)
{
    if (!strcmp(m, "GET")) return HTTP_GET;
    if (!strcmp(m, "POST")) return HTTP_POST;
    if (!strcmp(m, "DELETE")) return HTTP_DELETE;
    return 0;
}

/* Copies the next path segment of *p (after a '/') into out; 0 if missing, empty or too long. */
static int take_segment(const char **p, char *out, size_t cap)
{
    if (**p != '/') return 0;
    const char *s = *p + 1, *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || n >= cap) return 0;
    memcpy(out, s, n);
    out[n] = 0;
    *p = s + n;
    return 1;
}

static int known_endpoint(const http_server *s, const char *name)
{
    for (size_t i = 0; i < s->n_endpoints; i++)
        if (!strcmp(s->endpoints[i], name)) return 1;
    return 0;
}

static int answer_error(http_request *r, int status, const char *code, const char *allow,
                        const char *fmt, const char *arg)
{
    http_response_error e;
    http_error_set(&e, status, "invalid_request_error", NULL, code, fmt, arg);
    return respond_error_allow(r, &e, allow);
}

/* From the request line and headers alone: route, method and authentication are decided before a
 * single body byte is accepted, so an anonymous upload costs nothing but its socket (the loop never
 * reads the body of a request refused this early, and closes the connection). */
static int route_request(http_request *r)
{
    http_server *s = r->srv;
    const char *suffix = NULL;         /* the path after /v1 for OpenAI routes */
    const char *component_rest = NULL; /* after .../inference-components/{c} when not openai/v1 */
    const char *p = r->head.path;
    int sagemaker = 0;
    if (!strncmp(p, "/endpoints/", 11)) {
        sagemaker = 1;
        p += 10;
        char seg[HTTP_NAME_MAX + 2];
        if (!take_segment(&p, r->endpoint, sizeof r->endpoint))
            return answer_error(r, 404, "not_found", NULL, "no route for %s", r->head.path);
        r->has_endpoint = 1;
        if (!strncmp(p, "/inference-components/", 22)) {
            p += 21;
            if (!take_segment(&p, r->component, sizeof r->component))
                return answer_error(r, 404, "not_found", NULL, "no route for %s", r->head.path);
            r->has_component = 1;
            component_rest = p;
        }
        if (take_segment(&p, seg, sizeof seg) && !strcmp(seg, "openai") &&
            take_segment(&p, seg, sizeof seg) && !strcmp(seg, "v1"))
            suffix = p;
        else if (component_rest)
            p = component_rest;
        else
            return answer_error(r, 404, "not_found", NULL, "no route for %s", r->head.path);
        if (suffix) component_rest = NULL;
    } else if (!strncmp(p, "/v1/", 4)) {
        suffix = p + 3;
    }
    const struct route *hit = NULL;
    int allowed = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route *rt = &s->routes[i];
        int match =
            (!sagemaker && (rt->flags & HTTP_ROUTE_ROOT) && !strcmp(rt->path, r->head.path)) ||
            (suffix && (rt->flags & HTTP_ROUTE_OPENAI) && !strcmp(rt->path, suffix)) ||
            (component_rest && (rt->flags & HTTP_ROUTE_COMPONENT) &&
             !strcmp(rt->path, component_rest));
        if (!match) continue;
        allowed |= rt->method;
        if (rt->method == method_bit(r->head.method) && !hit) hit = rt;
    }
    if (!allowed) return answer_error(r, 404, "not_found", NULL, "no route for %s", r->head.path);
    if (!hit) {
        char allow[32] = "";
        const char *names[] = {"GET", "POST", "DELETE"};
        for (int b = 0; b < 3; b++)
            if (allowed & (1 << b))
                snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                         allow[0] ? ", " : "", names[b]);
        return answer_error(r, 405, "method_not_allowed", allow, "method not allowed; use %s",
                            allow);
    }
    if (s->cfg.authorize && !(hit->flags & HTTP_ROUTE_NO_AUTH)) {
        http_response_error e;
        http_error_set(&e, 401, "authentication_error", NULL, NULL, "unauthorized");
        if (s->cfg.authorize(s->cfg.authorize_ctx, r, &e) != 0) return http_respond_error(r, &e);
    }
    /* Only after authentication, so that an anonymous caller cannot probe which endpoints exist. */
    if (sagemaker && !known_endpoint(s, r->endpoint))
        return answer_error(r, 404, "endpoint_not_found", NULL, "endpoint '%s' not found",
                            r->endpoint);
    r->hit = hit;
    return 0;
}

void http_server_admit(http_request *r)
{
    route_request(r);
}

static void call_handler(http_request *r)
{
    r->hit->fn(r->hit->ctx, r);
    if (!r->answered) {
        http_response_error e;
        http_error_set(&e, 500, "server_error", NULL, NULL, "the handler for %s gave no answer",
                       r->head.path);
        http_respond_error(r, &e);
    }
}

static void run_handler(void *arg)
{
    http_request *r = arg;
    call_handler(r);
    http_loop_done(r->loop, r->conn);
}

int http_server_dispatch(http_request *r)
{
    /* An inline route answers here, on the I/O thread: no worker wakes up and the loop needs no
     * wake-up to collect the answer (three context switches fewer per request). */
    if (r->hit->flags & HTTP_ROUTE_INLINE) {
        call_handler(r);
        return 1;
    }
    if (http_pool_submit(r->srv->pool, run_handler, r) == 0) return 0;
    http_response_error e;
    http_error_set(&e, 503, "server_error", NULL, NULL, "cannot start a thread for the request");
    e.retry_after = 1;
    http_respond_error(r, &e);
    return -1;
}

/* ---- server lifecycle ---------------------------------------------------------------------- */

http_server *http_server_new(const http_config *cfg, char *err, size_t errlen)
{
    if (!!cfg->tls_cert_path != !!cfg->tls_key_path) {
        snprintf(err, errlen, "http: TLS needs both a certificate and a key file (got only the %s)",
                 cfg->tls_cert_path ? "certificate" : "key");
        return NULL;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.max_body_bytes) s->cfg.max_body_bytes = 6u << 20;
    if (!s->cfg.connection_limit) s->cfg.connection_limit = 4096;
    if (!s->cfg.header_timeout_s) s->cfg.header_timeout_s = 10;
    if (!s->cfg.min_body_rate) s->cfg.min_body_rate = 1024;
    if (!s->cfg.keepalive_ms) s->cfg.keepalive_ms = 15000;
    if (!s->cfg.idle_timeout_s) s->cfg.idle_timeout_s = 60;
    s->cfg.host = NULL; /* resolved at start from the copy below */
    s->cfg.endpoints = NULL;
    s->cfg.tls_cert_path = s->cfg.tls_key_path = s->cfg.tls_priorities = NULL;
    s->endpoints = calloc(cfg->n_endpoints ? cfg->n_endpoints : 1, sizeof *s->endpoints);
    for (size_t i = 0; s->endpoints && i < cfg->n_endpoints; i++)
        if (!(s->endpoints[s->n_endpoints++] = strdup(cfg->endpoints[i]))) break;
    int bad = !s->endpoints || s->n_endpoints != cfg->n_endpoints;
    s->pool = http_pool_new(HTTP_WORKER_IDLE_EXIT_S);
    bad |= !s->pool;
    if (bad) {
        snprintf(err, errlen, "http: out of memory");
        http_server_free(s);
        return NULL;
    }
    if (cfg->tls_cert_path) {
        const char *prio = cfg->tls_priorities ? cfg->tls_priorities : HTTP_TLS_DEFAULT_PRIORITIES;
        if (http_tls_check_priorities(prio, err, errlen) ||
            !(s->tls = http_tls_new(cfg->tls_cert_path, cfg->tls_key_path, err, errlen))) {
            http_server_free(s);
            return NULL;
        }
        if (!(s->tls_priorities = strdup(prio))) bad = 1;
    }
    if (bad) {
        snprintf(err, errlen, "http: out of memory");
        http_server_free(s);
        return NULL;
    }
    if (cfg->host && cfg->host[0] && !(s->cfg.host = strdup(cfg->host))) {
        snprintf(err, errlen, "http: out of memory");
        http_server_free(s);
        return NULL;
    }
    return s;
}

int http_server_route(http_server *s, int method, const char *path, int flags, http_handler_fn fn,
                      void *ctx, char *err, size_t errlen)
{
    if (s->n_routes == HTTP_MAX_ROUTES) {
        snprintf(err, errlen, "http: route table full (%d routes) adding %s", HTTP_MAX_ROUTES,
                 path);
        return -1;
    }
    if (path[0] != '/' || strlen(path) >= sizeof s->routes[0].path ||
        (method != HTTP_GET && method != HTTP_POST && method != HTTP_DELETE)) {
        snprintf(err, errlen,
                 "http: bad route %s (a path starting with '/', under 128 chars, one method)",
                 path);
        return -1;
    }
    struct route *rt = &s->routes[s->n_routes++];
    rt->method = method;
    snprintf(rt->path, sizeof rt->path, "%s", path);
    rt->flags = flags;
    /* SageMaker probes /ping without credentials; a health check must never need them either */
    if ((flags & HTTP_ROUTE_ROOT) && (!strcmp(path, "/ping") || !strcmp(path, "/health")))
        rt->flags |= HTTP_ROUTE_NO_AUTH;
    rt->fn = fn;
    rt->ctx = ctx;
    return 0;
}

/* A bound, listening Unix socket at cfg.unix_socket_path , or -1. */
static int unix_listen(http_server *s, char *err, size_t errlen)
{
    const char *path = s->cfg.unix_socket_path;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "http: Unix socket path %s is longer than %zu bytes", path,
                 sizeof sa.sun_path - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "http: socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    unlink(path); /* a stale socket file from a process that died would make bind fail */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 128)) {
        snprintf(err, errlen, "http: cannot listen on Unix socket %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!(s->unix_path = strdup(path))) {
        snprintf(err, errlen, "http: out of memory");
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* A listening TCP socket on addr (SO_REUSEADDR, non-blocking); the fd, or -1 with err. */
static int listen_tcp(const void *addr, unsigned addrlen, char *err, size_t errlen)
{
    const struct sockaddr *a = addr;
    int fd = socket(a->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a, addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int http_server_start(http_server *s, char *err, size_t errlen)
{
    /* Each connection is a socket: make room for the limit, or accept() would fail with EMFILE
     * long before it. */
    struct rlimit rl;
    rlim_t want = (rlim_t)s->cfg.connection_limit + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int listen_fd;
    if (s->cfg.unix_socket_path) {
        if ((listen_fd = unix_listen(s, err, errlen)) < 0) return -1;
    } else {
        struct sockaddr_storage addr;
        socklen_t addrlen;
        if (s->cfg.host) {
            struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM},
                            *res = NULL;
            char port[16];
            snprintf(port, sizeof port, "%d", s->cfg.port);
            int rc = getaddrinfo(s->cfg.host, port, &hints, &res);
            if (rc != 0 || !res) {
                snprintf(err, errlen, "http: cannot resolve --host %s: %s", s->cfg.host,
                         gai_strerror(rc));
                return -1;
            }
            memcpy(&addr, res->ai_addr, res->ai_addrlen);
            addrlen = res->ai_addrlen;
            freeaddrinfo(res);
        } else {
            struct sockaddr_in any = {.sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)s->cfg.port)};
            memcpy(&addr, &any, sizeof any);
            addrlen = sizeof any;
        }
        char why[128];
        listen_fd = listen_tcp(&addr, addrlen, why, sizeof why);
        if (listen_fd < 0) {
            snprintf(err, errlen, "http: cannot listen on %s:%d: %s",
                     s->cfg.host ? s->cfg.host : "0.0.0.0", s->cfg.port, why);
            return -1;
        }
        struct sockaddr_storage bound;
        socklen_t bl = sizeof bound;
        s->port = s->cfg.port;
        if (getsockname(listen_fd, (struct sockaddr *)&bound, &bl) == 0)
            s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);
    }
    if (!(s->loop = http_loop_new(s, listen_fd, err, errlen))) return -1;
    return http_loop_start(s->loop, err, errlen);
}

int http_server_port(const http_server *s)
{
    return s->port;
}

int http_server_reload_tls(http_server *s, char *err, size_t errlen)
{
    if (!s->tls) return 1;
    return http_tls_reload(s->tls, err, errlen);
}

const char *http_server_tls_priorities(const http_server *s)
{
    return s->tls ? s->tls_priorities : NULL;
}

void http_server_free(http_server *s)
{
    if (!s) return;
    http_loop_free(s->loop); /* cancels answers in progress, waits for running handlers */
    http_pool_free(s->pool);
    if (s->unix_path) unlink(s->unix_path);
    free(s->unix_path);
    for (size_t i = 0; i < s->n_endpoints; i++)
        free(s->endpoints[i]);
    free(s->endpoints);
    http_tls_free(s->tls);
    free(s->tls_priorities);
    free((char *)s->cfg.host);
    free(s);
}
