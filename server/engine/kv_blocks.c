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
    pool->free_list = malloc(sizeof(int32_t) * (size_t)num_blocks);
    pool->refcount = calloc((size_t)num_blocks, sizeof(int32_t));
    if (!pool->free_list || !pool->refcount) {
        kvb_pool_free(pool);
        snprintf(err, errlen, "KV cache: out of host memory for %d block ids", num_blocks);
        return -1;
    }
    pool->num_blocks = num_blocks;
    /* Stack order hands out low ids first, which keeps tests' block tables readable. */
    for (int32_t i = 0; i < num_blocks; i++) pool->free_list[i] = num_blocks - 1 - i;
    pool->num_free = num_blocks;
    return 0;
}

void kvb_pool_free(kvb_pool *pool)
{
    free(pool->free_list);
    free(pool->refcount);
    *pool = (kvb_pool){0};
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
    if (more > pool->num_free) return -1;
    if (table_grow(table, need)) return -1;
    for (int32_t i = 0; i < more; i++) {
        int32_t b = pool->free_list[--pool->num_free];
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
        pool->refcount[src->blocks[i]]++;
        dst->blocks[i] = src->blocks[i];
    }
    dst->num_blocks = num_blocks;
    return 0;
}

void kvb_table_release(kvb_pool *pool, kvb_table *table)
{
    for (int32_t i = 0; i < table->num_blocks; i++) {
        int32_t b = table->blocks[i];
        if (--pool->refcount[b] == 0) pool->free_list[pool->num_free++] = b;
    }
    table->num_blocks = 0;
}

void kvb_table_free(kvb_table *table)
{
    free(table->blocks);
    *table = (kvb_table){0};
}
