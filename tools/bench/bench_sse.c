/* Event-stream parsing after the WHATWG rules: lines end in CRLF, LF or CR; an empty line dispatches
 * the event; ':' starts a comment; "data:" values (one leading space dropped) are joined by '\n'. */
#include "tools/bench/bench_sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_sse_init(bench_sse *p, size_t max_event_bytes)
{
    memset(p, 0, sizeof *p);
    p->max_event_bytes = max_event_bytes;
}

void bench_sse_free(bench_sse *p)
{
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof *p);
}

bool bench_sse_pending(const bench_sse *p) { return p->line_len > 0 || p->have_data; }

static int too_long(const char *what, size_t limit, char *err, size_t errlen)
{
    snprintf(err, errlen, "SSE stream: %s longer than %zu bytes", what, limit);
    return -1;
}

static int grow(char **buf, size_t *cap, size_t need, char *err, size_t errlen)
{
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 256;
    while (cap2 < need) cap2 *= 2;
    char *b = realloc(*buf, cap2);
    if (!b) {
        snprintf(err, errlen, "SSE stream: out of memory for %zu bytes", need);
        return -1;
    }
    *buf = b;
    *cap = cap2;
    return 0;
}

static int dispatch(bench_sse *p, bench_sse_event_fn fn, void *ctx)
{
    if (!p->have_data) return 0;
    p->have_data = false;
    size_t len = p->data_len;
    p->data_len = 0;
    /* The data buffer always ends with the '\n' appended after each data line; drop the last. */
    if (len > 0) len--;
    p->data[len] = '\0';
    return fn(ctx, p->data, len);
}

static int end_line(bench_sse *p, bench_sse_event_fn fn, void *ctx, char *err, size_t errlen)
{
    const char *line = p->line;
    size_t n = p->line_len;
    p->line_len = 0;
    if (n == 0) return dispatch(p, fn, ctx);
    if (line[0] == ':') {
        p->comments++;
        return 0;
    }
    const char *colon = memchr(line, ':', n);
    size_t name_len = colon ? (size_t)(colon - line) : n;
    if (name_len != 4 || memcmp(line, "data", 4) != 0) return 0; /* event, id, retry: unused */
    const char *value = colon ? colon + 1 : line + n;
    size_t vlen = (size_t)(line + n - value);
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    if (p->data_len + vlen > p->max_event_bytes)
        return too_long("event", p->max_event_bytes, err, errlen);
    /* +1 for the '\n' separator, +1 for the terminating NUL written at dispatch. */
    if (grow(&p->data, &p->data_cap, p->data_len + vlen + 2, err, errlen)) return -1;
    memcpy(p->data + p->data_len, value, vlen);
    p->data_len += vlen;
    p->data[p->data_len++] = '\n';
    p->have_data = true;
    return 0;
}

int bench_sse_feed(bench_sse *p, const char *buf, size_t n, bench_sse_event_fn fn, void *ctx,
                   char *err, size_t errlen)
{
    size_t i = 0;
    while (i < n) {
        char c = buf[i];
        if (p->after_cr) {
            p->after_cr = false;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        if (c == '\r' || c == '\n') {
            p->after_cr = c == '\r';
            i++;
            int rc = end_line(p, fn, ctx, err, errlen);
            if (rc) return rc;
            continue;
        }
        /* Copy the run of ordinary bytes up to the next line end in one go. */
        size_t j = i;
        while (j < n && buf[j] != '\r' && buf[j] != '\n') j++;
        size_t run = j - i;
        if (p->line_len + run > p->max_event_bytes)
            return too_long("line", p->max_event_bytes, err, errlen);
        if (grow(&p->line, &p->line_cap, p->line_len + run, err, errlen)) return -1;
        memcpy(p->line + p->line_len, buf + i, run);
        p->line_len += run;
        i = j;
    }
    return 0;
}
