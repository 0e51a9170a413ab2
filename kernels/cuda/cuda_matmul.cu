/* matmul: out[T][N] = x[T][K] · W[N][K]ᵀ (+ bias). Small batches (T <= CU_GEMV_MAX_T, decode) run our
 * GEMV, which is bound by streaming W once; larger batches convert x to W's 16-bit type in the fixed
 * scratch and call cuBLASLt (16-bit inputs, fp32 compute and output). */
#include <stdint.h>

#include "kernels/cuda/cuda_common.cuh"

#define CU_GEMV_MAX_T 8
#define GEMV_WARPS 8

/* ---- GEMV: one warp per output row, 16-byte weight loads, every token column reuses each load ---- */

template <typename W, int NT, bool VEC>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_kernel(float *out, const float *x, const W *w, const float *bias, int64_t N, int64_t K)
{
    const int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (n >= N) return;
    const W *wr = w + n * K;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    if (VEC) {
        constexpr int E = 16 / sizeof(W);
#pragma unroll 4
        for (int64_t k = (int64_t)lane * E; k < K; k += 32 * E) {
            /* Weights are read once per call: evict-first keeps x resident in L1 for the other rows. */
            const uint4 raw = __ldcs(reinterpret_cast<const uint4 *>(wr + k));
            const cu_vec<W, E> wv = *reinterpret_cast<const cu_vec<W, E> *>(&raw);
            float wf[E];
#pragma unroll
            for (int e = 0; e < E; e++) wf[e] = cu_to_f32(wv.v[e]);
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const float4 *xp = reinterpret_cast<const float4 *>(x + t * K + k);
#pragma unroll
                for (int q = 0; q < E / 4; q++) {
                    const float4 xv = __ldg(xp + q);
                    acc[t] += xv.x * wf[4 * q] + xv.y * wf[4 * q + 1] + xv.z * wf[4 * q + 2] +
                              xv.w * wf[4 * q + 3];
                }
            }
        }
    } else {
        for (int64_t k = lane; k < K; k += 32) {
            const float wf = cu_to_f32(wr[k]);
#pragma unroll
            for (int t = 0; t < NT; t++) acc[t] += x[t * K + k] * wf;
        }
    }
    const float b = bias ? bias[n] : 0.0f;
#pragma unroll
    for (int t = 0; t < NT; t++) {
        const float s = cu_warp_sum(acc[t]);
        if (lane == 0) out[t * N + n] = s + b;
    }
}

template <typename W, bool VEC>
static void gemv_launch_t(cudaStream_t s, int nt, float *out, const float *x, const W *w,
                          const float *bias, int64_t N, int64_t K)
{
    const unsigned int blocks = (unsigned int)((N + GEMV_WARPS - 1) / GEMV_WARPS);
    const unsigned int th = GEMV_WARPS * 32;
    switch (nt) {
    case 1: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 1, VEC>)(out, x, w, bias, N, K); break;
    case 2: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 2, VEC>)(out, x, w, bias, N, K); break;
    case 3: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 3, VEC>)(out, x, w, bias, N, K); break;
    case 4: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 4, VEC>)(out, x, w, bias, N, K); break;
    case 5: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 5, VEC>)(out, x, w, bias, N, K); break;
    case 6: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 6, VEC>)(out, x, w, bias, N, K); break;
    case 7: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 7, VEC>)(out, x, w, bias, N, K); break;
    default: CU_LAUNCH(blocks, th, 0, s, gemv_kernel<W, 8, VEC>)(out, x, w, bias, N, K); break;
    }
}

template <typename W>
static void gemv_launch_w(cudaStream_t s, int nt, float *out, const float *x, const void *w,
                          const float *bias, int64_t N, int64_t K)
{
    constexpr int E = 16 / sizeof(W);
    /* 16-byte loads need every W row and x row on a 16-byte boundary. */
    const bool vec = K % E == 0 && K % 4 == 0 && (uintptr_t)w % 16 == 0 && (uintptr_t)x % 16 == 0;
    if (vec)
        gemv_launch_t<W, true>(s, nt, out, x, (const W *)w, bias, N, K);
    else
        gemv_launch_t<W, false>(s, nt, out, x, (const W *)w, bias, N, K);
}

/* Rows [0, T) in tiles of CU_GEMV_MAX_T tokens; each tile reads W once. */
static int gemv(cu_state *st, float *out, const float *x, const bk_tensor *w, const float *bias,
                int64_t T, int64_t N, int64_t K)
{
    for (int64_t t0 = 0; t0 < T; t0 += CU_GEMV_MAX_T) {
        const int nt = (int)(T - t0 < CU_GEMV_MAX_T ? T - t0 : CU_GEMV_MAX_T);
        float *o = out + t0 * N;
        const float *xt = x + t0 * K;
        switch (w->dtype) {
        case BK_BF16: gemv_launch_w<__nv_bfloat16>(st->stream, nt, o, xt, w->data, bias, N, K); break;
        case BK_F16: gemv_launch_w<__half>(st->stream, nt, o, xt, w->data, bias, N, K); break;
        default: gemv_launch_w<float>(st->stream, nt, o, xt, w->data, bias, N, K); break;
        }
        CUDA_CHECK_LAUNCH(st);
    }
    return 0;
}

/* ---- cuBLASLt path ---------------------------------------------------------------------------- */

template <typename D>
__global__ void to_16bit_kernel(D *dst, const float *src, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = cu_from_f32<D>(src[i]);
}

__global__ void add_bias_kernel(float *out, const float *bias, int64_t T, int64_t N)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < T * N;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] += bias[i % N];
}

static void plan_destroy(cu_lt_plan *p)
{
    if (!p->used) return;
    cublasLtMatrixLayoutDestroy(p->c);
    cublasLtMatrixLayoutDestroy(p->b);
    cublasLtMatrixLayoutDestroy(p->a);
    cublasLtMatmulDescDestroy(p->desc);
    p->used = 0;
}

extern "C" unsigned long long bk_cuda_lt_heuristics(const bk_backend *be)
{
    return (unsigned long long)((const cu_state *)be)->plan_heuristics;
}

extern "C" unsigned long long bk_cuda_lt_fallbacks(const bk_backend *be)
{
    return (unsigned long long)((const cu_state *)be)->lt_fallbacks;
}

extern "C" void cu_matmul_release(cu_state *st)
{
    for (int i = 0; i < CU_LT_PLANS; i++) plan_destroy(&st->plans[i]);
}

/* Row-major out[n][m] = x[n][k] · W[m][k]ᵀ is column-major C(m×n) = op(A)·B with A = W seen as a k×m
 * column-major matrix (transposed by the flag, never copied) and B = x as k×n.
 * Returns the plan, or NULL with *unsupported set when cuBLASLt has no algorithm for the shape. */
static uint32_t ptr_align(const void *a, const void *b, const void *c)
{
    uintptr_t bits = (uintptr_t)a | (uintptr_t)b | (uintptr_t)c | 256;
    return (uint32_t)(bits & (~bits + 1)); /* the lowest set bit */
}

static cu_lt_plan *plan_get(cu_state *st, int64_t m, int64_t n, int64_t k, cudaDataType_t ab,
                            uint32_t align, int *unsupported)
{
    *unsupported = 0;
    cu_lt_plan *lru = &st->plans[0];
    for (int i = 0; i < CU_LT_PLANS; i++) {
        cu_lt_plan *p = &st->plans[i];
        if (p->used && p->m == m && p->n == n && p->k == k && p->ab_type == ab &&
            p->align == align) {
            p->last_use = ++st->plan_clock;
            if (p->no_algo) { /* remembered: the GEMV fallback, no second heuristic call */
                *unsupported = 1;
                return NULL;
            }
            return p;
        }
        if (lru->used && (!p->used || p->last_use < lru->last_use)) lru = p;
    }
    /* Whether cuBLASLt's heuristic may run during stream capture is not documented: a recording
     * needs every plan cached by an uncaptured run first (step_graphs runs the step eagerly right
     * before recording it), and a missing one fails the recording instead. */
    if (st->capturing) {
        cu_fail(st,
                "matmul: no cuBLASLt plan cached for %lld x %lld x %lld before graph capture "
                "(run the step uncaptured first)",
                (long long)m, (long long)n, (long long)k);
        return NULL;
    }
    cu_lt_plan *p = lru;
    plan_destroy(p);
    p->last_use = ++st->plan_clock;
    st->plan_heuristics++;
    if (cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) {
        cu_fail(st, "matmul: cublasLtMatmulDescCreate failed");
        return NULL;
    }
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    cublasLtMatrixLayoutCreate(&p->a, ab, (uint64_t)k, (uint64_t)m, k);
    cublasLtMatrixLayoutCreate(&p->b, ab, (uint64_t)k, (uint64_t)n, k);
    cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, (uint64_t)m, (uint64_t)n, m);
    p->used = 1;
    p->m = m;
    p->n = n;
    p->k = k;
    p->ab_type = ab;
    p->align = align;
    cublasLtMatmulPreference_t pref;
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS) {
        plan_destroy(p);
        cu_fail(st, "matmul: cublasLtMatmulPreferenceCreate failed");
        return NULL;
    }
    const uint64_t ws = st->lt_ws_size;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    /* The default assumes 256-byte aligned matrices; row chunks and views may be less aligned. */
    const cublasLtMatmulPreferenceAttributes_t al[] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++) cublasLtMatmulPreferenceSetAttribute(pref, al[i], &align, sizeof align);
    cublasLtMatmulHeuristicResult_t res;
    int count = 0;
    cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(st->lt, p->desc, p->a, p->b, p->c, p->c, pref, 1,
                                                      &res, &count);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS || count == 0) {
        p->no_algo = 1;
        st->lt_fallbacks++;
        *unsupported = 1;
        return NULL;
    }
    p->no_algo = 0;
    p->algo = res.algo;
    return p;
}

/* Computes rows [0, *done) of out; *done < T when cuBLASLt has no algorithm for a shape. */
static int lt_matmul(cu_state *st, float *out, const float *x, const bk_tensor *w, int64_t T,
                     int64_t N, int64_t K, int64_t *done)
{
    const float alpha = 1.0f, beta = 0.0f;
    int unsupported = 0;
    *done = 0;
    if (w->dtype == BK_F32) { /* plain fp32 SGEMM: nothing to convert */
        cu_lt_plan *p = plan_get(st, N, T, K, CUDA_R_32F, ptr_align(w->data, x, out), &unsupported);
        if (!p) return unsupported ? 0 : -1;
        CUBLAS_CHECK(st, cublasLtMatmul(st->lt, p->desc, &alpha, w->data, p->a, x, p->b, &beta, out,
                                        p->c, out, p->c, &p->algo, st->lt_ws, st->lt_ws_size,
                                        st->stream));
        *done = T;
        return 0;
    }
    const cudaDataType_t ab = w->dtype == BK_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    /* x in W's 16-bit type, as many rows at a time as the fixed scratch holds. */
    const int64_t chunk_max = (int64_t)(st->scratch_size / ((size_t)K * 2));
    if (chunk_max < 1)
        return cu_fail(st, "matmul: K = %lld needs %lld bytes of scratch per row, the workspace has "
                       "%zu; raise the memory budget", (long long)K, (long long)K * 2,
                       st->scratch_size);
    for (int64_t r0 = 0; r0 < T; r0 += chunk_max) {
        const int64_t rows = T - r0 < chunk_max ? T - r0 : chunk_max;
        cu_lt_plan *p = plan_get(st, N, rows, K, ab, ptr_align(w->data, st->scratch, out + r0 * N),
                                 &unsupported);
        if (!p) return unsupported ? 0 : -1;
        if (ab == CUDA_R_16BF)
            CU_LAUNCH(cu_blocks(rows * K, 256), 256, 0, st->stream, to_16bit_kernel)(
                (__nv_bfloat16 *)st->scratch, x + r0 * K, rows * K);
        else
            CU_LAUNCH(cu_blocks(rows * K, 256), 256, 0, st->stream, to_16bit_kernel)(
                (__half *)st->scratch, x + r0 * K, rows * K);
        CUDA_CHECK_LAUNCH(st);
        CUBLAS_CHECK(st, cublasLtMatmul(st->lt, p->desc, &alpha, w->data, p->a, st->scratch, p->b,
                                        &beta, out + r0 * N, p->c, out + r0 * N, p->c, &p->algo,
                                        st->lt_ws, st->lt_ws_size, st->stream));
        *done = r0 + rows;
    }
    return 0;
}

extern "C" int cu_matmul(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
                         const bk_tensor *bias, int32_t num_tokens)
{
    cu_state *st = cu_st(be);
    const char *op = "matmul";
    if (num_tokens < 0) return cu_fail(st, "%s: num_tokens is %d, expected >= 0", op, num_tokens);
    if (cu_check_float(st, op, "w", w) || cu_check(st, op, "x", x, BK_F32, num_tokens, w->cols) ||
        cu_check(st, op, "out", out, BK_F32, num_tokens, w->rows) ||
        (bias && cu_check_vec(st, op, "bias", bias, BK_F32, w->rows)))
        return -1;
    const int64_t T = num_tokens, N = w->rows, K = w->cols;
    if (T == 0 || N == 0) return 0;
    float *o = (float *)out->data;
    const float *xd = (const float *)x->data;
    const float *bd = bias ? (const float *)bias->data : NULL;
    int64_t done = 0;
    if (T > CU_GEMV_MAX_T && K > 0) {
        if (lt_matmul(st, o, xd, w, T, N, K, &done)) return -1;
        if (bd && done > 0) {
            CU_LAUNCH(cu_blocks(done * N, 256), 256, 0, st->stream, add_bias_kernel)(o, bd, done, N);
            CUDA_CHECK_LAUNCH(st);
        }
    }
    /* Decode batches, and any rows cuBLASLt has no algorithm for (odd leading dimensions): the GEMV
     * tiles are slower for large T but exact to fp32 accumulation. */
    if (done == T) return 0;
    return gemv(st, o + done * N, xd + done * K, w, bd, T - done, N, K);
}
