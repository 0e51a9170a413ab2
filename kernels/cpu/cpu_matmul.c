#include "kernels/cpu/cpu_matmul.h"

#include <omp.h>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kern.h"

/* Threads split the output rows into contiguous runs of whole CPU_MATMUL_BLOCK blocks, so each
 * weight byte is read by exactly one core and every core streams one sequential range; the kernel
 * set chosen at create (cpu_kern.h) runs each block for all tokens. */

int cpu_matmul(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
               const bk_tensor *bias, int32_t num_tokens)
{
    const char *op = "matmul";
    if (num_tokens < 0)
        return cpu_fail(be, "cpu matmul: num_tokens is %d, expected >= 0", num_tokens);
    /* W alone may be BK_Q8 (int8 weights, docs/design/cpu-backend.md). */
    if ((w && w->dtype == BK_Q8 ? cpu_check(be, op, "W", w, BK_Q8, 0, -1)
                                : cpu_check_float(be, op, "W", w)) ||
        cpu_check(be, op, "x", x, BK_F32, num_tokens, w->cols) ||
        cpu_check(be, op, "out", out, BK_F32, num_tokens, w->rows) ||
        (bias && cpu_check_vec(be, op, "bias", bias, BK_F32, w->rows)))
        return -1;
    if (bias && bk_numel(bias) != w->rows)
        return cpu_fail(be, "cpu matmul: bias has %lld elements, expected %lld (W's rows)",
                        (long long)bk_numel(bias), (long long)w->rows);
    if (out->data == x->data)
        return cpu_fail(be, "cpu matmul: out and x are the same buffer, expected distinct tensors");
    const int64_t N = w->rows, K = w->cols, T = num_tokens;
    const int64_t nblocks = (N + CPU_MATMUL_BLOCK - 1) / CPU_MATMUL_BLOCK;
    const float *xs = x->data, *bs = bias ? bias->data : NULL;
    float *os = out->data;
    if (T == 0) return 0;
    const cpu_rows_fn rows = cpu_st(be)->kern->rows[cpu_kern_dtype_index(w->dtype)];
    const void *ws = w->data;
    /* One call per thread: a call with many tokens widens its blocks into one buffer it owns. */
#pragma omp parallel num_threads(cpu_st(be)->num_threads)
    {
        const int64_t th = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t n0 = nblocks * th / nt * CPU_MATMUL_BLOCK;
        const int64_t n1 = nblocks * (th + 1) / nt * CPU_MATMUL_BLOCK;
        if (n0 < N) rows(ws, xs, bs, os, N, K, T, n0, n1 < N ? n1 : N);
    }
    return 0;
}
