/* The HTTP layer on a Unix socket (how the router reaches its workers) and component-scoped routes
 * (/endpoints/{e}/inference-components/{c}/health), over raw sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/http/http.h"
#include "tests/support/test_support.h"

static void on_hello(void *ctx, http_request *r)
{
    char body[160];
    const char *c = http_request_component(r);
    snprintf(body, sizeof body, "{\"route\":\"%s\",\"component\":\"%s\"}", (const char *)ctx,
             c ? c : "-");
    http_respond_json(r, 200, body);
}

static char *request(const char *path, const char *req)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return strdup("");
    }
    send(fd, req, strlen(req), MSG_NOSIGNAL);
    size_t cap = 1 << 14, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = recv(fd, out + len, cap - len - 1, 0)) > 0)
        len += (size_t)n;
    out[len] = 0;
    close(fd);
    return out;
}

int main(void)
{
    char dir[] = "/tmp/berth-http-unix-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/w.sock", dir);
    FILE *stale = fopen(path, "w"); /* a file left behind by a worker that died is replaced */
    if (stale) fclose(stale);
    const char *endpoints[] = {"ep"};
    http_config cfg = {.unix_socket_path = path, .endpoints = endpoints, .n_endpoints = 1};
    char err[256];
    http_server *s = http_server_new(&cfg, err, sizeof err);
    CHECKF(s != NULL, "%s", err);
    CHECK(http_server_route(s, HTTP_GET, "/health", HTTP_ROUTE_ROOT, on_hello, "root", err,
                            sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_GET, "/health", HTTP_ROUTE_COMPONENT, on_hello, "component",
                            err, sizeof err) == 0);
    CHECK(http_server_route(s, HTTP_GET, "/models", HTTP_ROUTE_OPENAI, on_hello, "openai", err,
                            sizeof err) == 0);
    CHECKF(http_server_start(s, err, sizeof err) == 0, "%s", err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));

    char *r = request(path, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECKF(strstr(r, "200 OK") && strstr(r, "{\"route\":\"root\",\"component\":\"-\"}"), "%s", r);
    free(r);
    r = request(path, "GET /endpoints/ep/inference-components/c-1/health HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n");
    CHECKF(strstr(r, "200 OK") && strstr(r, "{\"route\":\"component\",\"component\":\"c-1\"}"),
           "%s", r);
    free(r);
    r = request(
        path, "GET /endpoints/ep/inference-components/c-1/openai/v1/models HTTP/1.1\r\nHost: x\r\n"
              "Connection: close\r\n\r\n");
    CHECKF(strstr(r, "200 OK") && strstr(r, "{\"route\":\"openai\",\"component\":\"c-1\"}"), "%s",
           r);
    free(r);
    /* a component route is not an endpoint route, nor an OpenAI one */
    r = request(path, "GET /endpoints/ep/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECKF(strstr(r, "404"), "%s", r);
    free(r);
    r = request(path, "GET /endpoints/ep/inference-components/c-1/models HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n");
    CHECKF(strstr(r, "404"), "%s", r);
    free(r);
    r = request(path, "GET /endpoints/zz/inference-components/c-1/health HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n");
    CHECKF(strstr(r, "404") && strstr(r, "endpoint_not_found"), "%s", r);
    free(r);
    http_server_free(s);
    CHECK(stat(path, &st) != 0); /* the socket file goes with the server */

    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = 0;
    http_config lcfg = {.unix_socket_path = longpath};
    s = http_server_new(&lcfg, err, sizeof err);
    CHECK(s && http_server_start(s, err, sizeof err) == -1 && strstr(err, "longer than"));
    http_server_free(s);
    rmdir(dir);
    return test_finish("test_http_unix");
}
