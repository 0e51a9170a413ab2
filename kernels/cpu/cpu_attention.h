/* The CPU backend's attention block ops over the paged KV cache (layout: KERNELS.md):
 * per-head q/k RMSNorm + NeoX RoPE + cache store, and causal paged attention. Must not: allocate
 * cache blocks (the engine owns block tables and slot mapping). */
#ifndef BERTH_KERNELS_CPU_ATTENTION_H
#define BERTH_KERNELS_CPU_ATTENTION_H

#include "kernels/backend.h"

int cpu_qk_norm_rope_store(bk_backend *be, bk_tensor *q_out, const bk_tensor *qkv,
                           const bk_tensor *q_norm, const bk_tensor *k_norm,
                           const bk_tensor *inv_freq, float norm_eps, bk_kv_layer *kv,
                           const bk_batch *batch, bk_attn_shape shape);
int cpu_attention(bk_backend *be, bk_tensor *out, const bk_tensor *q, const bk_kv_layer *kv,
                  const bk_batch *batch, bk_attn_shape shape, float scale);

#endif
