#include "kernels/cpu/cpu_backend.h"

#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_attention.h"
#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/cpu_matmul.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sample.h"

/* 64 bytes: one cache line and one AVX-512 vector, so no row start straddles lines needlessly. */
#define CPU_ALIGN 64

/* Bytes a tensor of this shape takes, or 0 with a message when the shape is invalid or overflows.
 */
static size_t tensor_bytes(bk_backend *be, const char *op, bk_dtype dtype, int64_t rows,
                           int64_t cols)
{
    size_t es = bk_dtype_size(dtype);
    if (es == 0) {
        cpu_fail(be, "cpu %s: unknown dtype %d", op, (int)dtype);
        return 0;
    }
    if (rows < 0 || cols < 0) {
        cpu_fail(be, "cpu %s: shape [%lld][%lld] is negative", op, (long long)rows,
                 (long long)cols);
        return 0;
    }
    if (cols != 0 && (uint64_t)rows > (SIZE_MAX - CPU_ALIGN) / es / (uint64_t)cols) {
        cpu_fail(be, "cpu %s: shape [%lld][%lld] of %s overflows size_t", op, (long long)rows,
                 (long long)cols, bk_dtype_name(dtype));
        return 0;
    }
    size_t bytes = dtype == BK_Q8 ? bk_q8_bytes(rows, cols) : (size_t)rows * (size_t)cols * es;
    /* aligned_alloc wants a multiple of the alignment; an empty tensor still gets a valid pointer.
     */
    bytes = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    return bytes ? bytes : CPU_ALIGN;
}

int cpu_charge(bk_backend *be, const char *op, size_t bytes)
{
    cpu_state *st = cpu_st(be);
    if (st->budget && (bytes > st->budget || st->in_use > st->budget - bytes))
        return cpu_fail(be,
                        "cpu %s: needs %zu bytes but %zu of the %zu-byte memory budget are in use",
                        op, bytes, st->in_use, st->budget);
    st->in_use += bytes;
    if (st->in_use > st->peak) st->peak = st->in_use;
    return 0;
}

void cpu_uncharge(bk_backend *be, size_t bytes)
{
    cpu_state *st = cpu_st(be);
    st->in_use = bytes <= st->in_use ? st->in_use - bytes : 0;
}

static int cpu_tensor_alloc(bk_backend *be, bk_tensor *out, bk_dtype dtype, int64_t rows,
                            int64_t cols)
{
    cpu_state *st = cpu_st(be);
    if (!out) return cpu_fail(be, "cpu tensor_alloc: out is NULL");
    size_t bytes = tensor_bytes(be, "tensor_alloc", dtype, rows, cols);
    if (!bytes) return -1;
    if (st->budget && (bytes > st->budget || st->in_use > st->budget - bytes))
        return cpu_fail(be,
                        "cpu tensor_alloc: [%lld][%lld] %s needs %zu bytes but %zu of the %zu-byte "
                        "memory budget are in use",
                        (long long)rows, (long long)cols, bk_dtype_name(dtype), bytes, st->in_use,
                        st->budget);
    void *p = aligned_alloc(CPU_ALIGN, bytes);
    if (!p) return cpu_fail(be, "cpu tensor_alloc: out of host memory allocating %zu bytes", bytes);
    if (cpu_charge(be, "tensor_alloc", bytes)) { /* cannot fail: checked above */
        free(p);
        return -1;
    }
    *out = (bk_tensor){.dtype = dtype, .rows = rows, .cols = cols, .data = p, .owned = 1};
    return 0;
}

static int cpu_tensor_from_host(bk_backend *be, bk_tensor *out, bk_dtype dtype, int64_t rows,
                                int64_t cols, const void *host)
{
    if (!out) return cpu_fail(be, "cpu tensor_from_host: out is NULL");
    if (!host) return cpu_fail(be, "cpu tensor_from_host: host pointer is NULL");
    size_t bytes = tensor_bytes(be, "tensor_from_host", dtype, rows, cols);
    if (!bytes) return -1;
    /* With a budget (a memory share) the weights count although they stay in the checkpoint's
     * mapping: their pages are this process's memory as soon as they are read. owned -1 marks a
     * charged wrap, which tensor_free uncharges without freeing. */
    bool charged = cpu_st(be)->budget != 0;
    if (charged && cpu_charge(be, "tensor_from_host (weights)", bytes)) return -1;
    /* The checkpoint mapping outlives the backend, so the CPU reads weights where they lie. */
    *out = (bk_tensor){.dtype = dtype,
                       .rows = rows,
                       .cols = cols,
                       .data = (void *)host,
                       .owned = charged ? -1 : 0};
    return 0;
}

static void cpu_tensor_free(bk_backend *be, bk_tensor *t)
{
    if (!t) return;
    if (t->owned && t->data) {
        cpu_uncharge(be, tensor_bytes(be, "tensor_free", t->dtype, t->rows, t->cols));
        if (t->owned == 1) free(t->data);
    }
    *t = (bk_tensor){0};
}

static int check_rows(bk_backend *be, const char *op, const bk_tensor *t, int64_t row0,
                      int64_t nrows, const void *host)
{
    if (!t || !t->data) return cpu_fail(be, "cpu %s: tensor has no data", op);
    if (!host && nrows > 0) return cpu_fail(be, "cpu %s: host pointer is NULL", op);
    if (row0 < 0 || nrows < 0 || row0 > t->rows || nrows > t->rows - row0)
        return cpu_fail(be, "cpu %s: rows [%lld, %lld) are outside the tensor's %lld rows", op,
                        (long long)row0, (long long)row0 + (long long)nrows, (long long)t->rows);
    if (!bk_dtype_size(t->dtype))
        return cpu_fail(be, "cpu %s: unknown dtype %d", op, (int)t->dtype);
    return 0;
}

static int cpu_upload_rows(bk_backend *be, bk_tensor *t, int64_t row0, int64_t nrows,
                           const void *host)
{
    if (check_rows(be, "upload_rows", t, row0, nrows, host)) return -1;
    /* Rows of int8 alone would leave the row scales unset. */
    if (t->dtype == BK_Q8)
        return cpu_fail(be, "cpu upload_rows: a Q8 tensor is made whole by tensor_from_host "
                            "(bk_q8_quantize's layout), not uploaded by rows");
    size_t row_bytes = (size_t)t->cols * bk_dtype_size(t->dtype);
    if (nrows) memcpy((char *)t->data + (size_t)row0 * row_bytes, host, (size_t)nrows * row_bytes);
    return 0;
}

static int cpu_download_rows(bk_backend *be, const bk_tensor *t, int64_t nrows, void *host)
{
    if (check_rows(be, "download_rows", t, 0, nrows, host)) return -1;
    if (nrows) memcpy(host, t->data, (size_t)nrows * (size_t)t->cols * bk_dtype_size(t->dtype));
    return 0;
}

static int cpu_fill_bytes(bk_backend *be, bk_tensor *t, int byte)
{
    if (check_rows(be, "fill_bytes", t, 0, t ? t->rows : 0, "")) return -1;
    memset(t->data, byte, (size_t)bk_numel(t) * bk_dtype_size(t->dtype));
    return 0;
}

static const char *cpu_last_error(bk_backend *be)
{
    return cpu_st(be)->err;
}

static void cpu_destroy(bk_backend *be)
{
    if (!be) return;
    free(cpu_st(be)->sample_scratch);
    free(be->impl);
    free(be);
}

static void cpu_memory_stats(const bk_backend *be, bk_memory_stats *out)
{
    const cpu_state *st = be->impl;
    *out = (bk_memory_stats){.budget = st->budget, .in_use = st->in_use, .peak = st->peak};
}

static size_t cpu_sample_workspace_bytes(const bk_backend *be, int32_t vocab)
{
    return cpu_sample_scratch_bytes(be, vocab);
}

static const bk_ops cpu_ops_table = {
    .tensor_alloc = cpu_tensor_alloc,
    .tensor_from_host = cpu_tensor_from_host,
    .tensor_free = cpu_tensor_free,
    .upload_rows = cpu_upload_rows,
    .download_rows = cpu_download_rows,
    .fill_bytes = cpu_fill_bytes,
    .bytes_free = bk_cpu_bytes_free,
    .memory_stats = cpu_memory_stats,
    .sample_workspace_bytes = cpu_sample_workspace_bytes,
    .embedding = cpu_embedding,
    .add_rmsnorm = cpu_add_rmsnorm,
    .matmul = cpu_matmul,
    .qk_norm_rope_store = cpu_qk_norm_rope_store,
    .attention = cpu_attention,
    .silu_mul = cpu_silu_mul,
    .gather_rows = cpu_gather_rows,
    .argmax = cpu_argmax,
    .sample = cpu_sample,
    .last_error = cpu_last_error,
    .destroy = cpu_destroy,
};

bk_backend *bk_cpu_create(int num_threads, size_t memory_budget, char *err, size_t errlen)
{
    if (num_threads < 0) {
        snprintf(err, errlen, "cpu backend: num_threads is %d, expected 0 (every core) or more",
                 num_threads);
        return NULL;
    }
    const cpu_kernels *kern = cpu_isa_select(err, errlen);
    if (!kern) return NULL;
    bk_backend *be = calloc(1, sizeof *be);
    cpu_state *st = calloc(1, sizeof *st);
    if (!be || !st) {
        free(be);
        free(st);
        snprintf(err, errlen, "cpu backend: out of memory");
        return NULL;
    }
    /* Resolved once so that every region asks for the same count, whatever OMP_NUM_THREADS or
     * other code later sets with omp_set_num_threads. */
    st->num_threads = num_threads ? num_threads : omp_get_max_threads();
    st->budget = memory_budget;
    st->kern = kern;
    be->ops = &cpu_ops_table;
    be->name = "cpu";
    be->kv_dtype = BK_F32;
    be->impl = st;
    return be;
}

size_t bk_cpu_bytes_in_use(const bk_backend *be)
{
    return ((const cpu_state *)be->impl)->in_use;
}

size_t bk_cpu_bytes_free(const bk_backend *be)
{
    const cpu_state *st = be->impl;
    if (!st->budget) return SIZE_MAX;
    return st->in_use < st->budget ? st->budget - st->in_use : 0;
}

int bk_cpu_num_threads(const bk_backend *be)
{
    int n = 0;
#pragma omp parallel num_threads(((const cpu_state *)be->impl)->num_threads)
    {
#pragma omp single
        n = omp_get_num_threads();
    }
    return n;
}

const char *bk_cpu_kernels(const bk_backend *be)
{
    return ((const cpu_state *)be->impl)->kern->name;
}

const char *bk_cpu_features(void)
{
    return cpu_isa_features();
}

int bk_cpu_kernels_supported(const char *name)
{
    return cpu_isa_supported(name);
}
