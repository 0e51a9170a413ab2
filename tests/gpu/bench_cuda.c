/* GPU benchmark (not a test): measures the device's copy bandwidth and cuBLAS bf16 GEMM peak, then
 * times the CUDA backend's matmul and prefill attention (SIMT and tensor-core kernels) at Qwen3-4B's
 * shapes against them, all in the same run, with CUDA events after warm-up on random (never zero) data.
 * Prints a markdown report to argv[1] (or stdout). */
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

/* Prefill attention at Qwen3-4B's shape (32 query heads, 8 KV heads, head_dim 128, bf16 cache): one
 * 512-token chunk after a cached prefix of 0 and of 3584 tokens, on the SIMT kernel
 * (BERTH_CUDA_PREFILL_ATTN=simt) and on the tensor-core one. FLOPs count what causal attention needs:
 * 4·D per (query head, attended position). */
static void bench_prefill_attention(FILE *out, bk_backend *be, double peak)
{
    enum { HQ = 32, HKV = 8, D = 128, C = 512, MAXP = 3584, MB = (MAXP + C) / 16 };
    const bk_attn_shape sh = {HQ, HKV, D, 0};
    const int64_t kv_cols = (int64_t)HKV * 16 * D;
    uint16_t *kvh = malloc((size_t)MB * kv_cols * sizeof *kvh);
    float *qh = malloc((size_t)C * HQ * D * sizeof *qh);
    bench_fill_bf16(kvh, (size_t)MB * kv_cols);
    bench_fill_f32(qh, (size_t)C * HQ * D);
    bk_kv_layer kv = {0};
    bk_tensor q = {0}, o = {0};
    if (be->ops->tensor_from_host(be, &kv.k, BK_BF16, MB, kv_cols, kvh) ||
        be->ops->tensor_from_host(be, &kv.v, BK_BF16, MB, kv_cols, kvh) ||
        be->ops->tensor_from_host(be, &q, BK_F32, C, (int64_t)HQ * D, qh) ||
        be->ops->tensor_alloc(be, &o, BK_F32, C, (int64_t)HQ * D)) {
        fprintf(stderr, "prefill attention setup: %s\n", be->ops->last_error(be));
        exit(1);
    }
    cudaStream_t bs = (cudaStream_t)bk_cuda_stream(be);
    fprintf(out, "\nPrefill attention, Qwen3-4B shape (Hq 32, Hkv 8, D 128, bf16 cache), one sequence, "
                 "a %d-token chunk after a cached prefix; TFLOP/s counts 4·D per causal (head, "
                 "position) pair, %% is of the GEMM peak above.\n\n", C);
    fprintf(out, "| prefix | kernel | ms | TFLOP/s | %% of GEMM peak |\n|---|---|---|---|---|\n");
    static const int prefixes[] = {0, MAXP};
    for (size_t pi = 0; pi < sizeof prefixes / sizeof prefixes[0]; pi++) {
        const int P = prefixes[pi];
        int32_t pos[C], qs[2] = {0, C}, len[1] = {P + C}, bt[MB];
        for (int t = 0; t < C; t++) pos[t] = P + t;
        for (int j = 0; j < MB; j++) bt[j] = j;
        bk_batch b = {0};
        b.num_tokens = C;
        b.num_seqs = 1;
        b.max_blocks = MB;
        b.max_seq_len = P + C;
        if (be->ops->tensor_from_host(be, &b.positions, BK_I32, 1, C, pos) ||
            be->ops->tensor_from_host(be, &b.query_start, BK_I32, 1, 2, qs) ||
            be->ops->tensor_from_host(be, &b.seq_lens, BK_I32, 1, 1, len) ||
            be->ops->tensor_from_host(be, &b.block_tables, BK_I32, 1, MB, bt)) {
            fprintf(stderr, "prefill attention batch: %s\n", be->ops->last_error(be));
            exit(1);
        }
        const double flop = 4.0 * HQ * D * ((double)C * P + (double)C * (C + 1) / 2);
        for (int tc = 0; tc < 2; tc++) {
            if (tc)
                unsetenv("BERTH_CUDA_PREFILL_ATTN");
            else
                setenv("BERTH_CUDA_PREFILL_ATTN", "simt", 1);
            double ms;
            int rc = 0;
            TIME_MS(bs, 3, 20, ms, rc |= be->ops->attention(be, &o, &q, &kv, &b, sh, 0.088f));
            if (rc) {
                fprintf(stderr, "attention: %s\n", be->ops->last_error(be));
                exit(1);
            }
            const double tf = flop / (ms * 1e-3) / 1e12;
            fprintf(out, "| %d | %s | %.3f | %.1f | %.1f%% |\n", P, tc ? "tensor cores (WMMA)" : "SIMT",
                    ms, tf, 100.0 * tf / peak);
        }
        be->ops->tensor_free(be, &b.positions);
        be->ops->tensor_free(be, &b.query_start);
        be->ops->tensor_free(be, &b.seq_lens);
        be->ops->tensor_free(be, &b.block_tables);
    }
    unsetenv("BERTH_CUDA_PREFILL_ATTN");
    be->ops->tensor_free(be, &kv.k);
    be->ops->tensor_free(be, &kv.v);
    be->ops->tensor_free(be, &q);
    be->ops->tensor_free(be, &o);
    free(kvh);
    free(qh);
}

int main(int argc, char **argv)
{
    FILE *out = argc > 1 ? fopen(argv[1], "w") : stdout;
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    if (bk_cuda_device_count() == 0) {
        fprintf(stderr, "bench_cuda: no CUDA device %s\n", bk_cuda_init_error());
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
    bench_prefill_attention(out, be, peak);
    fprintf(out, "\ncuBLASLt: %llu plans made, %llu shapes without an algorithm (GEMV fallback)\n",
            bk_cuda_lt_heuristics(be), bk_cuda_lt_fallbacks(be));
    be->ops->destroy(be);
    if (out != stdout) fclose(out);
    return 0;
}
