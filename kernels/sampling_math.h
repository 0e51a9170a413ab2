/* The math of sampling one token from one row of logits, shared by the engine's host sampler
 * (server/engine/sampler.c) and the backends' `sample` op, so neither can drift from the other: the
 * Philox draw, penalties, the candidate order, top-k / min-p / top-p, and raw logprobs.
 * Must not: allocate, know about requests, or touch backend tensors. The scalar pieces live in
 * kernels/sampling_math_scalar.h, which the CUDA kernel includes too. */
#ifndef BERTH_KERNELS_SAMPLING_MATH_H
#define BERTH_KERNELS_SAMPLING_MATH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SM_MAX_TOP 20

/* Philox4x32-10: the uniform in [0, 1) that (seed, step) selects. */
double sm_uniform(uint64_t seed, uint64_t step);

/* One logit after the repetition / presence / frequency penalties (identity for a token that is
 * neither generated (count 0) nor in the prompt). */
float sm_penalize(float l, int32_t count, int in_prompt, float repetition, float presence,
                  float frequency);

/* A constrained row's raw logit: -inf where the packed mask (bit i of word i / 32 set = allowed)
 * disallows token i, whatever the logit was; the logit itself otherwise or when mask is NULL. */
float sm_masked(float raw, const uint32_t *mask, int64_t i);

/* The sample op's logit: raw + bias (-inf: suppressed, -inf whatever raw is), then the penalties.
 */
float sm_prepare(float raw, float bias, int32_t count, int in_prompt, float repetition,
                 float presence, float frequency);

/* Picks the token from logits x[V] that already carry bias, penalties and suppression.
 * temperature <= 0: the first maximum (a NaN at index 0 stays). Otherwise x is overwritten (it is
 * scratch) and the tempered candidates in descending order (index ascending on ties) are cut to the
 * first top_k (when 0 < top_k < V), then to those with probability >= min_p times the top one's
 * (when min_p > 0), then to the shortest prefix holding top_p of the rest's mass (when top_p < 1),
 * and u in [0, 1) picks the first candidate whose cumulative weight exceeds u times their total.
 * Weights are the integers of kernels/sampling_math_scalar.h. order: V ints of scratch. */
int32_t sm_choose(float *x, int32_t V, float temperature, int32_t top_k, float top_p, float min_p,
                  double u, int32_t *order);

/* sm_choose's token by radix searches over the candidate keys instead of a sort (what the CUDA
 * kernel does, sequentially): O(V) per cut. keys, weights: V entries of scratch each. */
int32_t sm_choose_radix(float *x, int32_t V, float temperature, int32_t top_k, float top_p,
                        float min_p, double u, uint64_t *keys, uint64_t *weights);

/* Log-softmax of raw[V] at token, and the num_top largest entries, index ascending on ties.
 * Returns how many it wrote: num_top capped at SM_MAX_TOP and at V. */
int32_t sm_raw_logprobs(const float *raw, int32_t V, int32_t token, int32_t num_top, float *logprob,
                        int32_t *top_ids, float *top_logprobs);

#ifdef __cplusplus
}
#endif

#endif
