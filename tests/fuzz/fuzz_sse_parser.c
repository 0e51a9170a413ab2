/* Fuzz target for berth-bench's SSE parser and stream-chunk reader (bytes from any server the
 * benchmark is pointed at). The input is parsed whole and again cut into pieces whose sizes come
 * from the first byte; both must give the same events, and every event goes through the chunk
 * reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench/bench_chunk.h"
#include "tools/bench/bench_sse.h"

typedef struct {
    uint64_t hash;
    size_t events;
} digest;

static int on_event(void *ctx, const char *data, size_t len)
{
    digest *d = ctx;
    if (len > 4096 || data[len] != '\0' || memchr(data, '\r', len)) abort();
    d->events++;
    d->hash = (d->hash ^ len) * 0x100000001b3ULL;
    for (size_t i = 0; i < len; i++) d->hash = (d->hash ^ (uint8_t)data[i]) * 0x100000001b3ULL;
    bench_chunk c;
    bench_chunk_parse(data, len, &c);
    if (strlen(c.message) >= sizeof c.message) abort();
    if (c.usage && (c.prompt_tokens < 0 || c.completion_tokens < 0)) abort();
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t piece, digest *d)
{
    bench_sse p;
    bench_sse_init(&p, 4096);
    char err[128];
    int rc = 0;
    for (size_t at = 0; at < size && rc == 0; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        rc = bench_sse_feed(&p, (const char *)data + at, n, on_event, d, err, sizeof err);
    }
    bench_sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t piece = (size_t)(data[0] % 17) + 1;
    digest whole = {0xcbf29ce484222325ULL, 0}, cut = whole;
    int rc_whole = run(data + 1, size - 1, size, &whole);
    int rc_cut = run(data + 1, size - 1, piece, &cut);
    if (rc_whole != rc_cut || whole.hash != cut.hash || whole.events != cut.events) abort();
    return 0;
}
