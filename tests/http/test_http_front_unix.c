/* http_front on a Unix-domain listening socket (the `--unix-socket` mode another branch adds to
 * http.c): a well-formed request reaches libmicrohttpd and is answered, a head with a NUL or a bare
 * LF is refused with the 400 envelope, and MHD's CLOSED notification for a Unix peer releases
 * nothing it did not count (no per-address counting for non-IP peers). */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/http/http_front.h"
#include "tests/support/test_support.h"

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    (void)con_cls;
    static char ok[] = "ok";
    struct MHD_Response *r = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result res = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return res;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **sctx,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)sctx;
    http_front **front = cls;
    if (code != MHD_CONNECTION_NOTIFY_CLOSED || !*front) return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci) http_front_closed(*front, ci->client_addr);
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
    char path[] = "/tmp/berth_front_XXXXXX";
    CHECK(mkdtemp(path) != NULL);
    char sock[sizeof path + 8];
    snprintf(sock, sizeof sock, "%s/s", path);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 16) == 0);
    static http_front *front;
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                             MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
                         0, NULL, NULL, on_access, NULL, MHD_OPTION_NOTIFY_CONNECTION,
                         on_connection, &front, MHD_OPTION_END);
    CHECK(d != NULL);
    if (!d) return test_finish("test_http_front_unix");
    front = http_front_new(lfd, d, 5, 5, 64, 2);
    CHECK(front != NULL && http_front_start(front) == 0);

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

    http_front_stop(front);
    MHD_stop_daemon(d);
    http_front_free(front);
    unlink(sock);
    rmdir(path);
    return test_finish("test_http_front_unix");
}
