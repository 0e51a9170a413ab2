/* The CPU backend's sample op: OpenMP over rows around kernels/sampling_math, cutting by radix
 * search as the CUDA kernel does (sm_choose_radix); test_cpu_sample holds it to the host sampler's
 * sort (sm_choose). Must not: reimplement any of that math. */
#ifndef BERTH_KERNELS_CPU_SAMPLE_H
#define BERTH_KERNELS_CPU_SAMPLE_H

#include "kernels/backend.h"

int cpu_sample(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
               const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
               const bk_tensor *counts, const bk_tensor *mask, int32_t num_rows);

#endif
