/* The request parser of one HTTP/1.1 connection, pure over byte buffers (no I/O, no threads, no
 * server state) so that it can be fuzzed: a request head (raw checks, request line, header fields,
 * RFC 9112 framing) and a body (Content-Length or chunked). Never answers; callers do. */
#ifndef BERTH_HTTP_CONN_H
#define BERTH_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_CONN_HEAD_MAX 32768 /* a longer request head is a 431 */
#define HTTP_CONN_URI_MAX 8192   /* a longer request target is a 414 */
#define HTTP_CONN_FIELDS_MAX 128 /* more header fields is a 431 */

typedef struct {
    const char *name, *value; /* NUL-terminated, inside http_head.buf */
    size_t name_len, value_len;
} http_conn_field;

typedef struct {
    char *buf; /* a private copy of the head; every pointer below points into it */
    char method[16];
    const char *target; /* the request target as sent */
    char *path;         /* its path, percent-decoded, without the query (malloc'ed) */
    int minor;          /* HTTP/1.<minor>: 0 or 1 */
    http_conn_field fields[HTTP_CONN_FIELDS_MAX];
    size_t n_fields;
    int chunked;
    uint64_t content_length; /* when not chunked (0 without the header) */
    int keep_alive;          /* the connection may carry another request after this one */
    int expect_continue;     /* Expect: 100-continue */
} http_head;

/* Why a request cannot be served; the connection is closed after the answer. */
typedef struct {
    int status;        /* 400, 413, 414, 431, 501 or 505 */
    char code[32];     /* the envelope's code: bad_framing, request_too_large, ... */
    char message[192]; /* safe to send: never echoes header values */
} http_conn_error;

/* Parses the request head at the start of buf. Returns the head's length (through its empty line,
 * with h filled: free it with http_head_free) once complete and acceptable; 0 while acceptable but
 * incomplete; -1 with e filled as soon as the bytes so far are known to be wrong, including a head
 * that reached HTTP_CONN_HEAD_MAX without ending (431) or a target past HTTP_CONN_URI_MAX (414). */
long http_conn_head(const char *buf, size_t len, http_head *h, http_conn_error *e);
void http_head_free(http_head *h);
/* The first field named `name` (case-insensitive), or NULL. */
const char *http_head_field(const http_head *h, const char *name);

enum { HTTP_BODY_MORE, HTTP_BODY_DONE, HTTP_BODY_ERROR };

/* A body being decoded. The decoded bytes are kept in data (NUL-terminated). */
typedef struct {
    int chunked;
    uint64_t remaining; /* Content-Length left, or the current chunk's bytes left */
    uint64_t max;       /* more decoded bytes than this is a 413 */
    int state;          /* the chunked decoder's position (private) */
    size_t line;        /* bytes in the current chunk-size or trailer line */
    size_t trailer;     /* trailer bytes so far */
    char *data;
    size_t len, cap;
} http_body;

void http_body_init(http_body *b, const http_head *h, uint64_t max);
/* Feeds len bytes; *used is set to how many were taken (the rest belongs to the next request).
 * HTTP_BODY_MORE, HTTP_BODY_DONE, or HTTP_BODY_ERROR with e filled (400 bad chunk, 413 too large,
 * 500 out of memory). */
int http_body_feed(http_body *b, const char *buf, size_t len, size_t *used, http_conn_error *e);
/* Hands data over (the caller frees it) and empties b. */
char *http_body_take(http_body *b, size_t *len);
void http_body_free(http_body *b);

#endif
