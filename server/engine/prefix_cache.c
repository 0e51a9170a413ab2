/* The index is a hash table from key to block, chained through the blocks themselves. The key only
 * narrows the search: a lookup also compares the block's tokens and its parent's content id, which
 * by induction from the first block proves the whole prefix equal, so a collision costs a miss at
 * worst. Content ids (not block ids) name parents because a block id is reused after eviction, and
 * a child indexed under the old content must not match under the new. */
#include "server/engine/prefix_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t prefix_cache_default_hash(uint64_t parent, const int32_t *tokens, int32_t n)
{
    uint64_t h = mix64(parent ^ 0x9e3779b97f4a7c15ull);
    for (int32_t i = 0; i < n; i++)
        h = mix64(h ^ (uint32_t)tokens[i]) + (uint64_t)i;
    return h;
}

static void unindex(prefix_cache *pc, int32_t b)
{
    if (!pc->indexed[b]) return;
    int32_t *link = &pc->buckets[pc->key[b] & pc->bucket_mask];
    while (*link != b)
        link = &pc->chain[*link];
    *link = pc->chain[b];
    pc->indexed[b] = 0;
    pc->num_indexed--;
}

static void on_evict(void *ctx, int32_t block)
{
    unindex(ctx, block);
}

int prefix_cache_init(prefix_cache *pc, kvb_pool *pool, char *err, size_t errlen)
{
    *pc = (prefix_cache){.pool = pool,
                         .hash_fn = prefix_cache_default_hash,
                         .num_blocks = pool->num_blocks,
                         .next_uid = 1};
    size_t n = (size_t)pool->num_blocks, nb = 16;
    while (nb < 2 * n)
        nb *= 2;
    pc->key = calloc(n, sizeof *pc->key);
    pc->uid = calloc(n, sizeof *pc->uid);
    pc->parent_uid = calloc(n, sizeof *pc->parent_uid);
    pc->tokens = malloc(sizeof *pc->tokens * n * BK_KV_BLOCK);
    pc->chain = malloc(sizeof *pc->chain * n);
    pc->indexed = calloc(n, 1);
    pc->buckets = malloc(sizeof *pc->buckets * nb);
    if (!pc->key || !pc->uid || !pc->parent_uid || !pc->tokens || !pc->chain || !pc->indexed ||
        !pc->buckets) {
        prefix_cache_free(pc);
        snprintf(err, errlen, "prefix cache: out of host memory for %d blocks", pool->num_blocks);
        return -1;
    }
    memset(pc->buckets, 0xff, sizeof *pc->buckets * nb);
    pc->bucket_mask = nb - 1;
    kvb_pool_set_evict_hook(pool, on_evict, pc);
    return 0;
}

void prefix_cache_free(prefix_cache *pc)
{
    if (pc->pool) kvb_pool_set_evict_hook(pc->pool, NULL, NULL);
    free(pc->key);
    free(pc->uid);
    free(pc->parent_uid);
    free(pc->tokens);
    free(pc->chain);
    free(pc->indexed);
    free(pc->buckets);
    *pc = (prefix_cache){0};
}

void prefix_cache_set_hash(prefix_cache *pc, prefix_cache_hash_fn fn)
{
    if (pc->num_indexed == 0) pc->hash_fn = fn ? fn : prefix_cache_default_hash;
}

/* The indexed block with this key, parent and tokens, or -1. */
static int32_t find(const prefix_cache *pc, uint64_t key, uint64_t parent_uid,
                    const int32_t *tokens)
{
    for (int32_t b = pc->buckets[key & pc->bucket_mask]; b >= 0; b = pc->chain[b]) {
        if (pc->key[b] == key && pc->parent_uid[b] == parent_uid &&
            !memcmp(pc->tokens + (size_t)b * BK_KV_BLOCK, tokens, sizeof *tokens * BK_KV_BLOCK))
            return b;
    }
    return -1;
}

int32_t prefix_cache_match(const prefix_cache *pc, const int32_t *tokens, int32_t num_tokens,
                           int32_t *blocks)
{
    uint64_t key = 0, parent = 0;
    int32_t k = 0;
    for (; (int64_t)(k + 1) * BK_KV_BLOCK <= num_tokens; k++) {
        const int32_t *t = tokens + (size_t)k * BK_KV_BLOCK;
        key = pc->hash_fn(key, t, BK_KV_BLOCK);
        int32_t b = find(pc, key, parent, t);
        if (b < 0) break;
        blocks[k] = b;
        parent = pc->uid[b];
    }
    return k;
}

void prefix_cache_commit(prefix_cache *pc, const kvb_table *table, const int32_t *tokens,
                         int32_t num_tokens, int32_t *num_indexed)
{
    int32_t full = num_tokens / BK_KV_BLOCK;
    if (full > table->num_blocks) full = table->num_blocks;
    for (int32_t i = *num_indexed; i < full; i++) {
        int32_t b = table->blocks[i];
        const int32_t *t = tokens + (size_t)i * BK_KV_BLOCK;
        uint64_t parent_key = i ? pc->key[table->blocks[i - 1]] : 0;
        pc->parent_uid[b] = i ? pc->uid[table->blocks[i - 1]] : 0;
        pc->key[b] = pc->hash_fn(parent_key, t, BK_KV_BLOCK);
        pc->uid[b] = pc->next_uid++;
        memcpy(pc->tokens + (size_t)b * BK_KV_BLOCK, t, sizeof *t * BK_KV_BLOCK);
        /* A duplicate of an indexed block (two sequences computed the same prefix at once) is
         * indexed too: both are right, and the table's block ids never change under it. */
        int32_t *bucket = &pc->buckets[pc->key[b] & pc->bucket_mask];
        pc->chain[b] = *bucket;
        *bucket = b;
        pc->indexed[b] = 1;
        pc->num_indexed++;
        kvb_pool_set_cached(pc->pool, b, true);
    }
    if (full > *num_indexed) *num_indexed = full;
}

void prefix_cache_forget(prefix_cache *pc, const kvb_table *table, int32_t from, int32_t to)
{
    for (int32_t i = from; i < to && i < table->num_blocks; i++) {
        unindex(pc, table->blocks[i]);
        kvb_pool_set_cached(pc->pool, table->blocks[i], false);
    }
}

void prefix_cache_reset(prefix_cache *pc)
{
    for (int32_t b = 0; b < pc->num_blocks; b++) {
        if (!pc->indexed[b]) continue;
        unindex(pc, b);
        kvb_pool_set_cached(pc->pool, b, false);
    }
}
