/* GPU benchmark of the whole model (not a test): loads a checkpoint (a Qwen3-4B-shaped one from
 * berth-make-model in tests/gpu/run.sh) on the CUDA backend and measures, in one run, against the
 * device's copy bandwidth and cuBLAS bf16 GEMM peak measured by the same program:
 *  - prefill: 64 prompts of CTX tokens, 4 per step (2048-token steps), tokens/s and matmul TFLOP/s;
 *  - decode at batch 1, 8, 32, 64 (every sequence at context CTX): a full engine step (stage the batch,
 *    upload, forward, download the logits rows) op by op and as a replayed CUDA graph, and the forward
 *    alone on the GPU (CUDA events, steps back to back); batch 1's weight + KV bytes per forward as a
 *    percentage of the copy bandwidth.
 * Usage: bench_model MODEL_DIR REPORT.md [CTX]. Writes markdown to REPORT.md. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "tests/gpu/bench_util.h"
#include "tests/gpu/gpu_model.h"

#define MAX_SEQS 64
#define PREFILL_SEQS_PER_STEP 4
#define DECODE_STEPS 32
#define WARM_STEPS 3

static gm_runner run;
static kvb_table tables[MAX_SEQS];
static int32_t ctx = 512;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_model: %s: %s\n", what, msg);
    exit(1);
}

/* Stages decode step k (position ctx + k) of sequences 0 .. B-1 and uploads it. */
static void stage_decode(int B, int k)
{
    char err[512];
    step_batch_reset(&run.batch);
    for (int s = 0; s < B; s++) {
        int32_t tok = (s * 7919 + k * 104729) % run.vocab;
        if (step_batch_add(&run.batch, &tables[s], &tok, 1, ctx + k, true, err, sizeof err) < 0)
            die("staging a decode step", err);
    }
    if (step_batch_upload(&run.batch, err, sizeof err)) die("upload", err);
    run.batch.dev.max_seq_len = 0; /* the plan a graph is recorded with: valid for any context */
}

static void forward(void)
{
    char err[1024];
    if (model_forward(run.m, &run.batch.dev, &run.dev_logits, err, sizeof err)) die("forward", err);
}

static void download(void)
{
    char err[1024];
    if (gm_download(&run, err, sizeof err)) die("download", err);
}

/* GPU milliseconds per forward (or replay), `iters` back to back on the backend's stream. */
static double gpu_ms(bk_cuda_graph *g, int iters)
{
    cudaStream_t s = (cudaStream_t)bk_cuda_stream(run.be);
    cudaEvent_t e0, e1;
    BENCH_CK(cudaEventCreate(&e0));
    BENCH_CK(cudaEventCreate(&e1));
    BENCH_CK(cudaEventRecord(e0, s));
    for (int i = 0; i < iters; i++) {
        if (g) {
            if (bk_cuda_graph_launch(run.be, g)) die("graph launch", run.be->ops->last_error(run.be));
        } else {
            forward();
        }
    }
    BENCH_CK(cudaEventRecord(e1, s));
    BENCH_CK(cudaEventSynchronize(e1));
    float ms = 0;
    BENCH_CK(cudaEventElapsedTime(&ms, e0, e1));
    BENCH_CK(cudaEventDestroy(e0));
    BENCH_CK(cudaEventDestroy(e1));
    return (double)ms / iters;
}

/* Wall milliseconds per full step (stage, upload, forward or replay, download). */
static double step_ms(int B, bk_cuda_graph *g)
{
    double t0 = 0;
    for (int k = 0; k < WARM_STEPS + DECODE_STEPS; k++) {
        if (k == WARM_STEPS) t0 = bench_now();
        stage_decode(B, k);
        if (g) {
            if (bk_cuda_graph_launch(run.be, g)) die("graph launch", run.be->ops->last_error(run.be));
        } else {
            forward();
        }
        download();
    }
    return (bench_now() - t0) * 1e3 / DECODE_STEPS;
}

static bk_cuda_graph *record(int B)
{
    stage_decode(B, 0);
    forward(); /* every GEMM shape planned before recording */
    bk_cuda_graph *g = NULL;
    if (bk_cuda_capture_begin(run.be)) die("capture_begin", run.be->ops->last_error(run.be));
    char err[1024];
    const int rc = model_forward(run.m, &run.batch.dev, &run.dev_logits, err, sizeof err);
    if (bk_cuda_capture_end(run.be, &g) || rc)
        die("recording a decode step", rc ? err : run.be->ops->last_error(run.be));
    return g;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_model MODEL_DIR REPORT.md [CTX]\n");
        return 2;
    }
    if (argc > 3) ctx = atoi(argv[3]);
    if (ctx < 16 || ctx > 32768) die("CTX", "expected 16 .. 32768");
    if (bk_cuda_device_count() == 0) {
        fprintf(stderr, "bench_model: no CUDA device %s\n", bk_cuda_init_error());
        return 77;
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) die(argv[2], "cannot open for writing");
    const double bw = bench_copy_bandwidth(), peak = bench_gemm_peak();

    char err[1024];
    size_t free_b = 0, total_b = 0;
    if (bk_cuda_device_memory(0, &free_b, &total_b)) die("device memory", "cannot be read");
    size_t budget = free_b / 10 * 8;
    if (budget > ((size_t)48 << 30)) budget = (size_t)48 << 30;
    bk_backend *be = bk_cuda_create(0, budget, err, sizeof err);
    if (!be) die("bk_cuda_create", err);
    const int32_t per_seq = gm_blocks_for(ctx + WARM_STEPS + DECODE_STEPS);
    const double t_load = bench_now();
    if (gm_open(&run, be, argv[1], MAX_SEQS * per_seq, PREFILL_SEQS_PER_STEP * ctx, MAX_SEQS, per_seq,
                err, sizeof err))
        die(argv[1], err);
    const double load_s = bench_now() - t_load;
    const model_config *c = model_get_config(run.m);
    const double H = c->hidden_size, I = c->intermediate_size, D = c->head_dim;
    const double layer_params = H * (c->num_q_heads + 2.0 * c->num_kv_heads) * D +
                                c->num_q_heads * D * H + 2.0 * I * H + I * H;
    const double matmul_params = c->num_layers * layer_params; /* lm_head counted per logits row */
    const double head_params = (double)c->vocab_size * H;
    const double weight_bytes = (matmul_params + head_params) * 2.0; /* bf16 */
    const double kv_token_bytes = (double)model_kv_bytes_per_token(run.m, be->kv_dtype);

    fprintf(out, "## Model benchmark: %s\n\n", argv[1]);
    fprintf(out, "- %d layers, hidden %d, %d/%d heads x %d, intermediate %d, vocab %d; %.2f GB of bf16 "
                 "matmul weights read per decode step (lm_head included); KV cache %s, %.0f KiB per "
                 "token\n", c->num_layers, c->hidden_size, c->num_q_heads, c->num_kv_heads,
            c->head_dim, c->intermediate_size, c->vocab_size, weight_bytes / 1e9,
            bk_dtype_name(be->kv_dtype), kv_token_bytes / 1024);
    fprintf(out, "- device copy bandwidth (read + write): **%.0f GB/s**; cuBLAS bf16 GEMM peak: "
                 "**%.0f TFLOP/s** (both measured by this program)\n", bw, peak);
    fprintf(out, "- load (safetensors mmap, copy to the device): %.1f s\n\n", load_s);

    /* ---- prefill: MAX_SEQS prompts of ctx tokens, PREFILL_SEQS_PER_STEP per step ---- */
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)ctx);
    double t_prefill = 0;
    int64_t timed_tokens = 0;
    for (int s0 = 0; s0 < MAX_SEQS; s0 += PREFILL_SEQS_PER_STEP) {
        step_batch_reset(&run.batch);
        for (int s = s0; s < s0 + PREFILL_SEQS_PER_STEP; s++) {
            for (int32_t i = 0; i < ctx; i++) prompt[i] = (int32_t)((s * 131071 + i * 8191) % c->vocab_size);
            if (kvb_table_reserve(&run.pool, &tables[s], ctx + WARM_STEPS + DECODE_STEPS))
                die("prefill", "KV blocks ran out");
            if (step_batch_add(&run.batch, &tables[s], prompt, ctx, 0, true, err, sizeof err) < 0)
                die("prefill", err);
        }
        const double t0 = bench_now();
        if (gm_step(&run, true, err, sizeof err)) die("prefill step", err);
        if (s0 > 0) { /* the first step plans the GEMM shapes */
            t_prefill += bench_now() - t0;
            timed_tokens += (int64_t)PREFILL_SEQS_PER_STEP * ctx;
        }
    }
    free(prompt);
    const double pf_tps = (double)timed_tokens / t_prefill;
    const double pf_tflops = pf_tps * 2.0 * matmul_params / 1e12;
    fprintf(out, "### Prefill\n\n%d-token steps (%d prompts of %d tokens each), %lld tokens timed: "
                 "**%.0f tokens/s**; the matmuls alone at that rate are %.0f TFLOP/s = **%.1f%% of the "
                 "cuBLAS peak** (attention FLOPs not counted).\n\n",
            PREFILL_SEQS_PER_STEP * ctx, PREFILL_SEQS_PER_STEP, ctx, (long long)timed_tokens, pf_tps,
            pf_tflops, 100.0 * pf_tflops / peak);

    /* ---- decode ---- */
    static const int Bs[] = {1, 8, 32, 64};
    fprintf(out, "### Decode (context %d)\n\nstep = stage + upload + forward + download of the logits "
                 "rows (what the engine does before sampling); forward = GPU time of the forward "
                 "alone, %d back to back. %% of copy bw: (weights + KV read) / forward time.\n\n",
            ctx, DECODE_STEPS);
    fprintf(out, "| batch | step ms | step ms, graph | forward ms | forward ms, graph | tokens/s "
                 "(graph step) | x batch 1 | %% of copy bw (graph forward) |\n"
                 "|---|---|---|---|---|---|---|---|\n");
    double base_tps = 0;
    for (size_t bi = 0; bi < sizeof Bs / sizeof Bs[0]; bi++) {
        const int B = Bs[bi];
        const double st = step_ms(B, NULL);
        stage_decode(B, 0);
        const double fw = gpu_ms(NULL, DECODE_STEPS);
        bk_cuda_graph *g = record(B);
        const double stg = step_ms(B, g);
        stage_decode(B, 0);
        const double fwg = gpu_ms(g, DECODE_STEPS);
        bk_cuda_graph_free(g);
        const double tps = B / (stg * 1e-3);
        if (B == 1) base_tps = tps;
        const double bytes = weight_bytes + (double)B * (ctx + 1) * kv_token_bytes;
        fprintf(out, "| %d | %.3f | %.3f | %.3f | %.3f | %.0f | %.1f | %.1f%% |\n", B, st, stg, fw, fwg,
                tps, tps / base_tps, 100.0 * bytes / (fwg * 1e-3) / 1e9 / bw);
    }
    fprintf(out, "\nTarget (issue 7): batch 1 at >= 85%% of the copy bandwidth; near-linear scaling "
                 "to batch 32.\n");
    for (int s = 0; s < MAX_SEQS; s++) {
        kvb_table_release(&run.pool, &tables[s]);
        kvb_table_free(&tables[s]);
    }
    gm_close(&run);
    be->ops->destroy(be);
    fclose(out);
    return 0;
}
