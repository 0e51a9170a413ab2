/* Benchmark (not a test): bf16 matmul weight streaming at Qwen3-0.6B shapes for T = 1 and T = 8,
 * and the prefill-shaped T = 512 matmuls (gate/up, down, q, o; GFLOP per CPU second is their
 * figure: they are bound by arithmetic),
 * beside the machine's memcpy bandwidth and its streaming read bandwidth (every thread summing its
 * share of 512 MiB: the ceiling for decode, which only reads weights) measured in the same run.
 * The small shapes fit in a large L3; the 151936-row lm_head does not. Rounds interleave the cases
 * (A B A B) and report medians, because the machine is shared and noisy.
 * Usage: bench_cpu_matmul [threads (0 = all)] [rounds] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/bench_median.h"

#define ROUNDS_MAX 32

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (all threads): on a shared machine the work done per CPU second
 * is comparable between runs where the wall clock is not (OpenMP threads must wait passively). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench_case {
    int n, k, t;
    bk_tensor w, x, out;
    double gbps[ROUNDS_MAX], gflop_cpu[ROUNDS_MAX];
} bench_case;

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 0, rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > ROUNDS_MAX) rounds = 5;
    char err[256];
    bk_backend *be = bk_cpu_create(threads, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bench_cpu_matmul: %s\n", err);
        return 1;
    }
    const bk_ops *o = be->ops;
    bench_case cases[] = {{.n = 3072, .k = 1024, .t = 1},   {.n = 3072, .k = 1024, .t = 8},
                          {.n = 1024, .k = 3072, .t = 1},   {.n = 1024, .k = 3072, .t = 8},
                          {.n = 151936, .k = 1024, .t = 1}, {.n = 151936, .k = 1024, .t = 8},
                          {.n = 3072, .k = 1024, .t = 512}, {.n = 1024, .k = 3072, .t = 512},
                          {.n = 2048, .k = 1024, .t = 512}, {.n = 1024, .k = 2048, .t = 512}};
    const int nc = (int)(sizeof cases / sizeof cases[0]);
    uint64_t seed = 88172645463325252ull;
    for (int c = 0; c < nc; c++) {
        bench_case *bc = &cases[c];
        size_t nw = (size_t)bc->n * bc->k;
        /* Real-looking weights: random bf16 in about [-0.06, 0.06], never all zeros. */
        uint16_t *w = malloc(nw * 2);
        float *x = malloc((size_t)bc->t * bc->k * 4);
        for (size_t i = 0; i < nw; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            w[i] = (uint16_t)(0x3d00u | (seed & 0x80ffu));
        }
        for (size_t i = 0; i < (size_t)bc->t * bc->k; i++)
            x[i] = (float)(i % 17) * 0.1f - 0.8f;
        if (o->tensor_alloc(be, &bc->w, BK_BF16, bc->n, bc->k) ||
            o->upload_rows(be, &bc->w, 0, bc->n, w) ||
            o->tensor_alloc(be, &bc->x, BK_F32, bc->t, bc->k) ||
            o->upload_rows(be, &bc->x, 0, bc->t, x) ||
            o->tensor_alloc(be, &bc->out, BK_F32, bc->t, bc->n)) {
            fprintf(stderr, "bench_cpu_matmul: %s\n", o->last_error(be));
            return 1;
        }
        free(w);
        free(x);
    }
    const size_t copy_bytes = 512u << 20;
    char *src = malloc(copy_bytes), *dst = malloc(copy_bytes);
    if (!src || !dst) return 1;
    memset(src, 1, copy_bytes);
    memset(dst, 2, copy_bytes);
    double copy[ROUNDS_MAX], rd[ROUNDS_MAX];
    const int nthreads = bk_cpu_num_threads(be);
    volatile uint64_t sink = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        memcpy(dst, src, copy_bytes);
        copy[r] = (double)copy_bytes / (now() - t0) / 1e9;
        const uint64_t *words = (const uint64_t *)src;
        const int64_t nw = (int64_t)(copy_bytes / sizeof *words);
        uint64_t sum = 0;
        t0 = now();
#pragma omp parallel for num_threads(nthreads) reduction(+ : sum) schedule(static)
        for (int64_t i = 0; i < nw; i++)
            sum += words[i];
        rd[r] = (double)copy_bytes / (now() - t0) / 1e9;
        sink += sum;
        for (int c = 0; c < nc; c++) {
            bench_case *bc = &cases[c];
            if (o->matmul(be, &bc->out, &bc->x, &bc->w, NULL, bc->t)) { /* warm-up */
                fprintf(stderr, "bench_cpu_matmul: %s\n", o->last_error(be));
                return 1;
            }
            int reps = 0;
            double start = now(), cstart = cpu_now(), el;
            do {
                o->matmul(be, &bc->out, &bc->x, &bc->w, NULL, bc->t);
                reps++;
            } while ((el = now() - start) < 0.25);
            bc->gbps[r] = (double)bc->n * bc->k * 2 * reps / el / 1e9;
            bc->gflop_cpu[r] = 2.0 * bc->n * bc->k * bc->t * reps / (cpu_now() - cstart) / 1e9;
        }
    }
    printf("threads %d (OpenMP regions run with %d), %d rounds, medians\n", threads,
           bk_cpu_num_threads(be), rounds);
    double cp = bench_median(copy, rounds);
    double rb = bench_median(rd, rounds);
    printf("memcpy 512 MiB: %.2f GB/s copied (%.2f GB/s read+write traffic)\n", cp, 2 * cp);
    printf("read 512 MiB: %.2f GB/s (%d threads)\n", rb, nthreads);
    printf("%-8s %-6s %-3s %10s %14s %12s %8s %12s\n", "N", "K", "T", "W GB/s", "of memcpy rate",
           "of read rate", "GFLOP/s", "GFLOP/CPU s");
    for (int c = 0; c < nc; c++) {
        double g = bench_median(cases[c].gbps, rounds);
        /* W bytes per second / 2 = weights per second; 2 flops per weight per token. */
        printf("%-8d %-6d %-3d %10.2f %13.0f%% %11.0f%% %8.1f %12.1f\n", cases[c].n, cases[c].k,
               cases[c].t, g, 100.0 * g / cp, 100.0 * g / rb, g * cases[c].t,
               bench_median(cases[c].gflop_cpu, rounds));
        o->tensor_free(be, &cases[c].w);
        o->tensor_free(be, &cases[c].x);
        o->tensor_free(be, &cases[c].out);
    }
    free(src);
    free(dst);
    o->destroy(be);
    return 0;
}
