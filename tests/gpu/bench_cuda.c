/* GPU benchmark (not a test): measures the device's copy bandwidth and cuBLAS bf16 GEMM peak, then
 * times the CUDA backend's matmul at Qwen3-4B's shapes against them, all in the same run, with CUDA
 * events after warm-up on random (never zero) data. Prints a markdown report to argv[1] (or stdout). */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "tests/gpu/bench_util.h"

#define CK(call) BENCH_CK(call)

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
    fprintf(out, "## GPU benchmark: %s (sm_%d%d, %d SMs, %.1f GiB)\n\n", prop.name, prop.major,
            prop.minor, prop.multiProcessorCount, (double)prop.totalGlobalMem / (1 << 30));

    const double bw = bench_copy_bandwidth();
    fprintf(out, "- device copy (cudaMemcpy D2D, 2 GiB, read + write): **%.0f GB/s**\n", bw);
    const double peak = bench_gemm_peak();
    fprintf(out, "- cuBLAS bf16 GEMM 8192x8192x8192 (fp32 accumulate): **%.0f TFLOP/s**\n\n", peak);

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
    bench_fill_bf16(wh, wmax);
    bench_fill_f32(xh, (size_t)64 * 9728);
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
    if (out != stdout) fclose(out);
    return 0;
}
