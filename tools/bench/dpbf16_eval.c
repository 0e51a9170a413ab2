/* dpbf16_eval: the measurement behind docs/design/cpu-backend.md's "bf16 dot products with split
 * activations". One 4-row x 4-token matmul tile over K = 1024 (L1-resident, as prefill's inner
 * loop sees it), bf16 weights, timed three ways:
 *   fma   berth's kernel: the weights widened to f32 in registers (vpmovzxwd + shift), f32 FMAs;
 *   split x = hi + lo with hi = bf16(x), lo = bf16(x - hi), two vdpbf16ps per weight pair (about
 *         16 bits of x kept: within the tests' 1e-5 of sum |x w|);
 *   bf16  one vdpbf16ps with x rounded to bf16 (what oneDNN does; its error breaks the tolerances).
 * Reports CPU ns (this thread's clock) per tile pass and each result's largest error against an f64
 * reference, relative to sum |x w|. Rounds alternate the three, medians printed. Needs AVX512_BF16;
 * not built by CMake:
 *   cc -O3 -std=c17 -mavx512f -mavx512bw -mavx512bf16 -mfma tools/bench/dpbf16_eval.c -lm \
 *      -o build/dpbf16_eval && build/dpbf16_eval */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { K = 1024, R = 4, T = 4, ROUNDS = 7, REPS = 20000 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* the load of other tenants is not counted */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint16_t bf16_rne(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t w[R][K] __attribute__((aligned(64)));
static float x[T][K] __attribute__((aligned(64)));
static uint16_t xhi[T][K] __attribute__((aligned(64))), xlo[T][K] __attribute__((aligned(64)));

__attribute__((noinline)) static void tile_fma(float *res)
{
    __m512 acc[R][T];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __m512 wv[R];
        for (int r = 0; r < R; r++)
            wv[r] = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_load_si256((const __m256i *)&w[r][k])), 16));
        for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_load_ps(&x[t][k]);
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            res[r * T + t] = _mm512_reduce_add_ps(acc[r][t]);
}

__attribute__((noinline)) static void tile_dp(float *res, int split)
{
    __m512 acc[R][T];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 32) {
        __m512bh wv[R];
        for (int r = 0; r < R; r++)
            wv[r] = (__m512bh)_mm512_load_si512(&w[r][k]);
        for (int t = 0; t < T; t++) {
            __m512bh h = (__m512bh)_mm512_load_si512(&xhi[t][k]);
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], h);
            if (split) {
                __m512bh l = (__m512bh)_mm512_load_si512(&xlo[t][k]);
                for (int r = 0; r < R; r++)
                    acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], l);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            res[r * T + t] = _mm512_reduce_add_ps(acc[r][t]);
}

static int cmp(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return (p > q) - (p < q);
}

int main(void)
{
    uint64_t s = 88172645463325252ull;
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            w[r][k] = (uint16_t)(0x3d00u | (s & 0x80ffu));
        }
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x[t][k] = (float)((double)(s >> 11) / 9007199254740992.0 * 8.0 - 4.0);
            xhi[t][k] = bf16_rne(x[t][k]);
            xlo[t][k] = bf16_rne(x[t][k] - bf16_f32(xhi[t][k]));
        }
    const char *names[3] = {"fma", "split", "bf16"};
    double ns[3][ROUNDS], err[3] = {0};
    float res[R * T];
    for (int rd = 0; rd < ROUNDS; rd++)
        for (int m = 0; m < 3; m++) {
            double t0 = now();
            for (int i = 0; i < REPS; i++) {
                if (m == 0)
                    tile_fma(res);
                else
                    tile_dp(res, m == 1);
                __asm__ volatile("" ::"r"(res) : "memory");
            }
            ns[m][rd] = (now() - t0) / REPS * 1e9;
            for (int r = 0; r < R; r++)
                for (int t = 0; t < T; t++) {
                    double ref = 0, mag = 0;
                    for (int k = 0; k < K; k++) {
                        ref += (double)bf16_f32(w[r][k]) * x[t][k];
                        mag += fabs((double)bf16_f32(w[r][k]) * x[t][k]);
                    }
                    double e = fabs(res[r * T + t] - ref) / mag;
                    err[m] = e > err[m] ? e : err[m];
                }
        }
    for (int m = 0; m < 3; m++) {
        qsort(ns[m], ROUNDS, sizeof(double), cmp);
        printf("%-5s %8.1f ns per tile (%5.2fx fma), %5.1f GFLOP/s one core, max error %.2e of "
               "sum |x w|\n",
               names[m], ns[m][ROUNDS / 2], ns[m][ROUNDS / 2] / ns[0][ROUNDS / 2],
               2.0 * R * T * K / ns[m][ROUNDS / 2], err[m]);
    }
    return 0;
}
