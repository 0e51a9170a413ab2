#include "server/http/http_conn.h"
#include "server/http/http_framing.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static long fail(http_conn_error *e, int status, const char *code, const char *fmt, ...)
{
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static bool tchar(unsigned char c)
{
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The request line as far as it has arrived: method, target and version are checked as their bytes
 * come, so that a peer that does not speak HTTP (a TLS hello on the plain port) or an endless
 * target is answered at once instead of at the header deadline. Returns 1 when the line is complete
 * and acceptable (*minor set), 0 while acceptable so far, -1 with e filled. */
static int request_line(const char *p, size_t n, size_t *method_len, size_t *target_off,
                        size_t *target_len, int *minor, http_conn_error *e)
{
    size_t i = 0;
    while (i < n && tchar((unsigned char)p[i]))
        i++;
    if (i > 15 || (i < n && (p[i] != ' ' || i == 0)))
        return (int)fail(e, 400, "bad_request", "the first line is not an HTTP request line");
    if (i == n) return 0;
    *method_len = i;
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
        i++;
    if (i - t > HTTP_CONN_URI_MAX)
        return (int)fail(e, 414, "uri_too_long", "the request target is longer than %d bytes",
                         HTTP_CONN_URI_MAX);
    if (i == n) return 0;
    if (p[i] != ' ' || i == t)
        return (int)fail(e, 400, "bad_request",
                         "the request line is malformed (method SP target SP "
                         "HTTP-version)");
    *target_off = t;
    *target_len = i - t;
    const char *v = p + i + 1;
    size_t vn = n - i - 1;
    static const char proto[] = "HTTP/";
    for (size_t k = 0; k < vn && k < 5; k++)
        if (v[k] != proto[k])
            return (int)fail(e, 400, "bad_request", "the request line does not end in HTTP/x.y");
    if (vn < 9) {
        /* "HTTP/" DIGIT "." DIGIT CR: check what has come */
        if (vn > 5 && (v[5] < '0' || v[5] > '9')) goto bad_version;
        if (vn > 6 && v[6] != '.') goto bad_version;
        if (vn > 7 && (v[7] < '0' || v[7] > '9')) goto bad_version;
        if (vn > 8 && v[8] != '\r') goto bad_version;
        return 0;
    }
    if (v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9' || v[8] != '\r')
        goto bad_version;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return (int)fail(e, 505, "http_version_not_supported",
                         "HTTP version %c.%c is not supported (HTTP/1.0 and HTTP/1.1 are)", v[5],
                         v[7]);
    *minor = v[7] - '0';
    return 1;
bad_version:
    return (int)fail(e, 400, "bad_request", "the request line does not end in HTTP/x.y");
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The path of a target without its query, %XX decoded as handlers have always seen it (other
 * bytes as sent, a '%' not followed by two hex digits kept); NULL with e filled on OOM or an
 * encoded NUL (it would cut the path). */
static char *decode_path(const char *t, size_t n, http_conn_error *e)
{
    const char *q = memchr(t, '?', n);
    if (q) n = (size_t)(q - t);
    char *out = malloc(n + 1), *o = out;
    if (!out) {
        fail(e, 500, "server_error", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (t[i] == '%' && i + 2 < n && (hi = hexval(t[i + 1])) >= 0 &&
            (lo = hexval(t[i + 2])) >= 0) {
            char c = (char)(hi * 16 + lo);
            if (!c) {
                free(out);
                fail(e, 400, "bad_request", "the request path holds an encoded NUL (%%00)");
                return NULL;
            }
            *o++ = c;
            i += 2;
        } else {
            *o++ = t[i];
        }
    }
    *o = 0;
    return out;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > s && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - s == tl && strncasecmp(v + s, tok, tl) == 0) return true;
    }
    return false;
}

long http_conn_head(const char *buf, size_t len, http_head *h, http_conn_error *e)
{
    memset(e, 0, sizeof *e);
    http_framing f;
    http_framing_init(&f);
    long raw = http_framing_raw_head(&f, buf, len < HTTP_CONN_HEAD_MAX ? len : HTTP_CONN_HEAD_MAX);
    if (raw < 0) return fail(e, f.status, "bad_framing", "%s", f.message);
    size_t start = 0;
    while (start + 1 < len && buf[start] == '\r' && buf[start + 1] == '\n')
        start += 2;
    if (start + 1 == len && buf[start] == '\r') return 0; /* the CR of another empty line */
    const char *cr = memchr(buf + start, '\r', len - start);
    size_t line_n = cr ? (size_t)(cr - buf - start) + 1 : len - start;
    size_t ml = 0, toff = 0, tlen = 0;
    int minor = 1;
    int rl = request_line(buf + start, line_n, &ml, &toff, &tlen, &minor, e);
    if (rl < 0) return -1;
    if (raw == 0) {
        if (len >= HTTP_CONN_HEAD_MAX)
            return fail(e, 431, "headers_too_large", "the request head is larger than %d bytes",
                        HTTP_CONN_HEAD_MAX);
        return 0;
    }
    if (rl == 0) return fail(e, 400, "bad_request", "the request line is incomplete");
    memset(h, 0, sizeof *h);
    h->buf = malloc((size_t)raw + 1);
    if (!h->buf) return fail(e, 500, "server_error", "out of memory");
    memcpy(h->buf, buf, (size_t)raw);
    h->buf[raw] = 0;
    memcpy(h->method, buf + start, ml);
    h->method[ml] = 0;
    h->minor = minor;
    char *b = h->buf;
    b[start + toff + tlen] = 0;
    h->target = b + start + toff;
    size_t i = start + line_n + 1; /* past the first line's CRLF */
    while (i + 1 < (size_t)raw) {
        char *line = b + i, *end = strstr(line, "\r\n"); /* raw_head guarantees CRLF lines */
        if (end == line) break;
        if (h->n_fields == HTTP_CONN_FIELDS_MAX) {
            http_head_free(h);
            return fail(e, 431, "headers_too_large", "more than %d header fields",
                        HTTP_CONN_FIELDS_MAX);
        }
        i = (size_t)(end - b) + 2;
        char *colon = memchr(line, ':', (size_t)(end - line));
        if (!colon) {
            http_head_free(h);
            return fail(e, 400, "bad_framing", "a header line has no colon");
        }
        char *v = colon + 1, *ve = end;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        http_conn_field *fl = &h->fields[h->n_fields++];
        fl->name = line;
        fl->name_len = (size_t)(colon - line);
        fl->value = v;
        fl->value_len = (size_t)(ve - v);
        http_framing_header(&f, fl->name, fl->name_len, fl->value, fl->value_len);
        *colon = 0;
        *ve = 0;
    }
    if (http_framing_finish(&f, minor ? "HTTP/1.1" : "HTTP/1.0")) {
        http_head_free(h);
        return fail(e, f.status, f.status == 501 ? "not_implemented" : "bad_framing", "%s",
                    f.message);
    }
    h->chunked = f.n_transfer_encoding > 0;
    h->content_length = f.n_content_length ? f.content_length : 0;
    bool close = false, keep = false;
    for (size_t k = 0; k < h->n_fields; k++) {
        const http_conn_field *fl = &h->fields[k];
        if (!strcasecmp(fl->name, "Connection")) {
            close |= has_token(fl->value, fl->value_len, "close");
            keep |= has_token(fl->value, fl->value_len, "keep-alive");
        } else if (!strcasecmp(fl->name, "Expect") && minor == 1 &&
                   has_token(fl->value, fl->value_len, "100-continue")) {
            h->expect_continue = 1;
        }
    }
    h->keep_alive = !close && (minor == 1 || keep);
    if (!(h->path = decode_path(h->target, tlen, e))) {
        http_head_free(h);
        return -1;
    }
    return raw;
}

void http_head_free(http_head *h)
{
    free(h->buf);
    free(h->path);
    h->buf = h->path = NULL;
    h->n_fields = 0;
}

const char *http_head_field(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (!strcasecmp(h->fields[i].name, name)) return h->fields[i].value;
    return NULL;
}

/* ---- bodies -------------------------------------------------------------------------------- */

enum {
    C_SIZE,
    C_SIZE_WS,
    C_EXT,
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TRAILER,
    C_TRAILER_LINE,
    C_TRAILER_LF,
    C_LAST_LF,
    C_DONE
};

#define CHUNK_LINE_MAX 4096 /* a chunk-size line with its extensions */
#define TRAILER_MAX 8192

void http_body_init(http_body *b, const http_head *h, uint64_t max)
{
    memset(b, 0, sizeof *b);
    b->chunked = h->chunked;
    b->remaining = h->chunked ? 0 : h->content_length;
    b->max = max;
    b->state = h->chunked ? C_SIZE : (b->remaining ? C_DATA : C_DONE);
}

static int append(http_body *b, const char *p, size_t n, http_conn_error *e)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        if (cap < 4096) cap = 4096;
        if (cap > b->max + 1) cap = (size_t)b->max + 1;
        char *nb = realloc(b->data, cap);
        if (!nb) return (int)fail(e, 500, "server_error", "out of memory reading the body");
        b->data = nb;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

static int too_large(http_body *b, http_conn_error *e)
{
    fail(e, 413, "request_too_large",
         "request body is larger than the server's limit of %llu bytes",
         (unsigned long long)b->max);
    return HTTP_BODY_ERROR;
}

static int bad_chunk(http_conn_error *e, const char *why)
{
    fail(e, 400, "bad_framing", "malformed chunked body: %s", why);
    return HTTP_BODY_ERROR;
}

int http_body_feed(http_body *b, const char *buf, size_t len, size_t *used, http_conn_error *e)
{
    size_t i = 0;
    int rc = HTTP_BODY_MORE;
    while (i < len && b->state != C_DONE) {
        unsigned char c = (unsigned char)buf[i];
        if (b->state == C_DATA) {
            size_t n = len - i < b->remaining ? len - i : (size_t)b->remaining;
            if (b->len + n > b->max) {
                rc = too_large(b, e);
                break;
            }
            if (append(b, buf + i, n, e)) {
                rc = HTTP_BODY_ERROR;
                break;
            }
            i += n;
            b->remaining -= n;
            if (!b->remaining) b->state = b->chunked ? C_DATA_CR : C_DONE;
            continue;
        }
        i++;
        if (b->state != C_DATA_CR && b->state != C_DATA_LF && ++b->line > CHUNK_LINE_MAX &&
            b->state <= C_SIZE_LF) {
            rc = bad_chunk(e, "a chunk-size line is too long");
            break;
        }
        switch (b->state) {
        case C_SIZE: {
            int d = hexval((char)c);
            if (d >= 0) {
                if (b->remaining > (b->max + 1) / 16 + 1 ||
                    b->remaining * 16 + (uint64_t)d > b->max - b->len) {
                    rc = too_large(b, e);
                    goto out;
                }
                b->remaining = b->remaining * 16 + (uint64_t)d;
                continue;
            }
            if (b->line == 1) {
                rc = bad_chunk(e, "a chunk does not start with its hexadecimal size");
                goto out;
            }
            if (c == '\r')
                b->state = C_SIZE_LF;
            else if (c == ';')
                b->state = C_EXT;
            else if (c == ' ' || c == '\t')
                b->state = C_SIZE_WS;
            else {
                rc = bad_chunk(e, "a chunk size is not hexadecimal");
                goto out;
            }
            continue;
        }
        case C_SIZE_WS:
            if (c == ';')
                b->state = C_EXT;
            else if (c == '\r')
                b->state = C_SIZE_LF;
            else if (c != ' ' && c != '\t') {
                rc = bad_chunk(e, "text after a chunk size");
                goto out;
            }
            continue;
        case C_EXT:
            if (c == '\r')
                b->state = C_SIZE_LF;
            else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                rc = bad_chunk(e, "a control byte in a chunk extension");
                goto out;
            }
            continue;
        case C_SIZE_LF:
            if (c != '\n') {
                rc = bad_chunk(e, "a chunk-size line does not end in CRLF");
                goto out;
            }
            b->line = 0;
            b->state = b->remaining ? C_DATA : C_TRAILER;
            continue;
        case C_DATA_CR:
        case C_DATA_LF:
            if (c != (b->state == C_DATA_CR ? '\r' : '\n')) {
                rc = bad_chunk(e, "chunk data is not followed by CRLF");
                goto out;
            }
            if (b->state == C_DATA_LF) b->line = 0;
            b->state = b->state == C_DATA_CR ? C_DATA_LF : C_SIZE;
            continue;
        case C_TRAILER:
        case C_TRAILER_LINE:
            if (++b->trailer > TRAILER_MAX) {
                rc = bad_chunk(e, "the trailer section is too long");
                goto out;
            }
            if (c == '\r') {
                b->state = b->state == C_TRAILER ? C_LAST_LF : C_TRAILER_LF;
            } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                rc = bad_chunk(e, "a control byte in a trailer field");
                goto out;
            } else if (b->state == C_TRAILER && (c == ' ' || c == '\t')) {
                rc = bad_chunk(e, "a trailer line starts with whitespace");
                goto out;
            } else {
                b->state = C_TRAILER_LINE;
            }
            continue;
        case C_TRAILER_LF:
        case C_LAST_LF:
            if (c != '\n') {
                rc = bad_chunk(e, "a trailer line does not end in CRLF");
                goto out;
            }
            b->state = b->state == C_LAST_LF ? C_DONE : C_TRAILER;
            continue;
        }
    }
out:
    *used = i;
    if (rc == HTTP_BODY_ERROR) return rc;
    if (b->state == C_DONE) {
        if (!b->data && append(b, "", 0, e)) return HTTP_BODY_ERROR;
        return HTTP_BODY_DONE;
    }
    return HTTP_BODY_MORE;
}

char *http_body_take(http_body *b, size_t *len)
{
    char *d = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void http_body_free(http_body *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
