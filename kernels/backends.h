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
                           * limit, CUDA: 90% of the device's free memory */
} bk_create_options;

/* NULL with err set when the backend is unknown, was not built, or cannot start. */
bk_backend *bk_create(const bk_create_options *opt, char *err, size_t errlen);

/* "cpu" or "cpu, cuda": what this build can create. */
const char *bk_available(void);

#endif
