/* Fuzzes berth's own HTTP/1.1 request parser (server/http/http_conn.c) with raw bytes as a client
 * would send them on one connection: heads and bodies one after another (pipelining), as the
 * connection loop feeds them. Checks beyond memory safety: a head accepted on the whole input is
 * "incomplete so far" on every shorter prefix (never refused early), and a body decodes to the same
 * bytes and verdict whether it arrives at once or cut in two. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http_conn.h"

#define BODY_MAX 4096

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_http_conn: %s\n", what);
        abort();
    }
}

/* Decodes a body from buf in one go or cut at `cut`; the verdict, used bytes and data out. */
static int body(const http_head *h, const char *buf, size_t len, size_t cut, size_t *used,
                char **data, size_t *dlen)
{
    http_body b;
    http_conn_error e;
    http_body_init(&b, h, BODY_MAX);
    size_t u1 = 0, u2 = 0;
    int rc = http_body_feed(&b, buf, cut < len ? cut : len, &u1, &e);
    if (rc == HTTP_BODY_MORE && cut < len) rc = http_body_feed(&b, buf + u1, len - u1, &u2, &e);
    *used = u1 + u2;
    if (rc == HTTP_BODY_ERROR) check(e.status == 400 || e.status == 413, "body error status");
    *data = http_body_take(&b, dlen);
    http_body_free(&b);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t left = size;
    for (int req = 0; req < 8 && left; req++) {
        http_head h;
        http_conn_error e;
        long n = http_conn_head(p, left, &h, &e);
        if (n < 0) {
            check(e.status >= 400 && e.status <= 505 && e.message[0], "error without a status");
            return 0;
        }
        if (n == 0) return 0;
        check((size_t)n <= left && n <= HTTP_CONN_HEAD_MAX, "head longer than its input");
        for (size_t k = (size_t)n > 64 ? (size_t)n - 64 : 0; k < (size_t)n; k++) {
            http_head h2;
            http_conn_error e2;
            check(http_conn_head(p, k, &h2, &e2) == 0, "a prefix of an accepted head refused");
        }
        check(h.path && h.method[0] && h.minor <= 1, "accepted head without its parts");
        check(!(h.chunked && h.content_length), "chunked and a length together");
        p += n;
        left -= (size_t)n;
        size_t used1, used2, l1, l2;
        char *d1, *d2;
        int r1 = body(&h, p, left, left, &used1, &d1, &l1);
        int r2 = body(&h, p, left, left ? (size_t)data[0] % left : 0, &used2, &d2, &l2);
        check(r1 == r2, "the body verdict depends on how it is cut");
        if (r1 == HTTP_BODY_DONE) {
            check(used1 == used2 && l1 == l2 && (l1 == 0 || !memcmp(d1, d2, l1)),
                  "the body depends on how it is cut");
            check(l1 <= BODY_MAX && d1 && d1[l1] == 0, "body too long or not terminated");
        }
        free(d1);
        free(d2);
        http_head_free(&h);
        if (r1 != HTTP_BODY_DONE) return 0;
        p += used1;
        left -= used1;
    }
    return 0;
}
