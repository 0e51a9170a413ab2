/* The SSE parser gives the same events however the bytes are cut: every single split point, every
 * pair of split points, byte-at-a-time feeding, with CRLF, CR and LF line ends and keep-alive
 * comments. Also its limits and the callback's stop. */
#include <stdlib.h>
#include <string.h>

#include "tests/support/test_support.h"
#include "tools/bench/bench_sse.h"

typedef struct {
    char out[4096];
    size_t len;
    int events;
    int stop_at; /* return 7 from this event (1-based); 0: never */
} sink;

/* Appends "[data]" per event so that event boundaries are part of the comparison. */
static int collect(void *ctx, const char *data, size_t len)
{
    sink *s = ctx;
    s->events++;
    if (strlen(data) != len) test_fail(__FILE__, __LINE__, "event data is not NUL-terminated at len");
    if (s->len + len + 2 < sizeof s->out) {
        s->out[s->len++] = '[';
        memcpy(s->out + s->len, data, len);
        s->len += len;
        s->out[s->len++] = ']';
        s->out[s->len] = '\0';
    }
    return s->stop_at && s->events == s->stop_at ? 7 : 0;
}

/* Feeds text cut at the given offsets (sorted, within [0, n]) and returns the collected events. */
static int feed_cuts(const char *text, const size_t *cuts, int n_cuts, sink *s, bench_sse *p)
{
    size_t n = strlen(text), at = 0;
    char err[128];
    for (int i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : n;
        /* A private copy without a terminator: the parser must not read past the fed bytes. */
        char *piece = malloc(end - at + 1);
        memcpy(piece, text + at, end - at);
        int rc = bench_sse_feed(p, piece, end - at, collect, s, err, sizeof err);
        free(piece);
        if (rc) return rc;
        at = end;
    }
    return 0;
}

static void check_all_splits(const char *name, const char *text, const char *want, size_t comments)
{
    size_t n = strlen(text);
    int bad = 0;
    for (size_t a = 0; a <= n && bad < 3; a++)
        for (size_t b = a; b <= n && bad < 3; b++) {
            bench_sse p;
            bench_sse_init(&p, 1 << 16);
            sink s = {0};
            size_t cuts[2] = {a, b};
            int rc = feed_cuts(text, cuts, 2, &s, &p);
            bool ok = rc == 0 && strcmp(s.out, want) == 0 && p.comments == comments &&
                      !bench_sse_pending(&p);
            if (!ok) bad++;
            CHECKF(ok, "%s: cut at %zu,%zu: got %s (rc %d, %zu comments), want %s", name, a, b, s.out,
                   rc, p.comments, want);
            bench_sse_free(&p);
        }
    /* One byte at a time. */
    bench_sse p;
    bench_sse_init(&p, 1 << 16);
    sink s = {0};
    size_t *cuts = malloc(n * sizeof *cuts);
    for (size_t i = 0; i < n; i++) cuts[i] = i;
    CHECK(feed_cuts(text, cuts, (int)n, &s, &p) == 0);
    CHECKF(strcmp(s.out, want) == 0, "%s: byte by byte: got %s, want %s", name, s.out, want);
    free(cuts);
    bench_sse_free(&p);
}

static void test_line_ends_and_fields(void)
{
    check_all_splits("lf", "data: a\n\ndata: bc\n\n", "[a][bc]", 0);
    check_all_splits("crlf", "data: a\r\n\r\ndata: bc\r\n\r\n", "[a][bc]", 0);
    check_all_splits("cr", "data: a\r\rdata: bc\r\r", "[a][bc]", 0);
    check_all_splits("mixed", "data: a\r\n\ndata: b\r\rdata: c\n\r\n", "[a][b][c]", 0);
    check_all_splits("no space", "data:x\n\ndata:  two\n\n", "[x][ two]", 0);
    check_all_splits("multi-line", "data: a\ndata: b\r\ndata:\n\n", "[a\nb\n]", 0);
    check_all_splits("bare data", "data\n\n", "[]", 0);
    check_all_splits("other fields", "event: x\nid: 3\nretry: 10\ndata: d\n\nevent: y\n\n", "[d]",
                     0);
    check_all_splits("not data", "datum: a\ndata : b\nxdata: c\n\ndata: ok\n\n", "[ok]", 0);
    check_all_splits("colon in value", "data: {\"a\": \"b:c\"}\n\n", "[{\"a\": \"b:c\"}]", 0);
    check_all_splits("blank lines", "\n\r\n\rdata: a\n\n\n\n", "[a]", 0);
}

static void test_keepalive_comments(void)
{
    check_all_splits("keep-alive", ": keep-alive\n\ndata: a\n\n:\r\n\r\ndata: b\n: mid\ndata: c\n\n",
                     "[a][b\nc]", 3);
}

static void test_realistic_stream(void)
{
    const char *stream =
        "data: {\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,\"text\":\"\"}],\"usage\":null}\r\n\r\n"
        ": keep-alive\r\n\r\n"
        "data: {\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,\"text\":\" Hi\"}],\"usage\":null}\r\n\r\n"
        "data: {\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":4}}\r\n\r\n"
        "data: [DONE]\r\n\r\n";
    const char *want =
        "[{\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,\"text\":\"\"}],\"usage\":null}]"
        "[{\"id\":\"cmpl-1\",\"choices\":[{\"index\":0,\"text\":\" Hi\"}],\"usage\":null}]"
        "[{\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":4}}]"
        "[[DONE]]";
    check_all_splits("stream", stream, want, 1);
}

static void test_unfinished_event_is_pending(void)
{
    bench_sse p;
    bench_sse_init(&p, 1024);
    sink s = {0};
    char err[128];
    CHECK(bench_sse_feed(&p, "data: a\n\ndata: b\n", 17, collect, &s, err, sizeof err) == 0);
    CHECK(strcmp(s.out, "[a]") == 0);
    CHECK(bench_sse_pending(&p));
    bench_sse_free(&p);

    bench_sse_init(&p, 1024);
    CHECK(bench_sse_feed(&p, "data: a", 7, collect, &s, err, sizeof err) == 0);
    CHECK(bench_sse_pending(&p));
    bench_sse_free(&p);
}

static void test_limits(void)
{
    char err[128] = "";
    bench_sse p;
    sink s = {0};
    /* A line longer than the limit, arriving in pieces, is an error, not unbounded growth. */
    bench_sse_init(&p, 64);
    char chunk[40];
    memset(chunk, 'x', sizeof chunk);
    CHECK(bench_sse_feed(&p, chunk, sizeof chunk, collect, &s, err, sizeof err) == 0);
    CHECK(bench_sse_feed(&p, chunk, sizeof chunk, collect, &s, err, sizeof err) == -1);
    CHECKF(strstr(err, "line longer than 64 bytes") != NULL, "message: %s", err);
    bench_sse_free(&p);

    /* Many short data lines adding up past the limit. */
    bench_sse_init(&p, 64);
    err[0] = '\0';
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++)
        rc = bench_sse_feed(&p, "data: 0123456789\n", 17, collect, &s, err, sizeof err);
    CHECK(rc == -1);
    CHECKF(strstr(err, "event longer than 64 bytes") != NULL, "message: %s", err);
    CHECK(s.events == 0);
    bench_sse_free(&p);

    /* Exactly at the limit is fine. */
    bench_sse_init(&p, 8);
    CHECK(bench_sse_feed(&p, "data: 12345678\n\n", 16, collect, &s, err, sizeof err) == -1);
    bench_sse_free(&p);
    bench_sse_init(&p, 14);
    sink s2 = {0};
    CHECK(bench_sse_feed(&p, "data: 12345678\n\n", 16, collect, &s2, err, sizeof err) == 0);
    CHECK(strcmp(s2.out, "[12345678]") == 0);
    bench_sse_free(&p);
}

static void test_callback_stops_parse(void)
{
    bench_sse p;
    bench_sse_init(&p, 1024);
    sink s = {.stop_at = 2};
    char err[128];
    const char *text = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    CHECK(bench_sse_feed(&p, text, strlen(text), collect, &s, err, sizeof err) == 7);
    CHECK(s.events == 2);
    CHECK(strcmp(s.out, "[1][2]") == 0);
    bench_sse_free(&p);
}

int main(void)
{
    test_line_ends_and_fields();
    test_keepalive_comments();
    test_realistic_stream();
    test_unfinished_event_is_pending();
    test_limits();
    test_callback_stops_parse();
    return test_finish("bench_sse");
}
