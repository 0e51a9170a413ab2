#include "server/http/http_respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int http_buf_put(http_buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2;
        if (cap < 1024) cap = 1024;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

void http_buf_compact(http_buf *b)
{
    if (!b->off) return;
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

void http_buf_free(http_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int put_fmt(http_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put_fmt(http_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) return -1;
    return http_buf_put(b, tmp, (size_t)n);
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 424:
        return "Failed Dependency";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

static int put_conn(http_buf *b, int conn_hdr)
{
    if (conn_hdr == HTTP_CONN_HDR_CLOSE) return put_fmt(b, "Connection: close\r\n");
    if (conn_hdr == HTTP_CONN_HDR_KEEP) return put_fmt(b, "Connection: keep-alive\r\n");
    return 0;
}

int http_respond_build(http_buf *b, int status, const char *content_type, const char *body,
                       size_t len, int conn_hdr, int retry_after, const char *allow)
{
    /* A status outside 100..999 would not fit the status line; the handler's bug becomes a 500. */
    if (status < 100 || status > 999) status = 500;
    int rc = put_fmt(b, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", status,
                     http_status_reason(status), len);
    if (!rc && content_type && content_type[0])
        rc = put_fmt(b, "Content-Type: %.200s\r\n", content_type);
    if (!rc && retry_after > 0) rc = put_fmt(b, "Retry-After: %d\r\n", retry_after);
    if (!rc && allow) rc = put_fmt(b, "Allow: %.100s\r\n", allow);
    if (!rc) rc = put_conn(b, conn_hdr);
    if (!rc) rc = http_buf_put(b, "\r\n", 2);
    if (!rc) rc = http_buf_put(b, body, len);
    return rc;
}

int http_respond_build_error(http_buf *b, const http_response_error *e, int conn_hdr,
                             const char *allow)
{
    char *json = http_error_json(e);
    if (!json) return -1;
    int rc = http_respond_build(b, e->status, "application/json", json, strlen(json), conn_hdr,
                                e->retry_after, allow);
    free(json);
    return rc;
}

int http_respond_build_stream_head(http_buf *b, int chunked, int conn_hdr)
{
    int rc = put_fmt(b,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n%s",
                     chunked ? "Transfer-Encoding: chunked\r\n" : "");
    if (!rc) rc = put_conn(b, conn_hdr);
    if (!rc) rc = http_buf_put(b, "\r\n", 2);
    return rc;
}

int http_respond_build_chunk(http_buf *b, const char *data, size_t n)
{
    if (!n) return http_buf_put(b, "0\r\n\r\n", 5);
    int rc = put_fmt(b, "%zx\r\n", n);
    if (!rc) rc = http_buf_put(b, data, n);
    if (!rc) rc = http_buf_put(b, "\r\n", 2);
    return rc;
}

/* ---- the OpenAI error envelope ------------------------------------------------------------- */

void http_error_set(http_response_error *e, int status, const char *type, const char *param,
                    const char *code, const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "invalid_request_error");
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at p, or 0 if the bytes there are not one. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = p[0] < 0x80                    ? 1
               : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
               : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return n;
}

/* Writes s as a JSON string at o; o needs room for 6 * strlen(s) + 3 bytes. Bytes that are not
 * UTF-8 (a request path may hold any) become U+FFFD so the envelope stays valid JSON. */
static char *put_json_string(char *o, const char *s)
{
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t n = *p >= 0x80 ? utf8_len(p) : 1;
        if (n == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
        } else if (n > 1) {
            memcpy(o, p, n);
            o += n;
            p += n - 1;
        } else if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    return o;
}

char *http_error_json(const http_response_error *e)
{
    const char *fields[] = {"message", "type", "param", "code"};
    const char *values[] = {e->message, e->type, e->param, e->code};
    char *out = malloc(6 * sizeof *e + 128);
    if (!out) return NULL;
    char *o = out + sprintf(out, "{\"error\":{");
    for (int i = 0; i < 4; i++) {
        o += sprintf(o, "%s\"%s\":", i ? "," : "", fields[i]);
        if (i >= 2 && values[i][0] == 0)
            o += sprintf(o, "null");
        else
            o = put_json_string(o, values[i]);
    }
    strcpy(o, "}}");
    return out;
}
