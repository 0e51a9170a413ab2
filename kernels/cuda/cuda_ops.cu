/* The CUDA backend's row-wise ops: embedding gather, fused residual add + RMSNorm, SiLU·up,
 * gather_rows, argmax and the fused Q/K RMSNorm + RoPE + KV-cache write. All fp32 math. */
#include <math.h>

#include "kernels/cuda/cuda_common.cuh"

static int check_count(cu_state *st, const char *op, const char *what, int32_t n)
{
    if (n < 0) return cu_fail(st, "%s: %s is %d, expected >= 0", op, what, n);
    return 0;
}

/* ---- embedding -------------------------------------------------------------------------------- */

template <typename T>
__global__ void embedding_kernel(float *out, const T *table, const int32_t *ids, int64_t V, int64_t H,
                                 unsigned int *flags)
{
    const int32_t id = ids[blockIdx.x];
    if (id < 0 || id >= V) {
        if (threadIdx.x == 0) atomicOr(flags, CU_FLAG_EMBED_ID);
        return;
    }
    const T *row = table + (int64_t)id * H;
    float *o = out + (int64_t)blockIdx.x * H;
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) o[i] = cu_to_f32(row[i]);
}

extern "C" int cu_embedding(bk_backend *be, bk_tensor *out, const bk_tensor *table,
                            const bk_tensor *ids, int32_t num_tokens)
{
    cu_state *st = cu_st(be);
    const char *op = "embedding";
    if (check_count(st, op, "num_tokens", num_tokens) || cu_check_float(st, op, "table", table) ||
        cu_check_vec(st, op, "ids", ids, BK_I32, num_tokens) ||
        cu_check(st, op, "out", out, BK_F32, num_tokens, table->cols))
        return -1;
    if (num_tokens == 0 || table->cols == 0) return 0;
    const int32_t *id = (const int32_t *)ids->data;
    float *o = (float *)out->data;
    switch (table->dtype) {
    case BK_BF16:
        CU_LAUNCH(num_tokens, 256, 0, st->stream, embedding_kernel)(
            o, (const __nv_bfloat16 *)table->data, id, table->rows, table->cols, st->flags);
        break;
    case BK_F16:
        CU_LAUNCH(num_tokens, 256, 0, st->stream, embedding_kernel)(o, (const __half *)table->data, id,
                                                             table->rows, table->cols, st->flags);
        break;
    default:
        CU_LAUNCH(num_tokens, 256, 0, st->stream, embedding_kernel)(o, (const float *)table->data, id,
                                                             table->rows, table->cols, st->flags);
        break;
    }
    CUDA_CHECK_LAUNCH(st);
    return 0;
}

/* ---- residual add + RMSNorm: one block per row ------------------------------------------------ */

__global__ void add_rmsnorm_kernel(float *residual, const float *delta, const float *weight, float *out,
                                   float eps, int64_t H)
{
    __shared__ float red[32];
    float *r = residual + (int64_t)blockIdx.x * H;
    const float *d = delta ? delta + (int64_t)blockIdx.x * H : NULL;
    float *o = out + (int64_t)blockIdx.x * H;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
        float v = r[i];
        if (d) {
            v += d[i];
            r[i] = v;
        }
        ss += v * v;
    }
    ss = cu_block_sum(ss, red);
    /* Qwen3RMSNorm: the variance and the scaling in f32, the weight applied last. */
    const float inv = 1.0f / sqrtf(ss / (float)H + eps);
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) o[i] = weight[i] * (r[i] * inv);
}

extern "C" int cu_add_rmsnorm(bk_backend *be, bk_tensor *residual, const bk_tensor *delta,
                              const bk_tensor *weight, bk_tensor *out, float eps, int32_t num_tokens)
{
    cu_state *st = cu_st(be);
    const char *op = "add_rmsnorm";
    if (check_count(st, op, "num_tokens", num_tokens) ||
        cu_check(st, op, "residual", residual, BK_F32, num_tokens, -1) ||
        (delta && cu_check(st, op, "delta", delta, BK_F32, num_tokens, residual->cols)) ||
        cu_check_vec(st, op, "weight", weight, BK_F32, residual->cols) ||
        cu_check(st, op, "out", out, BK_F32, num_tokens, residual->cols))
        return -1;
    if (bk_numel(weight) != residual->cols)
        return cu_fail(st, "add_rmsnorm: weight has %lld elements, expected %lld (hidden size)",
                       (long long)bk_numel(weight), (long long)residual->cols);
    if (num_tokens == 0 || residual->cols == 0) return 0;
    const int64_t H = residual->cols;
    const unsigned int threads = H >= 2048 ? 512 : (H >= 512 ? 256 : 128);
    CU_LAUNCH(num_tokens, threads, 0, st->stream, add_rmsnorm_kernel)(
        (float *)residual->data, delta ? (const float *)delta->data : NULL,
        (const float *)weight->data, (float *)out->data, eps, H);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}

/* ---- SiLU(gate) * up -------------------------------------------------------------------------- */

__global__ void silu_mul_kernel(float *out, const float *gate_up, int64_t T, int64_t I)
{
    const int64_t n = T * I;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = e / I, i = e % I;
        const float g = gate_up[t * 2 * I + i], u = gate_up[t * 2 * I + I + i];
        out[e] = g / (1.0f + expf(-g)) * u;
    }
}

extern "C" int cu_silu_mul(bk_backend *be, bk_tensor *out, const bk_tensor *gate_up,
                           int32_t num_tokens)
{
    cu_state *st = cu_st(be);
    const char *op = "silu_mul";
    if (check_count(st, op, "num_tokens", num_tokens) ||
        cu_check(st, op, "gate_up", gate_up, BK_F32, num_tokens, -1))
        return -1;
    if (gate_up->cols % 2)
        return cu_fail(st, "silu_mul: gate_up has %lld columns, expected an even number (2*I)",
                       (long long)gate_up->cols);
    const int64_t I = gate_up->cols / 2;
    if (cu_check(st, op, "out", out, BK_F32, num_tokens, I)) return -1;
    if (num_tokens == 0 || I == 0) return 0;
    CU_LAUNCH(cu_blocks((int64_t)num_tokens * I, 256), 256, 0, st->stream, silu_mul_kernel)(
        (float *)out->data, (const float *)gate_up->data, num_tokens, I);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}

/* ---- gather_rows ------------------------------------------------------------------------------ */

template <typename U>
__global__ void gather_rows_kernel(U *out, const U *x, const int32_t *rows, int64_t nrows_x,
                                   int64_t units, unsigned int *flags)
{
    const int32_t src = rows[blockIdx.x];
    if (src < 0 || src >= nrows_x) {
        if (threadIdx.x == 0) atomicOr(flags, CU_FLAG_GATHER_ROW);
        return;
    }
    const U *s = x + (int64_t)src * units;
    U *d = out + (int64_t)blockIdx.x * units;
    for (int64_t i = threadIdx.x; i < units; i += blockDim.x) d[i] = s[i];
}

extern "C" int cu_gather_rows(bk_backend *be, bk_tensor *out, const bk_tensor *x,
                              const bk_tensor *rows, int32_t num_rows)
{
    cu_state *st = cu_st(be);
    const char *op = "gather_rows";
    if (check_count(st, op, "num_rows", num_rows) || cu_check_float(st, op, "x", x) ||
        cu_check_vec(st, op, "rows", rows, BK_I32, num_rows) ||
        cu_check(st, op, "out", out, x->dtype, num_rows, x->cols))
        return -1;
    const size_t row_bytes = (size_t)x->cols * bk_dtype_size(x->dtype);
    if (num_rows == 0 || row_bytes == 0) return 0;
    if (row_bytes % 16 == 0)
        CU_LAUNCH(num_rows, 256, 0, st->stream, gather_rows_kernel)(
            (uint4 *)out->data, (const uint4 *)x->data, (const int32_t *)rows->data, x->rows,
            (int64_t)(row_bytes / 16), st->flags);
    else
        CU_LAUNCH(num_rows, 256, 0, st->stream, gather_rows_kernel)(
            (uint16_t *)out->data, (const uint16_t *)x->data, (const int32_t *)rows->data, x->rows,
            (int64_t)(row_bytes / 2), st->flags);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}

/* ---- argmax: one block per row ---------------------------------------------------------------- */

/* The CPU twin's order: the first NaN wins, otherwise the largest value, the lowest index on ties. */
__device__ __forceinline__ bool argmax_better(float a, int64_t ia, float b, int64_t ib)
{
    const bool na = isnan(a), nb = isnan(b);
    if (na != nb) return na;
    if (na || a == b) return ia < ib;
    return a > b;
}

__global__ void argmax_kernel(int32_t *out, const float *logits, int64_t V)
{
    __shared__ float sv[32];
    __shared__ int64_t si[32];
    const float *l = logits + (int64_t)blockIdx.x * V;
    float bv = -INFINITY;
    int64_t bi = INT64_MAX;
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x) {
        const float v = l[i];
        if (argmax_better(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (argmax_better(ov, oi, bv, bi)) {
            bv = ov;
            bi = oi;
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sv[warp] = bv;
        si[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++)
            if (argmax_better(sv[w], si[w], bv, bi)) {
                bv = sv[w];
                bi = si[w];
            }
        out[blockIdx.x] = (int32_t)bi;
    }
}

extern "C" int cu_argmax(bk_backend *be, bk_tensor *out, const bk_tensor *logits, int32_t num_rows)
{
    cu_state *st = cu_st(be);
    const char *op = "argmax";
    if (check_count(st, op, "num_rows", num_rows) ||
        cu_check(st, op, "logits", logits, BK_F32, num_rows, -1) ||
        cu_check_vec(st, op, "out", out, BK_I32, num_rows))
        return -1;
    if (logits->cols < 1) return cu_fail(st, "argmax: logits has 0 columns, expected >= 1");
    if (num_rows == 0) return 0;
    CU_LAUNCH(num_rows, 512, 0, st->stream, argmax_kernel)((int32_t *)out->data,
                                                    (const float *)logits->data, logits->cols);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}

/* ---- Q/K per-head RMSNorm + RoPE + KV-cache write: one warp per (token, head) ------------------ */

#define QK_WARPS 4

template <typename KV>
__global__ void qk_norm_rope_store_kernel(float *q_out, const float *qkv, const float *q_norm,
                                          const float *k_norm, const float *inv_freq, float eps,
                                          KV *k_cache, KV *v_cache, const int32_t *positions,
                                          const int32_t *slots, int64_t num_slots, int Hq, int Hkv,
                                          int D, unsigned int *flags)
{
    const int t = blockIdx.x;
    const int head = blockIdx.y * QK_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (head >= Hq + 2 * Hkv) return;
    const float *x = qkv + (int64_t)t * (Hq + 2 * Hkv) * D + (int64_t)head * D;
    const int32_t pos = positions[t], slot = slots[t];
    if (pos < 0) {
        if (lane == 0) atomicOr(flags, CU_FLAG_POSITION);
        return;
    }
    const bool is_q = head < Hq;
    if (!is_q && (slot < 0 || slot >= num_slots)) {
        if (lane == 0) atomicOr(flags, CU_FLAG_SLOT);
        return;
    }
    const int64_t block = slot / BK_KV_BLOCK, off = slot % BK_KV_BLOCK;
    if (head >= Hq + Hkv) { /* v: a plain copy into the cache */
        const int g = head - Hq - Hkv;
        KV *dst = v_cache + ((block * Hkv + g) * BK_KV_BLOCK + off) * D;
        for (int i = lane; i < D; i += 32) dst[i] = cu_from_f32<KV>(x[i]);
        return;
    }
    const float *nw = is_q ? q_norm : k_norm;
    float inv = 1.0f;
    if (nw) {
        float ss = 0.0f;
        for (int i = lane; i < D; i += 32) ss += x[i] * x[i];
        inv = 1.0f / sqrtf(cu_warp_sum(ss) / (float)D + eps);
    }
    const int h = D / 2;
    float *qdst = is_q ? q_out + (int64_t)t * Hq * D + (int64_t)head * D : NULL;
    KV *kdst = is_q ? NULL : k_cache + ((block * Hkv + (head - Hq)) * BK_KV_BLOCK + off) * D;
    for (int i = lane; i < h; i += 32) {
        float x1 = x[i], x2 = x[i + h];
        if (nw) {
            x1 = nw[i] * (x1 * inv);
            x2 = nw[i + h] * (x2 * inv);
        }
        /* The angle in f32 (as HF computes inv_freq @ positions); sincosf, not the fast intrinsic,
         * because angles reach tens of thousands of radians at long positions. */
        float sn, cs;
        sincosf((float)pos * inv_freq[i], &sn, &cs);
        const float y1 = x1 * cs - x2 * sn, y2 = x2 * cs + x1 * sn;
        if (is_q) {
            qdst[i] = y1;
            qdst[i + h] = y2;
        } else {
            kdst[i] = cu_from_f32<KV>(y1);
            kdst[i + h] = cu_from_f32<KV>(y2);
        }
    }
}

extern "C" int cu_qk_norm_rope_store(bk_backend *be, bk_tensor *q_out, const bk_tensor *qkv,
                                     const bk_tensor *q_norm, const bk_tensor *k_norm,
                                     const bk_tensor *inv_freq, float norm_eps, bk_kv_layer *kv,
                                     const bk_batch *batch, bk_attn_shape sh)
{
    cu_state *st = cu_st(be);
    const char *op = "qk_norm_rope_store";
    if (!batch) return cu_fail(st, "%s: batch is NULL", op);
    if (!kv) return cu_fail(st, "%s: kv is NULL", op);
    const int32_t T = batch->num_tokens;
    const int Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim;
    if (T < 0) return cu_fail(st, "%s: batch.num_tokens is %d, expected >= 0", op, T);
    if (Hq < 1 || Hkv < 1 || Hq % Hkv)
        return cu_fail(st, "%s: q_heads %d and kv_heads %d: expected kv_heads >= 1 dividing q_heads",
                       op, Hq, Hkv);
    if (D < 2 || D % 2 || D > 512)
        return cu_fail(st, "%s: head_dim is %d, expected an even number in 2..512", op, D);
    const bk_dtype dt = kv->k.dtype;
    if (dt != BK_F32 && dt != BK_BF16)
        return cu_fail(st, "%s: kv.k has dtype %s, expected F32 or BF16", op, bk_dtype_name(dt));
    const int64_t kv_cols = (int64_t)Hkv * BK_KV_BLOCK * D;
    if (cu_check(st, op, "kv.k", &kv->k, dt, 1, kv_cols) ||
        cu_check(st, op, "kv.v", &kv->v, dt, kv->k.rows, kv_cols) ||
        cu_check(st, op, "qkv", qkv, BK_F32, T, (int64_t)(Hq + 2 * Hkv) * D) ||
        cu_check(st, op, "q_out", q_out, BK_F32, T, (int64_t)Hq * D) ||
        (q_norm && cu_check_vec(st, op, "q_norm", q_norm, BK_F32, D)) ||
        (k_norm && cu_check_vec(st, op, "k_norm", k_norm, BK_F32, D)) ||
        cu_check_vec(st, op, "inv_freq", inv_freq, BK_F32, D / 2) ||
        cu_check_vec(st, op, "batch.positions", &batch->positions, BK_I32, T) ||
        cu_check_vec(st, op, "batch.slot_mapping", &batch->slot_mapping, BK_I32, T))
        return -1;
    if (T == 0) return 0;
    const dim3 grid((unsigned int)T, (unsigned int)((Hq + 2 * Hkv + QK_WARPS - 1) / QK_WARPS));
    const float *qn = q_norm ? (const float *)q_norm->data : NULL;
    const float *kn = k_norm ? (const float *)k_norm->data : NULL;
    const int64_t num_slots = kv->k.rows * BK_KV_BLOCK;
    if (dt == BK_BF16)
        CU_LAUNCH(grid, QK_WARPS * 32, 0, st->stream, qk_norm_rope_store_kernel)(
            (float *)q_out->data, (const float *)qkv->data, qn, kn, (const float *)inv_freq->data,
            norm_eps, (__nv_bfloat16 *)kv->k.data, (__nv_bfloat16 *)kv->v.data,
            (const int32_t *)batch->positions.data, (const int32_t *)batch->slot_mapping.data,
            num_slots, Hq, Hkv, D, st->flags);
    else
        CU_LAUNCH(grid, QK_WARPS * 32, 0, st->stream, qk_norm_rope_store_kernel)(
            (float *)q_out->data, (const float *)qkv->data, qn, kn, (const float *)inv_freq->data,
            norm_eps, (float *)kv->k.data, (float *)kv->v.data,
            (const int32_t *)batch->positions.data, (const int32_t *)batch->slot_mapping.data,
            num_slots, Hq, Hkv, D, st->flags);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}
