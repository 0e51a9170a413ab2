#include "server/http/http_ipcount.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

struct entry {
    unsigned char key[HTTP_IP_KEY_MAX];
    size_t len;
    unsigned n;
    struct entry *next;
};

struct http_ipcount {
    struct entry *b[BUCKETS];
};

size_t http_ip_key(const struct sockaddr_storage *a, unsigned char key[HTTP_IP_KEY_MAX])
{
    memset(key, 0, HTTP_IP_KEY_MAX);
    if (a->ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)a)->sin_addr, 4);
        return 5;
    }
    if (a->ss_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
        return 17;
    }
    return 0;
}

static struct entry **find(http_ipcount *t, const unsigned char *k, size_t n)
{
    size_t h = 1469598103u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    struct entry **p = &t->b[h % BUCKETS];
    while (*p && !((*p)->len == n && !memcmp((*p)->key, k, n)))
        p = &(*p)->next;
    return p;
}

http_ipcount *http_ipcount_new(void)
{
    return calloc(1, sizeof(http_ipcount));
}

int http_ipcount_take(http_ipcount *t, const unsigned char *key, size_t len, unsigned limit)
{
    struct entry **p = find(t, key, len);
    if (*p && (*p)->n >= limit) return -1;
    if (!*p) {
        if (!(*p = calloc(1, sizeof **p))) return -1;
        memcpy((*p)->key, key, len);
        (*p)->len = len;
    }
    (*p)->n++;
    return 0;
}

void http_ipcount_release(http_ipcount *t, const unsigned char *key, size_t len)
{
    struct entry **p = find(t, key, len), *e = *p;
    if (!e || --e->n) return;
    *p = e->next;
    free(e);
}

void http_ipcount_free(http_ipcount *t)
{
    if (!t) return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (t->b[i]) {
            struct entry *n = t->b[i]->next;
            free(t->b[i]);
            t->b[i] = n;
        }
    free(t);
}
