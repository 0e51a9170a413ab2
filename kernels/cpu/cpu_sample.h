/* The CPU backend's sample op: a loop over rows (OpenMP) around kernels/sampling_math. It cuts by
 * radix search like the CUDA kernel (sm_choose_radix), the host sampler by sorting (sm_choose), on the
 * same scalar math; test_cpu_sample holds the two equal. Must not: reimplement any of that math. */
#ifndef BERTH_KERNELS_CPU_SAMPLE_H
#define BERTH_KERNELS_CPU_SAMPLE_H

#include "kernels/backend.h"

int cpu_sample(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
               const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
               const bk_tensor *counts, int32_t num_rows);

#endif
