/* The connection loop on a Unix-domain listening socket (how the router reaches its workers): a
 * well-formed request is answered, a head with a NUL or a bare LF is refused with the 400 envelope,
 * on the first request and on a kept-alive second one, and Unix peers are not counted against the
 * per-address limit (they have no address). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/http/http.h"
#include "tests/support/test_support.h"

static void on_root(void *ctx, http_request *r)
{
    (void)ctx;
    http_respond(r, 200, "text/plain", "ok", 2);
}

static char *roundtrip(const char *path, const char *req, size_t len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    char *out = calloc(1, 8192);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return out;
    }
    send(fd, req, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    ssize_t n;
    while ((n = recv(fd, out + got, 8191 - got, 0)) > 0)
        got += (size_t)n;
    close(fd);
    return out;
}

int main(void)
{
    char path[] = "/tmp/berth_loop_XXXXXX";
    CHECK(mkdtemp(path) != NULL);
    char sock[sizeof path + 8];
    snprintf(sock, sizeof sock, "%s/s", path);
    http_config cfg = {.unix_socket_path = sock, .connection_limit_per_ip = 2};
    char err[256];
    http_server *srv = http_server_new(&cfg, err, sizeof err);
    CHECKF(srv != NULL, "%s", err);
    if (!srv) return test_finish("test_http_loop_unix");
    CHECK(http_server_route(srv, HTTP_GET, "/", HTTP_ROUTE_ROOT, on_root, NULL, err, sizeof err) ==
          0);
    CHECKF(http_server_start(srv, err, sizeof err) == 0, "%s", err);

    /* More than the per-address limit of 2, one after another: Unix peers are not counted. */
    for (int i = 0; i < 5; i++) {
        static const char good[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        char *out = roundtrip(sock, good, sizeof good - 1);
        CHECKF(strncmp(out, "HTTP/1.1 200", 12) == 0, "good request over the Unix socket: %.60s",
               out);
        free(out);
    }
    static const char nul[] = "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\0junk\r\n\r\n";
    char *out = roundtrip(sock, nul, sizeof nul - 1);
    CHECKF(strncmp(out, "HTTP/1.1 400", 12) == 0 && strstr(out, "\"bad_framing\""),
           "NUL over the Unix socket: %.60s", out);
    free(out);
    static const char lf[] = "GET / HTTP/1.1\nHost: x\n\n";
    out = roundtrip(sock, lf, sizeof lf - 1);
    CHECKF(strncmp(out, "HTTP/1.1 400", 12) == 0, "bare LF over the Unix socket: %.60s", out);
    free(out);

    /* The same refusals on the second request of a kept-alive connection. */
    static const char two[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n";
    out = roundtrip(sock, two, sizeof two - 1);
    char *second = strstr(out + 1, "HTTP/1.1 ");
    CHECKF(strncmp(out, "HTTP/1.1 200", 12) == 0 && second &&
               strncmp(second, "HTTP/1.1 400", 12) == 0 && strstr(second, "Connection: close"),
           "NUL in a pipelined second request: %.200s", out);
    free(out);

    http_server_free(srv);
    rmdir(path);
    return test_finish("test_http_loop_unix");
}
