/* The CPU backend's matmul: out = x · Wᵀ (+ bias) with f32/f16/bf16 weights kept in their storage
 * dtype. Must not: allocate; it is the decode hot path (weight streaming bound). */
#ifndef BERTH_KERNELS_CPU_MATMUL_H
#define BERTH_KERNELS_CPU_MATMUL_H

#include "kernels/backend.h"

int cpu_matmul(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *w,
               const bk_tensor *bias, int32_t num_tokens);

#endif
