#include "server/http/http_framing.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void http_framing_init(http_framing *f)
{
    memset(f, 0, sizeof *f);
}

static void fail(http_framing *f, int status, const char *fmt, ...)
{
    if (f->status) return;
    f->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

/* RFC 9110 token characters: a name with a space (as in "Transfer-Encoding :"), a control byte or
 * a separator would be read differently by another parser on the path. */
static bool tchar(unsigned char c)
{
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* Copies a printable name for messages: a name that is not a token is not echoed. */
static const char *shown(const char *name, size_t len, char *buf, size_t cap)
{
    for (size_t i = 0; i < len; i++)
        if (!tchar((unsigned char)name[i])) return "(not a token)";
    snprintf(buf, cap, "%.*s", (int)(len < 64 ? len : 64), name);
    return buf;
}

void http_framing_header(http_framing *f, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    char nb[72];
    if (name_len == 0) {
        fail(f, 400, "a header field has an empty name");
        return;
    }
    for (size_t i = 0; i < name_len; i++)
        if (!tchar((unsigned char)name[i])) {
            fail(f, 400,
                 "a header field name holds a byte that is not a token character (whitespace "
                 "before the colon, a control byte or a separator)");
            return;
        }
    /* Field values: VCHAR, obs-text, SP and HTAB. NUL, CR and LF would split or cut the value for
     * whoever reads it next (a NUL cut "Bearer KEY\0junk" to KEY). */
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            fail(f, 400,
                 "header %s holds a control byte (0x%02x): NUL, CR, LF and other controls "
                 "are not allowed in header values",
                 shown(name, name_len, nb, sizeof nb), c);
            return;
        }
    }
    if (name_is(name, name_len, "Content-Length")) {
        /* 1*DIGIT only: "-1", "+5", " 5 5" and "5, 6" all have readers that disagree on them. */
        uint64_t v = 0;
        size_t i = 0, end = value_len;
        while (i < end && (value[i] == ' ' || value[i] == '\t'))
            i++;
        while (end > i && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        bool ok = end > i && end - i <= 19;
        for (size_t k = i; ok && k < end; k++) {
            if (value[k] < '0' || value[k] > '9')
                ok = false;
            else
                v = v * 10 + (uint64_t)(value[k] - '0');
        }
        if (!ok) {
            fail(f, 400, "Content-Length must be a decimal number of bytes");
            return;
        }
        if (f->n_content_length++ && v != f->content_length) {
            fail(f, 400, "two Content-Length headers with different values");
            return;
        }
        f->content_length = v;
    } else if (name_is(name, name_len, "Transfer-Encoding")) {
        f->n_transfer_encoding++;
        size_t i = 0, end = value_len;
        while (i < end && (value[i] == ' ' || value[i] == '\t'))
            i++;
        while (end > i && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        /* Only plain chunked is implemented; RFC 9112 6.1: an unknown coding is a 501. */
        if (!(end - i == 7 && strncasecmp(value + i, "chunked", 7) == 0))
            fail(f, 501, "Transfer-Encoding other than chunked is not implemented");
        else if (f->n_transfer_encoding > 1)
            fail(f, 400, "more than one Transfer-Encoding header");
    } else if (name_is(name, name_len, "Host")) {
        if (f->n_host++) fail(f, 400, "more than one Host header");
    }
}

int http_framing_finish(http_framing *f, const char *version)
{
    bool http11 = version && strcmp(version, "HTTP/1.1") == 0;
    if (f->n_transfer_encoding && f->n_content_length)
        fail(f, 400,
             "Content-Length and Transfer-Encoding together: the body's length is ambiguous");
    if (f->n_transfer_encoding && !http11)
        fail(f, 400, "Transfer-Encoding in an HTTP/1.0 request (chunked needs HTTP/1.1)");
    if (http11 && f->n_host == 0) fail(f, 400, "an HTTP/1.1 request needs a Host header");
    return f->status;
}

long http_framing_raw_head(http_framing *f, const char *buf, size_t len)
{
    size_t i = 0;
    while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
        i += 2;
    size_t line = i; /* where the current line starts */
    bool request_line = true;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == 0) {
            fail(f, 400, "the request head holds a NUL byte");
            return -1;
        }
        if (c == '\n') {
            fail(f, 400, "a line of the request head ends in a bare LF (CRLF is required)");
            return -1;
        }
        if (i == line && !request_line && (c == ' ' || c == '\t')) {
            /* obs-fold, or whitespace between the request line and the first header: another
             * parser may join the line to the previous value or read it as a header of its own. */
            fail(f, 400, "a header line starts with whitespace (obs-fold is not accepted)");
            return -1;
        }
        if (c != '\r') continue;
        if (i + 1 == len) return 0;
        if (buf[i + 1] != '\n') {
            fail(f, 400, "the request head holds a CR that does not end a line");
            return -1;
        }
        if (i == line && !request_line) return (long)(i + 2);
        request_line = false;
        i++;
        line = i + 1;
    }
    return 0;
}
