/* The CPU backend's sample op: a loop over rows (OpenMP) around kernels/sampling_math, the code the
 * engine's host sampler runs, so both give the same tokens. Must not: reimplement any of that math. */
#ifndef BERTH_KERNELS_CPU_SAMPLE_H
#define BERTH_KERNELS_CPU_SAMPLE_H

#include "kernels/backend.h"

int cpu_sample(bk_backend *be, bk_tensor *out, bk_tensor *logprobs, bk_tensor *top_ids,
               const bk_tensor *logits, const bk_tensor *params, const bk_tensor *bias,
               const bk_tensor *counts, int32_t num_rows);

#endif
