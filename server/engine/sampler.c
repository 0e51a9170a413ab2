#include "server/engine/sampler.h"

#include "kernels/sampling_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(SAMPLER_MAX_LOGPROBS == SM_MAX_TOP, "sampled_token holds sm_raw_logprobs' top entries");

double sampler_uniform(uint64_t seed, uint64_t step)
{
    return sm_uniform(seed, step);
}

/* ---- state ---- */

int sampler_state_init(sampler_state *s, int32_t vocab, const int32_t *prompt, int32_t prompt_len)
{
    s->vocab = vocab;
    s->output_counts = calloc((size_t)vocab, sizeof(int32_t));
    s->in_prompt = calloc((size_t)vocab, 1);
    if (!s->output_counts || !s->in_prompt) {
        sampler_state_free(s);
        return -1;
    }
    for (int32_t i = 0; i < prompt_len; i++)
        if (prompt[i] >= 0 && prompt[i] < vocab) s->in_prompt[prompt[i]] = 1;
    return 0;
}

void sampler_state_free(sampler_state *s)
{
    free(s->output_counts);
    free(s->in_prompt);
    s->output_counts = NULL;
    s->in_prompt = NULL;
}

void sampler_state_record(sampler_state *s, int32_t token)
{
    if (token >= 0 && token < s->vocab) s->output_counts[token]++;
}

/* ---- sampling: the math is kernels/sampling_math, shared with the backends' sample op ---- */

void sampler_sample(const sampling_params *p, const sampler_state *s, float *logits, uint64_t step,
                    float *scratch_f, int32_t *scratch_i, sampled_token *out)
{
    int32_t V = s->vocab;
    bool want_logprobs = p->logprobs >= 0;
    if (p->mask)
        for (int32_t i = 0; i < V; i++)
            logits[i] = sm_masked(logits[i], p->mask, i);
    if (want_logprobs) memcpy(scratch_f, logits, sizeof(float) * (size_t)V);

    for (int32_t i = 0; i < p->num_bias; i++)
        if (p->bias_ids[i] >= 0 && p->bias_ids[i] < V) logits[p->bias_ids[i]] += p->bias_values[i];
    if (p->repetition_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0) {
        for (int32_t i = 0; i < V; i++)
            if (s->output_counts[i] || s->in_prompt[i])
                logits[i] = sm_penalize(logits[i], s->output_counts[i], s->in_prompt[i],
                                        p->repetition_penalty, p->presence_penalty,
                                        p->frequency_penalty);
    }
    if (p->suppress)
        for (int32_t i = 0; i < p->num_suppress; i++)
            if (p->suppress_ids[i] >= 0 && p->suppress_ids[i] < V) logits[p->suppress_ids[i]] = -INFINITY;

    out->token = sm_choose(logits, V, p->temperature, p->top_k, p->top_p, p->min_p,
                           p->temperature > 0.0f ? sm_uniform(p->seed, step) : 0.0, scratch_i);
    out->num_top = 0;
    out->logprob = 0;
    if (want_logprobs) {
        out->num_top = sm_raw_logprobs(scratch_f, V, out->token, p->logprobs, &out->logprob,
                                       out->top_ids, out->top_logprobs);
    }
}
