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

/* out[j] = dot(q, k + j * D) for j < 4: the four keys share each q load and run four chains. */
static inline void dot4(const float *restrict q, const float *restrict k, int D, float *out)
{
    vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int i = 0;
    for (; i + VL <= D; i += VL) {
        vf qv = ld(q + i);
        a0 += qv * ld(k + i);
        a1 += qv * ld(k + D + i);
        a2 += qv * ld(k + 2 * D + i);
        a3 += qv * ld(k + 3 * D + i);
    }
    out[0] = hsum(a0), out[1] = hsum(a1), out[2] = hsum(a2), out[3] = hsum(a3);
    for (; i < D; i++)
        for (int j = 0; j < 4; j++)
            out[j] += q[i] * k[j * D + i];
}

static inline float dot1(const float *restrict q, const float *restrict k, int D)
{
    vf a = {0};
    int i = 0;
    for (; i + VL <= D; i += VL)
        a += ld(q + i) * ld(k + i);
    float s = hsum(a);
    for (; i < D; i++)
        s += q[i] * k[i];
    return s;
}

/* One (token chunk, kv head) item: every (token, q head) row shares each K/V block, which is
 * converted to f32 once (bf16 caches) and then read from L1 by all rows. Per row an online
 * softmax one 16-key block at a time: scores, new running max, rescale, weighted V rows. */
static void attention_item(const cpu_attn_item *it)
{
    enum { MAXD = 512, BLK = BK_KV_BLOCK };
    const int D = it->D, group = it->group, Hkv = it->Hkv, Hq = it->Hq;
    const int R = (it->t1 - it->t0) * it->nh, nh = it->nh;
    float acc[CPU_ATTN_MAX_ROWS][MAXD] __attribute__((aligned(64)));
    float kf[BLK * MAXD] __attribute__((aligned(64))), vfb[BLK * MAXD] __attribute__((aligned(64)));
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
        memset(acc[r], 0, (size_t)D * sizeof(float));
        bmin = pfirst[r] / BLK < bmin ? pfirst[r] / BLK : bmin;
        bmax = p / BLK > bmax ? p / BLK : bmax;
    }
    for (int32_t b = bmin; b <= bmax; b++) {
        const int64_t tile = ((int64_t)it->block_table[b] * Hkv + it->g) * BLK * D;
        const float *kb, *vb;
        /* Keys this block holds for any row: rows never read past their own position, so slots
         * not yet written (uninitialised memory) are never touched. */
        int32_t nmax = 0;
        for (int r = 0; r < R; r++) {
            int32_t n = plast[r] + 1 - b * BLK;
            n = n > BLK ? BLK : n;
            nmax = n > nmax ? n : nmax;
        }
        if (it->kv_dtype == BK_BF16) {
            const uint16_t *k16 = (const uint16_t *)it->k + tile,
                           *v16 = (const uint16_t *)it->v + tile;
            int64_t e = 0, ne = (int64_t)nmax * D;
            for (; e + VL <= ne; e += VL) {
                st(kf + e, cvt_bf16(k16 + e));
                st(vfb + e, cvt_bf16(v16 + e));
            }
            for (; e < ne; e++)
                kf[e] = cpu_bf16_to_f32(k16[e]), vfb[e] = cpu_bf16_to_f32(v16[e]);
            kb = kf, vb = vfb;
        } else {
            kb = (const float *)it->k + tile, vb = (const float *)it->v + tile;
        }
        for (int r = 0; r < R; r++) {
            int32_t j0 = pfirst[r] - b * BLK, j1 = plast[r] + 1 - b * BLK;
            j0 = j0 < 0 ? 0 : j0;
            j1 = j1 > BLK ? BLK : j1;
            if (j1 <= j0) continue;
            float sc[BLK] __attribute__((aligned(64)));
            for (int j = 0; j < BLK; j++)
                sc[j] = -INFINITY;
            int j = j0;
            for (; j + 4 <= j1; j += 4)
                dot4(qrow[r], kb + (int64_t)j * D, D, sc + j);
            for (; j < j1; j++)
                sc[j] = dot1(qrow[r], kb + (int64_t)j * D, D);
            float bm = -INFINITY;
            for (j = j0; j < j1; j++) {
                sc[j] *= it->scale;
                bm = sc[j] > bm ? sc[j] : bm;
            }
            const float mnew = bm > m[r] ? bm : m[r];
            /* Scores outside [j0, j1) stay -inf and become 0. */
            float corr;
            {
                vf c = vexp_neg((vf){0} + (m[r] - mnew));
                corr = c[0];
            }
            for (int jj = 0; jj < BLK; jj += VL)
                st(sc + jj, vexp_neg(ld(sc + jj) - mnew));
            float lsum = 0.0f;
            for (j = j0; j < j1; j++)
                lsum += sc[j];
            l[r] = l[r] * corr + lsum;
            float *a = acc[r];
            int i = 0;
            for (; i + VL <= D; i += VL) {
                vf av = ld(a + i) * corr;
                for (j = j0; j < j1; j++)
                    av += sc[j] * ld(vb + (int64_t)j * D + i);
                st(a + i, av);
            }
            for (; i < D; i++) {
                float s = a[i] * corr;
                for (j = j0; j < j1; j++)
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
            o[i] = acc[r][i] * inv;
    }
}
