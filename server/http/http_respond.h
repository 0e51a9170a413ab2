/* The bytes of HTTP/1.1 answers: status line and headers, bodies, the OpenAI error envelope, chunk
 * framing for streams. Pure string building into a growable buffer; never touches a socket or a
 * connection's state. */
#ifndef BERTH_HTTP_RESPOND_H
#define BERTH_HTTP_RESPOND_H

#include "server/http/http.h"

#include <stddef.h>

/* Bytes waiting to go out: [off, len) is unsent. */
typedef struct {
    char *p;
    size_t off, len, cap;
} http_buf;

int http_buf_put(http_buf *b, const void *data, size_t n);
/* Drops the sent prefix (keeps the buffer). */
void http_buf_compact(http_buf *b);
void http_buf_free(http_buf *b);

/* What the Connection header says: nothing (HTTP/1.1 keep-alive), close, or keep-alive (the
 * HTTP/1.0 client asked for it). */
enum { HTTP_CONN_HDR_NONE, HTTP_CONN_HDR_CLOSE, HTTP_CONN_HDR_KEEP };

/* A complete answer. retry_after > 0 adds Retry-After; allow (may be NULL) adds Allow. 0 or -1
 * (OOM). */
int http_respond_build(http_buf *b, int status, const char *content_type, const char *body,
                       size_t len, int conn_hdr, int retry_after, const char *allow);
/* An error envelope answer (e->retry_after honoured). */
int http_respond_build_error(http_buf *b, const http_response_error *e, int conn_hdr,
                             const char *allow);
/* The head of a server-sent-events answer; chunked (HTTP/1.1) or delimited by the close. */
int http_respond_build_stream_head(http_buf *b, int chunked, int conn_hdr);
/* One chunk of a chunked body (n > 0), or the last chunk when n == 0. */
int http_respond_build_chunk(http_buf *b, const char *data, size_t n);
const char *http_status_reason(int status);

#endif
