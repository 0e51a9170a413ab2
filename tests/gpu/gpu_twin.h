/* GPU test helpers: the CPU and CUDA backends side by side ("twins"), the same bytes uploaded to both,
 * outputs poisoned on both, and an NMSE + max-abs comparison of the CUDA result against the CPU one.
 * Must not: hold op logic; the input generators are tests/kernels/op_harness's. */
#ifndef BERTH_TESTS_GPU_TWIN_H
#define BERTH_TESTS_GPU_TWIN_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

extern bk_backend *twin_cpu, *twin_gpu;

/* Exits 77 with "SKIPPED: no CUDA device" when there is none; otherwise creates both backends
 * (returns -1 with a message when that fails). */
int twin_start(size_t gpu_budget);
void twin_stop(void);

typedef struct twin {
    bk_tensor c, g; /* on the CPU, on the GPU */
} twin;

int twin_upload(twin *t, bk_dtype dtype, int64_t rows, int64_t cols, const void *host);
/* An f32 [rows][cols] pair, every byte 0xFF (NaN) so an element an op forgets to write fails. */
int twin_poison(twin *t, int64_t rows, int64_t cols);
void twin_free(twin *t);
/* Uploads a batch's arrays to both backends. */
struct oh_batch;
typedef struct twin_batch {
    bk_batch c, g;
} twin_batch;
int twin_batch_upload(twin_batch *b, const struct oh_batch *hb);
void twin_batch_free(twin_batch *b);

/* Downloads the first rows of both tensors (F32 or BF16) and checks
 *   NMSE = Σ(gpu - cpu)² / Σ cpu² <= nmse_tol   and   max |gpu - cpu| <= abs_tol · max |cpu|,
 * and that the reference is not all zero. Returns 1 on pass (failures are counted by CHECKF). */
int twin_compare(const char *what, const twin *t, int64_t rows, double nmse_tol, double abs_tol);
/* The same for I32 tensors, which must match exactly. */
int twin_compare_exact_i32(const char *what, const twin *t, int64_t n);

/* Runs an op's call on one backend and CHECKs it succeeded, naming the backend and op. */
int twin_ok(bk_backend *be, int rc, const char *what);

#endif
