/* The backend op interface: everything the model code may do to device memory.
 * Owns: tensor handles, the flat batch layout, and the table of ops each backend implements.
 * Must not: know about models, tokenizers or requests. Model code never dereferences `bk_tensor.data`;
 * only the backend that created a tensor may. Layouts are those of ../shared/design/KERNELS.md. */
#ifndef BERTH_KERNELS_BACKEND_H
#define BERTH_KERNELS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BK_F32 = 0,
    BK_F16,
    BK_BF16,
    BK_I32,
    /* Weights only, CPU only: per-output-row symmetric int8. [rows][cols] int8, then (at
     * bk_q8_scales_offset) one f32 scale per row; w[r][c] = scale[r] * q[r][c]. bk_dtype_size is
     * the 1 byte of a q; a tensor takes bk_q8_bytes. */
    BK_Q8,
} bk_dtype;

size_t bk_dtype_size(bk_dtype dtype);
const char *bk_dtype_name(bk_dtype dtype);

/* Where a BK_Q8 tensor's row scales start (64-byte aligned) and its whole size in bytes. */
static inline size_t bk_q8_scales_offset(int64_t rows, int64_t cols)
{
    return ((size_t)rows * (size_t)cols + 63) / 64 * 64;
}
static inline size_t bk_q8_bytes(int64_t rows, int64_t cols)
{
    return bk_q8_scales_offset(rows, cols) + (size_t)rows * sizeof(float);
}
/* Quantises W [rows][cols] (BK_F32, BK_F16 or BK_BF16 host values) into dst (bk_q8_bytes): per
 * row scale = max|w| / 127 (1 for an all-zero row), q = w / scale rounded to nearest, ties away
 * from zero. Returns -1 for another src dtype. */
int bk_q8_quantize(void *dst, const void *src, bk_dtype src_dtype, int64_t rows, int64_t cols);
/* The same into q [rows][cols] and scales [rows] anywhere (stacking parts of one Q8 tensor). */
int bk_q8_quantize_rows(int8_t *q, float *scales, const void *src, bk_dtype src_dtype, int64_t rows,
                        int64_t cols);

/* A 2-D row-major tensor [rows][cols] in one backend's memory (1-D: rows = 1). */
typedef struct bk_tensor {
    bk_dtype dtype;
    int64_t rows, cols;
    void *data; /* device address: opaque outside the backend that made it */
    int owned;  /* freed by tensor_free (0 for views and zero-copy host wraps; -1 for a host wrap
                 * charged to a CPU memory budget: tensor_free only uncharges it) */
} bk_tensor;

static inline int64_t bk_numel(const bk_tensor *t)
{
    return t->rows * t->cols;
}

/* Tokens per KV-cache block. */
#define BK_KV_BLOCK 16

/* One layer's paged KV cache: K and V each [num_blocks][kv_heads][BK_KV_BLOCK][head_dim], dtype F32
 * or BF16 (every backend supports both, so the CPU can act as the CUDA backend's twin). */
typedef struct bk_kv_layer {
    bk_tensor k, v; /* rows = num_blocks, cols = kv_heads * BK_KV_BLOCK * head_dim */
} bk_kv_layer;

/* The flat batch handed to forward (KERNELS.md): T tokens of S sequences, R rows that need logits.
 * The int32 arrays live on the device; the counts are host values. */
typedef struct bk_batch {
    int32_t num_tokens;     /* T */
    int32_t num_seqs;       /* S */
    int32_t num_logit_rows; /* R */
    int32_t max_blocks;     /* columns of block_tables */
    int32_t max_seq_len;    /* the largest seq_lens[s]: sizes attention scratch */
    bk_tensor token_ids;    /* [T] */
    bk_tensor positions;    /* [T] position of each token in its sequence */
    bk_tensor slot_mapping; /* [T] block * BK_KV_BLOCK + offset where its K/V is written */
    bk_tensor query_start;  /* [S+1] prefix sums over tokens per sequence */
    bk_tensor seq_lens;     /* [S] context length of each sequence after this step */
    bk_tensor block_tables; /* [S][max_blocks] physical block ids, in order */
    bk_tensor logit_rows;   /* [R] which of the T rows produce logits */
} bk_batch;

/* Shapes of the attention block, fixed per model. */
typedef struct bk_attn_shape {
    int32_t q_heads, kv_heads, head_dim;
    /* Sliding-window attention (Mistral): a token at position p attends to positions
     * p - sliding_window + 1 .. p, as Hugging Face's mask; 0 = every earlier position. */
    int32_t sliding_window;
} bk_attn_shape;

/* One row's sampling parameters: the `params` tensor of the sample op is I32
 * [R][BK_SAMPLE_PARAM_WORDS] holding one of these per row, byte for byte (upload an array of them
 * with upload_rows). */
typedef struct bk_sample_params {
    uint64_t seed;            /* with step, selects the Philox4x32-10 uniform of the draw */
    uint64_t step;            /* tokens the request has generated so far */
    float temperature;        /* <= 0: greedy (the first maximum) */
    float top_p;              /* 1 = off */
    float min_p;              /* 0 = off */
    int32_t top_k;            /* <= 0 = off */
    float presence_penalty;   /* OpenAI semantics, on generated tokens */
    float frequency_penalty;  /* OpenAI semantics, on generated tokens */
    float repetition_penalty; /* HF/vLLM semantics, on prompt and generated tokens; 1 = off */
    int32_t num_logprobs;     /* -1: none; else the chosen token's logprob and this many top ones */
    int32_t masked;           /* nonzero: the op's `mask` row of this row applies (constrained) */
    int32_t reserved;         /* 0; keeps the struct a whole number of u64 */
} bk_sample_params;

#define BK_SAMPLE_PARAM_WORDS 14
/* 32-bit words in one row of the sample op's mask: bit i of word w allows token 32*w + i. */
#define BK_SAMPLE_MASK_WORDS(V) (((V) + 31) / 32)
#define BK_SAMPLE_MAX_TOP 20
/* The sample op's largest vocabulary (its integer candidate weights must not overflow). */
#define BK_SAMPLE_MAX_VOCAB (1 << 23)
/* In the sample op's `counts`: set when the token occurs in the prompt; the low bits count how
 * often it was generated. */
#define BK_SAMPLE_IN_PROMPT (1 << 30)

typedef struct bk_backend bk_backend;

/* A backend's memory accounting: every byte it holds for weights, KV cache and workspace counts,
 * library workspaces included. */
typedef struct bk_memory_stats {
    size_t budget; /* the whole budget (the share); 0 = no limit */
    size_t fixed;  /* reserved at create for the backend's own workspace (cuBLASLt, op scratch) */
    size_t in_use; /* fixed + every tensor and op scratch now held */
    size_t peak;   /* the most in_use has been */
} bk_memory_stats;

/* A recorded sequence of ops (a CUDA graph), opaque outside the backend that recorded it. */
typedef struct bk_graph bk_graph;

/* The op table. Every op returns 0 on success or -1 with a message available from `last_error`.
 * Activations are f32; weights may be f32, f16 or bf16; accumulation is fp32 everywhere. */
typedef struct bk_ops {
    /* ---- memory ---- */
    int (*tensor_alloc)(bk_backend *be, bk_tensor *out, bk_dtype dtype, int64_t rows, int64_t cols);
    /* Makes a tensor of host bytes that stay valid for the backend's lifetime (an mmap'd
     * checkpoint): the CPU backend uses them in place, a GPU backend copies them to the device. */
    int (*tensor_from_host)(bk_backend *be, bk_tensor *out, bk_dtype dtype, int64_t rows,
                            int64_t cols, const void *host);
    void (*tensor_free)(bk_backend *be, bk_tensor *t);
    /* Copies host bytes into rows [row0, row0 + nrows) of t (row width = t->cols elements). */
    int (*upload_rows)(bk_backend *be, bk_tensor *t, int64_t row0, int64_t nrows, const void *host);
    /* Copies the first nrows rows of t to host memory. Waits for all queued work first. */
    int (*download_rows)(bk_backend *be, const bk_tensor *t, int64_t nrows, void *host);
    /* Sets every byte of t to `byte` (tests poison outputs with it). */
    int (*fill_bytes)(bk_backend *be, bk_tensor *t, int byte);
    /* Bytes tensor_alloc can still hand out: the rest of the memory budget, SIZE_MAX without one.
     * The engine sizes the KV cache with it. Optional: NULL means no limit is known. */
    size_t (*bytes_free)(const bk_backend *be);
    /* What the memory budget holds (docs/components.md, "Memory shares"). Optional (NULL: no
     * accounting). */
    void (*memory_stats)(const bk_backend *be, struct bk_memory_stats *out);
    /* Bytes the sample op takes beside its tensors for a vocabulary of `vocab` (host scratch on the
     * CPU, charged to the budget at its first call), so that a KV cache sized from what is left
     * leaves room for it. Optional: NULL means none. */
    size_t (*sample_workspace_bytes)(const bk_backend *be, int32_t vocab);

    /* ---- ops ---- */
    /* out[t] = table[ids[t]] converted to f32. out: [T][H] f32, table: [V][H] any float dtype. */
    int (*embedding)(bk_backend *be, bk_tensor *out, const bk_tensor *table, const bk_tensor *ids,
                     int32_t num_tokens);
    /* residual += delta (skipped when delta is NULL); out = rmsnorm(residual) * weight.
     * residual, delta, out: [T][H] f32; weight: [H] f32. */
    int (*add_rmsnorm)(bk_backend *be, bk_tensor *residual, const bk_tensor *delta,
                       const bk_tensor *weight, bk_tensor *out, float eps, int32_t num_tokens);
    /* out[T][N] = x[T][K] · W[N][K]ᵀ (+ bias[N] when not NULL). */
    int (*matmul)(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
                  const bk_tensor *bias, int32_t num_tokens);
    /* Per token of qkv [T][(Hq + 2·Hkv)·D] (q heads, then k heads, then v heads):
     * RMSNorm each q and k head with q_norm / k_norm [D] (skipped when NULL), rotate q and k by
     * RoPE (NeoX half split) at positions[t] with inv_freq [D/2], write q to q_out [T][Hq·D], and
     * write k and v into the cache at slot_mapping[t]. */
    int (*qk_norm_rope_store)(bk_backend *be, bk_tensor *q_out, const bk_tensor *qkv,
                              const bk_tensor *q_norm, const bk_tensor *k_norm,
                              const bk_tensor *inv_freq, float norm_eps, bk_kv_layer *kv,
                              const bk_batch *batch, bk_attn_shape shape);
    /* out [T][Hq·D]: each token attends causally over its sequence's paged cache, positions
     * 0..positions[t] (its own K/V already stored), or the last shape.sliding_window of them.
     * GQA: q head h reads kv head h / (Hq / Hkv). */
    int (*attention)(bk_backend *be, bk_tensor *out, const bk_tensor *q, const bk_kv_layer *kv,
                     const bk_batch *batch, bk_attn_shape shape, float scale);
    /* out[T][I] = silu(gate_up[t][0..I)) * gate_up[t][I..2I). */
    int (*silu_mul)(bk_backend *be, bk_tensor *out, const bk_tensor *gate_up, int32_t num_tokens);
    /* out[r] = x[rows[r]] for r < num_rows: picks the rows that need logits. */
    int (*gather_rows)(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *rows,
                       int32_t num_rows);
    /* out[r] = argmax of logits[r] (the lowest index on ties). out: [R] i32. */
    int (*argmax)(bk_backend *be, bk_tensor *out, const bk_tensor *logits, int32_t num_rows);

    /* Samples one token per row of logits [R][V] f32 (not modified), with the host sampler's
     * semantics (kernels/sampling_math.h): logits + bias, then penalties, then temperature, top-k,
     * min-p, top-p and the Philox(seed, step) draw; so a row's token depends on its inputs only.
     * params: I32 [R][BK_SAMPLE_PARAM_WORDS] of bk_sample_params. bias: F32 [R][V], added first
     * (logit_bias; -inf suppresses a token for min_tokens: its logit becomes -inf whatever it
     * was, as the host sampler's suppression), or NULL. counts: I32 [R][V], generated
     * count | BK_SAMPLE_IN_PROMPT, or NULL (no penalties). out: [R] i32 token ids.
     * logprobs: F32 [R][1 + BK_SAMPLE_MAX_TOP] and top_ids: I32 [R][BK_SAMPLE_MAX_TOP], both or
     * neither (NULL): a row with num_logprobs = n >= 0 gets the chosen token's raw log-softmax in
     * column 0, the n largest raw log-softmax values in columns 1..n and their ids in top_ids
     * (index ascending on ties); other entries are left as they are.
     * mask: I32 [R][BK_SAMPLE_MASK_WORDS(V)] packed bits (set = allowed), or NULL; a row reads
     * its mask row only when its params say `masked` (unconstrained rows cost nothing and sample
     * exactly as without a mask). A disallowed token's raw logit is -inf before anything else
     * (bias, penalties, temperature, the cuts), and the logprobs are those of the masked logits
     * (log-softmax over the allowed tokens), as vLLM returns them after its grammar bitmask. */
    int (*sample)(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
                  const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
                  const bk_tensor *counts, const bk_tensor *mask, int32_t num_rows);

    /* ---- lifetime ---- */
    const char *(*last_error)(bk_backend *be);
    void (*destroy)(bk_backend *be);

    /* ---- graphs: optional, NULL where the backend cannot record (the CPU) ----
     * Between graph_capture_begin and graph_capture_end the ops are recorded instead of run;
     * graph_launch replays them with the tensors (addresses) and host values (batch counts,
     * max_seq_len's attention plan, num_rows) they were recorded with, while what the tensors hold
     * may change. upload_rows and download_rows are refused while recording. capture_end always
     * stops recording; it returns -1 with *out NULL when an op failed while recording.
     * docs/design/cuda-backend.md, "Streams and CUDA graphs". */
    int (*graph_capture_begin)(bk_backend *be);
    int (*graph_capture_end)(bk_backend *be, bk_graph **out);
    int (*graph_launch)(bk_backend *be, bk_graph *g);
    void (*graph_free)(bk_backend *be, bk_graph *g);
} bk_ops;

struct bk_backend {
    const bk_ops *ops;
    const char *name;  /* "cpu", "cuda" */
    bk_dtype kv_dtype; /* the KV-cache dtype this backend prefers: F32 on the CPU, BF16 on CUDA */
    void *impl;
};

#ifdef __cplusplus
}
#endif

#endif
