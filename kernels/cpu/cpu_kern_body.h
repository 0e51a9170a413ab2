/* The body of one kernel set (see cpu_kern.h), included once by each of cpu_kern_portable.c,
 * cpu_kern_avx2.c and cpu_kern_avx512.c, which are compiled with their own target flags and define
 * CPU_KERN_VL (f32 lanes per vector), CPU_KERN_TT (tokens per matmul tile; CPU_KERN_TTW, optional,
 * on the widened path) and CPU_KERN_TABLE (the table's name). Must not: be included anywhere else,
 * call anything that needs those flags from outside its own translation unit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kern.h"

#define VL CPU_KERN_VL
#define TT CPU_KERN_TT
/* Tokens per tile of the widened path (DEFINE_ROWS), whose weights come from an f32 buffer in L2:
 * a wider tile loads each weight vector for more tokens. */
#ifdef CPU_KERN_TTW
#define TTW CPU_KERN_TTW
#else
#define TTW TT
#endif
/* Rows per matmul tile: every weight vector converted to f32 feeds TT tokens, every x vector RB
 * rows, and RB x TT independent FMA chains hide the FMA latency. */
#define RB 4
/* Decode streams every weight from DRAM once, and a core's hardware prefetchers alone left it
 * at the plain read loop's rate: the first token tile also prefetches (into L2) the rows
 * CPU_PF_ROWS ahead, the next block's, so each core keeps many more lines in flight. */
#define CPU_PF_ROWS 16
/* Calls with at least CPU_WIDEN_MIN_T tokens widen a 16-bit W to f32 CPU_WIDEN_ROWS rows at a
 * time (DEFINE_ROWS). Measured on the 512 x 3072 x 1024 prefill shape (bench_cpu_matmul, GFLOP
 * per CPU second, AVX-512): widening in blocks of 16, 32, 64 and 128 rows gave +16%, +20%, +33%
 * and +35% over widening in registers per token tile (larger blocks reuse each x tile over more
 * rows); at T = 8 widening lost 25%, so decode batches keep the register path. */
#define CPU_WIDEN_ROWS 64
/* With the 4 x 6 tile (2026-12-08, alternated pairs): 128-row blocks gave +3-5% over 64 for
 * K = 1024 and 2048 and -5 to -12% for K = 3072 (a 1.5 MiB block no longer stays in L2 beside x),
 * so blocks of up to 512 KiB of f32 take 128 rows. */
#define CPU_WIDEN_ROWS_SMALL_K 128
#define CPU_WIDEN_SMALL_K 2048
#define CPU_WIDEN_MIN_T 64

/* The vectors are gcc/clang vector extensions: the compiler lowers them to whatever the file's
 * flags allow (SSE2 or NEON pairs, AVX2 ymm, AVX-512 zmm), so one source serves every level. */
typedef float vf __attribute__((vector_size(VL * 4)));
typedef uint32_t vu __attribute__((vector_size(VL * 4)));
typedef uint16_t vh __attribute__((vector_size(VL * 2)));

static inline vf ld(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st(float *p, vf v)
{
    memcpy(p, &v, sizeof v);
}

static inline vf bits(vu u)
{
    vf f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Widens VL 16-bit weights. gcc lowers __builtin_convertvector to two half-width widenings and an
 * insert; the one-instruction vpmovzxwd keeps the conversion off the shuffle port the FMAs share.
 */
static inline vu ld_u16(const uint16_t *p)
{
    vu u;
#if defined(__AVX512F__) && VL == 16
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    memcpy(&u, &v, sizeof u);
#elif defined(__AVX2__) && VL == 8
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    memcpy(&u, &v, sizeof u);
#else
    vh h;
    memcpy(&h, p, sizeof h);
    u = __builtin_convertvector(h, vu);
#endif
    return u;
}

/* Widens VL int8 weights to f32 (exact). The row's scale is applied once to the row's sum. */
typedef int8_t vi8 __attribute__((vector_size(VL)));
static inline vf cvt_i8(const int8_t *p)
{
#if defined(__AVX512F__) && VL == 16
    __m512 v =
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)));
#elif defined(__AVX2__) && VL == 8
    __m256 v =
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
#else
    vi8 b;
    memcpy(&b, p, sizeof b);
    vf v = __builtin_convertvector(b, vf);
#endif
    vf f;
    memcpy(&f, &v, sizeof f);
    return f;
}

static inline float one_i8(int8_t v)
{
    return (float)v;
}

static inline vf cvt_f32(const float *p)
{
    return ld(p);
}

static inline vf cvt_bf16(const uint16_t *p)
{
    return bits(ld_u16(p) << 16);
}

/* The vector form of cpu_f16_to_f32's branch-free conversion. */
static inline vf cvt_f16(const uint16_t *p)
{
    vu h = ld_u16(p);
    vu em = h & 0x7fffu;
    vf scaled = bits(em << 13) * 0x1p112f;
    vu r;
    memcpy(&r, &scaled, sizeof r);
    r |= (vu)(em >= 0x7c00u) & 0x7f800000u;
    return bits(r | (h & 0x8000u) << 16);
}

static inline float one_f32(float v)
{
    return v;
}

/* s + a * b for the K tail, fused wherever the vector loop's products are. Left to
 * -ffp-contract=fast, gcc fused it in some tile instances and not in others (tile_f32, which the
 * widened prefill path runs, against tile_bf16), so a token's output changed with the size of the
 * call that computed it; the op test now checks every token against itself computed alone. */
static inline float madd(float a, float b, float s)
{
#if defined(__FMA__) || defined(__aarch64__)
    return __builtin_fmaf(a, b, s);
#else
    return s + a * b;
#endif
}

/* Lane i + w moved down to lane i (the lanes at or past VL - w wrap around and are not used). */
#define HS_DOWN(w, i) (((i) + (w)) & (VL - 1))
#if VL == 16
#define HS_IDX(w)                                                                                  \
    HS_DOWN(w, 0), HS_DOWN(w, 1), HS_DOWN(w, 2), HS_DOWN(w, 3), HS_DOWN(w, 4), HS_DOWN(w, 5),      \
        HS_DOWN(w, 6), HS_DOWN(w, 7), HS_DOWN(w, 8), HS_DOWN(w, 9), HS_DOWN(w, 10),                \
        HS_DOWN(w, 11), HS_DOWN(w, 12), HS_DOWN(w, 13), HS_DOWN(w, 14), HS_DOWN(w, 15)
#elif VL == 8
#define HS_IDX(w)                                                                                  \
    HS_DOWN(w, 0), HS_DOWN(w, 1), HS_DOWN(w, 2), HS_DOWN(w, 3), HS_DOWN(w, 4), HS_DOWN(w, 5),      \
        HS_DOWN(w, 6), HS_DOWN(w, 7)
#else
#error "hsum needs the shuffle indices for this VL"
#endif

/* Pairwise: a[j] += a[j + w] for j < w, w = VL/2 .. 1, each level one shuffle and one vector add
 * in registers (the scalar loop went through the stack). Lanes j < w get exactly the scalar
 * tree's sums, so the bits are the same. */
static inline float hsum(vf v)
{
#if VL == 16
    v += __builtin_shufflevector(v, v, HS_IDX(8));
#endif
    v += __builtin_shufflevector(v, v, HS_IDX(4));
    v += __builtin_shufflevector(v, v, HS_IDX(2));
    v += __builtin_shufflevector(v, v, HS_IDX(1));
    return v[0];
}

/* The horizontal sums of VL vectors at once: lane i of the result is hsum(a[i]), the same additions
 * in the same order (a[j] + a[j + w] for w = VL/2 .. 1), so the bits are hsum's. Each level pairs
 * two vectors whose lanes hold segments of L partial sums and halves every segment; log2(VL) levels
 * of two shuffles and one add per pair replace VL trees of scalar adds through memory (gcc spilled
 * each accumulator to the stack for hsum: ~13% of a prefill tile's time). */
#define SH_LO(i, L)                                                                                \
    ((i) / ((L) / 2) < VL / (L) ? ((i) / ((L) / 2)) * (L) + (i) % ((L) / 2)                        \
                                : VL + ((i) / ((L) / 2) - VL / (L)) * (L) + (i) % ((L) / 2))
#define SH_HI(i, L) (SH_LO(i, L) + (L) / 2)
#if VL == 16
#define SH_ALL(M, L)                                                                               \
    M(0, L), M(1, L), M(2, L), M(3, L), M(4, L), M(5, L), M(6, L), M(7, L), M(8, L), M(9, L),      \
        M(10, L), M(11, L), M(12, L), M(13, L), M(14, L), M(15, L)
#elif VL == 8
#define SH_ALL(M, L) M(0, L), M(1, L), M(2, L), M(3, L), M(4, L), M(5, L), M(6, L), M(7, L)
#else
#error "hsum_all needs the shuffle indices for this VL"
#endif
#define SH_LEVEL(L)                                                                                \
    for (int i = 0; i < n / 2; i++)                                                                \
        a[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], SH_ALL(SH_LO, L)) +                 \
               __builtin_shufflevector(a[2 * i], a[2 * i + 1], SH_ALL(SH_HI, L));                  \
    n /= 2;

static inline __attribute__((always_inline)) vf hsum_all(vf a[VL])
{
    int n = VL;
#if VL == 16
    SH_LEVEL(16)
#endif
    SH_LEVEL(8)
    SH_LEVEL(4)
    SH_LEVEL(2)
    return a[0];
}

/* res[r * TTM + t] = dot(w row r, x row t) for r < rb, t < tt. Inlined with constant rb and tt so
 * that the loops unroll and the rb x tt accumulators stay in registers. */
#define DEFINE_TILE(NAME, WT, CVT, CVT1, TTM)                                                      \
    static inline __attribute__((always_inline)) void NAME(const WT *restrict w, const WT *pf,     \
                                                           const float *restrict x, int64_t K,     \
                                                           const int rb, const int tt, float *res) \
    {                                                                                              \
        vf acc[RB][TTM];                                                                           \
        for (int r = 0; r < rb; r++)                                                               \
            for (int t = 0; t < tt; t++)                                                           \
                acc[r][t] = (vf){0};                                                               \
        int64_t k = 0;                                                                             \
        for (; k + VL <= K; k += VL) {                                                             \
            vf wv[RB];                                                                             \
            for (int r = 0; r < rb; r++) {                                                         \
                if (pf) __builtin_prefetch(pf + r * K + k, 0, 2);                                  \
                wv[r] = CVT(w + r * K + k);                                                        \
            }                                                                                      \
            for (int t = 0; t < tt; t++) {                                                         \
                vf xv = ld(x + t * K + k);                                                         \
                for (int r = 0; r < rb; r++)                                                       \
                    acc[r][t] += wv[r] * xv;                                                       \
            }                                                                                      \
        }                                                                                          \
        /* Full-vector sums in groups of VL accumulators (the last group padded with copies);      \
         * tiles of fewer than VL/2 (AVX-512 decode's 4 x 1) keep hsum: fewer instructions. */     \
        float sums[RB * TTM];                                                                      \
        const int nacc = rb * tt;                                                                  \
        if (nacc >= VL / 2)                                                                        \
            for (int g = 0; g < nacc; g += VL) {                                                   \
                vf a[VL];                                                                          \
                for (int i = 0; i < VL; i++) {                                                     \
                    const int j = g + i < nacc ? g + i : nacc - 1;                                 \
                    a[i] = acc[j / tt][j % tt];                                                    \
                }                                                                                  \
                vf h = hsum_all(a);                                                                \
                memcpy(sums + g, &h, (size_t)(nacc - g < VL ? nacc - g : VL) * sizeof(float));     \
            }                                                                                      \
        for (int r = 0; r < rb; r++)                                                               \
            for (int t = 0; t < tt; t++) {                                                         \
                float s = nacc >= VL / 2 ? sums[r * tt + t] : hsum(acc[r][t]);                     \
                for (int64_t kk = k; kk < K; kk++)                                                 \
                    s = madd(x[t * K + kk], CVT1(w[r * K + kk]), s);                               \
                res[r * TTM + t] = s;                                                              \
            }                                                                                      \
    }

/* One call per constant (rb, tt) pair; tt runs 1..TTM (TTM is at most 6). */
#define TILE_CASE(DOT, RBC, TTM)                                                                   \
    switch (tt) {                                                                                  \
    case 1:                                                                                        \
        DOT(wn, pf, xt, K, RBC, 1, res);                                                           \
        break;                                                                                     \
    case 2:                                                                                        \
        DOT(wn, pf, xt, K, RBC, TTM >= 2 ? 2 : 1, res);                                            \
        break;                                                                                     \
    case 3:                                                                                        \
        DOT(wn, pf, xt, K, RBC, TTM >= 3 ? 3 : 1, res);                                            \
        break;                                                                                     \
    case 4:                                                                                        \
        DOT(wn, pf, xt, K, RBC, TTM >= 4 ? 4 : 1, res);                                            \
        break;                                                                                     \
    case 5:                                                                                        \
        DOT(wn, pf, xt, K, RBC, TTM >= 5 ? 5 : 1, res);                                            \
        break;                                                                                     \
    default:                                                                                       \
        DOT(wn, pf, xt, K, RBC, TTM, res);                                                         \
        break;                                                                                     \
    }

/* Rows [b0, b1) of W (wb points at row b0) for all T tokens: token tiles outside, so the block's
 * rows (a few KiB) are read from memory by the first tile and from cache by the others. The first
 * tile prefetches from wg (W itself; NULL when wb is a widened copy already in cache). */
#define DEFINE_BLOCK(NAME, DOT, WT, TTM)                                                           \
    static void NAME(const WT *wb, const WT *wg, const float *x, const float *bias,                \
                     const float *sc, float *out, int64_t N, int64_t K, int64_t T, int64_t b0,     \
                     int64_t b1)                                                                   \
    {                                                                                              \
        float res[RB * TTM];                                                                       \
        for (int64_t t0 = 0; t0 < T; t0 += TTM) {                                                  \
            const int tt = T - t0 < TTM ? (int)(T - t0) : TTM;                                     \
            const float *xt = x + t0 * K;                                                          \
            for (int64_t n = b0; n < b1;) {                                                        \
                const WT *wn = wb + (n - b0) * K;                                                  \
                const int rb = b1 - n >= RB ? RB : 1;                                              \
                /* Prefetch only inside W, and only in the tile that reads W from memory. */       \
                const WT *pf = wg && t0 == 0 && n + CPU_PF_ROWS + rb <= N                          \
                                   ? wg + (n + CPU_PF_ROWS) * K                                    \
                                   : NULL;                                                         \
                if (rb == RB) {                                                                    \
                    TILE_CASE(DOT, RB, TTM)                                                        \
                } else {                                                                           \
                    TILE_CASE(DOT, 1, TTM)                                                         \
                }                                                                                  \
                for (int r = 0; r < rb; r++) {                                                     \
                    float b = bias ? bias[n + r] : 0.0f;                                           \
                    if (sc)                                                                        \
                        for (int t = 0; t < tt; t++)                                               \
                            out[(t0 + t) * N + n + r] = res[r * TTM + t] * sc[n + r] + b;          \
                    else                                                                           \
                        for (int t = 0; t < tt; t++)                                               \
                            out[(t0 + t) * N + n + r] = res[r * TTM + t] + b;                      \
                }                                                                                  \
                n += rb;                                                                           \
            }                                                                                      \
        }                                                                                          \
    }

/* Rows [n0, n1) for all T tokens, in blocks of CPU_MATMUL_BLOCK rows. With more tokens than one
 * tile holds (prefill, batched decode), a 16-bit block is widened to f32 once into a buffer and
 * every token tile runs from that, so the widening (two of every three vector instructions of a
 * 4 x 4 tile's weight side) is paid once per weight instead of once per token tile. The f32 values
 * are the same, so the results are the same bits either way. If the buffer cannot be had, the
 * blocks run from W directly. */
#define DEFINE_ROWS(NAME, BLOCK, WT, CVT, CVT1, WIDEN, SCALED)                                     \
    static void NAME(const void *wv, const float *x, const float *bias, float *out, int64_t N,     \
                     int64_t K, int64_t T, int64_t n0, int64_t n1)                                 \
    {                                                                                              \
        const WT *w = wv;                                                                          \
        const float *sc =                                                                          \
            SCALED ? (const float *)(const void *)((const char *)wv + bk_q8_scales_offset(N, K))   \
                   : NULL;                                                                         \
        const int64_t wrows = K <= CPU_WIDEN_SMALL_K ? CPU_WIDEN_ROWS_SMALL_K : CPU_WIDEN_ROWS;    \
        const size_t bytes = ((size_t)wrows * (size_t)K * sizeof(float) + 63) / 64 * 64;           \
        float *buf = WIDEN && T >= CPU_WIDEN_MIN_T ? aligned_alloc(64, bytes) : NULL;              \
        const int64_t step = buf ? wrows : CPU_MATMUL_BLOCK;                                       \
        for (int64_t b0 = n0; b0 < n1; b0 += step) {                                               \
            const int64_t b1 = n1 - b0 < step ? n1 : b0 + step;                                    \
            if (!buf) {                                                                            \
                BLOCK(w + b0 * K, w, x, bias, sc, out, N, K, T, b0, b1);                           \
                continue;                                                                          \
            }                                                                                      \
            const WT *src = w + b0 * K;                                                            \
            const int64_t ne = (b1 - b0) * K, left = (N - b0) * K;                                 \
            int64_t e = 0;                                                                         \
            for (; e + VL <= ne; e += VL) {                                                        \
                if (e + CPU_PF_ROWS * K < left)                                                    \
                    __builtin_prefetch(src + e + CPU_PF_ROWS * K, 0, 2);                           \
                st(buf + e, CVT(src + e));                                                         \
            }                                                                                      \
            for (; e < ne; e++)                                                                    \
                buf[e] = CVT1(src[e]);                                                             \
            block_wide(buf, NULL, x, bias, sc, out, N, K, T, b0, b1);                              \
        }                                                                                          \
        free(buf);                                                                                 \
    }

DEFINE_TILE(tile_f32, float, cvt_f32, one_f32, TT)
DEFINE_TILE(tile_wide, float, cvt_f32, one_f32, TTW)
DEFINE_TILE(tile_f16, uint16_t, cvt_f16, cpu_f16_to_f32, TT)
DEFINE_TILE(tile_bf16, uint16_t, cvt_bf16, cpu_bf16_to_f32, TT)
DEFINE_TILE(tile_i8, int8_t, cvt_i8, one_i8, TT)
DEFINE_BLOCK(block_f32, tile_f32, float, TT)
DEFINE_BLOCK(block_wide, tile_wide, float, TTW)
DEFINE_BLOCK(block_f16, tile_f16, uint16_t, TT)
DEFINE_BLOCK(block_bf16, tile_bf16, uint16_t, TT)
DEFINE_BLOCK(block_i8, tile_i8, int8_t, TT)
DEFINE_ROWS(rows_f32, block_f32, float, cvt_f32, one_f32, 0, 0)
DEFINE_ROWS(rows_f16, block_f16, uint16_t, cvt_f16, cpu_f16_to_f32, 1, 0)
DEFINE_ROWS(rows_bf16, block_bf16, uint16_t, cvt_bf16, cpu_bf16_to_f32, 1, 0)
/* Int8: the tiles sum x · q in f32 (q exact in f32) and the block multiplies the row's sum by its
 * scale once, so a row's result is scale · Σ x·q on every path and in every batch. */
DEFINE_ROWS(rows_q8, block_i8, int8_t, cvt_i8, one_i8, 1, 1)

#include "kernels/cpu/cpu_kern_attn.h"

/* silu(x) = x / (1 + e^-x), as x * s with e = e^-|x| (vexp_neg's domain, so nothing overflows):
 * s = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0. Replaces a libm expf call per element
 * (~2% of a 512-token prefill). NaN stays NaN; e^-|x| below the normal floats is 0. */
static inline vf silu_vec(vf x)
{
    const vu neg = (vu)(x < 0.0f);
    const vf e = vexp_neg(bits(ubits(x) | 0x80000000u));
    const vf num = bits((neg & ubits(e)) | (~neg & ubits((vf){0} + 1.0f)));
    return x * num / (1.0f + e);
}

/* The tail runs the same vector code on a zero-padded copy, so an element's bits do not depend on
 * where in the row it sits. */
static void silu_mul_row(const float *gu, float *out, int64_t I)
{
    const float *u = gu + I;
    int64_t i = 0;
    for (; i + VL <= I; i += VL)
        st(out + i, silu_vec(ld(gu + i)) * ld(u + i));
    if (i < I) {
        float a[VL] = {0}, b[VL] = {0}, r[VL];
        memcpy(a, gu + i, (size_t)(I - i) * sizeof(float));
        memcpy(b, u + i, (size_t)(I - i) * sizeof(float));
        st(r, silu_vec(ld(a)) * ld(b));
        memcpy(out + i, r, (size_t)(I - i) * sizeof(float));
    }
}

const cpu_kernels CPU_KERN_TABLE = {
    .name = CPU_KERN_NAME,
    .lanes = VL,
    .rows = {rows_f32, rows_f16, rows_bf16, rows_q8},
    .attention = attention_item,
    .silu_mul = silu_mul_row,
};
