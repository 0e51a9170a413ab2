/* One thread per forwarded request runs curl_easy_perform: the handler must return before the HTTP
 * layer sends a stream's bytes, so the transfer cannot run on the handler's thread. A streamed
 * request: the handler waits until the worker's headers arrive, then starts an SSE stream that the
 * transfer thread feeds (and finishes). A non-streamed one: the handler waits a moment for a quick
 * answer, then hands the request to the transfer thread with http_respond_deferred, so a client
 * that leaves is noticed while the worker generates and the worker's connection is shut at once
 * (the worker then cancels the generation). Either way a worker's 429 or 503 keeps its Retry-After.
 * Worker connections are kept: each curl easy handle holds one, and idle handles wait in a small
 * pool per worker socket. */
#include "server/router/proxy.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* How long a non-streamed request's handler waits for the whole answer before deferring it. */
#define PROXY_QUICK_MS 250
#define PROXY_POOL_MAX 64       /* idle worker connections kept, all workers together */
#define PROXY_POOL_PER_SOCKET 8 /* ... and per worker socket */

/* A curl easy handle and the one connection it keeps to a worker socket. fd is the connection's
 * socket while it is open, so another thread can shut it (a client that left). */
typedef struct pconn {
    CURL *h;
    char socket[108];
    pthread_mutex_t mu;
    curl_socket_t fd;
} pconn;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pconn *pool[PROXY_POOL_MAX];
static int pool_n;

static void pconn_free(pconn *c)
{
    if (!c) return;
    if (c->h) curl_easy_cleanup(c->h); /* closes the connection through close_sock */
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* An idle handle for socket (its connection kept alive, most recently used first), or a new one. */
static pconn *pool_take(const char *socket)
{
    pthread_mutex_lock(&pool_mu);
    for (int i = pool_n - 1; i >= 0; i--)
        if (!strcmp(pool[i]->socket, socket)) {
            pconn *c = pool[i];
            memmove(pool + i, pool + i + 1, (size_t)(pool_n - i - 1) * sizeof *pool);
            pool_n--;
            pthread_mutex_unlock(&pool_mu);
            return c;
        }
    pthread_mutex_unlock(&pool_mu);
    pconn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->fd = CURL_SOCKET_BAD;
    snprintf(c->socket, sizeof c->socket, "%s", socket);
    if (!(c->h = curl_easy_init())) {
        pconn_free(c);
        return NULL;
    }
    return c;
}

/* Keeps c for the next request to its socket, unless the pool is full (then the oldest idle one
 * goes, or c itself when its socket has its share already). */
static void pool_put(pconn *c)
{
    pconn *drop = NULL;
    pthread_mutex_lock(&pool_mu);
    int same = 0;
    for (int i = 0; i < pool_n; i++)
        same += !strcmp(pool[i]->socket, c->socket);
    if (same >= PROXY_POOL_PER_SOCKET) {
        drop = c;
    } else {
        if (pool_n == PROXY_POOL_MAX) {
            drop = pool[0];
            memmove(pool, pool + 1, (size_t)(--pool_n) * sizeof *pool);
        }
        pool[pool_n++] = c;
    }
    pthread_mutex_unlock(&pool_mu);
    pconn_free(drop);
}

void proxy_forget_socket(const char *socket_path)
{
    pconn *drop[PROXY_POOL_MAX];
    int n = 0;
    pthread_mutex_lock(&pool_mu);
    int kept = 0;
    for (int i = 0; i < pool_n; i++) {
        if (!strcmp(pool[i]->socket, socket_path))
            drop[n++] = pool[i];
        else
            pool[kept++] = pool[i];
    }
    pool_n = kept;
    pthread_mutex_unlock(&pool_mu);
    for (int i = 0; i < n; i++)
        pconn_free(drop[i]);
}

int proxy_idle_connections(const char *socket_path)
{
    int n = 0;
    pthread_mutex_lock(&pool_mu);
    for (int i = 0; i < pool_n; i++)
        n += !socket_path || !strcmp(pool[i]->socket, socket_path);
    pthread_mutex_unlock(&pool_mu);
    return n;
}

static curl_socket_t open_sock(void *u, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    pconn *c = u;
    curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    pthread_mutex_lock(&c->mu);
    c->fd = fd;
    pthread_mutex_unlock(&c->mu);
    return fd;
}

static int close_sock(void *u, curl_socket_t fd)
{
    pconn *c = u;
    pthread_mutex_lock(&c->mu);
    if (c->fd == fd) c->fd = CURL_SOCKET_BAD;
    pthread_mutex_unlock(&c->mu);
    return close(fd);
}

enum { PHASE_SENDING, PHASE_HEADERS, PHASE_DONE };

typedef struct pjob {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase;
    int decided; /* the handler chose: stream != NULL (SSE) or buffered */
    http_stream *stream;
    http_stream *deferred; /* a buffered answer the transfer thread gives (the client may leave) */
    pconn *conn;           /* while the transfer runs */
    long status;
    char ctype[128];
    int retry_after; /* the worker's Retry-After (seconds), 0 = none */
    char *body;      /* a buffered answer */
    size_t len, cap;
    char *req_body;
    size_t req_len;
    char url[512];
    char socket[108];
    char component[64];
    atomic_bool cancelled;
    CURLcode rc;
    char errbuf[CURL_ERROR_SIZE];
    proxy_done_fn done;
    void *done_ctx;
} pjob;

static void job_free(pjob *j)
{
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->body);
    free(j->req_body);
    free(j);
}

typedef struct wctx {
    struct pjob *j;
    CURL *h;
} wctx;

static void headers_done(pjob *j, CURL *h);

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
    wctx *w = u;
    pjob *j = w->j;
    size_t len = sz * n;
    if (len > 13 && !strncasecmp(p, "Content-Type:", 13)) {
        const char *v = p + 13;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = (size_t)(p + len - v);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof j->ctype) vl = sizeof j->ctype - 1;
        memcpy(j->ctype, v, vl);
        j->ctype[vl] = 0;
    } else if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        long s = strtol(p + 12, NULL, 10); /* delta-seconds, as berth's workers send it */
        j->retry_after = s > 0 && s < 86400 ? (int)s : 0;
    } else if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) headers_done(j, w->h); /* not the end of a 100 Continue */
    }
    return len;
}

/* The end of the headers is known at the first body byte (or at the end of a bodyless answer):
 * hand the decision to the handler and wait for it. */
static void headers_done(pjob *j, CURL *h)
{
    pthread_mutex_lock(&j->mu);
    if (j->phase == PHASE_SENDING) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->status);
        j->phase = PHASE_HEADERS;
        pthread_cond_broadcast(&j->cv);
        while (!j->decided)
            pthread_cond_wait(&j->cv, &j->mu);
    }
    pthread_mutex_unlock(&j->mu);
}

static size_t on_write(char *p, size_t sz, size_t n, void *u)
{
    wctx *w = u;
    pjob *j = w->j;
    size_t len = sz * n;
    headers_done(j, w->h);
    if (j->stream) {
        if (http_stream_push(j->stream, p, len) == 0) return len;
        atomic_store(&j->cancelled, true); /* the client left */
        return 0;
    }
    if (j->len + len + 1 > j->cap) {
        size_t cap = (j->len + len + 1) * 2;
        char *nb = realloc(j->body, cap);
        if (!nb) return 0;
        j->body = nb;
        j->cap = cap;
    }
    memcpy(j->body + j->len, p, len);
    j->len += len;
    return len;
}

static int on_progress(void *u, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((pjob *)u)->cancelled) ? 1 : 0;
}

/* The client left: the progress callback stops the transfer, and shutting the worker connection
 * wakes curl at once (it may be waiting on a long generation) and tells the worker. */
static void on_cancel(void *ctx)
{
    pjob *j = ctx;
    atomic_store(&j->cancelled, true);
    pthread_mutex_lock(&j->mu);
    if (j->conn) {
        pthread_mutex_lock(&j->conn->mu);
        if (j->conn->fd != CURL_SOCKET_BAD) shutdown(j->conn->fd, SHUT_RDWR);
        pthread_mutex_unlock(&j->conn->mu);
    }
    pthread_mutex_unlock(&j->mu);
}

static void stream_error_event(pjob *j)
{
    http_response_error e;
    http_error_set(&e, 502, "server_error", NULL, "worker_failed",
                   "inference component '%s': its worker failed mid-response (%s)", j->component,
                   j->errbuf[0] ? j->errbuf : curl_easy_strerror(j->rc));
    char *json = http_error_json(&e);
    if (!json) return;
    http_stream_push(j->stream, "data: ", 6);
    http_stream_push(j->stream, json, strlen(json));
    http_stream_push(j->stream, "\n\n", 2);
    free(json);
}

/* The end of a job whose client got (or left) a deferred answer: given from the transfer thread. */
static void finish_deferred(pjob *j)
{
    int status, failed = 0;
    if (atomic_load(&j->cancelled)) {
        status = 499; /* nginx's "client closed request", for the per-component counts */
        http_stream_close(j->deferred);
    } else if (j->rc == CURLE_OK) {
        status = (int)j->status;
        http_stream_complete_retry_after(j->deferred, status,
                                         j->ctype[0] ? j->ctype : "application/json",
                                         j->body ? j->body : "", j->len, j->retry_after);
    } else {
        http_response_error e;
        status = 502;
        failed = 1;
        http_error_set(&e, 502, "server_error", NULL, "worker_failed",
                       "inference component '%s': its worker failed (%s)", j->component,
                       j->errbuf[0] ? j->errbuf : curl_easy_strerror(j->rc));
        http_stream_complete_error(j->deferred, &e);
    }
    if (j->done) j->done(j->done_ctx, status, failed);
    job_free(j);
}

static void *transfer(void *arg)
{
    pjob *j = arg;
    pconn *c = pool_take(j->socket);
    CURL *h = c ? c->h : NULL;
    struct curl_slist *hdrs = NULL;
    wctx w = {j, h};
    if (h) {
        pthread_mutex_lock(&j->mu);
        j->conn = c;
        pthread_mutex_unlock(&j->mu);
        curl_easy_reset(h); /* keeps the connection */
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, j->socket);
        curl_easy_setopt(h, CURLOPT_URL, j->url);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->req_body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->req_len);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &w);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, j);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_sock);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_sock);
        curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 16384L);
        j->rc = curl_easy_perform(h);
        if (j->rc == CURLE_OK) headers_done(j, h);      /* a bodyless answer */
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL); /* j goes before the handle's next use */
    } else {
        j->rc = CURLE_OUT_OF_MEMORY;
    }
    curl_slist_free_all(hdrs);
    CURLcode rc = j->rc; /* once PHASE_DONE is set, a handler that answers itself frees j */
    pthread_mutex_lock(&j->mu);
    j->conn = NULL;
    http_stream *stream = j->stream, *deferred = j->deferred;
    int was_sending = j->phase == PHASE_SENDING;
    j->phase = PHASE_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    /* A connection that failed (or that a client's departure shut) is not kept. */
    if (rc == CURLE_OK)
        pool_put(c);
    else
        pconn_free(c);
    if (deferred) {
        finish_deferred(j);
        return NULL;
    }
    if (was_sending || !stream) return NULL; /* the handler answers and frees */
    /* A stream: this thread finishes it. A client that left is not the worker's failure. */
    int failed = j->rc != CURLE_OK && !atomic_load(&j->cancelled);
    if (failed) stream_error_event(j);
    http_stream_close(stream);
    if (j->done) j->done(j->done_ctx, 200, failed);
    job_free(j);
    return NULL;
}

/* Whether the body asks for a stream ("stream": true at its top level). */
static int wants_stream(const char *body, size_t len)
{
    if (!memmem(body, len, "\"stream\"", 8)) return 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    int yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    cJSON_Delete(root);
    return yes;
}

void proxy_forward(http_request *r, const char *socket_path, const char *path,
                   const char *component, proxy_done_fn done, void *done_ctx)
{
    http_response_error e;
    pjob *j = calloc(1, sizeof *j);
    size_t len;
    const char *body = http_request_body(r, &len);
    if (!j || !(j->req_body = malloc(len + 1))) {
        free(j);
        http_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
        http_respond_error(r, &e);
        if (done) done(done_ctx, 500, 0);
        return;
    }
    memcpy(j->req_body, body, len + 1);
    j->req_len = len;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    snprintf(j->url, sizeof j->url, "http://localhost%s", path);
    snprintf(j->socket, sizeof j->socket, "%s", socket_path);
    snprintf(j->component, sizeof j->component, "%s", component);
    j->done = done;
    j->done_ctx = done_ctx;
    int stream = wants_stream(body, len);
    j->decided = !stream; /* a buffered answer whatever the headers say */
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int started = pthread_create(&t, &attr, transfer, j) == 0;
    pthread_attr_destroy(&attr);
    if (!started) {
        job_free(j);
        http_error_set(&e, 503, "server_error", NULL, NULL, "cannot start a proxy thread");
        http_respond_error(r, &e);
        if (done) done(done_ctx, 503, 0);
        return;
    }
    pthread_mutex_lock(&j->mu);
    if (!stream) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PROXY_QUICK_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (j->phase != PHASE_DONE && pthread_cond_timedwait(&j->cv, &j->mu, &until) == 0) {
        }
        if (j->phase != PHASE_DONE && (j->deferred = http_respond_deferred(r, on_cancel, j))) {
            /* From here the transfer thread owns j: it answers, reports and frees. */
            pthread_mutex_unlock(&j->mu);
            return;
        }
    }
    while (j->phase == PHASE_SENDING)
        pthread_cond_wait(&j->cv, &j->mu);
    if (j->phase == PHASE_HEADERS && j->status == 200 &&
        !strncmp(j->ctype, "text/event-stream", 17)) {
        j->stream = http_respond_stream(r, on_cancel, j);
        if (j->stream) {
            /* From here the transfer thread owns j: it finishes the stream and frees it. */
            j->decided = 1;
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
            return;
        }
        atomic_store(&j->cancelled, true);
    }
    j->decided = 1;
    pthread_cond_broadcast(&j->cv);
    while (j->phase != PHASE_DONE)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    int status, failed = j->rc != CURLE_OK;
    if (!failed) {
        status = (int)j->status;
        http_respond_retry_after(r, status, j->ctype[0] ? j->ctype : "application/json",
                                 j->body ? j->body : "", j->len, j->retry_after);
    } else {
        status = 502;
        http_error_set(&e, 502, "server_error", NULL, "worker_failed",
                       "inference component '%s': its worker failed (%s)", component,
                       j->errbuf[0] ? j->errbuf : curl_easy_strerror(j->rc));
        http_respond_error(r, &e);
    }
    if (done) done(done_ctx, status, failed);
    job_free(j);
}
