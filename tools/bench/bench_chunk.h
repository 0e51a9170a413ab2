/* Reads one streamed OpenAI chunk (the data of an SSE event) for berth-bench: whether it carries
 * generated text, the usage numbers, an error, or the [DONE] marker. Owns no timing and no I/O. */
#ifndef BERTH_BENCH_CHUNK_H
#define BERTH_BENCH_CHUNK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    bool done;        /* data: [DONE] */
    /* choices[0] carries a generated token: a text (completions) or delta content / reasoning
     * string (chat), even an empty one, except an empty one beside a finish_reason (the bare
     * finish chunk). Empty strings count because a server sends a token's chunk before the token's
     * text can be shown (berth's first chunk, a UTF-8 character split across tokens). */
    bool token;
    bool usage;       /* a usage object with both token counts */
    long prompt_tokens, completion_tokens;
    bool error;       /* an {"error": ...} object or a chunk that is not a JSON object */
    char message[256]; /* the error's message when error is set */
} bench_chunk;

/* Fills out from the event data. Never fails: anything unreadable becomes out->error. */
void bench_chunk_parse(const char *data, size_t len, bench_chunk *out);

#endif
