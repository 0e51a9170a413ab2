/* Automatic prefix caching: full KV blocks indexed by their content, so a sequence whose prompt
 * starts with tokens already in the cache shares those blocks instead of computing them again.
 * Owns the index (chained hashes, exact token and parent checks, a per-block content id); must not
 * own block lifetimes (kv_blocks.c: references, the evictable list) nor decide what is scheduled.
 */
#ifndef BERTH_ENGINE_PREFIX_CACHE_H
#define BERTH_ENGINE_PREFIX_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/engine/kv_blocks.h"

/* A block's key: the parent block's key chained with the block's tokens (parent 0 for the first).
 */
typedef uint64_t (*prefix_cache_hash_fn)(uint64_t parent, const int32_t *tokens, int32_t n);

typedef struct prefix_cache {
    kvb_pool *pool;
    prefix_cache_hash_fn hash_fn;
    int32_t num_blocks;
    /* Per block, valid while it is indexed or held by a sequence that indexed it. */
    uint64_t *key;
    uint64_t *uid;        /* content id, never reused: what a child names as its parent */
    uint64_t *parent_uid; /* 0: the first block of a sequence */
    int32_t *tokens;      /* [num_blocks * BK_KV_BLOCK] */
    int32_t *chain;       /* next block in its bucket, -1 ends */
    uint8_t *indexed;
    int32_t *buckets;
    uint64_t bucket_mask;
    uint64_t next_uid;
    int32_t num_indexed;
} prefix_cache;

/* Indexes the blocks of pool, and hooks into its eviction. */
int prefix_cache_init(prefix_cache *pc, kvb_pool *pool, char *err, size_t errlen);
void prefix_cache_free(prefix_cache *pc);
/* Replaces the key function (tests force collisions with it); NULL restores the default. Only on an
 * empty cache. */
void prefix_cache_set_hash(prefix_cache *pc, prefix_cache_hash_fn fn);
uint64_t prefix_cache_default_hash(uint64_t parent, const int32_t *tokens, int32_t n);

/* The longest run of indexed blocks holding tokens[0..k*BK_KV_BLOCK), k*BK_KV_BLOCK <= num_tokens:
 * writes their ids to blocks (room for num_tokens / BK_KV_BLOCK) and returns k. A block matches
 * only if its tokens equal and its parent is the block matched before it, so a key collision can
 * make a lookup miss but never return a block of other content. References are not taken. */
int32_t prefix_cache_match(const prefix_cache *pc, const int32_t *tokens, int32_t num_tokens,
                           int32_t *blocks);
/* Indexes the full blocks of table covering tokens[0..num_tokens) from block *num_indexed on (the
 * ones before are indexed already or were shared from the index) and advances *num_indexed. The
 * caller promises their K/V are written by the end of the current step. */
void prefix_cache_commit(prefix_cache *pc, const kvb_table *table, const int32_t *tokens,
                         int32_t num_tokens, int32_t *num_indexed);
/* Forgets blocks from..to-1 of table (indexed by its own commit, their content since spoiled). */
void prefix_cache_forget(prefix_cache *pc, const kvb_table *table, int32_t from, int32_t to);
/* Forgets every block: unheld ones become free, held ones stay with their sequences. */
void prefix_cache_reset(prefix_cache *pc);

#endif
