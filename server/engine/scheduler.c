/* Which tokens go into the next step (continuous batching with a token budget):
 *   1. running sequences that decode (one token each), oldest first;
 *   2. running sequences still prefilling, one chunk each, oldest first, while budget remains;
 *   3. waiting sequences (preempted ones at the head, then round-robin between client requests,
 *      arrival order within a round: engine.c's request_list_insert_round) while budget, sequence
 *      slots and KV blocks above the watermark remain.
 * When a running sequence needs a block and none is free, the newest running sequence is preempted:
 * its blocks are freed and it goes back to the head of the waiting queue to be recomputed.
 * With prefix caching, an admitted sequence first shares the longest run of indexed full blocks
 * matching its tokens (all but the last token, so the step computes at least one and has logits),
 * and every full block a step computes is indexed when it is scheduled: it is written by the end of
 * the step, and within the step each layer writes every token's K/V before any attention reads
 * them, so a sequence admitted later in the same step may already share it (the choices of n > 1).
 * A request that asks for prompt logprobs takes nothing from the prefix cache until its prompt's
 * logprobs are done (cached positions have no logits), and its chunks are cut to the step's prompt
 * logits rows left (engine_prompt_logit_rows); those rows follow the sampling rows, so the sampler
 * sees the same rows as in a step without them.
 */
#include "server/engine/engine_internal.h"

#include <stdio.h>

void sched_preempt(engine *e, engine_request *r)
{
    kvb_table_release(&e->pool, &r->table);
    r->num_computed = 0;
    r->num_indexed = 0;
    r->round = -1;
    request_list_remove(&e->running, r);
    request_list_push_front(&e->waiting, r);
    /* The scheduler runs without e->lock, but the stats are read by /metrics (engine_get_stats). */
    pthread_mutex_lock(&e->lock);
    e->stats.preemptions_total++;
    pthread_mutex_unlock(&e->lock);
}

void sched_abandon(engine *e, engine_request **sched, int32_t n)
{
    /* The blocks the step indexed hold K/V of only some layers: forgotten first, so that releasing
     * them below frees them instead of keeping them findable. */
    for (int32_t i = 0; i < n; i++) {
        engine_request *r = sched[i];
        if (e->pc.pool && r->num_indexed > r->step_indexed_from)
            prefix_cache_forget(&e->pc, &r->table, r->step_indexed_from, r->num_indexed);
        r->num_indexed = r->step_indexed_from;
        r->in_step = false;
    }
    /* Sequences the step admitted may share those blocks: back to waiting, in their order. The
     * others keep their blocks and num_computed, and redo the same tokens in the next step. */
    for (int32_t i = n - 1; i >= 0; i--) {
        engine_request *r = sched[i];
        if (!r->admitted_now) continue;
        kvb_table_release(&e->pool, &r->table);
        r->num_computed = 0;
        r->num_indexed = 0;
        r->round = -1;
        r->admitted_now = false;
        request_list_remove(&e->running, r);
        request_list_push_front(&e->waiting, r);
    }
}

/* The newest running sequence that has no tokens in the step being built: only those can give up
 * their blocks without invalidating the batch. */
static engine_request *newest_unscheduled(engine *e)
{
    for (int32_t i = e->running.count - 1; i >= 0; i--)
        if (!e->running.items[i]->in_step) return e->running.items[i];
    return NULL;
}

/* Reserves blocks for r (not yet in the step) to hold `tokens` tokens, preempting the newest
 * unscheduled running sequences while the pool is short. Returns 0, or -1 if r itself gave way.
 * Victims always sit at r's index or after it in the running list (everything before r is already
 * scheduled), so the caller's iteration stays valid. */
static int reserve_or_preempt(engine *e, engine_request *r, int64_t tokens)
{
    while (kvb_table_reserve(&e->pool, &r->table, tokens) != 0) {
        engine_request *victim = newest_unscheduled(e);
        sched_preempt(e, victim);
        if (victim == r) return -1;
    }
    return 0;
}

/* Whether r still needs logits at prompt positions. */
static bool needs_prompt_rows(const engine_request *r)
{
    return r->want_plp && r->plp_next < r->prompt_len - 1;
}

/* Prompt positions of the chunk [from, from + n) whose logits r still needs: [*first, end). */
static int32_t prompt_rows_in(const engine_request *r, int32_t from, int32_t n, int32_t *first)
{
    int32_t lo = from > r->plp_next ? from : r->plp_next;
    int32_t hi = from + n < r->prompt_len - 1 ? from + n : r->prompt_len - 1;
    *first = lo;
    return hi > lo ? hi - lo : 0;
}

/* Cuts a chunk of r to the prompt logits rows left in the step: 0 when none is left for its first
 * position that needs one. */
static int32_t cut_to_prompt_rows(const engine *e, const engine_request *r, int32_t n)
{
    if (!needs_prompt_rows(r)) return n;
    int32_t first, left = e->plp_rows - e->plp_rows_used;
    int32_t rows = prompt_rows_in(r, r->num_computed, n, &first);
    if (rows <= left) return n;
    return first - r->num_computed + left; /* the positions before first need no row */
}

static int add_to_step(engine *e, engine_request *r, int32_t n, engine_request **sched,
                       int32_t *count, char *err, size_t errlen)
{
    bool ends = r->num_computed + n == r->num_tokens;
    int32_t first_token = e->batch.num_tokens;
    int32_t row = step_batch_add(&e->batch, &r->table, r->tokens + r->num_computed, n,
                                 r->num_computed, ends, err, errlen);
    if (row < -1) return -1;
    r->plp_count = 0;
    if (needs_prompt_rows(r)) {
        r->plp_count = prompt_rows_in(r, r->num_computed, n, &r->plp_from);
        /* The chunk's token index of position plp_from, until sched_build_step places the rows. */
        r->plp_row = first_token + (r->plp_from - r->num_computed);
        e->plp_rows_used += r->plp_count;
    }
    r->step_indexed_from = r->num_indexed;
    if (e->pc.pool)
        prefix_cache_commit(&e->pc, &r->table, r->tokens, r->num_computed + n, &r->num_indexed);
    r->step_tokens = n;
    r->logits_row = row;
    r->in_step = true;
    sched[(*count)++] = r;
    return 0;
}

int32_t sched_build_step(engine *e, engine_request **sched, char *err, size_t errlen)
{
    step_batch_reset(&e->batch);
    e->plp_rows_used = 0;
    int32_t budget = e->cfg.max_batched_tokens, count = 0;
    for (int32_t i = 0; i < e->running.count; i++) {
        e->running.items[i]->in_step = false;
        e->running.items[i]->admitted_now = false;
    }

    /* 1 + 2: running sequences, decodes before prefill chunks. */
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t i = 0; i < e->running.count && budget > 0; i++) {
            engine_request *r = e->running.items[i];
            int32_t left = r->num_tokens - r->num_computed;
            bool decoding = left == 1;
            if ((pass == 0) != decoding) continue;
            int32_t n = cut_to_prompt_rows(e, r, left < budget ? left : budget);
            if (n <= 0) continue;
            if (reserve_or_preempt(e, r, (int64_t)r->num_computed + n)) {
                /* r was the newest and went back to waiting; the list shifted under i. */
                i--;
                continue;
            }
            if (add_to_step(e, r, n, sched, &count, err, errlen)) return -1;
            budget -= n;
        }
    }
    /* 3: admit from the waiting queue. */
    int32_t watermark = (int32_t)(e->cfg.kv_watermark * (float)e->pool.num_blocks);
    while (e->waiting.count && budget > 0 && e->running.count < e->cfg.max_num_seqs) {
        engine_request *r = e->waiting.items[0];
        /* A waiting sequence holds no blocks (new, or preempted and released). */
        int32_t hits = e->pc.pool && !needs_prompt_rows(r)
                           ? prefix_cache_match(&e->pc, r->tokens, r->num_tokens - 1, e->match)
                           : 0;
        int32_t hit_tokens = hits * BK_KV_BLOCK;
        int32_t left = r->num_tokens - hit_tokens;
        int32_t n = left < budget ? left : budget;
        if (needs_prompt_rows(r)) {
            r->num_computed = 0; /* what cut_to_prompt_rows reads: a waiting sequence has none */
            n = cut_to_prompt_rows(e, r, n);
            if (n <= 0) break;
        }
        /* Shared blocks that nobody holds leave the evictable list: they count as taken. */
        int32_t need = kvb_blocks_for((int64_t)hit_tokens + n) - hits +
                       kvb_pool_count_unheld(&e->pool, e->match, hits);
        bool alone = e->running.count == 0;
        if (kvb_pool_available(&e->pool) - need < (alone ? 0 : watermark)) break;
        kvb_table hit_view = {.blocks = e->match, .num_blocks = hits, .capacity = hits};
        if (kvb_table_share(&e->pool, &r->table, &hit_view, hits) ||
            kvb_table_reserve(&e->pool, &r->table, (int64_t)hit_tokens + n)) {
            kvb_table_release(&e->pool, &r->table);
            break;
        }
        r->num_computed = hit_tokens;
        r->num_indexed = hits;
        if (e->pc.pool) {
            pthread_mutex_lock(&e->lock);
            e->stats.prefix_cache_queries_total += (uint64_t)r->num_tokens;
            e->stats.prefix_cache_hits_total += (uint64_t)hit_tokens;
            pthread_mutex_unlock(&e->lock);
        }
        if (!r->admitted)
            r->cached_tokens = hit_tokens < r->prompt_len ? hit_tokens : r->prompt_len;
        r->admitted = true;
        r->admitted_now = true;
        request_list_remove(&e->waiting, r);
        request_list_push(&e->running, r);
        if (add_to_step(e, r, n, sched, &count, err, errlen)) return -1;
        budget -= n;
    }
    /* The prompt logits rows, after every sampling row. */
    for (int32_t i = 0; i < count; i++) {
        engine_request *r = sched[i];
        if (r->plp_count == 0) continue;
        int32_t token = r->plp_row;
        r->plp_row = e->batch.num_logit_rows;
        for (int32_t k = 0; k < r->plp_count; k++)
            e->batch.logit_rows[e->batch.num_logit_rows++] = token + k;
    }
    return count;
}
