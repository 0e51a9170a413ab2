/* The CUDA backend's sample op: one CTA per row, the CPU op's (and the host sampler's) tokens
 * exactly. No sort of the vocabulary: every cut is a radix search over the 64-bit candidate keys of
 * kernels/sampling_math_scalar.h (descending logit, index ascending on ties), 8 bits per pass, on
 * integer weights whose sums are exact in any order. top-k is the search for the k-th key by count;
 * top-p and the draw search for the first key whose cumulative weight exceeds a target. */
#include <math.h>

#include "kernels/cuda/cuda_common.cuh"

#define SM_FN static __device__ __forceinline__
#include "kernels/sampling_math_scalar.h"

#define SAMPLE_THREADS 512

typedef unsigned long long u64;

struct sample_row {
    const float *raw, *bias;
    const int32_t *counts;
    const uint32_t *mask; /* the row's packed mask when it is constrained, else null */
    bk_sample_params p;
    int64_t V;
};

/* The raw logit as the rest of the op sees it: -inf where a constrained row's mask disallows it. */
__device__ __forceinline__ float raw_logit(const sample_row &r, int64_t i)
{
    return sm_masked(r.raw[i], r.mask, i);
}

/* The logit after bias, suppression and penalties (not yet tempered): sm_prepare, as the CPU op. */
__device__ __forceinline__ float row_logit(const sample_row &r, int64_t i)
{
    const int32_t c = r.counts ? r.counts[i] : 0;
    return sm_prepare(raw_logit(r, i), r.bias ? r.bias[i] : 0.0f, c & (BK_SAMPLE_IN_PROMPT - 1),
                      (c & BK_SAMPLE_IN_PROMPT) != 0, r.p.repetition_penalty, r.p.presence_penalty,
                      r.p.frequency_penalty);
}

__device__ __forceinline__ u64 block_max_u64(u64 v, u64 *slot)
{
    for (int o = 16; o > 0; o >>= 1) {
        const u64 w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    if (threadIdx.x == 0) *slot = 0;
    __syncthreads();
    if ((threadIdx.x & 31) == 0) atomicMax(slot, v);
    __syncthreads();
    v = *slot;
    __syncthreads();
    return v;
}

/* Sum over the block for u64 (exact in any order); every thread gets the result. */
template <typename T> __device__ __forceinline__ T block_sum(T v, T *slot)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) *slot = 0;
    __syncthreads();
    if ((threadIdx.x & 31) == 0) atomicAdd(slot, v);
    __syncthreads();
    v = *slot;
    __syncthreads();
    return v;
}

/* A double sum in a fixed order (each warp's shuffle tree, then the warps in index order by thread
 * 0), so that a row's logprobs are bit-identical from run to run and between a graph and its eager
 * run: atomicAdd on a double adds the warps in whatever order they arrive (review 2026-12-07,
 * finding 7). red holds one double per warp. */
__device__ __forceinline__ double block_sum_fixed(double v, double *red)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        for (unsigned w = 0; w < (blockDim.x + 31) / 32; w++)
            t += red[w];
        red[0] = t;
    }
    __syncthreads();
    v = red[0];
    __syncthreads();
    return v;
}

/* A candidate's weight under the cuts so far (sm_cand_weight), and its key. */
__device__ __forceinline__ u64 cand_weight(const sample_row &r, const sm_cut &c, int64_t i,
                                           u64 *key)
{
    const float x = sm_temper(row_logit(r, i), c.temperature);
    *key = sm_key(x, (int32_t)i);
    return sm_cand_weight(&c, x, *key);
}

/* Whether sm_cand_weight reaches the FP64 exponential for this candidate (sm_weight's tests). */
__device__ __forceinline__ int weight_uses_fp64(const sm_cut &c, float x, u64 key)
{
    if (key < c.floor || c.by_count || x == c.xmax || c.xmax != c.xmax) return 0;
    return __dadd_rn((double)x, -(double)c.xmax) > -28.0;
}

/* sm_search with the histogram of each level built by the whole CTA and the digit picked by thread
 * 0 (the CPU op runs the same levels sequentially: sm_choose_radix). Returns the key found and its
 * cumulative weight. */
__device__ sm_search radix_search(const sample_row &r, const sm_cut &c, u64 target, u64 *hist,
                                  sm_search *shared_s, u64 *fp64)
{
    sm_search s = {0, 0, 0};
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int d = threadIdx.x; d < 256; d += blockDim.x)
            hist[d] = 0;
        __syncthreads();
        for (int64_t i = threadIdx.x; i < r.V; i += blockDim.x) {
            /* The prefix test first: the FP64 weight only for keys still in the search (level 0:
             * every candidate; below: the chosen bin). The same weights, so the same token. */
            const float x = sm_temper(row_logit(r, i), c.temperature);
            const u64 key = sm_key(x, (int32_t)i);
            if (!sm_search_match(&s, key, shift)) continue;
            if (fp64) *fp64 += (u64)weight_uses_fp64(c, x, key);
            const u64 w = sm_cand_weight(&c, x, key);
            if (w) atomicAdd(&hist[(key >> shift) & 255], w);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            sm_search_pick(&s, hist, shift, target);
            *shared_s = s;
        }
        __syncthreads();
        s = *shared_s;
        __syncthreads();
    }
    return s;
}

__global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_kernel(int32_t *out, float *logprobs, int32_t *top_ids, const float *logits,
                  const bk_sample_params *params, const float *bias, const int32_t *counts,
                  const uint32_t *mask, int64_t V, unsigned long long *fp64_evals)
{
    u64 fp64_local = 0;
    u64 *fp64 = fp64_evals ? &fp64_local : nullptr;
    __shared__ u64 hist[256];
    __shared__ sm_search shared_s;
    __shared__ u64 slot;
    __shared__ double dred[SAMPLE_THREADS / 32];
    const int64_t row = blockIdx.x;
    sample_row r;
    r.raw = logits + row * V;
    r.bias = bias ? bias + row * V : nullptr;
    r.counts = counts ? counts + row * V : nullptr;
    r.p = params[row];
    r.V = V;
    r.mask = mask && r.p.masked ? mask + row * BK_SAMPLE_MASK_WORDS(V) : nullptr;

    int32_t tok;
    if (r.p.temperature <= 0.0f) {
        /* The host's first maximum: NaN never wins, except a NaN at index 0, which nothing beats.
         */
        u64 best = 0;
        for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
            const u64 k = sm_key(row_logit(r, i), (int32_t)i);
            best = k > best ? k : best;
        }
        best = block_max_u64(best, &slot);
        const float x0 = row_logit(r, 0);
        tok = x0 != x0 ? 0 : sm_key_index(best);
    } else {
        sm_cut c;
        c.temperature = r.p.temperature;
        c.min_p = r.p.min_p;
        c.floor = 0;
        c.by_count = 0;
        u64 kmax = 0;
        for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
            const u64 k = sm_key(sm_temper(row_logit(r, i), c.temperature), (int32_t)i);
            kmax = k > kmax ? k : kmax;
        }
        c.kmax = block_max_u64(kmax, &slot);
        c.xmax = sm_temper(row_logit(r, sm_key_index(c.kmax)), c.temperature);
        if (r.p.top_k > 0 && r.p.top_k < V) {
            c.by_count = 1;
            c.floor = radix_search(r, c, (u64)r.p.top_k - 1, hist, &shared_s, fp64).prefix;
            c.by_count = 0;
        }
        u64 total = 0;
        for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
            u64 key;
            total += cand_weight(r, c, i, &key);
            if (fp64)
                fp64_local +=
                    (u64)weight_uses_fp64(c, sm_temper(row_logit(r, i), c.temperature), key);
        }
        total = block_sum(total, &slot);
        if (r.p.top_p < 1.0f) {
            const sm_search cut =
                radix_search(r, c, sm_top_p_limit(r.p.top_p, total) - 1, hist, &shared_s, fp64);
            c.floor = cut.prefix;
            total = cut.above + cut.last;
        }
        const u64 target = sm_draw_target(sm_uniform(r.p.seed, r.p.step), total);
        tok = sm_key_index(radix_search(r, c, target, hist, &shared_s, fp64).prefix);
    }
    if (threadIdx.x == 0) out[row] = tok;
    if (fp64_evals) {
        /* Every thread reaches this (the branches above are uniform per row). */
        const u64 n = block_sum(fp64_local, &slot);
        if (threadIdx.x == 0) atomicAdd(fp64_evals, (unsigned long long)n);
    }

    if (!logprobs || r.p.num_logprobs < 0) return;
    /* Raw (masked) log-softmax: fp64 sums (another order than the host's: equal to ~1e-12). */
    u64 kraw = 0;
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
        const u64 k = sm_key(raw_logit(r, i), (int32_t)i);
        kraw = k > kraw ? k : kraw;
    }
    kraw = block_max_u64(kraw, &slot);
    const double max = raw_logit(r, sm_key_index(kraw));
    double sum = 0;
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x)
        sum += exp((double)raw_logit(r, i) - max);
    const double lse = max + log(block_sum_fixed(sum, dred));
    float *lp = logprobs + row * (1 + BK_SAMPLE_MAX_TOP);
    int32_t *ti = top_ids + row * BK_SAMPLE_MAX_TOP;
    if (threadIdx.x == 0) lp[0] = (float)((double)raw_logit(r, tok) - lse);
    const int n = r.p.num_logprobs > BK_SAMPLE_MAX_TOP ? BK_SAMPLE_MAX_TOP : r.p.num_logprobs;
    u64 prev = ~0ull;
    for (int k = 0; k < n && k < V; k++) {
        u64 best = 0;
        for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
            const u64 key = sm_key(raw_logit(r, i), (int32_t)i);
            if (key < prev && key > best) best = key;
        }
        best = block_max_u64(best, &slot);
        if (threadIdx.x == 0) {
            const int32_t id = sm_key_index(best);
            ti[k] = id;
            lp[1 + k] = (float)((double)raw_logit(r, id) - lse);
        }
        prev = best;
    }
}

extern "C" int cu_sample(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
                         const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
                         const bk_tensor *counts, const bk_tensor *mask, int32_t num_rows)
{
    cu_state *st = cu_st(be);
    const char *op = "sample";
    if (num_rows < 0) return cu_fail(st, "sample: num_rows is %d, expected >= 0", num_rows);
    if (cu_check(st, op, "logits", logits, BK_F32, num_rows, -1) ||
        cu_check(st, op, "params", params, BK_I32, num_rows, BK_SAMPLE_PARAM_WORDS) ||
        cu_check_vec(st, op, "out", out, BK_I32, num_rows))
        return -1;
    const int64_t V = logits->cols;
    if (V < 1 || V > BK_SAMPLE_MAX_VOCAB)
        return cu_fail(st, "sample: logits has %lld columns, expected 1..%d", (long long)V,
                       BK_SAMPLE_MAX_VOCAB);
    if (bias && cu_check(st, op, "bias", bias, BK_F32, num_rows, V)) return -1;
    if (counts && cu_check(st, op, "counts", counts, BK_I32, num_rows, V)) return -1;
    if (mask && cu_check(st, op, "mask", mask, BK_I32, num_rows, BK_SAMPLE_MASK_WORDS(V)))
        return -1;
    if (!logprobs != !top_ids)
        return cu_fail(st, "sample: logprobs and top_ids must both be given or both be NULL");
    if (logprobs &&
        (cu_check(st, op, "logprobs", logprobs, BK_F32, num_rows, 1 + BK_SAMPLE_MAX_TOP) ||
         cu_check(st, op, "top_ids", top_ids, BK_I32, num_rows, BK_SAMPLE_MAX_TOP)))
        return -1;
    if (((uintptr_t)params->data & 7) != 0)
        return cu_fail(st,
                       "sample: params data is not 8-byte aligned (bk_sample_params holds u64)");
    if (num_rows == 0) return 0;
    CU_LAUNCH(num_rows, SAMPLE_THREADS, 0, st->stream, sample_kernel)
    ((int32_t *)out->data, logprobs ? (float *)logprobs->data : nullptr,
     top_ids ? (int32_t *)top_ids->data : nullptr, (const float *)logits->data,
     (const bk_sample_params *)params->data, bias ? (const float *)bias->data : nullptr,
     counts ? (const int32_t *)counts->data : nullptr,
     mask ? (const uint32_t *)mask->data : nullptr, V, st->count_fp64 ? st->fp64_evals : nullptr);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}

extern "C" int bk_cuda_sample_fp64(bk_backend *be, int on, unsigned long long *evals)
{
    cu_state *st = cu_st(be);
    if (st->capturing) return cu_fail(st, "sample_fp64: refused while recording a graph");
    unsigned long long n = 0;
    CUDA_CHECK(st,
               cudaMemcpyAsync(&n, st->fp64_evals, sizeof n, cudaMemcpyDeviceToHost, st->stream));
    CUDA_CHECK(st, cudaStreamSynchronize(st->stream));
    CUDA_CHECK(st, cudaMemsetAsync(st->fp64_evals, 0, sizeof n, st->stream));
    st->count_fp64 = on;
    if (evals) *evals = n;
    return 0;
}
