/* The paged KV cache's bookkeeping on the host: a pool of fixed-size blocks with a free list and
 * reference counts, and per-sequence block tables. Owns block ids only; the K/V memory itself is
 * the model's (models/arch) and is never touched here, nor are the contents' hashes
 * (prefix_cache.c). */
#ifndef BERTH_ENGINE_KV_BLOCKS_H
#define BERTH_ENGINE_KV_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

/* A block at refcount 0 is either free (on the free list, its content meaningless) or evictable:
 * its content is still findable by the prefix cache (kvb_pool_set_cached), so it waits on a
 * least-recently-freed list and is handed out only when the free list is empty, after on_evict has
 * told the prefix cache to forget it. */
typedef struct kvb_pool {
    int32_t num_blocks;
    int32_t num_free;
    int32_t *free_list; /* stack of free block ids */
    int32_t *refcount;  /* per block */
    uint8_t *cached;    /* per block: its content is findable (see above) */
    int32_t *lru_prev, *lru_next; /* the evictable list, -1 ends; head = evicted first */
    int32_t lru_head, lru_tail;
    int32_t num_evictable;
    void (*on_evict)(void *ctx, int32_t block);
    void *evict_ctx;
} kvb_pool;

/* One sequence's block table: blocks[i] holds its tokens i*BK_KV_BLOCK .. (i+1)*BK_KV_BLOCK-1. */
typedef struct kvb_table {
    int32_t *blocks;
    int32_t num_blocks;
    int32_t capacity;
} kvb_table;

int kvb_pool_init(kvb_pool *pool, int32_t num_blocks, char *err, size_t errlen);
void kvb_pool_free(kvb_pool *pool);

/* Blocks a table can still take: free plus evictable. */
static inline int32_t kvb_pool_available(const kvb_pool *pool)
{
    return pool->num_free + pool->num_evictable;
}
/* Whether block's content stays findable at refcount 0. Clearing it on an evictable block frees it.
 */
void kvb_pool_set_cached(kvb_pool *pool, int32_t block, bool cached);
/* Called with a cached block the pool is about to reuse (its content is lost). */
void kvb_pool_set_evict_hook(kvb_pool *pool, void (*on_evict)(void *ctx, int32_t block), void *ctx);
/* How many of blocks[0..n) are evictable (refcount 0): sharing them takes them out of the pool. */
int32_t kvb_pool_count_unheld(const kvb_pool *pool, const int32_t *blocks, int32_t n);

/* Blocks needed to hold num_tokens tokens. */
static inline int32_t kvb_blocks_for(int64_t num_tokens)
{
    return (int32_t)((num_tokens + BK_KV_BLOCK - 1) / BK_KV_BLOCK);
}

/* Grows the table so it holds num_tokens tokens, from the free list first, then by evicting the
 * least recently freed cached blocks. All or nothing: returns -1 and takes no block when the pool
 * has too few available blocks (the scheduler then preempts or waits). */
int kvb_table_reserve(kvb_pool *pool, kvb_table *table, int64_t num_tokens);
/* Makes an empty dst share the first num_blocks blocks of src (one more reference each, an
 * evictable block leaves the evictable list): the hook for prefix sharing. Returns -1 if dst is not
 * empty or src has fewer blocks. */
int kvb_table_share(kvb_pool *pool, kvb_table *dst, const kvb_table *src, int32_t num_blocks);
/* Drops one reference to every block of the table and empties it. The last block goes first, so of
 * the blocks it makes evictable the deepest (the leaves of the prefix tree) are evicted first. */
void kvb_table_release(kvb_pool *pool, kvb_table *table);
void kvb_table_free(kvb_table *table);

/* The physical cache slot of the token at `position` (its block must be reserved). */
static inline int32_t kvb_slot(const kvb_table *table, int64_t position)
{
    return table->blocks[position / BK_KV_BLOCK] * BK_KV_BLOCK + (int32_t)(position % BK_KV_BLOCK);
}

#endif
