/* Fuzzes the HTTP layer with raw request bytes. A berth_http server (framing checks, routing, the
 * auth hook, body limits) runs once in this process on 127.0.0.1; each input goes out on a fresh
 * connection whose write side is then closed, and the answer is read. The server must answer with
 * an HTTP status line or close, never hang, and must still answer /ping afterwards. The same bytes,
 * cut into header lines, also go straight to http_framing, which must not read out of bounds, and
 * whole to http_framing_raw_head (the raw-head check every request gets), whose verdict on a prefix must
 * agree with its verdict on the whole input. */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/http/http.h"
#include "server/http/http_framing.h"

static void on_ping(void *ctx, http_request *r)
{
    (void)ctx;
    http_respond(r, 200, "text/plain", "ok", 2);
}

static void on_echo(void *ctx, http_request *r)
{
    (void)ctx;
    size_t n;
    http_request_body(r, &n);
    char out[64];
    int len = snprintf(out, sizeof out, "{\"bytes\":%zu}", n);
    http_respond(r, 200, "application/json", out, (size_t)len);
}

static int authorize(void *ctx, const http_request *r, http_response_error *e)
{
    (void)ctx, (void)e;
    const char *h = http_request_header(r, "Authorization");
    return h && strcmp(h, "Bearer k") == 0 ? 0 : 1;
}

static int server_port(void)
{
    static int port;
    if (port) return port;
    static const char *const endpoints[] = {"ep"};
    http_config cfg = {.host = "127.0.0.1",
                       .max_body_bytes = 4096,
                       .idle_timeout_s = 5,
                       .header_timeout_s = 5,
                       .endpoints = endpoints,
                       .n_endpoints = 1,
                       .authorize = authorize};
    char err[256];
    http_server *s = http_server_new(&cfg, err, sizeof err);
    if (!s ||
        http_server_route(s, HTTP_GET, "/ping", HTTP_ROUTE_ROOT | HTTP_ROUTE_INLINE, on_ping, NULL,
                          err, sizeof err) ||
        http_server_route(s, HTTP_POST, "/chat/completions", HTTP_ROUTE_OPENAI, on_echo, NULL, err,
                          sizeof err) ||
        http_server_start(s, err, sizeof err)) {
        fprintf(stderr, "fuzz_http_request: %s\n", err);
        abort();
    }
    static http_server *keep; /* the server lives for the whole process, reachable for LSan */
    keep = s;
    port = http_server_port(keep);
    return port;
}

/* Sends `data`, closes the write side, reads the whole answer into out (up to cap). */
static size_t exchange(int port, const uint8_t *data, size_t size, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) abort();
    for (size_t off = 0; off < size;) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0) break; /* the server may close early (an error answered before the body) */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fprintf(stderr, "fuzz_http_request: no answer and no close within 10 s\n");
            abort();
        }
        if (n <= 0) break;
        size_t keep = got + (size_t)n < cap ? (size_t)n : cap - got;
        memcpy(out + got, buf, keep);
        got += keep;
    }
    close(fd);
    return got;
}

static void framing_lines(const uint8_t *data, size_t size)
{
    http_framing f;
    http_framing_init(&f);
    const char *p = (const char *)data, *end = p + size;
    const char *nl = memchr(p, '\n', size); /* the first line is the request line */
    p = nl ? nl + 1 : end;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            const char *v = colon + 1;
            http_framing_header(&f, p, (size_t)(colon - p), v, (size_t)(le - v));
        }
        p = nl ? nl + 1 : end;
    }
    http_framing_finish(&f, size % 2 ? "HTTP/1.1" : "HTTP/1.0");
    if (f.status && !f.message[0]) abort();
}

/* A head found complete (or refused) in a prefix is the same head (or refused) in the whole: the
 * parser decides on whatever part of the head has arrived. */
static void raw_head(const uint8_t *data, size_t size)
{
    http_framing f;
    http_framing_init(&f);
    long whole = http_framing_raw_head(&f, (const char *)data, size);
    if (whole < -1 || whole > (long)size) abort();
    if (whole == -1 && (f.status != 400 || !f.message[0])) abort();
    if (whole > 0 && memcmp(data + whole - 2, "\r\n", 2) != 0) abort();
    for (size_t cut = 0; cut < size; cut += 1 + cut / 2) {
        http_framing_init(&f);
        long part = http_framing_raw_head(&f, (const char *)data, cut);
        if ((part != 0 && part != whole) || (part == 0 && whole > 0 && (size_t)whole <= cut)) {
            fprintf(stderr, "fuzz_http_request: raw head verdict %ld on %zu bytes, %ld on %zu\n",
                    part, cut, whole, size);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    framing_lines(data, size);
    raw_head(data, size);
    int port = server_port();
    static char out[1 << 16];
    size_t n = exchange(port, data, size, out, sizeof out);
    if (n && !(n >= 9 && (memcmp(out, "HTTP/1.1 ", 9) == 0 || memcmp(out, "HTTP/1.0 ", 9) == 0))) {
        fprintf(stderr, "fuzz_http_request: answer is not HTTP: %.40s\n", out);
        abort();
    }
    static const char ping[] = "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    n = exchange(port, (const uint8_t *)ping, sizeof ping - 1, out, sizeof out);
    if (n < 12 || memcmp(out, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "fuzz_http_request: /ping failed after the input\n");
        abort();
    }
    return 0;
}
