/* The HTTP layer alone, over raw sockets (so the ASan ctest run covers it): routing with endpoint
 * names, 404/405/413 envelopes, the auth hook and its exemptions, bodies, deferred answers, SSE
 * streams fed from another thread with keep-alive comments, and the cancel callback on disconnect. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/http/http.h"
#include "tests/support/test_support.h"

static atomic_int cancels;
static char seen_endpoint[64], seen_component[64];

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends req and reads the whole answer (the request says Connection: close). Caller frees. */
static char *roundtrip(int port, const char *req)
{
    int fd = connect_to(port);
    if (fd < 0) return strdup("");
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = recv(fd, out + len, cap - len - 1, 0)) > 0) {
        len += (size_t)n;
        if (cap - len < 1024) out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    close(fd);
    return out;
}

static char *request(int port, const char *method, const char *path, const char *extra, const char *body)
{
    char req[4096];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
             method, path, extra, body ? strlen(body) : 0, body ? body : "");
    return roundtrip(port, req);
}

static void on_echo(void *ctx, http_request *r)
{
    size_t len;
    const char *body = http_request_body(r, &len);
    const char *e = http_request_endpoint(r), *c = http_request_component(r);
    snprintf(seen_endpoint, sizeof seen_endpoint, "%s", e ? e : "-");
    snprintf(seen_component, sizeof seen_component, "%s", c ? c : "-");
    char out[256];
    snprintf(out, sizeof out, "{\"len\":%zu,\"body\":\"%.100s\"}", len, body);
    http_respond_json(r, 200, out);
}

static void on_cancel(void *ctx) { atomic_fetch_add(&cancels, 1); }

typedef struct {
    http_stream *s;
    int pieces;
    int gap_ms;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    for (int i = 0; i < p->pieces; i++) {
        usleep((useconds_t)p->gap_ms * 1000);
        char ev[64];
        snprintf(ev, sizeof ev, "data: piece%d\n\n", i);
        if (http_stream_push(p->s, ev, strlen(ev)) != 0) break;
    }
    http_stream_close(p->s);
    free(p);
    return NULL;
}

static void start_producer(http_stream *s, int pieces, int gap_ms)
{
    producer *p = malloc(sizeof *p);
    *p = (producer){s, pieces, gap_ms};
    pthread_t t;
    pthread_create(&t, NULL, produce, p);
    pthread_detach(t);
}

static void on_stream(void *ctx, http_request *r)
{
    const char *h = http_request_header(r, "X-Pieces");
    start_producer(http_respond_stream(r, on_cancel, NULL), h ? atoi(h) : 3, *(int *)ctx);
}

typedef struct {
    http_stream *s;
    int ms;
    int busy; /* answer a 429 envelope with Retry-After instead of the 201 */
} later;

static void *answer_later(void *arg)
{
    later *l = arg;
    usleep((useconds_t)l->ms * 1000);
    if (l->busy) {
        http_response_error e;
        http_error_set(&e, 429, "rate_limit_error", NULL, "server_overloaded", "busy later");
        e.retry_after = 9;
        http_stream_complete_error(l->s, &e);
    } else {
        http_stream_complete(l->s, 201, "application/json", "{\"late\":true}", 13);
    }
    free(l);
    return NULL;
}

static void on_deferred(void *ctx, http_request *r)
{
    later *l = malloc(sizeof *l);
    l->s = http_respond_deferred(r, on_cancel, NULL);
    l->ms = *(int *)ctx;
    l->busy = !strcmp(http_request_path(r), "/later-busy");
    pthread_t t;
    pthread_create(&t, NULL, answer_later, l);
    pthread_detach(t);
}

static void on_busy(void *ctx, http_request *r)
{
    http_response_error e;
    http_error_set(&e, 429, "rate_limit_error", NULL, "server_overloaded", "busy \"now\"\n");
    e.retry_after = 7;
    http_respond_error(r, &e);
}

static int deny_without_key(void *ctx, const http_request *r, http_response_error *out)
{
    const char *k = http_request_header(r, "x-api-key");
    if (k && !strcmp(k, "k")) return 0;
    http_error_set(out, 403, "permission_error", NULL, "denied", "no key");
    return -1;
}

static void wait_cancels(int want)
{
    for (int i = 0; i < 200 && atomic_load(&cancels) < want; i++) usleep(10000);
}

int main(void)
{
    const char *endpoints[] = {"ep"};
    int gap_ms = 20, slow_ms = 300, never_ms = 3000;
    http_config cfg = {.host = "127.0.0.1", .max_body_bytes = 64, .keepalive_ms = 50, .endpoints = endpoints,
                       .n_endpoints = 1, .authorize = deny_without_key};
    char err[256];
    http_server *s = http_server_new(&cfg, err, sizeof err);
    CHECKF(s != NULL, "%s", err);
    if (!s) return test_finish("test_http_server");
    CHECK(http_server_route(s, HTTP_POST, "/echo", HTTP_ROUTE_OPENAI, on_echo, NULL, err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_GET, "/ping", HTTP_ROUTE_ROOT, on_echo, NULL, err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_POST, "/stream", HTTP_ROUTE_ROOT, on_stream, &gap_ms, err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_POST, "/slow", HTTP_ROUTE_ROOT, on_stream, &slow_ms, err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_POST, "/later", HTTP_ROUTE_ROOT, on_deferred, &gap_ms, err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_POST, "/later-busy", HTTP_ROUTE_ROOT, on_deferred, &gap_ms, err,
                            sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_POST, "/never", HTTP_ROUTE_ROOT, on_deferred, &never_ms, err,
                            sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_GET, "/busy", HTTP_ROUTE_ROOT, on_busy, NULL, err, sizeof err) == 0);
    CHECK(http_server_route(s, 3, "/bad", HTTP_ROUTE_ROOT, on_echo, NULL, err, sizeof err) == -1);
    CHECKF(http_server_start(s, err, sizeof err) == 0, "%s", err);
    int port = http_server_port(s);
    CHECK(port > 0);
    const char *key = "x-api-key: k\r\n";

    char *r = request(port, "POST", "/v1/echo", key, "hello");
    CHECKF(strstr(r, "200 OK") && strstr(r, "{\"len\":5,\"body\":\"hello\"}"), "%s", r);
    CHECK(!strcmp(seen_endpoint, "-") && !strcmp(seen_component, "-"));
    free(r);
    r = request(port, "POST", "/endpoints/ep/inference-components/c-1/openai/v1/echo", key, "x");
    CHECKF(strstr(r, "200 OK") && !strcmp(seen_endpoint, "ep") && !strcmp(seen_component, "c-1"), "%s", r);
    free(r);
    r = request(port, "POST", "/endpoints/zz/openai/v1/echo", key, "x");
    CHECKF(strstr(r, "404") && strstr(r, "\"code\":\"endpoint_not_found\"") && strstr(r, "\"param\":null"), "%s", r);
    free(r);
    r = request(port, "POST", "/echo", key, "x"); /* an OpenAI route is not at the root */
    CHECKF(strstr(r, "404 Not Found") && strstr(r, "\"type\":\"invalid_request_error\""), "%s", r);
    free(r);
    r = request(port, "GET", "/v1/echo", key, NULL);
    CHECKF(strstr(r, "405") && strstr(r, "Allow: POST"), "%s", r);
    free(r);
    r = request(port, "POST", "/v1/echo", key, "0123456789012345678901234567890123456789012345678901234567890123456789");
    CHECKF(strstr(r, "413") && strstr(r, "request_too_large"), "%s", r);
    free(r);
    r = roundtrip(port, "POST /v1/echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nx-api-key: k\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n28\r\n0123456789012345678901234567890123456789\r\n"
                        "28\r\n0123456789012345678901234567890123456789\r\n0\r\n\r\n");
    CHECKF(strstr(r, "413"), "chunked over the limit: %s", r);
    free(r);
    r = request(port, "POST", "/v1/echo", "", "x");
    CHECKF(strstr(r, "403") && strstr(r, "\"code\":\"denied\""), "auth hook: %s", r);
    free(r);
    r = request(port, "GET", "/ping", "", NULL);
    CHECKF(strstr(r, "200 OK"), "/ping skips auth: %s", r);
    free(r);

    r = request(port, "GET", "/busy", key, NULL);
    CHECKF(strstr(r, "429") && strstr(r, "Retry-After: 7") &&
               strstr(r, "{\"error\":{\"message\":\"busy \\\"now\\\"\\n\",\"type\":\"rate_limit_error\","
                         "\"param\":null,\"code\":\"server_overloaded\"}}"),
           "429 envelope: %s", r);
    free(r);
    r = request(port, "POST", "/stream", key, "");
    CHECKF(strstr(r, "text/event-stream") && strstr(r, "data: piece0\n\n") && strstr(r, "data: piece2\n\n"),
           "stream: %s", r);
    free(r);
    r = request(port, "POST", "/slow", "x-api-key: k\r\nX-Pieces: 2\r\n", "");
    CHECKF(strstr(r, ": keep-alive\n\n") && strstr(r, "data: piece1"), "keep-alive: %s", r);
    free(r);
    r = request(port, "POST", "/later", key, "");
    CHECKF(strstr(r, "201 Created") && strstr(r, "{\"late\":true}"), "deferred: %s", r);
    free(r);
    /* a deferred error keeps its Retry-After (a router's late 429 from a worker) */
    r = request(port, "POST", "/later-busy", key, "");
    CHECKF(strstr(r, "429 ") && strstr(r, "Retry-After: 9\r\n") && strstr(r, "busy later"),
           "deferred 429: %s", r);
    free(r);
    CHECK(atomic_load(&cancels) == 0);

    /* a client that leaves mid-stream: the cancel callback runs once */
    int fd = connect_to(port);
    const char *sreq = "POST /slow HTTP/1.1\r\nHost: t\r\nx-api-key: k\r\nX-Pieces: 50\r\nContent-Length: 0\r\n\r\n";
    send(fd, sreq, strlen(sreq), MSG_NOSIGNAL);
    char buf[512];
    CHECK(recv(fd, buf, sizeof buf, 0) > 0);
    close(fd);
    wait_cancels(1);
    CHECKF(atomic_load(&cancels) == 1, "cancels after a stream disconnect: %d", atomic_load(&cancels));
    /* and one that leaves while a deferred answer is pending */
    fd = connect_to(port);
    const char *dreq = "POST /never HTTP/1.1\r\nHost: t\r\nx-api-key: k\r\nContent-Length: 0\r\n\r\n";
    send(fd, dreq, strlen(dreq), MSG_NOSIGNAL);
    usleep(100000);
    close(fd);
    wait_cancels(2);
    CHECKF(atomic_load(&cancels) == 2, "cancels after a deferred disconnect: %d", atomic_load(&cancels));
    usleep(3200 * 1000); /* let the deferred producer finish before the server goes */
    http_server_free(s);

    http_config bad = {.tls_cert_path = "/nonexistent.pem"};
    CHECK(http_server_new(&bad, err, sizeof err) == NULL && strstr(err, "key"));
    bad.tls_key_path = "/nonexistent.key";
    CHECK(http_server_new(&bad, err, sizeof err) == NULL && strstr(err, "/nonexistent.pem"));
    return test_finish("test_http_server");
}
