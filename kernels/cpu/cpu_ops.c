#include "kernels/cpu/cpu_ops.h"

#include <math.h>

#include "kernels/cpu/cpu_common.h"

/* Fixed-width partial sums let gcc vectorize reductions without -ffast-math's reassociation. */
#define CPU_LANES 16

static int check_count(bk_backend *be, const char *op, const char *what, int32_t n)
{
    if (n < 0) return cpu_fail(be, "cpu %s: %s is %d, expected >= 0", op, what, n);
    return 0;
}

int cpu_embedding(bk_backend *be, bk_tensor *out, const bk_tensor *table, const bk_tensor *ids,
                  int32_t num_tokens)
{
    const char *op = "embedding";
    if (check_count(be, op, "num_tokens", num_tokens) || cpu_check_float(be, op, "table", table) ||
        cpu_check_vec(be, op, "ids", ids, BK_I32, num_tokens) ||
        cpu_check(be, op, "out", out, BK_F32, num_tokens, table->cols))
        return -1;
    const int32_t *id = ids->data;
    for (int32_t t = 0; t < num_tokens; t++)
        if (id[t] < 0 || id[t] >= table->rows)
            return cpu_fail(be,
                            "cpu embedding: ids[%d] = %d is outside the vocabulary of %lld rows", t,
                            id[t], (long long)table->rows);
    const int64_t H = table->cols;
    float *o = out->data;
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(static)
    for (int32_t t = 0; t < num_tokens; t++) {
        int64_t base = (int64_t)id[t] * H;
        for (int64_t i = 0; i < H; i++)
            o[t * H + i] = cpu_load(table->data, table->dtype, base + i);
    }
    return 0;
}

static float sum_squares(const float *x, int64_t n)
{
    float acc[CPU_LANES] = {0};
    int64_t i = 0;
    for (; i + CPU_LANES <= n; i += CPU_LANES)
        for (int j = 0; j < CPU_LANES; j++)
            acc[j] += x[i + j] * x[i + j];
    float s = 0.0f;
    for (int j = 0; j < CPU_LANES; j++)
        s += acc[j];
    for (; i < n; i++)
        s += x[i] * x[i];
    return s;
}

int cpu_add_rmsnorm(bk_backend *be, bk_tensor *residual, const bk_tensor *delta,
                    const bk_tensor *weight, bk_tensor *out, float eps, int32_t num_tokens)
{
    const char *op = "add_rmsnorm";
    if (check_count(be, op, "num_tokens", num_tokens) ||
        cpu_check(be, op, "residual", residual, BK_F32, num_tokens, -1) ||
        (delta && cpu_check(be, op, "delta", delta, BK_F32, num_tokens, residual->cols)) ||
        cpu_check_vec(be, op, "weight", weight, BK_F32, residual->cols) ||
        cpu_check(be, op, "out", out, BK_F32, num_tokens, residual->cols))
        return -1;
    if (bk_numel(weight) != residual->cols)
        return cpu_fail(be,
                        "cpu add_rmsnorm: weight has %lld elements, expected %lld (hidden size)",
                        (long long)bk_numel(weight), (long long)residual->cols);
    const int64_t H = residual->cols;
    float *r = residual->data;
    const float *d = delta ? delta->data : NULL;
    const float *w = weight->data;
    float *o = out->data;
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(static)
    for (int32_t t = 0; t < num_tokens; t++) {
        float *rt = r + t * H;
        if (d)
            for (int64_t i = 0; i < H; i++)
                rt[i] += d[t * H + i];
        /* Qwen3RMSNorm: the variance and the scaling in f32, the weight applied last. */
        float inv = 1.0f / sqrtf(sum_squares(rt, H) / (float)H + eps);
        for (int64_t i = 0; i < H; i++)
            o[t * H + i] = w[i] * (rt[i] * inv);
    }
    return 0;
}

int cpu_silu_mul(bk_backend *be, bk_tensor *out, const bk_tensor *gate_up, int32_t num_tokens)
{
    const char *op = "silu_mul";
    if (check_count(be, op, "num_tokens", num_tokens) ||
        cpu_check(be, op, "gate_up", gate_up, BK_F32, num_tokens, -1))
        return -1;
    if (gate_up->cols % 2)
        return cpu_fail(be, "cpu silu_mul: gate_up has %lld columns, expected an even number (2*I)",
                        (long long)gate_up->cols);
    const int64_t I = gate_up->cols / 2;
    if (cpu_check(be, op, "out", out, BK_F32, num_tokens, I)) return -1;
    const float *g = gate_up->data;
    float *o = out->data;
    const cpu_kernels *kern = cpu_st(be)->kern;
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(static)
    for (int32_t t = 0; t < num_tokens; t++)
        kern->silu_mul(g + t * 2 * I, o + t * I, I);
    return 0;
}

int cpu_gather_rows(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *rows,
                    int32_t num_rows)
{
    const char *op = "gather_rows";
    if (check_count(be, op, "num_rows", num_rows) || cpu_check_float(be, op, "x", x) ||
        cpu_check_vec(be, op, "rows", rows, BK_I32, num_rows) ||
        cpu_check(be, op, "out", out, x->dtype, num_rows, x->cols))
        return -1;
    const int32_t *idx = rows->data;
    for (int32_t r = 0; r < num_rows; r++)
        if (idx[r] < 0 || idx[r] >= x->rows)
            return cpu_fail(be, "cpu gather_rows: rows[%d] = %d is outside x's %lld rows", r,
                            idx[r], (long long)x->rows);
    size_t row_bytes = (size_t)x->cols * bk_dtype_size(x->dtype);
    for (int32_t r = 0; r < num_rows; r++)
        memmove((char *)out->data + (size_t)r * row_bytes,
                (const char *)x->data + (size_t)idx[r] * row_bytes, row_bytes);
    return 0;
}

int cpu_argmax(bk_backend *be, bk_tensor *out, const bk_tensor *logits, int32_t num_rows)
{
    const char *op = "argmax";
    if (check_count(be, op, "num_rows", num_rows) ||
        cpu_check(be, op, "logits", logits, BK_F32, num_rows, -1) ||
        cpu_check_vec(be, op, "out", out, BK_I32, num_rows))
        return -1;
    if (logits->cols < 1) return cpu_fail(be, "cpu argmax: logits has 0 columns, expected >= 1");
    const int64_t V = logits->cols;
    int32_t *o = out->data;
#pragma omp parallel for num_threads(cpu_st(be)->num_threads) schedule(static)
    for (int32_t r = 0; r < num_rows; r++) {
        const float *l = (const float *)logits->data + r * V;
        int64_t best = 0;
        for (int64_t i = 0; i < V; i++) {
            if (isnan(l[i])) {
                best = i;
                break;
            }
            if (l[i] > l[best]) best = i;
        }
        o[r] = (int32_t)best;
    }
    return 0;
}
