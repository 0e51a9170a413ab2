#include "server/http/http_deadline.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SWEEP_MS 200 /* how often deadlines are checked */

struct track {
    struct track *prev, *next;
    int fd;
    http_phase phase;
    int cut;         /* the sweeper shut it down */
    double deadline; /* HEAD: the request line and headers must be complete by then */
    double body_start;
    uint64_t body_bytes;
};

struct http_deadlines {
    unsigned header_timeout_s, idle_timeout_s, min_body_rate;
    int plain_http;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct track head; /* list head */
    pthread_t sweeper;
    int running, stopping;
};

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

http_deadlines *http_deadlines_new(unsigned header_timeout_s, unsigned idle_timeout_s,
                                   unsigned min_body_rate, int plain_http)
{
    http_deadlines *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->plain_http = plain_http;
    d->header_timeout_s = header_timeout_s;
    d->idle_timeout_s = idle_timeout_s;
    d->min_body_rate = min_body_rate ? min_body_rate : 1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    d->head.next = d->head.prev = &d->head;
    return d;
}

void http_deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code)
{
    http_deadlines *d = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct track *t = calloc(1, sizeof *t);
        if (!t) return; /* untracked: only MHD's idle timeout applies to it */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        t->fd = ci ? ci->connect_fd : -1;
        t->deadline = mono_s() + d->header_timeout_s;
        pthread_mutex_lock(&d->mu);
        t->next = d->head.next;
        t->prev = &d->head;
        d->head.next->prev = t;
        d->head.next = t;
        pthread_mutex_unlock(&d->mu);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        struct track *t = *socket_context;
        /* Unlinked before MHD closes the fd, so the sweeper never shuts down a reused number. */
        pthread_mutex_lock(&d->mu);
        t->prev->next = t->next;
        t->next->prev = t->prev;
        pthread_mutex_unlock(&d->mu);
        free(t);
        *socket_context = NULL;
    }
}

static struct track *track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void http_deadlines_phase(http_deadlines *d, struct MHD_Connection *conn, http_phase phase)
{
    struct track *t = track_of(conn);
    if (!t) return;
    pthread_mutex_lock(&d->mu);
    t->phase = phase;
    if (phase == HTTP_PHASE_HEAD) t->deadline = mono_s() + d->idle_timeout_s;
    if (phase == HTTP_PHASE_BODY) {
        t->body_start = mono_s();
        t->body_bytes = 0;
    }
    pthread_mutex_unlock(&d->mu);
}

void http_deadlines_body(http_deadlines *d, struct MHD_Connection *conn, size_t n)
{
    struct track *t = track_of(conn);
    if (!t) return;
    pthread_mutex_lock(&d->mu);
    t->body_bytes += n;
    pthread_mutex_unlock(&d->mu);
}

void http_deadlines_send_truncated(int fd)
{
    static const char body[] =
        "{\"error\":{\"message\":\"the request body ended or stalled before the length its "
        "Content-Length or chunked framing announced\",\"type\":\"invalid_request_error\","
        "\"param\":null,\"code\":\"bad_framing\"}}";
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     sizeof body - 1, body);
    /* Best effort and never blocking: a client that does not read gets nothing. */
    if (n > 0) (void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* A body may start after a pause of up to the header timeout, then must average the minimum rate.
 */
static int expired(const http_deadlines *d, const struct track *t, double now)
{
    if (t->phase == HTTP_PHASE_HEAD) return now > t->deadline;
    if (t->phase == HTTP_PHASE_BODY)
        return now > t->body_start + d->header_timeout_s +
                         (double)t->body_bytes / (double)d->min_body_rate;
    return 0;
}

static void *sweeper_main(void *arg)
{
    http_deadlines *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        double now = mono_s();
        for (struct track *t = d->head.next; t != &d->head; t = t->next)
            if (!t->cut && t->fd >= 0 && expired(d, t, now)) {
                /* A head that never completed gets no answer: on an idle kept-alive connection an
                 * unasked-for one would be read as the answer to the client's next request. */
                if (t->phase == HTTP_PHASE_BODY && d->plain_http)
                    http_deadlines_send_truncated(t->fd);
                /* Wakes the connection's thread with EOF: MHD closes it and frees its slot. */
                shutdown(t->fd, SHUT_RDWR);
                t->cut = 1;
            }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int http_deadlines_start(http_deadlines *d)
{
    if (pthread_create(&d->sweeper, NULL, sweeper_main, d) != 0) return -1;
    d->running = 1;
    return 0;
}

void http_deadlines_stop(http_deadlines *d)
{
    if (!d || !d->running) return;
    pthread_mutex_lock(&d->mu);
    d->stopping = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->sweeper, NULL);
    d->running = 0;
}

void http_deadlines_free(http_deadlines *d)
{
    if (!d) return;
    http_deadlines_stop(d);
    /* Tracks still linked belong to connections MHD never reported closed (none after a stop). */
    for (struct track *t = d->head.next; t != &d->head;) {
        struct track *n = t->next;
        free(t);
        t = n;
    }
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}
