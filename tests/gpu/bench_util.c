#include "tests/gpu/bench_util.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void bench_check(int cuda_error, const char *call, const char *file, int line)
{
    if (cuda_error == 0) return;
    fprintf(stderr, "%s:%d: %s: %s\n", file, line, call, cudaGetErrorString((cudaError_t)cuda_error));
    exit(1);
}

void bench_fill_bf16(uint16_t *x, size_t n)
{
    for (size_t i = 0; i < n; i += 4) {
        uint64_t r = next_u64();
        for (size_t j = 0; j < 4 && i + j < n; j++, r >>= 16) {
            uint16_t sign = (uint16_t)(r & 0x8000), man = (uint16_t)(r & 0x7F);
            uint16_t ex = (uint16_t)(119 + ((r >> 7) & 7));
            x[i + j] = (uint16_t)(sign | (uint16_t)(ex << 7) | man);
        }
    }
}

void bench_fill_f32(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((next_u64() >> 11) * 0x1.0p-53) * 2.0f - 1.0f;
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Milliseconds per call of `iters` calls after `warm` calls, timed with events on stream s. */
static double time_ms(cudaStream_t s, int warm, int iters, int (*body)(void *), void *ctx)
{
    cudaEvent_t e0, e1;
    BENCH_CK(cudaEventCreate(&e0));
    BENCH_CK(cudaEventCreate(&e1));
    int rc = 0;
    for (int i = 0; i < warm; i++) rc |= body(ctx);
    BENCH_CK(cudaEventRecord(e0, s));
    for (int i = 0; i < iters; i++) rc |= body(ctx);
    BENCH_CK(cudaEventRecord(e1, s));
    BENCH_CK(cudaEventSynchronize(e1));
    float ms = 0.0f;
    BENCH_CK(cudaEventElapsedTime(&ms, e0, e1));
    BENCH_CK(cudaEventDestroy(e0));
    BENCH_CK(cudaEventDestroy(e1));
    if (rc) {
        fprintf(stderr, "bench: a timed call failed\n");
        exit(1);
    }
    return (double)ms / iters;
}

typedef struct copy_ctx {
    void *dst, *src;
    size_t bytes;
    cudaStream_t s;
} copy_ctx;

static int copy_body(void *p)
{
    copy_ctx *c = p;
    return cudaMemcpyAsync(c->dst, c->src, c->bytes, cudaMemcpyDeviceToDevice, c->s) != cudaSuccess;
}

double bench_copy_bandwidth(void)
{
    copy_ctx c = {.bytes = (size_t)2 << 30};
    BENCH_CK(cudaStreamCreate(&c.s));
    BENCH_CK(cudaMalloc(&c.src, c.bytes));
    BENCH_CK(cudaMalloc(&c.dst, c.bytes));
    BENCH_CK(cudaMemset(c.src, 0x3c, c.bytes));
    const double ms = time_ms(c.s, 3, 20, copy_body, &c);
    BENCH_CK(cudaFree(c.src));
    BENCH_CK(cudaFree(c.dst));
    BENCH_CK(cudaStreamDestroy(c.s));
    return 2.0 * (double)c.bytes / (ms * 1e-3) / 1e9;
}

typedef struct gemm_ctx {
    cublasHandle_t h;
    int n;
    void *a, *b, *c;
} gemm_ctx;

static int gemm_body(void *p)
{
    gemm_ctx *g = p;
    const float one = 1.0f, zero = 0.0f;
    return cublasGemmEx(g->h, CUBLAS_OP_T, CUBLAS_OP_N, g->n, g->n, g->n, &one, g->a, CUDA_R_16BF,
                        g->n, g->b, CUDA_R_16BF, g->n, &zero, g->c, CUDA_R_16BF, g->n,
                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS;
}

double bench_gemm_peak(void)
{
    gemm_ctx g = {.n = 8192};
    const size_t n = (size_t)g.n * g.n;
    uint16_t *host = malloc(n * sizeof *host);
    if (!host) {
        fprintf(stderr, "bench: out of host memory\n");
        exit(1);
    }
    cudaStream_t s;
    BENCH_CK(cudaStreamCreate(&s));
    BENCH_CK(cudaMalloc(&g.a, n * 2));
    BENCH_CK(cudaMalloc(&g.b, n * 2));
    BENCH_CK(cudaMalloc(&g.c, n * 2));
    bench_fill_bf16(host, n);
    BENCH_CK(cudaMemcpy(g.a, host, n * 2, cudaMemcpyHostToDevice));
    bench_fill_bf16(host, n);
    BENCH_CK(cudaMemcpy(g.b, host, n * 2, cudaMemcpyHostToDevice));
    free(host);
    if (cublasCreate(&g.h) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "bench: cublasCreate failed\n");
        exit(1);
    }
    cublasSetStream(g.h, s);
    const double ms = time_ms(s, 3, 20, gemm_body, &g);
    cublasDestroy(g.h);
    BENCH_CK(cudaFree(g.a));
    BENCH_CK(cudaFree(g.b));
    BENCH_CK(cudaFree(g.c));
    BENCH_CK(cudaStreamDestroy(s));
    return 2.0 * (double)g.n * g.n * g.n / (ms * 1e-3) / 1e12;
}
