#include "server/http/http_front.h"
#include "server/http/http.h"
#include "server/http/http_framing.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define FRONT_TICK_MS 200 /* how often head deadlines are checked */
#define FRONT_EVENTS 256
#define FRONT_IP_BUCKETS 1024

/* Open connections from one client address: waiting here, plus handed to MHD until it closes them.
 */
struct ip_count {
    struct ip_count *next;
    unsigned char key[17]; /* family byte, then the IPv4 or IPv6 address */
    unsigned n;
};

struct pending {
    struct pending *prev, *next;
    int fd;
    double deadline;  /* the whole head is due by then (header timeout) */
    double last_byte; /* and no pause may exceed the idle timeout */
    ssize_t peeked;
    socklen_t addrlen;
    struct sockaddr_storage addr;
};

struct http_front {
    int listen_fd, wake_fd, ep;
    struct MHD_Daemon *daemon;
    unsigned header_timeout_s, idle_timeout_s, max_connections, max_per_ip, n_pending;
    pthread_mutex_t ip_mu; /* http_front_closed runs on MHD's connection threads */
    struct ip_count *ips[FRONT_IP_BUCKETS];
    struct pending list; /* list head */
    pthread_t thread;
    int running;
    volatile int stopping;
    char head[HTTP_FRONT_HEAD_MAX];
};

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int http_front_listen(const struct sockaddr *addr, socklen_t addrlen, char *err, size_t errlen)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, addr, addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* 0 for an address that is not IP (a Unix-domain peer): not counted per address. */
static size_t addr_key(const struct sockaddr *a, unsigned char key[17])
{
    memset(key, 0, 17);
    if (a->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)a)->sin_addr, 4);
        return 5;
    }
    if (a->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
        return 17;
    }
    return 0;
}

static struct ip_count **ip_slot(http_front *f, const unsigned char key[17])
{
    unsigned h = 2166136261u;
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    struct ip_count **pp = &f->ips[h % FRONT_IP_BUCKETS];
    while (*pp && memcmp((*pp)->key, key, 17) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Counts one more connection from addr; 0 when that would pass the per-address limit. */
static int ip_take(http_front *f, const struct sockaddr *addr)
{
    unsigned char key[17];
    if (!f->max_per_ip || !addr_key(addr, key)) return 1;
    pthread_mutex_lock(&f->ip_mu);
    struct ip_count **pp = ip_slot(f, key);
    int ok = !*pp || (*pp)->n < f->max_per_ip;
    if (ok && !*pp && (*pp = calloc(1, sizeof **pp))) memcpy((*pp)->key, key, 17);
    if (ok && *pp) (*pp)->n++;
    ok = ok && *pp;
    pthread_mutex_unlock(&f->ip_mu);
    return ok;
}

static void ip_release(http_front *f, const struct sockaddr *addr)
{
    unsigned char key[17];
    if (!f->max_per_ip || !addr_key(addr, key)) return;
    pthread_mutex_lock(&f->ip_mu);
    struct ip_count **pp = ip_slot(f, key), *c = *pp;
    if (c && --c->n == 0) {
        *pp = c->next;
        free(c);
    }
    pthread_mutex_unlock(&f->ip_mu);
}

void http_front_closed(http_front *f, const struct sockaddr *addr)
{
    if (f && addr) ip_release(f, addr);
}

http_front *http_front_new(int listen_fd, struct MHD_Daemon *daemon, unsigned header_timeout_s,
                           unsigned idle_timeout_s, unsigned max_connections, unsigned max_per_ip)
{
    http_front *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->listen_fd = listen_fd;
    f->daemon = daemon;
    f->header_timeout_s = header_timeout_s;
    f->idle_timeout_s = idle_timeout_s;
    f->max_connections = max_connections;
    f->max_per_ip = max_per_ip;
    pthread_mutex_init(&f->ip_mu, NULL);
    f->list.next = f->list.prev = &f->list;
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &f->wake_fd};
    if (f->ep < 0 || f->wake_fd < 0 || epoll_ctl(f->ep, EPOLL_CTL_ADD, listen_fd, &lev) != 0 ||
        epoll_ctl(f->ep, EPOLL_CTL_ADD, f->wake_fd, &wev) != 0) {
        f->listen_fd = -1; /* the caller still owns it on failure */
        http_front_free(f);
        return NULL;
    }
    return f;
}

static void unlink_pending(http_front *f, struct pending *p)
{
    epoll_ctl(f->ep, EPOLL_CTL_DEL, p->fd, NULL);
    p->prev->next = p->next;
    p->next->prev = p->prev;
    f->n_pending--;
}

static void drop(http_front *f, struct pending *p)
{
    unlink_pending(f, p);
    ip_release(f, (struct sockaddr *)&p->addr);
    close(p->fd);
    free(p);
}

/* A head another parser could read differently: the OpenAI envelope, then close. What the client
 * already sent is read first, so that closing with unread bytes does not reset the connection
 * before it has read the answer. */
static void refuse(http_front *f, struct pending *p, int status, const char *code,
                   const char *message)
{
    unlink_pending(f, p);
    ip_release(f, (struct sockaddr *)&p->addr);
    char sink[4096];
    for (int i = 0; i < 64 && recv(p->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
    http_response_error e;
    http_error_set(&e, status, "invalid_request_error", NULL, code, "%s", message);
    char *json = http_error_json(&e);
    char hdr[256];
    size_t len = json ? strlen(json) : 0;
    int n =
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, status == 431 ? "Request Header Fields Too Large" : "Bad Request", len);
    /* Best effort and never blocking: a client that does not read gets nothing. */
    (void)!send(p->fd, hdr, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT | (json ? MSG_MORE : 0));
    if (json) (void)!send(p->fd, json, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    free(json);
    shutdown(p->fd, SHUT_WR);
    close(p->fd);
    free(p);
}

static void on_readable(http_front *f, struct pending *p, int hangup)
{
    ssize_t n = recv(p->fd, f->head, sizeof f->head, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        drop(f, p); /* the client left before its head was complete */
        return;
    }
    if (n < 0) return;
    if (n > p->peeked) {
        p->peeked = n;
        p->last_byte = mono_s();
    }
    http_framing fr;
    http_framing_init(&fr);
    long head = http_framing_raw_head(&fr, f->head, (size_t)n);
    if (head < 0) {
        refuse(f, p, fr.status, "bad_framing", fr.message);
    } else if (head > 0) {
        unlink_pending(f, p);
        /* MHD owns (and closes) the socket from here, even when it refuses it; its CLOSED
         * notification releases the address's count (http_front_closed). If it refuses at once
         * there is no notification. */
        if (MHD_add_connection(f->daemon, p->fd, (const struct sockaddr *)&p->addr, p->addrlen) !=
            MHD_YES)
            ip_release(f, (struct sockaddr *)&p->addr);
        free(p);
    } else if ((size_t)n == sizeof f->head) {
        refuse(f, p, 431, "headers_too_large",
               "the request line and headers are larger than 32768 bytes");
    } else if (hangup) {
        drop(f, p); /* the client stopped sending inside its head: it will never complete */
    }
}

static void on_accept(http_front *f)
{
    for (;;) {
        struct pending *p = calloc(1, sizeof *p);
        if (!p) return;
        p->addrlen = sizeof p->addr;
        p->fd = accept4(f->listen_fd, (struct sockaddr *)&p->addr, &p->addrlen,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (p->fd < 0) {
            free(p);
            return;
        }
        /* Edge-triggered: a peeked byte stays in the socket, so level-triggered would spin. */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = p};
        /* One limit for both: connections waiting here and those MHD is serving. */
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        unsigned busy = f->n_pending + (di ? di->num_connections : 0);
        if (busy >= f->max_connections || !ip_take(f, (struct sockaddr *)&p->addr)) {
            close(p->fd);
            free(p);
            continue;
        }
        if (epoll_ctl(f->ep, EPOLL_CTL_ADD, p->fd, &ev) != 0) {
            ip_release(f, (struct sockaddr *)&p->addr);
            close(p->fd);
            free(p);
            continue;
        }
        p->last_byte = mono_s();
        p->deadline = p->last_byte + f->header_timeout_s;
        p->prev = f->list.prev;
        p->next = &f->list;
        f->list.prev->next = p;
        f->list.prev = p;
        f->n_pending++;
        /* Bytes that arrived with the connection raise no later edge. */
        on_readable(f, p, 0);
    }
}

static void *front_main(void *arg)
{
    http_front *f = arg;
    struct epoll_event evs[FRONT_EVENTS];
    while (!f->stopping) {
        int n = epoll_wait(f->ep, evs, FRONT_EVENTS, FRONT_TICK_MS);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                on_accept(f);
            else if (evs[i].data.ptr != &f->wake_fd)
                on_readable(f, evs[i].data.ptr,
                            (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
        }
        double now = mono_s();
        for (struct pending *p = f->list.next, *next; p != &f->list; p = next) {
            next = p->next;
            /* No answer: see "Connections and deadlines" in the design note. */
            if (now > p->deadline || now > p->last_byte + f->idle_timeout_s) drop(f, p);
        }
    }
    return NULL;
}

int http_front_start(http_front *f)
{
    if (pthread_create(&f->thread, NULL, front_main, f) != 0) return -1;
    f->running = 1;
    return 0;
}

void http_front_stop(http_front *f)
{
    if (!f) return;
    if (f->running) {
        f->stopping = 1;
        uint64_t one = 1;
        (void)!write(f->wake_fd, &one, sizeof one);
        pthread_join(f->thread, NULL);
        f->running = 0;
    }
    while (f->list.next != &f->list)
        drop(f, f->list.next);
    if (f->listen_fd >= 0) close(f->listen_fd);
    f->listen_fd = -1;
}

void http_front_free(http_front *f)
{
    if (!f) return;
    http_front_stop(f);
    if (f->ep >= 0) close(f->ep);
    if (f->wake_fd >= 0) close(f->wake_fd);
    for (size_t i = 0; i < FRONT_IP_BUCKETS; i++)
        for (struct ip_count *c = f->ips[i], *next; c; c = next) {
            next = c->next;
            free(c);
        }
    pthread_mutex_destroy(&f->ip_mu);
    free(f);
}
