/* Prefill attention on tensor cores (WMMA: bf16 inputs, fp32 accumulators) for bf16 KV caches at
 * head_dim 64 and 128. cu_attention (cuda_attention.cu) decides when it runs; everything else stays there.
 * Must not: differ from the SIMT kernels in what is attended to, or in which device faults are flagged. */
#include <limits.h>
#include <math.h>
#include <mma.h>

#include "kernels/cuda/cuda_attention_tc.cuh"

namespace wmma = nvcuda::wmma;

/* One CTA = one KV head g and TC_BM query rows. A row is (token i, head gg of g's GQA group), row =
 * i·G + gg: the G query heads sharing a KV head are packed into the M dimension, so every K/V tile
 * loaded into shared memory serves the whole group (TC_BM / G tokens per CTA). */
#define TC_BM 64
#define TC_BK 32 /* keys per tile: two KV blocks */
#define TC_WARPS (TC_BM / 16)
#define TC_THREADS (TC_WARPS * 32)
#define TC_LDP (TC_BK + 8) /* bf16 probabilities; +8 keeps rows 16-byte aligned and off one bank */
/* f32 per-warp scratch [16][TC_LDW], first for the scores, then for four 16-column tiles of P·V.
 * 80 ≡ 16 (mod 32 banks): rows 2j and 2j+1 read by the two half-warps land on disjoint banks. */
#define TC_LDW 80

struct tc_args {
    float *out;
    const float *q;
    const __nv_bfloat16 *k, *v;
    const int32_t *qs, *pos, *lens, *bt;
    int S, T, MB;
    int64_t num_blocks;
    int Hq, Hkv, G, QT; /* QT = tokens per CTA = TC_BM / G */
    int window;         /* sliding window: keys p - window + 1 .. p; 0 = all up to p */
    float scale;
    unsigned int *flags;
};

/* Shared memory, in bytes, one region after the other; every region starts 32-byte aligned (WMMA). */
template <int D> struct tc_smem {
    static constexpr int LDK = D + 8; /* K/V rows in bf16 */
    static constexpr size_t kv = sizeof(__nv_bfloat16) * TC_BK * LDK; /* K, then V */
    static constexpr size_t p = sizeof(__nv_bfloat16) * TC_BM * TC_LDP;
    static constexpr size_t w = sizeof(float) * TC_WARPS * 16 * TC_LDW;
    static constexpr size_t rows = (2 * sizeof(float) + sizeof(int)) * TC_BM; /* alpha, l, position */
    static constexpr size_t total = 2 * kv + p + w + rows + 4 * sizeof(int);
    /* Q is staged through the K/V region before the first tile. */
    static_assert(sizeof(__nv_bfloat16) * TC_BM * LDK <= 2 * kv, "Q staging does not fit");
    static_assert(kv % 32 == 0 && p % 32 == 0 && w % 32 == 0, "WMMA regions must stay 32-byte aligned");
    /* Under the default limit: no opt-in attribute, two CTAs per SM even on sm_89 (99 KiB). */
    static_assert(total <= 48 * 1024, "prefill TC kernel exceeds 48 KiB of shared memory");
};

struct alignas(128) tc_smem_unit {
    unsigned char b[128];
};

/* Per key tile: the CTA loads K and V (2 KV blocks); each warp computes S = Q·Kᵀ for its 16 rows with
 * WMMA into its scratch, runs the online softmax there (running max m and sum l per row in registers,
 * causal mask by absolute position, the SIMT kernel's -inf rules), writes P in bf16, and adds P·V
 * into its output rows, which stay in registers in a layout this file chooses (o[n][j] is row
 * 2j + lane/16, column 16n + lane%16): the per-row rescale by e^(m_old - m_new) needs to know each
 * element's row, and WMMA's accumulator layout is unspecified, so P·V goes through the scratch.
 * The kernel never reads or writes fragment elements (x[]), so it does not depend on that layout. */
template <int D>
__global__ void __launch_bounds__(TC_THREADS) attn_prefill_tc_kernel(tc_args a)
{
    using L = tc_smem<D>;
    constexpr int LDK = L::LDK, NT = D / 16, V8 = D / 8;
    CU_DYNAMIC_SMEM(tc_smem_unit, tc_smem_raw);
    unsigned char *base = (unsigned char *)tc_smem_raw;
    __nv_bfloat16 *k_s = (__nv_bfloat16 *)base;                 /* [TC_BK][LDK] */
    __nv_bfloat16 *v_s = (__nv_bfloat16 *)(base + L::kv);      /* [TC_BK][LDK] */
    __nv_bfloat16 *q_s = k_s;                                   /* [TC_BM][LDK], before the loop */
    __nv_bfloat16 *p_s = (__nv_bfloat16 *)(base + 2 * L::kv);  /* [TC_BM][TC_LDP] */
    float *w_all = (float *)(base + 2 * L::kv + L::p);          /* [TC_WARPS][16][TC_LDW] */
    float *alpha_s = w_all + TC_WARPS * 16 * TC_LDW;            /* [TC_BM] */
    float *l_s = alpha_s + TC_BM;                               /* [TC_BM] */
    int *pos_s = (int *)(l_s + TC_BM);                          /* [TC_BM], -1 = no query */
    int *hdr_s = pos_s + TC_BM;                                 /* sequence, first token, tokens */

    const int g = blockIdx.y, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    if (tid == 0) {
        if (blockIdx.x == 0 && g == 0 && (a.qs[0] != 0 || a.qs[a.S] != a.T))
            atomicOr(a.flags, CU_FLAG_QUERY_START);
        /* Work item blockIdx.x -> (sequence, query tile): grid.x bounds Σ ceil(n_s / QT). */
        int idx = blockIdx.x;
        hdr_s[0] = -1;
        for (int s = 0; s < a.S; s++) {
            const int n = a.qs[s + 1] - a.qs[s];
            const int tiles = n > 0 ? (n + a.QT - 1) / a.QT : 0;
            if (idx < tiles) {
                hdr_s[0] = s;
                hdr_s[1] = a.qs[s] + idx * a.QT;
                hdr_s[2] = min(a.QT, a.qs[s + 1] - hdr_s[1]);
                break;
            }
            idx -= tiles;
        }
    }
    __syncthreads();
    const int s = hdr_s[0];
    if (s < 0) return;
    const int t0 = hdr_s[1], nq = hdr_s[2];
    for (int r = tid; r < TC_BM; r += TC_THREADS) {
        const int i = r / a.G;
        pos_s[r] = i < nq ? cu_checked_pos(a, t0 + i, s) : -1;
    }
    /* Q rounded once to bf16; the scale is applied to the fp32 scores instead. */
    for (int e = tid; e < TC_BM * (D / 4); e += TC_THREADS) {
        const int r = e / (D / 4), d = e % (D / 4) * 4, i = r / a.G;
        cu_vec<float, 4> x = {};
        if (i < nq)
            x = *reinterpret_cast<const cu_vec<float, 4> *>(
                a.q + (int64_t)(t0 + i) * a.Hq * D + (int64_t)(g * a.G + r % a.G) * D + d);
#pragma unroll
        for (int j = 0; j < 4; j++) q_s[r * LDK + d + j] = cu_from_f32<__nv_bfloat16>(x.v[j]);
    }
    __syncthreads();

    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[NT];
#pragma unroll
    for (int kk = 0; kk < NT; kk++) wmma::load_matrix_sync(qf[kk], q_s + warp * 16 * LDK + kk * 16, LDK);
    int end = 0, wend = 0, begin = INT_MAX; /* keys the CTA and this warp's rows attend to */
    for (int r = 0; r < TC_BM; r++) {
        end = max(end, pos_s[r] + 1);
        if (r / 16 == warp) wend = max(wend, pos_s[r] + 1);
        if (pos_s[r] >= 0) begin = min(begin, a.window > 0 ? max(0, pos_s[r] - a.window + 1) : 0);
    }
    /* Tiles before the earliest window start hold nothing any row attends to. */
    begin = begin == INT_MAX ? 0 : begin / TC_BK * TC_BK;
    /* Softmax ownership: lanes 2r and 2r+1 (hf = 0, 1) hold row r of the warp, 16 key columns each. */
    const int srow = lane >> 1, hf = lane & 1, row = warp * 16 + srow;
    const int rp = pos_s[row];
    float m = -INFINITY, l = 0.0f;
    float o[NT][8];
#pragma unroll
    for (int n = 0; n < NT; n++)
#pragma unroll
        for (int j = 0; j < 8; j++) o[n][j] = 0.0f;
    float *w_s = w_all + warp * 16 * TC_LDW;
    __nv_bfloat16 *pw_s = p_s + warp * 16 * TC_LDP;
    const int64_t bt_row = (int64_t)s * a.MB;
    __syncthreads(); /* every warp holds its Q fragments: the staging area becomes K and V */

    for (int kv0 = begin; kv0 < end; kv0 += TC_BK) {
        /* K and V of positions past `end` are zero, not stale: P is 0 there, and 0·NaN would not be. */
        for (int e = tid; e < TC_BK * V8; e += TC_THREADS) {
            const int c = e / V8, d = e % V8 * 8, kp = kv0 + c;
            cu_vec<uint32_t, 4> kx = {}, vx = {};
            if (kp < end) {
                const int id = cu_kv_block_id(a.bt, bt_row, kp / BK_KV_BLOCK, a.num_blocks, a.flags);
                if (id >= 0) {
                    const int64_t off =
                        (((int64_t)id * a.Hkv + g) * BK_KV_BLOCK + kp % BK_KV_BLOCK) * D + d;
                    kx = *reinterpret_cast<const cu_vec<uint32_t, 4> *>(a.k + off);
                    vx = *reinterpret_cast<const cu_vec<uint32_t, 4> *>(a.v + off);
                }
            }
            *reinterpret_cast<cu_vec<uint32_t, 4> *>(k_s + c * LDK + d) = kx;
            *reinterpret_cast<cu_vec<uint32_t, 4> *>(v_s + c * LDK + d) = vx;
        }
        __syncthreads();
        /* A warp whose rows all precede this tile has nothing left to add (kv0 only grows). */
        if (kv0 < wend) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf[TC_BK / 16];
#pragma unroll
            for (int n = 0; n < TC_BK / 16; n++) wmma::fill_fragment(sf[n], 0.0f);
#pragma unroll
            for (int kk = 0; kk < NT; kk++) {
#pragma unroll
                for (int n = 0; n < TC_BK / 16; n++) {
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> kf;
                    wmma::load_matrix_sync(kf, k_s + n * 16 * LDK + kk * 16, LDK);
                    wmma::mma_sync(sf[n], qf[kk], kf, sf[n]);
                }
            }
#pragma unroll
            for (int n = 0; n < TC_BK / 16; n++)
                wmma::store_matrix_sync(w_s + n * 16, sf[n], TC_LDW, wmma::mem_row_major);
            __syncwarp();

            /* Column c of a lane's half is rotated by its row, so the 32 lanes read 32 banks. */
            float sv[16], mx = -INFINITY;
#pragma unroll
            for (int c = 0; c < 16; c++) {
                const int col = hf * 16 + ((c + srow) & 15), kp = kv0 + col;
                const float x = w_s[srow * TC_LDW + col] * a.scale;
                sv[c] = rp >= 0 && kp <= rp && (a.window == 0 || kp > rp - a.window) ? x : -INFINITY;
                mx = fmaxf(mx, sv[c]);
            }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            const float m_new = fmaxf(m, mx);
            float sum = 0.0f;
#pragma unroll
            for (int c = 0; c < 16; c++) {
                const int col = hf * 16 + ((c + srow) & 15);
                const float p = m_new == -INFINITY ? 0.0f : expf(sv[c] - m_new);
                pw_s[srow * TC_LDP + col] = cu_from_f32<__nv_bfloat16>(p);
                sum += p;
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            const float alpha = m == -INFINITY ? 0.0f : expf(m - m_new);
            l = l * alpha + sum;
            m = m_new;
            if (hf == 0) alpha_s[row] = alpha;
            __syncwarp();

            /* O = alpha·O + P·V, four 16-column tiles of V at a time through the scratch. */
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> pf[TC_BK / 16];
#pragma unroll
            for (int kk = 0; kk < TC_BK / 16; kk++)
                wmma::load_matrix_sync(pf[kk], pw_s + kk * 16, TC_LDP);
#pragma unroll
            for (int n0 = 0; n0 < NT; n0 += 4) {
#pragma unroll
                for (int n = 0; n < 4; n++) {
                    wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;
                    wmma::fill_fragment(of, 0.0f);
#pragma unroll
                    for (int kk = 0; kk < TC_BK / 16; kk++) {
                        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> vf;
                        wmma::load_matrix_sync(vf, v_s + kk * 16 * LDK + (n0 + n) * 16, LDK);
                        wmma::mma_sync(of, pf[kk], vf, of);
                    }
                    wmma::store_matrix_sync(w_s + n * 16, of, TC_LDW, wmma::mem_row_major);
                }
                __syncwarp();
#pragma unroll
                for (int n = 0; n < 4; n++)
#pragma unroll
                    for (int j = 0; j < 8; j++) {
                        const int rr = (lane >> 4) + 2 * j;
                        o[n0 + n][j] = o[n0 + n][j] * alpha_s[warp * 16 + rr] +
                                       w_s[rr * TC_LDW + n * 16 + (lane & 15)];
                    }
                __syncwarp();
            }
        }
        __syncthreads();
    }

    if (hf == 0) l_s[row] = l;
    __syncwarp();
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int r = warp * 16 + (lane >> 4) + 2 * j;
        if (pos_s[r] < 0) continue;
        float *out = a.out + (int64_t)(t0 + r / a.G) * a.Hq * D + (int64_t)(g * a.G + r % a.G) * D;
        const float inv = 1.0f / l_s[r];
#pragma unroll
        for (int n = 0; n < NT; n++) out[n * 16 + (lane & 15)] = o[n][j] * inv;
    }
}

bool cu_attention_tc_covers(bk_dtype kv_dtype, int head_dim, int group)
{
    return kv_dtype == BK_BF16 && (head_dim == 64 || head_dim == 128) && group >= 1 && group <= TC_BM;
}

int cu_attention_tc(cu_state *st, const cu_attention_tc_call *c)
{
    tc_args a = {};
    a.out = c->out;
    a.q = c->q;
    a.k = (const __nv_bfloat16 *)c->k;
    a.v = (const __nv_bfloat16 *)c->v;
    a.qs = c->qs;
    a.pos = c->pos;
    a.lens = c->lens;
    a.bt = c->bt;
    a.S = c->S;
    a.T = c->T;
    a.MB = c->MB;
    a.num_blocks = c->num_blocks;
    a.Hq = c->Hq;
    a.Hkv = c->Hkv;
    a.G = c->Hq / c->Hkv;
    a.QT = TC_BM / a.G;
    a.window = c->window;
    a.scale = c->scale;
    a.flags = st->flags;
    const dim3 grid((unsigned int)((a.T + a.QT - 1) / a.QT + a.S), (unsigned int)a.Hkv);
    if (c->D == 64)
        CU_LAUNCH(grid, TC_THREADS, tc_smem<64>::total, st->stream, attn_prefill_tc_kernel<64>)(a);
    else
        CU_LAUNCH(grid, TC_THREADS, tc_smem<128>::total, st->stream, attn_prefill_tc_kernel<128>)(a);
    CUDA_CHECK_LAUNCH(st);
    return 0;
}
