/* The CPU backend's elementwise and row ops: embedding, add_rmsnorm, silu_mul, gather_rows, argmax.
 * Must not: allocate tensors or touch the KV cache. */
#ifndef BERTH_KERNELS_CPU_OPS_H
#define BERTH_KERNELS_CPU_OPS_H

#include "kernels/backend.h"

int cpu_embedding(bk_backend *be, bk_tensor *out, const bk_tensor *table, const bk_tensor *ids,
                  int32_t num_tokens);
int cpu_add_rmsnorm(bk_backend *be, bk_tensor *residual, const bk_tensor *delta,
                    const bk_tensor *weight, bk_tensor *out, float eps, int32_t num_tokens);
int cpu_silu_mul(bk_backend *be, bk_tensor *out, const bk_tensor *gate_up, int32_t num_tokens);
int cpu_gather_rows(bk_backend *be, bk_tensor *out, const bk_tensor *x, const bk_tensor *rows,
                    int32_t num_rows);
/* NaN counts as the largest value (the first NaN wins), as in torch.argmax. */
int cpu_argmax(bk_backend *be, bk_tensor *out, const bk_tensor *logits, int32_t num_rows);

#endif
