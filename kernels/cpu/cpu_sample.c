#include "kernels/cpu/cpu_sample.h"

#include <stdlib.h>

#include "kernels/cpu/cpu_common.h"
#include "kernels/sampling_math.h"

_Static_assert(sizeof(bk_sample_params) == 4 * BK_SAMPLE_PARAM_WORDS,
               "bk_sample_params must fill BK_SAMPLE_PARAM_WORDS i32 words");
_Static_assert(BK_SAMPLE_MAX_TOP == SM_MAX_TOP, "one top-logprobs limit");

/* A constrained row's raw logits with the disallowed ones -inf (sm_masked): what the rest of the
 * op, logprobs included, then sees as the row's logits. */
static void mask_row(float *m, const float *raw, const uint32_t *mask, int64_t V)
{
    for (int64_t i = 0; i < V; i++)
        m[i] = sm_masked(raw[i], mask, i);
}

/* Bias, suppression and penalties go into x, by sm_prepare (compiled without FMA contraction in
 * berth_backend, like the rest of the shared math). */
static void prepare_row(float *x, const float *raw, const float *bias, const int32_t *counts,
                        const bk_sample_params *p, int64_t V)
{
    for (int64_t i = 0; i < V; i++) {
        int32_t c = counts ? counts[i] : 0;
        x[i] = sm_prepare(raw[i], bias ? bias[i] : 0.0f, c & (BK_SAMPLE_IN_PROMPT - 1),
                          (c & BK_SAMPLE_IN_PROMPT) != 0, p->repetition_penalty,
                          p->presence_penalty, p->frequency_penalty);
    }
}

int cpu_sample(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
               const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
               const bk_tensor *counts, const bk_tensor *mask, int32_t num_rows)
{
    const char *op = "sample";
    if (num_rows < 0) return cpu_fail(be, "cpu sample: num_rows is %d, expected >= 0", num_rows);
    if (cpu_check(be, op, "logits", logits, BK_F32, num_rows, -1) ||
        cpu_check(be, op, "params", params, BK_I32, num_rows, BK_SAMPLE_PARAM_WORDS) ||
        cpu_check_vec(be, op, "out", out, BK_I32, num_rows))
        return -1;
    const int64_t V = logits->cols;
    if (V < 1 || V > BK_SAMPLE_MAX_VOCAB)
        return cpu_fail(be, "cpu sample: logits has %lld columns, expected 1..%d", (long long)V,
                        BK_SAMPLE_MAX_VOCAB);
    if (bias && cpu_check(be, op, "bias", bias, BK_F32, num_rows, V)) return -1;
    if (counts && cpu_check(be, op, "counts", counts, BK_I32, num_rows, V)) return -1;
    const int64_t W = BK_SAMPLE_MASK_WORDS(V);
    if (mask && cpu_check(be, op, "mask", mask, BK_I32, num_rows, W)) return -1;
    if (!logprobs != !top_ids)
        return cpu_fail(be, "cpu sample: logprobs and top_ids must both be given or both be NULL");
    if (logprobs &&
        (cpu_check(be, op, "logprobs", logprobs, BK_F32, num_rows, 1 + BK_SAMPLE_MAX_TOP) ||
         cpu_check(be, op, "top_ids", top_ids, BK_I32, num_rows, BK_SAMPLE_MAX_TOP)))
        return -1;

    int failed = 0;
#pragma omp parallel num_threads(cpu_st(be)->num_threads) reduction(| : failed)
    {
        float *x = malloc(sizeof(float) * (size_t)V);
        uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)V);
        uint64_t *weights = malloc(sizeof(uint64_t) * (size_t)V);
        float *m = mask ? malloc(sizeof(float) * (size_t)V) : NULL;
        failed = !x || !keys || !weights || (mask && !m);
#pragma omp for schedule(dynamic, 1)
        for (int32_t r = 0; r < num_rows; r++) {
            if (failed) continue;
            const bk_sample_params *p = (const bk_sample_params *)params->data + r;
            const float *raw = (const float *)logits->data + r * V;
            if (mask && p->masked) {
                mask_row(m, raw, (const uint32_t *)mask->data + r * W, V);
                raw = m;
            }
            prepare_row(x, raw, bias ? (const float *)bias->data + r * V : NULL,
                        counts ? (const int32_t *)counts->data + r * V : NULL, p, V);
            double u = p->temperature > 0.0f ? sm_uniform(p->seed, p->step) : 0.0;
            int32_t tok = sm_choose_radix(x, (int32_t)V, p->temperature, p->top_k, p->top_p,
                                          p->min_p, u, keys, weights);
            ((int32_t *)out->data)[r] = tok;
            if (logprobs && p->num_logprobs >= 0) {
                float *lp = (float *)logprobs->data + r * (1 + BK_SAMPLE_MAX_TOP);
                int32_t n =
                    p->num_logprobs > BK_SAMPLE_MAX_TOP ? BK_SAMPLE_MAX_TOP : p->num_logprobs;
                sm_raw_logprobs(raw, (int32_t)V, tok, n, lp,
                                (int32_t *)top_ids->data + r * BK_SAMPLE_MAX_TOP, lp + 1);
            }
        }
        free(x);
        free(keys);
        free(weights);
        free(m);
    }
    if (failed)
        return cpu_fail(be, "cpu sample: out of memory for %lld-entry row scratch", (long long)V);
    return 0;
}
