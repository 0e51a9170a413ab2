/* State shared by http_loop.c (the I/O thread: ready list, accepting, teardown, deadlines) and
 * http_session.c (one connection's state machine): the loop and connection structures. Private to
 * server/http; http.c sees neither (it goes through http_internal.h). */
#ifndef BERTH_HTTP_LOOP_INTERNAL_H
#define BERTH_HTTP_LOOP_INTERNAL_H

#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "server/http/http_heap.h"
#include "server/http/http_internal.h"
#include "server/http/http_ipcount.h"

#define READ_CHUNK 16384 /* bytes read per recv */

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

static inline uint64_t http_loop_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static inline void http_loop_set_deadline(http_loop_conn *c, uint64_t t)
{
    /* On OOM the connection has no deadline: the connection limit still bounds the damage. */
    http_heap_set(&c->l->heap, &c->timer, t);
}

/* Closes the socket. The client is gone for whatever answer is in progress (on_cancel once); the
 * connection itself lives on until its running handler, if any, returns. */
void http_loop_close_conn(http_loop_conn *c);

#endif
