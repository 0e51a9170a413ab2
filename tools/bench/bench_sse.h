/* Incremental Server-Sent Events parser for berth-bench: bytes in, one callback per event's data.
 * Owns only line splitting and field handling (WHATWG event-stream rules); it knows nothing of
 * JSON, HTTP or timing, and never allocates more than its event limit. */
#ifndef BERTH_BENCH_SSE_H
#define BERTH_BENCH_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* Called once per dispatched event with its data (data lines joined by '\n', NUL-terminated).
 * A non-zero return stops the parse and is returned by bench_sse_feed. */
typedef int (*bench_sse_event_fn)(void *ctx, const char *data, size_t len);

typedef struct {
    char *line;          /* the current, unterminated line */
    size_t line_len, line_cap;
    char *data;          /* data field of the event being built */
    size_t data_len, data_cap;
    bool have_data;      /* a data field was seen since the last dispatch */
    bool after_cr;       /* the last byte was CR: a following LF belongs to the same line end */
    size_t max_event_bytes;
    size_t comments;     /* comment lines seen (": keep-alive") */
} bench_sse;

void bench_sse_init(bench_sse *p, size_t max_event_bytes);
void bench_sse_free(bench_sse *p);

/* Feeds n bytes (any split: a line or a CRLF may straddle calls). Returns 0, the callback's
 * non-zero value, or -1 with a message in err when a line or event exceeds the limit or memory
 * runs out. */
int bench_sse_feed(bench_sse *p, const char *buf, size_t n, bench_sse_event_fn fn, void *ctx,
                   char *err, size_t errlen);

/* True when bytes of an unfinished event are buffered (a stream that ended mid-event). */
bool bench_sse_pending(const bench_sse *p);

#endif
