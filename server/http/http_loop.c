/* The I/O side of the HTTP server: one thread running epoll over non-blocking sockets (plain or
 * GnuTLS), a state machine per connection (head, body, handler, answer, next request), deadlines in
 * one min-heap, and the connection limits. It parses with http_conn, asks http.c to admit a head
 * and to run its handler on a worker, and writes the answers; it never blocks and never runs a
 * handler. Why one I/O thread: docs/design/http-edge.md, "Connections and threads". */
#include "server/http/http_heap.h"
#include "server/http/http_internal.h"
#include "server/http/http_ipcount.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINGER_MS 2000      /* after a closing answer, unread input is drained this long, */
#define LINGER_BYTES 262144 /* or this much: the answer's bytes reach a client still sending */
#define READ_CHUNK 16384    /* bytes read per recv */

enum { ST_TLS, ST_HEAD, ST_BODY, ST_BUSY, ST_SEND, ST_LINGER };

struct http_loop_conn {
    http_loop *l;
    int fd;
    int state;
    gnutls_session_t tls;
    size_t tls_pending; /* bytes of a gnutls_record_send that returned EAGAIN */
    http_buf in, out;
    http_request *req;
    http_body body;
    int busy;         /* its handler is running on a worker */
    int handler_done; /* set under l->mu by http_loop_done */
    int queued;       /* on the ready list (under l->mu) */
    http_loop_conn *ready_next, *run_next;
    int rd_eof, close_after, closed, freed, served, stream_started;
    http_timer timer; /* its one deadline; what it means follows the state */
    uint64_t t_accept, t_head, t_idle, t_body, t_last_in, t_last_out;
    uint64_t body_in, lingered;
    unsigned char ip[HTTP_IP_KEY_MAX];
    size_t ip_len;
    http_loop_conn *prev, *next; /* every connection, for shutdown */
};

struct http_loop {
    http_server *s;
    int ep, efd, listen_fd;
    pthread_t thread;
    int started;
    pthread_mutex_t mu; /* ready list and handler_done */
    http_loop_conn *ready;
    int stop; /* under mu */
    http_loop_conn *conns;
    http_loop_conn *dead; /* freed after the current batch of events, which may still name them */
    unsigned n_open;
    http_heap heap;
    http_ipcount *ips; /* NULL without a per-address limit */
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    char scratch[READ_CHUNK];
};

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void set_deadline(http_loop_conn *c, uint64_t t)
{
    /* On OOM the connection has no deadline: the connection limit still bounds the damage. */
    http_heap_set(&c->l->heap, &c->timer, t);
}

static void ip_release(http_loop *l, http_loop_conn *c)
{
    if (c->ip_len) http_ipcount_release(l->ips, c->ip, c->ip_len);
    c->ip_len = 0;
}

/* ---- ready list (any thread) ----------------------------------------------------------------- */

static void kick(http_loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->efd, &one, sizeof one);
    (void)n; /* the counter cannot overflow here, and a pending wake-up is enough */
}

static void enqueue(http_loop *l, http_loop_conn *c)
{
    if (c->queued) return;
    c->queued = 1;
    c->ready_next = l->ready;
    /* Only the first entry wakes the I/O thread: it takes the whole list at once. */
    if (!l->ready) kick(l);
    l->ready = c;
}

void http_loop_wake(http_loop *l, http_loop_conn *c)
{
    pthread_mutex_lock(&l->mu);
    enqueue(l, c);
    pthread_mutex_unlock(&l->mu);
}

void http_loop_done(http_loop *l, http_loop_conn *c)
{
    pthread_mutex_lock(&l->mu);
    c->handler_done = 1;
    enqueue(l, c);
    pthread_mutex_unlock(&l->mu);
}

/* ---- connection teardown --------------------------------------------------------------------- */

static void conn_free(http_loop_conn *c)
{
    http_loop *l = c->l;
    pthread_mutex_lock(&l->mu);
    if (c->queued)
        for (http_loop_conn **p = &l->ready; *p; p = &(*p)->ready_next)
            if (*p == c) {
                *p = c->ready_next;
                break;
            }
    pthread_mutex_unlock(&l->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    http_request_free(c->req);
    c->req = NULL;
    http_body_free(&c->body);
    http_buf_free(&c->in);
    http_buf_free(&c->out);
    c->closed = c->freed = 1;
    c->next = l->dead;
    l->dead = c;
}

static void bury(http_loop *l)
{
    while (l->dead) {
        http_loop_conn *c = l->dead;
        l->dead = c->next;
        free(c);
    }
}

/* Closes the socket. The client is gone for whatever answer is in progress (on_cancel once); the
 * connection itself lives on until its running handler, if any, returns. */
static void conn_close(http_loop_conn *c)
{
    http_loop *l = c->l;
    if (!c->closed) {
        c->closed = 1;
        set_deadline(c, 0);
        if (c->tls) gnutls_deinit(c->tls);
        c->tls = NULL;
        close(c->fd);
        l->n_open--;
        ip_release(l, c);
    }
    if (c->req && c->req->stream) {
        http_stream_detach(c->req->stream, 1);
        c->req->stream = NULL;
    }
    pthread_mutex_lock(&l->mu);
    if (c->handler_done) c->busy = 0; /* its notice may have been taken already */
    pthread_mutex_unlock(&l->mu);
    if (c->busy) return; /* freed when its handler returns */
    conn_free(c);
}

/* ---- bytes in and out ------------------------------------------------------------------------ */

/* -1 with errno EAGAIN when nothing is available, 0 at the client's end, else the count. */
static ssize_t conn_recv(http_loop_conn *c, char *buf, size_t n)
{
    if (!c->tls) {
        ssize_t r = recv(c->fd, buf, n, 0);
        if (r < 0 && errno == EINTR) errno = EAGAIN;
        return r;
    }
    ssize_t r = gnutls_record_recv(c->tls, buf, n);
    if (r >= 0) return r;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
        errno = EAGAIN;
        return -1;
    }
    if (r == GNUTLS_E_PREMATURE_TERMINATION) return 0;
    errno = ECONNRESET;
    return -1;
}

/* Writes what it can of out. 0, or -1 when the client is gone. */
static int conn_flush(http_loop_conn *c)
{
    while (c->out.off < c->out.len) {
        size_t n = c->out.len - c->out.off;
        ssize_t w;
        if (c->tls) {
            if (n > 16384) n = 16384;
            w = c->tls_pending ? gnutls_record_send(c->tls, NULL, 0)
                               : gnutls_record_send(c->tls, c->out.p + c->out.off, n);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
                if (!c->tls_pending) c->tls_pending = n;
                return 0;
            }
            c->tls_pending = 0;
            if (w < 0) return -1;
        } else {
            w = send(c->fd, c->out.p + c->out.off, n, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
            if (w < 0) return -1;
        }
        c->out.off += (size_t)w;
    }
    c->out.off = c->out.len = 0;
    return 0;
}

/* Reads until EAGAIN or until a request head's worth is buffered (more waits until the buffer is
 * consumed: a pipelining client cannot make the server buffer without bound). 0, or -1 when the
 * client is gone (the caller closes). */
static int conn_read(http_loop_conn *c)
{
    if (c->rd_eof || c->state == ST_TLS) return 0;
    char *scratch = c->l->scratch; /* one buffer for all: an idle connection holds no 16 KiB */
    for (;;) {
        if (c->state != ST_LINGER && c->in.len - c->in.off > HTTP_CONN_HEAD_MAX) return 0;
        ssize_t r = conn_recv(c, scratch, READ_CHUNK);
        if (r < 0) return errno == EAGAIN ? 0 : -1;
        if (r == 0) {
            c->rd_eof = 1;
            return 0;
        }
        uint64_t t = now_ms();
        if (c->in.len == c->in.off && c->state == ST_HEAD) c->t_head = t; /* a request's 1st byte */
        c->t_last_in = t;
        if (c->state == ST_LINGER) {
            if ((c->lingered += (uint64_t)r) > LINGER_BYTES) return -1;
            continue;
        }
        if (c->in.off == c->in.len) {
            c->in.off = c->in.len = 0;
        } else if (c->in.off > c->in.len / 2) {
            http_buf_compact(&c->in);
        }
        if (http_buf_put(&c->in, scratch, (size_t)r)) return -1;
    }
}

/* ---- answers the loop writes itself ---------------------------------------------------------- */

static void answer_error(http_loop_conn *c, int status, const char *code, const char *msg)
{
    http_response_error e;
    http_error_set(&e, status,
                   status >= 500 && status != 501 && status != 505 ? "server_error"
                                                                   : "invalid_request_error",
                   NULL, code, "%s", msg);
    http_respond_build_error(&c->out, &e, HTTP_CONN_HDR_CLOSE, NULL);
    c->close_after = 1;
    http_request_free(c->req);
    c->req = NULL;
    http_body_free(&c->body);
    c->state = ST_SEND;
}

static void answer_truncated(http_loop_conn *c)
{
    answer_error(c, 400, "bad_framing",
                 "the request body ended or stalled before the length its Content-Length or "
                 "chunked framing announced");
}

/* ---- the state machine ------------------------------------------------------------------------
 */

static void start_request(http_loop_conn *c, long head_len, http_head *h)
{
    http_loop *l = c->l;
    http_server *s = l->s;
    c->in.off += (size_t)head_len;
    http_request *r = calloc(1, sizeof *r);
    if (!r) {
        http_head_free(h);
        answer_error(c, 503, "server_error", "out of memory");
        return;
    }
    r->srv = s;
    r->loop = l;
    r->conn = c;
    r->head = *h;
    r->chunked_ok = h->minor == 1;
    int has_body = h->chunked || h->content_length;
    r->conn_hdr = !h->keep_alive  ? HTTP_CONN_HDR_CLOSE
                  : h->minor == 0 ? HTTP_CONN_HDR_KEEP
                                  : HTTP_CONN_HDR_NONE;
    c->req = r;
    c->close_after = !h->keep_alive;
    if (!h->chunked && h->content_length > s->cfg.max_body_bytes) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body is larger than the server's limit of %zu bytes",
                 s->cfg.max_body_bytes);
        answer_error(c, 413, "request_too_large", msg);
        return;
    }
    /* A request refused from its head never has its body read, so then the connection cannot go
     * on: the refusal is written with Connection: close. */
    int conn_hdr = r->conn_hdr;
    if (has_body) r->conn_hdr = HTTP_CONN_HDR_CLOSE;
    http_server_admit(r);
    if (!r->answered) r->conn_hdr = conn_hdr;
    if (r->answered) {
        if (has_body) c->close_after = 1;
        http_buf_put(&c->out, r->resp.p, r->resp.len);
        http_request_free(r);
        c->req = NULL;
        c->state = ST_SEND;
        return;
    }
    if (has_body) {
        if (h->expect_continue) http_buf_put(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        http_body_init(&c->body, &r->head, s->cfg.max_body_bytes);
        c->t_body = c->t_last_in = now_ms();
        c->body_in = 0;
        c->state = ST_BODY;
        return;
    }
    c->state = ST_BUSY;
    c->busy = 1;
    if (http_server_dispatch(r) != 0) c->busy = 0, c->handler_done = 1;
}

/* Moves a finished or streaming answer to out; 1 when the request is over. */
static int collect(http_loop_conn *c)
{
    http_request *r = c->req;
    pthread_mutex_lock(&c->l->mu);
    int done = c->handler_done;
    pthread_mutex_unlock(&c->l->mu);
    if (done && c->busy) {
        c->busy = 0;
        if (c->closed) return -1;
    }
    if (r->stream) {
        size_t before = c->out.len;
        int rc = http_stream_take(r->stream, &c->out, r->conn_hdr);
        if (c->out.len > before) {
            c->t_last_out = now_ms();
            c->stream_started = 1;
        }
        if (rc < 0) return -1;
        if (rc == 1) {
            if (!r->stream->deferred && !r->stream->chunked) c->close_after = 1;
            http_stream_detach(r->stream, 0);
            r->stream = NULL;
        }
    }
    if (!done || r->stream) return 0;
    if (r->resp.len) http_buf_put(&c->out, r->resp.p, r->resp.len);
    http_request_free(r);
    c->req = NULL;
    c->stream_started = 0;
    return 1;
}

static void arm(http_loop_conn *c)
{
    http_config *cfg = &c->l->s->cfg;
    uint64_t t = 0;
    switch (c->state) {
    case ST_TLS:
        t = c->t_accept + cfg->header_timeout_s * 1000ull;
        break;
    case ST_HEAD: {
        /* The head is due header_timeout_s after its first byte (a new connection's after the
         * accept), and no pause inside it or before it may pass idle_timeout_s. */
        uint64_t idle =
            (c->t_last_in > c->t_idle ? c->t_last_in : c->t_idle) + cfg->idle_timeout_s * 1000ull;
        if (!c->served)
            t = c->t_accept + cfg->header_timeout_s * 1000ull;
        else if (c->in.len > c->in.off)
            t = c->t_head + cfg->header_timeout_s * 1000ull;
        else
            t = idle;
        if (idle < t) t = idle;
        break;
    }
    case ST_BODY: {
        uint64_t rate = c->t_body + cfg->header_timeout_s * 1000ull +
                        c->body_in * 1000ull / (cfg->min_body_rate ? cfg->min_body_rate : 1);
        uint64_t idle = c->t_last_in + cfg->idle_timeout_s * 1000ull;
        t = rate < idle ? rate : idle;
        break;
    }
    case ST_BUSY:
        if (c->req && c->req->stream && !c->req->stream->deferred && c->stream_started)
            t = c->t_last_out + cfg->keepalive_ms;
        break;
    case ST_LINGER:
        t = c->t_last_out + LINGER_MS;
        break;
    }
    set_deadline(c, t);
}

/* Runs the connection as far as its bytes allow. -1 when it was closed (c may be freed). */
static int progress(http_loop_conn *c)
{
    http_server *s = c->l->s;
    for (int steps = 0; steps < 1000; steps++) {
        if (c->closed) {
            conn_close(c);
            return -1;
        }
        int st = c->state;
        switch (st) {
        case ST_TLS: {
            int rc = gnutls_handshake(c->tls);
            if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) goto wait;
            if (rc < 0 && gnutls_error_is_fatal(rc)) {
                conn_close(c);
                return -1;
            }
            if (rc == 0) c->state = ST_HEAD;
            continue;
        }
        case ST_HEAD: {
            http_head h;
            http_conn_error e;
            long n = c->in.len > c->in.off
                         ? http_conn_head(c->in.p + c->in.off, c->in.len - c->in.off, &h, &e)
                         : 0;
            if (n < 0) {
                answer_error(c, e.status, e.code, e.message);
                continue;
            }
            if (n == 0) {
                if (c->rd_eof) { /* the client left between or inside heads: nothing to answer */
                    conn_close(c);
                    return -1;
                }
                goto wait;
            }
            c->served = 1;
            start_request(c, n, &h);
            continue;
        }
        case ST_BODY: {
            size_t used = 0, avail = c->in.len - c->in.off;
            http_conn_error e;
            int rc = http_body_feed(&c->body, c->in.p + c->in.off, avail, &used, &e);
            c->in.off += used;
            c->body_in += used;
            if (rc == HTTP_BODY_ERROR) {
                answer_error(c, e.status, e.code, e.message);
                continue;
            }
            if (rc == HTTP_BODY_MORE) {
                if (c->rd_eof) answer_truncated(c);
                if (c->rd_eof) continue;
                goto wait;
            }
            c->req->body = http_body_take(&c->body, &c->req->len);
            c->state = ST_BUSY;
            c->busy = 1;
            if (http_server_dispatch(c->req) != 0) c->busy = 0, c->handler_done = 1;
            continue;
        }
        case ST_BUSY: {
            if (c->rd_eof && c->req->stream) {
                /* A client that leaves its stream or deferred answer is gone (on_cancel). */
                conn_close(c);
                return -1;
            }
            int rc = collect(c);
            if (rc < 0) {
                conn_close(c);
                return -1;
            }
            if (conn_flush(c)) {
                conn_close(c);
                return -1;
            }
            if (rc == 0) goto wait;
            pthread_mutex_lock(&c->l->mu);
            c->handler_done = 0;
            pthread_mutex_unlock(&c->l->mu);
            c->state = ST_SEND;
            continue;
        }
        case ST_SEND:
            if (conn_flush(c)) {
                conn_close(c);
                return -1;
            }
            if (c->out.len) goto wait;
            c->t_idle = c->t_last_out = now_ms();
            if (c->close_after || (c->rd_eof && c->in.len == c->in.off)) {
                if (c->tls) gnutls_bye(c->tls, GNUTLS_SHUT_WR);
                shutdown(c->fd, SHUT_WR);
                c->in.len = c->in.off = 0;
                c->state = ST_LINGER;
                if (c->rd_eof) {
                    conn_close(c);
                    return -1;
                }
                continue;
            }
            c->state = ST_HEAD;
            c->t_head = c->t_idle;  /* bytes already buffered belong to the next request */
            http_buf_free(&c->out); /* an idle kept-alive connection holds no buffers */
            if (c->in.off == c->in.len) http_buf_free(&c->in);
            continue;
        case ST_LINGER:
            if (c->rd_eof) {
                conn_close(c);
                return -1;
            }
            goto wait;
        }
    }
wait:
    (void)s;
    if (c->state != ST_SEND && c->out.len && conn_flush(c)) {
        conn_close(c);
        return -1;
    }
    arm(c);
    return 0;
}

/* Reads and runs the connection until neither has anything left to do. */
static void pump(http_loop_conn *c)
{
    for (int round = 0; round < 64; round++) {
        if (!c->closed && conn_read(c)) {
            conn_close(c);
            return;
        }
        size_t before = c->in.len - c->in.off;
        int state = c->state;
        if (progress(c) < 0) return;
        size_t after = c->in.len - c->in.off;
        /* Read again when the buffer was full and has been consumed since, or when the state
         * changed (a finished handshake or answer: the socket may hold bytes whose readiness
         * edge has passed). */
        if (state == c->state && (before <= HTTP_CONN_HEAD_MAX || after >= before)) return;
    }
}

static void on_timeout(http_loop_conn *c)
{
    switch (c->state) {
    case ST_BODY:
        answer_truncated(c);
        break;
    case ST_BUSY: {
        http_request *r = c->req;
        if (r && r->stream && !r->stream->deferred) {
            static const char ka[] = ": keep-alive\n\n";
            if (r->stream->chunked)
                http_respond_build_chunk(&c->out, ka, sizeof ka - 1);
            else
                http_buf_put(&c->out, ka, sizeof ka - 1);
            c->t_last_out = now_ms();
        }
        break;
    }
    default: /* a head that did not come in time, an idle connection, the end of a linger */
        conn_close(c);
        return;
    }
    pump(c);
}

/* ---- accepting ------------------------------------------------------------------------------- */

static void accept_all(http_loop *l)
{
    http_server *s = l->s;
    for (;;) {
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        int fd = accept4(l->listen_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or EMFILE and the like: the next readiness retries */
        unsigned char key[HTTP_IP_KEY_MAX];
        size_t kl = l->ips ? http_ip_key(&a, key) : 0;
        if (l->n_open >= s->cfg.connection_limit ||
            (kl && http_ipcount_take(l->ips, key, kl, s->cfg.connection_limit_per_ip))) {
            close(fd);
            continue;
        }
        http_loop_conn *c = calloc(1, sizeof *c);
        if (!c) {
            if (kl) http_ipcount_release(l->ips, key, kl);
            close(fd);
            continue;
        }
        memcpy(c->ip, key, kl);
        c->ip_len = kl;
        c->l = l;
        c->fd = fd;
        c->t_accept = c->t_idle = now_ms();
        c->state = ST_HEAD;
        if (l->prio) {
            c->state = ST_TLS;
            if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0 ||
                gnutls_priority_set(c->tls, l->prio) < 0 ||
                gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, l->cred) < 0) {
                if (c->tls) gnutls_deinit(c->tls);
                ip_release(l, c);
                close(fd);
                free(c);
                continue;
            }
            gnutls_transport_set_int(c->tls, fd);
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if (c->tls) gnutls_deinit(c->tls);
            ip_release(l, c);
            close(fd);
            free(c);
            continue;
        }
        l->n_open++;
        c->next = l->conns;
        if (l->conns) l->conns->prev = c;
        l->conns = c;
        pump(c);
    }
}

/* ---- the thread ------------------------------------------------------------------------------ */

static void run_ready(http_loop *l)
{
    uint64_t v;
    ssize_t n = read(l->efd, &v, sizeof v);
    (void)n;
    pthread_mutex_lock(&l->mu);
    http_loop_conn *list = l->ready;
    l->ready = NULL;
    /* Walked through run_next: a conn put back on the ready list while this one is being walked
     * gets a new ready_next, which must not cut this walk short. */
    for (http_loop_conn *c = list; c; c = c->ready_next) {
        c->queued = 0;
        c->run_next = c->ready_next;
    }
    pthread_mutex_unlock(&l->mu);
    while (list) {
        http_loop_conn *c = list;
        list = c->run_next;
        if (c->freed) continue; /* awaiting bury() since an earlier entry of this walk */
        if (c->closed) {
            pthread_mutex_lock(&l->mu);
            int done = c->handler_done;
            pthread_mutex_unlock(&l->mu);
            if (c->req && c->req->stream) {
                http_stream_detach(c->req->stream, 1);
                c->req->stream = NULL;
            }
            if (done) {
                c->busy = 0;
                conn_free(c);
            }
            continue;
        }
        pump(c);
    }
}

static void shut_all(http_loop *l)
{
    if (l->listen_fd >= 0) close(l->listen_fd);
    l->listen_fd = -1;
    for (http_loop_conn *c = l->conns, *n; c; c = n) {
        n = c->next;
        conn_close(c);
    }
}

static void *loop_main(void *arg)
{
    http_loop *l = arg;
    struct epoll_event evs[256];
    int stopping = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop && !stopping) {
            stopping = 1;
            shut_all(l);
        }
        if (stopping && !l->conns) break;
        int timeout = -1;
        http_timer *top = http_heap_top(&l->heap);
        if (top) {
            uint64_t t = now_ms(), d = top->at;
            timeout = d > t ? (int)(d - t) : 0;
        }
        int n = epoll_wait(l->ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &l->listen_fd) {
                if (l->listen_fd >= 0) accept_all(l);
            } else if (p == &l->efd) {
                run_ready(l);
            } else {
                http_loop_conn *c = p;
                if (c->closed) continue;
                if (evs[i].events & (EPOLLRDHUP | EPOLLHUP)) c->rd_eof |= c->state == ST_BUSY;
                if (evs[i].events & EPOLLERR) {
                    conn_close(c);
                    continue;
                }
                pump(c);
            }
        }
        uint64_t t = now_ms();
        while ((top = http_heap_top(&l->heap)) && top->at <= t) {
            http_loop_conn *c =
                (http_loop_conn *)(void *)((char *)top - offsetof(http_loop_conn, timer));
            set_deadline(c, 0);
            on_timeout(c);
        }
        bury(l);
    }
    bury(l);
    return NULL;
}

http_loop *http_loop_new(http_server *s, int listen_fd, char *err, size_t errlen)
{
    http_loop *l = calloc(1, sizeof *l);
    if (!l) {
        close(listen_fd);
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    l->s = s;
    l->listen_fd = listen_fd;
    l->ep = l->efd = -1;
    if (s->cfg.connection_limit_per_ip && !(l->ips = http_ipcount_new())) {
        close(listen_fd);
        free(l);
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &l->listen_fd};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &l->efd};
    if (l->ep < 0 || l->efd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, listen_fd, &lev) ||
        epoll_ctl(l->ep, EPOLL_CTL_ADD, l->efd, &wev)) {
        snprintf(err, errlen, "http: cannot set up epoll: %s", strerror(errno));
        http_loop_free(l);
        return NULL;
    }
    if (s->tls) {
        const char *where = NULL;
        int rc = gnutls_certificate_allocate_credentials(&l->cred);
        if (rc == 0) {
            gnutls_certificate_set_retrieve_function2(
                l->cred, (gnutls_certificate_retrieve_function2 *)http_tls_retrieve_callback());
            rc = gnutls_priority_init(&l->prio, s->tls_priorities, &where);
        }
        if (rc < 0) {
            snprintf(err, errlen, "http: TLS setup: %s", gnutls_strerror(rc));
            http_loop_free(l);
            return NULL;
        }
    }
    return l;
}

int http_loop_start(http_loop *l, char *err, size_t errlen)
{
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
        snprintf(err, errlen, "http: cannot start the I/O thread");
        return -1;
    }
    l->started = 1;
    return 0;
}

void http_loop_free(http_loop *l)
{
    if (!l) return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        kick(l);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    } else {
        shut_all(l);
        bury(l);
    }
    if (l->listen_fd >= 0) close(l->listen_fd);
    if (l->ep >= 0) close(l->ep);
    if (l->efd >= 0) close(l->efd);
    if (l->prio) gnutls_priority_deinit(l->prio);
    if (l->cred) gnutls_certificate_free_credentials(l->cred);
    http_ipcount_free(l->ips);
    http_heap_free(&l->heap);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
