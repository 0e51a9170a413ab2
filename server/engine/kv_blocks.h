/* The paged KV cache's bookkeeping on the host: a pool of fixed-size blocks with a free list and
 * reference counts, and per-sequence block tables. Owns block ids only; the K/V memory itself is the
 * model's (models/arch) and is never touched here. Blocks are reference-counted so that prefix sharing
 * can later hand one block to several sequences. */
#ifndef BERTH_ENGINE_KV_BLOCKS_H
#define BERTH_ENGINE_KV_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

typedef struct kvb_pool {
    int32_t num_blocks;
    int32_t num_free;
    int32_t *free_list; /* stack of free block ids */
    int32_t *refcount;  /* per block; 0 = on the free list */
} kvb_pool;

/* One sequence's block table: blocks[i] holds its tokens i*BK_KV_BLOCK .. (i+1)*BK_KV_BLOCK-1. */
typedef struct kvb_table {
    int32_t *blocks;
    int32_t num_blocks;
    int32_t capacity;
} kvb_table;

int kvb_pool_init(kvb_pool *pool, int32_t num_blocks, char *err, size_t errlen);
void kvb_pool_free(kvb_pool *pool);

/* Blocks needed to hold num_tokens tokens. */
static inline int32_t kvb_blocks_for(int64_t num_tokens)
{
    return (int32_t)((num_tokens + BK_KV_BLOCK - 1) / BK_KV_BLOCK);
}

/* Grows the table so it holds num_tokens tokens. All or nothing: returns -1 and takes no block when
 * the pool has too few free blocks (the scheduler then preempts or waits). */
int kvb_table_reserve(kvb_pool *pool, kvb_table *table, int64_t num_tokens);
/* Makes an empty dst share the first num_blocks blocks of src (one more reference each): the hook
 * for prefix sharing. Returns -1 if dst is not empty or src has fewer blocks. */
int kvb_table_share(kvb_pool *pool, kvb_table *dst, const kvb_table *src, int32_t num_blocks);
/* Drops one reference to every block of the table and empties it. */
void kvb_table_release(kvb_pool *pool, kvb_table *table);
void kvb_table_free(kvb_table *table);

/* The physical cache slot of the token at `position` (its block must be reserved). */
static inline int32_t kvb_slot(const kvb_table *table, int64_t position)
{
    return table->blocks[position / BK_KV_BLOCK] * BK_KV_BLOCK + (int32_t)(position % BK_KV_BLOCK);
}

#endif
