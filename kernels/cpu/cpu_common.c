#include "kernels/cpu/cpu_common.h"

#include <stdarg.h>
#include <stdio.h>

int cpu_fail(bk_backend *be, const char *fmt, ...)
{
    cpu_state *st = cpu_st(be);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_present(bk_backend *be, const char *op, const char *what, const bk_tensor *t)
{
    if (!t) return cpu_fail(be, "cpu %s: %s is NULL", op, what);
    if (!t->data)
        return cpu_fail(be, "cpu %s: %s has no data (freed or never allocated)", op, what);
    if (t->rows < 0 || t->cols < 0)
        return cpu_fail(be, "cpu %s: %s has a negative shape [%lld][%lld]", op, what,
                        (long long)t->rows, (long long)t->cols);
    return 0;
}

int cpu_check(bk_backend *be, const char *op, const char *what, const bk_tensor *t, bk_dtype dtype,
              int64_t min_rows, int64_t cols)
{
    if (check_present(be, op, what, t)) return -1;
    if (t->dtype != dtype)
        return cpu_fail(be, "cpu %s: %s has dtype %s, expected %s", op, what,
                        bk_dtype_name(t->dtype), bk_dtype_name(dtype));
    if (cols >= 0 && t->cols != cols)
        return cpu_fail(be, "cpu %s: %s is [%lld][%lld], expected %lld columns", op, what,
                        (long long)t->rows, (long long)t->cols, (long long)cols);
    if (t->rows < min_rows)
        return cpu_fail(be, "cpu %s: %s is [%lld][%lld], expected at least %lld rows", op, what,
                        (long long)t->rows, (long long)t->cols, (long long)min_rows);
    return 0;
}

int cpu_check_float(bk_backend *be, const char *op, const char *what, const bk_tensor *t)
{
    if (check_present(be, op, what, t)) return -1;
    if (t->dtype != BK_F32 && t->dtype != BK_F16 && t->dtype != BK_BF16)
        return cpu_fail(be, "cpu %s: %s has dtype %s, expected F32, F16 or BF16", op, what,
                        bk_dtype_name(t->dtype));
    return 0;
}

int cpu_check_vec(bk_backend *be, const char *op, const char *what, const bk_tensor *t,
                  bk_dtype dtype, int64_t min_numel)
{
    if (check_present(be, op, what, t)) return -1;
    if (t->dtype != dtype)
        return cpu_fail(be, "cpu %s: %s has dtype %s, expected %s", op, what,
                        bk_dtype_name(t->dtype), bk_dtype_name(dtype));
    if (bk_numel(t) < min_numel)
        return cpu_fail(be, "cpu %s: %s has %lld elements, expected at least %lld", op, what,
                        (long long)bk_numel(t), (long long)min_numel);
    return 0;
}
