#include "tests/gpu/gpu_twin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "tests/kernels/op_harness.h"
#include "tests/support/test_support.h"

bk_backend *twin_cpu, *twin_gpu;

int twin_start(size_t gpu_budget)
{
    if (bk_cuda_device_count() == 0) {
        if (bk_cuda_init_error()[0]) {
            printf("FAILED: %s\n", bk_cuda_init_error());
            exit(1);
        }
        printf("SKIPPED: no CUDA device\n");
        exit(77);
    }
    char err[512];
    twin_cpu = bk_cpu_create(0, 0, err, sizeof err);
    if (!twin_cpu) {
        fprintf(stderr, "bk_cpu_create: %s\n", err);
        return -1;
    }
    twin_gpu = bk_cuda_create(0, gpu_budget, err, sizeof err);
    if (!twin_gpu) {
        fprintf(stderr, "bk_cuda_create: %s\n", err);
        return -1;
    }
    return 0;
}

void twin_stop(void)
{
    if (twin_gpu) twin_gpu->ops->destroy(twin_gpu);
    if (twin_cpu) twin_cpu->ops->destroy(twin_cpu);
    twin_gpu = twin_cpu = NULL;
}

int twin_ok(bk_backend *be, int rc, const char *what)
{
    CHECKF(rc == 0, "%s on %s failed: %s", what, be->name, be->ops->last_error(be));
    return rc == 0;
}

int twin_upload(twin *t, bk_dtype dtype, int64_t rows, int64_t cols, const void *host)
{
    memset(t, 0, sizeof *t);
    if (oh_upload(twin_cpu, &t->c, dtype, rows, cols, host) ||
        oh_upload(twin_gpu, &t->g, dtype, rows, cols, host)) {
        CHECKF(0, "uploading a [%lld][%lld] %s tensor failed", (long long)rows, (long long)cols,
               bk_dtype_name(dtype));
        return -1;
    }
    return 0;
}

int twin_poison(twin *t, int64_t rows, int64_t cols)
{
    memset(t, 0, sizeof *t);
    if (oh_alloc_poisoned(twin_cpu, &t->c, rows, cols) ||
        oh_alloc_poisoned(twin_gpu, &t->g, rows, cols)) {
        CHECKF(0, "allocating a poisoned [%lld][%lld] tensor failed", (long long)rows,
               (long long)cols);
        return -1;
    }
    return 0;
}

void twin_free(twin *t)
{
    twin_cpu->ops->tensor_free(twin_cpu, &t->c);
    twin_gpu->ops->tensor_free(twin_gpu, &t->g);
}

int twin_batch_upload(twin_batch *b, const struct oh_batch *hb)
{
    if (oh_batch_upload(twin_cpu, hb, &b->c) || oh_batch_upload(twin_gpu, hb, &b->g)) {
        CHECKF(0, "uploading a batch failed");
        return -1;
    }
    return 0;
}

void twin_batch_free(twin_batch *b)
{
    oh_batch_release(twin_cpu, &b->c);
    oh_batch_release(twin_gpu, &b->g);
}

/* Downloads as f32 whatever the float dtype; NULL (with a failed check) on error. */
static float *download_f32(bk_backend *be, const bk_tensor *t, int64_t rows)
{
    size_t n = (size_t)rows * (size_t)t->cols;
    float *out = malloc((n ? n : 1) * sizeof *out);
    void *raw = malloc((n ? n : 1) * bk_dtype_size(t->dtype));
    if (!out || !raw || !twin_ok(be, be->ops->download_rows(be, t, rows, raw), "download_rows")) {
        free(out);
        free(raw);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case BK_BF16: out[i] = oh_bf16_to_f32(((const uint16_t *)raw)[i]); break;
        case BK_F16: out[i] = oh_f16_to_f32(((const uint16_t *)raw)[i]); break;
        default: out[i] = ((const float *)raw)[i]; break;
        }
    }
    free(raw);
    return out;
}

int twin_compare(const char *what, const twin *t, int64_t rows, double nmse_tol, double abs_tol)
{
    float *ref = download_f32(twin_cpu, &t->c, rows);
    float *got = download_f32(twin_gpu, &t->g, rows);
    int pass = 0;
    if (ref && got) {
        size_t n = (size_t)rows * (size_t)t->c.cols, wi = 0;
        double err2 = 0.0, ref2 = 0.0, max_err = 0.0, max_ref = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - (double)ref[i]);
            if (isnan(got[i]) || isnan(ref[i]) || isinf(d)) d = INFINITY;
            err2 += d * d;
            ref2 += (double)ref[i] * ref[i];
            if (d > max_err || (isinf(d) && !isinf(max_err))) max_err = d, wi = i;
            if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
        }
        double nmse = ref2 > 0.0 ? err2 / ref2 : INFINITY;
        CHECKF(ref2 > 0.0, "%s: the CPU reference is all zero, so the comparison proves nothing",
               what);
        pass = nmse <= nmse_tol && max_err <= abs_tol * max_ref;
        CHECKF(pass, "%s: nmse %.3g (tol %.3g), max abs err %.3g (tol %.3g) at [%zu]: gpu %.9g cpu %.9g",
               what, nmse, nmse_tol, max_err, abs_tol * max_ref, wi, n ? (double)got[wi] : 0.0,
               n ? (double)ref[wi] : 0.0);
    }
    free(ref);
    free(got);
    return pass;
}

int twin_compare_exact_i32(const char *what, const twin *t, int64_t n)
{
    int32_t *a = malloc((size_t)(n ? n : 1) * sizeof *a), *b = malloc((size_t)(n ? n : 1) * sizeof *b);
    int pass = 0;
    if (a && b && twin_ok(twin_cpu, twin_cpu->ops->download_rows(twin_cpu, &t->c, 1, a), what) &&
        twin_ok(twin_gpu, twin_gpu->ops->download_rows(twin_gpu, &t->g, 1, b), what)) {
        pass = 1;
        for (int64_t i = 0; i < n && pass; i++) {
            CHECKF(a[i] == b[i], "%s: element %lld: gpu %d, cpu %d", what, (long long)i, b[i], a[i]);
            pass = a[i] == b[i];
        }
    }
    free(a);
    free(b);
    return pass;
}
