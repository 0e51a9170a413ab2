/* The plain-HTTP front door: accepts connections itself, holds each in one epoll loop (no thread)
 * until its request head has arrived, checks the raw head bytes (http_framing_raw_head) with
 * recv(MSG_PEEK), and only then hands the socket to libmicrohttpd (MHD_add_connection). Never reads
 * past a head, never touches a connection after the hand-over; not used under TLS. */
#ifndef BERTH_HTTP_FRONT_H
#define BERTH_HTTP_FRONT_H

#include <microhttpd.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTP_FRONT_HEAD_MAX 32768 /* a longer head is a 431 (MHD's own pool holds 32 KiB) */

typedef struct http_front http_front;

/* A listening TCP socket on addr (SO_REUSEADDR, non-blocking); the fd, or -1 with err set to why
 * (strerror). */
int http_front_listen(const struct sockaddr *addr, socklen_t addrlen, char *err, size_t errlen);
/* Takes ownership of listen_fd (any stream family: TCP or Unix-domain). daemon must have been
 * started with MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC. A head must be complete within
 * header_timeout_s of the accept, with no pause longer than idle_timeout_s, else the connection is
 * closed without an answer. A connection accepted while max_connections are open (waiting here
 * plus MHD's), or while max_per_ip (0 = no limit) are open from its IP address, is closed at once.
 * NULL on OOM. */
http_front *http_front_new(int listen_fd, struct MHD_Daemon *daemon, unsigned header_timeout_s,
                           unsigned idle_timeout_s, unsigned max_connections, unsigned max_per_ip);
/* MHD closed a connection the front handed to it (its MHD_CONNECTION_NOTIFY_CLOSED), from the
 * client address addr: releases its per-address count. Thread-safe. */
void http_front_closed(http_front *f, const struct sockaddr *addr);
/* Starts the loop thread; 0 or -1. */
int http_front_start(http_front *f);
/* Stops the loop and closes the listening socket and every connection still waiting for its head.
 * Call before MHD_stop_daemon. */
void http_front_stop(http_front *f);
void http_front_free(http_front *f);

#endif
