#include "kernels/cpu/cpu_sample.h"

#include <omp.h>
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

/* Per thread: keys and weights (u64), then the prepared and the masked row (f32). */
static size_t thread_scratch_bytes(int64_t V)
{
    return ((size_t)V * 24 + 63) / 64 * 64;
}

size_t cpu_sample_scratch_bytes(const bk_backend *be, int32_t V)
{
    return (size_t)((const cpu_state *)be->impl)->num_threads * thread_scratch_bytes(V);
}

/* The scratch is kept between calls (and charged to the budget once), grown for a larger V. */
static int ensure_scratch(bk_backend *be, int64_t V)
{
    cpu_state *st = cpu_st(be);
    size_t need = cpu_sample_scratch_bytes(be, (int32_t)V);
    if (need <= st->sample_scratch_bytes) return 0;
    cpu_uncharge(be, st->sample_scratch_bytes);
    free(st->sample_scratch);
    st->sample_scratch = NULL;
    st->sample_scratch_bytes = 0;
    if (cpu_charge(be, "sample (row scratch)", need)) return -1;
    st->sample_scratch = aligned_alloc(64, need);
    if (!st->sample_scratch) {
        cpu_uncharge(be, need);
        return cpu_fail(be, "cpu sample: out of memory for %zu bytes of row scratch", need);
    }
    st->sample_scratch_bytes = need;
    return 0;
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

    if (num_rows == 0) return 0;
    if (ensure_scratch(be, V)) return -1;
    char *scratch = cpu_st(be)->sample_scratch;
#pragma omp parallel num_threads(cpu_st(be)->num_threads)
    {
        /* A region may run with fewer threads than asked for, never more. */
        char *mine = scratch + (size_t)omp_get_thread_num() * thread_scratch_bytes(V);
        uint64_t *keys = (uint64_t *)mine;
        uint64_t *weights = keys + V;
        float *x = (float *)(weights + V);
        float *m = x + V;
#pragma omp for schedule(dynamic, 1)
        for (int32_t r = 0; r < num_rows; r++) {
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
    }
    return 0;
}
