/* Prompt logprobs: what the logits at each prompt position say of the next prompt token (echo with
 * logprobs, vLLM's prompt_logprobs). The scheduler puts a bounded number of prompt positions' rows
 * after a step's sampling rows; after the forward this file downloads the step's logits once and
 * keeps, per position, only the logprob, rank and top entries the answer needs. Must not schedule
 * nor sample. */
#include "server/engine/engine_internal.h"

#include "kernels/sampling_math.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enough rows that a prefill advances about as fast as the step's other work allows on small
 * models, few enough that their logits (rows x vocab floats) stay a small part of the workspace. */
#define ENGINE_PROMPT_LOGIT_ROWS 64

int32_t engine_prompt_logit_rows(const engine_config *cfg)
{
    int32_t room = cfg->max_batched_tokens - cfg->max_num_seqs;
    return room < ENGINE_PROMPT_LOGIT_ROWS ? (room > 0 ? room : 0) : ENGINE_PROMPT_LOGIT_ROWS;
}

/* One position: raw[V] are the logits at position p, token the prompt's token at p + 1. */
static void position_logprobs(engine_request *r, int32_t p, const float *raw, int32_t V)
{
    int32_t token = r->tokens[p + 1];
    float top_lps[SM_MAX_TOP];
    int32_t top_ids[SM_MAX_TOP];
    int32_t n = sm_raw_logprobs(raw, V, token, r->plp_top, &r->plp_logprob[p], top_ids, top_lps);
    /* vLLM's rank: 1 + the tokens strictly more likely. */
    int32_t above = 0;
    for (int32_t i = 0; i < V; i++)
        above += raw[i] > raw[token];
    r->plp_rank[p] = 1 + above;
    size_t at = (size_t)p * (size_t)r->plp_top;
    memcpy(r->plp_top_ids + at, top_ids, sizeof(int32_t) * (size_t)n);
    memcpy(r->plp_top_lps + at, top_lps, sizeof(float) * (size_t)n);
    for (int32_t k = n; k < r->plp_top; k++) { /* a vocabulary smaller than the count asked */
        r->plp_top_ids[at + (size_t)k] = -1;
        r->plp_top_lps[at + (size_t)k] = 0;
    }
}

int engine_prompt_logprobs_step(engine *e, engine_request **sched, int32_t n,
                                const bk_tensor *logits, char *err, size_t errlen)
{
    int32_t end = 0;
    for (int32_t i = 0; i < n; i++)
        if (sched[i]->plp_count > 0 && sched[i]->plp_row + sched[i]->plp_count > end)
            end = sched[i]->plp_row + sched[i]->plp_count;
    if (end == 0) return 0;
    size_t V = (size_t)e->vocab;
    if (!e->plp_logits) { /* engine_submit_group takes it before such a request is queued */
        snprintf(err, errlen, "prompt logits rows scheduled without their host buffer");
        return -1;
    }
    /* From row 0: the sampling rows come first, and the backend downloads leading rows only. */
    if (e->be->ops->download_rows(e->be, logits, end, e->plp_logits)) {
        snprintf(err, errlen, "prompt logits download: %s", e->be->ops->last_error(e->be));
        return -1;
    }
    /* Which request and position each prompt row is: rows are independent, so they are spread
     * over the cores (each is a few passes over the vocabulary; on the CPU backend the forward is
     * done by now, on a GPU the host would otherwise idle). */
    engine_request *owner[ENGINE_PROMPT_LOGIT_ROWS];
    int32_t position[ENGINE_PROMPT_LOGIT_ROWS], row[ENGINE_PROMPT_LOGIT_ROWS], rows = 0;
    for (int32_t i = 0; i < n; i++) {
        engine_request *r = sched[i];
        for (int32_t k = 0; k < r->plp_count && rows < ENGINE_PROMPT_LOGIT_ROWS; k++) {
            owner[rows] = r;
            position[rows] = r->plp_from + k;
            row[rows++] = r->plp_row + k;
        }
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int32_t k = 0; k < rows; k++)
        position_logprobs(owner[k], position[k], e->plp_logits + (size_t)row[k] * V, e->vocab);
    for (int32_t i = 0; i < n; i++)
        if (sched[i]->plp_count > 0) sched[i]->plp_next = sched[i]->plp_from + sched[i]->plp_count;
    return 0;
}

int engine_prompt_logprob(const engine_request *r, int32_t i, sampled_token *out, int32_t *rank)
{
    if (!r->want_plp || i < 1 || i >= r->prompt_len || i > r->plp_next) return -1;
    int32_t p = i - 1;
    out->token = r->tokens[i];
    out->logprob = r->plp_logprob[p];
    out->num_top = 0;
    for (int32_t k = 0; k < r->plp_top; k++) {
        size_t at = (size_t)p * (size_t)r->plp_top + (size_t)k;
        if (r->plp_top_ids[at] < 0) break;
        out->top_ids[k] = r->plp_top_ids[at];
        out->top_logprobs[k] = r->plp_top_lps[at];
        out->num_top++;
    }
    *rank = r->plp_rank[p];
    return 0;
}
