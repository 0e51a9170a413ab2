/* libmicrohttpd glue: routing, body accumulation, the auth hook, responses and SSE streams.
 *
 * Threading: MHD_USE_THREAD_PER_CONNECTION with MHD_OPTION_CONNECTION_LIMIT. A stream's content
 * reader blocks on a condition variable until the engine's output arrives, and a non-streaming
 * answer blocks the handler until generation ends; with a thread pool either wait would stall every
 * other connection that shares the pool thread, and suspend/resume would stop MHD from noticing a
 * client that leaves while we wait. One thread per connection makes blocking harmless and lets the
 * waiting thread watch its own socket; the connection limit bounds the threads. */
#include "server/http/http.h"
#include "server/http/http_deadline.h"
#include "server/http/http_framing.h"
#include "server/http/http_front.h"
#include "server/http/http_tls.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_ROUTES 64
#define HTTP_NAME_MAX 63      /* SageMaker endpoint and component names are 1..63 chars */
#define HTTP_WAIT_SLICE_MS 50 /* how often a waiting thread looks at its socket */

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
    struct MHD_Daemon *daemon;
    int port;
    http_deadlines *deadlines;
    char *unix_path; /* the socket file we created (unlinked on free) */
    http_front *front; /* plain HTTP: accepts and checks raw heads before MHD sees them */
};

struct http_request {
    http_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    char *body;
    size_t len, cap;
    int too_large;
    int answered;
    int in_body; /* past the head, the body not complete yet */
    int fd;
    char endpoint[HTTP_NAME_MAX + 1];
    char component[HTTP_NAME_MAX + 1];
    int has_endpoint, has_component;
    const struct route *hit; /* chosen, and authorized, on the first call */
    http_stream *stream;
};

/* Shared by the producer, the MHD response (streams only) and the request: freed at refs == 0. */
struct http_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    int deferred;
    char *buf;
    size_t len, off, cap;
    int closed;     /* the producer is done */
    int gone;       /* the client left */
    int cancelling; /* on_cancel is running: close waits so the producer's ctx stays alive */
    http_cancel_fn on_cancel;
    void *cancel_ctx;
    int status;
    char ctype[64];
    int fd;
    unsigned keepalive_ms;
    struct timespec last_out;
};

void http_error_set(http_response_error *e, int status, const char *type, const char *param,
                    const char *code, const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "invalid_request_error");
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- small helpers ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p, or 0 if the bytes there are not one. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
             : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return n;
}

/* Writes s as a JSON string at o; o needs room for 6 * strlen(s) + 3 bytes. Bytes that are not
 * UTF-8 (a request path may hold any) become U+FFFD so the envelope stays valid JSON. */
static char *put_json_string(char *o, const char *s)
{
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t n = *p >= 0x80 ? utf8_len(p) : 1;
        if (n == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
        } else if (n > 1) {
            memcpy(o, p, n);
            o += n;
            p += n - 1;
        } else if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    return o;
}

char *http_error_json(const http_response_error *e)
{
    const char *fields[] = {"message", "type", "param", "code"};
    const char *values[] = {e->message, e->type, e->param, e->code};
    char *out = malloc(6 * sizeof *e + 128);
    if (!out) return NULL;
    char *o = out + sprintf(out, "{\"error\":{");
    for (int i = 0; i < 4; i++) {
        o += sprintf(o, "%s\"%s\":", i ? "," : "", fields[i]);
        if (i >= 2 && values[i][0] == 0)
            o += sprintf(o, "null");
        else
            o = put_json_string(o, values[i]);
    }
    strcpy(o, "}}");
    return out;
}

static double ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) * 1e3 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

static void cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

/* True when the peer closed or reset its side: a client never half-closes while awaiting a reply. */
static int fd_hung_up(int fd)
{
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* ---- streams ------------------------------------------------------------------------------- */

static http_stream *stream_new(http_request *r, int deferred, http_cancel_fn fn, void *ctx)
{
    http_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->deferred = deferred;
    s->on_cancel = fn;
    s->cancel_ctx = ctx;
    s->fd = r->fd;
    s->keepalive_ms = r->srv->cfg.keepalive_ms;
    s->status = 200;
    clock_gettime(CLOCK_MONOTONIC, &s->last_out);
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
    free(s->buf);
    free(s);
}

/* The client left: stop accepting data and, if the producer is still working, tell it once. */
static void stream_client_gone(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    int call = !s->gone && !s->closed && s->on_cancel;
    s->gone = 1;
    if (call) s->cancelling = 1;
    pthread_mutex_unlock(&s->mu);
    if (!call) return;
    s->on_cancel(s->cancel_ctx);
    pthread_mutex_lock(&s->mu);
    s->cancelling = 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int http_stream_push(http_stream *s, const char *data, size_t len)
{
    pthread_mutex_lock(&s->mu);
    if (s->gone) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    if (s->len + len > s->cap) {
        size_t cap = (s->len + len) * 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) {
            pthread_mutex_unlock(&s->mu);
            return -1;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void http_stream_close(http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->cancelling) pthread_cond_wait(&s->cv, &s->mu);
    s->closed = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    stream_release(s);
}

void http_stream_complete(http_stream *s, int status, const char *content_type, const char *body,
                          size_t len)
{
    pthread_mutex_lock(&s->mu);
    s->status = status;
    snprintf(s->ctype, sizeof s->ctype, "%s", content_type);
    pthread_mutex_unlock(&s->mu);
    http_stream_push(s, body, len);
    http_stream_close(s);
}

void http_stream_complete_error(http_stream *s, const http_response_error *e)
{
    char *json = http_error_json(e);
    http_stream_complete(s, e->status, "application/json", json ? json : "", json ? strlen(json) : 0);
    free(json);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_stream *s = cls;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->len > s->off) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->buf + s->off, n);
            s->off += n;
            if (s->off == s->len) s->off = s->len = 0;
            clock_gettime(CLOCK_MONOTONIC, &s->last_out);
            pthread_mutex_unlock(&s->mu);
            return (ssize_t)n;
        }
        if (s->closed) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->gone || fd_hung_up(s->fd)) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (ms_since(&s->last_out) >= s->keepalive_ms) {
            static const char ka[] = ": keep-alive\n\n";
            size_t n = sizeof ka - 1 < max ? sizeof ka - 1 : max;
            memcpy(buf, ka, n);
            clock_gettime(CLOCK_MONOTONIC, &s->last_out);
            pthread_mutex_unlock(&s->mu);
            return (ssize_t)n;
        }
        cond_wait_ms(&s->cv, &s->mu, HTTP_WAIT_SLICE_MS);
    }
}

static void stream_reader_free(void *cls)
{
    stream_release(cls);
}

/* ---- answering ----------------------------------------------------------------------------- */

static int queue(http_request *r, int status, struct MHD_Response *resp)
{
    if (!resp) return -1;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    return ok == MHD_YES ? 0 : -1;
}

int http_respond_retry_after(http_request *r, int status, const char *content_type, const char *body,
                             size_t len, int retry_after_s)
{
    if (r->answered) return -1;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return -1;
    MHD_add_response_header(resp, "Content-Type", content_type);
    if (retry_after_s > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after_s);
        MHD_add_response_header(resp, "Retry-After", v);
    }
    return queue(r, status, resp);
}

int http_respond(http_request *r, int status, const char *content_type, const char *body, size_t len)
{
    return http_respond_retry_after(r, status, content_type, body, len, 0);
}

int http_respond_json(http_request *r, int status, const char *json)
{
    return http_respond(r, status, "application/json", json, strlen(json));
}

static int respond_error_allow(http_request *r, const http_response_error *e, const char *allow)
{
    if (r->answered) return -1;
    char *json = http_error_json(e);
    if (!json) return -1;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(json);
        return -1;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (e->retry_after > 0) {
        char v[24];
        snprintf(v, sizeof v, "%d", e->retry_after);
        MHD_add_response_header(resp, "Retry-After", v);
    }
    if (allow) MHD_add_response_header(resp, "Allow", allow);
    return queue(r, e->status, resp);
}

int http_respond_error(http_request *r, const http_response_error *e)
{
    return respond_error_allow(r, e, NULL);
}

http_stream *http_respond_stream(http_request *r, http_cancel_fn on_cancel, void *cancel_ctx)
{
    if (r->answered) return NULL;
    http_stream *s = stream_new(r, 0, on_cancel, cancel_ctx);
    if (!s) return NULL;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, s, stream_reader_free);
    if (!resp) {
        s->refs = 1;
        stream_release(s);
        return NULL;
    }
    s->refs = 3; /* producer, MHD response, request */
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    r->stream = s;
    queue(r, 200, resp);
    return s;
}

http_stream *http_respond_deferred(http_request *r, http_cancel_fn on_cancel, void *cancel_ctx)
{
    if (r->answered || r->stream) return NULL;
    http_stream *s = stream_new(r, 1, on_cancel, cancel_ctx);
    if (!s) return NULL;
    s->refs = 2; /* producer, request */
    snprintf(s->ctype, sizeof s->ctype, "application/json");
    r->stream = s;
    return s;
}

/* Runs on the connection thread after a handler chose http_respond_deferred. */
static enum MHD_Result finish_deferred(http_request *r)
{
    http_stream *s = r->stream;
    pthread_mutex_lock(&s->mu);
    while (!s->closed) {
        if (fd_hung_up(s->fd)) {
            pthread_mutex_unlock(&s->mu);
            stream_client_gone(s);
            return MHD_NO;
        }
        cond_wait_ms(&s->cv, &s->mu, HTTP_WAIT_SLICE_MS);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(s->len, s->buf, MHD_RESPMEM_MUST_COPY);
    int status = s->status;
    if (resp) MHD_add_response_header(resp, "Content-Type", s->ctype);
    pthread_mutex_unlock(&s->mu);
    return queue(r, status, resp) == 0 ? MHD_YES : MHD_NO;
}

/* ---- requests ------------------------------------------------------------------------------ */

const char *http_request_method(const http_request *r) { return r->method; }
const char *http_request_path(const http_request *r) { return r->path; }
const char *http_request_endpoint(const http_request *r) { return r->has_endpoint ? r->endpoint : NULL; }
const char *http_request_component(const http_request *r)
{
    return r->has_component ? r->component : NULL;
}

const char *http_request_header(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_request_body(const http_request *r, size_t *len)
{
    if (len) *len = r->len;
    return r->body ? r->body : "";
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

static enum MHD_Result answer_error(http_request *r, int status, const char *code, const char *allow,
                                    const char *fmt, const char *arg)
{
    http_response_error e;
    http_error_set(&e, status, "invalid_request_error", NULL, code, fmt, arg);
    return respond_error_allow(r, &e, allow) == 0 ? MHD_YES : MHD_NO;
}

static enum MHD_Result too_large(http_request *r)
{
    http_response_error e;
    http_error_set(&e, 413, "invalid_request_error", NULL, "request_too_large",
                   "request body is larger than the server's limit of %zu bytes",
                   r->srv->cfg.max_body_bytes);
    return http_respond_error(r, &e) == 0 ? MHD_YES : MHD_NO;
}

/* On the first call, from the request line and headers alone: route, method and authentication are
 * decided before a single body byte is accepted, so an anonymous upload costs nothing but its
 * socket (MHD discards the body of a request answered this early and closes the connection). */
static enum MHD_Result route_request(http_request *r)
{
    http_server *s = r->srv;
    const char *suffix = NULL; /* the path after /v1 for OpenAI routes */
    const char *component_rest = NULL; /* after .../inference-components/{c} when not openai/v1 */
    const char *p = r->path;
    int sagemaker = 0;
    if (!strncmp(p, "/endpoints/", 11)) {
        sagemaker = 1;
        p += 10;
        char seg[HTTP_NAME_MAX + 2];
        if (!take_segment(&p, r->endpoint, sizeof r->endpoint))
            return answer_error(r, 404, "not_found", NULL, "no route for %s", r->path);
        r->has_endpoint = 1;
        if (!strncmp(p, "/inference-components/", 22)) {
            p += 21;
            if (!take_segment(&p, r->component, sizeof r->component))
                return answer_error(r, 404, "not_found", NULL, "no route for %s", r->path);
            r->has_component = 1;
            component_rest = p;
        }
        if (take_segment(&p, seg, sizeof seg) && !strcmp(seg, "openai") &&
            take_segment(&p, seg, sizeof seg) && !strcmp(seg, "v1"))
            suffix = p;
        else if (component_rest)
            p = component_rest;
        else
            return answer_error(r, 404, "not_found", NULL, "no route for %s", r->path);
        if (suffix) component_rest = NULL;
    } else if (!strncmp(p, "/v1/", 4)) {
        suffix = p + 3;
    }
    const struct route *hit = NULL;
    int allowed = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route *rt = &s->routes[i];
        int match = (!sagemaker && (rt->flags & HTTP_ROUTE_ROOT) && !strcmp(rt->path, r->path)) ||
                    (suffix && (rt->flags & HTTP_ROUTE_OPENAI) && !strcmp(rt->path, suffix)) ||
                    (component_rest && (rt->flags & HTTP_ROUTE_COMPONENT) &&
                     !strcmp(rt->path, component_rest));
        if (!match) continue;
        allowed |= rt->method;
        if (rt->method == method_bit(r->method) && !hit) hit = rt;
    }
    if (!allowed) return answer_error(r, 404, "not_found", NULL, "no route for %s", r->path);
    if (!hit) {
        char allow[32] = "";
        const char *names[] = {"GET", "POST", "DELETE"};
        for (int b = 0; b < 3; b++)
            if (allowed & (1 << b))
                snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                         allow[0] ? ", " : "", names[b]);
        return answer_error(r, 405, "method_not_allowed", allow, "method not allowed; use %s", allow);
    }
    if (s->cfg.authorize && !(hit->flags & HTTP_ROUTE_NO_AUTH)) {
        http_response_error e;
        http_error_set(&e, 401, "authentication_error", NULL, NULL, "unauthorized");
        if (s->cfg.authorize(s->cfg.authorize_ctx, r, &e) != 0)
            return http_respond_error(r, &e) == 0 ? MHD_YES : MHD_NO;
    }
    /* Only after authentication, so that an anonymous caller cannot probe which endpoints exist. */
    if (sagemaker && !known_endpoint(s, r->endpoint))
        return answer_error(r, 404, "endpoint_not_found", NULL, "endpoint '%s' not found", r->endpoint);
    r->hit = hit;
    return MHD_YES;
}

static enum MHD_Result dispatch(http_request *r)
{
    /* The idle timeout guards connections nobody is answering. From here on we are: a handler may
     * block for a whole generation and a stream may stay quiet until its keep-alive comment, and
     * MHD would otherwise close the connection under them. on_completed restores it. */
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    r->hit->fn(r->hit->ctx, r);
    if (r->stream && r->stream->deferred && !r->answered) return finish_deferred(r);
    if (!r->answered) {
        http_response_error e;
        http_error_set(&e, 500, "server_error", NULL, NULL, "the handler for %s gave no answer", r->path);
        return http_respond_error(r, &e) == 0 ? MHD_YES : MHD_NO;
    }
    return MHD_YES;
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    http_framing_header(cls, key, key_size, value ? value : "", value ? value_size : 0);
    return MHD_YES;
}

/* A request whose framing another parser could read differently: answered and the connection
 * closed, so no byte after its headers is ever taken as a request. */
static enum MHD_Result framing_error(http_request *r, const http_framing *f)
{
    http_response_error e;
    http_error_set(&e, f->status, "invalid_request_error", NULL,
                   f->status == 501 ? "not_implemented" : "bad_framing", "%s", f->message);
    char *json = http_error_json(&e);
    if (!json) return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Connection", "close");
    return queue(r, f->status, resp) == 0 ? MHD_YES : MHD_NO;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    http_server *s = cls;
    http_request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->path = strdup(url);
        snprintf(r->method, sizeof r->method, "%s", method);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        r->fd = ci ? ci->connect_fd : -1;
        *con_cls = r;
        if (!r->path) return MHD_NO;
        http_deadlines_phase(s->deadlines, conn, HTTP_PHASE_BODY);
        http_framing f;
        http_framing_init(&f);
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, framing_header, &f);
        if (http_framing_finish(&f, version)) return framing_error(r, &f);
        if (f.n_content_length && f.content_length > s->cfg.max_body_bytes) return too_large(r);
        enum MHD_Result res = route_request(r);
        r->in_body = !r->answered;
        return res;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        http_deadlines_body(s->deadlines, conn, n);
        if (r->too_large || r->answered) return MHD_YES;
        if (r->len + n > s->cfg.max_body_bytes) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = (r->len + n + 1) * 2;
            if (cap > s->cfg.max_body_bytes + 1) cap = s->cfg.max_body_bytes + 1;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = 0;
        return MHD_YES;
    }
    http_deadlines_phase(s->deadlines, conn, HTTP_PHASE_ANSWER);
    r->in_body = 0;
    if (r->answered) return MHD_YES;
    if (r->too_large)
        return too_large(r);
    return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_request *r = *con_cls;
    if (!r) return;
    /* The client stopped (end of its sending side, or cut for its rate) inside the body it
     * announced: say so instead of closing in silence. MHD will not answer a request it is
     * abandoning, so the bytes go straight to the socket, which it has not written to for this
     * request. Plain HTTP only: under TLS they would have to be a TLS record. */
    if (r->in_body && !r->answered && !s->tls && r->fd >= 0 &&
        toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        http_deadlines_send_truncated(r->fd);
    /* Back to idle: a kept-alive connection waiting for its next request times out again. */
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->cfg.idle_timeout_s);
    http_deadlines_phase(s->deadlines, conn, HTTP_PHASE_HEAD);
    *con_cls = NULL;
    if (r->stream) {
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) stream_client_gone(r->stream);
        stream_release(r->stream);
    }
    free(r->path);
    free(r->body);
    free(r);
}

/* ---- server lifecycle ---------------------------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *s = cls;
    http_deadlines_notify(s->deadlines, conn, socket_context, code);
    if (code == MHD_CONNECTION_NOTIFY_CLOSED && s->front) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci) http_front_closed(s->front, ci->client_addr);
    }
}

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
    s->deadlines = http_deadlines_new(s->cfg.header_timeout_s, s->cfg.idle_timeout_s,
                                      s->cfg.min_body_rate, !cfg->tls_cert_path);
    bad |= !s->deadlines;
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
        snprintf(err, errlen, "http: route table full (%d routes) adding %s", HTTP_MAX_ROUTES, path);
        return -1;
    }
    if (path[0] != '/' || strlen(path) >= sizeof s->routes[0].path || (method != HTTP_GET && method != HTTP_POST && method != HTTP_DELETE)) {
        snprintf(err, errlen, "http: bad route %s (a path starting with '/', under 128 chars, one method)",
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

/* A bound, listening Unix socket at cfg.unix_socket_path (MHD owns and closes it), or -1. */
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

int http_server_start(http_server *s, char *err, size_t errlen)
{
    /* poll(), not MHD's default select(): select cannot watch a descriptor above FD_SETSIZE (1024),
     * so past about a thousand open connections every new one was reset. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    struct sockaddr_storage addr;
    socklen_t addrlen = 0;
    int have_addr = 0;
    if (s->cfg.host && !s->cfg.unix_socket_path) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
        char port[16];
        snprintf(port, sizeof port, "%d", s->cfg.port);
        int rc = getaddrinfo(s->cfg.host, port, &hints, &res);
        if (rc != 0 || !res) {
            snprintf(err, errlen, "http: cannot resolve --host %s: %s", s->cfg.host, gai_strerror(rc));
            return -1;
        }
        memcpy(&addr, res->ai_addr, res->ai_addrlen);
        addrlen = res->ai_addrlen;
        if (res->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
        freeaddrinfo(res);
        have_addr = 1;
    }
    if (s->tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "http: this libmicrohttpd was built without TLS support");
            return -1;
        }
        flags |= MHD_USE_TLS;
    }
    /* Each connection is a socket (and a thread): make room for the limit, or accept() would fail
     * with EMFILE long before it. */
    struct rlimit rl;
    rlim_t want = (rlim_t)s->cfg.connection_limit + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct MHD_OptionItem opts[14];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s};
    if (s->cfg.connection_limit_per_ip)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                            s->cfg.connection_limit_per_ip, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, s->cfg.connection_limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    /* Without it an idle or half-sent connection would hold its thread and a slot of the
     * connection limit forever (slowloris). */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout_s, NULL};
    if (s->tls) {
        /* The pair comes from a callback so that SIGHUP can swap it on the running daemon. */
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                                            http_tls_retrieve_callback()};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, s->tls_priorities};
    }
    /* Plain HTTP: berth's front accepts, and hands MHD only connections whose raw head passed
     * (docs/design/http-edge.md, "The front"); a worker's Unix socket goes through it too. Under
     * TLS the head is encrypted: MHD accepts. */
    int listen_fd = -1;
    if (s->cfg.unix_socket_path) {
        if ((listen_fd = unix_listen(s, err, errlen)) < 0) return -1;
        if (s->tls) {
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
            listen_fd = -1; /* MHD owns and accepts on it */
        } else {
            flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
        }
        have_addr = 0;
    } else if (!s->tls) {
        if (!have_addr) {
            struct sockaddr_in any = {.sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)s->cfg.port)};
            memcpy(&addr, &any, sizeof any);
            addrlen = sizeof any;
        }
        char why[128];
        listen_fd = http_front_listen((struct sockaddr *)&addr, addrlen, why, sizeof why);
        if (listen_fd < 0) {
            snprintf(err, errlen, "http: cannot listen on %s:%d: %s",
                     s->cfg.host ? s->cfg.host : "0.0.0.0", s->cfg.port, why);
            return -1;
        }
        flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
        have_addr = 0;
    }
    if (have_addr) opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_access, s,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!s->daemon && s->cfg.unix_socket_path) {
        if (listen_fd >= 0) close(listen_fd);
        snprintf(err, errlen, "http: cannot serve on Unix socket %s", s->cfg.unix_socket_path);
        return -1;
    }
    if (!s->daemon) {
        if (listen_fd >= 0) close(listen_fd);
        snprintf(err, errlen, "http: cannot listen on %s:%d%s (port in use, or a bad TLS key/cert)",
                 s->cfg.host ? s->cfg.host : "0.0.0.0", s->cfg.port, s->tls ? " with TLS" : "");
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->cfg.port;
    if (listen_fd >= 0) {
        struct sockaddr_storage bound;
        socklen_t bl = sizeof bound;
        if (getsockname(listen_fd, (struct sockaddr *)&bound, &bl) == 0 &&
            (bound.ss_family == AF_INET || bound.ss_family == AF_INET6))
            s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);
        s->front = http_front_new(listen_fd, s->daemon, s->cfg.header_timeout_s,
                                  s->cfg.idle_timeout_s, s->cfg.connection_limit,
                                  s->cfg.connection_limit_per_ip);
        if (!s->front || http_front_start(s->front) != 0) {
            if (!s->front) close(listen_fd);
            snprintf(err, errlen, "http: cannot start the connection front");
            return -1;
        }
    }
    if (http_deadlines_start(s->deadlines) != 0) {
        snprintf(err, errlen, "http: cannot start the header-deadline thread");
        return -1;
    }
    return 0;
}

int http_server_port(const http_server *s) { return s->port; }

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
    http_deadlines_stop(s->deadlines);
    http_front_stop(s->front);
    if (s->daemon) MHD_stop_daemon(s->daemon);
    http_deadlines_free(s->deadlines);
    if (s->unix_path) unlink(s->unix_path);
    free(s->unix_path);
    http_front_free(s->front);
    for (size_t i = 0; i < s->n_endpoints; i++) free(s->endpoints[i]);
    free(s->endpoints);
    http_tls_free(s->tls);
    free(s->tls_priorities);
    free((char *)s->cfg.host);
    free(s);
}
