/* RFC 9112 framing rules checked on a request's parsed header list, before any body byte is read:
 * Content-Length/Transfer-Encoding conflicts, header name and value bytes, Host. Pure functions, no
 * I/O; http_conn.c feeds it every request's raw head and header fields, and the loop answers. */
#ifndef BERTH_HTTP_FRAMING_H
#define BERTH_HTTP_FRAMING_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned n_content_length;
    uint64_t content_length; /* the first valid value */
    unsigned n_transfer_encoding;
    unsigned n_host;
    int status;        /* 0 while nothing is wrong; else 400 or 501 (the first problem wins) */
    char message[160]; /* why, safe to send: names the header, never echoes its value */
} http_framing;

void http_framing_init(http_framing *f);
/* One header field as parsed, `name` and `value` with their lengths (they may hold NUL bytes). */
void http_framing_header(http_framing *f, const char *name, size_t name_len, const char *value,
                         size_t value_len);
/* After the last header: checks what needs all of them. `version` is "HTTP/1.1" or "HTTP/1.0".
 * Returns f->status (0 = acceptable). */
int http_framing_finish(http_framing *f, const char *version);

/* The raw bytes of a request head as received, before the fields are split: what a lenient parse
 * would hide is checked here (a NUL anywhere, a bare LF or CR line end, obs-fold, whitespace before the
 * first header). Empty lines before the request line are skipped (RFC 9112 2.2). Returns the head's
 * length through its empty line once it is complete and acceptable, 0 while it is acceptable so far
 * but not complete, or -1 with f->status (400) and f->message set. */
long http_framing_raw_head(http_framing *f, const char *buf, size_t len);

#endif
