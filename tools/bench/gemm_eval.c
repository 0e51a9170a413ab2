/* gemm_eval: the evaluation behind docs/design/cpu-backend.md's "Prefill GEMM" choice. Times one
 * prefill-shaped matmul, out[M][N] = x[M][K] · W[N][K]ᵀ with bf16 W, two ways: berth's CPU
 * backend (f32 activations, bf16 weights widened in registers) and oneDNN's bf16 matmul (which
 * needs the activations rounded to bf16 too; that rounding is timed with it), and reports GFLOP/s
 * (median of ROUNDS alternated rounds, so a shared machine's load hits both alike) and oneDNN's
 * largest error against berth's f32-activation result, relative to max |out|. (Debian 12's
 * OpenBLAS 0.3.21 is built without BUILD_BFLOAT16: its libopenblas has no cblas_sbgemm.)
 * Not built by CMake (it needs libdnnl-dev, which berth does not):
 *   cc -O2 -std=c17 -fopenmp -I. tools/bench/gemm_eval.c build/kernels/cpu/libberth_kernels_cpu.a \
 *      build/kernels/libberth_backend.a -ldnnl -lm -o build/gemm_eval
 *   OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 build/gemm_eval [M N K] */
#include <dnnl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/cpu_backend.h"

#define ROUNDS 3

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* CPU seconds of every thread of the process: on a shared machine the wall clock measures the
 * other tenants, the CPU time mostly this work (OMP_WAIT_POLICY=passive: waiting burns none). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define DNNL_OK(call)                                                                              \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) {                                                                 \
            fprintf(stderr, "gemm_eval: %s failed: %d\n", #call, (int)st_);                        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    const int64_t M = argc > 3 ? atoll(argv[1]) : 512, N = argc > 3 ? atoll(argv[2]) : 3072,
                  K = argc > 3 ? atoll(argv[3]) : 1024;
    float *x = malloc(sizeof(float) * M * K), *o_berth = malloc(sizeof(float) * M * N);
    float *o_dnnl = malloc(sizeof(float) * M * N);
    uint16_t *w = malloc(2 * N * K), *xb = malloc(2 * M * K);
    uint64_t seed = 88172645463325252ull;
    for (int64_t i = 0; i < N * K; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        w[i] = (uint16_t)(0x3d00u | (seed & 0x80ffu));
    }
    for (int64_t i = 0; i < M * K; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        x[i] = (float)((double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    char err[256];
    bk_backend *be = bk_cpu_create(0, 0, err, sizeof err);
    if (!be) {
        fprintf(stderr, "gemm_eval: %s\n", err);
        return 1;
    }
    bk_tensor tw, tx, to;
    be->ops->tensor_from_host(be, &tw, BK_BF16, N, K, w);
    be->ops->tensor_from_host(be, &tx, BK_F32, M, K, x);
    be->ops->tensor_from_host(be, &to, BK_F32, M, N, o_berth);

    /* oneDNN: src bf16 [M][K], weights bf16 viewed as [K][N] with strides {1, K} (W as stored),
     * dst f32 [M][N]. */
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    DNNL_OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    DNNL_OK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t src_md, wei_md, dst_md;
    dnnl_dims_t sd = {M, K}, wd = {K, N}, dd = {M, N}, ws = {1, K};
    DNNL_OK(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_bf16, dnnl_ab));
    DNNL_OK(dnnl_memory_desc_init_by_strides(&wei_md, 2, wd, dnnl_bf16, ws));
    DNNL_OK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DNNL_OK(dnnl_matmul_desc_init(&md, &src_md, &wei_md, NULL, &dst_md));
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    dnnl_primitive_t prim;
    DNNL_OK(dnnl_primitive_create(&prim, pd));
    dnnl_memory_t msrc, mwei, mdst;
    DNNL_OK(dnnl_memory_create(&msrc, &src_md, eng, xb));
    DNNL_OK(dnnl_memory_create(&mwei, &wei_md, eng, w));
    DNNL_OK(dnnl_memory_create(&mdst, &dst_md, eng, o_dnnl));
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, msrc}, {DNNL_ARG_WEIGHTS, mwei}, {DNNL_ARG_DST, mdst}};

    double t_berth[ROUNDS], t_dnnl[ROUNDS], c_berth[ROUNDS], c_dnnl[ROUNDS];
    for (int r = 0; r <= ROUNDS; r++) { /* round 0 warms up */
        double c0 = cpu_now(), t0 = now();
        if (be->ops->matmul(be, &to, &tx, &tw, NULL, (int32_t)M)) {
            fprintf(stderr, "gemm_eval: %s\n", be->ops->last_error(be));
            return 1;
        }
        double t1 = now(), c1 = cpu_now();
        for (int64_t i = 0; i < M * K; i++) /* the activations' rounding counts for the library */
            xb[i] = to_bf16(x[i]);
        DNNL_OK(dnnl_primitive_execute(prim, stream, 3, args));
        DNNL_OK(dnnl_stream_wait(stream));
        double t2 = now(), c2 = cpu_now();
        if (r) {
            t_berth[r - 1] = t1 - t0, t_dnnl[r - 1] = t2 - t1;
            c_berth[r - 1] = c1 - c0, c_dnnl[r - 1] = c2 - c1;
        }
    }
    double maxo = 0, e_dnnl = 0;
    for (int64_t i = 0; i < M * N; i++) {
        maxo = fmax(maxo, fabs(o_berth[i]));
        e_dnnl = fmax(e_dnnl, fabs(o_dnnl[i] - o_berth[i]));
    }
    qsort(t_berth, ROUNDS, sizeof(double), cmp);
    qsort(t_dnnl, ROUNDS, sizeof(double), cmp);
    qsort(c_berth, ROUNDS, sizeof(double), cmp);
    qsort(c_dnnl, ROUNDS, sizeof(double), cmp);
    const double fl = 2.0 * (double)M * (double)N * (double)K / 1e9;
    printf("M %lld N %lld K %lld, %d threads, median of %d rounds; oneDNN impl %s\n", (long long)M,
           (long long)N, (long long)K, bk_cpu_num_threads(be), ROUNDS, impl);
    printf("berth %-5s %8.1f GFLOP/s wall, %8.1f GFLOP per CPU second\n", bk_cpu_kernels(be),
           fl / t_berth[ROUNDS / 2], fl / c_berth[ROUNDS / 2]);
    printf(
        "onednn bf16 %8.1f GFLOP/s wall, %8.1f GFLOP per CPU second, max error %.2e of max |out|\n",
        fl / t_dnnl[ROUNDS / 2], fl / c_dnnl[ROUNDS / 2], e_dnnl / maxo);
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(msrc);
    dnnl_memory_destroy(mwei);
    dnnl_memory_destroy(mdst);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(eng);
    be->ops->destroy(be);
    return 0;
}
