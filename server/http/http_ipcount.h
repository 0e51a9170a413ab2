/* Open connections per client address, for --max-connections-per-ip: a small hash of IPv4/IPv6
 * addresses to counts. Not thread-safe (the I/O thread alone uses it); knows no socket. */
#ifndef BERTH_HTTP_IPCOUNT_H
#define BERTH_HTTP_IPCOUNT_H

#include <stddef.h>
#include <sys/socket.h>

#define HTTP_IP_KEY_MAX 17

typedef struct http_ipcount http_ipcount;

/* The key of a peer address into key; its length, or 0 for a peer that is not IP (a Unix-domain
 * one: not counted). */
size_t http_ip_key(const struct sockaddr_storage *a, unsigned char key[HTTP_IP_KEY_MAX]);
http_ipcount *http_ipcount_new(void);
/* Counts one more connection from key unless limit are open already. 0, or -1 (at the limit, or
 * OOM). */
int http_ipcount_take(http_ipcount *t, const unsigned char *key, size_t len, unsigned limit);
void http_ipcount_release(http_ipcount *t, const unsigned char *key, size_t len);
void http_ipcount_free(http_ipcount *t);

#endif
