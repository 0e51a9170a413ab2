/* Every row-wise op and matmul of the CUDA backend against the CPU backend on the same random inputs,
 * plus the error paths only the GPU has (device-side input faults, the memory budget).
 * Tolerances (NMSE, max-abs as a fraction of max |cpu|), chosen from the arithmetic each path does:
 *   exact copies (embedding, gather_rows, argmax)           0, 0
 *   fp32 reductions in another order (rmsnorm, silu, GEMV)  1e-10, 1e-5
 *   cuBLASLt with x rounded to bf16 (T > 8, BF16 weights)   2e-5, 2e-2  (bf16 keeps 8 bits: ~1e-6)
 *   cuBLASLt with x rounded to f16 (T > 8, F16 weights)     1e-6, 4e-3  (f16 keeps 11 bits: ~2e-8)
 *   cuBLASLt fp32 (T > 8, F32 weights)                      1e-10, 1e-5 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_backend.h"
#include "tests/gpu/gpu_twin.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/test_support.h"

#define TOL_F32_NMSE 1e-10
#define TOL_F32_ABS 1e-5

static oh_rng rng;

static float *random_f32(size_t n, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (x) oh_fill_uniform(&rng, x, n, lo, hi);
    return x;
}

/* ---- embedding -------------------------------------------------------------------------------- */

static void test_embedding(void)
{
    static const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {1000, 2560, 37}, {151, 4099, 3}};
    static const bk_dtype dts[] = {BK_F32, BK_F16, BK_BF16};
    for (size_t d = 0; d < 3; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int V = shapes[s][0], H = shapes[s][1], T = shapes[s][2];
            void *raw = malloc((size_t)V * H * 4);
            float *vals = malloc((size_t)V * H * sizeof(float));
            int32_t *ids = malloc((size_t)T * sizeof *ids);
            oh_random_weights(&rng, dts[d], (size_t)V * H, 1.0f, raw, vals);
            for (int t = 0; t < T; t++) ids[t] = oh_randint(&rng, 0, V);
            twin table, tid, out;
            char what[96];
            snprintf(what, sizeof what, "embedding %s V=%d H=%d T=%d", bk_dtype_name(dts[d]), V, H, T);
            if (!twin_upload(&table, dts[d], V, H, raw) && !twin_upload(&tid, BK_I32, 1, T, ids) &&
                !twin_poison(&out, T, H) &&
                twin_ok(twin_cpu, twin_cpu->ops->embedding(twin_cpu, &out.c, &table.c, &tid.c, T), what) &&
                twin_ok(twin_gpu, twin_gpu->ops->embedding(twin_gpu, &out.g, &table.g, &tid.g, T), what))
                twin_compare(what, &out, T, 0.0, 0.0);
            twin_free(&table);
            twin_free(&tid);
            twin_free(&out);
            free(raw);
            free(vals);
            free(ids);
        }
}

/* ---- add_rmsnorm ------------------------------------------------------------------------------ */

static void test_add_rmsnorm(void)
{
    static const int Hs[] = {1, 7, 128, 2560, 4099};
    static const int Ts[] = {1, 3, 17};
    for (size_t h = 0; h < 5; h++)
        for (size_t ti = 0; ti < 3; ti++)
            for (int with_delta = 0; with_delta < 2; with_delta++) {
                const int H = Hs[h], T = Ts[ti];
                float *res = random_f32((size_t)T * H, -2.0f, 2.0f);
                float *delta = random_f32((size_t)T * H, -1.0f, 1.0f);
                float *w = random_f32((size_t)H, 0.5f, 1.5f);
                twin r, d, wt, out;
                char what[96];
                snprintf(what, sizeof what, "add_rmsnorm H=%d T=%d delta=%d", H, T, with_delta);
                if (!twin_upload(&r, BK_F32, T, H, res) && !twin_upload(&d, BK_F32, T, H, delta) &&
                    !twin_upload(&wt, BK_F32, 1, H, w) && !twin_poison(&out, T, H) &&
                    twin_ok(twin_cpu, twin_cpu->ops->add_rmsnorm(twin_cpu, &r.c, with_delta ? &d.c : NULL,
                                                                 &wt.c, &out.c, 1e-6f, T), what) &&
                    twin_ok(twin_gpu, twin_gpu->ops->add_rmsnorm(twin_gpu, &r.g, with_delta ? &d.g : NULL,
                                                                 &wt.g, &out.g, 1e-6f, T), what)) {
                    twin_compare(what, &out, T, TOL_F32_NMSE, TOL_F32_ABS);
                    twin_compare(what, &r, T, TOL_F32_NMSE, TOL_F32_ABS); /* the updated residual */
                }
                twin_free(&r);
                twin_free(&d);
                twin_free(&wt);
                twin_free(&out);
                free(res);
                free(delta);
                free(w);
            }
}

/* ---- matmul ----------------------------------------------------------------------------------- */

static void matmul_tolerance(bk_dtype dt, int T, double *nmse, double *abs_tol)
{
    if (T <= 8 || dt == BK_F32) { /* our GEMV, or fp32 cuBLASLt: fp32 throughout */
        *nmse = TOL_F32_NMSE;
        *abs_tol = TOL_F32_ABS;
    } else if (dt == BK_BF16) {
        *nmse = 2e-5;
        *abs_tol = 2e-2;
    } else {
        *nmse = 1e-6;
        *abs_tol = 4e-3;
    }
}

static void test_matmul(void)
{
    static const int NK[][2] = {{1, 1}, {7, 13}, {64, 128}, {257, 520}, {1000, 2560}, {33, 4096}};
    static const int Ts[] = {1, 2, 3, 5, 8, 9, 16, 33, 70};
    static const bk_dtype dts[] = {BK_BF16, BK_F16, BK_F32};
    int case_no = 0;
    for (size_t d = 0; d < 3; d++)
        for (size_t s = 0; s < sizeof NK / sizeof NK[0]; s++)
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++, case_no++) {
                const int N = NK[s][0], K = NK[s][1], T = Ts[ti];
                const int with_bias = case_no % 3 == 1;
                void *raw = malloc((size_t)N * K * 4);
                float *vals = malloc((size_t)N * K * sizeof(float));
                oh_random_weights(&rng, dts[d], (size_t)N * K, 1.0f, raw, vals);
                float *x = random_f32((size_t)T * K, -1.0f, 1.0f);
                float *bias = random_f32((size_t)N, -1.0f, 1.0f);
                twin w, xt, bt, out;
                char what[128];
                snprintf(what, sizeof what, "matmul %s N=%d K=%d T=%d bias=%d", bk_dtype_name(dts[d]),
                         N, K, T, with_bias);
                double nmse, abs_tol;
                matmul_tolerance(dts[d], T, &nmse, &abs_tol);
                if (!twin_upload(&w, dts[d], N, K, raw) && !twin_upload(&xt, BK_F32, T, K, x) &&
                    !twin_upload(&bt, BK_F32, 1, N, bias) && !twin_poison(&out, T, N) &&
                    twin_ok(twin_cpu, twin_cpu->ops->matmul(twin_cpu, &out.c, &xt.c, &w.c,
                                                            with_bias ? &bt.c : NULL, T), what) &&
                    twin_ok(twin_gpu, twin_gpu->ops->matmul(twin_gpu, &out.g, &xt.g, &w.g,
                                                            with_bias ? &bt.g : NULL, T), what))
                    twin_compare(what, &out, T, nmse, abs_tol);
                twin_free(&w);
                twin_free(&xt);
                twin_free(&bt);
                twin_free(&out);
                free(raw);
                free(vals);
                free(x);
                free(bias);
            }
}

/* ---- silu_mul, gather_rows, argmax ------------------------------------------------------------ */

static void test_silu_mul(void)
{
    static const int Ts[] = {1, 3, 17}, Is[] = {1, 7, 9728};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ii = 0; ii < 3; ii++) {
            const int T = Ts[ti], I = Is[ii];
            float *gu = random_f32((size_t)T * 2 * I, -6.0f, 6.0f);
            twin in, out;
            char what[64];
            snprintf(what, sizeof what, "silu_mul T=%d I=%d", T, I);
            if (!twin_upload(&in, BK_F32, T, 2 * I, gu) && !twin_poison(&out, T, I) &&
                twin_ok(twin_cpu, twin_cpu->ops->silu_mul(twin_cpu, &out.c, &in.c, T), what) &&
                twin_ok(twin_gpu, twin_gpu->ops->silu_mul(twin_gpu, &out.g, &in.g, T), what))
                twin_compare(what, &out, T, TOL_F32_NMSE, TOL_F32_ABS);
            twin_free(&in);
            twin_free(&out);
            free(gu);
        }
}

static void test_gather_rows(void)
{
    static const int shapes[][3] = {{37, 129, 5}, {1, 1, 1}, {64, 2560, 9}};
    for (size_t s = 0; s < 3; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1], R = shapes[s][2];
        float *x = random_f32((size_t)rows * cols, -1.0f, 1.0f);
        int32_t *idx = malloc((size_t)R * sizeof *idx);
        for (int r = 0; r < R; r++) idx[r] = oh_randint(&rng, 0, rows); /* repeats allowed */
        twin xt, it, out;
        char what[64];
        snprintf(what, sizeof what, "gather_rows [%d][%d] R=%d", rows, cols, R);
        if (!twin_upload(&xt, BK_F32, rows, cols, x) && !twin_upload(&it, BK_I32, 1, R, idx) &&
            !twin_poison(&out, R, cols) &&
            twin_ok(twin_cpu, twin_cpu->ops->gather_rows(twin_cpu, &out.c, &xt.c, &it.c, R), what) &&
            twin_ok(twin_gpu, twin_gpu->ops->gather_rows(twin_gpu, &out.g, &xt.g, &it.g, R), what))
            twin_compare(what, &out, R, 0.0, 0.0);
        twin_free(&xt);
        twin_free(&it);
        twin_free(&out);
        free(x);
        free(idx);
    }
}

static int alloc_i32_poisoned(twin *t, int64_t n)
{
    memset(t, 0, sizeof *t);
    return twin_ok(twin_cpu, twin_cpu->ops->tensor_alloc(twin_cpu, &t->c, BK_I32, 1, n), "alloc") &&
                   twin_ok(twin_gpu, twin_gpu->ops->tensor_alloc(twin_gpu, &t->g, BK_I32, 1, n), "alloc") &&
                   twin_ok(twin_cpu, twin_cpu->ops->fill_bytes(twin_cpu, &t->c, 0xFF), "fill") &&
                   twin_ok(twin_gpu, twin_gpu->ops->fill_bytes(twin_gpu, &t->g, 0xFF), "fill")
               ? 0
               : -1;
}

static void test_argmax(void)
{
    static const int Rs[] = {1, 3, 9}, Vs[] = {1, 7, 151936};
    for (size_t ri = 0; ri < 3; ri++)
        for (size_t vi = 0; vi < 3; vi++) {
            const int R = Rs[ri], V = Vs[vi];
            float *l = random_f32((size_t)R * V, -10.0f, 10.0f);
            for (int r = 0; r < R; r++) {
                float *row = l + (size_t)r * V;
                if (r % 3 == 1 && V > 2) { /* a tie: the lower index must win */
                    int a = oh_randint(&rng, 0, V), b = oh_randint(&rng, 0, V);
                    row[a] = row[b] = 50.0f;
                }
                if (r % 3 == 2 && V > 2) row[oh_randint(&rng, 0, V)] = NAN; /* NaN wins, like the CPU */
            }
            twin lt, out;
            char what[64];
            snprintf(what, sizeof what, "argmax R=%d V=%d", R, V);
            if (!twin_upload(&lt, BK_F32, R, V, l) && !alloc_i32_poisoned(&out, R) &&
                twin_ok(twin_cpu, twin_cpu->ops->argmax(twin_cpu, &out.c, &lt.c, R), what) &&
                twin_ok(twin_gpu, twin_gpu->ops->argmax(twin_gpu, &out.g, &lt.g, R), what))
                twin_compare_exact_i32(what, &out, R);
            twin_free(&lt);
            twin_free(&out);
            free(l);
        }
}

/* ---- what only the GPU backend can get wrong -------------------------------------------------- */

static void test_gpu_errors(void)
{
    bk_backend *g = twin_gpu;
    bk_tensor w = {0}, x = {0}, out = {0}, ids = {0}, big = {0};
    /* A shape mismatch is refused on the host, naming the tensor. */
    CHECK(g->ops->tensor_alloc(g, &w, BK_BF16, 8, 16) == 0);
    CHECK(g->ops->tensor_alloc(g, &x, BK_F32, 1, 15) == 0);
    CHECK(g->ops->tensor_alloc(g, &out, BK_F32, 1, 8) == 0);
    CHECK(g->ops->matmul(g, &out, &x, &w, NULL, 1) == -1);
    CHECKF(strstr(g->ops->last_error(g), "x is [1][15], expected 16 columns") != NULL,
           "matmul mismatch message: %s", g->ops->last_error(g));
    /* An out-of-range id lives on the device: the next download reports it, then clears it. */
    bk_tensor table = {0};
    float host[16];
    int32_t bad = 99;
    CHECK(g->ops->tensor_alloc(g, &table, BK_F32, 4, 16) == 0);
    CHECK(oh_upload(g, &ids, BK_I32, 1, 1, &bad) == 0);
    CHECK(g->ops->embedding(g, &out, &table, &ids, 1) == -1); /* out has 8 columns, not 16 */
    bk_tensor out16 = {0};
    CHECK(g->ops->tensor_alloc(g, &out16, BK_F32, 1, 16) == 0);
    CHECK(g->ops->embedding(g, &out16, &table, &ids, 1) == 0);
    CHECK(g->ops->download_rows(g, &out16, 1, host) == -1);
    CHECKF(strstr(g->ops->last_error(g), "embedding: an id is outside") != NULL,
           "device fault message: %s", g->ops->last_error(g));
    CHECK(g->ops->download_rows(g, &out16, 1, host) == 0); /* reported once, then cleared */
    /* The budget is hard: a tensor larger than what is left is refused with the numbers. */
    CHECK(g->ops->tensor_alloc(g, &big, BK_F32, (int64_t)1 << 40, 1) == -1);
    CHECKF(strstr(g->ops->last_error(g), "raise the memory budget") != NULL, "budget message: %s",
           g->ops->last_error(g));
    g->ops->tensor_free(g, &w);
    g->ops->tensor_free(g, &x);
    g->ops->tensor_free(g, &out);
    g->ops->tensor_free(g, &ids);
    g->ops->tensor_free(g, &table);
    g->ops->tensor_free(g, &out16);
    CHECKF(bk_cuda_bytes_in_use(g) == 0, "%zu bytes still allocated after freeing every tensor",
           bk_cuda_bytes_in_use(g));
}

int main(void)
{
    if (twin_start((size_t)2 << 30)) return 1;
    oh_seed(&rng, 7);
    test_embedding();
    test_add_rmsnorm();
    test_matmul();
    test_silu_mul();
    test_gather_rows();
    test_argmax();
    test_gpu_errors();
    twin_stop();
    return test_finish("test_cuda_ops");
}
