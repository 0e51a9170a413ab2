/* Paged attention over the [block][kv_head][16][D] cache. Two kernels, both correct for any flat batch:
 * - decode: one CTA per (token, KV head, split). The G query heads of a GQA group share every K/V load;
 *   long contexts are split along the sequence (flash-decoding) and merged by log-sum-exp.
 * - prefill: one CTA per (16-token query tile of a sequence, query head), K/V tiles of 32 positions in
 *   shared memory, online softmax in registers (flash-attention style, fp32 CUDA cores). BF16 caches
 *   at head_dim 64 and 128 take the tensor-core kernel of cuda_attention_tc.cu instead.
 * The host picks by tokens per sequence; inputs on the device are validated into be->flags. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_attention_tc.cuh"
#include "kernels/cuda/cuda_common.cuh"

#define DEC_THREADS 128
#define DEC_WARPS (DEC_THREADS / 32)
#define DEC_TILE 64 /* positions scored per pass: 4 KV blocks */
#define DEC_GROUP 8 /* query heads accumulated in registers per V load */
#define PF_BQ 16
#define PF_BK 32
#define PF_THREADS 128
#define PF_ROWS (PF_BQ / (PF_THREADS / 32)) /* query rows per warp */
#define SMEM_DEFAULT 49152

/* Both kernels need s of token t and check the batch arrays they index with. */
__device__ __forceinline__ int seq_of(const int32_t *qs, int S, int t)
{
    int lo = 0, hi = S - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (qs[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

struct attn_args {
    float *out;
    const float *q;
    const void *k, *v;
    const int32_t *qs, *pos, *lens, *bt;
    int S, T, MB;
    int64_t num_blocks;
    int Hq, Hkv, G;
    int window; /* sliding window: keys p - window + 1 .. p; 0 = all up to p */
    float scale;
    unsigned int *flags;
    /* decode split bookkeeping */
    int span, splits;
    float *part_acc; /* [T][Hq][splits][D] unnormalized */
    float *part_ml;  /* [T][Hq][splits][2] running max and sum */
};

/* ---- decode ----------------------------------------------------------------------------------- */

/* The first key tile a decode CTA of a token at position p reads: the tile holding its window's
 * first key, 0 without a window. */
__device__ __forceinline__ int window_base(int window, int p)
{
    return window > 0 && p >= window ? (p - window + 1) / DEC_TILE * DEC_TILE : 0;
}

template <int D, typename KV>
__global__ void __launch_bounds__(DEC_THREADS) attn_decode_kernel(attn_args a)
{
    constexpr int VEC = D / 32;
    CU_DYNAMIC_SMEM(float, smem);
    const int G = a.G;
    float *q_s = smem;                  /* [G][D], pre-scaled */
    float *acc_s = q_s + G * D;         /* [G][D] */
    float *s_s = acc_s + G * D;         /* [G][DEC_TILE] scores, then probabilities */
    float *m_s = s_s + G * DEC_TILE;    /* [G] */
    float *l_s = m_s + G;               /* [G] */
    int *blk_s = (int *)(l_s + G);      /* [DEC_TILE / 16] */
    __shared__ int p_s;

    const int t = blockIdx.x, g = blockIdx.y, split = blockIdx.z;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const KV *kc = (const KV *)a.k, *vc = (const KV *)a.v;
    if (tid == 0) {
        if (t == 0 && g == 0 && split == 0 && (a.qs[0] != 0 || a.qs[a.S] != a.T))
            atomicOr(a.flags, CU_FLAG_QUERY_START);
        const int s = seq_of(a.qs, a.S, t);
        int p = cu_checked_pos(a, t, s);
        if (p >= 0 && p + 1 - window_base(a.window, p) > a.span * a.splits) {
            atomicOr(a.flags, CU_FLAG_POSITION);
            p = -1;
        }
        p_s = p < 0 ? -1 : p;
        blk_s[0] = s; /* the sequence, handed over before blk_s holds block ids */
    }
    for (int i = tid; i < G * D; i += DEC_THREADS) {
        q_s[i] = a.q[(int64_t)t * a.Hq * D + (int64_t)g * G * D + i] * a.scale;
        acc_s[i] = 0.0f;
    }
    for (int i = tid; i < G; i += DEC_THREADS) {
        m_s[i] = -INFINITY;
        l_s[i] = 0.0f;
    }
    __syncthreads();
    const int p = p_s;
    if (p < 0) return;
    const int64_t bt_row = (int64_t)blk_s[0] * a.MB;
    /* The window's first key; keys before it in its tile score -inf. Splits count from that tile,
     * so with a window they divide the window, not the whole context, and they stay tile-aligned
     * (blk_s is indexed from tile0). */
    const int wlo = a.window > 0 && p >= a.window ? p - a.window + 1 : 0;
    const int lo = window_base(a.window, p) + split * a.span;
    const int hi = min(p + 1, lo + a.span);
    __syncthreads(); /* everyone has read blk_s[0] */

    for (int tile0 = lo; tile0 < hi; tile0 += DEC_TILE) {
        const int n = min(DEC_TILE, hi - tile0);
        for (int i = tid; i < (n + BK_KV_BLOCK - 1) / BK_KV_BLOCK; i += DEC_THREADS)
            blk_s[i] = cu_kv_block_id(a.bt, bt_row, tile0 / BK_KV_BLOCK + i, a.num_blocks, a.flags);
        __syncthreads();
        /* scores: a warp per position, lanes across head_dim, the K row reused by all G heads */
        for (int pi = warp; pi < n; pi += DEC_WARPS) {
            const int id = blk_s[pi / BK_KV_BLOCK];
            if (id < 0 || tile0 + pi < wlo) {
                for (int gg = lane; gg < G; gg += 32) s_s[gg * DEC_TILE + pi] = -INFINITY;
                continue;
            }
            const KV *kr = kc + (((int64_t)id * a.Hkv + g) * BK_KV_BLOCK + pi % BK_KV_BLOCK) * D;
            const cu_vec<KV, VEC> kv = *reinterpret_cast<const cu_vec<KV, VEC> *>(kr + lane * VEC);
            float kf[VEC];
#pragma unroll
            for (int i = 0; i < VEC; i++) kf[i] = cu_to_f32(kv.v[i]);
            for (int gg = 0; gg < G; gg++) {
                const cu_vec<float, VEC> qv =
                    *reinterpret_cast<const cu_vec<float, VEC> *>(q_s + gg * D + lane * VEC);
                float part = 0.0f;
#pragma unroll
                for (int i = 0; i < VEC; i++) part += qv.v[i] * kf[i];
                part = cu_warp_sum(part);
                if (lane == 0) s_s[gg * DEC_TILE + pi] = part;
            }
        }
        __syncthreads();
        /* online softmax: a warp per head rescales its running sum and accumulator */
        for (int gg = warp; gg < G; gg += DEC_WARPS) {
            float *sc = s_s + gg * DEC_TILE;
            float mx = -INFINITY;
            for (int pi = lane; pi < n; pi += 32) mx = fmaxf(mx, sc[pi]);
            mx = cu_warp_max(mx);
            const float m_old = m_s[gg], m_new = fmaxf(m_old, mx);
            float sum = 0.0f;
            for (int pi = lane; pi < n; pi += 32) {
                const float e = m_new == -INFINITY ? 0.0f : expf(sc[pi] - m_new);
                sc[pi] = e;
                sum += e;
            }
            sum = cu_warp_sum(sum);
            const float alpha = m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
            for (int d = lane; d < D; d += 32) acc_s[gg * D + d] *= alpha;
            __syncwarp();
            if (lane == 0) {
                m_s[gg] = m_new;
                l_s[gg] = l_s[gg] * alpha + sum;
            }
        }
        __syncthreads();
        /* P·V: threads across head_dim (split over positions when D < the block), each V element
         * loaded once for up to DEC_GROUP heads */
        constexpr int PARTS = D < DEC_THREADS ? DEC_THREADS / D : 1;
        constexpr int DPT = D > DEC_THREADS ? D / DEC_THREADS : 1;
        const int part = PARTS > 1 ? tid / D : 0;
#pragma unroll
        for (int dd = 0; dd < DPT; dd++) {
            const int d = PARTS > 1 ? tid % D : tid + dd * DEC_THREADS;
            for (int g0 = 0; g0 < G; g0 += DEC_GROUP) {
                float acc[DEC_GROUP];
#pragma unroll
                for (int j = 0; j < DEC_GROUP; j++) acc[j] = 0.0f;
                for (int pi = part; pi < n; pi += PARTS) {
                    const int id = blk_s[pi / BK_KV_BLOCK];
                    if (id < 0) continue;
                    const float v = cu_to_f32(
                        vc[(((int64_t)id * a.Hkv + g) * BK_KV_BLOCK + pi % BK_KV_BLOCK) * D + d]);
#pragma unroll
                    for (int j = 0; j < DEC_GROUP; j++)
                        if (g0 + j < G) acc[j] += s_s[(g0 + j) * DEC_TILE + pi] * v;
                }
                /* The parts add in a fixed order, not by atomics: a step's output does not depend
                 * on warp scheduling, so a replayed CUDA graph matches the step run op by op. */
                for (int pp = 0; pp < PARTS; pp++) {
                    if (part == pp) {
#pragma unroll
                        for (int j = 0; j < DEC_GROUP; j++) {
                            if (g0 + j >= G) break;
                            acc_s[(g0 + j) * D + d] += acc[j];
                        }
                    }
                    if (PARTS > 1) __syncthreads();
                }
            }
        }
        __syncthreads();
    }

    for (int i = tid; i < G * D; i += DEC_THREADS) {
        const int gg = i / D, d = i % D, h = g * G + gg;
        if (a.splits == 1) {
            a.out[(int64_t)t * a.Hq * D + (int64_t)h * D + d] = acc_s[i] / l_s[gg];
        } else {
            const int64_t slot = ((int64_t)t * a.Hq + h) * a.splits + split;
            a.part_acc[slot * D + d] = acc_s[i];
            if (d == 0) {
                a.part_ml[slot * 2] = m_s[gg];
                a.part_ml[slot * 2 + 1] = l_s[gg];
            }
        }
    }
}

/* out = Σ_j e^(m_j - M) acc_j / Σ_j e^(m_j - M) l_j over the splits of one (token, head). */
__global__ void attn_merge_kernel(attn_args a, int D)
{
    const int t = blockIdx.x, h = blockIdx.y;
    const int64_t base = ((int64_t)t * a.Hq + h) * a.splits;
    const float *ml = a.part_ml + base * 2;
    float M = -INFINITY;
    for (int j = 0; j < a.splits; j++) M = fmaxf(M, ml[2 * j]);
    if (M == -INFINITY) return; /* the token was invalid: flagged by the decode kernel */
    float L = 0.0f;
    for (int j = 0; j < a.splits; j++)
        if (ml[2 * j] != -INFINITY) L += expf(ml[2 * j] - M) * ml[2 * j + 1];
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float o = 0.0f;
        for (int j = 0; j < a.splits; j++)
            if (ml[2 * j] != -INFINITY) o += expf(ml[2 * j] - M) * a.part_acc[(base + j) * D + d];
        a.out[(int64_t)t * a.Hq * D + (int64_t)h * D + d] = o / L;
    }
}

/* ---- prefill ---------------------------------------------------------------------------------- */

template <int D> constexpr size_t prefill_smem()
{
    return sizeof(float) * (PF_BQ * D + PF_BK * (D + 1) + PF_BK * D + PF_BQ * PF_BK) +
           sizeof(int) * PF_BQ;
}

template <int D, typename KV>
__global__ void __launch_bounds__(PF_THREADS) attn_prefill_kernel(attn_args a)
{
    constexpr int DJ = D / 32; /* head_dim elements per lane */
    CU_DYNAMIC_SMEM(float, smem);
    float *q_s = smem;                   /* [BQ][D], pre-scaled */
    float *k_s = q_s + PF_BQ * D;        /* [BK][D + 1]: the pad makes column reads conflict-free */
    float *v_s = k_s + PF_BK * (D + 1);  /* [BK][D] */
    float *p_s = v_s + PF_BK * D;        /* [BQ][BK] */
    int *pos_s = (int *)(p_s + PF_BQ * PF_BK);
    __shared__ int seq_s, t0_s, nq_s;

    const int h = blockIdx.y, g = h / a.G;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const KV *kc = (const KV *)a.k, *vc = (const KV *)a.v;
    if (tid == 0) {
        if (blockIdx.x == 0 && h == 0 && (a.qs[0] != 0 || a.qs[a.S] != a.T))
            atomicOr(a.flags, CU_FLAG_QUERY_START);
        /* Work item blockIdx.x -> (sequence, query tile): grid.x bounds Σ ceil(n_s / BQ). */
        int idx = blockIdx.x, s = 0;
        seq_s = -1;
        for (; s < a.S; s++) {
            const int n = a.qs[s + 1] - a.qs[s];
            const int tiles = n > 0 ? (n + PF_BQ - 1) / PF_BQ : 0;
            if (idx < tiles) {
                seq_s = s;
                t0_s = a.qs[s] + idx * PF_BQ;
                nq_s = min(PF_BQ, a.qs[s + 1] - t0_s);
                break;
            }
            idx -= tiles;
        }
    }
    __syncthreads();
    const int s = seq_s;
    if (s < 0) return;
    const int t0 = t0_s, nq = nq_s;
    if (tid < PF_BQ) pos_s[tid] = tid < nq ? cu_checked_pos(a, t0 + tid, s) : -1;
    for (int i = tid; i < PF_BQ * D; i += PF_THREADS) {
        const int r = i / D, d = i % D;
        q_s[i] = r < nq ? a.q[(int64_t)(t0 + r) * a.Hq * D + (int64_t)h * D + d] * a.scale : 0.0f;
    }
    __syncthreads();
    int end = 0, begin = INT_MAX; /* keys the CTA's rows attend to: [begin, end) */
    for (int r = 0; r < PF_BQ; r++) {
        end = max(end, pos_s[r] + 1);
        if (pos_s[r] >= 0) begin = min(begin, a.window > 0 ? max(0, pos_s[r] - a.window + 1) : 0);
    }
    begin = begin == INT_MAX ? 0 : begin / PF_BK * PF_BK;
    const int64_t bt_row = (int64_t)s * a.MB;

    float acc[PF_ROWS][DJ], m[PF_ROWS], l[PF_ROWS];
    int rpos[PF_ROWS];
#pragma unroll
    for (int i = 0; i < PF_ROWS; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        rpos[i] = pos_s[warp + 4 * i];
#pragma unroll
        for (int j = 0; j < DJ; j++) acc[i][j] = 0.0f;
    }

    for (int kv0 = begin; kv0 < end; kv0 += PF_BK) {
        for (int e = tid; e < PF_BK * D; e += PF_THREADS) {
            const int c = e / D, d = e % D, kp = kv0 + c;
            float kf = 0.0f, vf = 0.0f;
            if (kp < end) {
                const int id = cu_kv_block_id(a.bt, bt_row, kp / BK_KV_BLOCK, a.num_blocks, a.flags);
                if (id >= 0) {
                    const int64_t o = (((int64_t)id * a.Hkv + g) * BK_KV_BLOCK + kp % BK_KV_BLOCK) * D + d;
                    kf = cu_to_f32(kc[o]);
                    vf = cu_to_f32(vc[o]);
                }
            }
            k_s[c * (D + 1) + d] = kf;
            v_s[c * D + d] = vf;
        }
        __syncthreads();
        /* S = Q·Kᵀ: lane = key column, the warp's rows reuse each K element */
        float sc[PF_ROWS];
#pragma unroll
        for (int i = 0; i < PF_ROWS; i++) sc[i] = 0.0f;
        for (int d = 0; d < D; d++) {
            const float kd = k_s[lane * (D + 1) + d];
#pragma unroll
            for (int i = 0; i < PF_ROWS; i++) sc[i] += q_s[(warp + 4 * i) * D + d] * kd;
        }
        const int kp = kv0 + lane;
#pragma unroll
        for (int i = 0; i < PF_ROWS; i++) {
            const int r = warp + 4 * i;
            const bool valid =
                rpos[i] >= 0 && kp <= rpos[i] && (a.window == 0 || kp > rpos[i] - a.window);
            const float sv = valid ? sc[i] : -INFINITY;
            const float m_new = fmaxf(m[i], cu_warp_max(sv));
            const float pv = valid && m_new != -INFINITY ? expf(sv - m_new) : 0.0f;
            const float alpha = m[i] == -INFINITY ? 0.0f : expf(m[i] - m_new);
            l[i] = l[i] * alpha + cu_warp_sum(pv);
            m[i] = m_new;
            p_s[r * PF_BK + lane] = pv;
#pragma unroll
            for (int j = 0; j < DJ; j++) acc[i][j] *= alpha;
        }
        __syncwarp();
        /* O += P·V: lane = head_dim column, P broadcast from the warp's own rows */
        for (int c = 0; c < PF_BK; c++) {
#pragma unroll
            for (int j = 0; j < DJ; j++) {
                const float vd = v_s[c * D + lane + 32 * j];
#pragma unroll
                for (int i = 0; i < PF_ROWS; i++) acc[i][j] += p_s[(warp + 4 * i) * PF_BK + c] * vd;
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < PF_ROWS; i++) {
        const int r = warp + 4 * i;
        if (rpos[i] < 0) continue;
        float *o = a.out + (int64_t)(t0 + r) * a.Hq * D + (int64_t)h * D;
#pragma unroll
        for (int j = 0; j < DJ; j++) o[lane + 32 * j] = acc[i][j] / l[i];
    }
}

/* ---- host ------------------------------------------------------------------------------------- */

template <int D> static int prefill_allow_smem(cu_state *st)
{
    constexpr size_t need = prefill_smem<D>();
    if constexpr (need > SMEM_DEFAULT) {
        if (need > st->max_smem_optin) return 0; /* the launch reports it, should D be used */
        CUDA_CHECK(st, cudaFuncSetAttribute(attn_prefill_kernel<D, __nv_bfloat16>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
        CUDA_CHECK(st, cudaFuncSetAttribute(attn_prefill_kernel<D, float>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
    }
    return 0;
}

extern "C" int cu_attention_init(cu_state *st)
{
    return prefill_allow_smem<32>(st) || prefill_allow_smem<64>(st) || prefill_allow_smem<128>(st) ||
           prefill_allow_smem<256>(st);
}

static size_t decode_smem(int G, int D)
{
    return sizeof(float) * ((size_t)2 * G * D + (size_t)G * DEC_TILE + 2 * (size_t)G) +
           sizeof(int) * (DEC_TILE / BK_KV_BLOCK);
}

template <int D, typename KV>
static int launch(cu_state *st, attn_args &a, bool decode)
{
    if (decode) {
        const dim3 grid((unsigned int)a.T, (unsigned int)a.Hkv, (unsigned int)a.splits);
        CU_LAUNCH(grid, DEC_THREADS, decode_smem(a.G, D), st->stream, attn_decode_kernel<D, KV>)(a);
        CUDA_CHECK_LAUNCH(st);
        if (a.splits > 1) {
            CU_LAUNCH(dim3((unsigned int)a.T, (unsigned int)a.Hq), 128, 0, st->stream,
                      attn_merge_kernel)(a, D);
            CUDA_CHECK_LAUNCH(st);
        }
        return 0;
    }
    const dim3 grid((unsigned int)((a.T + PF_BQ - 1) / PF_BQ + a.S), (unsigned int)a.Hq);
    CU_LAUNCH(grid, PF_THREADS, prefill_smem<D>(), st->stream, attn_prefill_kernel<D, KV>)(a);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}

/* Splits so that the decode grid covers the GPU about twice, each split a whole number of tiles,
 * bounded by what the scratch holds. */
static void plan_splits(const cu_state *st, attn_args &a, int64_t ctx_max, int D)
{
    const int64_t ctas = (int64_t)a.T * a.Hkv;
    int64_t splits = (2 * (int64_t)st->num_sms + ctas - 1) / ctas;
    const int64_t max_tiles = (ctx_max + DEC_TILE - 1) / DEC_TILE;
    if (splits > max_tiles) splits = max_tiles;
    const int64_t per_split = (int64_t)a.T * a.Hq * (D + 2) * (int64_t)sizeof(float);
    if (splits > 1 && splits * per_split > (int64_t)st->scratch_size)
        splits = (int64_t)st->scratch_size / per_split;
    if (splits < 1) splits = 1;
    const int64_t tiles = (max_tiles + splits - 1) / splits;
    a.span = (int)(tiles * DEC_TILE);
    a.splits = (int)((ctx_max + a.span - 1) / a.span);
    if (a.splits < 1) a.splits = 1;
    a.part_acc = (float *)st->scratch;
    a.part_ml = a.part_acc + (int64_t)a.T * a.Hq * a.splits * D;
}

/* BERTH_CUDA_PREFILL_ATTN=simt keeps prefill on the SIMT kernel where the tensor-core one would run:
 * for benchmarks and for comparing the two on a GPU. Read per call, so a program can switch. */
static bool prefill_forced_simt(void)
{
    const char *e = getenv("BERTH_CUDA_PREFILL_ATTN");
    return e && strcmp(e, "simt") == 0;
}

extern "C" int cu_attention(bk_backend *be, bk_tensor *out, const bk_tensor *q, const bk_kv_layer *kv,
                            const bk_batch *batch, bk_attn_shape sh, float scale)
{
    cu_state *st = cu_st(be);
    const char *op = "attention";
    if (!batch) return cu_fail(st, "%s: batch is NULL", op);
    if (!kv) return cu_fail(st, "%s: kv is NULL", op);
    const int32_t T = batch->num_tokens, S = batch->num_seqs, MB = batch->max_blocks;
    const int Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim;
    if (Hq < 1 || Hkv < 1 || Hq % Hkv)
        return cu_fail(st, "%s: q_heads %d and kv_heads %d: expected kv_heads >= 1 dividing q_heads",
                       op, Hq, Hkv);
    if (sh.sliding_window < 0)
        return cu_fail(st, "%s: sliding_window is %d, expected 0 (none) or more", op, sh.sliding_window);
    if (D != 32 && D != 64 && D != 128 && D != 256)
        return cu_fail(st, "%s: head_dim is %d, expected 32, 64, 128 or 256 (the sizes the CUDA "
                       "kernels are built for)", op, D);
    if (T < 0 || S < 0 || (T > 0 && S < 1) || MB < 1)
        return cu_fail(st, "%s: batch has num_tokens %d, num_seqs %d, max_blocks %d: expected "
                       "num_tokens >= 0, num_seqs >= 1 when there are tokens, max_blocks >= 1",
                       op, T, S, MB);
    const bk_dtype dt = kv->k.dtype;
    if (dt != BK_F32 && dt != BK_BF16)
        return cu_fail(st, "%s: kv.k has dtype %s, expected F32 or BF16", op, bk_dtype_name(dt));
    const int64_t kv_cols = (int64_t)Hkv * BK_KV_BLOCK * D;
    if (cu_check(st, op, "kv.k", &kv->k, dt, 1, kv_cols) ||
        cu_check(st, op, "kv.v", &kv->v, dt, kv->k.rows, kv_cols) ||
        cu_check_vec(st, op, "batch.positions", &batch->positions, BK_I32, T) ||
        cu_check_vec(st, op, "batch.query_start", &batch->query_start, BK_I32, (int64_t)S + 1) ||
        cu_check_vec(st, op, "batch.seq_lens", &batch->seq_lens, BK_I32, S) ||
        cu_check_vec(st, op, "batch.block_tables", &batch->block_tables, BK_I32, (int64_t)S * MB) ||
        cu_check(st, op, "q", q, BK_F32, T, (int64_t)Hq * D) ||
        cu_check(st, op, "out", out, BK_F32, T, (int64_t)Hq * D))
        return -1;
    if (out->data == q->data)
        return cu_fail(st, "attention: out and q are the same buffer, expected distinct tensors");
    if (T == 0) return 0;
    const int G = Hq / Hkv;
    attn_args a = {};
    a.out = (float *)out->data;
    a.q = (const float *)q->data;
    a.k = kv->k.data;
    a.v = kv->v.data;
    a.qs = (const int32_t *)batch->query_start.data;
    a.pos = (const int32_t *)batch->positions.data;
    a.lens = (const int32_t *)batch->seq_lens.data;
    a.bt = (const int32_t *)batch->block_tables.data;
    a.S = S;
    a.T = T;
    a.MB = MB;
    a.num_blocks = kv->k.rows;
    a.Hq = Hq;
    a.Hkv = Hkv;
    a.G = G;
    a.window = sh.sliding_window;
    a.scale = scale;
    a.flags = st->flags;
    /* Mostly single-token sequences: per-token CTAs sharing K/V across the GQA group. Chunks of
     * prompt: query tiles that share each K/V tile across 16 tokens. */
    const bool decode = T <= 4 * S;
    if (decode) {
        if (decode_smem(G, D) > SMEM_DEFAULT)
            return cu_fail(st, "%s: %d query heads per KV head at head_dim %d need %zu bytes of shared "
                           "memory in the decode kernel, expected at most %d", op, G, D,
                           decode_smem(G, D), SMEM_DEFAULT);
        int64_t ctx_max = (int64_t)MB * BK_KV_BLOCK;
        if (batch->max_seq_len > 0 && batch->max_seq_len < ctx_max) ctx_max = batch->max_seq_len;
        /* With a window a token reads at most window + one tile of keys from its base tile. */
        if (a.window > 0 && ctx_max > (int64_t)a.window + DEC_TILE) ctx_max = (int64_t)a.window + DEC_TILE;
        plan_splits(st, a, ctx_max, D);
    } else if (cu_attention_tc_covers(dt, D, G) && !prefill_forced_simt()) {
        const cu_attention_tc_call c = {a.out, a.q, a.k, a.v, a.qs, a.pos, a.lens, a.bt, S, T, MB,
                                        a.num_blocks, Hq, Hkv, D, a.window, scale};
        return cu_attention_tc(st, &c);
    }
    switch (D) {
    case 32: return dt == BK_BF16 ? launch<32, __nv_bfloat16>(st, a, decode) : launch<32, float>(st, a, decode);
    case 64: return dt == BK_BF16 ? launch<64, __nv_bfloat16>(st, a, decode) : launch<64, float>(st, a, decode);
    case 128: return dt == BK_BF16 ? launch<128, __nv_bfloat16>(st, a, decode) : launch<128, float>(st, a, decode);
    default: return dt == BK_BF16 ? launch<256, __nv_bfloat16>(st, a, decode) : launch<256, float>(st, a, decode);
    }
}
