/* bk_cuda_create and the memory ops: one cudaMalloc of the whole budget at start, tensors and the
 * fixed op workspace carved out of it; device-side input faults reported at the next download. */
#include "kernels/cuda/cuda_backend.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/cuda/cuda_common.cuh"

#define MiB ((size_t)1 << 20)

/* ---- errors and argument checks --------------------------------------------------------------- */

int cu_fail(cu_state *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(st->err, sizeof st->err, "cuda ");
    vsnprintf(st->err + n, sizeof st->err - (size_t)n, fmt, ap);
    va_end(ap);
    if (st->capturing) st->capture_failed = 1;
    return -1;
}

int cu_fail_cuda(cu_state *st, const char *file, int line, const char *call, cudaError_t e)
{
    return cu_fail(st, "%s:%d: %s failed: %s (%s)", file, line, call, cudaGetErrorString(e),
                   cudaGetErrorName(e));
}

int cu_fail_cublas(cu_state *st, const char *file, int line, const char *call, cublasStatus_t s)
{
    return cu_fail(st, "%s:%d: %s failed: cuBLAS status %d", file, line, call, (int)s);
}

static int check_present(cu_state *st, const char *op, const char *what, const bk_tensor *t)
{
    if (!t) return cu_fail(st, "%s: %s is NULL", op, what);
    if (!t->data) return cu_fail(st, "%s: %s has no data (freed or never allocated)", op, what);
    if (t->rows < 0 || t->cols < 0)
        return cu_fail(st, "%s: %s has a negative shape [%lld][%lld]", op, what,
                       (long long)t->rows, (long long)t->cols);
    return 0;
}

int cu_check(cu_state *st, const char *op, const char *what, const bk_tensor *t, bk_dtype dtype,
             int64_t min_rows, int64_t cols)
{
    if (check_present(st, op, what, t)) return -1;
    if (t->dtype != dtype)
        return cu_fail(st, "%s: %s has dtype %s, expected %s", op, what, bk_dtype_name(t->dtype),
                       bk_dtype_name(dtype));
    if (cols >= 0 && t->cols != cols)
        return cu_fail(st, "%s: %s is [%lld][%lld], expected %lld columns", op, what,
                       (long long)t->rows, (long long)t->cols, (long long)cols);
    if (t->rows < min_rows)
        return cu_fail(st, "%s: %s is [%lld][%lld], expected at least %lld rows", op, what,
                       (long long)t->rows, (long long)t->cols, (long long)min_rows);
    return 0;
}

int cu_check_float(cu_state *st, const char *op, const char *what, const bk_tensor *t)
{
    if (check_present(st, op, what, t)) return -1;
    if (t->dtype != BK_F32 && t->dtype != BK_F16 && t->dtype != BK_BF16)
        return cu_fail(st, "%s: %s has dtype %s, expected F32, F16 or BF16", op, what,
                       bk_dtype_name(t->dtype));
    return 0;
}

int cu_check_vec(cu_state *st, const char *op, const char *what, const bk_tensor *t, bk_dtype dtype,
                 int64_t min_numel)
{
    if (check_present(st, op, what, t)) return -1;
    if (t->dtype != dtype)
        return cu_fail(st, "%s: %s has dtype %s, expected %s", op, what, bk_dtype_name(t->dtype),
                       bk_dtype_name(dtype));
    if (bk_numel(t) < min_numel)
        return cu_fail(st, "%s: %s has %lld elements, expected at least %lld", op, what,
                       (long long)bk_numel(t), (long long)min_numel);
    return 0;
}

/* ---- memory ----------------------------------------------------------------------------------- */

static int tensor_bytes(cu_state *st, bk_dtype dtype, int64_t rows, int64_t cols, size_t *bytes)
{
    size_t es = bk_dtype_size(dtype);
    if (es == 0) return cu_fail(st, "tensor_alloc: dtype %d is unknown", (int)dtype);
    if (rows < 0 || cols < 0 || (cols > 0 && rows > (int64_t)(SIZE_MAX / es) / cols))
        return cu_fail(st, "tensor_alloc: shape [%lld][%lld] is invalid, expected non-negative "
                       "sizes whose bytes fit in size_t", (long long)rows, (long long)cols);
    *bytes = (size_t)rows * (size_t)cols * es;
    return 0;
}

static int cu_tensor_alloc(bk_backend *be, bk_tensor *out, bk_dtype dtype, int64_t rows, int64_t cols)
{
    cu_state *st = cu_st(be);
    size_t bytes = 0;
    if (!out) return cu_fail(st, "tensor_alloc: out is NULL");
    if (tensor_bytes(st, dtype, rows, cols, &bytes)) return -1;
    size_t off = cu_arena_alloc(&st->arena, bytes);
    if (off == (size_t)-1)
        return cu_fail(st, "tensor_alloc: [%lld][%lld] %s needs %zu bytes but only %zu of the "
                       "%zu-byte tensor share are free (%zu in the largest free range); raise the "
                       "memory budget", (long long)rows, (long long)cols, bk_dtype_name(dtype),
                       cu_arena_round(bytes), st->arena.capacity - st->arena.used,
                       st->arena.capacity, cu_arena_largest_free(&st->arena));
    out->dtype = dtype;
    out->rows = rows;
    out->cols = cols;
    out->data = st->mem + off;
    out->owned = 1;
    return 0;
}

static void cu_tensor_free(bk_backend *be, bk_tensor *t)
{
    cu_state *st = cu_st(be);
    if (!t || !t->data) return;
    if (t->owned) {
        size_t bytes = (size_t)bk_numel(t) * bk_dtype_size(t->dtype);
        /* A foreign or double-freed pointer is left alone rather than corrupting the free list. */
        if ((char *)t->data >= st->mem && (char *)t->data < st->mem + st->mem_size)
            cu_arena_free(&st->arena, (size_t)((char *)t->data - st->mem), bytes);
    }
    memset(t, 0, sizeof *t);
}

static int cu_upload_rows(bk_backend *be, bk_tensor *t, int64_t row0, int64_t nrows, const void *host)
{
    cu_state *st = cu_st(be);
    if (!t || !t->data || !host) return cu_fail(st, "upload_rows: tensor or host pointer is NULL");
    if (st->capturing)
        return cu_fail(st, "upload_rows: called while a CUDA graph is being recorded, expected "
                       "uploads before bk_cuda_capture_begin");
    if (row0 < 0 || nrows < 0 || row0 + nrows > t->rows)
        return cu_fail(st, "upload_rows: rows [%lld, %lld) are outside the tensor's %lld rows",
                       (long long)row0, (long long)(row0 + nrows), (long long)t->rows);
    size_t rb = (size_t)t->cols * bk_dtype_size(t->dtype);
    /* From pageable memory the call returns once the bytes are staged, so `host` may be reused. */
    CUDA_CHECK(st, cudaMemcpyAsync((char *)t->data + (size_t)row0 * rb, host, (size_t)nrows * rb,
                                   cudaMemcpyHostToDevice, st->stream));
    return 0;
}

static int report_flags(cu_state *st, unsigned int flags)
{
    static const struct {
        unsigned int bit;
        const char *msg;
    } names[] = {
        {CU_FLAG_EMBED_ID, "embedding: an id is outside the table's rows"},
        {CU_FLAG_SLOT, "qk_norm_rope_store: a slot_mapping entry is outside the KV pool"},
        {CU_FLAG_POSITION, "a position is negative or not below its sequence's seq_lens, or the "
                           "batch's max_seq_len / max_blocks is too small for it"},
        {CU_FLAG_BLOCK_TABLE, "attention: a block_tables entry is outside the KV pool"},
        {CU_FLAG_QUERY_START, "attention: query_start is not 0..num_tokens non-decreasing"},
        {CU_FLAG_GATHER_ROW, "gather_rows: a row index is outside x's rows"},
    };
    char *p = st->err;
    size_t left = sizeof st->err;
    int n = snprintf(p, left, "cuda: an earlier op found bad device inputs (its output is invalid):");
    for (size_t i = 0; i < sizeof names / sizeof names[0] && n > 0 && (size_t)n < left; i++) {
        if (!(flags & names[i].bit)) continue;
        p += n;
        left -= (size_t)n;
        n = snprintf(p, left, " [%s]", names[i].msg);
    }
    return -1;
}

static int cu_download_rows(bk_backend *be, const bk_tensor *t, int64_t nrows, void *host)
{
    cu_state *st = cu_st(be);
    if (!t || !t->data || !host) return cu_fail(st, "download_rows: tensor or host pointer is NULL");
    if (st->capturing)
        return cu_fail(st, "download_rows: called while a CUDA graph is being recorded, expected "
                       "downloads after bk_cuda_capture_end");
    if (nrows < 0 || nrows > t->rows)
        return cu_fail(st, "download_rows: %lld rows requested, the tensor has %lld",
                       (long long)nrows, (long long)t->rows);
    size_t rb = (size_t)t->cols * bk_dtype_size(t->dtype);
    unsigned int flags = 0;
    CUDA_CHECK(st, cudaMemcpyAsync(host, t->data, (size_t)nrows * rb, cudaMemcpyDeviceToHost,
                                   st->stream));
    CUDA_CHECK(st, cudaMemcpyAsync(&flags, st->flags, sizeof flags, cudaMemcpyDeviceToHost,
                                   st->stream));
    CUDA_CHECK(st, cudaStreamSynchronize(st->stream));
    if (flags) {
        CUDA_CHECK(st, cudaMemsetAsync(st->flags, 0, sizeof *st->flags, st->stream));
        return report_flags(st, flags);
    }
    return 0;
}

static int cu_fill_bytes(bk_backend *be, bk_tensor *t, int byte)
{
    cu_state *st = cu_st(be);
    if (!t || !t->data) return cu_fail(st, "fill_bytes: tensor is NULL or has no data");
    CUDA_CHECK(st, cudaMemsetAsync(t->data, byte & 0xff,
                                   (size_t)bk_numel(t) * bk_dtype_size(t->dtype), st->stream));
    return 0;
}

static int cu_tensor_from_host(bk_backend *be, bk_tensor *out, bk_dtype dtype, int64_t rows,
                               int64_t cols, const void *host)
{
    cu_state *st = cu_st(be);
    if (!host) return cu_fail(st, "tensor_from_host: host pointer is NULL");
    if (cu_tensor_alloc(be, out, dtype, rows, cols)) return -1;
    if (cu_upload_rows(be, out, 0, rows, host)) {
        cu_tensor_free(be, out);
        return -1;
    }
    return 0;
}

/* ---- lifetime --------------------------------------------------------------------------------- */

static const char *cu_last_error(bk_backend *be)
{
    return cu_st(be)->err;
}

static void cu_destroy(bk_backend *be)
{
    cu_state *st = cu_st(be);
    if (!st) return;
    cudaSetDevice(st->device);
    if (st->stream) cudaStreamSynchronize(st->stream);
    cu_matmul_release(st);
    if (st->lt) cublasLtDestroy(st->lt);
    if (st->stream) cudaStreamDestroy(st->stream);
    if (st->alloc) cudaFree(st->alloc);
    cu_arena_release(&st->arena);
    free(st);
}

/* The op table's graph hooks: bk_cuda_graph is the backend's bk_graph. */
static int cu_graph_capture_end(bk_backend *be, bk_graph **out)
{
    bk_cuda_graph *g = NULL;
    const int rc = bk_cuda_capture_end(be, &g);
    *out = (bk_graph *)g;
    return rc;
}

static int cu_graph_launch(bk_backend *be, bk_graph *g)
{
    return bk_cuda_graph_launch(be, (bk_cuda_graph *)g);
}

static void cu_graph_free(bk_backend *be, bk_graph *g)
{
    (void)be;
    bk_cuda_graph_free((bk_cuda_graph *)g);
}

/* The fixed part (flags, cuBLASLt workspace, op scratch) is carved from the same cudaMalloc as the
 * tensors, so the share's in_use counts it from the start. */
static void cu_memory_stats(const bk_backend *be, bk_memory_stats *out)
{
    const cu_state *st = (const cu_state *)be->impl;
    size_t fixed = (size_t)(st->mem - st->alloc);
    *out = (bk_memory_stats){.budget = fixed + st->mem_size,
                             .fixed = fixed,
                             .in_use = fixed + st->arena.used,
                             .peak = fixed + st->arena.peak};
}

static const bk_ops cu_ops = {
    cu_tensor_alloc,
    cu_tensor_from_host,
    cu_tensor_free,
    cu_upload_rows,
    cu_download_rows,
    cu_fill_bytes,
    bk_cuda_bytes_free,
    cu_memory_stats,
    NULL, /* sample_workspace_bytes: the sample op uses the fixed scratch only */
    cu_embedding,
    cu_add_rmsnorm,
    cu_matmul,
    cu_qk_norm_rope_store,
    cu_attention,
    cu_silu_mul,
    cu_gather_rows,
    cu_argmax,
    cu_sample,
    cu_last_error,
    cu_destroy,
    bk_cuda_capture_begin,
    cu_graph_capture_end,
    cu_graph_launch,
    cu_graph_free,
};

/* Why the last bk_cuda_device_count found no device, when it was not simply the absence of one. */
static char init_error[256];

extern "C" int bk_cuda_device_count(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error */
        /* An old driver, a driver/library mismatch or a compat problem is not "no GPU". Without
         * any driver the runtime also says cudaErrorInsufficientDriver, but then reports driver
         * version 0: that machine simply has no GPU. */
        int driver = 0;
        if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
        cudaGetLastError();
        if (e != cudaErrorNoDevice && driver != 0)
            snprintf(init_error, sizeof init_error,
                     "cudaGetDeviceCount failed: %s (%s); driver supports CUDA %d.%d",
                     cudaGetErrorName(e), cudaGetErrorString(e), driver / 1000, driver % 1000 / 10);
        else
            init_error[0] = 0;
        return 0;
    }
    init_error[0] = 0;
    return n;
}

extern "C" const char *bk_cuda_init_error(void)
{
    return init_error;
}

extern "C" int bk_cuda_device_memory(int device, size_t *free_bytes, size_t *total_bytes)
{
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess || cudaSetDevice(device) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    cudaError_t rc = cudaMemGetInfo(free_bytes, total_bytes);
    cudaSetDevice(previous);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    return 0;
}

/* What the probe's child writes to its pipe. */
typedef struct probe_reply {
    int ok;
    size_t free_b, total_b;
    char what[160];
} probe_reply;

extern "C" int bk_cuda_probe_context(int device, size_t *total, size_t *context, char *err,
                                     size_t errlen)
{
    int fds[2];
    if (pipe(fds)) {
        snprintf(err, errlen, "cuda context probe: pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(err, errlen, "cuda context probe: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* The child: the first runtime call creates its context; it exits without cleanup. */
        probe_reply r;
        memset(&r, 0, sizeof r);
        cudaError_t e = cudaSetDevice(device);
        const char *call = "cudaSetDevice";
        if (e == cudaSuccess) {
            call = "cudaFree(0) (context creation)";
            e = cudaFree(0);
        }
        if (e == cudaSuccess) {
            call = "cudaMemGetInfo";
            e = cudaMemGetInfo(&r.free_b, &r.total_b);
        }
        r.ok = e == cudaSuccess;
        if (!r.ok)
            snprintf(r.what, sizeof r.what, "%s on device %d: %s (%s)", call, device,
                     cudaGetErrorName(e), cudaGetErrorString(e));
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    probe_reply r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(fds[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof r) {
        snprintf(err, errlen,
                 "cuda context probe: the child process ended without a reply "
                 "(status %d)",
                 status);
        return -1;
    }
    if (!r.ok) {
        snprintf(err, errlen, "cuda context probe: %s", r.what);
        return -1;
    }
    *total = r.total_b;
    *context = r.total_b - (r.free_b < r.total_b ? r.free_b : r.total_b);
    return 1;
}

extern "C" void *bk_cuda_stream(bk_backend *be)
{
    return be ? (void *)cu_st(be)->stream : NULL;
}

extern "C" size_t bk_cuda_bytes_in_use(const bk_backend *be)
{
    return be ? ((const cu_state *)be)->arena.used : 0;
}

extern "C" size_t bk_cuda_bytes_free(const bk_backend *be)
{
    if (!be) return 0;
    const cu_arena *a = &((const cu_state *)be)->arena;
    return a->capacity - a->used;
}

/* The fixed workspace: enough for cuBLASLt and for a few thousand prefill tokens' bf16 activations;
 * larger GEMMs are run in row chunks that fit, so the size bounds speed, never correctness. */
static void workspace_sizes(size_t budget, size_t *lt_ws, size_t *scratch)
{
    size_t total = budget / 16;
    if (total < 4 * MiB) total = 4 * MiB;
    if (total > 160 * MiB) total = 160 * MiB;
    *lt_ws = total >= 128 * MiB ? 32 * MiB : total / 4;
    *scratch = total - *lt_ws;
}

static int create_fail(cu_state *st, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", st->err);
    cu_destroy(&st->base);
    return -1;
}

extern "C" bk_backend *bk_cuda_create(int device, size_t memory_budget, char *err, size_t errlen)
{
    int count = bk_cuda_device_count();
    if (count == 0) {
        if (init_error[0])
            snprintf(err, errlen, "cuda: CUDA cannot start: %s", init_error);
        else
            snprintf(err, errlen, "cuda: no CUDA device (no GPU visible: cudaErrorNoDevice)");
        return NULL;
    }
    if (device < 0 || device >= count) {
        snprintf(err, errlen, "cuda: device %d does not exist, expected 0..%d", device, count - 1);
        return NULL;
    }
    if (memory_budget < 32 * MiB) {
        snprintf(err, errlen, "cuda: memory_budget %zu bytes is too small, expected at least %zu "
                 "(32 MiB)", memory_budget, 32 * MiB);
        return NULL;
    }
    cu_state *st = (cu_state *)calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "cuda: out of host memory creating the backend");
        return NULL;
    }
    st->base.ops = &cu_ops;
    st->base.name = "cuda";
    st->base.kv_dtype = BK_BF16;
    st->base.impl = st;
    st->device = device;
    if (cu_arena_init(&st->arena, 0)) {
        snprintf(err, errlen, "cuda: out of host memory creating the backend");
        free(st);
        return NULL;
    }

#define CREATE_CHECK(call)                                                                         \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            cu_fail_cuda(st, __FILE__, __LINE__, #call, e_);                                       \
            create_fail(st, err, errlen);                                                          \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

    CREATE_CHECK(cudaSetDevice(device));
    CREATE_CHECK(cudaDeviceGetAttribute(&st->num_sms, cudaDevAttrMultiProcessorCount, device));
    int optin = 0;
    CREATE_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    st->max_smem_optin = (size_t)optin;
    CREATE_CHECK(cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking));
    cudaError_t e = cudaMalloc((void **)&st->alloc, memory_budget);
    if (e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaGetLastError();
        cudaMemGetInfo(&free_b, &total_b);
        cu_fail(st, "memory_budget of %zu bytes cannot be allocated on device %d (%zu of %zu bytes "
                "free): %s", memory_budget, device, free_b, total_b, cudaGetErrorString(e));
        create_fail(st, err, errlen);
        return NULL;
    }
    st->mem = st->alloc;
    st->mem_size = memory_budget;
    workspace_sizes(memory_budget, &st->lt_ws_size, &st->scratch_size);
    /* Layout: [flags 256 B][cuBLASLt workspace][scratch][tensors ...] */
    st->flags = (unsigned int *)st->mem;
    st->fp64_evals = (unsigned long long *)(st->mem + 8);
    st->lt_ws = st->mem + CU_ARENA_ALIGN;
    st->scratch = (char *)st->lt_ws + st->lt_ws_size;
    size_t fixed = CU_ARENA_ALIGN + st->lt_ws_size + st->scratch_size;
    cu_arena_release(&st->arena);
    if (cu_arena_init(&st->arena, memory_budget - fixed)) {
        cu_fail(st, "out of host memory creating the backend");
        create_fail(st, err, errlen);
        return NULL;
    }
    /* Tensors live after the fixed part: shift the arena's offsets by moving its base. */
    st->mem += fixed;
    st->mem_size -= fixed;
    CREATE_CHECK(cudaMemsetAsync(st->flags, 0, 16, st->stream)); /* flags and fp64_evals */
    if (cublasLtCreate(&st->lt) != CUBLAS_STATUS_SUCCESS) {
        cu_fail(st, "cublasLtCreate failed (cuBLASLt library missing or no device memory)");
        create_fail(st, err, errlen);
        return NULL;
    }
    if (cu_attention_init(st)) {
        create_fail(st, err, errlen);
        return NULL;
    }
    CREATE_CHECK(cudaStreamSynchronize(st->stream));
#undef CREATE_CHECK
    return &st->base;
}
