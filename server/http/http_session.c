#include "server/http/http_session.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_MS 2000      /* after a closing answer, unread input is drained this long, */
#define LINGER_BYTES 262144 /* or this much: the answer's bytes reach a client still sending */

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
        uint64_t t = http_loop_now_ms();
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
        c->t_body = c->t_last_in = http_loop_now_ms();
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
            c->t_last_out = http_loop_now_ms();
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
    http_loop_set_deadline(c, t);
}

/* Runs the connection as far as its bytes allow. -1 when it was closed (c may be freed). */
static int progress(http_loop_conn *c)
{
    http_server *s = c->l->s;
    for (int steps = 0; steps < 1000; steps++) {
        if (c->closed) {
            http_loop_close_conn(c);
            return -1;
        }
        int st = c->state;
        switch (st) {
        case ST_TLS: {
            int rc = gnutls_handshake(c->tls);
            if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) goto wait;
            if (rc < 0 && gnutls_error_is_fatal(rc)) {
                http_loop_close_conn(c);
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
                    http_loop_close_conn(c);
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
                http_loop_close_conn(c);
                return -1;
            }
            int rc = collect(c);
            if (rc < 0) {
                http_loop_close_conn(c);
                return -1;
            }
            if (conn_flush(c)) {
                http_loop_close_conn(c);
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
                http_loop_close_conn(c);
                return -1;
            }
            if (c->out.len) goto wait;
            c->t_idle = c->t_last_out = http_loop_now_ms();
            if (c->close_after || (c->rd_eof && c->in.len == c->in.off)) {
                if (c->tls) gnutls_bye(c->tls, GNUTLS_SHUT_WR);
                shutdown(c->fd, SHUT_WR);
                c->in.len = c->in.off = 0;
                c->state = ST_LINGER;
                if (c->rd_eof) {
                    http_loop_close_conn(c);
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
                http_loop_close_conn(c);
                return -1;
            }
            goto wait;
        }
    }
wait:
    (void)s;
    if (c->state != ST_SEND && c->out.len && conn_flush(c)) {
        http_loop_close_conn(c);
        return -1;
    }
    arm(c);
    return 0;
}

/* Reads and runs the connection until neither has anything left to do. */
void http_session_pump(http_loop_conn *c)
{
    for (int round = 0; round < 64; round++) {
        if (!c->closed && conn_read(c)) {
            http_loop_close_conn(c);
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

void http_session_timeout(http_loop_conn *c)
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
            c->t_last_out = http_loop_now_ms();
        }
        break;
    }
    default: /* a head that did not come in time, an idle connection, the end of a linger */
        http_loop_close_conn(c);
        return;
    }
    http_session_pump(c);
}
