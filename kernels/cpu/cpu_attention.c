#include "kernels/cpu/cpu_attention.h"

#include <math.h>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kern.h"

/* Per-head scratch lives on the stack; 512 covers every head size in use (64..256). */
#define CPU_MAX_HEAD_DIM 512

static int check_shape(bk_backend *be, const char *op, bk_attn_shape sh)
{
    if (sh.q_heads < 1 || sh.kv_heads < 1 || sh.q_heads % sh.kv_heads)
        return cpu_fail(be,
                        "cpu %s: q_heads %d and kv_heads %d: expected kv_heads >= 1 dividing "
                        "q_heads",
                        op, sh.q_heads, sh.kv_heads);
    if (sh.head_dim < 2 || sh.head_dim % 2 || sh.head_dim > CPU_MAX_HEAD_DIM)
        return cpu_fail(be, "cpu %s: head_dim is %d, expected an even number in 2..%d", op,
                        sh.head_dim, CPU_MAX_HEAD_DIM);
    if (sh.sliding_window < 0)
        return cpu_fail(be, "cpu %s: sliding_window is %d, expected 0 (none) or more", op,
                        sh.sliding_window);
    return 0;
}

/* K and V must be one pool of F32 or BF16 blocks laid out [blocks][Hkv][16][D]. */
static int check_kv(bk_backend *be, const char *op, const bk_kv_layer *kv, bk_attn_shape sh)
{
    if (!kv) return cpu_fail(be, "cpu %s: kv is NULL", op);
    int64_t cols = (int64_t)sh.kv_heads * BK_KV_BLOCK * sh.head_dim;
    bk_dtype dt = kv->k.dtype;
    if (dt != BK_F32 && dt != BK_BF16)
        return cpu_fail(be, "cpu %s: kv.k has dtype %s, expected F32 or BF16", op,
                        bk_dtype_name(dt));
    if (cpu_check(be, op, "kv.k", &kv->k, dt, 1, cols) ||
        cpu_check(be, op, "kv.v", &kv->v, dt, kv->k.rows, cols))
        return -1;
    if (kv->v.rows != kv->k.rows)
        return cpu_fail(be, "cpu %s: kv.v has %lld blocks, expected %lld like kv.k", op,
                        (long long)kv->v.rows, (long long)kv->k.rows);
    return 0;
}

/* RMSNorm over one head (when nw is set), then the NeoX half-split rotation by cs/sn. */
static void norm_rope(float *dst, const float *src, const float *nw, float eps, const float *cs,
                      const float *sn, int D)
{
    float tmp[CPU_MAX_HEAD_DIM];
    if (nw) {
        /* 16 partial sums, added in a fixed order: gcc vectorizes them (one scalar chain of D
         * dependent adds was ~1% of a 512-token prefill), and a token's bits still do not depend
         * on its batch. */
        enum { LANES = 16 };
        float acc[LANES] = {0}, ss = 0.0f;
        int i0 = 0;
        for (; i0 + LANES <= D; i0 += LANES)
            for (int j = 0; j < LANES; j++)
                acc[j] += src[i0 + j] * src[i0 + j];
        for (int j = 0; j < LANES; j++)
            ss += acc[j];
        for (; i0 < D; i0++)
            ss += src[i0] * src[i0];
        float inv = 1.0f / sqrtf(ss / (float)D + eps);
        for (int i = 0; i < D; i++)
            tmp[i] = nw[i] * (src[i] * inv);
    } else {
        memcpy(tmp, src, (size_t)D * sizeof *tmp);
    }
    int h = D / 2;
    for (int i = 0; i < h; i++) {
        float x1 = tmp[i], x2 = tmp[i + h];
        dst[i] = x1 * cs[i] - x2 * sn[i];
        dst[i + h] = x2 * cs[i] + x1 * sn[i];
    }
}

static void store_row(void *cache, bk_dtype dt, int64_t off, const float *src, int D)
{
    if (dt == BK_BF16) {
        uint16_t *c = (uint16_t *)cache + off;
        for (int i = 0; i < D; i++)
            c[i] = cpu_f32_to_bf16(src[i]);
    } else {
        memcpy((float *)cache + off, src, (size_t)D * sizeof(float));
    }
}

int cpu_qk_norm_rope_store(bk_backend *be, bk_tensor *q_out, const bk_tensor *qkv,
                           const bk_tensor *q_norm, const bk_tensor *k_norm,
                           const bk_tensor *inv_freq, float norm_eps, bk_kv_layer *kv,
                           const bk_batch *batch, bk_attn_shape sh)
{
    const char *op = "qk_norm_rope_store";
    if (!batch) return cpu_fail(be, "cpu %s: batch is NULL", op);
    const int32_t T = batch->num_tokens;
    const int Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim;
    if (T < 0) return cpu_fail(be, "cpu %s: batch.num_tokens is %d, expected >= 0", op, T);
    if (check_shape(be, op, sh) || check_kv(be, op, kv, sh) ||
        cpu_check(be, op, "qkv", qkv, BK_F32, T, (int64_t)(Hq + 2 * Hkv) * D) ||
        cpu_check(be, op, "q_out", q_out, BK_F32, T, (int64_t)Hq * D) ||
        (q_norm && cpu_check_vec(be, op, "q_norm", q_norm, BK_F32, D)) ||
        (k_norm && cpu_check_vec(be, op, "k_norm", k_norm, BK_F32, D)) ||
        cpu_check_vec(be, op, "inv_freq", inv_freq, BK_F32, D / 2) ||
        cpu_check_vec(be, op, "batch.positions", &batch->positions, BK_I32, T) ||
        cpu_check_vec(be, op, "batch.slot_mapping", &batch->slot_mapping, BK_I32, T))
        return -1;
    const int32_t *pos = batch->positions.data, *slots = batch->slot_mapping.data;
    const int64_t num_slots = kv->k.rows * BK_KV_BLOCK;
    for (int32_t t = 0; t < T; t++) {
        if (slots[t] < 0 || slots[t] >= num_slots)
            return cpu_fail(be,
                            "cpu %s: slot_mapping[%d] = %d is outside the KV pool of %lld "
                            "slots",
                            op, t, slots[t], (long long)num_slots);
        if (pos[t] < 0)
            return cpu_fail(be, "cpu %s: positions[%d] = %d, expected >= 0", op, t, pos[t]);
    }
    const float *in = qkv->data, *qn = q_norm ? q_norm->data : NULL;
    const float *kn = k_norm ? k_norm->data : NULL, *invf = inv_freq->data;
    float *qo = q_out->data;
    const bk_dtype dt = kv->k.dtype;
    const int64_t row = (int64_t)(Hq + 2 * Hkv) * D;
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(static)
    for (int32_t t = 0; t < T; t++) {
        float cs[CPU_MAX_HEAD_DIM / 2], sn[CPU_MAX_HEAD_DIM / 2], kr[CPU_MAX_HEAD_DIM];
        for (int i = 0; i < D / 2; i++) {
            /* The angle in f32 like HF's inv_freq @ position_ids, so both agree at long positions.
             */
            float ang = (float)pos[t] * invf[i];
            cs[i] = cosf(ang);
            sn[i] = sinf(ang);
        }
        const float *x = in + t * row;
        for (int h = 0; h < Hq; h++)
            norm_rope(qo + (int64_t)t * Hq * D + (int64_t)h * D, x + (int64_t)h * D, qn, norm_eps,
                      cs, sn, D);
        int64_t block = slots[t] / BK_KV_BLOCK, off = slots[t] % BK_KV_BLOCK;
        for (int g = 0; g < Hkv; g++) {
            int64_t dst = ((block * Hkv + g) * BK_KV_BLOCK + off) * D;
            norm_rope(kr, x + (int64_t)(Hq + g) * D, kn, norm_eps, cs, sn, D);
            store_row(kv->k.data, dt, dst, kr, D);
            store_row(kv->v.data, dt, dst, x + (int64_t)(Hq + Hkv + g) * D, D);
        }
    }
    return 0;
}

/* Checks the batch arrays attention reads, so the kernel can index without further tests. */
static int check_batch(bk_backend *be, const bk_batch *b, int64_t num_blocks)
{
    const char *op = "attention";
    const int32_t T = b->num_tokens, S = b->num_seqs, MB = b->max_blocks;
    if (T < 0 || S < 0 || (T > 0 && S < 1) || MB < 1)
        return cpu_fail(be,
                        "cpu %s: batch has num_tokens %d, num_seqs %d, max_blocks %d: expected "
                        "num_tokens >= 0, num_seqs >= 1 when there are tokens, max_blocks >= 1",
                        op, T, S, MB);
    if (cpu_check_vec(be, op, "batch.positions", &b->positions, BK_I32, T) ||
        cpu_check_vec(be, op, "batch.query_start", &b->query_start, BK_I32, (int64_t)S + 1) ||
        cpu_check_vec(be, op, "batch.seq_lens", &b->seq_lens, BK_I32, S) ||
        cpu_check_vec(be, op, "batch.block_tables", &b->block_tables, BK_I32, (int64_t)S * MB))
        return -1;
    const int32_t *qs = b->query_start.data, *pos = b->positions.data;
    const int32_t *lens = b->seq_lens.data, *bt = b->block_tables.data;
    if (qs[0] != 0 || qs[S] != T)
        return cpu_fail(be,
                        "cpu %s: query_start[0] = %d and query_start[%d] = %d, expected 0 and "
                        "num_tokens %d",
                        op, qs[0], S, qs[S], T);
    for (int32_t s = 0; s < S; s++) {
        if (qs[s + 1] < qs[s])
            return cpu_fail(be, "cpu %s: query_start decreases at sequence %d (%d -> %d)", op, s,
                            qs[s], qs[s + 1]);
        int32_t max_pos = -1;
        for (int32_t t = qs[s]; t < qs[s + 1]; t++) {
            if (pos[t] < 0 || pos[t] >= lens[s])
                return cpu_fail(be, "cpu %s: positions[%d] = %d, expected 0..seq_lens[%d]-1 = %d",
                                op, t, pos[t], s, lens[s] - 1);
            if (pos[t] > max_pos) max_pos = pos[t];
        }
        int32_t used = max_pos < 0 ? 0 : max_pos / BK_KV_BLOCK + 1;
        if (used > MB)
            return cpu_fail(be,
                            "cpu %s: sequence %d reaches position %d, which needs %d blocks but "
                            "max_blocks is %d",
                            op, s, max_pos, used, MB);
        for (int32_t j = 0; j < used; j++) {
            int32_t id = bt[(int64_t)s * MB + j];
            if (id < 0 || id >= num_blocks)
                return cpu_fail(be,
                                "cpu %s: block_tables[%d][%d] = %d is outside the KV pool of "
                                "%lld blocks",
                                op, s, j, id, (long long)num_blocks);
        }
    }
    return 0;
}

/* The sequence that owns token t: the last s with query_start[s] <= t (binary search). */
static int32_t seq_of(const int32_t *qs, int32_t S, int32_t t)
{
    int32_t lo = 0, hi = S - 1;
    while (lo < hi) {
        int32_t mid = (lo + hi + 1) / 2;
        if (qs[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int cpu_attention(bk_backend *be, bk_tensor *out, const bk_tensor *q, const bk_kv_layer *kv,
                  const bk_batch *batch, bk_attn_shape sh, float scale)
{
    const char *op = "attention";
    if (!batch) return cpu_fail(be, "cpu %s: batch is NULL", op);
    const int32_t T = batch->num_tokens;
    const int Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim;
    if (check_shape(be, op, sh) || check_kv(be, op, kv, sh) || check_batch(be, batch, kv->k.rows) ||
        cpu_check(be, op, "q", q, BK_F32, T, (int64_t)Hq * D) ||
        cpu_check(be, op, "out", out, BK_F32, T, (int64_t)Hq * D))
        return -1;
    if (out->data == q->data)
        return cpu_fail(be,
                        "cpu attention: out and q are the same buffer, expected distinct tensors");
    const int32_t *qs = batch->query_start.data, *pos = batch->positions.data;
    const int32_t *bt = batch->block_tables.data;
    const int32_t S = batch->num_seqs, MB = batch->max_blocks, group = Hq / Hkv;
    const cpu_kernels *kern = cpu_st(be)->kern;
    /* An item is a chunk of consecutive tokens times some q heads of one kv head, so every K/V
     * block it reads serves up to cpu_attn_max_rows(D) (token, head) rows from cache. */
    const int max_rows = cpu_attn_max_rows(D);
    const int hper = group < max_rows ? group : max_rows;
    const int nhs = (group + hper - 1) / hper, qb = max_rows / hper;
    const int64_t nchunks = ((int64_t)T + qb - 1) / qb, per_chunk = (int64_t)Hkv * nhs;
    const int64_t items = nchunks * per_chunk;
    /* Dynamic, latest chunk first: a token late in a long prompt costs far more than an early
     * one, so the expensive items start first and the cheap ones fill the gaps. */
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(dynamic, 1)
    for (int64_t idx = 0; idx < items; idx++) {
        const int64_t c = nchunks - 1 - idx / per_chunk, rem = idx % per_chunk;
        const int32_t g = (int32_t)(rem / nhs), hs = (int32_t)(rem % nhs) * hper;
        int32_t t0 = (int32_t)(c * qb);
        const int32_t tend = t0 + qb < T ? t0 + qb : T;
        while (t0 < tend) {
            const int32_t s = seq_of(qs, S, t0), t1 = qs[s + 1] < tend ? qs[s + 1] : tend;
            const cpu_attn_item item = {.q = q->data,
                                        .out = out->data,
                                        .k = kv->k.data,
                                        .v = kv->v.data,
                                        .pos = pos,
                                        .block_table = bt + (int64_t)s * MB,
                                        .kv_dtype = kv->k.dtype,
                                        .t0 = t0,
                                        .t1 = t1,
                                        .g = g,
                                        .group = group,
                                        .h0 = hs,
                                        .nh = group - hs < hper ? group - hs : hper,
                                        .Hq = Hq,
                                        .Hkv = Hkv,
                                        .D = D,
                                        .sliding_window = sh.sliding_window,
                                        .scale = scale};
            kern->attention(&item);
            t0 = t1;
        }
    }
    return 0;
}
