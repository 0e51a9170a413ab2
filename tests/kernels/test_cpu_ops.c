/* Each CPU op against a naive scalar reference written here (double accumulation) on seeded random
 * inputs of several shapes and dtypes, plus the memory ops, the memory budget, the thread count and
 * the error paths. Outputs are poisoned (0xFF bytes = NaN) before every op, so an element the op
 * forgets to write fails the comparison. Attention ops: test_cpu_attention.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "tests/kernels/op_harness.h"
#include "tests/kernels/cpu_isa_forced.h"
#include "tests/support/test_support.h"

static const bk_dtype float_dtypes[] = {BK_F32, BK_F16, BK_BF16};

static int has(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

/* BERTH_CPU_ISA: an unknown set and (where the CPU lacks it) an unsupported one fail creation with
 * the variable and its value named; the variable is restored after. */
static void test_isa_select(void)
{
    char err[256];
    const char *prev = getenv("BERTH_CPU_ISA");
    char saved[64] = "";
    if (prev) snprintf(saved, sizeof saved, "%s", prev);
    setenv("BERTH_CPU_ISA", "avx9000", 1);
    CHECK(bk_cpu_create(1, 0, err, sizeof err) == NULL && has(err, "BERTH_CPU_ISA") &&
          has(err, "avx9000") && has(err, "portable"));
    setenv("BERTH_CPU_ISA", "portable", 1);
    bk_backend *be = bk_cpu_create(1, 0, err, sizeof err);
    CHECKF(be && !strcmp(bk_cpu_kernels(be), "portable"), "forced portable: %s", be ? "" : err);
    if (be) be->ops->destroy(be);
    static const char *const sets[] = {"avx2", "avx512"};
    for (int i = 0; i < 2; i++) {
        setenv("BERTH_CPU_ISA", sets[i], 1);
        be = bk_cpu_create(1, 0, err, sizeof err);
        if (bk_cpu_kernels_supported(sets[i]))
            CHECKF(be && !strcmp(bk_cpu_kernels(be), sets[i]), "forced %s: %s", sets[i],
                   be ? bk_cpu_kernels(be) : err);
        else
            CHECKF(!be && has(err, "lacks"), "unsupported %s: %s", sets[i], be ? "created" : err);
        if (be) be->ops->destroy(be);
    }
    if (prev)
        setenv("BERTH_CPU_ISA", saved, 1);
    else
        unsetenv("BERTH_CPU_ISA");
}

static void test_memory(void)
{
    char err[256];
    bk_backend *be = bk_cpu_create(1, 4096, err, sizeof err);
    CHECKF(be, "bk_cpu_create: %s", err);
    if (!be) return;
    CHECK(strcmp(be->name, "cpu") == 0 && be->kv_dtype == BK_F32);
    const bk_ops *o = be->ops;

    bk_tensor a, b, c;
    CHECK(o->tensor_alloc(be, &a, BK_F32, 3, 5) == 0);
    CHECK(((uintptr_t)a.data % 64) == 0 && a.owned == 1 && a.rows == 3 && a.cols == 5);
    CHECK(bk_cpu_bytes_in_use(be) == 64);
    CHECK(o->tensor_alloc(be, &b, BK_BF16, 10, 100) == 0); /* 2000 bytes -> 2048 */
    CHECK(bk_cpu_bytes_in_use(be) == 64 + 2048);
    /* 500 f32 = 2000 -> 2048 bytes: 2112 + 2048 > 4096, refused with the three numbers. */
    CHECK(o->tensor_alloc(be, &c, BK_F32, 1, 500) == -1);
    CHECKF(has(o->last_error(be), "2048") && has(o->last_error(be), "2112") &&
               has(o->last_error(be), "4096"),
           "budget message: %s", o->last_error(be));
    CHECK(bk_cpu_bytes_in_use(be) == 64 + 2048);

    /* With a budget (a memory share) a host wrap is zero-copy but counts: weights are memory the
     * process holds. Too large for what is left, it is refused with the numbers. */
    static float host[8192];
    bk_tensor h;
    CHECK(o->tensor_from_host(be, &h, BK_F32, 1, 8192, host) == -1);
    CHECKF(has(o->last_error(be), "32768") && has(o->last_error(be), "2112"), "wrap message: %s",
           o->last_error(be));
    CHECK(o->tensor_from_host(be, &h, BK_F32, 1, 256, host) == 0);
    CHECK(h.data == (void *)host && h.owned == -1 && bk_cpu_bytes_in_use(be) == 64 + 2048 + 1024);
    o->tensor_free(be, &h);
    CHECK(h.data == NULL && bk_cpu_bytes_in_use(be) == 64 + 2048);

    float rows_in[15], rows_out[15];
    for (int i = 0; i < 15; i++)
        rows_in[i] = (float)i;
    CHECK(o->fill_bytes(be, &a, 0xFF) == 0);
    CHECK(o->upload_rows(be, &a, 1, 2, rows_in) == 0);
    CHECK(o->download_rows(be, &a, 3, rows_out) == 0);
    CHECK(isnan(rows_out[0]) && isnan(rows_out[4]) && rows_out[5] == 0.0f && rows_out[14] == 9.0f);
    CHECK(o->upload_rows(be, &a, 2, 2, rows_in) == -1);
    CHECKF(has(o->last_error(be), "outside"), "upload message: %s", o->last_error(be));
    CHECK(o->upload_rows(be, &a, -1, 1, rows_in) == -1);
    CHECK(o->download_rows(be, &a, 4, rows_out) == -1);

    o->tensor_free(be, &a);
    o->tensor_free(be, &b);
    CHECK(bk_cpu_bytes_in_use(be) == 0);
    CHECK(o->tensor_alloc(be, &c, BK_F32, 1, 1000) == 0); /* fits again once freed */
    o->tensor_free(be, &c);
    CHECK(o->tensor_alloc(be, &c, BK_F32, -1, 4) == -1);
    o->destroy(be);
}

static void test_threads(void)
{
    char err[256];
    int counts[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        bk_backend *be = bk_cpu_create(counts[i], 0, err, sizeof err);
        CHECKF(be, "bk_cpu_create: %s", err);
        if (!be) continue;
        CHECKF(bk_cpu_num_threads(be) == counts[i], "asked for %d threads, regions run with %d",
               counts[i], bk_cpu_num_threads(be));
        be->ops->destroy(be);
    }
    CHECK(bk_cpu_create(-1, 0, err, sizeof err) == NULL && has(err, "num_threads"));
}

static void test_embedding(bk_backend *be, oh_rng *r)
{
    const bk_ops *o = be->ops;
    for (int di = 0; di < 3; di++) {
        bk_dtype dt = float_dtypes[di];
        const int V = 50, H = 33, T = 7;
        void *raw = malloc((size_t)V * H * 4);
        float *vals = malloc((size_t)V * H * sizeof(float)), got[7 * 33];
        double ref[7 * 33];
        int32_t ids[7] = {0, 49, 3, 3, 17, 48, 1};
        oh_random_weights(r, dt, (size_t)V * H, 2.0f, raw, vals);
        bk_tensor table, tid, out;
        CHECK(oh_upload(be, &table, dt, V, H, raw) == 0);
        CHECK(oh_upload(be, &tid, BK_I32, 1, T, ids) == 0);
        CHECK(oh_alloc_poisoned(be, &out, T, H) == 0);
        CHECK(o->embedding(be, &out, &table, &tid, T) == 0);
        CHECK(oh_download(be, &out, T, got) == 0);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < H; i++)
                ref[t * H + i] = vals[ids[t] * H + i];
        CHECKF(oh_close("embedding", got, ref, (size_t)T * H, 0.0), "embedding %s exact",
               bk_dtype_name(dt));
        ids[2] = 50;
        CHECK(o->upload_rows(be, &tid, 0, 1, ids) == 0);
        CHECK(o->embedding(be, &out, &table, &tid, T) == -1);
        CHECKF(has(o->last_error(be), "ids[2] = 50") && has(o->last_error(be), "50 rows"),
               "bad id message: %s", o->last_error(be));
        CHECK(o->embedding(be, &out, &table, &tid, 8) == -1); /* more tokens than ids */
        o->tensor_free(be, &table);
        o->tensor_free(be, &tid);
        o->tensor_free(be, &out);
        free(raw);
        free(vals);
    }
    /* f16 special values through the branch-free conversion: ±0, max, inf, NaN, subnormals. */
    uint16_t sp[8] = {0x0000, 0x8000, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x0001, 0x83ff};
    bk_tensor table, tid, out;
    int32_t ids[1] = {0};
    float got[8];
    CHECK(o->tensor_from_host(be, &table, BK_F16, 1, 8, sp) == 0);
    CHECK(oh_upload(be, &tid, BK_I32, 1, 1, ids) == 0);
    CHECK(oh_alloc_poisoned(be, &out, 1, 8) == 0);
    CHECK(o->embedding(be, &out, &table, &tid, 1) == 0);
    CHECK(oh_download(be, &out, 1, got) == 0);
    for (int i = 0; i < 8; i++) {
        float want = oh_f16_to_f32(sp[i]);
        CHECKF(isnan(want) ? isnan(got[i]) : (got[i] == want && signbit(got[i]) == signbit(want)),
               "f16 0x%04x -> %g, expected %g", sp[i], (double)got[i], (double)want);
    }
    o->tensor_free(be, &tid);
    o->tensor_free(be, &out);
}

static void test_add_rmsnorm(bk_backend *be, oh_rng *r)
{
    const bk_ops *o = be->ops;
    const int shapes[][2] = {{1, 1}, {1, 37}, {5, 1024}, {3, 129}};
    const float eps = 1e-6f;
    for (int si = 0; si < 4; si++) {
        for (int with_delta = 0; with_delta < 2; with_delta++) {
            int T = shapes[si][0], H = shapes[si][1];
            size_t n = (size_t)T * H;
            float *res = malloc(n * 4), *del = malloc(n * 4), *w = malloc((size_t)H * 4);
            float *got = malloc(n * 4), *got_res = malloc(n * 4);
            double *ref = malloc(n * 8), *ref_res = malloc(n * 8);
            oh_fill_uniform(r, res, n, -3, 3);
            oh_fill_uniform(r, del, n, -1, 1);
            oh_fill_uniform(r, w, (size_t)H, 0.5f, 1.5f);
            bk_tensor tr, td, tw, out;
            CHECK(oh_upload(be, &tr, BK_F32, T, H, res) == 0);
            CHECK(oh_upload(be, &td, BK_F32, T, H, del) == 0);
            CHECK(oh_upload(be, &tw, BK_F32, 1, H, w) == 0);
            CHECK(oh_alloc_poisoned(be, &out, T, H) == 0);
            CHECK(o->add_rmsnorm(be, &tr, with_delta ? &td : NULL, &tw, &out, eps, T) == 0);
            CHECK(oh_download(be, &out, T, got) == 0);
            CHECK(oh_download(be, &tr, T, got_res) == 0);
            for (int t = 0; t < T; t++) {
                double ss = 0;
                for (int i = 0; i < H; i++) {
                    /* f32 add, as the op must: the residual stream is f32 in memory. */
                    float rv = with_delta ? res[t * H + i] + del[t * H + i] : res[t * H + i];
                    ref_res[t * H + i] = rv;
                    ss += (double)rv * rv;
                }
                double inv = 1.0 / sqrt(ss / H + eps);
                for (int i = 0; i < H; i++)
                    ref[t * H + i] = w[i] * ref_res[t * H + i] * inv;
            }
            /* Normalized outputs are O(1): 1e-5 absolute is ~100 f32 ulps of headroom. */
            CHECKF(oh_close("add_rmsnorm out", got, ref, n, 1e-5 * fmax(1.0, oh_max_abs(ref, n))),
                   "add_rmsnorm T=%d H=%d delta=%d", T, H, with_delta);
            CHECKF(oh_close("add_rmsnorm residual", got_res, ref_res, n, 0.0),
                   "add_rmsnorm residual T=%d H=%d delta=%d", T, H, with_delta);
            o->tensor_free(be, &tr);
            o->tensor_free(be, &td);
            o->tensor_free(be, &tw);
            o->tensor_free(be, &out);
            free(res), free(del), free(w), free(got), free(got_res), free(ref), free(ref_res);
        }
    }
}

/* One matmul case: W [N][K] in dtype, x [T][K] in [-1, 1), optional bias. The tolerance is stated
 * against the dot product's own magnitude, max over outputs of sum_k |x_k w_nk|: fp32 accumulation
 * over K terms in 16 partial sums stays far below 1e-5 of that. */
static void matmul_case(bk_backend *be, oh_rng *r, bk_dtype dt, int N, int K, int T, int use_bias)
{
    const bk_ops *o = be->ops;
    size_t nw = (size_t)N * K;
    void *raw = malloc(nw * 4);
    float *wv = malloc(nw * 4), *x = malloc((size_t)T * K * 4), *bias = malloc((size_t)N * 4);
    float *got = malloc((size_t)T * N * 4);
    double *ref = malloc((size_t)T * N * 8), scale = 0;
    void *q8 = NULL;
    if (dt == BK_Q8) {
        /* Rows of different magnitudes (each row has its own scale), quantised by bk_q8_quantize
         * and checked here against the format's definition, so the reference below (the
         * dequantised weights, scale · q, times x in double) does not trust the quantiser. */
        float *wf = malloc(nw * 4);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                wf[(size_t)n * K + k] = oh_uniform(r, -1, 1) * (float)(1 + n % 5) * 0.1f;
        q8 = aligned_alloc(64, (bk_q8_bytes(N, K) + 63) / 64 * 64);
        CHECK(bk_q8_quantize(q8, wf, BK_F32, N, K) == 0);
        const int8_t *q = q8;
        const float *sc = (const float *)((const char *)q8 + bk_q8_scales_offset(N, K));
        for (int n = 0; n < N; n++) {
            float amax = 0;
            int hit = 0;
            for (int k = 0; k < K; k++)
                amax = fmaxf(amax, fabsf(wf[(size_t)n * K + k]));
            CHECKF(sc[n] == amax / 127.0f, "q8 row %d: scale %g, expected max|w|/127 = %g", n,
                   sc[n], amax / 127.0f);
            for (int k = 0; k < K; k++) {
                const size_t i = (size_t)n * K + k;
                hit |= q[i] == 127 || q[i] == -127;
                CHECKF(fabs((double)q[i] * sc[n] - wf[i]) <= 0.5001 * sc[n],
                       "q8 [%d][%d]: %d * %g is not the nearest step to %g", n, k, q[i], sc[n],
                       wf[i]);
                wv[i] = (float)((double)q[i] * sc[n]);
            }
            CHECKF(hit, "q8 row %d: no element reaches +-127", n);
        }
        free(wf);
    } else {
        oh_random_weights(r, dt, nw, 0.5f, raw, wv);
    }
    oh_fill_uniform(r, x, (size_t)T * K, -1, 1);
    oh_fill_uniform(r, bias, (size_t)N, -1, 1);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double s = use_bias ? bias[n] : 0.0, mag = use_bias ? fabs(bias[n]) : 0.0;
            for (int k = 0; k < K; k++) {
                s += (double)x[t * K + k] * wv[(size_t)n * K + k];
                mag += fabs((double)x[t * K + k] * wv[(size_t)n * K + k]);
            }
            ref[t * N + n] = s;
            scale = mag > scale ? mag : scale;
        }
    bk_tensor tw, tx, tb, out;
    if (dt == BK_Q8)
        CHECK(o->tensor_from_host(be, &tw, BK_Q8, N, K, q8) == 0);
    else
        CHECK(oh_upload(be, &tw, dt, N, K, raw) == 0);
    CHECK(oh_upload(be, &tx, BK_F32, T, K, x) == 0);
    CHECK(oh_upload(be, &tb, BK_F32, 1, N, bias) == 0);
    CHECK(oh_alloc_poisoned(be, &out, T, N) == 0);
    CHECK(o->matmul(be, &out, &tx, &tw, use_bias ? &tb : NULL, T) == 0);
    CHECK(oh_download(be, &out, T, got) == 0);
    CHECKF(oh_close("matmul", got, ref, (size_t)T * N, 1e-5 * fmax(scale, 1e-30)),
           "matmul %s N=%d K=%d T=%d bias=%d", bk_dtype_name(dt), N, K, T, use_bias);
    /* Batch invariance (engine_sampling needs a request's logits to be the same bits in any
     * batch): each token computed alone, through the T = 1 path, gives the very bits it got inside
     * the T-token call (full tiles, tail tiles, widened blocks). */
    bk_tensor x1, out1;
    float *one = malloc((size_t)N * 4);
    CHECK(oh_alloc_poisoned(be, &out1, 1, N) == 0);
    for (int t = 0; t < T; t++) {
        CHECK(oh_upload(be, &x1, BK_F32, 1, K, x + (size_t)t * K) == 0);
        CHECK(o->matmul(be, &out1, &x1, &tw, use_bias ? &tb : NULL, 1) == 0);
        CHECK(oh_download(be, &out1, 1, one) == 0);
        CHECKF(memcmp(one, got + (size_t)t * N, (size_t)N * 4) == 0,
               "matmul %s N=%d K=%d T=%d: token %d alone differs from its row in the batch",
               bk_dtype_name(dt), N, K, T, t);
        o->tensor_free(be, &x1);
    }
    o->tensor_free(be, &out1);
    free(one);
    o->tensor_free(be, &tw);
    o->tensor_free(be, &tx);
    o->tensor_free(be, &tb);
    o->tensor_free(be, &out);
    free(raw), free(wv), free(x), free(bias), free(got), free(ref), free(q8);
}

static void test_matmul(bk_backend *be, oh_rng *r)
{
    /* Odd N and K (tails of the 16-lane and 8-row loops), T = 1 and T past several 4-token tiles;
     * the last three reach CPU_WIDEN_MIN_T (64) tokens, where 16-bit weights are widened to f32
     * in blocks of 128 rows (K <= 2048) or 64 rows first (a partial block, a row tail, a token
     * tail). */
    const int shapes[][3] = {{1, 1, 1},     {7, 13, 1},    {33, 67, 5},   {64, 128, 8},
                             {100, 300, 9}, {17, 1000, 3}, {257, 64, 2},  {9, 31, 13},
                             {150, 77, 70}, {37, 200, 64}, {70, 2053, 67}};
    /* BK_Q8 too: the int8 tiles (T < 64) and the widened blocks, the scale applied per row. */
    const bk_dtype dts[] = {BK_F32, BK_F16, BK_BF16, BK_Q8};
    for (int di = 0; di < 4; di++)
        for (int si = 0; si < 11; si++)
            matmul_case(be, r, dts[di], shapes[si][0], shapes[si][1], shapes[si][2], si % 2);
}

static void test_silu_mul(bk_backend *be, oh_rng *r)
{
    const bk_ops *o = be->ops;
    const int shapes[][2] = {{1, 1}, {1, 3072}, {6, 37}};
    for (int si = 0; si < 3; si++) {
        int T = shapes[si][0], I = shapes[si][1];
        size_t n = (size_t)T * I;
        float *gu = malloc(2 * n * 4), *got = malloc(n * 4);
        double *ref = malloc(n * 8);
        oh_fill_uniform(r, gu, 2 * n, -8, 8);
        /* Gates past the ends of exp's float range (e^-|x| is 0 below -87.3) and at zero. */
        const float edge[] = {-100.0f, 100.0f, -87.5f, 87.5f, 0.0f, -0.0f, -20.0f, 30.0f};
        for (size_t k = 0; k < 8 && I >= 37; k++)
            gu[k * 4] = edge[k];
        for (int t = 0; t < T; t++)
            for (int i = 0; i < I; i++) {
                double g = gu[(size_t)t * 2 * I + i], u = gu[(size_t)t * 2 * I + I + i];
                ref[(size_t)t * I + i] = g / (1.0 + exp(-g)) * u;
            }
        bk_tensor tg, out;
        CHECK(oh_upload(be, &tg, BK_F32, T, 2 * I, gu) == 0);
        CHECK(oh_alloc_poisoned(be, &out, T, I) == 0);
        CHECK(o->silu_mul(be, &out, &tg, T) == 0);
        CHECK(oh_download(be, &out, T, got) == 0);
        /* exp within a few ulps: 1e-6 relative to the largest output. */
        CHECKF(oh_close("silu_mul", got, ref, n, 1e-6 * oh_max_abs(ref, n)), "silu_mul T=%d I=%d",
               T, I);
        CHECK(o->silu_mul(be, &tg, &tg, T) == -1); /* out must have I columns, not 2I */
        o->tensor_free(be, &tg);
        o->tensor_free(be, &out);
        free(gu), free(got), free(ref);
    }
}

static void test_gather_argmax(bk_backend *be, oh_rng *r)
{
    const bk_ops *o = be->ops;
    const int T = 6, V = 41;
    float x[6 * 41], got[3 * 41];
    double ref[3 * 41];
    int32_t rows[3] = {5, 0, 5}, am[4];
    oh_fill_uniform(r, x, (size_t)T * V, -5, 5);
    bk_tensor tx, tr, out, tam;
    CHECK(oh_upload(be, &tx, BK_F32, T, V, x) == 0);
    CHECK(oh_upload(be, &tr, BK_I32, 1, 3, rows) == 0);
    CHECK(oh_alloc_poisoned(be, &out, 3, V) == 0);
    CHECK(o->gather_rows(be, &out, &tx, &tr, 3) == 0);
    CHECK(oh_download(be, &out, 3, got) == 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < V; j++)
            ref[i * V + j] = x[rows[i] * V + j];
    CHECK(oh_close("gather_rows", got, ref, 3 * (size_t)V, 0.0));
    rows[1] = 6;
    CHECK(o->upload_rows(be, &tr, 0, 1, rows) == 0);
    CHECK(o->gather_rows(be, &out, &tx, &tr, 3) == -1 && has(o->last_error(be), "rows[1] = 6"));

    /* argmax: row 0 random, row 1 a tie (lowest index wins), row 2 a NaN (wins, like torch),
     * row 3 all -inf (index 0). */
    float l[4 * 41];
    memcpy(l, x, sizeof(float) * V);
    for (int j = 0; j < V; j++)
        l[V + j] = (j == 7 || j == 30) ? 9.0f : 1.0f;
    for (int j = 0; j < V; j++)
        l[2 * V + j] = j == 12 ? NAN : (j == 20 ? 100.0f : 0.0f);
    for (int j = 0; j < V; j++)
        l[3 * V + j] = -INFINITY;
    int want0 = 0;
    for (int j = 1; j < V; j++)
        if (l[j] > l[want0]) want0 = j;
    bk_tensor tl;
    CHECK(oh_upload(be, &tl, BK_F32, 4, V, l) == 0);
    CHECK(be->ops->tensor_alloc(be, &tam, BK_I32, 1, 4) == 0 && o->fill_bytes(be, &tam, 0xFF) == 0);
    CHECK(o->argmax(be, &tam, &tl, 4) == 0);
    CHECK(oh_download(be, &tam, 1, am) == 0);
    CHECKF(am[0] == want0 && am[1] == 7 && am[2] == 12 && am[3] == 0,
           "argmax got %d %d %d %d, expected %d 7 12 0", am[0], am[1], am[2], am[3], want0);
    CHECK(o->argmax(be, &tam, &tl, 5) == -1);
    o->tensor_free(be, &tl);
    o->tensor_free(be, &tx);
    o->tensor_free(be, &tr);
    o->tensor_free(be, &out);
    o->tensor_free(be, &tam);
}

/* Shape and dtype mismatches are refused with a message naming the field, never a crash. */
static void test_bad_arguments(bk_backend *be)
{
    const bk_ops *o = be->ops;
    bk_tensor w, x, xb, out, small;
    CHECK(o->tensor_alloc(be, &w, BK_BF16, 8, 16) == 0);
    CHECK(o->tensor_alloc(be, &x, BK_F32, 4, 16) == 0);
    CHECK(o->tensor_alloc(be, &xb, BK_BF16, 4, 16) == 0);
    CHECK(o->tensor_alloc(be, &out, BK_F32, 4, 8) == 0);
    CHECK(o->tensor_alloc(be, &small, BK_F32, 4, 15) == 0);
    CHECK(o->matmul(be, &out, &small, &w, NULL, 4) == -1 && has(o->last_error(be), "x is [4][15]"));
    CHECK(o->matmul(be, &out, &xb, &w, NULL, 4) == -1 && has(o->last_error(be), "dtype BF16"));
    CHECK(o->matmul(be, &out, &x, &w, NULL, 5) == -1 && has(o->last_error(be), "at least 5 rows"));
    CHECK(o->matmul(be, &out, &x, &w, &out, 4) == -1 && has(o->last_error(be), "bias"));
    CHECK(o->matmul(be, &small, &x, &w, NULL, 4) == -1 && has(o->last_error(be), "out"));
    CHECK(o->matmul(be, &out, &x, &w, NULL, -1) == -1);
    CHECK(o->add_rmsnorm(be, &x, NULL, &out, &x, 1e-6f, 4) == -1 &&
          has(o->last_error(be), "weight"));
    CHECK(o->matmul(be, &out, &x, &w, NULL, 0) == 0); /* nothing to do is not an error */
    /* Non-finite weights quantise to defined values: NaN to 0, a row with inf to scale inf. */
    float bad[2][4] = {{NAN, 1.0f, -2.0f, 0.0f}, {INFINITY, 1.0f, NAN, 0.0f}};
    _Alignas(64) unsigned char qb[128];
    CHECK(bk_q8_quantize(qb, bad, BK_F32, 2, 4) == 0);
    const int8_t *qq = (const int8_t *)qb;
    const float *qs = (const float *)(const void *)(qb + bk_q8_scales_offset(2, 4));
    CHECK(qq[0] == 0 && qq[1] == 64 && qq[2] == -127 && qs[0] == 2.0f / 127.0f);
    CHECK(isinf(qs[1]) && qq[4] == 0 && qq[5] == 0 && qq[6] == 0);
    bk_tensor q8;
    CHECK(o->tensor_alloc(be, &q8, BK_Q8, 8, 16) == 0);
    CHECK(o->upload_rows(be, &q8, 0, 8, xb.data) == -1 && has(o->last_error(be), "Q8"));
    o->tensor_free(be, &q8);
    bk_tensor freed = x;
    freed.data = NULL;
    CHECK(o->matmul(be, &out, &freed, &w, NULL, 1) == -1 && has(o->last_error(be), "no data"));
    o->tensor_free(be, &w);
    o->tensor_free(be, &x);
    o->tensor_free(be, &xb);
    o->tensor_free(be, &out);
    o->tensor_free(be, &small);
}

int main(void)
{
    char err[256];
    oh_rng r;
    oh_seed(&r, 20240601);
    cpu_isa_forced_guard("test_cpu_ops");
    test_isa_select();
    test_memory();
    test_threads();
    bk_backend *be = bk_cpu_create(2, 0, err, sizeof err);
    CHECKF(be, "bk_cpu_create: %s", err);
    if (!be) return test_finish("test_cpu_ops");
    cpu_isa_forced_check(be);
    test_embedding(be, &r);
    test_add_rmsnorm(be, &r);
    test_matmul(be, &r);
    test_silu_mul(be, &r);
    test_gather_argmax(be, &r);
    test_bad_arguments(be);
    CHECKF(bk_cpu_bytes_in_use(be) == 0, "%zu bytes leaked by the tests", bk_cpu_bytes_in_use(be));
    be->ops->destroy(be);
    return test_finish("test_cpu_ops");
}
