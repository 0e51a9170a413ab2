/* One choice's text as it is generated: incremental detokenization, then stop strings matched across
 * token boundaries. Text that might be the start of a stop string is held back until it is known not
 * to be; a matched stop string ends the choice and is cut from the output unless the request asked to
 * keep it. Owns no engine state: the caller cancels the sequence when text_output says it stopped. */
#ifndef BERTH_SERVE_TEXT_OUTPUT_H
#define BERTH_SERVE_TEXT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "models/tokenizer/tokenizer.h"

typedef struct text_output {
    tok_stream *detok;
    char *const *stops;
    size_t n_stops, max_stop_len;
    bool include_stop;
    char *pending; /* decoded, not yet emitted */
    size_t pending_len, pending_cap;
    bool stopped; /* a stop string matched: nothing more is emitted */
    const char *matched_stop;
} text_output;

int text_output_init(text_output *o, const tok_tokenizer *tok, bool skip_special_tokens,
                     char *const *stops, size_t n_stops, bool include_stop);
void text_output_free(text_output *o);

/* Feeds one generated token. *emit (malloc'd, may be empty) is the text now safe to send. Returns 0,
 * or -1 on out of memory. After a stop string matched, o->stopped is true and later pushes emit nothing. */
int text_output_push(text_output *o, int32_t token, char **emit, size_t *emit_len);
/* The sequence ended: flushes everything held back. */
int text_output_finish(text_output *o, char **emit, size_t *emit_len);

#endif
