/* A request's life on the handlers' side of the engine: the request lists, submitting (all of a
 * group's sequences queued or none), reading events, cancelling, releasing, and the stats and
 * prefix-cache reset calls. The engine thread (engine.c) takes what is submitted from the inbox and
 * answers through engine_push_event and engine_finish_request; see engine.c for the locking. */
#include "server/engine/engine_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- request lists ---- */

int request_list_push(request_list *l, engine_request *r)
{
    if (l->count == l->capacity) {
        int32_t cap = l->capacity ? l->capacity * 2 : 16;
        engine_request **grown = realloc(l->items, sizeof *grown * (size_t)cap);
        if (!grown) return -1;
        l->items = grown;
        l->capacity = cap;
    }
    l->items[l->count++] = r;
    return 0;
}

int request_list_push_front(request_list *l, engine_request *r)
{
    if (request_list_push(l, r)) return -1;
    memmove(l->items + 1, l->items, sizeof *l->items * (size_t)(l->count - 1));
    l->items[0] = r;
    return 0;
}

int request_list_insert_round(request_list *l, engine_request *r)
{
    int32_t at = l->count;
    while (at > 0 && l->items[at - 1]->round > r->round)
        at--;
    if (request_list_push(l, r)) return -1;
    memmove(l->items + at + 1, l->items + at, sizeof *l->items * (size_t)(l->count - 1 - at));
    l->items[at] = r;
    return 0;
}

void request_list_remove(request_list *l, engine_request *r)
{
    for (int32_t i = 0; i < l->count; i++) {
        if (l->items[i] == r) {
            memmove(l->items + i, l->items + i + 1, sizeof *l->items * (size_t)(l->count - i - 1));
            l->count--;
            return;
        }
    }
}

/* ---- request lifetime ---- */

/* The arrays a request owns from submit on: one list for a failed submit and request_free. */
static void free_request_arrays(engine_request *r)
{
    free(r->tokens);
    free(r->bias_ids);
    free(r->bias_values);
    free(r->stop_ids);
    free(r->scripted);
    free(r->plp_logprob);
    free(r->plp_rank);
    free(r->plp_top_ids);
    free(r->plp_top_lps);
}

/* With e->lock held (or before r was ever published). */
static void request_free(engine_request *r)
{
    if (r->arrival_counted && --r->e->live_requests == 0) pthread_cond_broadcast(&r->e->drained);
    kvb_table_free(&r->table);
    sampler_state_free(&r->sampler);
    constraint_detach(r);
    free_request_arrays(r);
    free(r->events);
    pthread_cond_destroy(&r->cond);
    free(r);
}

/* With e->lock held. A full queue grows; if that fails the event is dropped and the request is
 * aborted, so a reader never waits for a token that will not come. */
void engine_push_event(engine_request *r, const engine_event *ev)
{
    if (r->num_events == r->cap_events) {
        int32_t cap = r->cap_events ? r->cap_events * 2 : 16;
        engine_event *grown = malloc(sizeof *grown * (size_t)cap);
        if (!grown) {
            r->cancelled = true;
            return;
        }
        for (int32_t i = 0; i < r->num_events; i++)
            grown[i] = r->events[(r->first_event + i) % r->cap_events];
        free(r->events);
        r->events = grown;
        r->cap_events = cap;
        r->first_event = 0;
    }
    r->events[(r->first_event + r->num_events) % r->cap_events] = *ev;
    r->num_events++;
    pthread_cond_broadcast(&r->cond);
}

/* The engine is done with r: with e->lock held. Frees it when the handler is done too. */
void engine_finish_request(engine *e, engine_request *r, finish_reason why,
                           const sampled_token *tok)
{
    kvb_table_release(&e->pool, &r->table);
    engine_event ev = {.finish = why,
                       .prompt_tokens = r->prompt_len,
                       .completion_tokens = r->num_tokens - r->prompt_len,
                       .cached_tokens = r->cached_tokens,
                       .error = why == FINISH_ERROR ? r->constraint_error : NULL};
    if (tok) {
        ev.has_token = true;
        ev.token = *tok;
    }
    engine_push_event(r, &ev);
    r->finished = true;
    r->engine_done = true;
    pthread_cond_broadcast(&r->cond);
    if (r->released) request_free(r);
}

/* Copies logit_bias with a repeated id's values summed into one entry (the sample op's dense bias
 * row adds one value per token; the host sampler then adds the same one) and ids outside the
 * vocabulary dropped (both paths ignore them). Linear in entries + vocab: the list is untrusted.
 * Returns the count, or -1 out of memory. */
static int32_t merge_bias(const int32_t *ids, const float *values, int32_t n, int32_t vocab,
                          int32_t *out_ids, float *out_values)
{
    int32_t *slot = calloc((size_t)vocab, sizeof *slot); /* 1 + its index in out, or 0 */
    if (!slot) return -1;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab) continue;
        if (slot[ids[i]]) {
            out_values[slot[ids[i]] - 1] += values[i];
        } else {
            out_ids[m] = ids[i];
            out_values[m] = values[i];
            slot[ids[i]] = ++m;
        }
    }
    free(slot);
    return m;
}

/* A checked, unqueued request (the caller queues or discards it). */
static engine_status request_new(engine *e, const int32_t *prompt, int32_t prompt_len,
                                 const engine_request_params *p, engine_request **out, char *err,
                                 size_t errlen)
{
    *out = NULL;
    if (prompt_len <= 0 || p->max_tokens <= 0) {
        snprintf(err, errlen, "a request needs at least one prompt token and max_tokens >= 1");
        return ENGINE_INVALID;
    }
    if ((int64_t)prompt_len + p->max_tokens > e->cfg.max_model_len) {
        snprintf(err, errlen,
                 "This model's maximum context length is %d tokens. However, you requested %lld "
                 "tokens (%d in the prompt, %d in the completion). (context_length_exceeded)",
                 e->cfg.max_model_len, (long long)prompt_len + p->max_tokens, prompt_len,
                 p->max_tokens);
        return ENGINE_TOO_LONG;
    }
    for (int32_t i = 0; i < prompt_len; i++) {
        if (prompt[i] < 0 || prompt[i] >= e->vocab) {
            snprintf(err, errlen, "token id %d at position %d is outside the vocabulary (size %d)",
                     prompt[i], i, e->vocab);
            return ENGINE_INVALID;
        }
    }
    for (int32_t i = 0; i < p->num_scripted_tokens; i++) {
        if (p->scripted_tokens[i] < 0 || p->scripted_tokens[i] >= e->vocab) {
            snprintf(err, errlen,
                     "scripted token id %d at position %d is outside the vocabulary (size %d)",
                     p->scripted_tokens[i], i, e->vocab);
            return ENGINE_INVALID;
        }
    }
    if (p->prompt_logprobs &&
        (p->prompt_top_logprobs < 0 || p->prompt_top_logprobs > SAMPLER_MAX_LOGPROBS)) {
        snprintf(err, errlen, "prompt_top_logprobs %d is outside 0..%d", p->prompt_top_logprobs,
                 SAMPLER_MAX_LOGPROBS);
        return ENGINE_INVALID;
    }
    if (p->prompt_logprobs && e->plp_rows == 0) {
        snprintf(err, errlen,
                 "prompt logprobs need logits rows beside one per sequence, and max_batched_tokens "
                 "(%d) leaves none above max_num_seqs (%d)",
                 e->cfg.max_batched_tokens, e->cfg.max_num_seqs);
        return ENGINE_INVALID;
    }
    engine_request *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->e = e;
    r->capacity = prompt_len + p->max_tokens;
    r->tokens = malloc(sizeof(int32_t) * (size_t)r->capacity);
    if (!r->tokens || sampler_state_init(&r->sampler, e->vocab, prompt, prompt_len)) goto oom_free;
    memcpy(r->tokens, prompt, sizeof(int32_t) * (size_t)prompt_len);
    r->prompt_len = r->num_tokens = prompt_len;
    r->max_tokens = p->max_tokens;
    r->min_tokens = p->min_tokens;
    r->sampling = p->sampling;
    if (p->sampling.num_bias > 0) {
        r->bias_ids = malloc(sizeof(int32_t) * (size_t)p->sampling.num_bias);
        r->bias_values = malloc(sizeof(float) * (size_t)p->sampling.num_bias);
        if (!r->bias_ids || !r->bias_values) goto oom_free;
        r->sampling.num_bias =
            merge_bias(p->sampling.bias_ids, p->sampling.bias_values, p->sampling.num_bias,
                       e->vocab, r->bias_ids, r->bias_values);
        if (r->sampling.num_bias < 0) goto oom_free;
    }
    r->sampling.bias_ids = r->bias_ids;
    r->sampling.bias_values = r->bias_values;
    if (p->num_stop_token_ids > 0) {
        r->stop_ids = malloc(sizeof(int32_t) * (size_t)p->num_stop_token_ids);
        if (!r->stop_ids) goto oom_free;
        memcpy(r->stop_ids, p->stop_token_ids, sizeof(int32_t) * (size_t)p->num_stop_token_ids);
        r->num_stop_ids = p->num_stop_token_ids;
    }
    if (p->num_scripted_tokens > 0) {
        r->scripted = malloc(sizeof(int32_t) * (size_t)p->num_scripted_tokens);
        if (!r->scripted) goto oom_free;
        memcpy(r->scripted, p->scripted_tokens, sizeof(int32_t) * (size_t)p->num_scripted_tokens);
        r->num_scripted = p->num_scripted_tokens;
    }
    /* min_tokens suppresses exactly the tokens that would stop the sequence. */
    r->sampling.suppress_ids = r->stop_ids;
    r->sampling.num_suppress = r->num_stop_ids;
    if (p->prompt_logprobs) {
        size_t positions = (size_t)prompt_len - 1,
               tops = positions * (size_t)p->prompt_top_logprobs;
        r->want_plp = true;
        r->plp_top = p->prompt_top_logprobs;
        /* + 1: malloc(0) may give NULL, and a one-token prompt has no positions */
        r->plp_logprob = malloc(sizeof(float) * (positions + 1));
        r->plp_rank = malloc(sizeof(int32_t) * (positions + 1));
        r->plp_top_ids = malloc(sizeof(int32_t) * (tops + 1));
        r->plp_top_lps = malloc(sizeof(float) * (tops + 1));
        if (!r->plp_logprob || !r->plp_rank || !r->plp_top_ids || !r->plp_top_lps) goto oom_free;
    }
    if (constraint_attach(r, &p->constraint)) goto oom_free;
    pthread_cond_init(&r->cond, NULL);
    *out = r;
    return ENGINE_OK;
oom_free:
    if (r) {
        sampler_state_free(&r->sampler);
        free_request_arrays(r);
        free(r);
    }
oom:
    snprintf(err, errlen, "out of host memory");
    return ENGINE_INVALID;
}

/* The first n of rs, never queued: freed, their grammar references back with the caller. */
static void discard_requests(engine_request **rs, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        constraint_unattach(rs[i]);
        request_free(rs[i]);
    }
}

engine_status engine_submit_group(engine *e, int32_t count, const int32_t *const *prompts,
                                  const int32_t *prompt_lens, const engine_request_params *params,
                                  engine_request **out, char *err, size_t errlen)
{
    int64_t capacity = (int64_t)e->cfg.max_num_seqs + e->cfg.max_waiting;
    if (count <= 0) {
        snprintf(err, errlen, "a request needs at least one sequence (got %d)", count);
        return ENGINE_INVALID;
    }
    if (count > capacity) {
        snprintf(err, errlen,
                 "a request of %d sequences can never be queued: the server holds %lld "
                 "(--max-num-seqs %d running + --max-waiting %d waiting)",
                 count, (long long)capacity, e->cfg.max_num_seqs, e->cfg.max_waiting);
        return ENGINE_TOO_MANY;
    }
    engine_request **rs = calloc((size_t)count, sizeof *rs);
    if (!rs) {
        snprintf(err, errlen, "out of host memory");
        return ENGINE_INVALID;
    }
    for (int32_t i = 0; i < count; i++) {
        engine_status st =
            request_new(e, prompts[i], prompt_lens[i], &params[i], &rs[i], err, errlen);
        if (st != ENGINE_OK) {
            discard_requests(rs, i);
            free(rs);
            return st;
        }
    }
    pthread_mutex_lock(&e->lock);
    engine_status st = ENGINE_OK;
    /* Counted as the engine thread last published them, plus what it has not taken yet. */
    int64_t queued = (int64_t)e->inbox_count + e->stats.waiting + e->stats.running;
    if (e->stopping || e->failed) {
        snprintf(err, errlen, "the engine is %s",
                 e->failed ? "down after an error" : "shutting down");
        st = ENGINE_STOPPED;
    } else if (queued + count > capacity) {
        snprintf(err, errlen,
                 "the server is at capacity (%lld of %lld sequences running or waiting, %d more "
                 "asked for)",
                 (long long)queued, (long long)capacity, count);
        st = ENGINE_OVERLOADED;
    }
    bool want_plp = false;
    for (int32_t i = 0; i < count; i++)
        want_plp |= rs[i]->want_plp;
    if (st == ENGINE_OK && want_plp && !e->plp_logits) {
        /* Taken here, where a failure refuses one request, not in the step, where it would stop
         * the engine; the engine thread reads it only after taking such a request. */
        size_t rows = (size_t)e->cfg.max_num_seqs + (size_t)e->plp_rows;
        e->plp_logits = malloc(sizeof(float) * (size_t)e->vocab * rows);
        if (!e->plp_logits) {
            snprintf(err, errlen, "out of host memory for %zu rows of prompt logits", rows);
            st = ENGINE_INVALID;
        }
    }
    if (st != ENGINE_OK) {
        pthread_mutex_unlock(&e->lock);
        discard_requests(rs, count);
        free(rs);
        return st;
    }
    uint64_t group = e->next_group++;
    for (int32_t i = 0; i < count; i++) {
        engine_request *r = rs[i];
        r->arrival = e->next_arrival++;
        r->group = group;
        r->round = i;
        r->arrival_counted = true;
        e->live_requests++;
        if (e->inbox_tail)
            e->inbox_tail->next_inbox = r;
        else
            e->inbox_head = r;
        e->inbox_tail = r;
        e->inbox_count++;
        out[i] = r;
    }
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->lock);
    free(rs);
    return ENGINE_OK;
}

engine_status engine_submit(engine *e, const int32_t *prompt, int32_t prompt_len,
                            const engine_request_params *p, engine_request **out, char *err,
                            size_t errlen)
{
    *out = NULL;
    return engine_submit_group(e, 1, &prompt, &prompt_len, p, out, err, errlen);
}

int engine_next(engine_request *r, engine_event *ev, int timeout_ms)
{
    engine *e = r->e;
    struct timespec deadline;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&e->lock);
    while (r->num_events == 0 && !r->finished) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&r->cond, &e->lock);
        } else if (pthread_cond_timedwait(&r->cond, &e->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    int rc;
    if (r->num_events > 0) {
        *ev = r->events[r->first_event];
        r->first_event = (r->first_event + 1) % r->cap_events;
        r->num_events--;
        rc = 1;
    } else {
        rc = r->finished ? -1 : 0;
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

void engine_cancel(engine_request *r)
{
    engine *e = r->e;
    pthread_mutex_lock(&e->lock);
    if (!r->finished) {
        r->cancelled = true;
        atomic_store(&r->stop_asked, true);
        pthread_cond_signal(&e->work);
    }
    pthread_mutex_unlock(&e->lock);
}

void engine_release(engine_request *r)
{
    engine *e = r->e;
    pthread_mutex_lock(&e->lock);
    r->released = true;
    if (r->engine_done) {
        request_free(r);
    } else {
        r->cancelled = true;
        atomic_store(&r->stop_asked, true);
        pthread_cond_signal(&e->work);
    }
    pthread_mutex_unlock(&e->lock);
}

void engine_get_stats(engine *e, engine_stats *out)
{
    pthread_mutex_lock(&e->lock);
    *out = e->stats;
    pthread_mutex_unlock(&e->lock);
    out->mask_compute_ns_total = atomic_load(&e->mask_compute_ns);
}

void engine_reset_prefix_cache(engine *e)
{
    pthread_mutex_lock(&e->lock);
    uint64_t ticket = ++e->resets_asked;
    pthread_cond_signal(&e->work);
    while (e->resets_done < ticket && !e->stopping && !e->failed)
        pthread_cond_wait(&e->reset_cond, &e->lock);
    pthread_mutex_unlock(&e->lock);
}
