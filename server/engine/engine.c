/* The engine thread. The scheduling policy (which tokens go into a step) is in scheduler.c, a
 * request's life on the handlers' side (submit, events, cancel, release) in engine_request.c; this
 * file owns the thread, start and stop, and the step: forward, then sampling (step_sampler.c), then
 * publishing the tokens.
 *
 * Locking: one mutex guards the inbox, every request's event queue and flags, and the stats. The
 * engine thread holds it between steps (to take new requests and cancellations) and after a forward
 * (to publish events), never during the forward itself. */
#include "server/engine/engine_internal.h"

#include "server/engine/kv_budget.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void engine_config_defaults(engine_config *cfg, const model_config *mc)
{
    if (cfg->max_model_len <= 0) cfg->max_model_len = mc->max_position_embeddings;
    if (cfg->max_num_seqs <= 0) cfg->max_num_seqs = 64;
    if (cfg->max_batched_tokens <= 0) cfg->max_batched_tokens = 2048;
    if (cfg->max_batched_tokens < cfg->max_num_seqs) cfg->max_batched_tokens = cfg->max_num_seqs;
    if (cfg->num_kv_blocks <= 0 && cfg->kv_cache_bytes == 0)
        cfg->num_kv_blocks = kvb_blocks_for(cfg->max_model_len) * 4;
    if (cfg->max_waiting <= 0) cfg->max_waiting = 1024;
    if (cfg->kv_watermark <= 0) cfg->kv_watermark = 0.01f;
}

/* ---- the engine thread ---- */

/* The backend's memory accounting into the stats; call with the lock held, from the thread that
 * allocates (start, then the engine thread). */
static void snapshot_memory(engine *e)
{
    bk_memory_stats ms = {0};
    if (e->be->ops->memory_stats) e->be->ops->memory_stats(e->be, &ms);
    e->stats.memory_budget_bytes = ms.budget;
    e->stats.memory_in_use_bytes = ms.in_use;
    e->stats.memory_peak_bytes = ms.peak;
}

/* Blocks held by sequences (the graphs' trash block is not one of them; evictable cached blocks
 * are not held). */
static int32_t blocks_used(const engine *e)
{
    return e->pool.num_blocks - kvb_pool_available(&e->pool) - e->trash.num_blocks;
}

/* The block counts of the stats. With e->lock held. */
static void update_block_stats(engine *e)
{
    e->stats.kv_blocks_used = blocks_used(e);
    e->stats.prefix_cache_blocks = e->pc.pool ? e->pc.num_indexed : 0;
}

static bool is_stop_token(const engine_request *r, int32_t token)
{
    for (int32_t i = 0; i < r->num_stop_ids; i++)
        if (r->stop_ids[i] == token) return true;
    return false;
}

/* Takes new requests and drops cancelled ones. With e->lock held. */
static void take_inbox(engine *e)
{
    for (engine_request *r = e->inbox_head, *next; r; r = next) {
        next = r->next_inbox;
        r->next_inbox = NULL;
        if (request_list_insert_round(&e->waiting, r))
            engine_finish_request(e, r, FINISH_ABORT, NULL);
    }
    e->inbox_head = e->inbox_tail = NULL;
    e->inbox_count = 0;
    request_list *lists[2] = {&e->waiting, &e->running};
    for (int l = 0; l < 2; l++) {
        for (int32_t i = 0; i < lists[l]->count;) {
            engine_request *r = lists[l]->items[i];
            if (r->cancelled || e->stopping) {
                request_list_remove(lists[l], r);
                engine_finish_request(e, r, FINISH_ABORT, NULL);
            } else {
                i++;
            }
        }
    }
    if (e->resets_done != e->resets_asked) {
        if (e->pc.pool) prefix_cache_reset(&e->pc);
        e->resets_done = e->resets_asked;
        pthread_cond_broadcast(&e->reset_cond);
    }
    e->stats.waiting = e->waiting.count;
    e->stats.running = e->running.count;
    update_block_stats(e);
}

/* The step's logits rows, in row order, as the sampler sees them; the constrained ones get a mask
 * job in e->mask_jobs (*num_jobs of them). */
static int32_t sampling_rows(engine *e, engine_request **sched, int32_t n, int32_t *num_jobs)
{
    int32_t num_rows = 0;
    *num_jobs = 0;
    for (int32_t i = 0; i < n; i++) {
        engine_request *r = sched[i];
        if (r->logits_row < 0) continue;
        int32_t generated = r->num_tokens - r->prompt_len;
        r->sampling.suppress = generated < r->min_tokens;
        e->rows[r->logits_row] = (step_sampler_row){.params = &r->sampling,
                                                    .state = &r->sampler,
                                                    .owner = r->arrival + 1,
                                                    .generated = r->tokens + r->prompt_len,
                                                    .num_generated = generated};
        e->rows[r->logits_row].masked = constraint_mask_job(
            r, step_sampler_mask_row(&e->sampler, r->logits_row), &e->mask_jobs[*num_jobs]);
        if (e->rows[r->logits_row].masked) (*num_jobs)++;
        num_rows++;
    }
    return num_rows;
}

/* Records the sampled tokens (e->picked, by logits row) and publishes them. */
static void publish(engine *e, engine_request **sched, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        sched[i]->num_computed += sched[i]->step_tokens;
    /* Outside the lock: a matcher's advance is the only costly part of publishing. It sees the
     * token that is published: a scripted one (test only) is held to the constraint as a sampled
     * one is, so a script a real model could not say under it fails the request. */
    for (int32_t i = 0; i < n; i++) {
        const engine_request *r = sched[i];
        if (r->logits_row < 0) continue;
        int32_t at = r->num_tokens - r->prompt_len;
        constraint_after_token(sched[i], at < r->num_scripted ? r->scripted[at]
                                                              : e->picked[r->logits_row].token);
    }
    pthread_mutex_lock(&e->lock);
    for (int32_t i = 0; i < n; i++) {
        engine_request *r = sched[i];
        if (r->logits_row < 0) continue;
        sampled_token scripted;
        const sampled_token *picked = &e->picked[r->logits_row];
        int32_t at = r->num_tokens - r->prompt_len;
        if (at < r->num_scripted) {
            scripted = (sampled_token){.token = r->scripted[at], .logprob = 0.0f, .num_top = 0};
            picked = &scripted;
        }
        int32_t tok = picked->token;
        if (r->num_tokens == r->prompt_len) e->stats.prompt_tokens_total += (uint64_t)r->prompt_len;
        r->tokens[r->num_tokens++] = tok;
        sampler_state_record(&r->sampler, tok);
        e->stats.generation_tokens_total++;
        int32_t generated = r->num_tokens - r->prompt_len;
        finish_reason why = FINISH_NONE;
        if (r->constraint_broken)
            why = FINISH_ERROR;
        else if (is_stop_token(r, tok) && generated > r->min_tokens - 1)
            why = FINISH_STOP;
        else if (r->constraint_ended)
            why = FINISH_STOP;
        else if (generated >= r->max_tokens || r->num_tokens >= e->cfg.max_model_len)
            why = FINISH_LENGTH;
        if (why != FINISH_NONE) {
            request_list_remove(&e->running, r);
            engine_finish_request(e, r, why, why == FINISH_ERROR ? NULL : picked);
        } else {
            engine_event ev = {.has_token = true,
                               .token = *picked,
                               .prompt_tokens = r->prompt_len,
                               .completion_tokens = generated,
                               .cached_tokens = r->cached_tokens};
            engine_push_event(r, &ev);
        }
    }
    e->stats.running = e->running.count;
    e->stats.waiting = e->waiting.count;
    update_block_stats(e);
    e->stats.steps_total++;
    snapshot_memory(e); /* the engine thread is the only one allocating after start */
    pthread_mutex_unlock(&e->lock);
}

/* A decode-only step (one token and a logits row per sequence) with graphs on: its bucket, else 0.
 */
static int32_t graph_bucket(engine *e, engine_request **sched, int32_t n)
{
    if (!e->graphs.be) return 0;
    for (int32_t i = 0; i < n; i++)
        if (sched[i]->step_tokens != 1 || sched[i]->logits_row < 0 || sched[i]->plp_count > 0)
            return 0;
    return step_graphs_bucket(&e->graphs, n);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The forward (and, without constrained rows, the sample op's enqueue). */
static int forward(engine *e, int32_t rows, const bk_tensor **logits, char *err, size_t errlen)
{
    int32_t bucket = e->step_bucket;
    if (bucket > 0) {
        uint64_t launches = e->graphs.launches;
        if (step_batch_pad(&e->batch, bucket, e->trash.blocks[0], err, errlen) ||
            step_batch_upload(&e->batch, err, errlen) ||
            step_sampler_stage(&e->sampler, e->rows, rows, bucket, err, errlen))
            return -1;
        /* As recorded: attention planned for the longest context, on the eager steps too, so a
         * bucket's tokens do not depend on whether its graph exists yet. */
        e->batch.dev.max_seq_len = 0;
        if (step_graphs_run(&e->graphs, e->m, &e->batch.dev, &e->sampler, logits, err, errlen))
            return -1;
        if (e->graphs.launches != launches) {
            pthread_mutex_lock(&e->lock);
            e->stats.graph_steps_total++;
            pthread_mutex_unlock(&e->lock);
        }
        return 0;
    }
    if (step_batch_upload(&e->batch, err, errlen) ||
        step_sampler_stage(&e->sampler, e->rows, rows, rows, err, errlen))
        return -1;
    int rc = model_forward(e->m, &e->batch.dev, logits, err, errlen);
    if (rc) return rc;
    return e->sampler.use_mask ? 0 : step_sampler_enqueue(&e->sampler, *logits, err, errlen);
}

/* The forward's abandon check (model_set_abandon), between layers: stop when shutting down, or when
 * cancelled sequences hold at least half of the step's tokens (a cancelled long prefill), so that
 * the others rarely lose work. Only eager steps with a prefill are armed: a decode step is short,
 * and a graph's forward must never stop halfway through its capture. */
static bool step_abandoned(void *ctx)
{
    engine *e = ctx;
    if (!e->abandon_armed) return false;
    if (atomic_load(&e->stop_now)) return true;
    int64_t cancelled = 0;
    for (int32_t i = 0; i < e->step_count; i++)
        if (atomic_load(&e->step_reqs[i]->stop_asked)) cancelled += e->step_reqs[i]->step_tokens;
    return cancelled > 0 && 2 * cancelled >= e->batch.num_tokens;
}

/* One step's device work: upload the batch and the sampling inputs, forward, sample, collect. The
 * constrained rows' masks are computed on the mask threads while the forward runs (the forward
 * queues on a GPU; it runs on this thread on the CPU), then uploaded for the sample op. */
static int run_step(engine *e, engine_request **sched, int32_t n, char *err, size_t errlen)
{
    int32_t jobs;
    int32_t rows = sampling_rows(e, sched, n, &jobs);
    e->step_bucket = graph_bucket(e, sched, n);
    e->step_reqs = sched;
    e->step_count = n;
    e->abandon_armed = false;
    if (e->step_bucket == 0)
        for (int32_t i = 0; i < n; i++)
            e->abandon_armed |= sched[i]->step_tokens > 1;
    if (jobs > 0) mask_pool_start(&e->masks, e->mask_jobs, jobs);
    const bk_tensor *logits;
    int rc = forward(e, rows, &logits, err, errlen);
    if (jobs > 0) {
        uint64_t t0 = now_ns();
        int32_t failed = mask_pool_wait(&e->masks);
        uint64_t waited = now_ns() - t0;
        pthread_mutex_lock(&e->lock);
        e->stats.constrained_steps_total++;
        e->stats.mask_wait_ns_total += waited;
        pthread_mutex_unlock(&e->lock);
        if (rc) return rc;
        if (failed) {
            snprintf(err, errlen, "%d constraint mask%s failed", failed, failed == 1 ? "" : "s");
            return -1;
        }
        if (step_sampler_upload_masks(&e->sampler, err, errlen) ||
            step_sampler_enqueue(&e->sampler, logits, err, errlen))
            return -1;
    }
    if (rc) return rc;
    if (step_sampler_collect(&e->sampler, logits, e->rows, rows, e->picked, err, errlen)) return -1;
    return engine_prompt_logprobs_step(e, sched, n, logits, err, errlen);
}

/* Every running and waiting request ends with FINISH_ABORT (after a failed step or at shutdown). */
static void abort_all(engine *e)
{
    while (e->running.count) {
        engine_request *r = e->running.items[0];
        request_list_remove(&e->running, r);
        engine_finish_request(e, r, FINISH_ABORT, NULL);
    }
    while (e->waiting.count) {
        engine_request *r = e->waiting.items[0];
        request_list_remove(&e->waiting, r);
        engine_finish_request(e, r, FINISH_ABORT, NULL);
    }
}

static void *engine_main(void *arg)
{
    engine *e = arg;
    char err[512];
    engine_request **sched = e->sched;
    for (;;) {
        pthread_mutex_lock(&e->lock);
        while (!e->stopping && !e->inbox_head && !e->running.count && !e->waiting.count &&
               e->resets_done == e->resets_asked)
            pthread_cond_wait(&e->work, &e->lock);
        take_inbox(e);
        if (e->stopping) {
            abort_all(e);
            pthread_mutex_unlock(&e->lock);
            break;
        }
        pthread_mutex_unlock(&e->lock);

        int32_t n = sched_build_step(e, sched, err, sizeof err);
        if (n == 0) continue;
        int rc = n < 0 ? -1 : run_step(e, sched, n, err, sizeof err);
        if (rc == MODEL_FORWARD_ABANDONED) {
            sched_abandon(e, sched, n);
            pthread_mutex_lock(&e->lock);
            e->stats.abandoned_steps_total++;
            pthread_mutex_unlock(&e->lock);
            continue;
        }
        if (rc) {
            /* A failed step leaves the KV cache in an unknown state: stop serving, loudly. */
            fprintf(stderr, "engine: step failed: %s\n", err);
            pthread_mutex_lock(&e->lock);
            e->failed = true;
            snprintf(e->failure, sizeof e->failure, "%s", err);
            pthread_cond_broadcast(&e->reset_cond);
            abort_all(e);
            pthread_mutex_unlock(&e->lock);
            break;
        }
        publish(e, sched, n);
    }
    return NULL;
}

/* Bytes an allocation of `bytes` may take in a backend's memory: CUDA rounds to 256
 * (CU_ARENA_ALIGN). */
#define ENGINE_ALLOC_ALIGN 256

/* Sizes the KV cache from the memory the backend has left after everything else is allocated (the
 * step batch's tensors are the only ones still to come, counted here). */
static int plan_kv(engine *e, engine_config *cfg, bool len_given, char *err, size_t errlen)
{
    const model_config *mc = model_get_config(e->m);
    size_t left = e->be->ops->bytes_free ? e->be->ops->bytes_free(e->be) : SIZE_MAX;
    size_t batch = step_batch_device_bytes(cfg->max_batched_tokens, cfg->max_num_seqs,
                                           kvb_blocks_for(cfg->max_model_len), ENGINE_ALLOC_ALIGN);
    /* The sample op's own scratch (the CPU's, charged at its first call) comes after the cache. */
    if (!e->sampler.on_host && e->be->ops->sample_workspace_bytes)
        batch += e->be->ops->sample_workspace_bytes(e->be, e->vocab);
    left = left > batch ? left - batch : 0;
    size_t memory = cfg->kv_cache_bytes;
    if (memory == SIZE_MAX) {
        memory = left;
    } else if (memory > left) {
        snprintf(err, errlen,
                 "a KV cache of %zu bytes was asked for, but only %zu bytes of the %s backend's "
                 "memory are left after the weights and the workspace: lower --kv-cache-memory or "
                 "raise --memory-budget",
                 memory, left, e->be->name);
        return -1;
    }
    kv_budget_in in = {.memory = memory,
                       .block_bytes = model_kv_bytes_per_token(e->m, e->be->kv_dtype) * BK_KV_BLOCK,
                       .num_tensors = 2 * mc->num_layers,
                       .align = ENGINE_ALLOC_ALIGN,
                       .extra_blocks = e->graphs.be ? 1 : 0,
                       .model_max_len = mc->max_position_embeddings,
                       .max_model_len = len_given ? cfg->max_model_len : 0,
                       .max_num_seqs = cfg->max_num_seqs};
    kv_budget_out plan;
    if (kv_budget_plan(&in, &plan, err, errlen)) return -1;
    cfg->num_kv_blocks = plan.num_blocks;
    cfg->max_model_len = plan.max_model_len;
    return 0;
}

int engine_start(engine **out, model *m, engine_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    const model_config *mc = model_get_config(m);
    bool len_given = cfg->max_model_len > 0;
    engine_config_defaults(cfg, mc);
    if (cfg->max_model_len > mc->max_position_embeddings) {
        snprintf(err, errlen, "max_model_len %d exceeds the model's max_position_embeddings %d",
                 cfg->max_model_len, mc->max_position_embeddings);
        return -1;
    }
    /* A cache of a given size shortens the default length to what it holds, as one sized from
     * memory. */
    if (!len_given && cfg->num_kv_blocks > 0 &&
        kvb_blocks_for(cfg->max_model_len) > cfg->num_kv_blocks)
        cfg->max_model_len = cfg->num_kv_blocks * BK_KV_BLOCK;
    if (cfg->num_kv_blocks > 0 && kvb_blocks_for(cfg->max_model_len) > cfg->num_kv_blocks) {
        snprintf(
            err, errlen,
            "the KV cache (%d blocks = %d tokens) cannot hold one sequence of max_model_len %d",
            cfg->num_kv_blocks, cfg->num_kv_blocks * BK_KV_BLOCK, cfg->max_model_len);
        return -1;
    }
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of host memory");
        return -1;
    }
    e->m = m;
    e->be = model_backend(m);
    e->vocab = mc->vocab_size;
    e->rows = malloc(sizeof *e->rows * (size_t)cfg->max_num_seqs);
    e->picked = malloc(sizeof *e->picked * (size_t)cfg->max_num_seqs);
    e->mask_jobs = malloc(sizeof *e->mask_jobs * (size_t)cfg->max_num_seqs);
    e->sched = malloc(sizeof *e->sched * (size_t)cfg->max_num_seqs);
    if (!e->rows || !e->picked || !e->mask_jobs || !e->sched) {
        snprintf(err, errlen, "out of host memory for %d logits rows", cfg->max_num_seqs);
        goto fail;
    }
    if (cfg->cuda_graphs >= 0 && step_graphs_supported(e->be)) {
        cfg->cuda_graphs = 1;
        if (step_graphs_init(&e->graphs, e->be, cfg->max_num_seqs, err, errlen)) goto fail;
    } else {
        cfg->cuda_graphs = -1;
    }
    /* The workspace and the sampler first: a KV cache sized from memory gets what is left. */
    e->plp_rows = engine_prompt_logit_rows(cfg);
    if (model_reserve_workspace(m, cfg->max_batched_tokens, cfg->max_num_seqs + e->plp_rows, err,
                                errlen) ||
        step_sampler_init(&e->sampler, e->be, cfg->max_num_seqs, e->vocab, cfg->host_sampling, err,
                          errlen))
        goto fail;
    if (cfg->mask_threads <= 0) cfg->mask_threads = 2;
    if (cfg->num_kv_blocks <= 0 && plan_kv(e, cfg, len_given, err, errlen)) goto fail;
    e->cfg = *cfg;
    /* With graphs, one block more than asked for: the trash block of padded rows. */
    int32_t blocks = cfg->num_kv_blocks + (e->graphs.be ? 1 : 0);
    if (model_reserve_kv(m, blocks, err, errlen) || kvb_pool_init(&e->pool, blocks, err, errlen) ||
        step_batch_init(&e->batch, e->be, cfg->max_batched_tokens, cfg->max_num_seqs,
                        kvb_blocks_for(cfg->max_model_len), err, errlen))
        goto fail;
    if (mask_pool_init(&e->masks, cfg->mask_threads, err, errlen)) goto fail;
    model_set_abandon(m, step_abandoned, e);
    if (e->graphs.be && kvb_table_reserve(&e->pool, &e->trash, 1)) {
        snprintf(err, errlen, "out of host memory for the graphs' trash block");
        goto fail;
    }
    /* After the trash block: it is never indexed, and the pool never hands it out again. */
    if (cfg->prefix_caching >= 0) {
        cfg->prefix_caching = 1;
        e->cfg.prefix_caching = 1;
        e->match = malloc(sizeof *e->match * (size_t)kvb_blocks_for(cfg->max_model_len));
        if (!e->match) {
            snprintf(err, errlen, "out of host memory for prefix lookups");
            goto fail;
        }
        if (prefix_cache_init(&e->pc, &e->pool, err, errlen)) goto fail;
        prefix_cache_set_hash(&e->pc, cfg->prefix_cache_hash);
    }
    e->stats.kv_blocks_total = cfg->num_kv_blocks;
    snapshot_memory(e);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->drained, NULL);
    pthread_cond_init(&e->reset_cond, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e)) {
        snprintf(err, errlen, "cannot start the engine thread");
        pthread_mutex_destroy(&e->lock);
        pthread_cond_destroy(&e->work);
        pthread_cond_destroy(&e->drained);
        pthread_cond_destroy(&e->reset_cond);
        goto fail;
    }
    *out = e;
    return 0;
fail:
    mask_pool_free(&e->masks);
    free(e->mask_jobs);
    if (e->batch.be) step_batch_free(&e->batch);
    if (e->sampler.be) step_sampler_free(&e->sampler);
    if (e->graphs.be) step_graphs_free(&e->graphs);
    kvb_table_free(&e->trash);
    prefix_cache_free(&e->pc);
    free(e->match);
    kvb_pool_free(&e->pool);
    free(e->rows);
    free(e->picked);
    free(e->sched);
    free(e);
    return -1;
}

void engine_shutdown(engine *e)
{
    if (!e) return;
    pthread_mutex_lock(&e->lock);
    bool already = e->stopping;
    e->stopping = true;
    atomic_store(&e->stop_now, true);
    pthread_cond_signal(&e->work);
    pthread_cond_broadcast(&e->reset_cond);
    pthread_mutex_unlock(&e->lock);
    if (already) return;
    pthread_join(e->thread, NULL);
    /* Requests still queued in the inbox never reached the thread. Then wait until every handler
     * has released its requests: they hold pointers into this engine. */
    pthread_mutex_lock(&e->lock);
    take_inbox(e);
    abort_all(e);
    while (e->live_requests > 0)
        pthread_cond_wait(&e->drained, &e->lock);
    pthread_mutex_unlock(&e->lock);
}

void engine_stop(engine *e)
{
    if (!e) return;
    engine_shutdown(e);
    pthread_cond_destroy(&e->drained);
    step_batch_free(&e->batch);
    prefix_cache_free(&e->pc);
    free(e->match);
    kvb_pool_free(&e->pool);
    pthread_cond_destroy(&e->reset_cond);
    free(e->waiting.items);
    free(e->running.items);
    step_sampler_free(&e->sampler);
    if (e->graphs.be) step_graphs_free(&e->graphs);
    kvb_table_free(&e->trash);
    mask_pool_free(&e->masks);
    free(e->mask_jobs);
    free(e->rows);
    free(e->picked);
    free(e->sched);
    free(e->plp_logits);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->work);
    free(e);
}
