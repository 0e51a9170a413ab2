/* Picks and creates a backend by name, so that programs need not know which backends were built.
 * Owns only the choice; each backend lives in its own folder (cpu/, cuda/). */
#ifndef BERTH_KERNELS_BACKENDS_H
#define BERTH_KERNELS_BACKENDS_H

#include "kernels/backend.h"

typedef struct bk_create_options {
    const char *name;     /* "cpu", "cuda" or "auto" (CUDA when a GPU is present, else CPU); NULL = auto */
    int threads;          /* CPU: 0 = every core */
    int device;           /* CUDA: device index */
    size_t memory_budget; /* bytes this backend may use (weights, KV cache, workspace); 0 = CPU: no
                           * limit, CUDA: gpu_memory_utilization of the device (bk_cuda_budget) */
    double gpu_memory_utilization; /* CUDA: share of the device's total memory; 0 = the default */
} bk_create_options;

/* The default share of a GPU's memory berth takes (vLLM's --gpu-memory-utilization default). */
#define BK_DEFAULT_GPU_MEMORY_UTILIZATION 0.9

/* The CUDA backend's budget from the device's free and total memory, as vLLM sizes its share: the
 * fraction `utilization` (0 < u <= 1; 0 = the default) of the total. An explicit fraction that is
 * more than is free fails with the numbers; the default then shrinks to what is free less the same
 * headroom (1 - u of the total: the CUDA context, cuBLAS, graphs), so that it starts on a shared
 * GPU. Pure arithmetic (tested without a GPU). 0, or -1 with err set. */
int bk_cuda_budget(size_t free_bytes, size_t total_bytes, double utilization, int device,
                   size_t *budget, char *err, size_t errlen);

/* CUDA device `device`'s total memory and one process's context: a child process creates a
 * context there and reports the device's free memory, so the caller never holds one (call it before
 * this process uses CUDA: a forked child cannot use a parent's context). *context = total - free
 * seen by the child: on an idle device its own context, on a busy one more (the check stays on the
 * safe side). 1 when measured; -1 with err naming the CUDA call and its error (or a build without
 * CUDA). */
int bk_cuda_context_probe(int device, size_t *total, size_t *context, char *err, size_t errlen);

/* NULL with err set when the backend is unknown, was not built, or cannot start. */
bk_backend *bk_create(const bk_create_options *opt, char *err, size_t errlen);

/* One line saying what `be` runs on, for a start-up log: for the CPU the kernel set it chose and
 * the CPU features that choice saw ("cpu: avx512 kernels, 2 threads (CPU has avx2 fma ...)"). */
void bk_describe(const bk_backend *be, char *buf, size_t len);

/* "cpu" or "cpu, cuda": what this build can create. */
const char *bk_available(void);

#endif
