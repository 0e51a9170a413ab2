/* The I/O thread of the HTTP server: one thread running epoll over non-blocking sockets (plain or
 * GnuTLS), accepting under the connection limits, the ready list workers wake it through, the
 * deadlines in one min-heap, and each connection's teardown. http_session.c moves a connection
 * through its requests; http.c admits a head and runs its handler on a worker, or here for a route
 * flagged HTTP_ROUTE_INLINE (quick and non-blocking by contract); this thread never blocks. Why one
 * I/O thread: docs/design/http-edge.md, "Connections and threads". */
#include "server/http/http_session.h"

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
#include <unistd.h>

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

void http_loop_close_conn(http_loop_conn *c)
{
    http_loop *l = c->l;
    if (!c->closed) {
        c->closed = 1;
        http_loop_set_deadline(c, 0);
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
        c->t_accept = c->t_idle = http_loop_now_ms();
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
        http_session_pump(c);
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
        http_session_pump(c);
    }
}

static void shut_all(http_loop *l)
{
    if (l->listen_fd >= 0) close(l->listen_fd);
    l->listen_fd = -1;
    for (http_loop_conn *c = l->conns, *n; c; c = n) {
        n = c->next;
        http_loop_close_conn(c);
    }
}

static void *loop_main(void *arg)
{
    http_loop *l = arg;
    /* Named so that an inline handler (and top -H) can tell the I/O thread from the workers. */
    pthread_setname_np(pthread_self(), "berth-http-io");
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
            uint64_t t = http_loop_now_ms(), d = top->at;
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
                    http_loop_close_conn(c);
                    continue;
                }
                http_session_pump(c);
            }
        }
        uint64_t t = http_loop_now_ms();
        while ((top = http_heap_top(&l->heap)) && top->at <= t) {
            http_loop_conn *c =
                (http_loop_conn *)(void *)((char *)top - offsetof(http_loop_conn, timer));
            http_loop_set_deadline(c, 0);
            http_session_timeout(c);
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
