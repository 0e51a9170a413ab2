#include "server/http/http_heap.h"

#include <stdlib.h>

static void swap(http_heap *h, size_t a, size_t b)
{
    http_timer *t = h->a[a];
    h->a[a] = h->a[b];
    h->a[b] = t;
    h->a[a]->i = a;
    h->a[b]->i = b;
}

static void fix(http_heap *h, size_t i)
{
    while (i && h->a[(i - 1) / 2]->at > h->a[i]->at) {
        swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t m = i, l = 2 * i + 1, r = l + 1;
        if (l < h->n && h->a[l]->at < h->a[m]->at) m = l;
        if (r < h->n && h->a[r]->at < h->a[m]->at) m = r;
        if (m == i) return;
        swap(h, i, m);
        i = m;
    }
}

int http_heap_set(http_heap *h, http_timer *t, uint64_t at)
{
    if (t->at && !at) {
        size_t i = t->i;
        swap(h, i, --h->n);
        t->at = 0;
        if (i < h->n) fix(h, i);
        return 0;
    }
    if (!at) return 0;
    if (!t->at) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 256;
            http_timer **a = realloc(h->a, cap * sizeof *a);
            if (!a) return -1;
            h->a = a;
            h->cap = cap;
        }
        t->i = h->n++;
        h->a[t->i] = t;
    }
    t->at = at;
    fix(h, t->i);
    return 0;
}

http_timer *http_heap_top(const http_heap *h)
{
    return h->n ? h->a[0] : NULL;
}

void http_heap_free(http_heap *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}
