#include "server/engine/kv_blocks.h"

#include <stdio.h>
#include <stdlib.h>

int kvb_pool_init(kvb_pool *pool, int32_t num_blocks, char *err, size_t errlen)
{
    *pool = (kvb_pool){0};
    if (num_blocks <= 0) {
        snprintf(err, errlen, "KV cache: the block pool needs at least one block (got %d)", num_blocks);
        return -1;
    }
    size_t n = (size_t)num_blocks;
    pool->free_list = malloc(sizeof(int32_t) * n);
    pool->refcount = calloc(n, sizeof(int32_t));
    pool->cached = calloc(n, 1);
    pool->lru_prev = malloc(sizeof(int32_t) * n);
    pool->lru_next = malloc(sizeof(int32_t) * n);
    if (!pool->free_list || !pool->refcount || !pool->cached || !pool->lru_prev ||
        !pool->lru_next) {
        kvb_pool_free(pool);
        snprintf(err, errlen, "KV cache: out of host memory for %d block ids", num_blocks);
        return -1;
    }
    pool->num_blocks = num_blocks;
    /* Stack order hands out low ids first, which keeps tests' block tables readable. */
    for (int32_t i = 0; i < num_blocks; i++) pool->free_list[i] = num_blocks - 1 - i;
    pool->num_free = num_blocks;
    pool->lru_head = pool->lru_tail = -1;
    return 0;
}

void kvb_pool_free(kvb_pool *pool)
{
    free(pool->free_list);
    free(pool->refcount);
    free(pool->cached);
    free(pool->lru_prev);
    free(pool->lru_next);
    *pool = (kvb_pool){0};
}

static void lru_append(kvb_pool *pool, int32_t b)
{
    pool->lru_prev[b] = pool->lru_tail;
    pool->lru_next[b] = -1;
    if (pool->lru_tail >= 0)
        pool->lru_next[pool->lru_tail] = b;
    else
        pool->lru_head = b;
    pool->lru_tail = b;
    pool->num_evictable++;
}

static void lru_remove(kvb_pool *pool, int32_t b)
{
    int32_t p = pool->lru_prev[b], n = pool->lru_next[b];
    if (p >= 0)
        pool->lru_next[p] = n;
    else
        pool->lru_head = n;
    if (n >= 0)
        pool->lru_prev[n] = p;
    else
        pool->lru_tail = p;
    pool->num_evictable--;
}

void kvb_pool_set_cached(kvb_pool *pool, int32_t block, bool cached)
{
    if (pool->cached[block] == cached) return;
    pool->cached[block] = cached;
    if (!cached && pool->refcount[block] == 0) {
        lru_remove(pool, block);
        pool->free_list[pool->num_free++] = block;
    }
}

void kvb_pool_set_evict_hook(kvb_pool *pool, void (*on_evict)(void *ctx, int32_t block), void *ctx)
{
    pool->on_evict = on_evict;
    pool->evict_ctx = ctx;
}

int32_t kvb_pool_count_unheld(const kvb_pool *pool, const int32_t *blocks, int32_t n)
{
    int32_t count = 0;
    for (int32_t i = 0; i < n; i++)
        count += pool->refcount[blocks[i]] == 0;
    return count;
}

/* One block for a table: a free one, else the least recently freed cached one. */
static int32_t take_block(kvb_pool *pool)
{
    if (pool->num_free > 0) return pool->free_list[--pool->num_free];
    int32_t b = pool->lru_head;
    lru_remove(pool, b);
    pool->cached[b] = 0;
    if (pool->on_evict) pool->on_evict(pool->evict_ctx, b);
    return b;
}

static int table_grow(kvb_table *table, int32_t need)
{
    if (need <= table->capacity) return 0;
    int32_t cap = table->capacity ? table->capacity : 4;
    while (cap < need) cap *= 2;
    int32_t *grown = realloc(table->blocks, sizeof(int32_t) * (size_t)cap);
    if (!grown) return -1;
    table->blocks = grown;
    table->capacity = cap;
    return 0;
}

int kvb_table_reserve(kvb_pool *pool, kvb_table *table, int64_t num_tokens)
{
    int32_t need = kvb_blocks_for(num_tokens);
    if (need <= table->num_blocks) return 0;
    int32_t more = need - table->num_blocks;
    if (more > kvb_pool_available(pool)) return -1;
    if (table_grow(table, need)) return -1;
    for (int32_t i = 0; i < more; i++) {
        int32_t b = take_block(pool);
        pool->refcount[b] = 1;
        table->blocks[table->num_blocks++] = b;
    }
    return 0;
}

int kvb_table_share(kvb_pool *pool, kvb_table *dst, const kvb_table *src, int32_t num_blocks)
{
    if (dst->num_blocks != 0 || num_blocks < 0 || num_blocks > src->num_blocks) return -1;
    if (table_grow(dst, num_blocks)) return -1;
    for (int32_t i = 0; i < num_blocks; i++) {
        int32_t b = src->blocks[i];
        if (pool->refcount[b]++ == 0) lru_remove(pool, b);
        dst->blocks[i] = b;
    }
    dst->num_blocks = num_blocks;
    return 0;
}

void kvb_table_release(kvb_pool *pool, kvb_table *table)
{
    for (int32_t i = table->num_blocks - 1; i >= 0; i--) {
        int32_t b = table->blocks[i];
        if (--pool->refcount[b] > 0) continue;
        if (pool->cached[b])
            lru_append(pool, b);
        else
            pool->free_list[pool->num_free++] = b;
    }
    table->num_blocks = 0;
}

void kvb_table_free(kvb_table *table)
{
    free(table->blocks);
    *table = (kvb_table){0};
}
