/* Attention part of one kernel set, included by cpu_kern_body.h only (it uses that file's vector
 * types, VL and helpers). Must not: be included anywhere else. */

typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vu ubits(vf f)
{
    vu u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* exp(x) for x <= 0 (all an online softmax needs), vectorised: x = n ln2 + r with |r| <= ln2/2,
 * Cephes' degree-6 polynomial for e^r (about 1 ulp), 2^n put in the exponent bits. Below -87.3
 * (where e^x leaves the normal floats), for -inf and for NaN the result is 0. */
static inline vf vexp_neg(vf x)
{
    const vu keep = (vu)(x > -87.3f);
    x = bits((keep & ubits(x)) | (~keep & ubits((vf){0} - 87.3f)));
    /* n = round(x log2 e); for t <= 0, truncating t - 0.5 toward zero rounds t to nearest. */
    vi n = __builtin_convertvector(x * 1.44269504088896341f - 0.5f, vi);
    vf fn = __builtin_convertvector(n, vf);
    vf r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    vf p = (vf){0} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    vf y = p * r * r + r + 1.0f;
    vu scale = (vu)(n + 127) << 23;
    return bits(keep & ubits(y * bits(scale)));
}

/* Index lists for one stage of the tile transpose (transpose_tile): rows a (index i, bit h clear)
 * and b (i + h) swap the off-diagonal h x h blocks of each 2h x 2h block. In shuffle terms a
 * takes b's element c - h where column c has bit h, and b takes a's element c + h where it does
 * not. */
#define TR_A(h, c) (((c) & (h)) ? VL + (c) - (h) : (c))
#define TR_B(h, c) (((c) & (h)) ? VL + (c) : (c) + (h))
#define TR_ZERO(h, c) 0
#if VL == 16
#define TR_IDX(F, h)                                                                               \
    F(h, 0), F(h, 1), F(h, 2), F(h, 3), F(h, 4), F(h, 5), F(h, 6), F(h, 7), F(h, 8), F(h, 9),      \
        F(h, 10), F(h, 11), F(h, 12), F(h, 13), F(h, 14), F(h, 15)
#elif VL == 8
#define TR_IDX(F, h) F(h, 0), F(h, 1), F(h, 2), F(h, 3), F(h, 4), F(h, 5), F(h, 6), F(h, 7)
#else
#error "cpu_kern_attn.h: the tile transpose has index lists for VL 8 and 16 only"
#endif
#define TR_STAGE(r, h)                                                                             \
    for (int i = 0; i < VL; i++)                                                                   \
        if (!(i & (h))) {                                                                          \
            const vf a = r[i], b = r[i + (h)];                                                     \
            r[i] = __builtin_shufflevector(a, b, TR_IDX(TR_A, h));                                 \
            r[i + (h)] = __builtin_shufflevector(a, b, TR_IDX(TR_B, h));                           \
        }

/* Transposes the VL x VL tile held in r (row i in r[i]) in registers: stage h swaps bit h of the
 * row index with bit h of the column index, so log2(VL) stages of VL two-source shuffles each
 * (vpermt2ps / vshufps-class instructions) replace VL x VL scalar moves. Only moves data. */
static inline __attribute__((always_inline)) void transpose_tile(vf *r)
{
#if VL == 16
    TR_STAGE(r, 8)
#endif
    TR_STAGE(r, 4)
    TR_STAGE(r, 2)
    TR_STAGE(r, 1)
}

/* The shuffle tiles pay where a vector is one register (AVX-512 zmm, AVX2 ymm). The portable set's
 * 8-lane vectors are register pairs (SSE2, NEON), whose cross-pair shuffles gcc lowers to scalar
 * moves: there the scalar loop below was 20% faster (bench_cpu_attention, decode). */
#if (defined(__AVX512F__) && VL == 16) || (defined(__AVX2__) && VL == 8)
#define TR_TILES 1
#else
#define TR_TILES 0
#endif

/* One K block ([BLK keys][D], bf16 or f32) to kt ([D][BLK] f32) in VL x VL tiles; keys at or past
 * nmax are zero (their slots may never have been written, so they are not read). */
static inline __attribute__((always_inline)) void k_transpose(const void *kb, const int bf16, int D,
                                                              int nmax, float *kt)
{
    enum { BLK = BK_KV_BLOCK };
    const uint16_t *k16 = kb;
    const float *k32 = kb;
    int d0 = 0;
    for (; TR_TILES && d0 + VL <= D; d0 += VL)
        for (int j0 = 0; j0 < BLK; j0 += VL) {
            vf r[VL];
            for (int j = 0; j < VL; j++) {
                const int64_t e = (int64_t)(j0 + j) * D + d0;
                r[j] = j0 + j >= nmax ? (vf){0} : bf16 ? cvt_bf16(k16 + e) : ld(k32 + e);
            }
            transpose_tile(r);
            for (int dd = 0; dd < VL; dd++)
                st(kt + (d0 + dd) * BLK + j0, r[dd]);
        }
    for (; d0 < D; d0++)
        for (int j = 0; j < BLK; j++) {
            const int64_t e = (int64_t)j * D + d0;
            kt[d0 * BLK + j] = j >= nmax ? 0.0f : bf16 ? cpu_bf16_to_f32(k16[e]) : k32[e];
        }
}

static inline vf vmax(vf a, vf b)
{
    const vu gt = (vu)(a > b);
    return bits((gt & ubits(a)) | (~gt & ubits(b)));
}

/* The largest of a row's NS score vectors (keys outside the row's range hold -inf), by the same
 * shuffle tree as hsum. A maximum is exact, so the tree's order does not change it. */
static inline float hmax(const float *a)
{
    vf v = ld(a);
    for (int ns = 1; ns < BK_KV_BLOCK / VL; ns++)
        v = vmax(v, ld(a + ns * VL));
#if VL == 16
    v = vmax(v, __builtin_shufflevector(v, v, HS_IDX(8)));
#endif
    v = vmax(v, __builtin_shufflevector(v, v, HS_IDX(4)));
    v = vmax(v, __builtin_shufflevector(v, v, HS_IDX(2)));
    v = vmax(v, __builtin_shufflevector(v, v, HS_IDX(1)));
    return v[0];
}

/* x * v. Where a vector is a register pair (the portable set), gcc built the broadcast of x from VL
 * scalar stores and two vector loads of the same bytes (a store-forwarding stall per element, most
 * of that set's attention time); there x goes into one lane and a shuffle copies it, in registers.
 * The product is the same either way; the other sets keep the plain scalar * vector. */
static inline vf smul(float x, vf v)
{
#if TR_TILES
    return x * v;
#else
    vf b = {0};
    b[0] = x;
    return __builtin_shufflevector(b, b, TR_IDX(TR_ZERO, 0)) * v;
#endif
}

/* Raw scores of rows [r0, r0 + qr) against one transposed block kt ([D][BLK]): a row's 16 scores
 * are D vector FMAs of a broadcast q element, each kt vector loaded once for qr rows (one row's
 * chain alone is latency-bound). Rows past R repeat row R - 1 and are not stored. Inlined with a
 * constant qr, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void scores_rows(const int qr,
                                                              const float *const *qrow, int r0,
                                                              int R, const float *kt, int D,
                                                              float *raw)
{
    enum { BLK = BK_KV_BLOCK, NS = BK_KV_BLOCK / VL };
    const float *q[8];
    vf s[8][NS];
    for (int u = 0; u < qr; u++) {
        q[u] = qrow[r0 + u < R ? r0 + u : R - 1];
        for (int ns = 0; ns < NS; ns++)
            s[u][ns] = (vf){0};
    }
    for (int d = 0; d < D; d++)
        for (int ns = 0; ns < NS; ns++) {
            const vf kv = ld(kt + d * BLK + ns * VL);
            for (int u = 0; u < qr; u++)
                s[u][ns] += smul(q[u][d], kv);
        }
    for (int u = 0; u < qr && r0 + u < R; u++)
        for (int ns = 0; ns < NS; ns++)
            st(raw + (r0 + u) * BLK + ns * VL, s[u][ns]);
}

/* One (token chunk, kv head) item: every (token, q head) row shares each K/V block, which is
 * converted to f32 once per item (K transposed to [D][16], so a row's 16 scores are D vector FMAs
 * of a broadcast q element, with no horizontal sums) and then read from L1 by all rows. Per row an
 * online softmax one 16-key block at a time: scores, new running max, rescale, weighted V rows. */
static void attention_item(const cpu_attn_item *it)
{
    /* AB: vectors of a row's accumulator per pass of the weighted V sum, 2 x AB chains in
     * registers (16 of 32 zmm, 8 of 16 ymm). */
    enum {
        MAXD = 512,
        BLK = BK_KV_BLOCK,
        NS = BK_KV_BLOCK / VL,
        AB = VL == 16   ? 8
             : TR_TILES ? 4
                        : 2
    };
    const int D = it->D, group = it->group, Hkv = it->Hkv, Hq = it->Hq;
    const int R = (it->t1 - it->t0) * it->nh, nh = it->nh;
    float accs[CPU_ATTN_ACC_FLOATS] __attribute__((aligned(64)));
    float kt[MAXD * BLK] __attribute__((aligned(64))), vfb[BLK * MAXD] __attribute__((aligned(64)));
    float raw[CPU_ATTN_MAX_ROWS * BLK] __attribute__((aligned(64)));
    vi lane[NS];
    for (int ns = 0; ns < NS; ns++)
        for (int j = 0; j < VL; j++)
            lane[ns][j] = ns * VL + j;
    float m[CPU_ATTN_MAX_ROWS], l[CPU_ATTN_MAX_ROWS];
    int32_t plast[CPU_ATTN_MAX_ROWS], pfirst[CPU_ATTN_MAX_ROWS];
    const float *qrow[CPU_ATTN_MAX_ROWS];
    int32_t bmin = INT32_MAX, bmax = 0;
    for (int r = 0; r < R; r++) {
        const int32_t t = it->t0 + r / nh, h = it->g * group + it->h0 + r % nh, p = it->pos[t];
        qrow[r] = it->q + ((int64_t)t * Hq + h) * D;
        plast[r] = p;
        /* The first position in the window: blocks before it are skipped. */
        pfirst[r] =
            it->sliding_window > 0 && p >= it->sliding_window ? p - it->sliding_window + 1 : 0;
        m[r] = -INFINITY, l[r] = 0.0f;
        memset(accs + (int64_t)r * D, 0, (size_t)D * sizeof(float));
        bmin = pfirst[r] / BLK < bmin ? pfirst[r] / BLK : bmin;
        bmax = p / BLK > bmax ? p / BLK : bmax;
    }
    for (int32_t b = bmin; b <= bmax; b++) {
        const int64_t tile = ((int64_t)it->block_table[b] * Hkv + it->g) * BLK * D;
        const float *vb;
        /* Keys this block holds for any row: rows never read past their own position, so slots
         * not yet written (uninitialised memory) are never touched. */
        int32_t nmax = 0;
        for (int r = 0; r < R; r++) {
            int32_t n = plast[r] + 1 - b * BLK;
            n = n > BLK ? BLK : n;
            nmax = n > nmax ? n : nmax;
        }
        /* Slots at or past nmax are zero in kt, never uninitialised memory. */
        if (it->kv_dtype == BK_BF16) {
            const uint16_t *k16 = (const uint16_t *)it->k + tile;
            const uint16_t *v16 = (const uint16_t *)it->v + tile;
            int64_t e = 0, ne = (int64_t)nmax * D;
            for (; e + VL <= ne; e += VL)
                st(vfb + e, cvt_bf16(v16 + e));
            for (; e < ne; e++)
                vfb[e] = cpu_bf16_to_f32(v16[e]);
            k_transpose(k16, 1, D, nmax, kt);
            vb = vfb;
        } else {
            k_transpose((const float *)it->k + tile, 0, D, nmax, kt);
            vb = (const float *)it->v + tile;
        }
        /* Raw scores of every row, 8 rows at a time on AVX-512 (8 accumulators), else and for
         * items of fewer than 8 rows (decode) 4 at a time, so duplicates do not double the work. */
        int r0 = 0;
        if (VL == 16 && R >= 8)
            for (; r0 < R; r0 += 8)
                scores_rows(8, qrow, r0, R, kt, D, raw);
        if (TR_TILES)
            for (; r0 < R; r0 += 4)
                scores_rows(4, qrow, r0, R, kt, D, raw);
        else
            for (; r0 < R; r0 += 2)
                scores_rows(2, qrow, r0, R, kt, D, raw);
        for (int r = 0; r < R; r++) {
            int32_t j0 = pfirst[r] - b * BLK, j1 = plast[r] + 1 - b * BLK;
            j0 = j0 < 0 ? 0 : j0;
            j1 = j1 > BLK ? BLK : j1;
            if (j1 <= j0) continue;
            float sc[BLK] __attribute__((aligned(64)));
            for (int ns = 0; ns < NS; ns++) {
                /* Keys outside [j0, j1) get -inf, so their weight is exactly 0. */
                const vu in = (vu)(lane[ns] >= j0) & (vu)(lane[ns] < j1);
                const vf sv = ld(raw + r * BLK + ns * VL) * it->scale;
                st(sc + ns * VL, bits((in & ubits(sv)) | (~in & ubits((vf){0} - INFINITY))));
            }
            const float bm = hmax(sc);
            const float mnew = bm > m[r] ? bm : m[r];
            /* vexp_neg(0) is exactly 1, so an unchanged maximum skips the vector exp. */
            const float corr = mnew == m[r] ? 1.0f : vexp_neg((vf){0} + (m[r] - mnew))[0];
            vf lv = {0};
            for (int ns = 0; ns < NS; ns++) {
                vf p = vexp_neg(ld(sc + ns * VL) - mnew);
                st(sc + ns * VL, p);
                lv += p;
            }
            l[r] = l[r] * corr + hsum(lv);
            float *a = accs + (int64_t)r * D;
            int i = 0;
            /* AB vectors of the row at once, keys outside: each score is broadcast once for AB
             * V loads, where the loop below loads score and V for every FMA. Each lane still sums
             * its even and odd keys in ascending order in two chains, so the bits are the same. */
            for (; i + AB * VL <= D; i += AB * VL) {
                vf av[AB], av1[AB];
                for (int u = 0; u < AB; u++)
                    av[u] = ld(a + i + u * VL) * corr, av1[u] = (vf){0};
                int j = j0;
                for (; j + 2 <= j1; j += 2) {
                    const float *v0 = vb + (int64_t)j * D + i, *v1 = v0 + D;
                    for (int u = 0; u < AB; u++) {
                        av[u] += smul(sc[j], ld(v0 + u * VL));
                        av1[u] += smul(sc[j + 1], ld(v1 + u * VL));
                    }
                }
                if (j < j1)
                    for (int u = 0; u < AB; u++)
                        av[u] += smul(sc[j], ld(vb + (int64_t)j * D + i + u * VL));
                for (int u = 0; u < AB; u++)
                    st(a + i + u * VL, av[u] + av1[u]);
            }
            for (; i + VL <= D; i += VL) {
                /* Two chains (even and odd keys) halve the dependent FMA latency. */
                vf av = ld(a + i) * corr, av1 = {0};
                int j = j0;
                for (; j + 2 <= j1; j += 2) {
                    av += smul(sc[j], ld(vb + (int64_t)j * D + i));
                    av1 += smul(sc[j + 1], ld(vb + (int64_t)(j + 1) * D + i));
                }
                if (j < j1) av += smul(sc[j], ld(vb + (int64_t)j * D + i));
                st(a + i, av + av1);
            }
            for (; i < D; i++) {
                float s = a[i] * corr;
                for (int j = j0; j < j1; j++)
                    s += sc[j] * vb[(int64_t)j * D + i];
                a[i] = s;
            }
            m[r] = mnew;
        }
    }
    for (int r = 0; r < R; r++) {
        const int32_t t = it->t0 + r / nh, h = it->g * group + it->h0 + r % nh;
        float *o = it->out + ((int64_t)t * Hq + h) * D;
        const float inv = 1.0f / l[r];
        for (int i = 0; i < D; i++)
            o[i] = accs[(int64_t)r * D + i] * inv;
    }
}
