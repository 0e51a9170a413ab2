/* The supervisor's crash-loop count (sup_recent_exits, what makes a component Failed): a copy that
 * keeps exiting soon after it is ready counts every exit, but once a copy has stayed ready for the
 * stable time the earlier exits are forgotten, and a later exit of that stable copy counts as the
 * first; sup_restarts keeps counting them all. The workers are this program run again as
 * `serve ... --unix-socket PATH`: it answers /health with 200 until killed. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/router/supervisor.h"
#include "tests/support/test_support.h"

#define STABLE_S 1.0

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* The stand-in worker: every request on the socket gets 200 (the probe asks only /health). */
static int fake_worker(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--unix-socket")) path = argv[i + 1];
    if (!path) return 2;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16)) return 3;
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR) continue;
            return 4;
        }
        /* the whole request head first: closing with it unread would reset the connection */
        char buf[4096];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof buf - 1 && (r = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
            n += (size_t)r;
            buf[n] = 0;
            if (strstr(buf, "\r\n\r\n")) break;
        }
        static const char ok[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ssize_t w = write(c, ok, sizeof ok - 1);
        (void)w;
        close(c);
    }
}

/* Waits up to ms for copy 0 of slot 0 to be ready (1) or not (0). */
static int wait_ready(supervisor *s, int want, int ms)
{
    for (int t = 0; t < ms; t += 20) {
        if (sup_copy_ready(s, 0, 0) == want) return 1;
        sleep_ms(20);
    }
    return 0;
}

/* Kills copy 0's worker once it is ready, and waits until its exit is counted. */
static void kill_when_ready(supervisor *s, unsigned long restarts_before)
{
    CHECKF(wait_ready(s, 1, 20000), "the copy did not become ready");
    pid_t pid = sup_pid(s, 0, 0);
    CHECK(pid > 0 && kill(pid, SIGKILL) == 0);
    for (int t = 0; t < 5000 && sup_restarts(s, 0) == restarts_before; t += 10)
        sleep_ms(10);
    CHECKF(sup_restarts(s, 0) == restarts_before + 1, "restarts %lu, expected %lu",
           sup_restarts(s, 0), restarts_before + 1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "serve")) return fake_worker(argc, argv);
    char self[4096], err[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    if (n <= 0) return test_finish("test_router_supervisor_window");
    self[n] = 0;
    cc_config shell = {0};
    snprintf(shell.endpoint, sizeof shell.endpoint, "ep");
    supervisor *s = sup_start(&shell, self, err, sizeof err);
    CHECKF(s != NULL, "sup_start: %s", err);
    if (!s) return test_finish("test_router_supervisor_window");
    sup_set_stable_s(s, STABLE_S);

    cc_component comp = {.name = "c", .model = "/models/any", .copies = 1};
    sup_add(s, 0, &comp);

    /* a crash loop: each copy dies right after it is ready; every exit counts */
    for (unsigned long i = 0; i < 3; i++)
        kill_when_ready(s, i);
    CHECKF(sup_recent_exits(s, 0) == 3, "recent exits of a crash loop: %lu",
           sup_recent_exits(s, 0));

    /* the copy is ready and stays so for the stable time: the loop is over and forgotten */
    CHECKF(wait_ready(s, 1, 20000), "the copy did not become ready");
    sleep_ms((int)(STABLE_S * 1000) + 300);
    CHECKF(sup_recent_exits(s, 0) == 0, "recent exits after a stable copy: %lu",
           sup_recent_exits(s, 0));
    CHECKF(sup_restarts(s, 0) == 3, "restarts are a counter: %lu", sup_restarts(s, 0));

    /* the stable copy dies: the first exit of a new count, not a fourth one */
    kill_when_ready(s, 3);
    CHECKF(sup_recent_exits(s, 0) == 1, "recent exits after a stable copy died: %lu",
           sup_recent_exits(s, 0));
    CHECKF(sup_restarts(s, 0) == 4, "restarts: %lu", sup_restarts(s, 0));

    /* and it restarts at the minimum backoff (0.5 s): ready again well within 2 s of the exit */
    CHECKF(wait_ready(s, 1, 2000 + 1000), "the stable copy's restart was not quick");

    sup_stop(s, 2);
    return test_finish("test_router_supervisor_window");
}
