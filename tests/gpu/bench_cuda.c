/* GPU benchmark (not a test): measures the device's copy bandwidth and cuBLAS bf16 GEMM peak, then
 * times the CUDA backend's matmul at Qwen3-4B's shapes against them, all in the same run, with CUDA
 * events after warm-up on random (never zero) data. Prints a markdown report to argv[1] (or stdout). */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* bf16 values uniform-ish in ±[2^-8, 2): random sign and mantissa, exponent 119..127. */
static void fill_bf16(uint16_t *x, size_t n)
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

static void fill_f32(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((next_u64() >> 11) * 0x1.0p-53) * 2.0f - 1.0f;
}

/* Milliseconds per iteration of `iters` runs of body() recorded on stream, after `warm` runs. */
#define TIME_MS(stream, warm, iters, out_ms, body)                                                 \
    do {                                                                                           \
        cudaEvent_t e0_, e1_;                                                                      \
        CK(cudaEventCreate(&e0_));                                                                 \
        CK(cudaEventCreate(&e1_));                                                                 \
        for (int w_ = 0; w_ < (warm); w_++) { body; }                                              \
        CK(cudaEventRecord(e0_, (stream)));                                                        \
        for (int i_ = 0; i_ < (iters); i_++) { body; }                                             \
        CK(cudaEventRecord(e1_, (stream)));                                                        \
        CK(cudaEventSynchronize(e1_));                                                             \
        float ms_ = 0.0f;                                                                          \
        CK(cudaEventElapsedTime(&ms_, e0_, e1_));                                                  \
        (out_ms) = (double)ms_ / (iters);                                                          \
        CK(cudaEventDestroy(e0_));                                                                 \
        CK(cudaEventDestroy(e1_));                                                                 \
    } while (0)

int main(int argc, char **argv)
{
    FILE *out = argc > 1 ? fopen(argv[1], "w") : stdout;
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    if (bk_cuda_device_count() == 0) {
        fprintf(stderr, "bench_cuda: no CUDA device\n");
        return 77;
    }
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    CK(cudaSetDevice(0));
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    fprintf(out, "## GPU benchmark: %s (sm_%d%d, %d SMs, %.1f GiB)\n\n", prop.name, prop.major,
            prop.minor, prop.multiProcessorCount, (double)prop.totalGlobalMem / (1 << 30));

    /* ---- device copy bandwidth: read + write bytes per second ---- */
    const size_t copy_bytes = (size_t)2 << 30;
    void *a = NULL, *b = NULL;
    CK(cudaMalloc(&a, copy_bytes));
    CK(cudaMalloc(&b, copy_bytes));
    CK(cudaMemset(a, 0x3c, copy_bytes));
    double copy_ms;
    TIME_MS(s, 3, 20, copy_ms, CK(cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice, s)));
    const double bw = 2.0 * (double)copy_bytes / (copy_ms * 1e-3) / 1e9;
    fprintf(out, "- device copy (cudaMemcpy D2D, 2 GiB, read + write): **%.0f GB/s**\n", bw);
    CK(cudaFree(a));
    CK(cudaFree(b));

    /* ---- cuBLAS bf16 GEMM peak (fp32 accumulate) ---- */
    const int G = 8192;
    const size_t gn = (size_t)G * G;
    uint16_t *host = malloc(gn * sizeof *host);
    void *ga, *gb, *gc;
    CK(cudaMalloc(&ga, gn * 2));
    CK(cudaMalloc(&gb, gn * 2));
    CK(cudaMalloc(&gc, gn * 2));
    fill_bf16(host, gn);
    CK(cudaMemcpy(ga, host, gn * 2, cudaMemcpyHostToDevice));
    fill_bf16(host, gn);
    CK(cudaMemcpy(gb, host, gn * 2, cudaMemcpyHostToDevice));
    free(host);
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "cublasCreate failed\n");
        return 1;
    }
    cublasSetStream(h, s);
    const float one = 1.0f, zero = 0.0f;
    double gemm_ms;
    cublasStatus_t gst = CUBLAS_STATUS_SUCCESS;
    TIME_MS(s, 3, 20, gemm_ms,
            gst |= cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, G, G, G, &one, ga, CUDA_R_16BF, G, gb,
                                CUDA_R_16BF, G, &zero, gc, CUDA_R_16BF, G, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
    if (gst != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "cublasGemmEx failed: %d\n", (int)gst);
        return 1;
    }
    const double peak = 2.0 * G * (double)G * G / (gemm_ms * 1e-3) / 1e12;
    fprintf(out, "- cuBLAS bf16 GEMM %dx%dx%d (fp32 accumulate): **%.0f TFLOP/s**\n\n", G, G, G, peak);
    cublasDestroy(h);
    CK(cudaFree(ga));
    CK(cudaFree(gb));
    CK(cudaFree(gc));

    /* ---- the backend's matmul at Qwen3-4B shapes ---- */
    static const struct {
        const char *name;
        int N, K, per_token; /* times per decoded token (36 layers; lm_head once) */
    } shapes[] = {
        {"qkv", 6144, 2560, 36}, {"o", 2560, 4096, 36}, {"gate_up", 19456, 2560, 36},
        {"down", 2560, 9728, 36}, {"lm_head", 151936, 2560, 1},
    };
    static const int Ts[] = {1, 8, 32, 64};
    char err[512];
    bk_backend *be = bk_cuda_create(0, (size_t)3 << 30, err, sizeof err);
    if (!be) {
        fprintf(stderr, "bk_cuda_create: %s\n", err);
        return 1;
    }
    cudaStream_t bs = (cudaStream_t)bk_cuda_stream(be);
    const size_t wmax = (size_t)151936 * 2560;
    uint16_t *wh = malloc(wmax * sizeof *wh);
    float *xh = malloc((size_t)64 * 9728 * sizeof *xh);
    fill_bf16(wh, wmax);
    fill_f32(xh, (size_t)64 * 9728);
    fprintf(out, "Backend matmul, bf16 weights, f32 activations (T <= 8: berth GEMV; above: bf16 "
                 "conversion + cuBLASLt). GB/s counts weight bytes only; %% is of the copy "
                 "bandwidth above; TFLOP/s %% is of the GEMM peak above.\n\n");
    fprintf(out, "| shape | N | K | T | us | weight GB/s | %% of copy bw | TFLOP/s | %% of GEMM peak |\n");
    fprintf(out, "|---|---|---|---|---|---|---|---|---|\n");
    double decode_us[4] = {0};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int N = shapes[i].N, K = shapes[i].K;
        bk_tensor w = {0}, x = {0}, o = {0};
        if (be->ops->tensor_from_host(be, &w, BK_BF16, N, K, wh) ||
            be->ops->tensor_from_host(be, &x, BK_F32, 64, K, xh) ||
            be->ops->tensor_alloc(be, &o, BK_F32, 64, N)) {
            fprintf(stderr, "bench setup: %s\n", be->ops->last_error(be));
            return 1;
        }
        for (size_t ti = 0; ti < 4; ti++) {
            const int T = Ts[ti];
            double ms;
            int rc = 0;
            TIME_MS(bs, 5, 30, ms, rc |= be->ops->matmul(be, &o, &x, &w, NULL, T));
            if (rc) {
                fprintf(stderr, "matmul: %s\n", be->ops->last_error(be));
                return 1;
            }
            const double gbs = 2.0 * N * (double)K / (ms * 1e-3) / 1e9;
            const double tf = 2.0 * N * (double)K * T / (ms * 1e-3) / 1e12;
            decode_us[ti] += ms * 1e3 * shapes[i].per_token;
            fprintf(out, "| %s | %d | %d | %d | %.1f | %.0f | %.1f%% | %.1f | %.1f%% |\n",
                    shapes[i].name, N, K, T, ms * 1e3, gbs, 100.0 * gbs / bw, tf, 100.0 * tf / peak);
        }
        be->ops->tensor_free(be, &w);
        be->ops->tensor_free(be, &x);
        be->ops->tensor_free(be, &o);
    }
    const double model_bytes = 8.04e9; /* PERFORMANCE.md: Qwen3-4B bf16 weights read per step */
    fprintf(out, "\nQwen3-4B matmuls alone per decode step (36 layers + lm_head; attention, norms "
                 "and launch gaps not included):\n\n| batch | ms/step | tokens/s | weight bytes / "
                 "time as %% of copy bw |\n|---|---|---|---|\n");
    for (int ti = 0; ti < 4; ti++) {
        const double ms = decode_us[ti] / 1e3;
        fprintf(out, "| %d | %.2f | %.0f | %.1f%% |\n", Ts[ti], ms, Ts[ti] / (ms * 1e-3),
                100.0 * (model_bytes / (ms * 1e-3) / 1e9) / bw);
    }
    free(wh);
    free(xh);
    be->ops->destroy(be);
    CK(cudaStreamDestroy(s));
    if (out != stdout) fclose(out);
    return 0;
}
