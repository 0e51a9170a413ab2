/* The CUDA backend: every op of kernels/backend.h on one NVIDIA GPU (bf16 weights and KV cache,
 * fp32 accumulation; cuBLASLt for the large matrix products). C-callable; the kernels live in .cu files.
 * Must not: know about models or requests. Design notes: docs/design/cuda-backend.md. */
#ifndef BERTH_KERNELS_CUDA_BACKEND_H
#define BERTH_KERNELS_CUDA_BACKEND_H

#include <stddef.h>

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates the whole memory_budget once on `device` (cudaMalloc once, at start) and sub-allocates
 * every tensor and all op workspace from it; no cudaMalloc afterwards. Returns NULL with err set when
 * there is no device or the budget cannot be allocated. */
bk_backend *bk_cuda_create(int device, size_t memory_budget, char *err, size_t errlen);

/* 0 when no driver or GPU is present: the GPU tests then exit 77. */
int bk_cuda_device_count(void);

/* Free and total memory of a device, in bytes. 0, or -1 when it cannot be read. */
int bk_cuda_device_memory(int device, size_t *free_bytes, size_t *total_bytes);

/* The backend's one stream (a cudaStream_t), for timing with CUDA events and, later, graph capture. */
void *bk_cuda_stream(bk_backend *be);

/* Bytes of the budget held by live tensors (the fixed workspace is not counted). */
size_t bk_cuda_bytes_in_use(const bk_backend *be);

#ifdef __cplusplus
}
#endif

#endif
