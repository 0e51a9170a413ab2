#include "kernels/cpu/cpu_matmul.h"

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kern.h"

/* Threads split the output rows in blocks of CPU_ROWS, so each weight byte is read by exactly one
 * core; the kernel set chosen at create (cpu_kern.h) runs each block for all tokens. */
#define CPU_ROWS 16

int cpu_matmul(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
               const bk_tensor *bias, int32_t num_tokens)
{
    const char *op = "matmul";
    if (num_tokens < 0)
        return cpu_fail(be, "cpu matmul: num_tokens is %d, expected >= 0", num_tokens);
    if (cpu_check_float(be, op, "W", w) || cpu_check(be, op, "x", x, BK_F32, num_tokens, w->cols) ||
        cpu_check(be, op, "out", out, BK_F32, num_tokens, w->rows) ||
        (bias && cpu_check_vec(be, op, "bias", bias, BK_F32, w->rows)))
        return -1;
    if (bias && bk_numel(bias) != w->rows)
        return cpu_fail(be, "cpu matmul: bias has %lld elements, expected %lld (W's rows)",
                        (long long)bk_numel(bias), (long long)w->rows);
    if (out->data == x->data)
        return cpu_fail(be, "cpu matmul: out and x are the same buffer, expected distinct tensors");
    const int64_t N = w->rows, K = w->cols, T = num_tokens;
    const int64_t nblocks = (N + CPU_ROWS - 1) / CPU_ROWS;
    const float *xs = x->data, *bs = bias ? bias->data : NULL;
    float *os = out->data;
    if (T == 0) return 0;
    const cpu_rows_fn rows = cpu_st(be)->kern->rows[cpu_kern_dtype_index(w->dtype)];
    const void *ws = w->data;
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(static)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t n0 = blk * CPU_ROWS, n1 = n0 + CPU_ROWS < N ? n0 + CPU_ROWS : N;
        rows(ws, xs, bs, os, N, K, T, n0, n1);
    }
    return 0;
}
