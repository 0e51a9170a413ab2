/* Turns one row of logits into the next token for one request: logit bias, penalties, min_tokens,
 * temperature, top-k, top-p, min-p, and a seeded counter-based random stream (Philox) so a request's
 * output depends on its seed and step only, never on what else is in the batch. Also computes the
 * logprobs a request asked for. Host-side; must not touch the backend or the scheduler. */
#ifndef BERTH_ENGINE_SAMPLER_H
#define BERTH_ENGINE_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAMPLER_MAX_LOGPROBS 20

typedef struct sampling_params {
    float temperature;        /* 0 = greedy */
    float top_p;              /* 1 = off */
    int32_t top_k;            /* 0 or -1 = off */
    float min_p;              /* 0 = off */
    float presence_penalty;   /* OpenAI semantics, on generated tokens */
    float frequency_penalty;  /* OpenAI semantics, on generated tokens */
    float repetition_penalty; /* HF/vLLM semantics, on prompt and generated tokens; 1 = off */
    uint64_t seed;
    int32_t logprobs;         /* -1 = none; else the number of top alternatives (0..20) */
    const int32_t *bias_ids;  /* logit_bias */
    const float *bias_values;
    int32_t num_bias;
    const int32_t *suppress_ids; /* tokens masked while min_tokens is not reached (eos, stop ids) */
    int32_t num_suppress;
    bool suppress;
    /* A constraint's packed token mask for this step (bit set = allowed; kernels/backend.h's
     * layout), or NULL: disallowed tokens are -inf before everything else, logprobs included. */
    const uint32_t *mask;
} sampling_params;

typedef struct sampled_token {
    int32_t token;
    float logprob; /* log-softmax of the raw logits (after a constraint's mask only), as vLLM */
    int32_t num_top;
    int32_t top_ids[SAMPLER_MAX_LOGPROBS];
    float top_logprobs[SAMPLER_MAX_LOGPROBS];
} sampled_token;

/* Per-request state: token counts for the penalties. */
typedef struct sampler_state {
    int32_t vocab;
    int32_t *output_counts; /* generated tokens */
    uint8_t *in_prompt;     /* tokens present in the prompt (repetition penalty) */
} sampler_state;

int sampler_state_init(sampler_state *s, int32_t vocab, const int32_t *prompt, int32_t prompt_len);
void sampler_state_free(sampler_state *s);
void sampler_state_record(sampler_state *s, int32_t token);

/* Samples from logits[vocab] (modified in place as scratch). step = number of tokens the request has
 * generated so far: with the seed it selects the random numbers. scratch: vocab floats + vocab ints. */
void sampler_sample(const sampling_params *p, const sampler_state *s, float *logits, uint64_t step,
                    float *scratch_f, int32_t *scratch_i, sampled_token *out);

/* The uniform number in [0, 1) that (seed, step) selects: Philox4x32-10. Exposed for tests. */
double sampler_uniform(uint64_t seed, uint64_t step);

#endif
