#include "server/engine/step_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int alloc_i32(step_batch *b, bk_tensor *t, int32_t rows, int32_t cols, char *err,
                     size_t errlen)
{
    if (b->be->ops->tensor_alloc(b->be, t, BK_I32, rows, cols) != 0) {
        snprintf(err, errlen, "step batch: %s", b->be->ops->last_error(b->be));
        return -1;
    }
    return 0;
}

size_t step_batch_device_bytes(int32_t max_tokens, int32_t max_seqs, int32_t max_blocks,
                               size_t align)
{
    size_t rows[] = {(size_t)max_tokens,
                     (size_t)max_tokens,
                     (size_t)max_tokens,
                     (size_t)max_tokens,
                     (size_t)max_seqs + 1,
                     (size_t)max_seqs,
                     (size_t)max_seqs * (size_t)max_blocks};
    size_t total = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        total += (rows[i] * sizeof(int32_t) + align - 1) / align * align;
    return total;
}

int step_batch_init(step_batch *b, bk_backend *be, int32_t max_tokens, int32_t max_seqs,
                    int32_t max_blocks, char *err, size_t errlen)
{
    *b = (step_batch){.be = be, .max_tokens = max_tokens, .max_seqs = max_seqs,
                      .max_blocks = max_blocks};
    if (max_tokens <= 0 || max_seqs <= 0 || max_blocks <= 0) {
        snprintf(err, errlen, "step batch: maxima must be positive (tokens %d, seqs %d, blocks %d)",
                 max_tokens, max_seqs, max_blocks);
        return -1;
    }
    size_t t = (size_t)max_tokens, s = (size_t)max_seqs;
    b->token_ids = malloc(sizeof(int32_t) * t);
    b->positions = malloc(sizeof(int32_t) * t);
    b->slot_mapping = malloc(sizeof(int32_t) * t);
    b->logit_rows = malloc(sizeof(int32_t) * t);
    b->query_start = malloc(sizeof(int32_t) * (s + 1));
    b->seq_lens = malloc(sizeof(int32_t) * s);
    b->block_tables = calloc(s * (size_t)max_blocks, sizeof(int32_t));
    if (!b->token_ids || !b->positions || !b->slot_mapping || !b->logit_rows || !b->query_start ||
        !b->seq_lens || !b->block_tables) {
        snprintf(err, errlen, "step batch: out of host memory");
        step_batch_free(b);
        return -1;
    }
    bk_batch *d = &b->dev;
    if (alloc_i32(b, &d->token_ids, 1, max_tokens, err, errlen) ||
        alloc_i32(b, &d->positions, 1, max_tokens, err, errlen) ||
        alloc_i32(b, &d->slot_mapping, 1, max_tokens, err, errlen) ||
        alloc_i32(b, &d->logit_rows, 1, max_tokens, err, errlen) ||
        alloc_i32(b, &d->query_start, 1, max_seqs + 1, err, errlen) ||
        alloc_i32(b, &d->seq_lens, 1, max_seqs, err, errlen) ||
        alloc_i32(b, &d->block_tables, max_seqs, max_blocks, err, errlen)) {
        step_batch_free(b);
        return -1;
    }
    step_batch_reset(b);
    return 0;
}

void step_batch_free(step_batch *b)
{
    if (b->be) {
        bk_tensor *ts[] = {&b->dev.token_ids,   &b->dev.positions, &b->dev.slot_mapping,
                           &b->dev.logit_rows,  &b->dev.query_start, &b->dev.seq_lens,
                           &b->dev.block_tables};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i]->data) b->be->ops->tensor_free(b->be, ts[i]);
    }
    free(b->token_ids);
    free(b->positions);
    free(b->slot_mapping);
    free(b->logit_rows);
    free(b->query_start);
    free(b->seq_lens);
    free(b->block_tables);
    *b = (step_batch){0};
}

void step_batch_reset(step_batch *b)
{
    b->num_tokens = b->num_seqs = b->num_logit_rows = b->max_seq_len = 0;
    b->query_start[0] = 0;
}

int32_t step_batch_add(step_batch *b, const kvb_table *table, const int32_t *tokens, int32_t n,
                       int64_t start_pos, bool want_logits, char *err, size_t errlen)
{
    int64_t seq_len = start_pos + n;
    if (n <= 0 || start_pos < 0) {
        snprintf(err, errlen, "step batch: a sequence needs at least one token (got %d at %lld)", n,
                 (long long)start_pos);
        return -2;
    }
    if (b->num_tokens + n > b->max_tokens || b->num_seqs + 1 > b->max_seqs) {
        snprintf(err, errlen, "step batch: full (%d + %d tokens of %d, %d sequences of %d)",
                 b->num_tokens, n, b->max_tokens, b->num_seqs, b->max_seqs);
        return -2;
    }
    if (kvb_blocks_for(seq_len) > table->num_blocks || table->num_blocks > b->max_blocks) {
        snprintf(err, errlen,
                 "step batch: sequence of %lld tokens has %d KV blocks reserved (max %d per sequence)",
                 (long long)seq_len, table->num_blocks, b->max_blocks);
        return -2;
    }
    for (int32_t i = 0; i < n; i++) {
        int32_t t = b->num_tokens + i;
        b->token_ids[t] = tokens[i];
        b->positions[t] = (int32_t)(start_pos + i);
        b->slot_mapping[t] = kvb_slot(table, start_pos + i);
    }
    int32_t s = b->num_seqs++;
    b->num_tokens += n;
    b->query_start[s + 1] = b->num_tokens;
    b->seq_lens[s] = (int32_t)seq_len;
    if (seq_len > b->max_seq_len) b->max_seq_len = (int32_t)seq_len;
    int32_t *row = b->block_tables + (size_t)s * (size_t)b->max_blocks;
    memcpy(row, table->blocks, sizeof(int32_t) * (size_t)table->num_blocks);
    /* Unused entries point at block 0 so no kernel can read outside the pool. */
    memset(row + table->num_blocks, 0, sizeof(int32_t) * (size_t)(b->max_blocks - table->num_blocks));
    if (!want_logits) return -1;
    b->logit_rows[b->num_logit_rows] = b->num_tokens - 1;
    return b->num_logit_rows++;
}

int step_batch_pad(step_batch *b, int32_t n, int32_t trash_block, char *err, size_t errlen)
{
    /* Every idle row computes the same K/V (token 0 at position 0), so their concurrent writes to
     * the one trash slot store identical bytes. */
    int32_t block = trash_block, token = 0;
    kvb_table trash = {.blocks = &block, .num_blocks = 1, .capacity = 1};
    while (b->num_seqs < n)
        if (step_batch_add(b, &trash, &token, 1, 0, true, err, errlen) < 0) return -1;
    return 0;
}

int step_batch_upload(step_batch *b, char *err, size_t errlen)
{
    const bk_ops *ops = b->be->ops;
    bk_batch *d = &b->dev;
    d->num_tokens = b->num_tokens;
    d->num_seqs = b->num_seqs;
    d->num_logit_rows = b->num_logit_rows;
    d->max_blocks = b->max_blocks;
    d->max_seq_len = b->max_seq_len;
    if (b->num_tokens == 0) {
        snprintf(err, errlen, "step batch: empty");
        return -1;
    }
    /* Device arrays are 1 x max; upload_rows copies whole rows, so upload row 0 through a view. */
    struct {
        bk_tensor *t;
        const int32_t *host;
        int32_t n;
    } parts[] = {
        {&d->token_ids, b->token_ids, b->num_tokens},
        {&d->positions, b->positions, b->num_tokens},
        {&d->slot_mapping, b->slot_mapping, b->num_tokens},
        {&d->logit_rows, b->logit_rows, b->num_logit_rows},
        {&d->query_start, b->query_start, b->num_seqs + 1},
        {&d->seq_lens, b->seq_lens, b->num_seqs},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i].n == 0) continue;
        bk_tensor view = *parts[i].t;
        view.cols = parts[i].n;
        view.owned = 0;
        if (ops->upload_rows(b->be, &view, 0, 1, parts[i].host) != 0) {
            snprintf(err, errlen, "step batch upload: %s", ops->last_error(b->be));
            return -1;
        }
    }
    if (ops->upload_rows(b->be, &d->block_tables, 0, b->num_seqs, b->block_tables) != 0) {
        snprintf(err, errlen, "step batch upload: %s", ops->last_error(b->be));
        return -1;
    }
    return 0;
}
