#include "kernels/cpu/cpu_matmul.h"

#include "kernels/cpu/cpu_common.h"

/* Decode is bound by streaming W from memory, so the loop shape serves that:
 * - threads split the output rows, so each weight byte is read by exactly one core;
 * - rows go in blocks of CPU_ROWS (a few KiB to ~100 KiB of weights, cache-resident), and every
 *   tile of CPU_TILE tokens is run over the block before the next block is loaded, so W leaves
 *   memory once per call whatever T is, and each loaded weight vector feeds CPU_TILE dot products;
 * - the inner loop converts CPU_LANES weights to f32 and updates fixed-size accumulators, a shape gcc
 *   vectorizes at -O3 without -ffast-math (no reassociation of a single running sum is needed).
 * CPU_TILE x CPU_LANES = 64 accumulators = 8 AVX2 registers, leaving room for weights and x. */
#define CPU_TILE 4
#define CPU_LANES 16
#define CPU_ROWS 8

static inline float cvt_f32(float v)
{
    return v;
}

/* res[t] = dot(w[0..K), x[t][0..K)) for t < tt. Inlined with a constant tt, so the token loop
 * unrolls and the accumulators stay in registers. */
#define DEFINE_DOT_TILE(NAME, WTYPE, CVT)                                                          \
    static inline __attribute__((always_inline)) void NAME(const WTYPE *restrict w,               \
                                                           const float *restrict x, int64_t K,     \
                                                           const int tt, float *res)               \
    {                                                                                              \
        float acc[CPU_TILE][CPU_LANES];                                                            \
        for (int t = 0; t < tt; t++)                                                               \
            for (int j = 0; j < CPU_LANES; j++) acc[t][j] = 0.0f;                                  \
        int64_t k = 0;                                                                             \
        for (; k + CPU_LANES <= K; k += CPU_LANES) {                                               \
            float wf[CPU_LANES];                                                                   \
            for (int j = 0; j < CPU_LANES; j++) wf[j] = CVT(w[k + j]);                             \
            for (int t = 0; t < tt; t++)                                                           \
                for (int j = 0; j < CPU_LANES; j++) acc[t][j] += x[t * K + k + j] * wf[j];         \
        }                                                                                          \
        for (int t = 0; t < tt; t++) {                                                             \
            float s = 0.0f;                                                                        \
            for (int j = 0; j < CPU_LANES; j++) s += acc[t][j];                                    \
            for (int64_t kk = k; kk < K; kk++) s += x[t * K + kk] * CVT(w[kk]);                    \
            res[t] = s;                                                                            \
        }                                                                                          \
    }

/* Rows [n0, n1) of out for all T tokens. */
#define DEFINE_ROWS(NAME, DOT, WTYPE)                                                              \
    static void NAME(const WTYPE *w, const float *x, const float *bias, float *out, int64_t N,    \
                     int64_t K, int64_t T, int64_t n0, int64_t n1)                                 \
    {                                                                                              \
        float res[CPU_TILE];                                                                       \
        for (int64_t t0 = 0; t0 < T; t0 += CPU_TILE) {                                             \
            int64_t tt = T - t0 < CPU_TILE ? T - t0 : CPU_TILE;                                    \
            const float *xt = x + t0 * K;                                                          \
            for (int64_t n = n0; n < n1; n++) {                                                    \
                const WTYPE *wn = w + n * K;                                                       \
                switch (tt) {                                                                      \
                case 1:                                                                            \
                    DOT(wn, xt, K, 1, res);                                                        \
                    break;                                                                         \
                case 2:                                                                            \
                    DOT(wn, xt, K, 2, res);                                                        \
                    break;                                                                         \
                case 3:                                                                            \
                    DOT(wn, xt, K, 3, res);                                                        \
                    break;                                                                         \
                default:                                                                           \
                    DOT(wn, xt, K, CPU_TILE, res);                                                 \
                    break;                                                                         \
                }                                                                                  \
                float b = bias ? bias[n] : 0.0f;                                                   \
                for (int64_t t = 0; t < tt; t++) out[(t0 + t) * N + n] = res[t] + b;               \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_DOT_TILE(dot_tile_f32, float, cvt_f32)
DEFINE_DOT_TILE(dot_tile_f16, uint16_t, cpu_f16_to_f32)
DEFINE_DOT_TILE(dot_tile_bf16, uint16_t, cpu_bf16_to_f32)
DEFINE_ROWS(rows_f32, dot_tile_f32, float)
DEFINE_ROWS(rows_f16, dot_tile_f16, uint16_t)
DEFINE_ROWS(rows_bf16, dot_tile_bf16, uint16_t)

int cpu_matmul(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
               const bk_tensor *bias, int32_t num_tokens)
{
    const char *op = "matmul";
    if (num_tokens < 0) return cpu_fail(be, "cpu matmul: num_tokens is %d, expected >= 0", num_tokens);
    if (cpu_check_float(be, op, "W", w) ||
        cpu_check(be, op, "x", x, BK_F32, num_tokens, w->cols) ||
        cpu_check(be, op, "out", out, BK_F32, num_tokens, w->rows) ||
        (bias && cpu_check_vec(be, op, "bias", bias, BK_F32, w->rows)))
        return -1;
    if (bias && bk_numel(bias) != w->rows)
        return cpu_fail(be, "cpu matmul: bias has %lld elements, expected %lld (W's rows)",
                        (long long)bk_numel(bias), (long long)w->rows);
    if (out->data == x->data)
        return cpu_fail(be, "cpu matmul: out and x are the same buffer, expected distinct tensors");
    const int64_t N = w->rows, K = w->cols, T = num_tokens;
    const int64_t nblocks = (N + CPU_ROWS - 1) / CPU_ROWS;
    const float *xs = x->data, *bs = bias ? bias->data : NULL;
    float *os = out->data;
    if (T == 0) return 0;
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(static)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t n0 = blk * CPU_ROWS, n1 = n0 + CPU_ROWS < N ? n0 + CPU_ROWS : N;
        switch (w->dtype) {
        case BK_F16:
            rows_f16(w->data, xs, bs, os, N, K, T, n0, n1);
            break;
        case BK_BF16:
            rows_bf16(w->data, xs, bs, os, N, K, T, n0, n1);
            break;
        default:
            rows_f32(w->data, xs, bs, os, N, K, T, n0, n1);
            break;
        }
    }
    return 0;
}
