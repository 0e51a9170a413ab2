/* Routes flagged HTTP_ROUTE_INLINE: their handler runs on the I/O thread (never a worker), answers
 * while every worker is held by a blocked handler, keeps the order of pipelined answers behind a
 * blocked one, gets the 500 envelope when it gives no answer, and may still hand its request to
 * another thread (a deferred answer, whose on_cancel runs on the I/O thread as always). */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/http/http.h"
#include "tests/support/test_support.h"

static char inline_thread[16], worker_thread[16], cancel_thread[16];
static atomic_int quick_count, cancels;
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static int held, released;
static http_stream *never_stream; /* a deferred answer only its client's leaving ends */

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until the peer closes (or 5 s pass). Caller frees. */
static char *read_all(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = recv(fd, out + len, cap - len - 1, 0)) > 0)
        len += (size_t)n;
    out[len] = 0;
    return out;
}

static char *roundtrip(int port, const char *req)
{
    int fd = connect_to(port);
    if (fd < 0) return strdup("");
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    char *out = read_all(fd);
    close(fd);
    return out;
}

static void on_quick(void *ctx, http_request *r)
{
    (void)ctx;
    pthread_getname_np(pthread_self(), inline_thread, sizeof inline_thread);
    char body[32];
    int n = snprintf(body, sizeof body, "quick %d", atomic_fetch_add(&quick_count, 1));
    http_respond(r, 200, "text/plain", body, (size_t)n);
}

static void on_worker(void *ctx, http_request *r)
{
    (void)ctx;
    pthread_getname_np(pthread_self(), worker_thread, sizeof worker_thread);
    http_respond(r, 200, "text/plain", "worker", 6);
}

/* Blocks its worker until the test releases it. */
static void on_hold(void *ctx, http_request *r)
{
    (void)ctx;
    pthread_mutex_lock(&hold_mu);
    held++;
    pthread_cond_broadcast(&hold_cv);
    while (!released)
        pthread_cond_wait(&hold_cv, &hold_mu);
    pthread_mutex_unlock(&hold_mu);
    http_respond(r, 200, "text/plain", "held", 4);
}

static void on_silent(void *ctx, http_request *r)
{
    (void)ctx;
    (void)r;
}

static void on_cancel(void *ctx)
{
    (void)ctx;
    pthread_getname_np(pthread_self(), cancel_thread, sizeof cancel_thread);
    atomic_fetch_add(&cancels, 1);
}

static void *answer_later(void *arg)
{
    usleep(50000);
    http_stream_complete(arg, 202, "application/json", "{\"later\":1}", 11);
    return NULL;
}

/* An inline handler may still answer from another thread: it only must not wait for it. A request
 * with "X-Never: 1" is never answered, so the client's leaving is what ends it (on_cancel). */
static void on_deferred(void *ctx, http_request *r)
{
    (void)ctx;
    http_stream *s = http_respond_deferred(r, on_cancel, NULL);
    if (http_request_header(r, "X-Never")) {
        never_stream = s; /* closed by the test after the cancel, as a producer would */
        return;
    }
    pthread_t t;
    pthread_create(&t, NULL, answer_later, s);
    pthread_detach(t);
}

/* Returns the answer (checked by main: the check counters are not thread-safe). */
static void *hold_client(void *arg)
{
    int port = *(int *)arg;
    return roundtrip(port, "GET /hold HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
}

int main(void)
{
    http_config cfg = {.host = "127.0.0.1"};
    char err[256];
    http_server *s = http_server_new(&cfg, err, sizeof err);
    CHECKF(s != NULL, "%s", err);
    if (!s) return test_finish("test_http_inline");
    int in = HTTP_ROUTE_ROOT | HTTP_ROUTE_INLINE;
    CHECK(http_server_route(s, HTTP_GET, "/quick", in, on_quick, NULL, err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_GET, "/silent", in, on_silent, NULL, err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_POST, "/deferred", in, on_deferred, NULL, err, sizeof err) ==
          0);
    CHECK(http_server_route(s, HTTP_GET, "/worker", HTTP_ROUTE_ROOT, on_worker, NULL, err,
                            sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_GET, "/hold", HTTP_ROUTE_ROOT, on_hold, NULL, err,
                            sizeof err) == 0);
    CHECKF(http_server_start(s, err, sizeof err) == 0, "%s", err);
    int port = http_server_port(s);

    /* Which thread runs what: inline on the I/O thread, the rest on workers. */
    char *r = roundtrip(port, "GET /quick HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECKF(strstr(r, "200 OK") && strstr(r, "quick 0"), "inline: %s", r);
    free(r);
    CHECKF(!strcmp(inline_thread, "berth-http-io"), "inline handler ran on %s", inline_thread);
    r = roundtrip(port, "GET /worker HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECKF(strstr(r, "200 OK") && strstr(r, "worker"), "worker: %s", r);
    free(r);
    CHECKF(!strcmp(worker_thread, "berth-http-wk"), "pool handler ran on %s", worker_thread);

    /* Every worker blocked (the pool's first two, and the ones it adds for waiting jobs): the
     * inline route still answers, at once, on fresh and on kept-alive connections. */
    enum { HOLDS = 4 };
    pthread_t holders[HOLDS];
    for (int i = 0; i < HOLDS; i++)
        pthread_create(&holders[i], NULL, hold_client, &port);
    pthread_mutex_lock(&hold_mu);
    while (held < HOLDS)
        pthread_cond_wait(&hold_cv, &hold_mu);
    pthread_mutex_unlock(&hold_mu);
    /* Pipelined behind a blocked request on one connection: its answer waits for the held one
     * (answers keep the order of their requests), though the inline handler is not blocked. */
    int fd = connect_to(port);
    const char *pipe_req = "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"
                           "GET /quick HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    send(fd, pipe_req, strlen(pipe_req), MSG_NOSIGNAL);
    pthread_mutex_lock(&hold_mu);
    while (held < HOLDS + 1)
        pthread_cond_wait(&hold_cv, &hold_mu);
    pthread_mutex_unlock(&hold_mu);
    int ka = connect_to(port);
    for (int i = 0; i < 50; i++) {
        const char *q = "GET /quick HTTP/1.1\r\nHost: t\r\n\r\n";
        send(ka, q, strlen(q), MSG_NOSIGNAL);
        char buf[512];
        ssize_t n = recv(ka, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        CHECKF(n > 0 && strstr(buf, "200 OK") && strstr(buf, "quick"),
               "inline answer %d while every worker is held: %s", i, buf);
    }
    close(ka);
    pthread_mutex_lock(&hold_mu);
    CHECKF(!released, "the workers were held throughout");
    released = 1;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mu);
    for (int i = 0; i < HOLDS; i++) {
        char *held_answer = NULL;
        pthread_join(holders[i], (void **)&held_answer);
        CHECKF(held_answer && strstr(held_answer, "200 OK") && strstr(held_answer, "held"),
               "held request %d: %s", i, held_answer ? held_answer : "(none)");
        free(held_answer);
    }
    r = read_all(fd);
    close(fd);
    char *first = strstr(r, "held"), *second = strstr(r, "quick 51");
    CHECKF(first && second && first < second, "pipelined answers in order: %s", r);
    free(r);

    /* Many inline requests pipelined in one send: answered in order, none lost. */
    char many[64 * 40] = "";
    for (int i = 0; i < 40; i++)
        strcat(many, i == 39 ? "GET /quick HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                             : "GET /quick HTTP/1.1\r\nHost: t\r\n\r\n");
    r = roundtrip(port, many);
    char *at = r;
    for (int i = 0; i < 40 && at; i++) {
        char want[32];
        snprintf(want, sizeof want, "quick %d", 52 + i);
        at = strstr(at, want);
        CHECKF(at != NULL, "pipelined inline answer %d missing or out of order", i);
    }
    free(r);

    /* An inline handler that gives no answer gets the 500 envelope, as on a worker. */
    r = roundtrip(port, "GET /silent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    CHECKF(strstr(r, "500 ") && strstr(r, "\"type\":\"server_error\"") &&
               strstr(r, "gave no answer"),
           "silent inline handler: %s", r);
    free(r);

    /* A deferred answer started inline, completed by another thread. */
    r = roundtrip(port, "POST /deferred HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                        "Content-Length: 2\r\n\r\n{}");
    CHECKF(strstr(r, "202 ") && strstr(r, "{\"later\":1}"), "deferred from inline: %s", r);
    free(r);
    /* ...and one whose client leaves first: on_cancel once, on the I/O thread. */
    fd = connect_to(port);
    const char *never =
        "POST /deferred HTTP/1.1\r\nHost: t\r\nX-Never: 1\r\nContent-Length: 0\r\n\r\n";
    send(fd, never, strlen(never), MSG_NOSIGNAL);
    usleep(100000);
    close(fd);
    for (int i = 0; i < 200 && atomic_load(&cancels) < 1; i++)
        usleep(10000);
    CHECKF(atomic_load(&cancels) == 1, "cancels: %d", atomic_load(&cancels));
    CHECKF(!strcmp(cancel_thread, "berth-http-io"), "on_cancel ran on %s", cancel_thread);
    if (never_stream) http_stream_close(never_stream);
    http_server_free(s);
    return test_finish("test_http_inline");
}
