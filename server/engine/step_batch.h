/* Builds the flat batch of one engine step (KERNELS.md): tokens of several sequences, their positions,
 * cache slots, block tables and the rows that need logits; then uploads it to the backend in one go.
 * Owns the host staging arrays and the device copies, sized once to fixed maxima so a GPU step can be
 * captured as a graph. Must not decide what goes into a step: that is the scheduler's job. */
#ifndef BERTH_ENGINE_STEP_BATCH_H
#define BERTH_ENGINE_STEP_BATCH_H

#include <stdbool.h>

#include "kernels/backend.h"
#include "server/engine/kv_blocks.h"

typedef struct step_batch {
    int32_t max_tokens, max_seqs, max_blocks;
    /* host staging */
    int32_t *token_ids, *positions, *slot_mapping, *query_start, *seq_lens, *block_tables,
        *logit_rows;
    /* what has been added since the last reset */
    int32_t num_tokens, num_seqs, num_logit_rows, max_seq_len;
    bk_batch dev; /* device arrays; counts filled by step_batch_upload */
    bk_backend *be;
} step_batch;

int step_batch_init(step_batch *b, bk_backend *be, int32_t max_tokens, int32_t max_seqs,
                    int32_t max_blocks, char *err, size_t errlen);
void step_batch_free(step_batch *b);
/* The backend memory step_batch_init takes, each tensor rounded up to `align` bytes: the engine
 * keeps it aside when the KV cache is sized before the batch exists. */
size_t step_batch_device_bytes(int32_t max_tokens, int32_t max_seqs, int32_t max_blocks,
                               size_t align);
void step_batch_reset(step_batch *b);

/* Appends n tokens of one sequence, at positions start_pos .. start_pos+n-1. The table must already
 * hold start_pos + n tokens. With want_logits, the last of them produces a logits row. Returns the
 * logits row index (or -1 without want_logits); -2 with err set when a maximum would be exceeded. */
int32_t step_batch_add(step_batch *b, const kvb_table *table, const int32_t *tokens, int32_t n,
                       int64_t start_pos, bool want_logits, char *err, size_t errlen);

/* Pads the batch to n sequences with idle ones (token 0 at position 0, a logits row each) whose K/V
 * go to `trash_block`, a block no real sequence owns, and whose logits nobody reads: a decode step
 * then has the shape its CUDA graph was recorded with. */
int step_batch_pad(step_batch *b, int32_t n, int32_t trash_block, char *err, size_t errlen);

/* Copies the staged arrays to the device; b->dev is then ready for forward. */
int step_batch_upload(step_batch *b, char *err, size_t errlen);

#endif
