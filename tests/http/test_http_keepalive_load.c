/* Many kept-alive clients at full speed (as ab -k does): 32 threads, each sending its next request
 * as soon as its answer arrives, 1,000 requests each. Handlers finish on workers while the I/O
 * thread walks its wake-up list; a wake-up lost there (as once happened) leaves a request without
 * an answer, which fails here by the 5 s receive timeout. Half the clients ask a route answered on
 * a worker, half one answered inline on the I/O thread (HTTP_ROUTE_INLINE), so both paths run at
 * once. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/http/http.h"
#include "tests/support/test_support.h"

#define CLIENTS 32
#define REQUESTS 1000

static int port;
static atomic_int answered, stuck;

static void on_ping(void *ctx, http_request *r)
{
    (void)ctx;
    http_respond(r, 200, "text/plain", "ok", 2);
}

static void *client(void *arg)
{
    const char *req = arg;
    size_t req_len = strlen(req);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        atomic_fetch_add(&stuck, 1);
        close(fd);
        return NULL;
    }
    for (int i = 0; i < REQUESTS; i++) {
        if (send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) break;
        char buf[512];
        size_t got = 0;
        /* The answer is fixed: a head ending in "\r\n\r\n" and the 2-byte body "ok". */
        while (got < 4 || memcmp(buf + got - 4, "\r\nok", 4) != 0) {
            ssize_t n = recv(fd, buf + got, sizeof buf - got, 0);
            if (n <= 0) {
                atomic_fetch_add(&stuck, 1);
                close(fd);
                return NULL;
            }
            got += (size_t)n;
            if (got >= sizeof buf) break;
        }
        atomic_fetch_add(&answered, 1);
    }
    close(fd);
    return NULL;
}

int main(void)
{
    http_config cfg = {.host = "127.0.0.1"};
    char err[256];
    http_server *s = http_server_new(&cfg, err, sizeof err);
    CHECKF(s != NULL, "%s", err);
    if (!s) return test_finish("test_http_keepalive_load");
    CHECK(http_server_route(s, HTTP_GET, "/ping", HTTP_ROUTE_ROOT, on_ping, NULL, err,
                            sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_GET, "/quick", HTTP_ROUTE_ROOT | HTTP_ROUTE_INLINE, on_ping,
                            NULL, err, sizeof err) == 0);
    CHECKF(http_server_start(s, err, sizeof err) == 0, "%s", err);
    port = http_server_port(s);
    pthread_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&t[i], NULL, client,
                       i % 2 ? "GET /quick HTTP/1.1\r\nHost: x\r\n\r\n"
                             : "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);
    CHECKF(atomic_load(&stuck) == 0, "%d clients got no answer within 5 s", atomic_load(&stuck));
    CHECKF(atomic_load(&answered) == CLIENTS * REQUESTS, "%d of %d answered",
           atomic_load(&answered), CLIENTS * REQUESTS);
    http_server_free(s);
    return test_finish("test_http_keepalive_load");
}
