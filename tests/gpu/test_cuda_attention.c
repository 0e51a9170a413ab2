/* The fused Q/K RMSNorm + RoPE + KV-cache write and paged attention of the CUDA backend against the
 * CPU backend: GQA ratios 1..16, head_dim 32/64/128/256, BF16 and F32 caches, shuffled block tables,
 * decode batches (including contexts of 40,000 tokens that take the split + log-sum-exp path), mixed
 * batches, and prefill chunks attending to a cached prefix, with and without a sliding window.
 * Tolerances (NMSE, max-abs as a fraction of max |cpu|):
 *   q_out, F32 cache, attention output: fp32 math in another order    1e-9, 1e-4
 *   BF16 cache: both round the same f32 to bf16; a value that lands
 *   within float noise of a rounding boundary may differ by one ulp   1e-6, 1e-2
 *   tensor-core prefill (BF16 cache, head_dim 64/128, T > 4·S): q and
 *   the softmax weights are rounded to bf16 for the MMAs (measured in
 *   the emulator: NMSE ~2e-6, max-abs ~2e-3)                           2e-5, 1e-2
 * A wrong mask, block or GQA head moves outputs by ~0.1 to 1, far outside every tolerance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/gpu/gpu_twin.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/test_support.h"

static oh_rng rng;

typedef struct batch_case {
    const char *name;
    int S;
    int cached[4], fresh[4];
} batch_case;

static const batch_case cases[] = {
    {"decode S=1 ctx=1", 1, {0}, {1}},
    {"decode S=4", 4, {15, 16, 100, 1999}, {1, 1, 1, 1}},
    {"decode with an idle sequence", 3, {40, 0, 7}, {1, 0, 1}},
    {"mixed decode + short chunks", 4, {0, 33, 7, 200}, {1, 7, 1, 3}},
    {"prefill from empty", 1, {0}, {300}},
    {"prefill chunks on cached prefixes", 3, {16, 0, 1000}, {17, 64, 20}},
    {"prefill with an idle sequence", 3, {10, 5, 0}, {5, 0, 9}},
};

/* The tensor-core prefill kernel's corners beyond the cases above: chunks starting mid-block and
 * mid-tile next to tile-aligned ones, several sequences per batch, and the GQA groups the grid above
 * lacks (it has 1, 3, 4 and 16), packed into 64-row tiles, some leaving rows unused. */
static const struct {
    batch_case bc;
    bk_attn_shape sh[4];
} tc_cases[] = {
    {{"chunks starting mid-block", 3, {5, 31, 250}, {40, 9, 77}},
     {{8, 4, 64, 0}, {10, 2, 64, 0}, {14, 2, 128, 0}, {16, 2, 128, 0}}}, /* G = 2, 5, 7, 8 */
    {{"tile-aligned chunks on aligned prefixes", 2, {32, 64}, {64, 32}},
     {{4, 4, 128, 0}, {6, 1, 128, 0}, {0}, {0}}}, /* G = 1 at head_dim 128, 6 */
};

static const bk_attn_shape shapes[] = {
    {4, 4, 64, 0},  {8, 2, 128, 0}, {32, 8, 128, 0}, {12, 4, 64, 0}, {16, 2, 256, 0},
    {16, 1, 128, 0}, {6, 2, 32, 0}, {2, 1, 32, 0},
};

/* The KV pool of a batch, filled with random values (both backends get the same bytes). */
static int make_cache(bk_kv_layer *cpu_kv, bk_kv_layer *gpu_kv, twin *k, twin *v, bk_dtype dt,
                      int num_blocks, bk_attn_shape sh)
{
    const int64_t cols = (int64_t)sh.kv_heads * BK_KV_BLOCK * sh.head_dim;
    const size_t n = (size_t)num_blocks * (size_t)cols;
    void *raw = malloc(n * 4);
    float *vals = malloc(n * sizeof(float));
    int rc = -1;
    if (raw && vals) {
        oh_random_weights(&rng, dt, n, 1.0f, raw, vals);
        rc = twin_upload(k, dt, num_blocks, cols, raw);
        oh_random_weights(&rng, dt, n, 1.0f, raw, vals);
        if (!rc) rc = twin_upload(v, dt, num_blocks, cols, raw);
    }
    free(raw);
    free(vals);
    cpu_kv->k = k->c;
    cpu_kv->v = v->c;
    gpu_kv->k = k->g;
    gpu_kv->v = v->g;
    return rc;
}

static void run_qk_store(const batch_case *bc, bk_attn_shape sh, bk_dtype dt, int with_norm)
{
    oh_batch hb;
    if (oh_make_batch(&rng, &hb, bc->S, bc->cached, bc->fresh, 3)) {
        CHECKF(0, "oh_make_batch failed");
        return;
    }
    const int T = hb.T, Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim;
    char what[160];
    snprintf(what, sizeof what, "qk_norm_rope_store [%s] Hq=%d Hkv=%d D=%d %s norm=%d", bc->name,
             Hq, Hkv, D, bk_dtype_name(dt), with_norm);
    float *qkv = malloc((size_t)(T ? T : 1) * (Hq + 2 * Hkv) * D * sizeof(float));
    float *qn = malloc((size_t)D * sizeof(float)), *kn = malloc((size_t)D * sizeof(float));
    float *invf = malloc((size_t)D / 2 * sizeof(float));
    oh_fill_uniform(&rng, qkv, (size_t)T * (Hq + 2 * Hkv) * D, -3.0f, 3.0f);
    oh_fill_uniform(&rng, qn, (size_t)D, 0.5f, 1.5f);
    oh_fill_uniform(&rng, kn, (size_t)D, 0.5f, 1.5f);
    for (int i = 0; i < D / 2; i++) invf[i] = powf(1e6f, -2.0f * (float)i / (float)D);
    twin_batch b;
    twin x, qnt, knt, ift, q, k, v;
    bk_kv_layer ckv, gkv;
    memset(&k, 0, sizeof k);
    memset(&v, 0, sizeof v);
    if (!twin_batch_upload(&b, &hb) && !twin_upload(&x, BK_F32, T, (int64_t)(Hq + 2 * Hkv) * D, qkv) &&
        !twin_upload(&qnt, BK_F32, 1, D, qn) && !twin_upload(&knt, BK_F32, 1, D, kn) &&
        !twin_upload(&ift, BK_F32, 1, D / 2, invf) && !twin_poison(&q, T, (int64_t)Hq * D) &&
        !make_cache(&ckv, &gkv, &k, &v, dt, hb.num_blocks, sh) &&
        twin_ok(twin_cpu, twin_cpu->ops->qk_norm_rope_store(twin_cpu, &q.c, &x.c,
                    with_norm ? &qnt.c : NULL, with_norm ? &knt.c : NULL, &ift.c, 1e-6f, &ckv, &b.c, sh), what) &&
        twin_ok(twin_gpu, twin_gpu->ops->qk_norm_rope_store(twin_gpu, &q.g, &x.g,
                    with_norm ? &qnt.g : NULL, with_norm ? &knt.g : NULL, &ift.g, 1e-6f, &gkv, &b.g, sh), what)) {
        const double cn = dt == BK_BF16 ? 1e-6 : 1e-9, ca = dt == BK_BF16 ? 1e-2 : 1e-4;
        char w2[200];
        if (T > 0) twin_compare(what, &q, T, 1e-9, 1e-4);
        /* whole pools: written slots must match and untouched ones keep their random contents */
        snprintf(w2, sizeof w2, "%s: K cache", what);
        twin_compare(w2, &k, hb.num_blocks, cn, ca);
        snprintf(w2, sizeof w2, "%s: V cache", what);
        twin_compare(w2, &v, hb.num_blocks, cn, ca);
    }
    twin_batch_free(&b);
    twin_free(&x);
    twin_free(&qnt);
    twin_free(&knt);
    twin_free(&ift);
    twin_free(&q);
    twin_free(&k);
    twin_free(&v);
    free(qkv);
    free(qn);
    free(kn);
    free(invf);
    oh_batch_free(&hb);
}

static int tc_compared; /* comparisons made where the tensor-core kernel runs */

/* cu_attention's rule for the tensor-core prefill kernel (BERTH_CUDA_PREFILL_ATTN=simt overrides it;
 * its tolerance holds for the SIMT kernel too). */
static int uses_tc(int T, int S, bk_dtype dt, bk_attn_shape sh)
{
    return T > 4 * S && dt == BK_BF16 && (sh.head_dim == 64 || sh.head_dim == 128) &&
           sh.q_heads / sh.kv_heads <= 64;
}

static void run_attention(const batch_case *bc, bk_attn_shape sh, bk_dtype dt)
{
    oh_batch hb;
    if (oh_make_batch(&rng, &hb, bc->S, bc->cached, bc->fresh, 5)) {
        CHECKF(0, "oh_make_batch failed");
        return;
    }
    const int T = hb.T, Hq = sh.q_heads, D = sh.head_dim;
    char what[160];
    snprintf(what, sizeof what, "attention [%s] Hq=%d Hkv=%d D=%d window %d %s", bc->name, Hq,
             sh.kv_heads, D, sh.sliding_window, bk_dtype_name(dt));
    float *qh = malloc((size_t)(T ? T : 1) * Hq * D * sizeof(float));
    /* q up to ±2 makes the softmax peaked enough that a wrong mask or block shows. */
    oh_fill_uniform(&rng, qh, (size_t)T * Hq * D, -2.0f, 2.0f);
    twin_batch b;
    twin q, out, k, v;
    bk_kv_layer ckv, gkv;
    memset(&k, 0, sizeof k);
    memset(&v, 0, sizeof v);
    const float scale = 1.0f / sqrtf((float)D);
    const int tc = uses_tc(T, bc->S, dt, sh);
    if (!twin_batch_upload(&b, &hb) && !twin_upload(&q, BK_F32, T, (int64_t)Hq * D, qh) &&
        !twin_poison(&out, T, (int64_t)Hq * D) &&
        !make_cache(&ckv, &gkv, &k, &v, dt, hb.num_blocks, sh) &&
        twin_ok(twin_cpu, twin_cpu->ops->attention(twin_cpu, &out.c, &q.c, &ckv, &b.c, sh, scale), what) &&
        twin_ok(twin_gpu, twin_gpu->ops->attention(twin_gpu, &out.g, &q.g, &gkv, &b.g, sh, scale), what)) {
        tc_compared += tc;
        twin_compare(what, &out, T, tc ? 2e-5 : 1e-9, tc ? 1e-2 : 1e-4);
    }
    twin_batch_free(&b);
    twin_free(&q);
    twin_free(&out);
    twin_free(&k);
    twin_free(&v);
    free(qh);
    oh_batch_free(&hb);
}

/* A bad block_tables entry or position of a prefill chunk (both prefill kernels: BF16 takes the
 * tensor-core one, F32 the SIMT one) is skipped by the kernel and reported by the next download. */
static void run_prefill_faults(bk_dtype dt)
{
    static const int cached[1] = {20}, fresh[1] = {40};
    const bk_attn_shape sh = {8, 2, 128, 0};
    static const struct {
        int bad_block; /* else a bad position */
        const char *message;
    } faults[] = {
        {1, "attention: a block_tables entry is outside the KV pool"},
        {0, "a position is negative or not below its sequence's seq_lens"},
    };
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        oh_batch hb;
        if (oh_make_batch(&rng, &hb, 1, cached, fresh, 2)) {
            CHECKF(0, "oh_make_batch failed");
            return;
        }
        if (faults[f].bad_block)
            hb.block_tables[1] = hb.num_blocks + 7;
        else
            hb.positions[hb.T - 1] = hb.seq_lens[0] + 3;
        const int T = hb.T;
        float *qh = calloc((size_t)T * sh.q_heads * sh.head_dim, sizeof(float));
        float *host = malloc((size_t)T * sh.q_heads * sh.head_dim * sizeof(float));
        twin_batch b;
        twin q, out, k, v;
        bk_kv_layer ckv, gkv;
        memset(&k, 0, sizeof k);
        memset(&v, 0, sizeof v);
        char what[128];
        snprintf(what, sizeof what, "attention %s prefill with a bad %s", bk_dtype_name(dt),
                 faults[f].bad_block ? "block" : "position");
        if (qh && host && !twin_batch_upload(&b, &hb) &&
            !twin_upload(&q, BK_F32, T, (int64_t)sh.q_heads * sh.head_dim, qh) &&
            !twin_poison(&out, T, (int64_t)sh.q_heads * sh.head_dim) &&
            !make_cache(&ckv, &gkv, &k, &v, dt, hb.num_blocks, sh) &&
            twin_ok(twin_gpu, twin_gpu->ops->attention(twin_gpu, &out.g, &q.g, &gkv, &b.g, sh, 0.1f), what)) {
            CHECKF(twin_gpu->ops->download_rows(twin_gpu, &out.g, T, host) == -1, "%s: not reported", what);
            CHECKF(strstr(twin_gpu->ops->last_error(twin_gpu), faults[f].message) != NULL, "%s: message %s",
                   what, twin_gpu->ops->last_error(twin_gpu));
            CHECKF(twin_gpu->ops->download_rows(twin_gpu, &out.g, T, host) == 0, "%s: reported twice", what);
        }
        twin_batch_free(&b);
        twin_free(&q);
        twin_free(&out);
        twin_free(&k);
        twin_free(&v);
        free(qh);
        free(host);
        oh_batch_free(&hb);
    }
}

int main(void)
{
    if (twin_start((size_t)4 << 30)) return 1;
    oh_seed(&rng, 11);
    const size_t ncases = sizeof cases / sizeof cases[0], nshapes = sizeof shapes / sizeof shapes[0];
    for (size_t c = 0; c < ncases; c++)
        for (size_t s = 0; s < nshapes; s++) {
            /* every case in BF16 (the GPU's cache); F32 caches on a rotating subset of shapes */
            run_attention(&cases[c], shapes[s], BK_BF16);
            if ((c + s) % 2 == 0) run_attention(&cases[c], shapes[s], BK_F32);
            run_qk_store(&cases[c], shapes[s], BK_BF16, (int)((c + s) % 2));
            if ((c + s) % 3 == 0) run_qk_store(&cases[c], shapes[s], BK_F32, 1);
        }
    /* Qwen3-4B's shape at contexts long enough to split across many CTAs, with RoPE at positions
     * near max_position_embeddings. */
    static const batch_case long_cases[] = {
        {"decode ctx 40000 + 5000", 2, {39999, 5000}, {1, 1}},
        {"decode batch of 4 long", 4, {8191, 4097, 12000, 33}, {1, 1, 1, 1}},
        {"prefill chunk at 20000", 1, {20000}, {64}},
    };
    for (size_t c = 0; c < sizeof long_cases / sizeof long_cases[0]; c++) {
        run_attention(&long_cases[c], shapes[2], BK_BF16);
        run_qk_store(&long_cases[c], shapes[2], BK_BF16, 1);
    }
    for (size_t c = 0; c < sizeof tc_cases / sizeof tc_cases[0]; c++)
        for (size_t s = 0; s < 4 && tc_cases[c].sh[s].q_heads; s++)
            run_attention(&tc_cases[c].bc, tc_cases[c].sh[s], BK_BF16);
    /* Sliding windows (Mistral) against the CPU's: windows of 1, 16 (block-aligned), 37 and 100
     * (neither block- nor tile-aligned) and 4096, shorter than most contexts, on the decode kernel
     * (one split and several), the SIMT prefill (F32) and the tensor-core prefill (BF16). */
    static const batch_case window_cases[] = {
        {"decode S=4", 4, {15, 16, 100, 1999}, {1, 1, 1, 1}},
        {"prefill chunks on cached prefixes", 3, {16, 0, 1000}, {17, 64, 20}},
        {"prefill from empty", 1, {0}, {300}},
        {"decode ctx 9000 + 5000", 2, {8999, 5000}, {1, 1}},
    };
    static const bk_attn_shape window_shapes[] = {
        {8, 2, 128, 37}, {4, 4, 64, 16}, {6, 2, 32, 1}, {12, 4, 64, 100}, {32, 8, 128, 4096},
    };
    for (size_t c = 0; c < sizeof window_cases / sizeof window_cases[0]; c++)
        for (size_t s = 0; s < sizeof window_shapes / sizeof window_shapes[0]; s++) {
            run_attention(&window_cases[c], window_shapes[s], BK_BF16);
            if (c < 3) run_attention(&window_cases[c], window_shapes[s], BK_F32);
        }
    /* 3 prefill cases x 5 shapes of the grid, the long chunk, the 6 of tc_cases, and 2 windowed
     * prefill cases x 4 shapes at head_dim 64/128 */
    CHECKF(tc_compared == 30, "%d comparisons on the tensor-core kernel's path, expected 30", tc_compared);
    run_prefill_faults(BK_BF16);
    run_prefill_faults(BK_F32);
    twin_stop();
    return test_finish("test_cuda_attention");
}
