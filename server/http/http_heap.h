/* Deadlines of many items in one binary min-heap: set, move or drop an item's deadline in
 * O(log n), find the earliest in O(1). Items embed an http_timer; the heap owns no item and knows
 * nothing of what a deadline means. */
#ifndef BERTH_HTTP_HEAP_H
#define BERTH_HTTP_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t at; /* 0 = not in the heap */
    size_t i;    /* its index in the heap (private) */
} http_timer;

typedef struct {
    http_timer **a;
    size_t n, cap;
} http_heap;

/* Sets t's deadline to at (0 removes it). -1 on OOM (t then has no deadline). */
int http_heap_set(http_heap *h, http_timer *t, uint64_t at);
/* The earliest deadline's timer, or NULL when empty. */
http_timer *http_heap_top(const http_heap *h);
void http_heap_free(http_heap *h);

#endif
