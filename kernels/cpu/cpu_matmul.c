#include "kernels/cpu/cpu_matmul.h"

#include "kernels/cpu/cpu_common.h"

/* Decode is bound by streaming W from memory, so the loop shape serves that:
 * - threads split the output rows, so each weight byte is read by exactly one core;
 * - rows go in blocks of CPU_ROWS (cache-resident), and every tile of CPU_TILE tokens is run over
 *   the block before the next block is loaded, so W leaves memory once per call whatever T is;
 * - the kernel loads CPU_LANES weights, converts them to f32 once, and feeds CPU_TILE tokens'
 *   accumulators with them: 2 x CPU_TILE independent vector FMA chains, all in registers.
 * The vectors are gcc/clang vector extensions (8 floats): the widths are visible in the types, as
 * llm.c's Packed128 makes them, and the compiler lowers them to AVX2, SSE or NEON as available.
 * Plain scalar loops with fixed-size accumulator arrays vectorized too, but gcc kept the
 * tile's accumulators in memory and ran T = 8 at a tenth of T = 1's weight rate. */
#define CPU_TILE 4
#define CPU_LANES 16
#define CPU_ROWS 8

typedef float v8sf __attribute__((vector_size(32)));
typedef uint32_t v8su __attribute__((vector_size(32)));
typedef int32_t v8si __attribute__((vector_size(32)));
typedef uint16_t v8hu __attribute__((vector_size(16)));

static inline v8sf load8(const float *p)
{
    v8sf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline v8su load8_u16(const uint16_t *p)
{
    v8hu h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, v8su);
}

static inline v8sf bits8(v8su u)
{
    v8sf f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline void cvt16_f32(const float *w, v8sf *lo, v8sf *hi)
{
    *lo = load8(w);
    *hi = load8(w + 8);
}

static inline void cvt16_bf16(const uint16_t *w, v8sf *lo, v8sf *hi)
{
    *lo = bits8(load8_u16(w) << 16);
    *hi = bits8(load8_u16(w + 8) << 16);
}

/* The vector form of cpu_f16_to_f32's branch-free conversion. */
static inline v8sf f16x8(v8su h)
{
    v8su em = h & 0x7fffu;
    v8sf scaled = bits8(em << 13) * 0x1p112f;
    v8su r;
    memcpy(&r, &scaled, sizeof r);
    r |= (v8su)(em >= 0x7c00u) & 0x7f800000u;
    return bits8(r | (h & 0x8000u) << 16);
}

static inline void cvt16_f16(const uint16_t *w, v8sf *lo, v8sf *hi)
{
    *lo = f16x8(load8_u16(w));
    *hi = f16x8(load8_u16(w + 8));
}

static inline float hsum8(v8sf v)
{
    float s = 0.0f;
    for (int j = 0; j < 8; j++)
        s += v[j];
    return s;
}

/* res[t] = dot(w[0..K), x[t][0..K)) for t < tt. Inlined with a constant tt, so the token loop
 * unrolls and the accumulators stay in registers. */
#define DEFINE_DOT_TILE(NAME, WTYPE, CVT16, CVT1)                                                  \
    static inline __attribute__((always_inline)) void NAME(                                        \
        const WTYPE *restrict w, const float *restrict x, int64_t K, const int tt, float *res)     \
    {                                                                                              \
        v8sf lo[CPU_TILE], hi[CPU_TILE];                                                           \
        for (int t = 0; t < tt; t++)                                                               \
            lo[t] = hi[t] = (v8sf){0};                                                             \
        int64_t k = 0;                                                                             \
        for (; k + CPU_LANES <= K; k += CPU_LANES) {                                               \
            v8sf wl, wh;                                                                           \
            CVT16(w + k, &wl, &wh);                                                                \
            for (int t = 0; t < tt; t++) {                                                         \
                lo[t] += load8(x + t * K + k) * wl;                                                \
                hi[t] += load8(x + t * K + k + 8) * wh;                                            \
            }                                                                                      \
        }                                                                                          \
        for (int t = 0; t < tt; t++) {                                                             \
            float s = hsum8(lo[t] + hi[t]);                                                        \
            for (int64_t kk = k; kk < K; kk++)                                                     \
                s += x[t * K + kk] * CVT1(w[kk]);                                                  \
            res[t] = s;                                                                            \
        }                                                                                          \
    }

static inline float cvt_f32(float v)
{
    return v;
}

/* Rows [n0, n1) of out for all T tokens. */
#define DEFINE_ROWS(NAME, DOT, WTYPE)                                                              \
    static void NAME(const WTYPE *w, const float *x, const float *bias, float *out, int64_t N,     \
                     int64_t K, int64_t T, int64_t n0, int64_t n1)                                 \
    {                                                                                              \
        float res[CPU_TILE];                                                                       \
        for (int64_t t0 = 0; t0 < T; t0 += CPU_TILE) {                                             \
            int64_t tt = T - t0 < CPU_TILE ? T - t0 : CPU_TILE;                                    \
            const float *xt = x + t0 * K;                                                          \
            for (int64_t n = n0; n < n1; n++) {                                                    \
                const WTYPE *wn = w + n * K;                                                       \
                if (tt == 1)                                                                       \
                    DOT(wn, xt, K, 1, res);                                                        \
                else if (tt == 2)                                                                  \
                    DOT(wn, xt, K, 2, res);                                                        \
                else if (tt == 3)                                                                  \
                    DOT(wn, xt, K, 3, res);                                                        \
                else                                                                               \
                    DOT(wn, xt, K, CPU_TILE, res);                                                 \
                float b = bias ? bias[n] : 0.0f;                                                   \
                for (int64_t t = 0; t < tt; t++)                                                   \
                    out[(t0 + t) * N + n] = res[t] + b;                                            \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_DOT_TILE(dot_tile_f32, float, cvt16_f32, cvt_f32)
DEFINE_DOT_TILE(dot_tile_f16, uint16_t, cvt16_f16, cpu_f16_to_f32)
DEFINE_DOT_TILE(dot_tile_bf16, uint16_t, cvt16_bf16, cpu_bf16_to_f32)
DEFINE_ROWS(rows_f32, dot_tile_f32, float)
DEFINE_ROWS(rows_f16, dot_tile_f16, uint16_t)
DEFINE_ROWS(rows_bf16, dot_tile_bf16, uint16_t)

int cpu_matmul(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
               const bk_tensor *bias, int32_t num_tokens)
{
    const char *op = "matmul";
    if (num_tokens < 0)
        return cpu_fail(be, "cpu matmul: num_tokens is %d, expected >= 0", num_tokens);
    if (cpu_check_float(be, op, "W", w) || cpu_check(be, op, "x", x, BK_F32, num_tokens, w->cols) ||
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
