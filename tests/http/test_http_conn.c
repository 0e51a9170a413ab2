/* The pure request parser (server/http/http_conn.c): request lines and versions, header fields
 * and framing verdicts with their statuses, the early 414/431/400 on incomplete input, path
 * decoding, keep-alive and Expect, and chunked and Content-Length bodies fed whole and a byte at a
 * time, with their 400/413 errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http_conn.h"
#include "tests/support/test_support.h"

/* The verdict on a whole input: the head length, 0, or -status. */
static long verdict(const char *raw, size_t len, http_head *h)
{
    http_conn_error e;
    long n = http_conn_head(raw, len, h, &e);
    return n < 0 ? -e.status : n;
}

static long head_of(const char *raw)
{
    http_head h;
    long n = verdict(raw, strlen(raw), &h);
    if (n > 0) http_head_free(&h);
    return n;
}

static void test_heads(void)
{
    static const struct {
        const char *raw;
        long want; /* 1 = accepted (length checked separately), 0 = incomplete, else -status */
    } cases[] = {
        {"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n", 1},
        {"\r\n\r\nGET /ping HTTP/1.1\r\nHost: a\r\n\r\n", 1},
        {"GET /ping HTTP/1.0\r\n\r\n", 1},
        {"GET /ping HTTP/1.1\r\n\r\n", -400}, /* no Host */
        {"GET /ping HTTP/2.0\r\nHost: a\r\n\r\n", -505},
        {"GET /ping HTTP/1.2\r\nHost: a\r\n\r\n", -505},
        {"GET /ping HTTP/1.1\r\nHo", 0},
        {"GET /ping HTTQ", -400}, /* known bad before the line ends */
        {"GET /ping HTTP/x", -400},
        {"\x16\x03\x01\x02", -400},                       /* a TLS hello */
        {"GETTTTTTTTTTTTTTTTTTTT", -400},                 /* no method is this long */
        {"GET  /ping HTTP/1.1\r\nHost: a\r\n\r\n", -400}, /* two spaces */
        {"GET /ping\r\nHost: a\r\n\r\n", -400},
        {"GET /ping HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", -400}, /* obs-fold */
        {"GET /ping HTTP/1.1\nHost: a\n\n", -400},
        {"GET /ping HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", -400},
        {"GET /ping HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", -400},
        {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", -400},
        {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", -400},
        {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 1},
        {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", -501},
        {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
         -400},
        {"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", -400}, /* an encoded NUL would cut the path */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = head_of(cases[i].raw);
        long want = cases[i].want == 1 ? (long)strlen(cases[i].raw) : cases[i].want;
        CHECKF(got == want, "case %zu (%.30s): got %ld, want %ld", i, cases[i].raw, got, want);
    }
    const char nul[] = "GET /ping HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer k\0junk\r\n\r\n";
    CHECK(verdict(nul, sizeof nul - 1, &(http_head){0}) == -400);
}

static void test_limits(void)
{
    size_t n = HTTP_CONN_URI_MAX + 100;
    char *raw = malloc(n + 64);
    memcpy(raw, "GET /", 5);
    memset(raw + 5, 'a', n);
    CHECK(verdict(raw, n, &(http_head){0}) == -414); /* known before the line ends */
    size_t big = HTTP_CONN_HEAD_MAX + 10;
    char *hd = malloc(big);
    memcpy(hd, "GET / HTTP/1.1\r\nX: ", 19);
    memset(hd + 19, 'a', big - 19);
    CHECK(verdict(hd, big, &(http_head){0}) == -431);
    free(raw);
    free(hd);
}

static void test_fields(void)
{
    const char raw[] = "POST /v1/a%2Fb%zz?x=%41 HTTP/1.0\r\nHost: a\r\nX-Key:  v v \r\n"
                       "Connection: foo, Keep-Alive\r\nContent-Length: 3\r\n\r\nabc";
    http_head h;
    long n = verdict(raw, sizeof raw - 1, &h);
    CHECK(n == (long)(sizeof raw - 1 - 3));
    if (n <= 0) return;
    CHECK(!strcmp(h.method, "POST") && h.minor == 0);
    CHECKF(!strcmp(h.path, "/v1/a/b%zz"), "path %s", h.path);
    CHECK(!strcmp(h.target, "/v1/a%2Fb%zz?x=%41"));
    CHECK(!strcmp(http_head_field(&h, "x-key"), "v v"));
    CHECK(http_head_field(&h, "X-Missing") == NULL);
    CHECK(h.keep_alive && h.content_length == 3 && !h.chunked && !h.expect_continue);
    http_head_free(&h);
    const char c11[] =
        "PUT / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n";
    CHECK(verdict(c11, sizeof c11 - 1, &h) > 0);
    CHECK(!h.keep_alive && h.expect_continue);
    http_head_free(&h);
}

/* Feeds body bytes whole, or one at a time; the verdict and, when done, the bytes taken. */
static int body(const char *head, const char *b, size_t len, int bytewise, size_t max, char **out,
                size_t *used)
{
    http_head h;
    long n = verdict(head, strlen(head), &h);
    if (n <= 0) return -1;
    http_body bd;
    http_conn_error e;
    http_body_init(&bd, &h, max);
    int rc = HTTP_BODY_MORE;
    *used = 0;
    for (size_t i = 0; i < len && rc == HTTP_BODY_MORE;) {
        size_t step = bytewise ? 1 : len - i, u = 0;
        rc = http_body_feed(&bd, b + i, step, &u, &e);
        i += u;
        *used = i;
        if (rc == HTTP_BODY_ERROR) rc = -e.status;
    }
    size_t l;
    *out = http_body_take(&bd, &l);
    http_body_free(&bd);
    http_head_free(&h);
    return rc;
}

static void test_bodies(void)
{
    const char *chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    static const struct {
        const char *b;
        int want;
        const char *data;
    } cases[] = {
        {"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\nGET", HTTP_BODY_DONE, "hello world"},
        {"5 ;x\r\nhello\r\n0\r\n\r\n", HTTP_BODY_DONE, "hello"},
        {"zz\r\n", -400, NULL},
        {"5 x\r\n", -400, NULL},
        {"5\r\nhelloXY", -400, NULL},
        {"5\nhello", -400, NULL},
        {"fffffffffffffffffff\r\n", -413, NULL},
        {"1001\r\n", -413, NULL}, /* 4097 > the limit of 4096 */
        {"0\r\n bad\r\n\r\n", -400, NULL},
        {"5\r\nhel", HTTP_BODY_MORE, NULL},
    };
    for (int bytewise = 0; bytewise < 2; bytewise++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char *out;
            size_t used;
            int rc = body(chunked, cases[i].b, strlen(cases[i].b), bytewise, 4096, &out, &used);
            CHECKF(rc == cases[i].want, "chunked case %zu bytewise %d: %d", i, bytewise, rc);
            if (cases[i].data)
                CHECKF(out && !strcmp(out, cases[i].data), "chunked case %zu: %s", i, out);
            if (i == 0) CHECK(used == strlen(cases[i].b) - 3); /* "GET" is the next request */
            free(out);
        }
    char *out;
    size_t used;
    const char *cl = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    CHECK(body(cl, "helloGET", 8, 1, 4096, &out, &used) == HTTP_BODY_DONE && used == 5 &&
          !strcmp(out, "hello"));
    free(out);
    CHECK(body(cl, "hello", 5, 0, 4, &out, &used) == -413);
    free(out);
    const char *empty = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
    http_head h;
    http_body bd;
    http_conn_error e;
    CHECK(verdict(empty, strlen(empty), &h) > 0);
    http_body_init(&bd, &h, 10);
    CHECK(http_body_feed(&bd, "", 0, &used, &e) == HTTP_BODY_DONE && bd.data && bd.len == 0);
    http_body_free(&bd);
    http_head_free(&h);
}

int main(void)
{
    test_heads();
    test_limits();
    test_fields();
    test_bodies();
    return test_finish("test_http_conn");
}
